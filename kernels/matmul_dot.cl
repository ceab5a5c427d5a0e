// C[b, m, n] = sum_k A[b, m, k] * B[b, k, n], by dot products along k (both operands
// contiguous in k): each work-item computes a $TM x $TN tile of C (rows m0.., columns n0..),
// then runs the fused elementwise epilogue on each element of the tile. Tiles never leave C:
// the last tile of a row or column is shifted back inside C, and a work-item stores only the
// elements from (own_m, own_n) on, so no element is written twice and no load needs a clamp.
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
    const __global $T* restrict b = $B + ($b_base) + n0 * $b_n;
    $T res[$TM][$TN];
    // $TM x $TN vector accumulators over k in steps of $W, summed across lanes, then the
    // last $K % $W values of k
    {
        $VT tile[$TM][$TN];
        #pragma unroll
        for (int tm = 0; tm < $TM; tm++) {
            #pragma unroll
            for (int tn = 0; tn < $TN; tn++)
                tile[tm][tn] = 0;
        }
        for (int k = 0; k < $KV; k += $W) {
            $VT av[$TM], bv[$TN];
            #pragma unroll
            for (int tm = 0; tm < $TM; tm++)
                av[tm] = vload$W(0, a + tm * $a_m + k);
            #pragma unroll
            for (int tn = 0; tn < $TN; tn++)
                bv[tn] = vload$W(0, b + tn * $b_n + k);
            #pragma unroll
            for (int tm = 0; tm < $TM; tm++) {
                #pragma unroll
                for (int tn = 0; tn < $TN; tn++)
                    tile[tm][tn] = av[tm] * bv[tn] + tile[tm][tn];
            }
        }
        #pragma unroll
        for (int tm = 0; tm < $TM; tm++) {
            #pragma unroll
            for (int tn = 0; tn < $TN; tn++) {
                union { $VT v; $T s[$W]; } lanes;
                lanes.v = tile[tm][tn];
                $T sum = 0;
                #pragma unroll
                for (int l = 0; l < $W; l++)
                    sum += lanes.s[l];
                res[tm][tn] = sum;
            }
        }
        for (int k = $KV; k < $K; k++) {
            #pragma unroll
            for (int tm = 0; tm < $TM; tm++) {
                #pragma unroll
                for (int tn = 0; tn < $TN; tn++)
                    res[tm][tn] = a[tm * $a_m + k] * b[tn * $b_n + k] + res[tm][tn];
            }
        }
    }
    if (m0 == own_m && n0 == own_n) {
        // a whole tile of its own: every element, no conditions
        #pragma unroll
        for (int tm = 0; tm < $TM; tm++) {
            #pragma unroll
            for (int tn = 0; tn < $TN; tn++) {
                const int xm = m0 + tm;
                const int xn = n0 + tn;
                const int i = (batch * $M + xm) * $N + xn;
                const $T acc = res[tm][tn];
$epilogue
            }
        }
    } else {
        // a tile shifted back inside C: only the elements from (own_m, own_n) on. The
        // epilogue is not unrolled here (one copy of it, not TM x TN: kernels build faster);
        // the tile goes through a spill array so that res stays in registers.
        $T spill[$TM][$TN];
        #pragma unroll
        for (int tm = 0; tm < $TM; tm++) {
            #pragma unroll
            for (int tn = 0; tn < $TN; tn++)
                spill[tm][tn] = res[tm][tn];
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
