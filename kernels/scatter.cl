// A scatter-add: one work-item per target element, which adds the elements of its
// bucket in increasing order of position (the buckets kernel sorted them): the same bits
// on every run, and no atomics. Then the fused epilogue.
$qualifier void $name($args)
{
    const int o = $gid(0);
    if (o >= $outs)
        return;
$out_index
    const int k = $key;
    $T acc = $zero;
    const int end = ${B}[k + 1];
    for (int s = ${B}[k]; s < end; s++) {
        const int q = ${B}[$order + s];
$position
        acc += $load;
    }
$epilogue
}
