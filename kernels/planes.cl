// One work-item per plane of the index space (its last two axes, $R x $J), looping over
// the plane's elements: the multi-index is unravelled once a plane rather than once an
// element, and loads along the loop walk the source's rows. On a CPU a convolution's
// column copy ran 7x faster so than by element, and its masked sums (a pad's copy, a
// fold) several times faster.
$qualifier void $name($args)
{
    const int p = $gid(0);
$guard
$outer
    for (int $row = 0; $row < $R; $row++) {
        for (int $col = 0; $col < $J; $col++) {
            const int i = (p * $R + $row) * $J + $col;
$body
        }
    }
}
