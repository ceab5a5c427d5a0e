// A copy of a strided view (a convolution's columns), one plane of the copy (its last
// two axes, $R x $J) a work-item: the loops walk the source's rows, and each work-item
// writes one contiguous run. By element, with the index unravelled for every one, the
// same copy ran 4x slower.
$qualifier void $name($args)
{
    const int p = $gid(0);
$guard
$outer
    const __global $T* restrict s = $src + $base;
    __global $T* restrict d = $dst + p * $PLANE;
    for (int r = 0; r < $R; r++)
        for (int j = 0; j < $J; j++)
            d[r * $J + j] = s[r * $SR + j * $SJ];
}
