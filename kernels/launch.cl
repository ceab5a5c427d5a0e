// One launch for $parts kernels that do not depend on each other: each is a function of
// its global ids here, and each work-item of the launch runs one work-item of one of them.
$functions

$qualifier void $name($args)
{
    int id = $gid(0);
$dispatch
}
