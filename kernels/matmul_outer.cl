    // Outer products: per k, $NV vectors ($VT) of operand $P along its free dimension
    // times $TS scalars of operand $S, into $TS x $NV vector accumulators.
    {
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
        #pragma unroll
        for (int t = 0; t < $TS; t++) {
            #pragma unroll
            for (int j = 0; j < $NV; j++) {
                union { $VT v; $T s[$W]; } lanes;
                lanes.v = tile[t][j];
                #pragma unroll
                for (int l = 0; l < $W; l++)
                    $store_res = lanes.s[l];
            }
        }
    }
