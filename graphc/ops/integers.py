"""Bitwise operations and shifts: ``& | ^ ~ << >>`` on integer tensors, logical on bools.

As torch's ``bitwise_*``: bool operands give the logical operation (a bool tensor);
integer and bool operands mixed give the bitwise one in the promoted integer dtype (True
is 1); a float operand is a ``DTypeError``. Shifts are numpy's for every count: a
negative count, or one of the bit width or more, gives 0 (-1 for a negative number shifted
right). None has a gradient.
"""
from __future__ import annotations

from typing import Callable

import sympy as sp

from ..dtypes import BOOL, is_float
from ..errors import DTypeError
from ..graph import Tensor
from ..symbolic import BitAnd, BitNot, BitOr, BitXor, LeftShift, RightShift
from .elementwise import (Operand, a0, a1, apply, as_tensor, logical_and, logical_not,
                          logical_or, logical_xor)


def _operands(name: str, *operands: Operand) -> list:
    like = next((o for o in operands if isinstance(o, Tensor)), None)
    tensors = [as_tensor(o, like, name) for o in operands]
    for t in tensors:
        if is_float(t.dtype):
            raise DTypeError(f"{name}: & | ^ ~ << >> take bool or integer tensors, got "
                             f"{t.dtype}; compare first (x > 0) or convert with .bool() or "
                             ".int()")
    return tensors


def _bitwise(name: str, expr: sp.Expr, logical: Callable) -> Callable:
    def fn(x: Operand, y: Operand) -> Tensor:
        a, b = _operands(name, x, y)
        if a.dtype == BOOL and b.dtype == BOOL:
            return logical(a, b)
        return apply(name, expr, a, b)
    fn.__name__ = fn.__qualname__ = name
    fn.__doc__ = (f"Elementwise {name} of integer tensors (broadcast); of bool tensors the "
                  f"{logical.__name__}.")
    return fn


bitwise_and = _bitwise("bitwise_and", BitAnd(a0, a1), logical_and)
bitwise_or = _bitwise("bitwise_or", BitOr(a0, a1), logical_or)
bitwise_xor = _bitwise("bitwise_xor", BitXor(a0, a1), logical_xor)


def bitwise_not(x: Operand) -> Tensor:
    """~x: every bit flipped (-x - 1 for signed integers); of a bool tensor, logical not."""
    (t,) = _operands("bitwise_not", x)
    if t.dtype == BOOL:
        return logical_not(t)
    return apply("bitwise_not", BitNot(a0), t)


def _shift(name: str, expr: sp.Expr) -> Callable:
    def fn(x: Operand, y: Operand) -> Tensor:
        a, b = _operands(name, x, y)
        if a.dtype == BOOL and b.dtype == BOOL:
            a = a.long()                   # as torch: True << True is 2 (int64)
        return apply(name, expr, a, b)
    fn.__name__ = fn.__qualname__ = name
    fn.__doc__ = (f"Elementwise {name} (broadcast, the promoted integer dtype), numpy's "
                  "result for every count.")
    return fn


bitwise_left_shift = _shift("bitwise_left_shift", LeftShift(a0, a1))
bitwise_right_shift = _shift("bitwise_right_shift", RightShift(a0, a1))
left_shift, right_shift = bitwise_left_shift, bitwise_right_shift      # numpy's names
invert = bitwise_not

__all__ = ["bitwise_and", "bitwise_or", "bitwise_xor", "bitwise_not", "bitwise_left_shift",
           "bitwise_right_shift", "left_shift", "right_shift", "invert"]
