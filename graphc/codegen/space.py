"""Index spaces of kernel bodies: index variable names, flat and per-axis indices, and the
C offsets and validity conditions of loads through views."""
from __future__ import annotations

from typing import Callable

import numpy as np

from .. import kir
from ..dtypes import literal
from ..schedule import View


class _Space:
    """One index space of a kernel: its shape, index variable names and load table."""

    def __init__(self, shape: tuple, flat: str, index: Callable[[int], str]):
        self.shape, self.flat, self.index = shape, flat, index
        self.loads: dict = {}      # (buffer arg name, view) -> symbol

    def valid(self, view: View) -> str:
        """The C condition under which a masked view's element is read ("": always)."""
        bounds = getattr(view, "valid", None) or ()
        terms = []
        for d, pair in enumerate(bounds):
            if pair is not None:
                lo, hi = pair
                terms += [f"{self.index(d)} >= {lo}"] if lo > 0 else []
                terms += [f"{self.index(d)} < {hi}"] if hi < view.shape[d] else []
        return " && ".join(terms)

    def offset(self, view: View) -> str:
        if view.shape == self.shape and view.is_contiguous and not self.valid(view):
            return self.flat
        terms = [f"{self.index(d)} * {s}" if s != 1 else self.index(d)
                 for d, s in enumerate(view.strides) if s and view.shape[d] != 1]
        if view.offset:
            terms.insert(0, str(view.offset))
        return " + ".join(terms) or "0"


def _index_text(v: kir.Value, space: _Space, lanes: int) -> str:
    """An ``index`` value: the flat index or one axis's, per lane with ``lanes`` > 1
    (lanes are neighbours along the innermost axis)."""
    axis = v.arg
    text = space.flat if axis is None else space.index(axis)
    if lanes == 1:
        return text
    if axis is None or axis == len(space.shape) - 1:
        steps = ", ".join(map(str, range(lanes)))
        return f"((int{lanes})({text}) + (int{lanes})({steps}))"
    return f"((int{lanes})({text}))"


def unravel(shape: tuple, flat: str, name: Callable[[int], str], dims: list) -> list:
    """C declarations of the multi-index over ``dims`` of ``shape`` from ``flat``."""
    sizes = [shape[d] for d in dims]
    lines = []
    for k, d in enumerate(dims):
        inner = int(np.prod(sizes[k + 1:], dtype=np.int64))
        text = flat if inner == 1 else f"{flat} / {inner}"
        if k > 0:
            text = f"({text}) % {sizes[k]}"
        lines.append(f"const int {name(d)} = {text};")
    return lines


def strided_read(buffer: str, view: View, coords: list, dtype: np.dtype) -> str:
    """The C text reading ``buffer`` through ``view`` at the multi-index whose components
    print as ``coords`` (a gather's): the view's fill outside its valid region."""
    coords = [c if c.isidentifier() else f"({c})" for c in coords]
    terms = [f"{c} * {s}" if s != 1 else c
             for c, s, n in zip(coords, view.strides, view.shape) if s and n != 1]
    if view.offset:
        terms.insert(0, str(view.offset))
    text = f"{buffer}[{' + '.join(terms) or '0'}]"
    checks = []
    for c, pair, n in zip(coords, view.valid or (), view.shape):
        if pair is not None:
            checks += [f"{c} >= {pair[0]}"] if pair[0] > 0 else []
            checks += [f"{c} < {pair[1]}"] if pair[1] < n else []
    if checks:
        return f"(({' && '.join(checks)}) ? {text} : {literal(view.fill, dtype)})"
    return text
