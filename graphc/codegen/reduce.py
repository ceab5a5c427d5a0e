"""Reduction kernels (sum, prod and max over axes, and argmax and argmin, with fused
prologue and epilogue) and the gradient mask of max."""
from __future__ import annotations

import numpy as np

from ..dtypes import cl_type, is_float, literal
from ..graph import Op
from ..schedule import contiguous_strides
from .kernel import KernelWriter, Skeleton, writes
from .space import _Space, unravel


def _flat(shape: tuple) -> str:
    """The C expression of the flat index of multi-index x0.. in a contiguous ``shape``."""
    return " + ".join(f"x{d} * {s}" for d, s in enumerate(contiguous_strides(shape))
                      if shape[d] != 1) or "0"


def _reduction_fields(w: KernelWriter) -> tuple:
    """The fields every reduction skeleton shares (index math, the fused prologue, which
    names the element ``value``, and the epilogue, which reads the result as ``acc``),
    and the target's choice of shape: ``(fields, (shape, W, local), outs)``."""
    anchor = w.group.anchor
    axes = anchor.arg[1]
    (x,) = anchor.src
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
    if any(n is anchor for n in w.group.outputs):
        target = w.arg(w.buffer_of(anchor), True, node=anchor)
        epilogue.append(f"        {target}[o] = acc;")
    fields = {"T": w.T, "reduced": reduced, "prologue": "\n".join(prologue),
              "out_index": "\n".join("    " + s for s in
                                     unravel(x.shape, "o", lambda d: f"x{d}", kept)),
              "in_index": "\n".join("        " + s for s in in_index),
              "epilogue": "\n".join(epilogue)}
    choose = w.target.search if anchor.op is Op.ARGMAX else w.target.reduction
    return fields, choose(outs, reduced, (x.ndim - 1) not in axes), outs


def _skeleton(template: str, fields: dict, shape: tuple, outs: int) -> Skeleton:
    """Work-items of ``W`` outputs each (``<template>_items``), or a work-group an output
    (``<template>``, a tree in local memory, with barriers)."""
    kind, W, local = shape
    fields = dict(fields, local=local)
    if kind == "items":
        items = -(-outs // W)
        fields = dict(fields, outs=outs, W=W)
        return Skeleton(f"{template}_items", fields, (-(-items // local) * local,), (local,))
    return Skeleton(template, fields, (outs * local,), (local,), work_groups=True)


@writes("reduce")
def write_reduce(w: KernelWriter) -> Skeleton:
    """A sum, product or max over axes (or an argmax): work-items per output, or a
    work-group per output (the target's choice), with the group's prologue and epilogue
    fused."""
    if w.group.anchor.op is Op.ARGMAX:
        return _write_argmax(w)
    kind = w.group.anchor.arg[0]
    fields, shape, outs = _reduction_fields(w)
    combine = {"sum": "acc + value", "prod": "acc * value",
               "max": "((value > acc || value != value) ? value : acc)"}[kind]
    init = literal({"sum": 0.0, "prod": 1.0, "max": float("-inf")}[kind], w.dtype)
    return _skeleton("reduce", dict(fields, init=init, combine=combine), shape, outs)


def _better(kind: str, a: str, b: str, dtype: np.dtype) -> str:
    """C: is ``a`` strictly better than ``b`` for an argmax (``kind`` "max") or argmin? A
    float NaN beats every number, as numpy and torch count it."""
    compare = f"{a} {'>' if kind == 'max' else '<'} {b}"
    return f"({compare} || ({a} != {a} && {b} == {b}))" if is_float(dtype) else f"({compare})"


def _write_argmax(w: KernelWriter) -> Skeleton:
    """The index of the first maximum (or minimum): each work-item folds (value, index)
    pairs in order, keeping the earlier on ties; a work-group's tree keeps the earlier
    index of equal values too. The index is an int, stored as the node's int64."""
    anchor = w.group.anchor
    kind = anchor.arg[0]
    fields, shape, outs = _reduction_fields(w)
    fields = dict(fields, I=cl_type(anchor.dtype),
                  better=_better(kind, "value", "best", w.dtype),
                  worse=_better(kind, "best", "value", w.dtype))
    return _skeleton("argmax", fields, shape, outs)


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
