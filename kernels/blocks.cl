// A copy of a stack of planes (the last two axes, $P x $Q) whose rows are vectors of the
// source: $how. Each work-item moves $W rows of one plane, $W columns at a time, so every
// load and store moves a whole vector; a matmul's B copied into panels is such a copy.
$qualifier void $name($args)
{
    const int p0 = $gid(0) * $W;
    const int plane = $gid(1);
$outer
    const int src = $src_plane;
    const int dst = plane * $PQ;
    for (int q0 = 0; q0 < $Q; q0 += $W) {
$moves
    }
}
