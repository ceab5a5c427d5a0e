"""Contractions: numpy's matmul (2-D, batched with broadcast batch axes), torch's mm."""
from __future__ import annotations

import numpy as np

from .. import shapes
from .. import graph
from ..errors import DTypeError, ShapeError
from ..graph import Op, Tensor
from .elementwise import Operand, as_tensor, broadcast_shapes
from .registry import Category, define
from .views import broadcast_to, permute, reshape


def matmul(a: Operand, b: Operand) -> Tensor:
    """numpy's matmul: 2-D, batched with broadcast batch axes, 1-D operands promoted."""
    a = as_tensor(a, b if isinstance(b, Tensor) else None, "matmul")
    b = as_tensor(b, a, "matmul")
    if a.ndim == 0 or b.ndim == 0:
        raise ShapeError(f"matmul: operands must have at least 1 dimension, got shapes "
                         f"{a.shape} and {b.shape}; use * to scale")
    if a.dtype != b.dtype:
        raise DTypeError(f"matmul: operands have dtypes {a.dtype} and {b.dtype}; "
                         "give both the same dtype")
    if a.dtype == np.bool_:
        raise DTypeError("matmul: operands are bool; convert them with .float() first")
    a2 = reshape(a, (1,) + a.shape) if a.ndim == 1 else a
    b2 = reshape(b, b.shape + (1,)) if b.ndim == 1 else b
    if not shapes.same(a2.shape[-1:], b2.shape[-2:-1]):
        raise ShapeError(f"matmul: shapes {a.shape} and {b.shape} do not align "
                         f"({a2.shape[-1]} != {b2.shape[-2]}, the contracted dimension)")
    try:
        batch = broadcast_shapes(a2.shape[:-2], b2.shape[:-2], op="matmul")
    except ShapeError:
        raise ShapeError(f"matmul: shapes {a.shape} and {b.shape} have batch dimensions "
                         f"{a2.shape[:-2]} and {b2.shape[:-2]} that cannot be broadcast "
                         "together") from None
    a2 = broadcast_to(a2, batch + a2.shape[-2:])
    b2 = broadcast_to(b2, batch + b2.shape[-2:])
    if isinstance(a2.shape[-1], int) and a2.shape[-1] == 0:   # a sum of no products
        zeros = batch + (a2.shape[-2], b2.shape[-1])
        return reshape(graph.constant(np.zeros(zeros, a.dtype), a.dtype),
                       _final(a, b, batch))
    out = Tensor(Op.MATMUL, (a2, b2), batch + (a2.shape[-2], b2.shape[-1]), a.dtype)
    return reshape(out, _final(a, b, batch))


def _final(a: Tensor, b: Tensor, batch: tuple) -> tuple:
    """numpy's matmul shape: 1-D operands' promoted axes dropped again."""
    return batch + ((a.shape[-2],) if a.ndim > 1 else ()) + ((b.shape[-1],) if b.ndim > 1
                                                             else ())


def mm(a: Tensor, b: Operand) -> Tensor:
    """Matrix product of two 2-D tensors, as torch's ``mm``."""
    b = as_tensor(b, a, "mm")
    if a.ndim != 2 or b.ndim != 2:
        raise ShapeError(f"mm: expects two 2-D tensors, got shapes {a.shape} and {b.shape}; "
                         "use matmul for other ranks")
    return matmul(a, b)


def swap_last(x: Tensor) -> Tensor:
    """``x`` with its last two axes swapped (a view)."""
    perm = list(range(x.ndim))
    perm[-1], perm[-2] = perm[-2], perm[-1]
    return permute(x, tuple(perm))


def _vjp_matmul(node: Tensor, g: Tensor) -> list:
    a, b = node.src
    return [matmul(g, swap_last(b)), matmul(swap_last(a), g)]


def _rebuild_matmul(node: Tensor, src: tuple) -> Tensor:
    """The node over new sources, whose contracted sizes must still agree (two symbolic
    sizes were taken to be equal)."""
    a, b = src
    if a.shape[-1] != b.shape[-2] or a.shape[:-2] != b.shape[:-2]:
        raise ShapeError(f"matmul: shapes {a.shape} and {b.shape} do not align")
    return Tensor(Op.MATMUL, src, a.shape[:-1] + b.shape[-1:], node.dtype, node.arg,
                  node.name)


define(Op.MATMUL, Category.CONTRACT, vjp=_vjp_matmul,
       impl=lambda node, a, b: np.matmul(a, b), rebuild=_rebuild_matmul,
       label=lambda node, inner: f"({inner[0]} @ {inner[1]})")
