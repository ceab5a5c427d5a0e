"""Gathers and scatters: reads and sums at data-dependent positions.

Three ops carry them all:

- ``gather`` (``GATHER``): ``out[o] = x[c_0(o), ..., c_{n-1}(o)]``, where coordinate
  ``c_a`` along source axis ``a`` is either an output axis (``("axis", d)``: ``o[d]``) or
  the value of an index tensor at ``o`` (``("index", j)``; every index source has the
  output's shape, usually as a broadcast view). ``x[idx]``, ``x[rows, cols]``, ``take``,
  ``take_along_axis``, torch's ``gather``, ``index_select`` and ``embedding`` are all one
  ``GATHER``. It is computed per output element like an elementwise op, so it is an
  indexed load inside its consumer's kernel, never a copy of its own.
- ``buckets`` (``BUCKETS``) and ``scatter`` (``SCATTER``): the transpose of a gather,
  ``out[c(p)] += g[p]`` over every position ``p`` of ``g``. ``BUCKETS`` sorts the positions
  of ``g`` by the target element they add to (a counting sort, then each bucket in order
  of position: one work-group); ``SCATTER`` then runs one work-item per target element,
  which sums its bucket in increasing order of position. No float atomics: the same bits
  on every run, whatever the schedule, and the order ``np.add.at`` adds in. Axes along
  which the indices do not vary (an embedding's feature axis) are not sorted: the
  buckets hold positions of the other axes only, and each work-item reads its own
  column of them.

Indices are int32, int64 or uint32 tensors (numpy arrays and lists become constants).
A negative index counts from the end, as in numpy. Out of range: a constant index is an
``IndexError`` when the op is built, an index fed by a placeholder (through reshapes,
transposes and broadcasts) an ``IndexError`` when the compiled function (or
``gc.evaluate``) is called, before anything runs; an index computed on the device is
clamped into range (``i < -n`` reads element 0, ``i >= n`` element ``n - 1``), so no
kernel ever reads or writes outside a buffer.
"""
from __future__ import annotations

import dataclasses
from typing import Any, Optional, Sequence

import numpy as np

from .. import graph, shapes
from ..dtypes import INTEGERS
from ..errors import DTypeError, GraphcError, ShapeError
from ..graph import Op, Tensor
from . import methods
from .elementwise import add, as_tensor, astype, broadcast_shapes, eq, logical_and, mul, ne, where
from .registry import Category, define
from .views import broadcast_to, normalize_axis, reshape, shrink

INDEX_DTYPE = np.dtype(np.int32)      # the dtype of a scatter's sorted positions
# views that keep every element of an index tensor (its range checks look through them)
_PASS_THROUGH = (Op.RESHAPE, Op.PERMUTE, Op.BROADCAST, Op.STOP_GRADIENT)


# {{{ the maps

@dataclasses.dataclass(frozen=True)
class GatherMap:
    """Where a gather reads: one coordinate per source axis, ``("axis", d)`` (output axis
    ``d``) or ``("index", j)`` (index source ``j``). ``no_grad``: the row (along the one
    indexed axis) that gets no gradient, an embedding's ``padding_idx``. ``spread``: per
    output axis ``(start, step, count)`` where the gather puts its source, one element
    each, as ``conv.place`` does (others masked to 0 by its consumer): the gradient is
    then that slice rather than a scatter."""

    coords: tuple
    no_grad: Optional[int] = None
    spread: Optional[tuple] = None    # a slice's gradient spread out: its own is that slice


@dataclasses.dataclass(frozen=True)
class ScatterPlan:
    """A scatter of ``g`` (of ``g_shape``) into a tensor of ``shape``: ``coords`` as a
    gather's, over ``g``'s axes. ``free`` lists pairs (target axis, g axis) that the
    indices do not vary along and that have one size: those are not sorted. The other
    target axes are *keyed*; the other g axes hold the sorted *positions*."""

    shape: tuple
    g_shape: tuple
    coords: tuple
    free: tuple

    @property
    def keyed(self) -> tuple:
        free = {a for a, _ in self.free}
        return tuple(a for a in range(len(self.shape)) if a not in free)

    @property
    def buckets(self) -> int:
        return _prod(self.shape[a] for a in self.keyed)

    @property
    def positions(self) -> tuple:
        """The g axes whose positions are sorted, in order."""
        free = {d for _, d in self.free}
        return tuple(d for d in range(len(self.g_shape)) if d not in free)

    @property
    def count(self) -> int:
        return _prod(self.g_shape[d] for d in self.positions)


def _prod(sizes: Any) -> int:
    return int(np.prod(list(sizes), dtype=np.int64))


def bucket_layout(plan: ScatterPlan) -> tuple:
    """Offsets in a ``BUCKETS`` buffer of: the bucket starts (``K + 1``), the bucket sizes
    (``K``), the positions sorted by bucket (``count``); and its length."""
    k = plan.buckets
    return 0, k + 1, 2 * k + 1, 2 * k + 1 + plan.count

# }}}


# {{{ index tensors

def _is_int(value: Any) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))


def as_index(value: Any, op: str, what: str = "index") -> Tensor:
    """``value`` as an integer index tensor: a graphc int tensor as it is, a numpy array,
    a list or an int as a constant (int64 unless it is int32)."""
    mask_hint = (f"{op}: {what} is boolean; a mask selects a data-dependent number of "
                 "elements, which a static graph cannot shape. Keep the shape and choose "
                 "values instead: gc.where(mask, x, 0) or x.masked_fill(~mask, 0)")
    if isinstance(value, Tensor):
        if value.dtype == np.bool_:
            raise TypeError(mask_hint)
        if value.dtype not in INTEGERS:
            raise DTypeError(f"{op}: {what} {value.name or value.op.value!r} has dtype "
                             f"{value.dtype}; indices must be integers (int64, int32 or "
                             "uint32): convert with .long()")
        return value
    array = np.asarray(value)
    if array.dtype == np.bool_:
        raise TypeError(mask_hint)
    if array.size == 0 and array.dtype.kind == "f":
        array = array.astype(np.int64)          # x[[]], as numpy's: an empty selection
    if array.dtype.kind not in "iu":
        raise DTypeError(f"{op}: {what} {value!r} is not an integer array (dtype "
                         f"{array.dtype}); indices must be integers")
    dtype = np.int32 if array.dtype == np.int32 else np.int64
    return graph.constant(array.astype(dtype), dtype)


def _check_constant(index: Tensor, n: int, op: str, what: str, axis: int) -> None:
    """An ``IndexError`` for a constant index out of ``[-n, n)``."""
    if index.op is not Op.CONST:
        return
    values = index.arg.array
    bad = values[(values < -n) | (values >= n)]
    if bad.size:
        raise IndexError(f"{op}: {what} {int(bad.reshape(-1)[0])} is out of bounds for axis "
                         f"{axis} with size {n}")


def _spread(index: Tensor, shape: tuple) -> Tensor:
    """``index`` broadcast to ``shape`` as a view, a constant too (a constant folded to
    the full shape would cost memory in proportion to it)."""
    index = reshape(index, (1,) * (len(shape) - index.ndim) + index.shape)
    if index.shape == shape or index.op is not Op.CONST or index.arg.uniform is not None:
        return broadcast_to(index, shape)
    broadcast_shapes(index.shape, shape, op="gather")
    return Tensor(Op.BROADCAST, (index,), shape, index.dtype)


def wrapped(i: np.ndarray, n: int) -> np.ndarray:
    """Indices into an axis of ``n``: negative ones from the end, the rest clamped."""
    i = np.asarray(i).astype(np.int64)
    return np.clip(np.where(i < 0, i + n, i), 0, n - 1)


def _varies(index: Tensor, axis: int) -> bool:
    """May ``index`` take different values along ``axis``? (No where it is broadcast.)"""
    if index.shape[axis] == 1:
        return False
    return not (index.op is Op.BROADCAST and index.src[0].shape[axis] == 1)

# }}}


# {{{ the ops

def gather_node(x: Tensor, coords: Sequence[tuple], indices: Sequence[Tensor], shape: tuple,
                op: str, no_grad: Optional[int] = None,
                spread: Optional[tuple] = None) -> Tensor:
    """The ``GATHER`` of ``x`` at ``coords`` (see ``GatherMap``); each index tensor is
    broadcast to ``shape`` first."""
    shape = tuple(shapes.as_size(d, op) for d in shape)
    indices = [_spread(i, shape) for i in indices]
    return Tensor(Op.GATHER, (x, *indices), shape, x.dtype,
                  GatherMap(tuple(coords), no_grad, spread))


def scatter_sum(g: Tensor, indices: Sequence[Tensor], coords: Sequence[tuple],
                shape: tuple) -> Tensor:
    """``out[c(p)] += g[p]`` into zeros of ``shape``: the transpose of ``gather_node``
    (``indices`` of ``g``'s shape)."""
    coords = tuple(coords)
    if not (shapes.is_static(tuple(shape)) and shapes.is_static(g.shape)):
        # the buckets' layout needs the sizes: planned when a call gives them
        return Tensor(Op.SCATTER_LATER, (g, *indices), tuple(shape), g.dtype, coords)
    if g.numel() == 0:                  # nothing to add
        return graph.constant(np.zeros(shape, g.dtype), g.dtype)
    used = [c[1] for c in coords if c[0] == "axis"]
    free = tuple((a, c[1]) for a, c in enumerate(coords)
                 if c[0] == "axis" and used.count(c[1]) == 1
                 and shape[a] == g.shape[c[1]] and not any(_varies(i, c[1]) for i in indices))
    plan = ScatterPlan(tuple(shape), g.shape, coords, free)
    size = bucket_layout(plan)[-1]
    buckets = Tensor(Op.BUCKETS, tuple(indices), (size,), INDEX_DTYPE, plan)
    return Tensor(Op.SCATTER, (g, buckets), plan.shape, g.dtype, plan)


def _vjp_gather(node: Tensor, g: Tensor) -> list:
    x, indices = node.src[0], node.src[1:]
    coords, row = node.arg.coords, node.arg.no_grad
    if node.arg.spread is not None:
        return [shrink(g, node.arg.spread)] + [None] * len(indices)
    if row is not None:      # the padding row: positions that read it send nothing back
        (j,) = [c[1] for c in coords if c[0] == "index"]
        n = x.shape[[c[0] for c in coords].index("index")]
        keep = logical_and(ne(indices[j], row), ne(indices[j], row - n))
        g = where(keep, g, 0.0)
    return [scatter_sum(g, indices, coords, x.shape)] + [None] * len(indices)


def _vjp_scatter(node: Tensor, g: Tensor) -> list:
    plan = node.arg
    indices = node.src[1].src
    return [gather_node(g, plan.coords, indices, plan.g_shape, "scatter"), None]

# }}}


# {{{ numpy references

def _coordinates(coords: tuple, shape: tuple, sizes: tuple, indices: Sequence) -> tuple:
    """numpy index arrays reading ``coords`` over ``shape`` from axes of ``sizes``."""
    out = []
    for (kind, k), n in zip(coords, sizes):
        if kind == "axis":
            out.append(np.arange(shape[k]).reshape(
                [shape[k] if d == k else 1 for d in range(len(shape))]))
        else:
            out.append(wrapped(indices[k], n))
    return tuple(out)


def _impl_gather(node: Tensor, x: np.ndarray, *indices: np.ndarray) -> np.ndarray:
    return x[_coordinates(node.arg.coords, node.shape, x.shape, indices)]


def _impl_buckets(node: Tensor, *indices: np.ndarray) -> np.ndarray:
    """Bucket starts, sizes and positions sorted stably by bucket, as the kernel leaves
    them (the indices read at the first element of every free axis)."""
    plan = node.arg
    first = tuple(slice(0, 1) if d not in plan.positions else slice(None)
                  for d in range(len(plan.g_shape)))
    coords = _coordinates(plan.coords, plan.g_shape, plan.shape,
                          [np.asarray(i)[first] for i in indices])
    shape = tuple(plan.g_shape[d] if d in plan.positions else 1
                  for d in range(len(plan.g_shape)))
    key = np.zeros(shape, np.int64)
    for a in plan.keyed:
        key = key * plan.shape[a] + coords[a]
    key = np.broadcast_to(key, shape).reshape(-1)
    counts = np.bincount(key, minlength=plan.buckets)
    starts = np.concatenate([[0], np.cumsum(counts)])
    order = np.argsort(key, kind="stable")
    return np.concatenate([starts, counts, order]).astype(INDEX_DTYPE)


def _impl_scatter(node: Tensor, g: np.ndarray, buckets: np.ndarray) -> np.ndarray:
    """Each target's contributions added in increasing order of position (np.add.at)."""
    plan = node.arg
    begin, sizes, order, _ = bucket_layout(plan)
    counts = buckets[sizes:order]
    free_g = [d for _, d in plan.free]
    rows = np.transpose(g, list(plan.positions) + free_g).reshape(plan.count, -1)
    out = np.zeros((plan.buckets, rows.shape[1]), g.dtype)
    np.add.at(out, np.repeat(np.arange(plan.buckets), counts), rows[buckets[order:]])
    keyed_free = list(plan.keyed) + [a for a, _ in plan.free]
    out = out.reshape([plan.shape[a] for a in keyed_free])
    return np.transpose(out, np.argsort(keyed_free))

# }}}


def _index_name(index: Tensor, text: str) -> str:
    """An index tensor's label: the name under its reshapes and broadcasts, if any."""
    while index.op in _PASS_THROUGH and index.name is None:
        index = index.src[0]
    return index.name or text


def _label_gather(node: Tensor, inner: list) -> str:
    """``w[tokens, :]``: ``:`` for the axes read where the output is."""
    parts = [":" if kind == "axis" else _index_name(node.src[1 + k], inner[1 + k])
             for kind, k in node.arg.coords]
    return f"{inner[0]}[{', '.join(parts)}]"


define(Op.GATHER, Category.GATHER, vjp=_vjp_gather, impl=_impl_gather, label=_label_gather,
       rebuild=lambda node, src: Tensor(Op.GATHER, tuple(src), node.shape, src[0].dtype,
                                        node.arg))
define(Op.BUCKETS, Category.SORT, impl=_impl_buckets,
       label=lambda node, inner: "buckets({})".format(", ".join(
           _index_name(i, text) for i, text in zip(node.src, inner))))
def _impl_scatter_later(node: Tensor, *arrays: np.ndarray) -> np.ndarray:
    raise GraphcError("a scatter over None sizes runs once they are known: "
                      "graphc.specialize rebuilds it (gc.evaluate and compiled calls do)")


define(Op.SCATTER_LATER, Category.SCATTER, impl=_impl_scatter_later,
       vjp=lambda node, g: [gather_node(g, node.arg, node.src[1:], node.src[0].shape,
                                        "scatter")] + [None] * (len(node.src) - 1),
       label=lambda node, inner: f"scatter_add({inner[0]})",
       rebuild=lambda node, src: scatter_sum(src[0], src[1:], node.arg, node.shape))
define(Op.SCATTER, Category.SCATTER, vjp=_vjp_scatter, impl=_impl_scatter,
       label=lambda node, inner: f"scatter_add({inner[0]})",
       rebuild=lambda node, src: Tensor(Op.SCATTER, tuple(src), node.shape, src[0].dtype,
                                        node.arg))


# {{{ index checks at call time

def index_checks(nodes: Sequence[Tensor]) -> list:
    """``(placeholder, op, size)`` for every placeholder that a gather or scatter among
    ``nodes`` reads as an index into an axis of ``size``, through views that keep every
    element: its values must lie in ``[-size, size)``."""
    found = []
    for node in nodes:
        if node.op not in (Op.GATHER, Op.BUCKETS):
            continue
        sizes = node.src[0].shape if node.op is Op.GATHER else node.arg.shape
        first = 1 if node.op is Op.GATHER else 0
        for a, (kind, j) in enumerate(node.arg.coords):
            if kind != "index":
                continue
            base = node.src[first + j]
            while base.op in _PASS_THROUGH:
                base = base.src[0]
            if base.op is Op.PLACEHOLDER:
                found.append((base, "gather" if first else "scatter", sizes[a]))
    return found


def check_indices(checks: list, values: dict) -> None:
    """Raise ``IndexError`` for the first fed index out of range (``index_checks``);
    ``values`` maps id(placeholder) to its array (absent: not checked)."""
    for p, op, n in checks:
        array = values.get(id(p))
        if array is None:
            continue
        low, high = array.min(), array.max()
        if low < -n or high >= n:
            bad = int(low if low < -n else high)
            raise IndexError(f"{op}: index {bad} in input {p.name!r} is out of bounds for "
                             f"an axis of size {n} (valid: {-n} to {n - 1})")


# }}}


# {{{ the user's functions

def _source(x: Any, op: str) -> Tensor:
    x = as_tensor(x)
    if x.ndim == 0:
        raise ShapeError(f"{op}: cannot index a 0-d tensor")
    return x


def take(x: Any, indices: Any, axis: Optional[int] = None) -> Tensor:
    """numpy's ``take``: elements of flattened ``x`` (or along ``axis``) at ``indices``;
    the result has the shape of ``indices`` (in place of ``axis``). Negative indices count
    from the end. Out of range: an ``IndexError`` for a constant or fed index, else
    clamped (the module's note says how)."""
    x = _source(x, "take")
    if axis is None:
        x, axis = reshape(x, (x.numel(),)), 0
    axis = normalize_axis(axis, x.ndim, "take")
    return index_select(x, axis, indices, op="take")


def index_select(x: Any, dim: int, index: Any, *, op: str = "index_select") -> Tensor:
    """torch's ``index_select``: the slices of ``x`` along ``dim`` at ``index`` (one
    dimension, or none); numpy's ``take`` with an axis allows any shape of ``index``.
    Out of range: an ``IndexError`` for a constant or fed index, else clamped."""
    x = _source(x, op)
    dim = normalize_axis(dim, x.ndim, op)
    index = as_index(index, op)
    if op == "index_select" and index.ndim > 1:
        raise ShapeError(f"index_select: index must have one dimension (or none), got "
                         f"shape {index.shape}")
    _check_constant(index, x.shape[dim], op, "index", dim)
    shape = x.shape[:dim] + index.shape + x.shape[dim + 1:]
    inner = len(x.shape) - dim - 1
    coords = [("axis", a) for a in range(dim)] + [("index", 0)] + [
        ("axis", dim + index.ndim + a) for a in range(inner)]
    return gather_node(x, coords, [reshape(index, index.shape + (1,) * inner)], shape, op)


def take_along_axis(x: Any, indices: Any, axis: Optional[int]) -> Tensor:
    """numpy's ``take_along_axis``: ``out[..., i, ...] = x[..., indices[..., i, ...], ...]``
    along ``axis``; ``indices`` has ``x``'s number of dimensions, and the other axes
    broadcast (``axis=None``: of flattened ``x``). Out of range: an ``IndexError`` for a
    constant or fed index, else clamped."""
    x = _source(x, "take_along_axis")
    index = as_index(indices, "take_along_axis", "indices")
    if axis is None:
        x, axis = reshape(x, (x.numel(),)), 0
    if index.ndim != x.ndim:
        raise ShapeError(f"take_along_axis: indices (shape {index.shape}) and x (shape "
                         f"{x.shape}) must have the same number of dimensions")
    axis = normalize_axis(axis, x.ndim, "take_along_axis")
    _check_constant(index, x.shape[axis], "take_along_axis", "index", axis)
    rest = broadcast_shapes(x.shape[:axis] + (1,) + x.shape[axis + 1:],
                            index.shape[:axis] + (1,) + index.shape[axis + 1:],
                            op="take_along_axis")
    x = broadcast_to(x, rest[:axis] + x.shape[axis:axis + 1] + rest[axis + 1:])
    shape = rest[:axis] + index.shape[axis:axis + 1] + rest[axis + 1:]
    coords = [("index", 0) if a == axis else ("axis", a) for a in range(x.ndim)]
    return gather_node(x, coords, [index], shape, "take_along_axis")


def take_along_dim(x: Any, indices: Any, dim: Optional[int] = None) -> Tensor:
    """torch's name for ``take_along_axis``."""
    return take_along_axis(x, indices, dim)


def _check_within(index: Tensor, x: Tensor, dim: int, op: str, what: str) -> None:
    if index.ndim != x.ndim or any(index.shape[d] > x.shape[d] for d in range(x.ndim)
                                   if d != dim):
        raise ShapeError(f"{op}: index of shape {index.shape} does not fit {what} of shape "
                         f"{x.shape}: it needs as many dimensions, and no larger size "
                         f"except along dim {dim}")


def gather(x: Any, dim: int, index: Any) -> Tensor:
    """torch's ``gather``: ``out[i][j][k] = x[index[i][j][k]][j][k]`` (for ``dim=0``); the
    result has ``index``'s shape, which may be smaller than ``x``'s off ``dim``. Out of
    range: an ``IndexError`` for a constant or fed index, else clamped."""
    x = _source(x, "gather")
    dim = normalize_axis(dim, x.ndim, "gather")
    index = as_index(index, "gather")
    _check_within(index, x, dim, "gather", "x")
    _check_constant(index, x.shape[dim], "gather", "index", dim)
    coords = [("index", 0) if a == dim else ("axis", a) for a in range(x.ndim)]
    return gather_node(x, coords, [index], index.shape, "gather")


def embedding(input: Any, weight: Any, padding_idx: Optional[int] = None) -> Tensor:  # noqa: A002
    """torch.nn.functional's ``embedding``: rows of ``weight`` (V, D) at ``input`` (any
    shape), shape ``input.shape + (D,)``. The row ``padding_idx`` gets no gradient. Its
    gradient is a deterministic scatter-add (see the module's note). Out of range: an
    ``IndexError`` for a constant or fed index, else clamped."""
    weight = as_tensor(weight)
    if weight.ndim != 2:
        raise ShapeError(f"embedding: weight must be 2-d (num_embeddings, embedding_dim), "
                         f"got shape {weight.shape}")
    index = as_index(input, "embedding", "input")
    n = weight.shape[0]
    _check_constant(index, n, "embedding", "index", 0)
    if padding_idx is not None:
        if not -n <= padding_idx < n:
            raise ValueError(f"embedding: padding_idx {padding_idx} must be within "
                             f"[-{n}, {n}) (num_embeddings {n})")
        padding_idx = int(padding_idx) % n
    shape = index.shape + weight.shape[1:]
    return gather_node(weight, [("index", 0), ("axis", index.ndim)],
                       [reshape(index, index.shape + (1,))], shape, "embedding", padding_idx)


def one_hot(tensor: Any, num_classes: int = -1) -> Tensor:
    """torch.nn.functional's ``one_hot``: int64, shape ``tensor.shape + (num_classes,)``.
    ``num_classes`` is required (-1 would take it from the data, which a static graph
    cannot). A constant index outside ``[0, num_classes)`` is an ``IndexError``; any
    other gives a row of zeros (a comparison with each class, no read at all)."""
    index = as_index(tensor, "one_hot", "tensor")
    if not _is_int(num_classes) or num_classes == -1:
        raise ValueError("one_hot: num_classes must be given (a positive int): -1 would "
                         "take it from the values, which a static graph cannot shape by")
    if num_classes <= 0:
        raise ValueError(f"one_hot: num_classes must be positive, got {num_classes}")
    if index.op is Op.CONST and (index.arg.array.min() < 0
                                 or index.arg.array.max() >= num_classes):
        raise IndexError(f"one_hot: class values must lie in [0, {num_classes})")
    classes = graph.constant(np.arange(num_classes, dtype=index.dtype), index.dtype)
    hit = eq(reshape(index, index.shape + (1,)), classes)
    return astype(hit, np.int64)


def scatter_add(x: Any, dim: int, index: Any, src: Any) -> Tensor:
    """torch's ``scatter_add``: ``x`` plus ``src[i][j][k]`` added at ``[index[i][j][k]][j][k]``
    (``dim=0``); ``src`` beyond ``index``'s shape is not used. Deterministic. Out of
    range: an ``IndexError`` for a constant or fed index, else clamped."""
    x, src = as_tensor(x), as_tensor(src)
    dim = normalize_axis(dim, x.ndim, "scatter_add")
    index = as_index(index, "scatter_add")
    _check_within(index, x, dim, "scatter_add", "x")
    _check_within(index, src, -1, "scatter_add", "src")
    _check_constant(index, x.shape[dim], "scatter_add", "index", dim)
    if src.dtype != x.dtype:
        raise DTypeError(f"scatter_add: src has dtype {src.dtype} but x has {x.dtype}; "
                         "give both the same dtype")
    src = shrink(src, [(0, 1, n) for n in index.shape])
    coords = [("index", 0) if a == dim else ("axis", a) for a in range(x.ndim)]
    return add(x, scatter_sum(src, [index], coords, x.shape))


def index_add(x: Any, dim: int, index: Any, source: Any, alpha: float = 1) -> Tensor:
    """torch's ``index_add``: ``x`` plus ``alpha * source``, whose slice ``i`` along
    ``dim`` is added to the slice ``index[i]`` of ``x``. Deterministic. Out of range: an
    ``IndexError`` for a constant or fed index, else clamped."""
    x, source = as_tensor(x), as_tensor(source)
    dim = normalize_axis(dim, x.ndim, "index_add")
    index = as_index(index, "index_add")
    if index.ndim != 1:
        raise ShapeError(f"index_add: index must have one dimension, got {index.shape}")
    want = x.shape[:dim] + index.shape + x.shape[dim + 1:]
    if source.shape != want:
        raise ShapeError(f"index_add: source has shape {source.shape}; with x of shape "
                         f"{x.shape} and {index.shape[0]} indices along dim {dim} it "
                         f"needs shape {want}")
    if source.dtype != x.dtype:
        raise DTypeError(f"index_add: source has dtype {source.dtype} but x has {x.dtype}; "
                         "give both the same dtype")
    _check_constant(index, x.shape[dim], "index_add", "index", dim)
    spread = reshape(index, (1,) * dim + index.shape + (1,) * (x.ndim - dim - 1))
    coords = [("index", 0) if a == dim else ("axis", a) for a in range(x.ndim)]
    summed = scatter_sum(source, [_spread(spread, source.shape)], coords, x.shape)
    return add(x, summed if alpha == 1 else mul(summed, alpha))

# }}}


methods.extend(gather=gather, index_select=index_select, take=take,
               take_along_dim=take_along_dim, scatter_add=scatter_add, index_add=index_add)

__all__ = ["take", "take_along_axis", "take_along_dim", "gather", "index_select",
           "embedding", "one_hot", "scatter_add", "index_add"]
