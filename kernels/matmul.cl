// C[b, m, n] = sum_k A[b, m, k] * B[b, k, n] for a $TM x $TN register tile per work-item;
// operands are read through strides (transposes are never materialised); the fused
// elementwise epilogue runs on each element of the tile.
__kernel void $name($args)
{
    const int n0 = get_global_id(0) * $TN;
    const int m0 = get_global_id(1) * $TM;
    const int batch = get_global_id(2);
    if (n0 >= $N || m0 >= $M)
        return;
$batch_index
    const int a_base = $a_base;
    const int b_base = $b_base;
    int a_row[$TM], b_col[$TN];
    #pragma unroll
    for (int ti = 0; ti < $TM; ti++)
        a_row[ti] = a_base + min(m0 + ti, $M - 1) * $a_m;
    #pragma unroll
    for (int tj = 0; tj < $TN; tj++)
        b_col[tj] = b_base + min(n0 + tj, $N - 1) * $b_n;
    $T tile[$TM][$TN];
    #pragma unroll
    for (int ti = 0; ti < $TM; ti++) {
        #pragma unroll
        for (int tj = 0; tj < $TN; tj++)
            tile[ti][tj] = 0;
    }
    for (int k = 0; k < $K; k++) {
        $T a_k[$TM], b_k[$TN];
        #pragma unroll
        for (int ti = 0; ti < $TM; ti++)
            a_k[ti] = $A[a_row[ti] + k * $a_k];
        #pragma unroll
        for (int tj = 0; tj < $TN; tj++)
            b_k[tj] = $B[b_col[tj] + k * $b_k];
        #pragma unroll
        for (int ti = 0; ti < $TM; ti++) {
            #pragma unroll
            for (int tj = 0; tj < $TN; tj++)
                tile[ti][tj] = a_k[ti] * b_k[tj] + tile[ti][tj];
        }
    }
    #pragma unroll
    for (int ti = 0; ti < $TM; ti++) {
        #pragma unroll
        for (int tj = 0; tj < $TN; tj++) {
            const int xm = m0 + ti;
            const int xn = n0 + tj;
            if (xm < $M && xn < $N) {
                const int i = (batch * $M + xm) * $N + xn;
                const $T acc = tile[ti][tj];
$epilogue
            }
        }
    }
}
