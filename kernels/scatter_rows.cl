// A scatter-add by rows: one work-item per bucket, which runs through the $F elements of
// its row (the axes the indices do not vary along: an embedding's columns) and adds, for
// each, the bucket's elements in increasing order of position (the buckets kernel sorted
// them): the same bits on every run, no atomics. Then the fused epilogue, per element; an
// empty bucket runs only that.
$qualifier void $name($args)
{
    const int k = $gid(0);
    if (k >= $K)
        return;
    const int begin = ${B}[k];
    const int end = ${B}[k + 1];
$key_index
    if (begin == end) {
        for (int j = 0; j < $F; j++) {
$empty_index
            const $T acc = $zero;
$empty
        }
        return;
    }
    for (int j = 0; j < $F; j++) {
$free_index
        $T acc = $zero;
        for (int s = begin; s < end; s++) {
            const int q = ${B}[$order + s];
$position
            acc += $load;
        }
$epilogue
    }
}
