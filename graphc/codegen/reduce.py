"""Reduction kernels (sum, prod and max over axes, with fused prologue and epilogue) and the
gradient mask of max."""
from __future__ import annotations

import numpy as np

from ..dtypes import cl_type, literal, unsigned
from ..schedule import contiguous_strides
from .kernel import KernelWriter, Skeleton, writes
from .space import _Space, unravel


def _flat(shape: tuple) -> str:
    """The C expression of the flat index of multi-index x0.. in a contiguous ``shape``."""
    return " + ".join(f"x{d} * {s}" for d, s in enumerate(contiguous_strides(shape))
                      if shape[d] != 1) or "0"


@writes("reduce")
def write_reduce(w: KernelWriter) -> Skeleton:
    """A sum, product or max over axes: work-items per output, or a work-group per output (the
    target's choice), with the group's prologue and epilogue fused."""
    kind, axes, _ = w.group.anchor.arg
    (x,) = w.group.anchor.src
    kept = [d for d in range(x.ndim) if d not in axes]
    reduced = int(np.prod([x.shape[d] for d in axes], dtype=np.int64))
    outs = int(np.prod([x.shape[d] for d in kept], dtype=np.int64))
    in_space = _Space(x.shape, "i", lambda d: f"x{d}")
    keepdims = len(w.group.space) == x.ndim
    out_space = _Space(w.group.space, "o", lambda d: f"x{d}" if keepdims else f"x{kept[d]}")
    prologue = w.body(w.group.prologue, in_space, "        ", {"value": x})
    in_index = unravel(x.shape, "r", lambda d: f"x{d}", list(axes))
    in_index.append(f"const int i = {_flat(x.shape)};")
    epilogue = w.body(w.group.nodes, out_space, "        ")
    if any(n is w.group.anchor for n in w.group.outputs):
        target = w.arg(w.buffer_of(w.group.anchor), True)
        epilogue.append(f"        {target}[o] = acc;")
    shape, W, local = w.target.reduction(outs, reduced, (x.ndim - 1) not in axes)
    fields = {"T": w.T, "local": local, "reduced": reduced, "init": _identity(kind, w.dtype),
              "combine": _combine(kind, w.dtype), "prologue": "\n".join(prologue),
              "out_index": "\n".join("    " + s for s in
                                     unravel(x.shape, "o", lambda d: f"x{d}", kept)),
              "in_index": "\n".join("        " + s for s in in_index),
              "epilogue": "\n".join(epilogue)}
    if shape == "items":
        items = -(-outs // W)
        fields = dict(fields, outs=outs, W=W)
        return Skeleton("reduce_items", fields, (-(-items // local) * local,), (local,))
    # a tree in local memory, with barriers
    return Skeleton("reduce", fields, (outs * local,), (local,), work_groups=True)


def _identity(kind: str, dtype: np.dtype) -> str:
    """The C literal a reduction of ``kind`` starts from: an integer maximum starts from
    the type's least value (INT_MIN, 0, false), not from -INFINITY."""
    dtype = np.dtype(dtype)
    if kind in ("max", "min") and dtype.kind in "biu":
        info = np.iinfo(np.uint8 if dtype.kind == "b" else dtype)
        return literal(info.min if kind == "max" else info.max, dtype)
    return literal({"sum": 0.0, "prod": 1.0, "max": float("-inf"),
                    "min": float("inf")}[kind], dtype)


def _combine(kind: str, dtype: np.dtype) -> str:
    """acc combined with value: NaN-propagating over floats; signed integer sums and
    products wrap (computed in the unsigned type: C's signed overflow is undefined)."""
    dtype = np.dtype(dtype)
    if kind in ("max", "min"):
        if dtype.kind in "biu":
            return f"{kind}(acc, value)" if dtype.kind != "b" else \
                f"({'acc | value' if kind == 'max' else 'acc & value'})"
        relation = ">" if kind == "max" else "<"
        return f"((value {relation} acc || value != value) ? value : acc)"
    op = "+" if kind == "sum" else "*"
    if dtype.kind == "i":
        T, U = cl_type(dtype), cl_type(unsigned(dtype))
        return f"as_{T}(as_{U}(acc) {op} as_{U}(({T})value))"
    return f"acc {op} value"


@writes("maxmask")
def write_maxmask(w: KernelWriter) -> Skeleton:
    """1 at the first maximal element of each reduced group of the anchor's source."""
    node = w.group.anchor
    (x,) = node.src
    axes = node.arg
    kept = [d for d in range(x.ndim) if d not in axes]
    base, view = w.load_of[id(x)]
    src = w.arg(w.buffer_of(base))
    out = w.arg(w.buffer_of(node), write=True)
    space = _Space(x.shape, "i", lambda d: f"x{d}")
    fields = {"T": w.T, "X": src, "OUT": out,
              "outs": int(np.prod([x.shape[d] for d in kept], dtype=np.int64)),
              "reduced": int(np.prod([x.shape[d] for d in axes], dtype=np.int64)),
              "out_index": "\n".join("    " + s for s in unravel(
                  x.shape, "o", lambda d: f"x{d}", kept)),
              "in_index": "\n".join("        " + s for s in unravel(
                  x.shape, "r", lambda d: f"x{d}", list(axes))
                  + [f"const int i = {_flat(x.shape)};"]),
              "load": space.offset(view), "store": "i",
              "one": literal(1, w.dtype), "zero": literal(0, w.dtype)}
    outs = fields["outs"]
    local = w.target.maxmask_group(outs)
    return Skeleton("maxmask", fields, (-(-outs // local) * local,), (local,))
