"""Searches and scans along an axis: argmax and argmin (the index of the first maximum or
minimum, int64, as torch), cumsum and cumprod (running sums and products, with their
gradients).

argmax and argmin are reductions (``Category.REDUCE``): the reduce kernel folds (value,
index) pairs, so an elementwise producer fuses into its loads and a comparison of the
indices (an accuracy) into its epilogue, and the index never passes through a float.
NaN counts as the largest value for argmax and the smallest for argmin, as numpy and
torch count it: the first NaN wins.

cumsum and cumprod are scans (``Op.SCAN``, ``Category.SCAN``): a kernel folds each row in
order, forwards or backwards. The gradient of a scan is the scan the other way, so the
backward pass reads its cotangent in place, with no flip.
"""
from __future__ import annotations

from typing import Any, Optional

import numpy as np

from .. import graph
from ..dtypes import as_dtype, is_float
from ..errors import AxisError
from ..graph import Op, Tensor
from .elementwise import Operand, as_tensor, astype, div, eq, logical_and, mul, where
from .registry import Category, define
from .views import broadcast_to, reshape

INT64 = np.dtype(np.int64)


def _axis(x: Tensor, axis: Any, op: str) -> int:
    """``axis`` as a non-negative axis of ``x`` (a 0-d tensor takes 0 and -1, as torch)."""
    if isinstance(axis, (tuple, list)):
        raise TypeError(f"{op}: dim must be one int (or None), got {axis!r}")
    if isinstance(axis, bool) or not isinstance(axis, (int, np.integer)):
        raise TypeError(f"{op}: dim must be an int, got {type(axis).__name__}")
    rank = max(x.ndim, 1)
    if not -rank <= axis < rank:
        raise AxisError(f"{op}: dim {axis} is out of range for a tensor of shape {x.shape} "
                        f"(expected a dim in [{-rank}, {rank - 1}])")
    return int(axis) % rank


# {{{ argmax, argmin

def _search(kind: str, x: Operand, axis: Any, keepdims: bool, dim: Any,
            keepdim: Optional[bool]) -> Tensor:
    x = as_tensor(x)
    op = f"arg{kind}"
    axis = dim if dim is not None else axis
    keepdims = bool(keepdim if keepdim is not None else keepdims)
    if axis is None:              # the index into the flattened tensor, as both do
        axes = tuple(range(x.ndim))
    else:
        axes = (_axis(x, axis, op),) if x.ndim else ()
    kept = tuple(1 if i in axes else d for i, d in enumerate(x.shape))
    shape = kept if keepdims else tuple(d for i, d in enumerate(x.shape) if i not in axes)
    if all(x.shape[a] == 1 for a in axes):      # one candidate: index 0
        return broadcast_to(graph.constant(np.zeros((), INT64), INT64), shape)
    return Tensor(Op.ARGMAX, (x,), shape, INT64, (kind, axes))


def argmax(x: Operand, axis: Any = None, keepdims: bool = False, *, dim: Any = None,
           keepdim: Optional[bool] = None) -> Tensor:
    """The index of the first maximum along ``axis`` (an int; None: of the flattened
    tensor), an int64 tensor; NaN is larger than any number. No gradient."""
    return _search("max", x, axis, keepdims, dim, keepdim)


def argmin(x: Operand, axis: Any = None, keepdims: bool = False, *, dim: Any = None,
           keepdim: Optional[bool] = None) -> Tensor:
    """The index of the first minimum along ``axis`` (an int; None: of the flattened
    tensor), an int64 tensor; NaN is smaller than any number. No gradient."""
    return _search("min", x, axis, keepdims, dim, keepdim)


def _impl_search(node: Tensor, x: np.ndarray) -> np.ndarray:
    kind, axes = node.arg
    find = np.argmax if kind == "max" else np.argmin
    found = find(x, axis=axes[0]) if len(axes) == 1 else find(x.reshape(-1))
    return np.asarray(found, INT64).reshape(node.shape)

# }}}


# {{{ cumsum, cumprod

def scan(kind: str, x: Tensor, axis: int, reverse: bool = False) -> Tensor:
    """The running sum or product (``kind``) of ``x`` along ``axis``, from the last
    element back with ``reverse``; ``axis`` must be an axis of ``x``."""
    if x.shape[axis] == 1:
        return x
    return Tensor(Op.SCAN, (x,), x.shape, x.dtype, (kind, axis, bool(reverse)))


def _cumulative(kind: str, x: Operand, axis: Any, dtype: Any, dim: Any) -> Tensor:
    x = as_tensor(x)
    op = f"cum{kind}"
    axis = dim if dim is not None else axis
    if dtype is not None:
        x = astype(x, as_dtype(dtype, op))
    elif not is_float(x.dtype):    # integers and bools accumulate in int64, as torch's
        x = astype(x, INT64)
    if axis is None:               # numpy's: along the flattened tensor
        x, axis = reshape(x, (x.numel(),)), 0
    axis = _axis(x, axis, op)
    return x if x.ndim == 0 else scan(kind, x, axis)


def cumsum(x: Operand, dim: Any = None, dtype: Any = None, *, axis: Any = None) -> Tensor:
    """Running sums along ``dim`` (None: along the flattened tensor, as numpy).

    ``dtype`` converts ``x`` first; integer and bool tensors sum in int64, as in torch.
    The gradient is the running sum of the cotangent from the end back.
    """
    return _cumulative("sum", x, axis, dtype, dim)


def cumprod(x: Operand, dim: Any = None, dtype: Any = None, *, axis: Any = None) -> Tensor:
    """Running products along ``dim`` (None: along the flattened tensor, as numpy).

    ``dtype`` converts ``x`` first; integer and bool tensors multiply in int64, as in
    torch. The gradient is right where ``x`` has zeros (torch's rule).
    """
    return _cumulative("prod", x, axis, dtype, dim)


def _vjp_scan(node: Tensor, g: Tensor) -> list:
    kind, axis, reverse = node.arg
    (x,) = node.src
    if not is_float(x.dtype):
        return [None]
    if kind == "sum":
        return [scan("sum", g, axis, not reverse)]
    return [_cumprod_grad(node, x, g)]


def _cumprod_grad(node: Tensor, x: Tensor, g: Tensor) -> Tensor:
    """The cotangent of cumprod's input, right where it has zeros (torch's rule). Along
    each row in scan order: before the first zero, the sum of g * out from here to the
    end, over x (which is not 0 there); at the first zero, the sum from here to the end
    of g times the product of the others (the cumprod with that zero replaced by 1);
    after it, 0 (every product there holds two zeros, or this one and another)."""
    _, axis, reverse = node.arg
    zero = eq(x, 0)
    seen = scan("sum", astype(zero, x.dtype), axis, reverse)     # zeros so far
    before = eq(seen, 0)
    first = logical_and(zero, eq(seen, 1))
    others = scan("prod", where(first, 1, x), axis, reverse)
    to_end = scan("sum", mul(g, node), axis, not reverse)
    at_first = scan("sum", mul(g, others), axis, not reverse)
    # the denominator is 1 where the quotient is not taken: its gradient stays finite
    return where(before, div(to_end, where(before, x, 1)), where(first, at_first, 0))


def _impl_scan(node: Tensor, x: np.ndarray) -> np.ndarray:
    kind, axis, reverse = node.arg
    run = np.cumsum if kind == "sum" else np.cumprod
    if reverse:
        return np.flip(run(np.flip(x, axis), axis=axis, dtype=node.dtype), axis)
    return run(x, axis=axis, dtype=node.dtype)


def _label_scan(node: Tensor, inner: list) -> str:
    kind, axis, reverse = node.arg
    return f"cum{kind}({inner[0]}, dim={axis}{', reverse' if reverse else ''})"

# }}}


define(Op.ARGMAX, Category.REDUCE, vjp=lambda node, g: [None], impl=_impl_search,
       label=lambda node, inner: f"arg{node.arg[0]}({inner[0]}, axis={node.arg[1]})")
define(Op.SCAN, Category.SCAN, vjp=_vjp_scan, impl=_impl_scan, label=_label_scan,
       rebuild=lambda node, src: scan(node.arg[0], src[0], node.arg[1], node.arg[2]))
