"""Sizes known only at call time: the ``None`` dimensions of placeholders.

``gc.placeholder((None, 64), name="x")`` gives its axis 0 a symbolic size, a ``Dim``: a
positive integer sympy symbol that prints as ``x.shape[0]``. Builders compute with it as
with an int, and sympy does the arithmetic: ``flatten`` makes ``64*x.shape[0]``, ``x[1:]``
makes ``x.shape[0] - 1``, ``mean`` divides by ``x.shape[0]``. A check that sympy cannot
decide (is ``x.shape[0] - 1`` positive?) is left to the call, where the sizes are numbers
(``graphc.specialize`` rebuilds the graph then, through the same builders). Two different
symbolic sizes that meet in a broadcast are taken to be equal, and the call checks that
they are; a symbolic size never broadcasts against a number other than 1.

Nothing here knows the graph: these are the rules for sizes that are ints or ``Dim``
expressions.
"""
from __future__ import annotations

from typing import Any, Iterable, Mapping, Optional

import numpy as np
import sympy as sp

from .errors import ShapeError


class Dim(sp.Dummy):
    """The size of axis ``axis`` of placeholder ``owner``, known only at call time.

    Every ``Dim`` is distinct (two placeholders named alike have distinct sizes); it is
    a positive integer for sympy, so ``d > 0`` holds and ``d - 1 > 0`` is undecided."""

    def __new__(cls, owner: str, axis: int = 0, dummy_index: Any = None,
                **assumptions: Any) -> "Dim":
        label = owner if axis is None else f"{owner}.shape[{axis}]"
        assumptions.update(integer=True, positive=True)
        return super().__new__(cls, label, dummy_index=dummy_index, **assumptions)

    def __getnewargs_ex__(self) -> tuple:
        return (self.name, None), {"dummy_index": self.dummy_index}

    def _sympystr(self, printer: Any) -> str:
        return self.name

    def __int__(self) -> int:
        raise TypeError(f"{self.name} is a None dimension: its size is known only when a "
                        "compiled function is called")

    __index__ = __int__


def is_static(value: Any) -> bool:
    """True when ``value`` (a size, a shape, an op argument) holds no symbolic size."""
    return not symbols(value)


def symbols(value: Any) -> set:
    """The ``Dim`` symbols in ``value``: a size, or tuples and lists of them."""
    if isinstance(value, Dim):
        return {value}
    if isinstance(value, sp.Basic):
        return {s for s in value.free_symbols if isinstance(s, Dim)}
    if isinstance(value, (tuple, list)):
        found: set = set()
        for v in value:
            found |= symbols(v)
        return found
    return set()


def numel(shape: Iterable[Any]) -> Any:
    """The product of ``shape``: an int, or a sympy expression of its symbolic sizes."""
    shape = tuple(shape)
    if is_static(shape):
        return int(np.prod(shape, dtype=np.int64))
    return sp.Mul(*shape)


def as_size(value: Any, what: str) -> Any:
    """A dimension given to a builder: an int, or a symbolic size (a sympy expression
    of ``Dim`` symbols, ``x.size(0)`` say). A ``ShapeError`` for anything else."""
    if isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_)):
        return int(value)
    if isinstance(value, sp.Basic):
        if value.is_Integer:
            return int(value)
        if symbols(value) and not value.free_symbols - symbols(value):
            return value
    if value is None:
        raise ShapeError(f"{what}: a None size needs a placeholder's shape to come from; "
                         "use -1 to infer it, or the tensor's own size (x.size(0))")
    raise ShapeError(f"{what}: a size must be an int, got {value!r}")


def truth(condition: Any) -> Optional[bool]:
    """``condition`` (a bool or a sympy relation) if it can be decided, else None."""
    if isinstance(condition, (bool, np.bool_)):
        return bool(condition)
    if condition in (sp.true, sp.false):
        return bool(condition)
    return None


def same(a: tuple, b: tuple) -> bool:
    """Can shapes ``a`` and ``b`` be one shape? Equal sizes, or two symbolic sizes (taken to
    be equal, as a broadcast takes them: the ops that combine the two check it again)."""
    return len(a) == len(b) and all(
        x == y or not (is_static(x) or is_static(y)) for x, y in zip(a, b))


def broadcast_size(sizes: list, op: str, shapes: tuple, axis: int) -> Any:
    """The broadcast of ``sizes`` (one axis of several shapes): 1s stretch, equal sizes
    agree, distinct symbolic sizes are taken to be equal (the first stands for them)."""
    kept = []
    for s in sizes:
        if not (isinstance(s, int) and s == 1) and all(s != k for k in kept):
            kept.append(s)
    if len(kept) > 1 and any(is_static(k) for k in kept):
        listed = " and ".join(str(s) for s in shapes)
        sizes_text = ", ".join(str(s) for s in kept)
        hint = ("; a None dimension broadcasts only with 1 or another None dimension"
                if not all(is_static(k) for k in kept) else "")
        raise ShapeError(f"{op}: shapes {listed} cannot be broadcast together "
                         f"(axis {axis} has sizes [{sizes_text}]){hint}")
    return kept[0] if kept else 1


def substitute(value: Any, sizes: Mapping[Dim, int]) -> Any:
    """``value`` with every symbolic size replaced by its number from ``sizes``: sympy
    integers become ints, other numbers floats; tuples and lists are walked."""
    if isinstance(value, tuple):
        return tuple(substitute(v, sizes) for v in value)
    if isinstance(value, list):
        return [substitute(v, sizes) for v in value]
    if isinstance(value, sp.Basic) and symbols(value):
        result = value.xreplace(_numbers(sizes))
        if symbols(result):
            raise ShapeError(f"{value} still holds unknown sizes {symbols(result)}")
        return number(result)
    return value


def _numbers(sizes: Mapping[Dim, int]) -> dict:
    return {d: sp.Integer(v) for d, v in sizes.items()}


def number(value: sp.Basic) -> Any:
    """A sympy number as an int (integers) or a float (others; 1/0 is inf)."""
    if value.is_Integer:
        return int(value)
    if value is sp.zoo or value is sp.oo:
        return float("inf")
    if value is -sp.oo:
        return float("-inf")
    if value is sp.nan:
        return float("nan")
    return float(value)


def concrete_shape(shape: tuple, sizes: Mapping[Dim, int], what: str) -> tuple:
    """``shape`` with its symbolic sizes replaced by numbers; each must be a positive
    integer (``x.shape[0] / 2`` is not one for an odd size)."""
    out = []
    for d in shape:
        if isinstance(d, int):
            out.append(d)
            continue
        missing = symbols(d) - set(sizes)
        if missing:
            raise ShapeError(f"{what}: size {d} is unknown; no shape was given for "
                             f"{', '.join(sorted(map(str, missing)))}")
        value = d.xreplace(_numbers(sizes))
        if not value.is_Integer or value <= 0:
            bound = ", ".join(f"{s} = {sizes[s]}" for s in sorted(symbols(d), key=str)
                              if s in sizes)
            raise ShapeError(f"{what}: size {d} is {value} for {bound}; sizes must be "
                             "positive integers")
        out.append(int(value))
    return tuple(out)


def public(shape: tuple) -> tuple:
    """``shape`` as it was asked for: each ``Dim`` as None (for messages)."""
    return tuple(None if isinstance(d, Dim) else d for d in shape)
