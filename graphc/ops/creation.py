"""Creation functions, as torch's: arange, linspace, zeros, ones, full, eye, the ``_like``
forms, and tril and triu.

None of them uploads an array proportional to its size. zeros, ones and full are uniform
constants: one number, inlined into the formulas that read them. arange, linspace, eye
and the masks of tril and triu are built on an index leaf, ``iota(n)`` (0, 1, ..., n - 1,
``Op.IOTA``), whose value a kernel computes from the element it reads, through whatever
view reads it: a causal mask ``arange(T)[:, None] >= arange(T)[None, :]`` is two index
expressions and a comparison inside the kernel that uses it, with no buffer.
"""
from __future__ import annotations

import math
from typing import Any, Iterable, Optional, Union

import numpy as np
import sympy as sp

from .. import graph, shapes
from ..dtypes import as_dtype, scalar_dtype
from ..errors import ShapeError
from ..graph import Op, Tensor, check_shape
from .elementwise import Operand, add, as_tensor, astype, eq, ge, le, lt, mul, sub, where
from .registry import Category, define
from .views import broadcast_to, reshape

Number = Union[int, float, bool]


def iota(n: int, dtype: Any = "int64") -> Tensor:
    """0, 1, ..., n - 1 of ``dtype``: an index leaf, computed wherever it is read."""
    n = shapes.as_size(n, "iota") if isinstance(n, sp.Basic) else check_shape((n,), "iota")[0]
    return Tensor(Op.IOTA, (), (n,), as_dtype(dtype, "iota"))


define(Op.IOTA, Category.LEAF, impl=lambda node: np.arange(node.shape[0]).astype(node.dtype),
       label=lambda node, inner: f"iota({node.shape[0]})")


def _is_int(value: object) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))


def arange(start: Number, end: Optional[Number] = None, step: Number = 1,
           dtype: Any = None) -> Tensor:
    """start, start + step, ... below ``end`` (above it for a negative step), as
    ``torch.arange``: ``arange(n)`` is 0 ... n - 1; int64 when every argument is an int,
    else float32; computed in the kernels that read it, never uploaded."""
    if end is None:
        start, end = 0, start
    for what, v in (("start", start), ("end", end), ("step", step)):
        if isinstance(v, Tensor) or not isinstance(v, (int, float, np.number, sp.Basic)):
            raise TypeError(f"arange: {what} must be a number, got {type(v).__name__}")
    if step == 0:
        raise ValueError("arange: step must be non-zero")
    if any(isinstance(v, sp.Basic) for v in (start, end, step)):
        # a None size (x.size(0)): arange(n) of each call's n
        if not (_is_int(start) and step == 1 and shapes.symbols(end)):
            raise TypeError("arange: a size known only at call time may only be the end, "
                            "with an int start and step 1 (arange(x.size(0)))")
        count = shapes.as_size(end - start, "arange")
    else:
        count = max(math.ceil((end - start) / step), 0)     # empty, as numpy's
    integral = all(_is_int(v) or isinstance(v, sp.Basic) for v in (start, end, step))
    dtype = as_dtype(dtype if dtype is not None else
                     np.int64 if integral else np.float32, "arange")
    if integral and dtype.kind in "iu":
        return _affine(iota(count, dtype), start, step)
    compute = dtype if dtype.kind == "f" else np.dtype(np.float32)
    return astype(_affine(iota(count, compute), start, step), dtype)


def _affine(i: Tensor, start: Number, step: Number) -> Tensor:
    """start + step * i (nothing where start is 0 or step 1)."""
    out = i if step == 1 else mul(i, step)
    return out if start == 0 else add(out, start)


def linspace(start: Number, end: Number, steps: int, dtype: Any = None) -> Tensor:
    """``steps`` values from ``start`` to ``end`` evenly spaced, as ``torch.linspace``
    (float32 by default): the first half counts up from start, the second down from end,
    so both ends are exact."""
    if not _is_int(steps) or steps < 0:
        raise ValueError(f"linspace: steps must be a non-negative int, got {steps!r}")
    dtype = as_dtype(dtype if dtype is not None else np.float32, "linspace")
    if steps == 0:
        return full((0,), 0, dtype)
    compute = dtype if dtype.kind == "f" else np.dtype(np.float32)
    if steps == 1:
        return full((1,), start, dtype)
    step = (end - start) / (steps - 1)
    i = iota(steps, compute)
    values = where(lt(i, steps // 2), add(mul(i, step), start),
                   sub(end, mul(sub(steps - 1, i), step)))
    return astype(values, dtype)


def _shape(shape: Iterable, what: str) -> tuple:
    if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
        shape = tuple(shape[0])          # zeros((2, 3)) as well as zeros(2, 3)
    return check_shape(shape, what)


def full(shape: Iterable[int], fill_value: Number, dtype: Any = None) -> Tensor:
    """A tensor of ``shape`` holding ``fill_value`` everywhere: a uniform constant (one
    number, inlined where it is read). The dtype, as torch's, follows ``fill_value``:
    bool, int64 for an int, float32 for a float."""
    shape = check_shape(shape if not isinstance(shape, (int, np.integer)) else (shape,),
                        "full")
    if dtype is None:
        dtype = np.int64 if _is_int(fill_value) else scalar_dtype(fill_value, None)
    dtype = as_dtype(dtype, "full")
    return graph.constant(np.broadcast_to(np.asarray(fill_value, dtype), shape), dtype)


def zeros(*shape: Any, dtype: Any = "float32") -> Tensor:
    """A tensor of zeros (``zeros(2, 3)`` or ``zeros((2, 3))``), float32 by default."""
    return full(_shape(shape, "zeros"), 0, dtype)


def ones(*shape: Any, dtype: Any = "float32") -> Tensor:
    """A tensor of ones (``ones(2, 3)`` or ``ones((2, 3))``), float32 by default."""
    return full(_shape(shape, "ones"), 1, dtype)


def full_like(t: Operand, fill_value: Number, dtype: Any = None) -> Tensor:
    """``full`` of ``t``'s shape, of ``t``'s dtype unless ``dtype`` says otherwise."""
    t = as_tensor(t)
    return full(t.shape, fill_value, dtype if dtype is not None else t.dtype)


def zeros_like(t: Operand, dtype: Any = None) -> Tensor:
    return full_like(t, 0, dtype)


def ones_like(t: Operand, dtype: Any = None) -> Tensor:
    return full_like(t, 1, dtype)


def _rows_and_columns(shape: tuple) -> tuple:
    """The row and the column index of every element of ``shape`` (last two axes), as
    index leaves broadcast to it: computed where they are read."""
    n, m = shape[-2:]
    rows = broadcast_to(reshape(iota(n, "int32"), (n, 1)), shape)
    columns = broadcast_to(reshape(iota(m, "int32"), (1, m)), shape)
    return rows, columns


def eye(n: int, m: Optional[int] = None, dtype: Any = "float32") -> Tensor:
    """The n x m identity (m = n by default): 1 where row == column."""
    m = n if m is None else m
    rows, columns = _rows_and_columns(check_shape((n, m), "eye"))
    return astype(eq(rows, columns), as_dtype(dtype, "eye"))


def _triangle(name: str, x: Operand, diagonal: int, lower: bool) -> Tensor:
    x = as_tensor(x)
    if x.ndim < 2:
        raise ShapeError(f"{name}: the input must have at least 2 dimensions (matrices "
                         f"in its last two), got shape {x.shape}")
    if not _is_int(diagonal):
        raise TypeError(f"{name}: diagonal must be an int, got {type(diagonal).__name__}")
    rows, columns = _rows_and_columns(x.shape)
    shifted = add(rows, int(diagonal))
    keep = ge(shifted, columns) if lower else le(shifted, columns)
    zero = graph.constant(np.zeros((), x.dtype), x.dtype)
    return where(keep, x, zero)


def tril(x: Operand, diagonal: int = 0) -> Tensor:
    """The lower triangle of the matrices in the last two axes of ``x`` (column - row <=
    ``diagonal``), zeros elsewhere, as ``torch.tril``; its gradient is the same mask."""
    return _triangle("tril", x, diagonal, True)


def triu(x: Operand, diagonal: int = 0) -> Tensor:
    """The upper triangle (column - row >= ``diagonal``), zeros elsewhere, as
    ``torch.triu``."""
    return _triangle("triu", x, diagonal, False)


__all__ = ["arange", "linspace", "zeros", "ones", "full", "eye", "zeros_like", "ones_like",
           "full_like", "tril", "triu"]
