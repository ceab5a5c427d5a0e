// C[b, m, n] = sum_k A[b, m, k] * B[b, k, n] on a GPU: each work-group computes a $BM x $BN
// block of C from $TK-deep slices of A and B that its lanes stage in local memory (loads
// along whichever dimension the operand is contiguous in, so neighbouring lanes read
// neighbouring elements). Each lane keeps a $WM x $WN register tile whose elements lie
// $LM rows and $LN columns apart, then runs the fused epilogue on each element inside C.
__kernel __attribute__((reqd_work_group_size($LN, $LM, 1)))
void $name($args)
{
    __local $T As[$TK][$BM + 1];
    __local $T Bs[$TK][$BN + 1];
    const int ln = get_local_id(0);
    const int lm = get_local_id(1);
    const int lid = lm * $LN + ln;
    const int n_block = get_group_id(0) * $BN;
    const int m_block = get_group_id(1) * $BM;
    const int batch = get_group_id(2);
$batch_index
    const __global $T* restrict a = $A + ($a_base);
    const __global $T* restrict b = $B + ($b_base);
    $T tile[$WM][$WN];
    #pragma unroll
    for (int wm = 0; wm < $WM; wm++) {
        #pragma unroll
        for (int wn = 0; wn < $WN; wn++)
            tile[wm][wn] = 0;
    }
    for (int k0 = 0; k0 < $K; k0 += $TK) {
        #pragma unroll
        for (int r = 0; r < $A_LOADS; r++) {
            const int f = lid + r * $LANES;
            const int mm = $a_mm;
            const int kk = $a_kk;
            const int gm = m_block + mm;
            const int gk = k0 + kk;
            As[kk][mm] = (gm < $M && gk < $K) ? a[gm * $a_m + gk * $a_k] : 0;
        }
        #pragma unroll
        for (int r = 0; r < $B_LOADS; r++) {
            const int f = lid + r * $LANES;
            const int nn = $b_nn;
            const int kk = $b_kk;
            const int gn = n_block + nn;
            const int gk = k0 + kk;
            Bs[kk][nn] = (gn < $N && gk < $K) ? b[gk * $b_k + gn * $b_n] : 0;
        }
        barrier(CLK_LOCAL_MEM_FENCE);
        #pragma unroll
        for (int k = 0; k < $TK; k++) {
            $T av[$WM];
            $T bv[$WN];
            #pragma unroll
            for (int wm = 0; wm < $WM; wm++)
                av[wm] = As[k][lm + wm * $LM];
            #pragma unroll
            for (int wn = 0; wn < $WN; wn++)
                bv[wn] = Bs[k][ln + wn * $LN];
            #pragma unroll
            for (int wm = 0; wm < $WM; wm++) {
                #pragma unroll
                for (int wn = 0; wn < $WN; wn++)
                    tile[wm][wn] = av[wm] * bv[wn] + tile[wm][wn];
            }
        }
        barrier(CLK_LOCAL_MEM_FENCE);
    }
    #pragma unroll
    for (int wm = 0; wm < $WM; wm++) {
        #pragma unroll
        for (int wn = 0; wn < $WN; wn++) {
            const int xm = m_block + lm + wm * $LM;
            const int xn = n_block + ln + wn * $LN;
            if (xm < $M && xn < $N) {
                const int i = (batch * $M + xm) * $N + xn;
                const $T acc = tile[wm][wn];
$epilogue
            }
        }
    }
}
