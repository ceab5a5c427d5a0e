// C[b, m, n] = sum_k A[b, m, k] * B[b, k, n], by outer products: each work-item computes a
// $TM x $TN tile of C (rows m0.., columns n0..), then runs the fused elementwise epilogue on
// each element of the tile. Operands are read through their strides (transposes are never
// materialised). Tiles never leave C: the last tile of a row or column is shifted back
// inside C, and a work-item stores only the elements from (own_m, own_n) on, so no element
// is written twice and no load needs a clamp.
$qualifier void $name($args)
{
    const int own_n = $gid($GN) * $TN;
    const int own_m = $gid($GM) * $TM;
    const int batch = $gid(2);
    if (own_n >= $N || own_m >= $M)
        return;
    const int n0 = min(own_n, $N - $TN);
    const int m0 = min(own_m, $M - $TM);
$batch_index
    const __global $T* restrict a = $A + ($a_base) + m0 * $a_m;
    const __global $T* restrict b = $B + ($b_base) + n0 * $b_tile;
    // per k: $NV vectors ($VT) of operand $P along its free dimension times $TS scalars of
    // operand $S, into $TS x $NV vector accumulators
    $VT tile[$TS][$NV];
    #pragma unroll
    for (int t = 0; t < $TS; t++) {
        #pragma unroll
        for (int j = 0; j < $NV; j++)
            tile[t][j] = 0;
    }
    for (int k = 0; k < $K; k++) {
        $VT pv[$NV];
        #pragma unroll
        for (int j = 0; j < $NV; j++)
            pv[j] = $load_p;
        #pragma unroll
        for (int t = 0; t < $TS; t++) {
            const $T sv = $load_s;
            #pragma unroll
            for (int j = 0; j < $NV; j++)
                tile[t][j] = sv * pv[j] + tile[t][j];
        }
    }
    if (m0 == own_m && n0 == own_n) {
$full_tile
    } else {
        // a tile shifted back inside C: only the elements from (own_m, own_n) on. The
        // epilogue is not unrolled here (one copy of it, not TM x TN: kernels build faster);
        // the tile goes through a spill array so that the accumulators stay in registers.
        $T spill[$TM][$TN];
        #pragma unroll
        for (int t = 0; t < $TS; t++) {
            #pragma unroll
            for (int j = 0; j < $NV; j++) {
                union { $VT v; $T s[$W]; } lanes;
                lanes.v = tile[t][j];
                #pragma unroll
                for (int l = 0; l < $W; l++)
                    $store_spill = lanes.s[l];
            }
        }
        #pragma unroll 1
        for (int tm = 0; tm < $TM; tm++) {
            #pragma unroll 1
            for (int tn = 0; tn < $TN; tn++) {
                const int xm = m0 + tm;
                const int xn = n0 + tn;
                if (xm >= own_m && xn >= own_n) {
                    const int i = (batch * $M + xm) * $N + xn;
                    const $T acc = spill[tm][tn];
$epilogue
                }
            }
        }
    }
}
