"""Convolutions and pooling: torch's conv1d, conv2d, conv_transpose1d/2d, max_pool,
avg_pool and adaptive_avg_pool, in NC(H)W layouts, with torch's arguments.

None of them is an op of its own. A convolution reads its input through ``windows``, a
view with one pair of axes (tap ``k``, output position ``o``) per spatial axis, reading
``o * stride + k * dilation``: no index arithmetic of its own, and the view's gradient
(``fold``) is each tap's slice put back. The windows, ordered (channels and taps, batch
and positions), are copied once into a column buffer ("im2col"), and one batched matmul
``weight (C_out, C_in * taps) @ columns`` over (batch, group) makes the output in NCHW
order, so that bias, activation and residual adds run in the matmul's epilogue. Its
gradients are matmuls too: the input's is ``weight.T @ g`` folded back, the weight's a
contraction of ``g`` with the columns over batch and positions.

A pool is an elementwise function of its window's taps: each tap a strided slice of the
padded input, so it reads the input in place in one kernel. ``max_pool`` keeps the
first maximum of each window (NaN wins, as in torch), so its gradient goes there; the
average pools divide by constants the size of the output's plane.
"""
from __future__ import annotations

import itertools
import math
from typing import Any, Optional, Sequence, Union

import numpy as np

from .. import graph
from ..dtypes import FLOATS
from ..errors import DTypeError, ShapeError
from ..graph import Op, Tensor
from .contract import matmul, swap_last
from .creation import iota
from .elementwise import add, as_tensor, isnan, logical_and, logical_not, logical_or, where
from .gathers import gather_node
from .registry import Category, define
from .views import (broadcast_to, pad_constant, permute, reshape, shrink,
                    unshrink, unsqueeze)

__all__ = ["conv1d", "conv2d", "conv3d", "conv_transpose1d", "conv_transpose2d",
           "max_pool1d", "max_pool2d", "avg_pool1d", "avg_pool2d", "adaptive_avg_pool1d",
           "adaptive_avg_pool2d"]

Ints = Union[int, Sequence[int]]


# {{{ arguments

def _ints(value: Ints, nd: int, op: str, what: str, least: int = 1) -> tuple:
    """``value`` as ``nd`` ints, each at least ``least``: torch's int-or-tuple."""
    items = (value,) * nd if isinstance(value, (int, np.integer)) else tuple(value)
    if len(items) != nd or not all(isinstance(v, (int, np.integer)) and not isinstance(
            v, bool) for v in items):
        raise ValueError(f"{op}: {what} must be an int or {nd} ints, got {value!r}")
    if any(v < least for v in items):
        raise ValueError(f"{op}: {what} must be at least {least}, got {value!r}")
    return tuple(int(v) for v in items)


def _batched(x: Any, nd: int, op: str) -> tuple:
    """(x with a batch axis, whether the caller gave none): torch accepts (C, *S)."""
    x = as_tensor(x)
    if x.dtype not in FLOATS:
        raise DTypeError(f"{op}: input has dtype {x.dtype}; convolutions and pools take "
                         "float32 or float64 (convert with .float())")
    if x.ndim == nd + 1:
        return unsqueeze(x, 0), True
    if x.ndim != nd + 2:
        layout = "(N, C, " + ", ".join("HW"[-nd:] if nd <= 2 else "DHW") + ")"
        raise ShapeError(f"{op}: input of shape {x.shape} is not {layout} or unbatched "
                         f"(without N); it needs {nd + 2} or {nd + 1} dimensions")
    for axis, n in enumerate(x.shape[1:], 1):
        if not isinstance(n, (int, np.integer)):
            raise ShapeError(f"{op}: axis {axis} of the input has size {n}; only the batch "
                             "axis may be None")
    return x, False


def _out_size(n: int, k: int, stride: int, dilation: int, lo: int, hi: int, op: str,
              axis: int, ceil: bool = False) -> int:
    span = n + lo + hi - dilation * (k - 1) - 1
    if span < 0:
        raise ShapeError(f"{op}: spatial axis {axis} has {n} elements (padded: "
                         f"{n + lo + hi}), fewer than the kernel's extent "
                         f"{dilation * (k - 1) + 1}; pad the input or use a smaller kernel")
    out = (-(-span // stride) if ceil else span // stride) + 1
    if ceil and (out - 1) * stride >= n + lo:     # torch: the last window starts inside
        out -= 1
    return out

# }}}


# {{{ windows: the view a convolution reads

def windows(x: Tensor, spec: Sequence[Optional[tuple]]) -> Tensor:
    """Sliding windows along some axes of ``x``, in place: ``spec`` holds per axis None
    (kept) or ``(K, step, dilation, O)``, and such an axis becomes two, ``(K, O)``, with
    element ``[k, o]`` the source's ``o * step + k * dilation``. Windows overlap, so this
    view reads elements more than once; its gradient sums what each element was read as
    (``fold``). A masked source (a pad) is copied into a buffer first: a pad's mask along
    a windowed axis is no range of ``k`` and ``o``."""
    x = as_tensor(x)
    spec = tuple(None if w is None else tuple(int(v) for v in w) for w in spec)
    if len(spec) != x.ndim:
        raise ShapeError(f"windows: {len(spec)} entries for a {x.ndim}-d tensor")
    shape = []
    for axis, (n, w) in enumerate(zip(x.shape, spec)):
        if w is None:
            shape.append(n)
            continue
        k, step, dilation, o = w
        if min(k, step, dilation, o) < 1 or (o - 1) * step + (k - 1) * dilation >= n:
            raise ShapeError(f"windows: {o} windows of {k} elements (step {step}, "
                             f"dilation {dilation}) do not fit in axis {axis} of size {n}")
        shape += [k, o]
    return Tensor(Op.WINDOWS, (x,), tuple(shape), x.dtype, spec)


def fold(g: Tensor, spec: Sequence[Optional[tuple]], shape: tuple) -> Tensor:
    """The transpose of ``windows``: each element of ``g`` (windows of a tensor of
    ``shape``) added to the element it was read from, one term per tap."""
    windowed = [a for a, w in enumerate(spec) if w is not None]
    total = None
    for taps in itertools.product(*(range(spec[a][0]) for a in windowed)):
        at, kept, slices = dict(zip(windowed, taps)), [], []
        for a, n in enumerate(shape):
            if a in at:            # tap k of the (K, O) pair
                k, step, dilation, o = spec[a]
                kept += [(at[a], 1, 1), (0, 1, o)]
                slices.append((at[a] * dilation, step, o))
            else:
                kept.append((0, 1, g.shape[len(kept)]))
                slices.append((0, 1, n))
        piece = reshape(shrink(g, kept), tuple(c for _, _, c in slices))
        term = place(piece, slices, tuple(shape))
        total = term if total is None else add(total, term)
    return total


def place(g: Tensor, slices: Sequence[tuple], shape: tuple) -> Tensor:
    """``g`` put where ``shrink(x, slices)`` read it, zeros elsewhere: a slice's
    gradient. Steps over 1 are read as a gather at ``(i - start) / step`` where that
    divides, computed where it is read, so no buffer holds the spread-out copy."""
    if all(abs(step) == 1 for _, step, _ in slices):
        return unshrink(g, slices, shape)
    coords, indices, keep, unit = [], [], None, []
    for axis, ((start, step, count), n) in enumerate(zip(slices, shape)):
        if abs(step) == 1:
            coords.append(("axis", axis))
            unit.append((start, step, count))
            continue
        unit.append((0, 1, count))    # along this axis the gather spreads g out
        at = reshape(iota(n, "int32"), tuple(n if a == axis else 1
                                              for a in range(len(shape))))
        i, s = (at - start, step) if step > 0 else (start - at, -step)
        inside = logical_and(logical_and(i % s == 0, i >= 0), i < s * count)
        coords.append(("index", len(indices)))
        indices.append(i // s)
        keep = inside if keep is None else logical_and(keep, inside)
    # the unit-step axes first, as views (the gather then reads them in place)
    g = unshrink(g, unit, tuple(n if abs(s) == 1 else c for (_, s, c), n in
                                zip(slices, shape)))
    spread = gather_node(g, coords, indices, shape, "fold", spread=tuple(
        (0, 1, n) if abs(step) == 1 else (start, step, count)
        for (start, step, count), n in zip(slices, shape)))
    return where(keep, spread, 0.0)


def _windows_numpy(x: np.ndarray, spec: tuple) -> np.ndarray:
    out, axis = x, 0
    for w in spec:
        if w is None:
            axis += 1
            continue
        k, step, dilation, o = w
        index = np.arange(k)[:, None] * dilation + np.arange(o)[None, :] * step
        out = np.take(out, index, axis=axis)
        axis += 2
    return out


define(Op.WINDOWS, Category.VIEW,
       vjp=lambda node, g: [fold(g, node.arg, node.src[0].shape)],
       impl=lambda node, x: _windows_numpy(x, node.arg),
       label=lambda node, inner: f"windows({inner[0]}, {list(node.arg)})",
       rebuild=lambda node, src: windows(src[0], node.arg),
       view=lambda node, v: v.windows(node.arg))

# }}}


# {{{ convolutions

def _padding(padding: Any, nd: int, kernel: tuple, stride: tuple, dilation: tuple,
             op: str) -> tuple:
    """Per spatial axis (before, after): torch's int, ints, ``"valid"`` or ``"same"``
    (stride 1 only; an odd total puts the extra element after, as torch does)."""
    if isinstance(padding, str):
        if padding == "valid":
            return ((0, 0),) * nd
        if padding != "same":
            raise ValueError(f"{op}: padding {padding!r} is not 'valid', 'same' or ints")
        if any(s != 1 for s in stride):
            raise ValueError(f"{op}: padding='same' needs stride 1 (got {stride}), as in "
                             "torch; give the padding as ints")
        total = [d * (k - 1) for k, d in zip(kernel, dilation)]
        return tuple((t // 2, t - t // 2) for t in total)
    return tuple((p, p) for p in _ints(padding, nd, op, "padding", least=0))


def _operands(x: Any, weight: Any, groups: Any, nd: int, op: str, layout: str) -> tuple:
    """(input with a batch axis, weight, whether the input had none), checked: the
    weight's rank (``layout``: its leading axes) and dtype, and ``groups``."""
    x, unbatched = _batched(x, nd, op)
    weight = as_tensor(weight, x, op)
    if weight.ndim != nd + 2:
        raise ShapeError(f"{op}: weight of shape {weight.shape} is not {layout}, "
                         f"{', '.join(['k'] * nd)}); it needs {nd + 2} dimensions")
    if weight.dtype != x.dtype:
        raise DTypeError(f"{op}: input is {x.dtype} and weight {weight.dtype}; give both "
                         "the same dtype")
    if not isinstance(groups, (int, np.integer)) or isinstance(groups, bool) or groups < 1:
        raise ValueError(f"{op}: groups must be a positive int, got {groups!r}")
    return x, weight, unbatched


def _conv(x: Any, weight: Any, bias: Any, stride: Ints, padding: Any, dilation: Ints,
          groups: int, nd: int, op: str) -> Tensor:
    x, weight, unbatched = _operands(x, weight, groups, nd, op, "(C_out, C_in / groups")
    n, c = x.shape[:2]
    c_out, c_group = weight.shape[:2]
    kernel = tuple(weight.shape[2:])
    if c % groups or c_out % groups or c_group * groups != c:
        raise ShapeError(f"{op}: input has {c} channels and weight {weight.shape} expects "
                         f"{c_group} per group x {groups} groups (and C_out {c_out} must be "
                         "a multiple of groups)")
    stride = _ints(stride, nd, op, "stride")
    dilation = _ints(dilation, nd, op, "dilation")
    pads = _padding(padding, nd, kernel, stride, dilation, op)
    out = tuple(_out_size(s, k, st, d, lo, hi, op, a + 2) for a, (s, k, st, d, (lo, hi))
                in enumerate(zip(x.shape[2:], kernel, stride, dilation, pads)))
    x = pad_constant(x, ((0, 0), (0, 0)) + pads, 0.0)
    spec = (None, None) + tuple(zip(kernel, stride, dilation, out))
    win = windows(x, spec)                                  # (N, C, K1, O1, K2, O2, ...)
    taps, positions = math.prod(kernel), math.prod(out)
    # the columns: (C, taps, N, positions) in one buffer, read as (N, G, C/G * taps, L)
    cols = permute(win, (1,) + tuple(range(2, 2 + 2 * nd, 2)) + (0,)
                   + tuple(range(3, 3 + 2 * nd, 2)))
    cols = reshape(cols, (groups, c_group * taps, n, positions))
    cols = permute(cols, (2, 0, 1, 3))
    w = reshape(weight, (1, groups, c_out // groups, c_group * taps))
    y = matmul(w, cols)                                     # (N, G, C_out / G, L)
    y = reshape(y, (n, c_out) + out)
    if bias is not None:
        y = add(y, reshape(_bias(bias, c_out, y, op), (1, c_out) + (1,) * nd))
    return reshape(y, y.shape[1:]) if unbatched else y


def _bias(bias: Any, c_out: int, like: Tensor, op: str) -> Tensor:
    bias = as_tensor(bias, like, op)
    if bias.shape != (c_out,):
        raise ShapeError(f"{op}: bias of shape {bias.shape} should be ({c_out},), one per "
                         "output channel")
    return bias


def conv1d(input: Any, weight: Any, bias: Any = None, stride: Ints = 1,  # noqa: A002
           padding: Any = 0, dilation: Ints = 1, groups: int = 1) -> Tensor:
    """torch.nn.functional.conv1d: input (N, C_in, L) or (C_in, L), weight (C_out,
    C_in / groups, k)."""
    return _conv(input, weight, bias, stride, padding, dilation, groups, 1, "conv1d")


def conv2d(input: Any, weight: Any, bias: Any = None, stride: Ints = 1,  # noqa: A002
           padding: Any = 0, dilation: Ints = 1, groups: int = 1) -> Tensor:
    """torch.nn.functional.conv2d: input (N, C_in, H, W) or (C_in, H, W), weight
    (C_out, C_in / groups, kH, kW); padding ints, ``"valid"`` or ``"same"``."""
    return _conv(input, weight, bias, stride, padding, dilation, groups, 2, "conv2d")


def conv3d(input: Any, weight: Any, bias: Any = None, stride: Ints = 1,  # noqa: A002
           padding: Any = 0, dilation: Ints = 1, groups: int = 1) -> Tensor:
    """torch.nn.functional.conv3d: input (N, C_in, D, H, W), weight (C_out, C_in /
    groups, kD, kH, kW)."""
    return _conv(input, weight, bias, stride, padding, dilation, groups, 3, "conv3d")


def _conv_transpose(x: Any, weight: Any, bias: Any, stride: Ints, padding: Ints,
                    output_padding: Ints, groups: int, dilation: Ints, nd: int,
                    op: str) -> Tensor:
    """The gradient of a convolution with respect to its input: ``weight.T @ x`` per
    position, each tap's column added where the convolution would have read it."""
    x, weight, unbatched = _operands(x, weight, groups, nd, op, "(C_in, C_out / groups")
    n, c = x.shape[:2]
    c_in, c_group = weight.shape[:2]
    kernel = tuple(weight.shape[2:])
    if c != c_in or c % groups:
        raise ShapeError(f"{op}: input has {c} channels, weight {weight.shape} expects "
                         f"{c_in} (a multiple of groups = {groups})")
    stride = _ints(stride, nd, op, "stride")
    dilation = _ints(dilation, nd, op, "dilation")
    padding = _ints(padding, nd, op, "padding", least=0)
    extra = _ints(output_padding, nd, op, "output_padding", least=0)
    if any(e >= s and e >= d for e, s, d in zip(extra, stride, dilation)):
        raise ValueError(f"{op}: output_padding {extra} must be smaller than either stride "
                         f"{stride} or dilation {dilation}, as in torch")
    size = x.shape[2:]
    full = tuple((s - 1) * st + d * (k - 1) + 1
                 for s, st, d, k in zip(size, stride, dilation, kernel))
    if any(f - 2 * p + e < 1 for f, p, e in zip(full, padding, extra)):
        raise ShapeError(f"{op}: padding {padding} leaves no output of input {x.shape}")
    c_out = c_group * groups
    taps, positions = math.prod(kernel), math.prod(size)
    w = reshape(weight, (1, groups, c // groups, c_group * taps))
    cols = matmul(swap_last(w), reshape(x, (n, groups, c // groups, positions)))
    # (N, C_out, K1, ..., S1, ...) -> the windows' layout (N, C_out, K1, S1, K2, S2, ...)
    cols = reshape(cols, (n, c_out) + kernel + size)
    order = (0, 1) + tuple(a for i in range(nd) for a in (2 + i, 2 + nd + i))
    spec = (None, None) + tuple(zip(kernel, stride, dilation, size))
    y = fold(permute(cols, order), spec, (n, c_out) + full)
    y = pad_constant(y, ((0, 0), (0, 0)) + tuple((-p, e - p) for p, e in
                                                 zip(padding, extra)), 0.0)
    if bias is not None:
        y = add(y, reshape(_bias(bias, c_out, y, op), (1, c_out) + (1,) * nd))
    return reshape(y, y.shape[1:]) if unbatched else y


def conv_transpose1d(input: Any, weight: Any, bias: Any = None,  # noqa: A002
                     stride: Ints = 1, padding: Ints = 0, output_padding: Ints = 0,
                     groups: int = 1, dilation: Ints = 1) -> Tensor:
    """torch.nn.functional.conv_transpose1d: weight (C_in, C_out / groups, k)."""
    return _conv_transpose(input, weight, bias, stride, padding, output_padding, groups,
                           dilation, 1, "conv_transpose1d")


def conv_transpose2d(input: Any, weight: Any, bias: Any = None,  # noqa: A002
                     stride: Ints = 1, padding: Ints = 0, output_padding: Ints = 0,
                     groups: int = 1, dilation: Ints = 1) -> Tensor:
    """torch.nn.functional.conv_transpose2d: input (N, C_in, H, W), weight (C_in,
    C_out / groups, kH, kW); output (H - 1) * stride - 2 * padding + dilation * (kH - 1)
    + output_padding + 1 high."""
    return _conv_transpose(input, weight, bias, stride, padding, output_padding, groups,
                           dilation, 2, "conv_transpose2d")

# }}}


# {{{ pooling

def _pool_geometry(x: Tensor, kernel_size: Ints, stride: Optional[Ints], padding: Ints,
                   dilation: Ints, ceil_mode: bool, nd: int, op: str) -> tuple:
    """(kernel, stride, dilation, per-axis (before, after) padding, output sizes). The
    padding after covers the last window ``ceil_mode`` adds."""
    kernel = _ints(kernel_size, nd, op, "kernel_size")
    empty = stride is None or (not isinstance(stride, int) and len(stride) == 0)
    stride = kernel if empty else _ints(stride, nd, op, "stride")   # torch's [] is None
    padding = _ints(padding, nd, op, "padding", least=0)
    dilation = _ints(dilation, nd, op, "dilation")
    if any(2 * p > d * (k - 1) + 1 for p, k, d in zip(padding, kernel, dilation)):
        raise ValueError(f"{op}: padding {padding} should be at most half of the kernel "
                         f"size {kernel}, as in torch")
    out = tuple(_out_size(n, k, s, d, p, p, op, a + 2, ceil=bool(ceil_mode))
                for a, (n, k, s, d, p) in enumerate(zip(x.shape[2:], kernel, stride,
                                                        dilation, padding)))
    pads = tuple((p, max(p, (o - 1) * s + d * (k - 1) + 1 - n - p))
                 for n, k, s, d, p, o in zip(x.shape[2:], kernel, stride, dilation, padding,
                                             out))
    return kernel, stride, dilation, pads, out


def _taps(x: Tensor, kernel: tuple, stride: tuple, dilation: tuple, out: tuple) -> list:
    """Each tap of the windows of (padded) ``x``, in row-major order of the taps: a
    strided slice, read in place. Each one's gradient is ``place``d back, and their sum
    is one kernel."""
    taps = []
    for at in itertools.product(*(range(k) for k in kernel)):
        taps.append(shrink(x, [(0, 1, x.shape[0]), (0, 1, x.shape[1])] + [
            (k * d, s, o) for k, s, d, o in zip(at, stride, dilation, out)]))
    return taps


def _max_pool(x: Any, kernel_size: Ints, stride: Optional[Ints], padding: Ints,
              dilation: Ints, ceil_mode: bool, return_indices: bool, nd: int,
              op: str) -> Any:
    x, unbatched = _batched(x, nd, op)
    kernel, stride, dilation, pads, out = _pool_geometry(
        x, kernel_size, stride, padding, dilation, ceil_mode, nd, op)
    padded = pad_constant(x, ((0, 0), (0, 0)) + pads, -np.inf)
    best, first = None, None
    for t, tap in enumerate(_taps(padded, kernel, stride, dilation, out)):
        if best is None:
            best = tap
            continue
        # the first maximum wins a tie; NaN wins over numbers, as in torch
        better = logical_or(tap > best, logical_and(isnan(tap), logical_not(isnan(best))))
        best = where(better, tap, best)
        if return_indices:
            first = where(better, t, 0 if first is None else first)
    if unbatched:
        best = reshape(best, best.shape[1:])
    if not return_indices:
        return best
    return best, _flat_indices(x, first, kernel, stride, dilation, pads, out, unbatched)


def _flat_indices(x: Tensor, tap: Any, kernel: tuple, stride: tuple, dilation: tuple,
                  pads: tuple, out: tuple, unbatched: bool) -> Tensor:
    """torch's indices of each maximum: the flat position within the input's plane."""
    nd = len(kernel)
    tap = tap if isinstance(tap, Tensor) else None
    flat = None
    step = 1
    for a in reversed(range(nd)):
        # tap t's coordinate along axis a, from its row-major position among the taps
        inner = math.prod(kernel[a + 1:])
        k = 0 if tap is None else (tap // inner) % kernel[a]
        view = [1] * (nd + 2)
        view[a + 2] = out[a]
        o = reshape(iota(out[a], "int64"), tuple(view))
        coord = o * stride[a] + k * dilation[a] - pads[a][0]
        term = coord * step
        flat = term if flat is None else add(flat, term)
        step *= x.shape[a + 2]
    flat = broadcast_to(flat.astype("int64"), x.shape[:2] + out)
    return reshape(flat, flat.shape[1:]) if unbatched else flat


def max_pool1d(input: Any, kernel_size: Ints, stride: Optional[Ints] = None,  # noqa: A002
               padding: Ints = 0, dilation: Ints = 1, ceil_mode: bool = False,
               return_indices: bool = False) -> Any:
    """torch.nn.functional.max_pool1d over (N, C, L) or (C, L)."""
    return _max_pool(input, kernel_size, stride, padding, dilation, ceil_mode,
                     return_indices, 1, "max_pool1d")


def max_pool2d(input: Any, kernel_size: Ints, stride: Optional[Ints] = None,  # noqa: A002
               padding: Ints = 0, dilation: Ints = 1, ceil_mode: bool = False,
               return_indices: bool = False) -> Any:
    """torch.nn.functional.max_pool2d over (N, C, H, W) or (C, H, W): the maximum of each
    window (padding reads -inf); its gradient goes to the window's first maximum."""
    return _max_pool(input, kernel_size, stride, padding, dilation, ceil_mode,
                     return_indices, 2, "max_pool2d")


def _avg_pool(x: Any, kernel_size: Ints, stride: Optional[Ints], padding: Ints,
              ceil_mode: bool, count_include_pad: bool, divisor_override: Optional[int],
              nd: int, op: str) -> Tensor:
    x, unbatched = _batched(x, nd, op)
    kernel, stride, dilation, pads, out = _pool_geometry(
        x, kernel_size, stride, padding, 1, ceil_mode, nd, op)
    padded = pad_constant(x, ((0, 0), (0, 0)) + pads, 0.0)
    total = None
    for tap in _taps(padded, kernel, stride, dilation, out):
        total = tap if total is None else add(total, tap)
    if divisor_override is not None:
        if not isinstance(divisor_override, (int, np.integer)) or divisor_override < 1:
            raise ValueError(f"{op}: divisor_override must be a positive int, got "
                             f"{divisor_override!r}")
        y = total / float(divisor_override)
    else:
        y = total / graph.constant(_divisors(x.shape[2:], kernel, stride, pads, out,
                                             count_include_pad).astype(x.dtype), x.dtype)
    return reshape(y, y.shape[1:]) if unbatched else y


def _divisors(size: tuple, kernel: tuple, stride: tuple, pads: tuple, out: tuple,
              count_include_pad: bool) -> np.ndarray:
    """torch's divisor of each window: its part inside the padded input (with the pad) or
    inside the input (without), as an array of the output plane's shape."""
    counts = []
    for n, k, s, (p, _), o in zip(size, kernel, stride, pads, out):
        start = np.arange(o) * s - p
        end = np.minimum(start + k, n + p)
        if not count_include_pad:
            start, end = np.maximum(start, 0), np.minimum(end, n)
        counts.append(end - start)
    divisors = counts[0].astype(np.float64)
    for c in counts[1:]:
        divisors = np.multiply.outer(divisors, c)
    return divisors


def avg_pool1d(input: Any, kernel_size: Ints, stride: Optional[Ints] = None,  # noqa: A002
               padding: Ints = 0, ceil_mode: bool = False,
               count_include_pad: bool = True) -> Tensor:
    """torch.nn.functional.avg_pool1d over (N, C, L) or (C, L)."""
    return _avg_pool(input, kernel_size, stride, padding, ceil_mode, count_include_pad,
                     None, 1, "avg_pool1d")


def avg_pool2d(input: Any, kernel_size: Ints, stride: Optional[Ints] = None,  # noqa: A002
               padding: Ints = 0, ceil_mode: bool = False, count_include_pad: bool = True,
               divisor_override: Optional[int] = None) -> Tensor:
    """torch.nn.functional.avg_pool2d over (N, C, H, W) or (C, H, W)."""
    return _avg_pool(input, kernel_size, stride, padding, ceil_mode, count_include_pad,
                     divisor_override, 2, "avg_pool2d")


def _adaptive_avg_pool(x: Any, output_size: Any, nd: int, op: str) -> Tensor:
    """Window i of n elements into o spans [floor(i n / o), ceil((i + 1) n / o)): a
    matmul with a constant averaging matrix per axis (windows of varying size), or the
    mean where the output is one element."""
    x, unbatched = _batched(x, nd, op)
    sizes = (output_size,) * nd if isinstance(output_size, (int, np.integer)) or \
        output_size is None else tuple(output_size)
    if len(sizes) != nd:
        raise ValueError(f"{op}: output_size must be an int or {nd} ints, got "
                         f"{output_size!r}")
    sizes = tuple(n if o is None else o for o, n in zip(sizes, x.shape[2:]))
    if any(not isinstance(o, (int, np.integer)) or o < 1 for o in sizes):
        raise ValueError(f"{op}: output sizes must be positive ints, got {output_size!r}")
    y = x
    for a, (n, o) in enumerate(zip(x.shape[2:], sizes)):
        axis = a + 2
        if o == n:
            continue
        if o == 1:
            y = y.mean(axis=axis, keepdims=True)
            continue
        start = (np.arange(o) * n) // o
        end = -((-(np.arange(o) + 1) * n) // o)
        avg = np.zeros((n, o))
        for i, (s, e) in enumerate(zip(start, end)):
            avg[s:e, i] = 1.0 / (e - s)
        # move the axis last, average it by a matmul, move it back
        perm = tuple(d for d in range(y.ndim) if d != axis) + (axis,)
        moved = matmul(permute(y, perm), graph.constant(avg.astype(x.dtype), x.dtype))
        y = permute(moved, tuple(int(i) for i in np.argsort(perm)))
    return reshape(y, y.shape[1:]) if unbatched else y


def adaptive_avg_pool1d(input: Any, output_size: Any) -> Tensor:  # noqa: A002
    """torch.nn.functional.adaptive_avg_pool1d over (N, C, L) or (C, L)."""
    return _adaptive_avg_pool(input, output_size, 1, "adaptive_avg_pool1d")


def adaptive_avg_pool2d(input: Any, output_size: Any) -> Tensor:  # noqa: A002
    """torch.nn.functional.adaptive_avg_pool2d over (N, C, H, W) or (C, H, W);
    ``output_size`` an int or (H, W), None keeping the input's size."""
    return _adaptive_avg_pool(input, output_size, 2, "adaptive_avg_pool2d")

# }}}
