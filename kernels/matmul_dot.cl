    // Dot products along k (both operands contiguous in k): $TM x $TN vector accumulators
    // over k in steps of $W, summed across lanes, then the last $K % $W values of k.
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
