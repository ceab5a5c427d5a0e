// One launch for $parts kernels that do not depend on each other: each is a function of
// its global ids here, and each work-item of the launch runs one work-item of one of them.
#ifndef GC_ID
#define GC_ID(d) ((d) == 0 ? gc_id0 : (d) == 1 ? gc_id1 : gc_id2)
#endif
$functions

__kernel void $name($args)
{
    int id = get_global_id(0);
$dispatch
}
