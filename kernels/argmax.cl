// One work-group per output element finds the index of the first maximum (or minimum):
// each work-item folds a strided share of the reduced elements in order (running the
// fused prologue on each), then a tree in local memory keeps the better of two pairs,
// the earlier index of equal values; work-item 0 runs the epilogue with acc the index.
__kernel __attribute__((reqd_work_group_size($local, 1, 1)))
void $name($args)
{
    __local $T values[$local];
    __local int indices[$local];
    const int o = get_group_id(0);
    const int lid = get_local_id(0);
$out_index
    $T best = 0;
    int found = -1;                   // -1: this work-item has seen no element
    for (int r = lid; r < $reduced; r += $local) {
$in_index
$prologue
        const bool take = found < 0 || $better;
        best = take ? value : best;
        found = take ? r : found;
    }
    values[lid] = best;
    indices[lid] = found;
    barrier(CLK_LOCAL_MEM_FENCE);
    for (int s = $local / 2; s > 0; s >>= 1) {
        if (lid < s) {
            const $T value = values[lid + s];
            const int r = indices[lid + s];
            best = values[lid];
            found = indices[lid];
            if (r >= 0 && (found < 0 || $better || (!$worse && r < found))) {
                values[lid] = value;
                indices[lid] = r;
            }
        }
        barrier(CLK_LOCAL_MEM_FENCE);
    }
    if (lid == 0) {
        const $I acc = indices[0];
$epilogue
    }
}
