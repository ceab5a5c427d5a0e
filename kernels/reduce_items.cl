// Each work-item computes $W neighbouring output elements: it folds their reduced elements
// in order, all $W at each step (running the fused prologue on each), then runs the
// epilogue. Where the reduced axes are not the innermost (a sum over rows, say), the $W
// loads of a step are neighbours in memory, and so are the loads of neighbouring
// work-items: a CPU reads a row at a time, a GPU's warp reads them as one.
$qualifier void $name($args)
{
    const int o0 = $gid(0) * $W;
    if (o0 >= $outs)
        return;
    $T accs[$W];
    #pragma unroll
    for (int w = 0; w < $W; w++)
        accs[w] = $init;
    for (int r = 0; r < $reduced; r++) {
        #pragma unroll
        for (int w = 0; w < $W; w++) {
            const int o = o0 + w;
            if ($W == 1 || o < $outs) {
$out_index
$in_index
$prologue
                const $T acc = accs[w];
                accs[w] = $combine;
            }
        }
    }
    #pragma unroll 1
    for (int w = 0; w < $W; w++) {
        const int o = o0 + w;
        if (o < $outs) {
$out_index
            const $T acc = accs[w];
$epilogue
        }
    }
}
