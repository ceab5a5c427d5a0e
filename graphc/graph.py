"""Graph nodes: immutable, hash-consed tensors. Equal structure is the same object.

A ``Tensor`` is one node of the DAG: ``op``, ``src`` (input nodes), static ``shape`` and
``dtype``, and an op-specific ``arg``. Building the same node twice returns the first
object, so common subexpressions are shared from the start. Nothing here knows OpenCL.
"""
from __future__ import annotations

import enum
import itertools
import operator
import weakref
from typing import Any, Iterable, Optional

import numpy as np

from . import shapes
from .dtypes import as_dtype, inferred
from .errors import ShapeError
from .params import ParamState


class Op(enum.Enum):
    PLACEHOLDER = "placeholder"   # arg: unique id; fed at each call
    PARAMETER = "parameter"       # arg: ParamState; device-resident state
    CONST = "const"               # arg: ConstValue
    EW = "elementwise"            # arg: sympy expression over operands a0, a1, ...
    RESHAPE = "reshape"           # arg: None (the node's shape is the new shape)
    PERMUTE = "permute"           # arg: permutation of the source axes
    BROADCAST = "broadcast"       # arg: None; source has the same ndim, size-1 axes stretch
    SHRINK = "shrink"             # arg: per axis (start, step, count): basic slicing
    PAD = "pad"                   # arg: (per axis (before, after), fill value)
    WINDOWS = "windows"           # arg: per axis None or (K, step, dilation, O): the axis
    #                               becomes two, (K, O), element [k, o] = x[o*step + k*dil]
    STOP_GRADIENT = "stop_gradient"   # arg: None; the source's value, no gradient
    REDUCE = "reduce"             # arg: (kind, axes, differentiable); kind: sum, max, prod
    MATMUL = "matmul"             # src (a, b): (..., M, K) @ (..., K, N), equal batch shapes
    MAXMASK = "maxmask"           # arg: axes; one-hot of the first maximum over axes
    IOTA = "iota"                 # arg: None; 0, 1, 2, ... (1-D): computed where it is read
    ALLREDUCE = "allreduce"       # arg: "sum" or "mean"; combines across MPI ranks
    SIZE = "size"                 # arg: sympy expression of None sizes (shapes.Dim); 0-d,
    #                               a constant once the call's shapes are known
    ARGMAX = "argmax"             # arg: (kind "max" or "min", axes); int64 first index
    SCAN = "scan"                 # arg: (kind "sum" or "prod", axis, reverse)
    GATHER = "gather"             # src (x, index...): x read where the indices say; GatherMap
    BUCKETS = "buckets"           # src (index...): a scatter's positions sorted by target
    SCATTER = "scatter"           # src (g, buckets): g summed into its targets; ScatterPlan
    SCATTER_LATER = "scatter_later"   # src (g, index...): a scatter over None sizes; arg:
    #                                   its coords, made a SCATTER once the sizes are known


LEAVES = frozenset({Op.PLACEHOLDER, Op.PARAMETER, Op.CONST, Op.IOTA})


class ConstValue:
    """A constant array, compared by value. Uniform arrays are stored as one number (a
    Python int for integers, exactly: 2**62 + 1 stays itself)."""

    __slots__ = ("shape", "dtype", "uniform", "_data", "_key")

    def __init__(self, array: np.ndarray):
        array = np.asarray(array)
        self.shape, self.dtype = array.shape, array.dtype
        # a broadcast scalar (strides 0, as zeros() and full() make) is uniform uncopied:
        # reshape(-1) would copy it whole (1.2 GB for x * 2.0 at (8192, 16384))
        flat = (array.reshape(-1) if any(array.strides) or not array.size
                else array[(0,) * array.ndim].reshape(1))
        if flat.size and np.all(flat == flat[0]) and not np.isnan(flat[0]):
            self.uniform: Optional[float] = flat[0].item()
            self._data = None
            self._key = (self.shape, self.dtype.str, self.uniform)
        else:
            self.uniform = None
            self._data = np.ascontiguousarray(array).copy()
            self._data.setflags(write=False)
            self._key = (self.shape, self.dtype.str, self._data.tobytes())

    @property
    def array(self) -> np.ndarray:
        """The value, read-only; a uniform one as a broadcast scalar (no memory)."""
        if self._data is None:
            return np.broadcast_to(np.asarray(self.uniform, self.dtype), self.shape)
        return self._data

    def __hash__(self) -> int:
        return hash(self._key)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ConstValue) and self._key == other._key

    def __repr__(self) -> str:
        return repr(self.uniform) if self._data is None else f"array{self.shape}"


_ids = itertools.count()


class Tensor:
    """One node of a graphc graph. Build them with graphc's functions and operators."""

    __slots__ = ("op", "src", "shape", "dtype", "arg", "name", "__weakref__")
    __array_ufunc__ = None   # numpy operands defer to Tensor's reflected operators
    _cache: "weakref.WeakValueDictionary[tuple, Tensor]" = weakref.WeakValueDictionary()

    op: Op
    src: tuple
    shape: tuple
    dtype: np.dtype
    arg: Any
    name: Optional[str]

    def __new__(cls, op: Op, src: tuple, shape: tuple, dtype: np.dtype, arg: Any = None,
                name: Optional[str] = None) -> "Tensor":
        if op not in LEAVES and any(isinstance(d, int) and d == 0 for d in shape):
            # an empty result is the same whatever its inputs hold: an empty constant, so
            # that no kernel ever has an empty index space
            return constant(np.zeros(shape, dtype), dtype)
        # sources by identity: == on tensors builds a comparison, it answers no question
        key = (op, tuple(map(id, src)), shape, dtype.str, arg)
        node = cls._cache.get(key)
        if node is None:
            node = object.__new__(cls)
            for field, value in zip(("op", "src", "shape", "dtype", "arg", "name"),
                                    (op, src, shape, dtype, arg, name)):
                object.__setattr__(node, field, value)
            cls._cache[key] = node
        return node

    def __setattr__(self, field: str, value: Any) -> None:
        raise AttributeError("graphc tensors are immutable")

    @property
    def ndim(self) -> int:
        return len(self.shape)

    def size(self, dim: Optional[int] = None) -> Any:
        """The shape (a tuple), or the length of axis ``dim`` (negative counts from the
        end), as torch's ``Tensor.size``. A ``None`` dimension is a ``shapes.Dim``."""
        if dim is None:
            return self.shape
        if isinstance(dim, bool) or not isinstance(dim, (int, np.integer)):
            raise TypeError(f"size: dim must be an int, got {dim!r}")
        if not -self.ndim <= dim < self.ndim:
            raise IndexError(f"size: dim {dim} is out of range for a {self.ndim}-d tensor "
                             f"of shape {self.shape} (expected {-self.ndim} <= dim < "
                             f"{self.ndim})")
        return self.shape[dim]

    def numel(self) -> Any:
        """The number of elements, an int; with ``None`` dimensions, a sympy expression of
        them (``64*x.shape[0]``), usable in graph arithmetic but not as a Python int."""
        return shapes.numel(self.shape)

    def __repr__(self) -> str:
        label = self.name or self.op.value
        return f"Tensor({label}, shape={self.shape}, dtype={self.dtype})"

    def __bool__(self) -> bool:
        raise TypeError("a graphc Tensor has no truth value at build time; use "
                        "gc.where(cond, a, b) for data-dependent choices. (== builds a bool "
                        "tensor, as in numpy: compare tensors with `is`, and look them up in "
                        "dicts or sets rather than lists)")

    # ``==`` and ``!=`` build bool tensors, as in numpy and torch; hashing stays by
    # identity, so tensors remain usable as dict keys and set members.
    __hash__ = object.__hash__

    def named(self, name: str) -> "Tensor":
        """Label this tensor ``name`` in kernel tables, profiles and graphs; returns it.

        A label only fills a missing name: placeholders and parameters keep theirs."""
        if self.name is None:
            object.__setattr__(self, "name", str(name))
        return self

    def __len__(self) -> int:
        if not self.shape:
            raise TypeError("len() of a 0-d tensor")
        return self.shape[0]

    # Parameters -------------------------------------------------------------------
    @property
    def value(self) -> np.ndarray:
        """A numpy copy of a parameter's current value (read back from the device)."""
        if self.op is not Op.PARAMETER:
            raise TypeError(f"{self!r} is not a parameter; only parameters hold a value "
                            "(use gc.evaluate or gc.compile to compute others)")
        return self.arg.read().copy()

    def set_value(self, value: Any) -> None:
        """Replace a parameter's value; shape must match, the dtype is converted."""
        if self.op is not Op.PARAMETER:
            raise TypeError(f"{self!r} is not a parameter")
        array = np.array(value, dtype=self.dtype, copy=True)
        if array.shape != self.shape:
            raise ShapeError(f"set_value of parameter {self.name!r}: expected shape "
                             f"{self.shape}, got {array.shape}")
        self.arg.set(array)


def placeholder(shape: Iterable[Optional[int]], dtype: Any = "float32",
                name: Optional[str] = None) -> Tensor:
    """A tensor fed with an array at each call of a compiled function.

    A ``None`` dimension takes its size from each call (``placeholder((None, 64))``): the
    graph is built over a symbolic size (``shapes.Dim``, printed ``x.shape[0]``), and a
    compiled function compiles once per distinct shape it is called with."""
    uid = next(_ids)
    name = name or f"input{uid}"
    given = tuple(shape) if isinstance(shape, (tuple, list)) else shape
    if isinstance(given, tuple) and any(d is None for d in given):
        try:
            known = check_shape([1 if d is None else d for d in given], "placeholder")
        except ShapeError:
            raise ShapeError("placeholder: every dimension must be a non-negative int or None, "
                             f"got shape {given!r}") from None
        shape = tuple(shapes.Dim(name, i) if d is None else k
                      for i, (d, k) in enumerate(zip(given, known)))
    else:
        shape = check_shape(given, "placeholder")
    return Tensor(Op.PLACEHOLDER, (), shape, as_dtype(dtype, "placeholder"), uid, name)


def parameter(value: Any, name: Optional[str] = None, dtype: Any = None) -> Tensor:
    """Device-resident state initialised from ``value``; updated by compiled functions.

    Without ``dtype`` it keeps the dtype numpy gives ``value``, as ``torch.tensor`` does:
    an array's own, int64 for Python ints (a step counter), float64 for Python floats;
    int8, int16, uint8 and uint16 widen to int32. Integer and bool parameters stay
    integer on the device and have no gradient.
    """
    array = np.asarray(value)
    if dtype is None:
        dtype = inferred(array.dtype, "parameter")
    array = np.array(array, dtype=as_dtype(dtype, "parameter"), copy=True)
    shape = check_shape(array.shape, "parameter")
    uid = next(_ids)
    name = name or f"param{uid}"
    return Tensor(Op.PARAMETER, (), shape, array.dtype, ParamState(array, name), name)


def constant(value: Any, dtype: Any = None) -> Tensor:
    """A constant tensor. Python scalars become float32 unless ``dtype`` says otherwise (a
    bare number is graphc's default float); arrays and lists keep numpy's dtype (ints
    int64; int8, int16, uint8 and uint16 widen to int32)."""
    array = np.asarray(value)
    if dtype is None:   # Python numbers are float32, as everywhere in graphc
        python_number = isinstance(value, (int, float, bool))
        dtype = np.float32 if python_number else inferred(array.dtype, "constant")
    array = array.astype(as_dtype(dtype, "constant"), copy=False)
    check_shape(array.shape, "constant")
    stretched = [d > 1 and s == 0 for d, s in zip(array.shape, array.strides)]
    if any(stretched) and not all(s == 0 for s in array.strides):
        # a broadcast array (a (1, k) row stretched to (n, k)) is stored at its own size
        # and read through a broadcast: no n * k host copy, no n * k device buffer
        compact = array[tuple(slice(0, 1) if s else slice(None) for s in stretched)]
        from .ops.views import broadcast_to
        return broadcast_to(constant(np.ascontiguousarray(compact), array.dtype),
                            array.shape)
    return Tensor(Op.CONST, (), array.shape, array.dtype, ConstValue(array))


def check_shape(shape: Iterable[int], what: str) -> tuple:
    """``shape`` as a tuple of ints; a ``ShapeError`` for a dimension that is no integer
    (3.5 is not truncated to 3, as numpy and torch refuse it) or is negative."""
    try:
        given = tuple(shape)
        if any(isinstance(d, (bool, np.bool_)) for d in given):
            raise TypeError
        shape = tuple(operator.index(d) for d in given)
    except TypeError:
        raise ShapeError(f"{what}: shape must be a tuple of ints, got {shape!r}") from None
    if any(d < 0 for d in shape):
        raise ShapeError(f"{what}: a dimension cannot be negative, got shape {shape}")
    return shape


def toposort(roots: Iterable[Tensor]) -> list[Tensor]:
    """Every node reachable from ``roots``, inputs before users, in a deterministic order."""
    order: list[Tensor] = []
    seen: set[int] = set()
    for root in roots:
        if id(root) in seen:
            continue
        stack = [(root, iter(root.src))]
        seen.add(id(root))
        while stack:
            node, children = stack[-1]
            for child in children:
                if id(child) not in seen:
                    seen.add(id(child))
                    stack.append((child, iter(child.src)))
                    break
            else:
                stack.pop()
                order.append(node)
    return order


# ops builds Tensors and gives them their methods and operators; load it with the class.
from . import ops  # noqa: E402,F401
