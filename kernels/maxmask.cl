// 1 at the first maximal element of each reduced group, 0 elsewhere: the gradient mask of
// max. One work-item per group.
$qualifier void $name($args)
{
    const int o = $gid(0);
    if (o >= $outs)
        return;
$out_index
    int best = 0;
    $T best_value = 0;
    for (int r = 0; r < $reduced; r++) {
$in_index
        const $T value = $X[$load];
        if (r == 0 || value > best_value || (value != value && best_value == best_value)) {
            best = r;
            best_value = value;
        }
    }
    for (int r = 0; r < $reduced; r++) {
$in_index
        $OUT[$store] = (r == best) ? $one : $zero;
    }
}
