// One work-item per row along the scanned axis: the running sum or product of the row's
// elements, $order, each loaded once (running the fused prologue on it), the running
// value stored at each element and the epilogue run there.
$qualifier void $name($args)
{
    const int o = $gid(0);
    if (o >= $rows)
        return;
$row_index
    $T acc = $init;
    for (int r = 0; r < $length; r++) {
        $position
        const int i = $flat;
$prologue
        acc = $combine;
        const int e = i;
$epilogue
    }
}
