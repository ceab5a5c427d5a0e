// One work-item per element of the index space (or per vector of neighbouring elements,
// from i on); fused elementwise body.
__kernel void $name($args)
{
    const int i = $first;
$guard
$body
}
