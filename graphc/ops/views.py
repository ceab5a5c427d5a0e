"""View ops: new ways to read a buffer, never computed. Each composes into one ``View``.

reshape, permute, broadcast, shrink (basic slicing, negative steps too), pad (a masked
view: slicing's gradient) and stop_gradient; ``conv`` adds windows. Consumers read them
in place, inside their own fused kernels (``schedule.resolve`` composes the chain;
``graphc.view`` has the rules). flip is a shrink with step -1; ``x[i]`` is a shrink and
a reshape. A slice's gradient with a step over 1 is ``conv.place``'s gather.
"""
from __future__ import annotations

import builtins
from typing import Any, Iterable, Optional, Sequence, Union

import numpy as np
import sympy as sp

from .. import graph, shapes
from ..errors import AxisError, ShapeError
from ..graph import Op, Tensor
from .elementwise import Operand, add, as_tensor, broadcast_shapes
from .registry import Category, define


def normalize_axis(axis: int, of: Union[int, Tensor], op: str) -> int:
    """``axis`` of a tensor (``of``: the tensor, or a rank) as a non-negative int; an
    ``AxisError`` naming the op, the tensor and its shape where it is out of range, a
    ``TypeError`` where it is not an int."""
    ndim = of.ndim if isinstance(of, Tensor) else int(of)
    if isinstance(axis, bool) or not isinstance(axis, (int, np.integer)):
        raise TypeError(f"{op}: an axis (dim) must be an int, got {axis!r} "
                        f"({type(axis).__name__})")
    if not -builtins.max(ndim, 1) <= axis < builtins.max(ndim, 1):
        if isinstance(of, Tensor):
            named = f" {of.name!r}" if of.name else ""
            what = f"tensor{named} of shape {tuple(of.shape)}"
        else:
            what = f"{ndim}-d tensor"
        low, high = -builtins.max(ndim, 1), builtins.max(ndim, 1) - 1
        raise AxisError(f"{op}: axis {axis} is out of range for a {what} (expected an "
                        f"axis in [{low}, {high}])")
    return int(axis) % builtins.max(ndim, 1)


def _shape_args(shape: tuple, op: str = "reshape") -> tuple:
    if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
        shape = tuple(shape[0])
    return tuple(shapes.as_size(d, op) for d in shape)


# {{{ reshape, permute, broadcast

def reshape(x: Tensor, *shape: Any) -> Tensor:
    """Same elements in row-major order, new shape; one dimension may be -1."""
    x = as_tensor(x)
    shape = _shape_args(shape)
    if shape.count(-1) > 1:
        raise ShapeError(f"reshape: at most one -1 in the new shape, got {shape}")
    if not (shapes.is_static(shape) and shapes.is_static(x.shape)):
        shape = _symbolic_reshape(x, shape)
    else:
        known = int(np.prod([d for d in shape if d != -1], dtype=np.int64))
        if -1 in shape:
            if known == 0 or x.numel() % known:
                raise ShapeError(f"reshape: cannot reshape {x.shape} into {shape}")
            shape = tuple(x.numel() // known if d == -1 else d for d in shape)
        if int(np.prod(shape, dtype=np.int64)) != x.numel() or any(d < 0 for d in shape):
            raise ShapeError(f"reshape: cannot reshape {x.shape} ({x.numel()} elements) "
                             f"into {shape}")
    if shape == x.shape:
        return x
    if x.op is Op.RESHAPE:
        return reshape(x.src[0], shape)
    if x.op is Op.CONST:
        if x.arg.uniform is not None:      # reshaping a broadcast scalar would copy it
            return graph.constant(np.broadcast_to(np.asarray(x.arg.uniform, x.dtype),
                                                  shape), x.dtype)
        return graph.constant(x.arg.array.reshape(shape), x.dtype)
    return Tensor(Op.RESHAPE, (x,), shape, x.dtype)


def _symbolic_reshape(x: Tensor, shape: tuple) -> tuple:
    """The new shape where sizes are symbolic: -1 is the element count over the other
    sizes, and both counts must be equal as expressions (the call checks that -1 comes out
    a whole number)."""
    count = sp.sympify(x.numel())
    if -1 in shape:
        rest = sp.Mul(*(d for d in shape if d != -1))
        inferred = sp.simplify(count / rest)
        if inferred.is_number and not inferred.is_Integer:
            raise ShapeError(f"reshape: cannot reshape {x.shape} into {shape}")
        shape = tuple(shapes.as_size(inferred, "reshape") if d == -1 else d for d in shape)
    if sp.simplify(sp.Mul(*shape) - count) != 0:
        raise ShapeError(f"reshape: cannot reshape {x.shape} ({count} elements) into "
                         f"{shape}: a None dimension's size is known only at call time, so "
                         "give it as -1 or as the tensor's own size (x.size(0))")
    if any(shapes.truth(d < 0) for d in shape):
        raise ShapeError(f"reshape: cannot reshape {x.shape} into {shape}")
    return shape


def permute(x: Tensor, *axes: Any) -> Tensor:
    """Reorder the axes of ``x``: output axis i is input axis ``axes[i]``."""
    x = as_tensor(x)
    if len(axes) == 1 and isinstance(axes[0], (tuple, list)):
        axes = tuple(axes[0])
    perm = tuple(normalize_axis(a, x, "permute") for a in axes)
    if sorted(perm) != list(range(x.ndim)):
        raise ShapeError(f"permute: {axes} is not a permutation of the {x.ndim} axes "
                         f"of shape {x.shape}")
    if perm == tuple(range(x.ndim)):
        return x
    if x.op is Op.PERMUTE:
        return permute(x.src[0], tuple(x.arg[p] for p in perm))
    if x.op is Op.CONST:
        return graph.constant(np.transpose(x.arg.array, perm), x.dtype)
    swap = tuple(range(x.ndim - 2)) + (x.ndim - 1, x.ndim - 2)
    if x.op is Op.MATMUL and perm == swap:
        # (a @ b).T is b.T @ a.T, computed in the layout it is read in: the gradient of
        # a weight kept as (out, in), nn.Linear's layout, is then a matmul whose epilogue
        # can write the weight's update
        from .contract import matmul, swap_last
        a, b = x.src
        return matmul(swap_last(b), swap_last(a))
    shape = tuple(x.shape[p] for p in perm)
    return Tensor(Op.PERMUTE, (x,), shape, x.dtype, perm)


def transpose(x: Tensor, *axes: Any) -> Tensor:
    """``transpose()`` reverses the axes; ``transpose(d0, d1)`` swaps two, as in torch;
    ``transpose((p0, p1, ...))`` permutes, as in numpy."""
    if not axes:
        return permute(x, tuple(reversed(range(x.ndim))))
    if len(axes) == 1 and isinstance(axes[0], (tuple, list)):
        return permute(x, tuple(axes[0]))
    if len(axes) == 2:
        d0, d1 = (normalize_axis(a, x, "transpose") for a in axes)
        perm = list(range(x.ndim))
        perm[d0], perm[d1] = perm[d1], perm[d0]
        return permute(x, tuple(perm))
    raise TypeError("transpose: call it with no axes, two axes to swap, or one tuple")


def t(x: Tensor) -> Tensor:
    """Transpose of a tensor of at most 2 dimensions, as torch's ``Tensor.t``."""
    if x.ndim > 2:
        raise ShapeError(f"t: expects a tensor of at most 2 dimensions, got shape {x.shape}; "
                         "use transpose(d0, d1) or permute")
    return transpose(x)


def broadcast_to(x: Operand, shape: Iterable[int]) -> Tensor:
    """``x`` stretched to ``shape`` by numpy's broadcasting rules (no copy is made)."""
    x = as_tensor(x)
    shape = tuple(shapes.as_size(d, "broadcast_to") for d in shape)
    if any(isinstance(d, int) and d < 0 for d in shape):
        raise ShapeError(f"broadcast_to: a size cannot be negative, got shape {shape} "
                         f"for a tensor of shape {x.shape}")
    if x.shape == shape:
        return x
    # where sizes are symbolic the target's stand for the source's (taken to be equal)
    pair = (x.shape, shape) if shapes.is_static(x.shape) else (shape, x.shape)
    if broadcast_shapes(*pair, op="broadcast_to") != shape:
        raise ShapeError(f"broadcast_to: cannot broadcast shape {x.shape} to {shape}")
    if x.op is Op.CONST and x.arg.uniform is not None and shapes.is_static(shape):
        return graph.constant(np.broadcast_to(np.asarray(x.arg.uniform, x.dtype), shape),
                              x.dtype)
    # an array constant stays its own size, read through the broadcast
    padded = reshape(x, (1,) * (len(shape) - x.ndim) + x.shape)
    if padded.shape == shape:
        return padded
    if padded.op is Op.BROADCAST:
        padded = padded.src[0]
    return Tensor(Op.BROADCAST, (padded,), shape, x.dtype)


def unbroadcast(g: Tensor, shape: tuple) -> Tensor:
    """Sum ``g`` over the axes that broadcasting added to an operand of ``shape``."""
    from .reduce import sum
    if g.shape == shape:
        return g
    lead = g.ndim - len(shape)
    axes = tuple(range(lead)) + tuple(
        lead + i for i, d in enumerate(shape) if d == 1 and g.shape[lead + i] != 1)
    if shapes.is_static(shape):
        return reshape(sum(g, axes), shape)
    # a symbolic size of ``shape`` that ``g`` has as another one: taken to be equal
    inner = tuple(g.shape[lead + i] if d != 1 else 1 for i, d in enumerate(shape))
    return broadcast_to(reshape(sum(g, axes), inner), shape)


def unsqueeze(x: Tensor, dim: int) -> Tensor:
    """``x`` with a new axis of size 1 at ``dim`` (negative counts from the end)."""
    x = as_tensor(x)
    axis = normalize_axis(dim, x.ndim + 1, "unsqueeze")
    return reshape(x, x.shape[:axis] + (1,) + x.shape[axis:])


def squeeze(x: Tensor, dim: Any = None) -> Tensor:
    """``x`` without its size-1 axes (or only ``dim``'s, where they have size 1)."""
    x = as_tensor(x)
    if dim is None:
        axes = {i for i, d in enumerate(x.shape) if d == 1}
    else:
        dims = dim if isinstance(dim, (tuple, list)) else (dim,)
        axes = {normalize_axis(d, x, "squeeze") for d in dims}
        axes = {a for a in axes if x.shape[a] == 1}     # torch leaves the others alone
    return reshape(x, tuple(d for i, d in enumerate(x.shape) if i not in axes))


def flatten(x: Tensor, start_dim: int = 0, end_dim: int = -1) -> Tensor:
    """Axes ``start_dim`` to ``end_dim`` (inclusive) merged into one, as torch's."""
    x = as_tensor(x)
    if x.ndim == 0:
        return reshape(x, (1,))
    a = normalize_axis(start_dim, x, "flatten")
    b = normalize_axis(end_dim, x, "flatten")
    if a > b:
        raise ShapeError(f"flatten: start_dim {start_dim} comes after end_dim {end_dim}")
    return reshape(x, x.shape[:a] + (-1,) + x.shape[b + 1:])

# }}}


# {{{ shrink: basic slicing

def shrink(x: Tensor, slices: Sequence[tuple]) -> Tensor:
    """The elements ``start + j * step`` (j < count) along each axis: ``slices`` holds
    one ``(start, step, count)`` per axis. A view; steps may be negative."""
    x = as_tensor(x)
    slices = tuple((shapes.as_size(a, "shrink"), int(s), shapes.as_size(c, "shrink"))
                   for a, s, c in slices)
    if len(slices) != x.ndim:
        raise ShapeError(f"shrink: {len(slices)} slices for a {x.ndim}-d tensor")
    for axis, ((start, step, count), n) in enumerate(zip(slices, x.shape)):
        if count == 0 and shapes.is_static(n):
            continue                  # an empty slice: the result is an empty constant
        last = start + step * (count - 1)
        fits = (count > 0, step != 0, 0 <= start, start < n, 0 <= last, last < n)
        if any(shapes.truth(f) is False for f in fits):   # undecided: the call checks
            raise ShapeError(f"shrink: slice (start {start}, step {step}, count {count}) "
                             f"does not fit axis {axis} of size {n} of shape {x.shape}")
    if all(s == (0, 1, n) for s, n in zip(slices, x.shape)):
        return x
    if x.op is Op.SHRINK:          # a slice of a slice is one slice
        inner = x.arg
        return shrink(x.src[0], [(a0 + a1 * s0, s0 * s1, c1) for (a0, s0, _), (a1, s1, c1)
                                 in zip(inner, slices)])
    if x.op is Op.CONST:
        return graph.constant(x.arg.array[_numpy_slices(slices)], x.dtype)
    shape = tuple(c for _, _, c in slices)
    return Tensor(Op.SHRINK, (x,), shape, x.dtype, slices)


def _numpy_slices(slices: Sequence[tuple]) -> tuple:
    out = []
    for start, step, count in slices:
        stop = start + step * (count - 1) + (1 if step > 0 else -1)
        out.append(slice(start, stop if stop >= 0 else None, step))
    return tuple(out)


def getitem(x: Tensor, key: Any) -> Tensor:
    """numpy's basic indexing: ints, slices (any step), ``None`` and ``...``."""
    items = list(key) if isinstance(key, tuple) else [key]
    for item in items:
        if not (item is None or item is Ellipsis or isinstance(item, slice) or (
                isinstance(item, (int, np.integer)) and not isinstance(item, bool))):
            raise TypeError(f"indexing a tensor of shape {x.shape}: {item!r} is not an "
                            "int, a slice, None, ... or an integer array")
    if sum(item is Ellipsis for item in items) > 1:
        raise IndexError("an index can only have a single ellipsis ('...')")
    used = sum(item is not None and item is not Ellipsis for item in items)
    if used > x.ndim:
        raise IndexError(f"too many indices for a tensor of shape {x.shape}: {used} given")
    if Ellipsis in items:
        at = items.index(Ellipsis)
        items[at:at + 1] = [slice(None)] * (x.ndim - used)
    else:
        items += [slice(None)] * (x.ndim - used)
    slices, shape, axis = [], [], 0
    for item in items:
        if item is None:
            shape.append(1)
            continue
        n = x.shape[axis]
        if isinstance(item, slice):
            start, step, count = _slice(item, n, axis, x.shape)
            if shapes.truth(count <= 0):      # empty, as numpy's
                start, step, count = 0, 1, 0
            slices.append((start, step, count))
            shape.append(count)
        else:
            if shapes.truth(-n <= item) is False or shapes.truth(item < n) is False:
                raise IndexError(f"index {item} is out of bounds for axis {axis} with size "
                                 f"{n} (shape {x.shape})")
            item = int(item)
            slices.append((item % n if shapes.is_static(n) else
                           item + n if item < 0 else item, 1, 1))
        axis += 1
    return reshape(shrink(x, slices), tuple(shape))


def _slice(item: slice, n: Any, axis: int, shape: tuple) -> tuple:
    """``(start, step, count)`` of ``item`` over an axis of size ``n``. Where ``n`` is
    symbolic, the bounds are taken to lie inside the axis (negative ones count from its
    end; the call checks that they fit), where numpy would clip them."""
    if shapes.is_static(n):
        start, stop, step = item.indices(n)
        return start, step, len(range(start, stop, step))
    step = 1 if item.step is None else int(item.step)
    if step == 0:
        raise ValueError("slice step cannot be zero")

    def bound(value: Any, default: Any) -> Any:
        if value is None:
            return default
        value = int(value)
        return value + n if value < 0 else value
    if step > 0:
        start, stop = bound(item.start, 0), bound(item.stop, n)
        count = sp.ceiling(sp.sympify(stop - start) / step)
    else:
        start, stop = bound(item.start, n - 1), bound(item.stop, -1)
        count = sp.ceiling(sp.sympify(start - stop) / -step)
    if shapes.truth(count <= 0):
        raise ShapeError(f"slice {item} of axis {axis} (size {n}) of shape {shape} is "
                         "empty; graphc tensors have no empty dimensions")
    return start, step, shapes.as_size(count, "slice")


def flip(x: Tensor, dims: Any = None, *, axis: Any = None) -> Tensor:
    """``x`` reversed along ``dims`` (torch) or ``axis`` (numpy; None: every axis)."""
    x = as_tensor(x)
    which = dims if dims is not None else axis
    if which is None:
        axes = set(range(x.ndim))
    else:
        which = which if isinstance(which, (tuple, list)) else (which,)
        axes = {normalize_axis(a, x, "flip") for a in which}
    return shrink(x, [(n - 1, -1, n) if i in axes else (0, 1, n)
                      for i, n in enumerate(x.shape)])


def _vjp_shrink(node: Tensor, g: Tensor) -> list:
    from .conv import place       # (conv builds on views) steps over 1: a gather
    return [place(g, node.arg, node.src[0].shape)]


def unshrink(g: Tensor, slices: Sequence[tuple], shape: tuple) -> Tensor:
    """``g`` put back where ``shrink(x, slices)`` took its elements from, in a tensor of
    ``x``'s ``shape``; zeros elsewhere. Steps of 1 or -1 only (a pad: a view);
    ``conv.place`` spreads larger steps out."""
    flips = [(c - 1, -1, c) if step < 0 else (0, 1, c) for (_, step, c) in slices]
    g = shrink(g, flips)
    widths = []
    for axis, ((start, step, count), n) in enumerate(zip(slices, shape)):
        if step < 0:
            start, step = start + step * (count - 1), -step
        span = step * (count - 1) + 1
        widths.append((start, n - start - span))
    return pad_constant(g, widths, 0.0)


# }}}


# {{{ pad: a masked view

def pad_constant(x: Tensor, widths: Sequence[tuple], value: float = 0.0) -> Tensor:
    """``x`` with ``widths[axis] = (before, after)`` elements of ``value`` around each
    axis (negative widths crop). A view: consumers read ``value`` outside ``x``."""
    x = as_tensor(x)
    widths = [(shapes.as_size(b, "pad"), shapes.as_size(a, "pad")) for b, a in widths]
    if len(widths) != x.ndim:
        raise ShapeError(f"pad: {len(widths)} pairs of widths for a {x.ndim}-d tensor")

    def cut(w: Any) -> Any:    # the part of a width that crops (symbolic widths do not)
        return w if shapes.truth(w < 0) else 0
    if any(cut(b) or cut(a) for b, a in widths):       # crop first, then pad the rest
        crop = []
        for axis, ((b, a), n) in enumerate(zip(widths, x.shape)):
            keep = n + cut(b) + cut(a)
            if shapes.truth(keep <= 0):
                raise ShapeError(f"pad: widths {widths[axis]} leave nothing of axis {axis} "
                                 f"(size {n}) of shape {x.shape}")
            crop.append((-cut(b), 1, keep))
        x = shrink(x, crop)
        widths = [(b - cut(b), a - cut(a)) for b, a in widths]
    value = float(value)
    if all(w == (0, 0) for w in widths):
        return x
    if x.op is Op.PAD and (x.arg[1] == value or (np.isnan(value) and np.isnan(x.arg[1]))):
        inner = x.arg[0]
        return pad_constant(x.src[0], [(b0 + b1, a0 + a1) for (b0, a0), (b1, a1)
                                       in zip(inner, widths)], value)
    shape = tuple(n + b + a for n, (b, a) in zip(x.shape, widths))
    return Tensor(Op.PAD, (x,), shape, x.dtype, (tuple(widths), value))


def pad(x: Tensor, pad: Sequence[int], mode: str = "constant",  # noqa: A002 (torch's name)
        value: Optional[float] = None) -> Tensor:
    """torch.nn.functional.pad: ``pad`` holds (before, after) pairs from the last axis
    backwards, ``(left, right, top, bottom, ...)``; ``mode`` is ``"constant"`` (with
    ``value``, default 0), ``"reflect"``, ``"replicate"`` or ``"circular"``. Negative
    widths crop (constant mode)."""
    x = as_tensor(x)
    pad = [int(p) for p in pad]
    if len(pad) % 2 or len(pad) // 2 > x.ndim:
        raise ShapeError(f"pad: {len(pad)} widths for a tensor of shape {x.shape}; give "
                         "an even number, two per axis from the last axis backwards")
    widths = [(0, 0)] * x.ndim
    for k in range(len(pad) // 2):
        widths[x.ndim - 1 - k] = (pad[2 * k], pad[2 * k + 1])
    if mode == "constant":
        return pad_constant(x, widths, 0.0 if value is None else value)
    if mode not in ("reflect", "replicate", "circular"):
        raise ValueError(f"pad: mode must be 'constant', 'reflect', 'replicate' or "
                         f"'circular', got {mode!r}")
    if value is not None and value != 0:
        raise ValueError(f"pad: value= applies to mode='constant' only, not {mode!r}")
    for axis, (b, a) in enumerate(widths):
        if b or a:
            x = _pad_from_edges(x, axis, b, a, mode)
    return x


def _pad_from_edges(x: Tensor, axis: int, before: int, after: int, mode: str) -> Tensor:
    """``x`` extended along ``axis`` by pieces of itself: the pieces, each padded with
    zeros to the full length, are added, which is their concatenation in one kernel."""
    n = x.shape[axis]
    if before < 0 or after < 0:
        raise ShapeError(f"pad: mode {mode!r} takes no negative widths")
    limit = n - 1 if mode == "reflect" else n
    if shapes.truth(max(before, after) > limit):
        raise ShapeError(f"pad: mode {mode!r} pads axis {axis} of size {n} by at most "
                         f"{limit}, got ({before}, {after})")

    def take(start: int, step: int, count: int) -> Tensor:
        slices = [(0, 1, d) for d in x.shape]
        slices[axis] = (start, step, count)
        return shrink(x, slices)

    def edge(index: int, count: int) -> Tensor:
        one = take(index, 1, 1)
        return broadcast_to(one, x.shape[:axis] + (count,) + x.shape[axis + 1:])

    pieces = []
    if before:
        pieces.append({"replicate": lambda: edge(0, before),
                       "reflect": lambda: take(before, -1, before),
                       "circular": lambda: take(n - before, 1, before)}[mode]())
    pieces.append(x)
    if after:
        pieces.append({"replicate": lambda: edge(n - 1, after),
                       "reflect": lambda: take(n - 2, -1, after),
                       "circular": lambda: take(0, 1, after)}[mode]())
    return concatenate_by_padding(pieces, axis)


def concatenate_by_padding(pieces: Sequence[Tensor], axis: int) -> Tensor:
    """``pieces`` joined along ``axis``: each zero-padded to the whole and summed. Every
    consumer reads it in place (a sum of masked loads), and its gradient is a slice per
    piece. An element that is -0.0 comes out as +0.0."""
    total = builtins.sum(p.shape[axis] for p in pieces)
    out, at = None, 0
    for p in pieces:
        widths = [(0, 0)] * p.ndim
        widths[axis] = (at, total - at - p.shape[axis])
        padded = pad_constant(p, widths, 0.0)
        out = padded if out is None else add(out, padded)
        at += p.shape[axis]
    return out

# }}}


def stop_gradient(x: Operand) -> Tensor:
    """``x``'s value, through which no gradient flows (``Tensor.detach``)."""
    x = as_tensor(x)
    if x.op in (Op.STOP_GRADIENT, Op.CONST):
        return x
    return Tensor(Op.STOP_GRADIENT, (x,), x.shape, x.dtype)


def _label_shrink(node: Tensor, inner: list) -> str:
    """``x[1:5, ::-1]``: each axis as the slice that takes the same elements."""
    parts = []
    for (start, step, count), n in zip(node.arg, node.src[0].shape):
        stop = start + step * count
        if (start, step, count) == (0, 1, n):
            parts.append(":")
            continue
        end = shapes.truth(stop < 0) or shapes.truth(stop >= n)
        stop_text = "" if end else str(stop)
        parts.append(f"{start}:{stop_text}" + (f":{step}" if step != 1 else ""))
    return f"{inner[0]}[{', '.join(parts)}]"


define(Op.RESHAPE, Category.VIEW,
       vjp=lambda node, g: [reshape(g, node.src[0].shape)],
       impl=lambda node, x: x.reshape(node.shape),
       label=lambda node, inner: inner[0],
       rebuild=lambda node, src: reshape(src[0], node.shape),
       view=lambda node, v: v.reshape(node.shape))
define(Op.PERMUTE, Category.VIEW,
       vjp=lambda node, g: [permute(g, tuple(int(i) for i in np.argsort(node.arg)))],
       impl=lambda node, x: np.transpose(x, node.arg),
       label=lambda node, inner: (f"{inner[0]}.T" if node.ndim == 2
                                  else f"permute({inner[0]}, {node.arg})"),
       rebuild=lambda node, src: permute(src[0], node.arg),
       view=lambda node, v: v.permute(node.arg))
define(Op.BROADCAST, Category.VIEW,
       vjp=lambda node, g: [unbroadcast(g, node.src[0].shape)],
       impl=lambda node, x: np.broadcast_to(x, node.shape),
       label=lambda node, inner: inner[0],
       rebuild=lambda node, src: broadcast_to(src[0], node.shape),
       view=lambda node, v: v.broadcast(node.shape))
define(Op.SHRINK, Category.VIEW, vjp=_vjp_shrink,
       impl=lambda node, x: x[_numpy_slices(node.arg)],
       label=_label_shrink,
       rebuild=lambda node, src: shrink(src[0], node.arg),
       view=lambda node, v: v.shrink(node.arg))
define(Op.PAD, Category.VIEW,
       vjp=lambda node, g: [shrink(g, [(b, 1, n) for (b, _), n in
                                       zip(node.arg[0], node.src[0].shape)])],
       impl=lambda node, x: np.pad(x, node.arg[0], constant_values=node.arg[1]),
       label=lambda node, inner: f"pad({inner[0]}, {list(node.arg[0])})",
       rebuild=lambda node, src: pad_constant(src[0], node.arg[0], node.arg[1]),
       view=lambda node, v: v.pad(node.arg[0], node.arg[1]))
define(Op.STOP_GRADIENT, Category.VIEW,
       vjp=lambda node, g: [None],
       impl=lambda node, x: x,
       label=lambda node, inner: f"stop_gradient({inner[0]})",
       rebuild=lambda node, src: stop_gradient(src[0]),
       view=lambda node, v: v)
