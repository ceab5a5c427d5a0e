// A scatter's positions sorted by the target element (bucket) they add to, by one
// work-group: count each bucket's positions (integer atomics: the counts are the same
// whatever the order), scan the counts into bucket starts, place each position in its
// bucket, then sort each bucket by position. The buffer holds the $K + 1 starts, the $K
// sizes, then the $Q positions, so that the scatter sums each bucket in a fixed order.
static void ${name}_sift(__global int* a, int root, const int n)
{
    const int item = a[root];
    for (int child = 2 * root + 1; child < n; child = 2 * root + 1) {
        if (child + 1 < n && a[child + 1] > a[child])
            child++;
        if (a[child] <= item)
            break;
        a[root] = a[child];
        root = child;
    }
    a[root] = item;
}

static void ${name}_sort(__global int* a, const int n)
{
    for (int root = n / 2 - 1; root >= 0; root--)
        ${name}_sift(a, root, n);
    for (int end = n - 1; end > 0; end--) {
        const int top = a[0];
        a[0] = a[end];
        a[end] = top;
        ${name}_sift(a, 0, end);
    }
}

__kernel void $name($args)
{
    const int lid = get_local_id(0);
    __global int* starts = $OUT;
    __global int* sizes = $OUT + $K + 1;
    __global int* order = $OUT + 2 * $K + 1;
    __local int part[$L];
    // each work-item owns a run of buckets [lo, hi) (and starts[hi], the start of the next)
    const int run = ($K + $L - 1) / $L;
    const int lo = min(lid * run, $K);
    const int hi = min(lo + run, $K);
    for (int k = lo; k < hi; k++) {
        starts[k + 1] = 0;
        sizes[k] = 0;
    }
    if (lid == 0)
        starts[0] = 0;
    barrier(CLK_GLOBAL_MEM_FENCE);
    for (int q = lid; q < $Q; q += $L) {
$key
        atomic_inc(&starts[key + 1]);
    }
    barrier(CLK_GLOBAL_MEM_FENCE);
    // the counts in starts[1..K] become their running sums: each work-item scans its run
    int total = 0;
    for (int k = lo + 1; k <= hi; k++)
        total += starts[k];
    part[lid] = total;
    barrier(CLK_LOCAL_MEM_FENCE);
    if (lid == 0) {
        int sum = 0;
        for (int l = 0; l < $L; l++) {
            const int t = part[l];
            part[l] = sum;
            sum += t;
        }
    }
    barrier(CLK_LOCAL_MEM_FENCE);
    int sum = part[lid];
    for (int k = lo + 1; k <= hi; k++) {
        sum += starts[k];
        starts[k] = sum;
    }
    barrier(CLK_GLOBAL_MEM_FENCE);
    for (int q = lid; q < $Q; q += $L) {
$key
        order[starts[key] + atomic_inc(&sizes[key])] = q;
    }
    barrier(CLK_GLOBAL_MEM_FENCE);
    for (int k = lo; k < hi; k++)
        if (sizes[k] > 1)
            ${name}_sort(order + starts[k], sizes[k]);
}
