// $parts matmul kernels chained by blocks of $rows rows: each reads what those before it
// wrote only in its own rows, so work-item b runs all of them for rows b*$rows.. in turn,
// every tile of its row of tiles, with no barrier. Each is a function of its global ids.
$functions

$qualifier void $name($args)
{
    const int b = $gid(0);
$steps
}
