// A transposed copy: dst (P x Q, rows of its own) from a view whose rows are the source's
// columns. Each work-item moves one $W x $W block: $W vector loads along the source's
// contiguous axis, $W vector stores along the copy's rows (a lane-by-lane reassembly in
// registers between them), so every load and store reads or writes whole cache lines.
$qualifier void $name($args)
{
    const int q0 = $gid(0) * $W;
    const int p0 = $gid(1) * $W;
$moves
}
