// C[b, m, n] = sum_k A[b, m, k] * B[b, k, n] for a C with few elements and a long k, on a
// GPU: one work-group per $TM x $TN tile of C. Its $L lanes split k (lane l takes k = l,
// l + $L, ...: neighbouring lanes read neighbouring elements where an operand is contiguous
// in k), a tree in local memory adds their partial tiles, and lane e runs the fused
// epilogue on element e of the tile.
__kernel __attribute__((reqd_work_group_size($L, 1, 1)))
void $name($args)
{
    __local $T part[$TM * $TN][$L];
    const int lid = get_local_id(0);
    const int n0 = get_group_id(0) * $TN;
    const int m0 = get_group_id(1) * $TM;
    const int batch = get_group_id(2);
$batch_index
    const __global $T* restrict a = $A + ($a_base);
    const __global $T* restrict b = $B + ($b_base);
    $T sum[$TM][$TN];
    #pragma unroll
    for (int t = 0; t < $TM; t++) {
        #pragma unroll
        for (int j = 0; j < $TN; j++)
            sum[t][j] = 0;
    }
    for (int k = lid; k < $K; k += $L) {
        $T av[$TM];
        $T bv[$TN];
        #pragma unroll
        for (int t = 0; t < $TM; t++)
            av[t] = (m0 + t < $M) ? a[(m0 + t) * $a_m + k * $a_k] : 0;
        #pragma unroll
        for (int j = 0; j < $TN; j++)
            bv[j] = (n0 + j < $N) ? b[k * $b_k + (n0 + j) * $b_n] : 0;
        #pragma unroll
        for (int t = 0; t < $TM; t++) {
            #pragma unroll
            for (int j = 0; j < $TN; j++)
                sum[t][j] = av[t] * bv[j] + sum[t][j];
        }
    }
    #pragma unroll
    for (int t = 0; t < $TM; t++) {
        #pragma unroll
        for (int j = 0; j < $TN; j++)
            part[t * $TN + j][lid] = sum[t][j];
    }
    barrier(CLK_LOCAL_MEM_FENCE);
    for (int h = $L / 2; h > 0; h >>= 1) {
        if (lid < h) {
            #pragma unroll
            for (int e = 0; e < $TM * $TN; e++)
                part[e][lid] += part[e][lid + h];
        }
        barrier(CLK_LOCAL_MEM_FENCE);
    }
    if (lid < $TM * $TN) {
        const int xm = m0 + lid / $TN;
        const int xn = n0 + lid % $TN;
        if (xm < $M && xn < $N) {
            const int i = (batch * $M + xm) * $N + xn;
            const $T acc = part[lid][0];
$epilogue
        }
    }
}
