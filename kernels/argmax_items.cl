// The index of the first maximum (or minimum) of each output's reduced elements: each
// work-item folds the elements of $W neighbouring outputs in order, all $W at each step
// (running the fused prologue on each), keeping the first of equal values, then runs
// the epilogue with acc the index found.
$qualifier void $name($args)
{
    const int o0 = $gid(0) * $W;
    if (o0 >= $outs)
        return;
    $T bests[$W];
    int found[$W];
    #pragma unroll
    for (int w = 0; w < $W; w++) {
        bests[w] = 0;
        found[w] = 0;
    }
    for (int r = 0; r < $reduced; r++) {
        #pragma unroll
        for (int w = 0; w < $W; w++) {
            const int o = o0 + w;
            if ($W == 1 || o < $outs) {
$out_index
$in_index
$prologue
                const $T best = bests[w];
                if (r == 0 || $better) {
                    bests[w] = value;
                    found[w] = r;
                }
            }
        }
    }
    #pragma unroll 1
    for (int w = 0; w < $W; w++) {
        const int o = o0 + w;
        if (o < $outs) {
$out_index
            const $I acc = found[w];
$epilogue
        }
    }
}
