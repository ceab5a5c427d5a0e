"""Joins and splits: cat, stack, split, chunk, tile, repeat, repeat_interleave, roll,
expand, movedim, unflatten; torch's names, argument orders and edge cases.

None of them is an op of its own: each is built from the views of ``views`` (and the
add that sums zero-padded pieces), so consumers read them in place and their gradients
are those of the views they are made of.

- ``cat`` zero-pads each piece to the whole and sums them (``concatenate_by_padding``):
  a consumer reads one masked load per piece. ``stack`` is ``cat`` of unsqueezed pieces,
  ``roll`` a ``cat`` of two slices.
- ``split`` and ``chunk`` are slices (``shrink``).
- ``tile``, ``repeat`` and ``repeat_interleave`` broadcast a new axis and merge it with
  an old one by a reshape. Strides cannot say that merge unless the old axis has size 1,
  so the scheduler then copies the broadcast into a buffer of its own first.
- ``expand`` is ``broadcast_to``, ``movedim`` a ``permute``, ``unflatten`` a ``reshape``.
"""
from __future__ import annotations

import builtins
import math
from typing import Any, Optional, Sequence, Union

import numpy as np

from .. import shapes
from ..dtypes import promote
from ..errors import ShapeError
from ..graph import Tensor
from .elementwise import Operand, as_tensor, astype
from .views import (broadcast_to, concatenate_by_padding, flatten, normalize_axis, permute,
                    reshape, shrink, unsqueeze)

IntOrInts = Union[int, Sequence[int]]


def _is_int(value: Any) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool)


def _ints(value: Any, op: str, what: str) -> tuple:
    """``value`` (an int or a sequence of ints) as a tuple of ints; a TypeError else."""
    items = tuple(value) if isinstance(value, (tuple, list)) else (value,)
    if not all(_is_int(v) for v in items):
        raise TypeError(f"{op}: {what} must be an int or a sequence of ints, got {value!r}")
    return tuple(int(v) for v in items)


def _varargs(args: tuple, op: str, what: str) -> tuple:
    """torch's ``f(2, 3)`` or ``f((2, 3))`` as the tuple ``(2, 3)``."""
    if len(args) == 1 and isinstance(args[0], (tuple, list)):
        args = tuple(args[0])
    return _ints(args, op, what)


def _along(x: Tensor, axis: int, start: int, count: int) -> Tensor:
    """Elements ``start`` to ``start + count`` of ``x`` along ``axis``: a slice."""
    slices = [(0, 1, d) for d in x.shape]
    slices[axis] = (start, 1, count)
    return shrink(x, slices)


# {{{ cat, stack

def _tensors(tensors: Any, op: str) -> list:
    if isinstance(tensors, (Tensor, np.ndarray)) or not isinstance(tensors, (list, tuple)):
        raise TypeError(f"{op}: expects a list or tuple of tensors, got "
                        f"{type(tensors).__name__}")
    if not tensors:
        raise ShapeError(f"{op}: expects a non-empty list of tensors")
    items = [as_tensor(t, what=op) for t in tensors]
    dtype = promote([t.dtype for t in items], op)
    return [astype(t, dtype) for t in items]


def cat(tensors: Sequence[Operand], dim: Optional[int] = None, *,
        axis: Optional[int] = None) -> Tensor:
    """Join ``tensors`` along an existing axis, as ``torch.cat`` and ``numpy.concatenate``.

    Parameters
    ----------
    tensors : sequence of Tensor
        At least one tensor; all have the same number of dimensions (at least one) and
        the same sizes except along ``dim``. Dtypes promote as in elementwise ops: bool
        with a float takes the float; float32 with float64 is a ``DTypeError``.
    dim, axis : int, optional
        The axis to join along (torch's and numpy's names; negative counts from the
        end). Default 0.

    Returns
    -------
    Tensor
        A view: each piece zero-padded to the whole and the pieces summed, which the
        consumer reads in place (one masked load per piece). An element that is -0.0
        comes out as +0.0.
    """
    op = "cat"
    if dim is not None and axis is not None and dim != axis:
        raise TypeError(f"{op}: give dim or axis, not both ({dim} and {axis})")
    which = dim if dim is not None else (axis if axis is not None else 0)
    items = _tensors(tensors, op)
    first = items[0]
    for i, t in enumerate(items):
        if t.ndim == 0:
            raise ShapeError(f"{op}: tensor {i} is zero-dimensional and cannot be "
                             "concatenated; unsqueeze it or use stack")
        if t.ndim != first.ndim:
            raise ShapeError(f"{op}: tensors must have the same number of dimensions, got "
                             f"shapes {first.shape} (tensor 0) and {t.shape} (tensor {i})")
    d = normalize_axis(which, first, op)
    for i, t in enumerate(items):
        if not shapes.same(t.shape[:d] + t.shape[d + 1:],
                           first.shape[:d] + first.shape[d + 1:]):
            raise ShapeError(f"{op}: sizes must match except along dim {which}, got shapes "
                             f"{first.shape} (tensor 0) and {t.shape} (tensor {i})")
    if len(items) == 1:
        return first
    return concatenate_by_padding(items, d)


concatenate = cat


def stack(tensors: Sequence[Operand], dim: int = 0) -> Tensor:
    """Join ``tensors`` of one shape along a new axis ``dim``, as ``torch.stack``.

    Parameters
    ----------
    tensors : sequence of Tensor
        At least one tensor, all of the same shape (dtypes promote as in ``cat``).
    dim : int
        Where the new axis goes, in ``-(ndim + 1) <= dim <= ndim``.

    Returns
    -------
    Tensor
        ``cat`` of the tensors unsqueezed at ``dim``: a view.
    """
    op = "stack"
    items = _tensors(tensors, op)
    for i, t in enumerate(items):
        if not shapes.same(t.shape, items[0].shape):
            raise ShapeError(f"{op}: expects tensors of one shape, got {items[0].shape} "
                             f"(tensor 0) and {t.shape} (tensor {i})")
    d = normalize_axis(dim, items[0].ndim + 1, op)
    return cat([unsqueeze(t, d) for t in items], d)

# }}}


# {{{ split, chunk

def split(x: Operand, split_size_or_sections: IntOrInts, dim: int = 0) -> tuple:
    """``x`` cut along ``dim`` into slices, as ``torch.split``.

    Parameters
    ----------
    x : Tensor
    split_size_or_sections : int or sequence of int
        An int: pieces of that size, the last one smaller where it does not divide.
        A sequence: the size of each piece; they must sum to ``x.shape[dim]``.
    dim : int
        The axis to cut (negative counts from the end).

    Returns
    -------
    tuple of Tensor
        Slices of ``x``, each a view read in place.
    """
    op = "split"
    x = as_tensor(x)
    if x.ndim == 0:
        raise ShapeError(f"{op}: cannot split a zero-dimensional tensor")
    d = normalize_axis(dim, x, op)
    n = x.shape[d]
    if not shapes.is_static(n):
        raise ShapeError(f"{op}: dim {dim} of shape {x.shape} has a size known only at call "
                         "time (a None dimension), and the pieces depend on it; slice it "
                         "instead (x[:k], x[k:])")
    if _is_int(split_size_or_sections):
        size = int(split_size_or_sections)
        if size <= 0:
            raise ShapeError(f"{op}: split size must be positive, got {size} (shape "
                             f"{x.shape}, dim {dim})")
        sizes = [builtins.min(size, n - at) for at in range(0, n, size)]
    else:
        sizes = list(_ints(split_size_or_sections, op, "split_size_or_sections"))
        if builtins.sum(sizes) != n or any(s <= 0 for s in sizes):
            raise ShapeError(f"{op}: sections {sizes} must be positive and sum to the size "
                             f"{n} of dim {dim} of shape {x.shape}")
    pieces, at = [], 0
    for s in sizes:
        pieces.append(_along(x, d, at, s))
        at += s
    return tuple(pieces)


def chunk(x: Operand, chunks: int, dim: int = 0) -> tuple:
    """``x`` cut along ``dim`` into at most ``chunks`` slices, as ``torch.chunk``.

    Each piece has ``ceil(size / chunks)`` elements along ``dim``, the last fewer; so
    there may be fewer than ``chunks`` pieces (``chunk`` of 5 into 4 gives 2, 2, 1).

    Parameters
    ----------
    x : Tensor
    chunks : int
        The most pieces to make, at least 1.
    dim : int
        The axis to cut.

    Returns
    -------
    tuple of Tensor
        Slices of ``x``.
    """
    x = as_tensor(x)
    if not _is_int(chunks) or chunks <= 0:
        raise ShapeError(f"chunk: chunks must be a positive int, got {chunks!r} (shape "
                         f"{x.shape})")
    if x.ndim == 0:
        raise ShapeError("chunk: cannot chunk a zero-dimensional tensor")
    n = x.shape[normalize_axis(dim, x, "chunk")]
    return split(x, -(-n // int(chunks)) if shapes.is_static(n) else n, dim)

# }}}


# {{{ tile, repeat, repeat_interleave

def _tile(x: Tensor, reps: tuple, op: str) -> Tensor:
    if any(r <= 0 for r in reps):
        raise ShapeError(f"{op}: repetitions must be positive, got {reps} for shape "
                         f"{x.shape}; graphc tensors have no empty dimensions")
    shape = (1,) * (len(reps) - x.ndim) + x.shape
    reps = (1,) * (len(shape) - len(reps)) + reps
    x = reshape(x, shape)
    split_shape, wide = [], []
    for r, n in zip(reps, shape):
        if n == 1:                  # a size-1 axis is stretched in place: a broadcast
            split_shape.append(1)
            wide.append(r)
            continue
        if r != 1:
            split_shape.append(1)
            wide.append(r)
        split_shape.append(n)
        wide.append(n)
    stretched = broadcast_to(reshape(x, tuple(split_shape)), tuple(wide))
    return reshape(stretched, tuple(r * n for r, n in zip(reps, shape)))


def tile(x: Operand, *reps: Any) -> Tensor:
    """``x`` repeated ``reps[i]`` times along each axis, as ``torch.tile``/``numpy.tile``.

    Where ``reps`` is shorter than ``x.ndim`` it is padded with leading ones; where
    longer, ``x`` gains leading axes of size 1.

    Parameters
    ----------
    x : Tensor
    *reps : int or sequence of int
        ``tile(x, (2, 3))`` or ``x.tile(2, 3)``.

    Returns
    -------
    Tensor
        A broadcast of ``x`` over a new axis before each repeated one, reshaped to merge
        the pairs. An axis of size 1 is simply stretched (a view read in place); where a
        repeated axis is longer, strides cannot say the merge and the scheduler copies
        the broadcast into a buffer first (one kernel more).
    """
    x = as_tensor(x)
    return _tile(x, _varargs(reps, "tile", "reps"), "tile")


def repeat(x: Operand, *sizes: Any) -> Tensor:
    """torch's ``Tensor.repeat(*sizes)``: ``x`` repeated ``sizes[i]`` times along each
    axis; ``sizes`` has at least ``x.ndim`` entries (extra ones add leading axes).

    Parameters
    ----------
    x : Tensor
    *sizes : int or sequence of int

    Returns
    -------
    Tensor
        As ``tile`` (a copy is made where a repeated axis has size above 1).
    """
    x = as_tensor(x)
    sizes = _varargs(sizes, "repeat", "sizes")
    if len(sizes) < x.ndim:
        raise ShapeError(f"repeat: {len(sizes)} repeat sizes {sizes} for a tensor of shape "
                         f"{x.shape}; give at least one per dimension ({x.ndim})")
    return _tile(x, sizes, "repeat")


def repeat_interleave(x: Operand, repeats: int, dim: Optional[int] = None) -> Tensor:
    """Each element of ``x`` repeated ``repeats`` times in a row along ``dim``, as
    ``torch.repeat_interleave`` with an int ``repeats``.

    Parameters
    ----------
    x : Tensor
    repeats : int
        At least 1 (tensor-valued repeats are not supported).
    dim : int, optional
        The axis; None flattens ``x`` first (as torch) and repeats along it.

    Returns
    -------
    Tensor
        ``x`` unsqueezed after ``dim``, broadcast to ``repeats`` there and reshaped to
        merge the two axes. Strides cannot say that merge unless ``x.shape[dim]`` is 1,
        so the scheduler copies the broadcast into a buffer first.
    """
    op = "repeat_interleave"
    x = as_tensor(x)
    if not _is_int(repeats):
        raise TypeError(f"{op}: repeats must be an int (tensor repeats are not supported), "
                        f"got {type(repeats).__name__}")
    if repeats <= 0:
        raise ShapeError(f"{op}: repeats must be positive, got {repeats} (shape {x.shape})")
    if dim is None:
        x, d = flatten(x), 0
    elif x.ndim == 0:
        x, d = reshape(x, (1,)), normalize_axis(dim, 1, op)
    else:
        d = normalize_axis(dim, x, op)
    if repeats == 1:
        return x
    wide = x.shape[:d + 1] + (int(repeats),) + x.shape[d + 1:]
    out = x.shape[:d] + (x.shape[d] * int(repeats),) + x.shape[d + 1:]
    return reshape(broadcast_to(unsqueeze(x, d + 1), wide), out)

# }}}


# {{{ roll, expand, movedim, unflatten

def roll(x: Operand, shifts: IntOrInts, dims: Optional[IntOrInts] = None) -> Tensor:
    """``x`` rotated by ``shifts[i]`` places along ``dims[i]``, as ``torch.roll``:
    element ``j`` moves to ``(j + shift) % size``.

    Parameters
    ----------
    x : Tensor
    shifts : int or sequence of int
    dims : int or sequence of int, optional
        One per shift; None rolls the flattened tensor (one shift) and restores the shape.

    Returns
    -------
    Tensor
        Per rolled axis, the ``cat`` of two slices of ``x``: a view.
    """
    op = "roll"
    x = as_tensor(x)
    shifts = _ints(shifts, op, "shifts")
    if dims is None:
        if len(shifts) != 1:
            raise ShapeError(f"{op}: without dims, give one shift, got {shifts} (shape "
                             f"{x.shape})")
        return reshape(roll(flatten(x), shifts, 0), x.shape)
    dims = _ints(dims, op, "dims")
    if len(shifts) != len(dims):
        raise ShapeError(f"{op}: shifts {shifts} and dims {dims} must have the same length")
    if x.ndim == 0:
        raise ShapeError(f"{op}: a zero-dimensional tensor has no dims to roll along")
    for shift, dim in zip(shifts, dims):
        d = normalize_axis(dim, x, op)
        n = x.shape[d]
        s = shift % n
        if s:
            x = concatenate_by_padding([_along(x, d, n - s, s), _along(x, d, 0, n - s)], d)
    return x


def expand(x: Operand, *sizes: Any) -> Tensor:
    """torch's ``Tensor.expand(*sizes)``: size-1 axes stretched to ``sizes`` (no copy).

    ``-1`` keeps an axis's size; extra leading entries add axes (not -1 there).

    Parameters
    ----------
    x : Tensor
    *sizes : int or sequence of int

    Returns
    -------
    Tensor
        ``broadcast_to`` of ``x``: a view with stride 0 on the stretched axes.
    """
    op = "expand"
    x = as_tensor(x)
    sizes = _varargs(sizes, op, "sizes")
    lead = len(sizes) - x.ndim
    if lead < 0:
        raise ShapeError(f"{op}: {len(sizes)} sizes {sizes} for a tensor of shape "
                         f"{x.shape}; give at least one per dimension ({x.ndim})")
    target = []
    for i, s in enumerate(sizes):
        old = x.shape[i - lead] if i >= lead else None
        if s == -1 and old is not None:
            s = old
        if s <= 0:
            raise ShapeError(f"{op}: size {sizes[i]} at position {i} of {sizes} is not "
                             f"allowed for shape {x.shape}"
                             + (" (-1 only keeps an existing dimension)" if s == -1 else ""))
        if old is not None and old != 1 and s != old:
            raise ShapeError(f"{op}: cannot expand shape {x.shape} to {sizes}: dimension "
                             f"{i - lead} has size {old}, not 1")
        target.append(s)
    return broadcast_to(x, tuple(target))


def movedim(x: Operand, source: IntOrInts, destination: IntOrInts) -> Tensor:
    """Axes ``source`` moved to positions ``destination``, the others kept in order, as
    ``torch.movedim``/``numpy.moveaxis``.

    Parameters
    ----------
    x : Tensor
    source, destination : int or sequence of int
        Of the same length, without repeats; negative counts from the end.

    Returns
    -------
    Tensor
        A ``permute`` of ``x``.
    """
    op = "movedim"
    x = as_tensor(x)
    src = [normalize_axis(a, x, op) for a in _ints(source, op, "source")]
    dst = [normalize_axis(a, x, op) for a in _ints(destination, op, "destination")]
    if len(src) != len(dst):
        raise ShapeError(f"{op}: source {source} and destination {destination} must have "
                         "the same number of dims")
    if len(set(src)) != len(src) or len(set(dst)) != len(dst):
        raise ShapeError(f"{op}: repeated dim in source {source} or destination "
                         f"{destination} (shape {x.shape})")
    perm: list = [None] * x.ndim
    for s, d in zip(src, dst):
        perm[d] = s
    rest = iter(a for a in range(x.ndim) if a not in src)
    return permute(x, tuple(p if p is not None else next(rest) for p in perm))


moveaxis = movedim


def unflatten(x: Operand, dim: int, sizes: Sequence[int]) -> Tensor:
    """Axis ``dim`` of ``x`` split into axes of ``sizes``, as ``torch.unflatten``.

    Parameters
    ----------
    x : Tensor
    dim : int
    sizes : sequence of int
        Their product is ``x.shape[dim]``; one of them may be -1 (inferred).

    Returns
    -------
    Tensor
        A ``reshape`` of ``x``.
    """
    op = "unflatten"
    x = as_tensor(x)
    if not isinstance(sizes, (tuple, list)) or not sizes:
        raise TypeError(f"{op}: sizes must be a non-empty tuple or list, got {sizes!r}")
    sizes = _ints(sizes, op, "sizes")
    d = normalize_axis(dim, x, op)
    n = x.shape[d]
    if sizes.count(-1) > 1:
        raise ShapeError(f"{op}: at most one -1 in sizes, got {sizes}")
    known = math.prod(s for s in sizes if s != -1)
    if any(s == 0 or s < -1 for s in sizes) or (
            n % known if -1 in sizes else known != n):
        raise ShapeError(f"{op}: sizes {sizes} do not multiply to the size {n} of dim {dim} "
                         f"of shape {x.shape}")
    sizes = tuple(n // known if s == -1 else s for s in sizes)
    return reshape(x, x.shape[:d] + sizes + x.shape[d + 1:])

# }}}
