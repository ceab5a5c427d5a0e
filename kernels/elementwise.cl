// One work-item per element of the index space (or per vector of neighbouring elements,
// from i on); fused elementwise body.
$qualifier void $name($args)
{
    const int i = $gid(0)$scale;
$guard
$body
}
