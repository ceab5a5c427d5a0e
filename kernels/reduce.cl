// One work-group per output element: each work-item folds a strided share of the reduced
// elements (running the fused prologue on each), then a tree in local memory; work-item 0
// runs the epilogue.
__kernel __attribute__((reqd_work_group_size($local, 1, 1)))
void $name($args)
{
    __local $T scratch[$local];
    const int o = get_group_id(0);
    const int lid = get_local_id(0);
$out_index
    $T acc = $init;
    for (int r = lid; r < $reduced; r += $local) {
$in_index
$prologue
        acc = $combine;
    }
    scratch[lid] = acc;
    barrier(CLK_LOCAL_MEM_FENCE);
    for (int s = $local / 2; s > 0; s >>= 1) {
        if (lid < s) {
            const $T value = scratch[lid + s];
            acc = scratch[lid];
            scratch[lid] = $combine;
        }
        barrier(CLK_LOCAL_MEM_FENCE);
    }
    if (lid == 0) {
        acc = scratch[0];
$epilogue
    }
}
