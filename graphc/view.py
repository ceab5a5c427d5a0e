"""Strided views with masks: how a kernel reads a buffer as another shape, in place.

A ``View`` maps a multi-index of its ``shape`` to one element of a buffer: element
``offset + sum(idx * strides)``. Strides may be 0 (broadcast) or negative (flipped).
``valid`` masks it: where an axis has a pair ``(lo, hi)``, only indices ``lo <= idx <
hi`` read the buffer; the others read ``fill`` (a pad). Every view op composes into one
View, so a chain of reshapes, transposes, slices and pads costs one indexed load. Nothing
here knows graph nodes or OpenCL.
"""
from __future__ import annotations

import dataclasses
import math
from typing import Optional, Sequence

Range = Optional[tuple]      # (lo, hi) of valid indices along an axis, or None: all


@dataclasses.dataclass(frozen=True)
class View:
    """Element ``idx`` of a view is element ``offset + sum(idx * strides)`` of its buffer
    where ``valid`` allows it, else ``fill``."""

    shape: tuple
    strides: tuple
    offset: int = 0
    valid: Optional[tuple] = None     # per axis: None or (lo, hi); None: no mask at all
    fill: float = 0.0

    @staticmethod
    def contiguous(shape: Sequence[int]) -> "View":
        return View(tuple(shape), contiguous_strides(shape))

    @property
    def masked(self) -> bool:
        return self.valid is not None

    @property
    def is_contiguous(self) -> bool:
        return not self.masked and self.offset == 0 and all(
            s == c or d == 1 for d, s, c in
            zip(self.shape, self.strides, contiguous_strides(self.shape)))

    def with_mask(self, valid: Sequence[Range], fill: float) -> "View":
        """This view with ``valid`` (ranges clipped to the shape; full ones dropped)."""
        ranges = []
        for d, r in zip(self.shape, valid):
            if r is not None:
                lo, hi = max(0, r[0]), min(d, r[1])
                r = None if (lo, hi) == (0, d) else (lo, max(lo, hi))
            ranges.append(r)
        if all(r is None for r in ranges):
            return View(self.shape, self.strides, self.offset)
        return View(self.shape, self.strides, self.offset, tuple(ranges), fill)

    # {{{ composition: each returns the view of the op's result, or None if impossible

    def permute(self, perm: Sequence[int]) -> "View":
        valid = None if self.valid is None else tuple(self.valid[p] for p in perm)
        return View(tuple(self.shape[p] for p in perm), tuple(self.strides[p] for p in perm),
                    self.offset, valid, self.fill)

    def broadcast(self, shape: Sequence[int]) -> "View":
        """Stretch size-1 axes (same number of axes) to ``shape``."""
        strides = tuple(0 if d != n else s for d, n, s in zip(self.shape, shape, self.strides))
        if self.valid is None:
            return View(tuple(shape), strides, self.offset)
        valid = []
        for d, n, r in zip(self.shape, shape, self.valid):
            if d != n and r is not None:      # every index reads source index 0
                r = None if r[0] <= 0 < r[1] else (0, 0)
            valid.append(r)
        return View(tuple(shape), strides, self.offset).with_mask(valid, self.fill)

    def shrink(self, slices: Sequence[tuple]) -> "View":
        """``slices``: per axis ``(start, step, count)``; index j reads start + j*step."""
        offset = self.offset + sum(start * s for (start, _, _), s in zip(slices, self.strides))
        strides = tuple(step * s for (_, step, _), s in zip(slices, self.strides))
        shape = tuple(count for _, _, count in slices)
        out = View(shape, strides, offset)
        if self.valid is None:
            return out
        return out.with_mask([None if r is None else _sliced_range(r, *sl)
                              for r, sl in zip(self.valid, slices)], self.fill)

    def pad(self, widths: Sequence[tuple], fill: float) -> Optional["View"]:
        """``widths``: per axis ``(before, after)``, both >= 0; new elements read ``fill``."""
        if self.valid is not None and fill != self.fill and not _same(fill, self.fill):
            return None                      # two fill values: no single mask says it
        shape = tuple(d + b + a for d, (b, a) in zip(self.shape, widths))
        offset = self.offset - sum(b * s for (b, _), s in zip(widths, self.strides))
        old = self.valid or (None,) * len(self.shape)
        valid = [(b + (r[0] if r else 0), b + (r[1] if r else d))
                 for d, (b, _), r in zip(self.shape, widths, old)]
        return View(shape, self.strides, offset).with_mask(valid, fill)

    def windows(self, spec: Sequence[Optional[tuple]]) -> Optional["View"]:
        """Sliding windows: each axis with a ``(K, step, dilation, O)`` becomes two axes
        ``(K, O)`` reading element ``o * step + k * dilation``. None where the axis is
        masked: a mask of the sum of two indices is not a range of each."""
        shape, strides, valid = [], [], []
        for axis, (d, s, w) in enumerate(zip(self.shape, self.strides, spec)):
            r = None if self.valid is None else self.valid[axis]
            if w is None:
                shape.append(d)
                strides.append(s)
                valid.append(r)
                continue
            if r is not None:
                return None
            k, step, dilation, o = w
            shape += [k, o]
            strides += [dilation * s, step * s]
            valid += [None, None]
        out = View(tuple(shape), tuple(strides), self.offset)
        return out if self.valid is None else out.with_mask(valid, self.fill)

    def reshape(self, shape: Sequence[int]) -> Optional["View"]:
        """The same elements in row-major order as ``shape``; None if strides cannot
        say it (the source is then copied into a buffer of its own first)."""
        shape = tuple(shape)
        if self.valid is None:
            strides = _reshape_strides(self.shape, self.strides, shape)
            return None if strides is None else View(shape, strides, self.offset)
        # a mask survives a reshape that only adds or drops size-1 axes
        kept = [i for i, d in enumerate(self.shape) if d != 1]
        if [self.shape[i] for i in kept] != [d for d in shape if d != 1]:
            return None
        if any(self.valid[i] is not None for i, d in enumerate(self.shape) if d == 1):
            return None
        strides, valid, k = [], [], 0
        for d in shape:
            if d == 1:
                strides.append(0)
                valid.append(None)
            else:
                strides.append(self.strides[kept[k]])
                valid.append(self.valid[kept[k]])
                k += 1
        return View(shape, tuple(strides), self.offset).with_mask(valid, self.fill)

    # }}}


def _same(a: float, b: float) -> bool:
    return math.isnan(a) and math.isnan(b)


def _sliced_range(r: tuple, start: int, step: int, count: int) -> tuple:
    """The indices j < count with lo <= start + j*step < hi, as a range (lo', hi')."""
    lo, hi = r
    if step > 0:
        first, end = -((start - lo) // step), -((start - hi) // step)
    else:
        s = -step
        first, end = (start - hi) // s + 1, (start - lo) // s + 1
    first, end = max(0, first), min(count, end)
    return (first, max(first, end))


def contiguous_strides(shape: Sequence[int]) -> tuple:
    strides, step = [], 1
    for d in reversed(tuple(shape)):
        strides.append(step)
        step *= d
    return tuple(reversed(strides))


def _reshape_strides(old_shape: tuple, old_strides: tuple, shape: tuple) -> Optional[tuple]:
    """Strides that read (old_shape, old_strides) as ``shape`` in row-major order."""
    old = [(d, s) for d, s in zip(old_shape, old_strides) if d != 1]
    new = [i for i, d in enumerate(shape) if d != 1]
    strides = [0] * len(shape)
    o = n = 0
    while o < len(old) or n < len(new):
        # take the smallest run of old and new axes with equal element counts
        o_end, n_end = o + 1, n + 1
        o_size, n_size = old[o][0], shape[new[n]]
        while o_size != n_size:
            if o_size < n_size:
                o_size *= old[o_end][0]
                o_end += 1
            else:
                n_size *= shape[new[n_end]]
                n_end += 1
        for k in range(o, o_end - 1):   # the run must be contiguous in memory
            if old[k][1] != old[k + 1][1] * old[k + 1][0]:
                return None
        step = old[o_end - 1][1]
        for k in reversed(range(n, n_end)):
            strides[new[k]] = step
            step *= shape[new[k]]
        o, n = o_end, n_end
    return tuple(strides)
