"""Reductions (sum, max, prod over axes; min over integers), what is built from them
(mean, min, amax, amin, var, std, norm, all, any, softmax, logsumexp), the first-maximum
mask that max's gradient needs, and allreduce.

Over integers and bools the kernels accumulate in integers. As torch's: sum and prod of
int32, uint32 and bool give int64 (numpy gives int64 too on Linux, uint64 for uint32,
which graphc lacks), of int64 int64, wrapping; max and min keep the dtype (a minimum is
its own reduction, as -max(-x) wraps for integers); mean of integers gives float32 (the
exact int64 sum, divided); all and any reduce bools. Integer reductions have no
gradient."""
from __future__ import annotations

import builtins
from typing import Any, Optional, Sequence, Union

import numpy as np
import sympy as sp

from .. import distributed, graph, shapes
from ..dtypes import BOOL, is_float
from ..errors import ShapeError
from ..graph import Op, Tensor
from ..symbolic import Greater, Where
from .elementwise import (Operand, a0, abs, as_tensor, astype, eq, ew_node, exp, log_raw,
                          logical_and, mul, ne, neg, pow, sqrt, sub, add, div,
                          where)
from .registry import Category, define
from .views import broadcast_to, normalize_axis, reshape

Axes = Union[None, int, Sequence[int]]


def reduce_axes(x: Tensor, axis: Axes, op: str) -> tuple:
    if axis is None or x.ndim == 0:   # torch accepts dim=0 and dim=-1 on a 0-d tensor
        return tuple(range(x.ndim))
    if not isinstance(axis, (tuple, list)):
        axis = (axis,)            # an int, or something normalize_axis names as wrong
    axes = tuple(sorted(normalize_axis(a, x, op) for a in axis))
    if len(set(axes)) != len(axes):
        raise ShapeError(f"{op}: repeated axis in {axis}")
    return axes


_IDENTITY = {"sum": 0, "prod": 1}      # a reduction of nothing (numpy's and torch's)


def _reduction(kind: str, x: Operand, axis: Axes, keepdims: bool, dim: Axes,
               keepdim: Optional[bool], differentiable: bool = True) -> Tensor:
    x = as_tensor(x)
    if kind in ("sum", "prod") and not is_float(x.dtype) and x.dtype != np.int64:
        x = astype(x, np.int64)          # torch's (and numpy's) accumulator
    axis = dim if dim is not None else axis
    keepdims = keepdim if keepdim is not None else keepdims
    axes = reduce_axes(x, axis, kind)
    kept = tuple(1 if i in axes else d for i, d in enumerate(x.shape))
    out = tuple(d for i, d in enumerate(x.shape) if i not in axes)
    if not axes:
        result = x
    elif shapes.is_static(x.shape) and 0 in [x.shape[a] for a in axes]:
        if kind not in _IDENTITY:
            raise ValueError(f"{kind}: the tensor of shape {x.shape} is empty along the "
                             f"reduced axes {axes}, and a {kind} of nothing has no value "
                             "(as numpy's and torch's)")
        result = graph.constant(np.full(out, _IDENTITY[kind], x.dtype), x.dtype)
    elif x.op is Op.CONST and x.arg.uniform is not None:
        n = int(np.prod([x.shape[a] for a in axes]))
        value = {"sum": x.arg.uniform * n, "prod": x.arg.uniform ** n}.get(kind,
                                                                          x.arg.uniform)
        if not is_float(x.dtype):        # wrapped, as the kernel's sum would be
            value = np.array(value % 2 ** 64, np.uint64).astype(x.dtype)
        result = graph.constant(np.full(out, value, x.dtype), x.dtype)
    elif kind == "sum" and x.op is Op.BROADCAST and builtins.all(
            x.src[0].shape[a] == 1 for a in axes):
        # sum over stretched axes of a broadcast is a multiplication
        n = shapes.numel(x.shape[a] for a in axes)
        inner = x.src[0]
        kept_inner = tuple(d for i, d in enumerate(inner.shape) if i not in axes)
        result = broadcast_to(reshape(mul(inner, n), kept_inner), out)
    else:
        # keepdims is the node's own shape, so consumers of (n, 1) fuse as its epilogue
        return Tensor(Op.REDUCE, (x,), kept if keepdims else out, x.dtype,
                      (kind, axes, differentiable))
    return reshape(result, kept) if keepdims else result


def sum(x: Operand, axis: Axes = None, keepdims: bool = False, *,  # noqa: A001
        dim: Axes = None, keepdim: Optional[bool] = None) -> Tensor:
    """Sum over ``axis`` (an int, a tuple, or None for all), as numpy does."""
    return _reduction("sum", x, axis, keepdims, dim, keepdim)


def max(x: Operand, axis: Axes = None, keepdims: bool = False, *,  # noqa: A001
        dim: Axes = None, keepdim: Optional[bool] = None) -> Tensor:
    """Maximum over ``axis``; the gradient goes to the first maximal element."""
    return _reduction("max", x, axis, keepdims, dim, keepdim)


def min(x: Operand, axis: Axes = None, keepdims: bool = False, *,  # noqa: A001
        dim: Axes = None, keepdim: Optional[bool] = None) -> Tensor:
    """Minimum over ``axis``; the gradient goes to the first minimal element."""
    x = as_tensor(x)
    if not is_float(x.dtype):
        return _reduction("min", x, axis, keepdims, dim, keepdim, differentiable=False)
    return neg(max(neg(x), axis, keepdims, dim=dim, keepdim=keepdim))


def mean(x: Operand, axis: Axes = None, keepdims: bool = False, *,
         dim: Axes = None, keepdim: Optional[bool] = None) -> Tensor:
    """Arithmetic mean over ``axis`` (of integers: float32, from their exact sum)."""
    x = as_tensor(x)
    total = sum(x, axis, keepdims, dim=dim, keepdim=keepdim)
    if not is_float(total.dtype):
        total = astype(total, np.float32)
    if x.numel() == 0:                # 0 / 0, as numpy's (and torch's) mean of nothing
        return graph.constant(np.full(total.shape, np.nan, total.dtype), total.dtype)
    return mul(total, total.numel() / x.numel())


def _stable_max(x: Tensor, axis: Axes) -> Tensor:
    # The shift that keeps exp() finite; it cancels mathematically, so no gradient. A row
    # of -inf shifts by 0 instead (-inf - -inf would be nan; the result is -inf, as numpy's).
    m = _reduction("max", x, axis, True, None, None, differentiable=False)
    return ew_node(Where(Greater(a0, sp.S.NegativeInfinity), a0, 0), [m], m.shape, m.dtype)


def softmax(x: Operand, axis: int = -1, *, dim: Optional[int] = None) -> Tensor:
    """exp(x) / sum(exp(x)) over ``axis``, computed with the maximum subtracted."""
    x = as_tensor(x)
    axis = dim if dim is not None else axis
    e = exp(sub(x, _stable_max(x, axis)))
    return div(e, sum(e, axis, keepdims=True))


def log_softmax(x: Operand, axis: int = -1, *, dim: Optional[int] = None) -> Tensor:
    """log(softmax(x)) over ``axis``, without overflow for large logits."""
    x = as_tensor(x)
    axis = dim if dim is not None else axis
    z = sub(x, _stable_max(x, axis))
    return sub(z, log_raw(sum(exp(z), axis, keepdims=True)))


def logsumexp(x: Operand, axis: Axes = None, keepdims: bool = False, *,
              dim: Axes = None, keepdim: Optional[bool] = None) -> Tensor:
    """log(sum(exp(x))) over ``axis``, with the maximum subtracted first."""
    x = as_tensor(x)
    axis = dim if dim is not None else axis
    keepdims = keepdim if keepdim is not None else keepdims
    m = _stable_max(x, axis)
    s = add(log_raw(sum(exp(sub(x, m)), axis, keepdims=True)), m)
    return s if keepdims else reshape(s, tuple(
        d for i, d in enumerate(x.shape) if i not in reduce_axes(x, axis, "logsumexp")))


def log(x: Operand) -> Tensor:
    """Elementwise natural logarithm. ``log(sum(exp(z)))`` becomes ``logsumexp(z)``."""
    if isinstance(x, Tensor) and x.op is Op.REDUCE and x.arg[0] == "sum":
        (e,) = x.src
        if e.op is Op.EW and isinstance(e.arg, sp.exp):
            z = ew_node(e.arg.args[0], e.src, e.shape, e.dtype)
            return logsumexp(z, x.arg[1], keepdims=x.ndim == z.ndim)
    return log_raw(x)


def maxmask(x: Tensor, axes: tuple) -> Tensor:
    """1 at the first maximal element of each group over ``axes``, 0 elsewhere."""
    return Tensor(Op.MAXMASK, (x,), x.shape, x.dtype, tuple(axes))


# {{{ reductions built from sum, max and prod

def _args(axis: Axes, keepdims: bool, dim: Axes, keepdim: Optional[bool]) -> tuple:
    """numpy's (axis, keepdims) or torch's (dim, keepdim): torch's dim=() means all."""
    axis = dim if dim is not None else axis
    if isinstance(axis, (tuple, list)) and len(axis) == 0:
        axis = None
    return axis, bool(keepdim if keepdim is not None else keepdims)


def amax(x: Operand, axis: Axes = None, keepdims: bool = False, *,
         dim: Axes = None, keepdim: Optional[bool] = None) -> Tensor:
    """Maximum over ``axis``; as torch's, the gradient is split evenly among the ties."""
    axis, keepdims = _args(axis, keepdims, dim, keepdim)
    return _reduction("max", x, axis, keepdims, None, None, differentiable="ties")


def amin(x: Operand, axis: Axes = None, keepdims: bool = False, *,
         dim: Axes = None, keepdim: Optional[bool] = None) -> Tensor:
    """Minimum over ``axis``; the gradient is split evenly among the ties."""
    x = as_tensor(x)
    if not is_float(x.dtype):
        return min(x, axis, keepdims, dim=dim, keepdim=keepdim)
    return neg(amax(neg(x), axis, keepdims, dim=dim, keepdim=keepdim))


def prod(x: Operand, axis: Axes = None, keepdims: bool = False, *,
         dim: Axes = None, keepdim: Optional[bool] = None) -> Tensor:
    """Product over ``axis``; its gradient is right where elements are 0 (torch's rule)."""
    axis, keepdims = _args(axis, keepdims, dim, keepdim)
    return _reduction("prod", x, axis, keepdims, None, None)


def _count(x: Tensor, axis: Axes) -> Any:
    return shapes.numel(x.shape[a] for a in reduce_axes(x, axis, "var"))


def var(x: Operand, axis: Axes = None, unbiased: Optional[bool] = None,
        keepdims: bool = False, *, correction: Optional[float] = None,
        dim: Axes = None, keepdim: Optional[bool] = None,
        ddof: Optional[float] = None) -> Tensor:
    """Variance over ``axis``: sum((x - mean)**2) / max(0, N - correction).

    Parameters
    ----------
    x : Tensor
    axis, dim : int, tuple of int or None
        The axes reduced (None: all).
    unbiased : bool, optional
        torch's older spelling: True is ``correction=1``, False ``correction=0``.
    keepdims, keepdim : bool
        Keep the reduced axes with size 1.
    correction, ddof : float, optional
        Subtracted from the count N; default 1, as torch (numpy's default is 0).
    """
    x = as_tensor(x)
    axis, keepdims = _args(axis, keepdims, dim, keepdim)
    given = [c for c in (correction, ddof) if c is not None]
    if unbiased is not None:
        given.append(1 if unbiased else 0)
    if len(given) > 1:
        raise ValueError("var: give one of correction=, ddof= and unbiased=")
    c = float(given[0]) if given else 1.0
    d = sub(x, mean(x, axis, keepdims=True))
    total = sum(mul(d, d), axis, keepdims)
    count = _count(x, axis)
    if not shapes.is_static(count):     # 1 / 0 is inf once the count is known
        return mul(total, 1 / sp.Max(0, count - sp.nsimplify(c)))
    denominator = builtins.max(0.0, count - c)
    # no degrees of freedom left: total / 0, which is nan for 0 and inf above it, as torch
    return mul(total, 1.0 / denominator if denominator else float("inf"))


def std(x: Operand, axis: Axes = None, unbiased: Optional[bool] = None,
        keepdims: bool = False, *, correction: Optional[float] = None,
        dim: Axes = None, keepdim: Optional[bool] = None,
        ddof: Optional[float] = None) -> Tensor:
    """Standard deviation over ``axis``: the square root of ``var`` (same arguments)."""
    return _root(var(x, axis, unbiased, keepdims, correction=correction, dim=dim,
                     keepdim=keepdim, ddof=ddof), 2.0)


def _root(s: Tensor, p: float) -> Tensor:
    """s ** (1 / p), whose gradient is 0 where s is 0 (torch's for norm and std) rather
    than inf times 0: the root reads 1 there, and the outer where takes 0 instead."""
    zero = eq(s, 0)
    inner = where(zero, 1, s)
    return where(zero, 0, sqrt(inner) if p == 2 else pow(inner, 1.0 / p))


def norm(x: Operand, p: Union[float, str] = 2, dim: Axes = None, keepdim: bool = False, *,
         axis: Axes = None, keepdims: Optional[bool] = None) -> Tensor:
    """The vector p-norm over ``dim`` (None: all elements), as ``torch.norm``.

    ``p`` is 2 or ``'fro'`` (sqrt of the sum of squares), 1, ``inf`` and ``-inf`` (the
    largest and smallest magnitude; the gradient is split among ties), 0 (the count of
    non-zero elements, without gradient) or any other positive number.
    """
    x = as_tensor(x)
    axis = dim if dim is not None else axis
    keepdim = keepdims if keepdims is not None else keepdim
    if p == "fro" or p == 2:
        return _root(sum(mul(x, x), axis, keepdim), 2.0)
    if isinstance(p, str):
        raise ValueError(f"norm: p must be a number or 'fro', got {p!r}")
    if p == 1:
        return sum(abs(x), axis, keepdim)
    if p == float("inf"):
        return amax(abs(x), axis, keepdim)
    if p == float("-inf"):
        return amin(abs(x), axis, keepdim)
    if p == 0:
        return sum(astype(ne(x, 0), x.dtype), axis, keepdim)
    if p < 0:
        raise ValueError(f"norm: p must be positive, inf, -inf or 'fro', got {p}")
    return _root(sum(pow(abs(x), float(p)), axis, keepdim), float(p))


def _truth(x: Operand) -> Tensor:
    """``x`` as bools: a bool tensor itself, a number's being non-zero."""
    x = as_tensor(x)
    return x if x.dtype == BOOL else ne(x, 0)


def any(x: Operand, axis: Axes = None, keepdims: bool = False, *,  # noqa: A001
        dim: Axes = None, keepdim: Optional[bool] = None) -> Tensor:
    """True where some element over ``axis`` is true (non-zero); a bool tensor."""
    axis, keepdims = _args(axis, keepdims, dim, keepdim)
    return _reduction("max", _truth(x), axis, keepdims, None, None, differentiable=False)


def all(x: Operand, axis: Axes = None, keepdims: bool = False, *,  # noqa: A001
        dim: Axes = None, keepdim: Optional[bool] = None) -> Tensor:
    """True where every element over ``axis`` is true (non-zero); a bool tensor."""
    axis, keepdims = _args(axis, keepdims, dim, keepdim)
    return _reduction("min", _truth(x), axis, keepdims, None, None, differentiable=False)

# }}}


def allreduce(t: Operand, op: str = "sum") -> Tensor:
    """``t`` combined across all MPI ranks (``"sum"`` or ``"mean"``); in one process, ``t``.

    Its gradient is the allreduce of the cotangent. A compiled function reads the value
    to the host at this point, combines it with ``comm.Allreduce`` (several tensors reduced
    at the same point travel in one message) and continues on the device.
    """
    if op not in ("sum", "mean"):
        raise ValueError(f"allreduce: op must be 'sum' or 'mean', got {op!r}")
    t = as_tensor(t)
    return Tensor(Op.ALLREDUCE, (t,), t.shape, t.dtype, op)


# {{{ definitions

def _vjp_reduce(node: Tensor, g: Tensor) -> list:
    kind, axes, differentiable = node.arg
    (x,) = node.src
    kept = tuple(1 if i in axes else d for i, d in enumerate(x.shape))
    spread = broadcast_to(reshape(g, kept), x.shape)
    if kind == "sum":
        return [spread]
    if not differentiable:
        return [None]
    if kind == "prod":
        return [mul(spread, _prod_partial(node, x, axes))]
    if differentiable == "ties":      # amax: split evenly among the maximal elements
        ties = astype(eq(x, broadcast_to(reshape(node, kept), x.shape)), x.dtype)
        return [div(mul(spread, ties), sum(ties, axes, keepdims=True))]
    return [mul(spread, maxmask(x, axes))]


def _prod_partial(node: Tensor, x: Tensor, axes: tuple) -> Tensor:
    """d prod / d x, right with zeros (torch's rule): with no zero in the group it is the
    product over x; at a group's only zero, the product of the others; else 0."""
    zero = eq(x, 0)
    zeros = sum(astype(zero, x.dtype), axes, keepdims=True)
    nonzero = where(zero, 1, x)
    others = prod(nonzero, axes, keepdims=True)
    only = logical_and(zero, eq(zeros, 1))
    return where(eq(zeros, 0), div(others, nonzero), where(only, others, 0))


def _impl_reduce(node: Tensor, x: np.ndarray) -> np.ndarray:
    kind, axes, _ = node.arg
    reducer = {"sum": np.sum, "max": np.max, "min": np.min, "prod": np.prod}[kind]
    return reducer(x, axis=axes, keepdims=node.ndim == x.ndim)


def _impl_maxmask(node: Tensor, x: np.ndarray) -> np.ndarray:
    axes = node.arg
    rest = [a for a in range(x.ndim) if a not in axes]
    moved = np.transpose(x, rest + list(axes))
    flat = moved.reshape(moved.shape[:len(rest)] + (-1,))
    first = np.argmax(flat, axis=-1)
    onehot = np.zeros_like(flat)
    np.put_along_axis(onehot, first[..., None], 1, axis=-1)
    return np.transpose(onehot.reshape(moved.shape), np.argsort(rest + list(axes)))


def _impl_allreduce(node: Tensor, x: np.ndarray) -> np.ndarray:
    out = np.array(x, copy=True, order="C")   # combined in place through a flat view
    distributed.allreduce_arrays([out], node.arg)
    return out


define(Op.REDUCE, Category.REDUCE, vjp=_vjp_reduce, impl=_impl_reduce,
       label=lambda node, inner: f"{node.arg[0]}({inner[0]}, axis={node.arg[1]})")
define(Op.MAXMASK, Category.INDEX, vjp=lambda node, g: [None], impl=_impl_maxmask,
       rebuild=lambda node, src: maxmask(src[0], node.arg))
define(Op.ALLREDUCE, Category.HOST, vjp=lambda node, g: [allreduce(g, node.arg)],
       impl=_impl_allreduce)

# }}}
