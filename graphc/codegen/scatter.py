"""Scatter kernels: a scatter's positions sorted into buckets by target (``buckets``), and
the scatter-add that sums each target's bucket in order of position (``scatter``), with
its elementwise epilogue fused. ``graphc.ops.gathers`` says why: deterministic sums."""
from __future__ import annotations

import numpy as np

from ..dtypes import literal
from ..ops.gathers import bucket_layout
from ..view import contiguous_strides
from .kernel import KernelWriter, Skeleton, writes
from .reduce import _flat
from .space import _Space, strided_read, unravel

BUCKET_GROUP = 256        # work-items of the one work-group that sorts a scatter's positions


def _key(plan, coordinate) -> str:
    """The C text of the bucket of a position: the flat index over the keyed target axes
    of the coordinates ``coordinate(a)`` gives."""
    keyed = plan.keyed
    strides = contiguous_strides([plan.shape[a] for a in keyed])
    terms = [f"{coordinate(a)} * {s}" if s != 1 else coordinate(a)
             for a, s in zip(keyed, strides) if plan.shape[a] != 1]
    return " + ".join(terms) or "0"


@writes("buckets")
def write_buckets(w: KernelWriter) -> Skeleton:
    """A scatter's positions sorted by bucket, then by position, in one work-group."""
    node = w.group.anchor
    plan = node.arg
    out = w.arg(w.buffer_of(node), write=True, node=node)
    free = {d for _, d in plan.free}
    position = [("0" if d in free else f"p{d}") for d in range(len(plan.g_shape))]

    def coordinate(a: int) -> str:
        kind, k = plan.coords[a]
        if kind == "axis":
            return position[k]
        base, view = w.load_of[id(node.src[k])]
        index = strided_read(w.arg(w.buffer_of(base), node=base), view, position,
                             base.dtype)
        return f"gc_index({index}, {plan.shape[a]})"

    lines = unravel(plan.g_shape, "q", lambda d: f"p{d}", list(plan.positions))
    lines.append(f"const int key = {_key(plan, coordinate)};")
    local = w.target.group_size(BUCKET_GROUP)
    fields = {"OUT": out, "K": plan.buckets, "Q": plan.count, "L": local,
              "key": "\n".join("        " + line for line in lines)}
    return Skeleton("buckets", fields, (local,), (local,), work_groups=True)


@writes("scatter")
def write_scatter(w: KernelWriter) -> Skeleton:
    """A scatter-add, its epilogue fused: one work-item per target element, or (a CPU,
    with free axes) per bucket, running through its row."""
    node = w.group.anchor
    plan = node.arg
    g, buckets = node.src
    g_base, g_view = w.load_of[id(g)]
    b_base, _ = w.load_of[id(buckets)]
    source = w.arg(w.buffer_of(g_base), node=g_base)
    target = {d: a for a, d in plan.free}
    coords = [f"x{target[d]}" if d in target else f"p{d}" for d in range(len(plan.g_shape))]
    shape = plan.shape
    space = _Space(shape, "o", lambda d: f"x{d}")
    store = [f"        {w.arg(w.buffer_of(node), True)}[o] = acc;"
             for n in w.group.outputs if n is node]
    epilogue = w.body(w.group.nodes, space, "        ") + store
    fields = {"T": w.T, "zero": literal(0, w.dtype),
              "B": w.arg(w.buffer_of(b_base), node=b_base), "order": bucket_layout(plan)[2],
              "position": "\n".join("            " + s for s in unravel(
                  plan.g_shape, "q", lambda d: f"p{d}", list(plan.positions))),
              "load": strided_read(source, g_view, coords, g_base.dtype),
              "epilogue": "\n".join(epilogue)}
    if w.target.scatter_rows and plan.free:
        empty = w.body(w.group.nodes, space, "            ", count=False) + store
        return _by_rows(w, plan, fields, empty)
    outs = int(np.prod(shape, dtype=np.int64))
    local = w.target.elementwise_group(outs, 1)
    fields.update(outs=outs, key=_key(plan, lambda a: f"x{a}"),
                  out_index="\n".join("    " + s for s in unravel(
                      shape, "o", lambda d: f"x{d}", list(range(len(shape))))))
    return Skeleton("scatter", fields, (-(-outs // local) * local,), (local,))


def _by_rows(w: KernelWriter, plan, fields: dict, empty: list) -> Skeleton:
    """The scatter by rows: a work-item per bucket, its free elements in a loop (``empty``:
    the epilogue of an empty bucket's, with ``acc`` 0)."""
    free = [a for a, _ in plan.free]
    columns = int(np.prod([plan.shape[a] for a in free], dtype=np.int64))
    free_index = unravel(plan.shape, "j", lambda d: f"x{d}", free)
    free_index.append(f"const int o = {_flat(plan.shape)};")
    local = w.target.elementwise_group(plan.buckets, 1)
    fields.update(K=plan.buckets, F=columns, empty="\n".join(empty),
                  key_index="\n".join("    " + s for s in unravel(
                      plan.shape, "k", lambda d: f"x{d}", list(plan.keyed))),
                  free_index="\n".join("        " + s for s in free_index),
                  empty_index="\n".join("            " + s for s in free_index))
    return Skeleton("scatter_rows", fields, (-(-plan.buckets // local) * local,), (local,))
