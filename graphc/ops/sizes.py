"""The size op: a number known only at call time (``1 / x.shape[0]`` in a mean), 0-d.

A ``SIZE`` node holds a sympy expression of ``shapes.Dim`` symbols. It exists only in
graphs over placeholders with ``None`` dimensions: ``graphc.specialize`` turns it into a
constant once a call gives the sizes, before anything is rewritten, lowered or
evaluated.
"""
from __future__ import annotations

from typing import Any

import numpy as np
import sympy as sp

from .. import graph, shapes
from ..dtypes import BOOL
from ..errors import ShapeError
from ..graph import Op, Tensor
from .registry import Category, define


def size_scalar(expr: Any, dtype: Any = np.float32) -> Tensor:
    """``expr`` (a sympy expression of symbolic sizes, or a number) as a 0-d tensor."""
    dtype = np.dtype(dtype)
    if dtype == BOOL:
        dtype = np.dtype(np.float32)    # a number meets a mask: the number's float
    expr = sp.sympify(expr)
    if shapes.is_static(expr):
        return graph.constant(np.asarray(shapes.number(expr), dtype=dtype), dtype)
    return Tensor(Op.SIZE, (), (), dtype, expr)


def _impl(node: Tensor) -> np.ndarray:
    raise ShapeError(f"the size {node.arg} is known only at call time; specialize the graph "
                     "first (graphc.specialize)")


define(Op.SIZE, Category.LEAF, impl=_impl, label=lambda node, inner: f"{node.arg}")
