// One work-item per element of the index space; fused elementwise body.
__kernel void $name($args)
{
    const int i = get_global_id(0);
$guard
$body
}
