// Each work-item scans $W neighbouring rows along the scanned axis, all $W at each step:
// the running sum or product of each row's elements, $order, each loaded once (running
// the fused prologue on it), the running value stored at each element and the epilogue
// run there. Where the scanned axis is not the innermost, the $W loads of a step are
// neighbours in memory.
$qualifier void $name($args)
{
    const int o0 = $gid(0) * $W;
    if (o0 >= $rows)
        return;
    $T accs[$W];
    #pragma unroll
    for (int w = 0; w < $W; w++)
        accs[w] = $init;
    for (int r = 0; r < $length; r++) {
        #pragma unroll
        for (int w = 0; w < $W; w++) {
            const int o = o0 + w;
            if ($W == 1 || o < $rows) {
$row_index
                $position
                const int i = $flat;
$prologue
                $T acc = accs[w];
                acc = $combine;
                accs[w] = acc;
                const int e = i;
$epilogue
            }
        }
    }
}
