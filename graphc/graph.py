"""Graph nodes: immutable, hash-consed tensors. Equal structure is the same object.

A ``Tensor`` is one node of the DAG: ``op``, ``src`` (input nodes), static ``shape`` and
``dtype``, and an op-specific ``arg``. Building the same node twice returns the first
object, so common subexpressions are shared from the start. Nothing here knows OpenCL.
"""
from __future__ import annotations

import enum
import itertools
import weakref
from typing import Any, Callable, Iterable, Optional

import numpy as np

from .dtypes import as_dtype
from .errors import ShapeError


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
    STOP_GRADIENT = "stop_gradient"   # arg: None; the source's value, no gradient
    REDUCE = "reduce"             # arg: (kind, axes, differentiable); kind: sum, max, prod
    MATMUL = "matmul"             # src (a, b): (..., M, K) @ (..., K, N), equal batch shapes
    MAXMASK = "maxmask"           # arg: axes; one-hot of the first maximum over axes
    ALLREDUCE = "allreduce"       # arg: "sum" or "mean"; combines across MPI ranks
    GATHER = "gather"             # src (x, index...): x read where the indices say; GatherMap
    BUCKETS = "buckets"           # src (index...): a scatter's positions sorted by target
    SCATTER = "scatter"           # src (g, buckets): g summed into its targets; ScatterPlan


LEAVES = frozenset({Op.PLACEHOLDER, Op.PARAMETER, Op.CONST})


class ConstValue:
    """A constant array, compared by value. Uniform arrays are stored as one number."""

    __slots__ = ("shape", "dtype", "uniform", "_data", "_key")

    def __init__(self, array: np.ndarray):
        array = np.asarray(array)
        self.shape, self.dtype = array.shape, array.dtype
        flat = array.reshape(-1)
        if flat.size and np.all(flat == flat[0]) and not np.isnan(flat[0]):
            self.uniform: Optional[float] = float(flat[0])
            self._data = None
            self._key = (self.shape, self.dtype.str, self.uniform)
        else:
            self.uniform = None
            self._data = np.ascontiguousarray(array).copy()
            self._data.setflags(write=False)
            self._key = (self.shape, self.dtype.str, self._data.tobytes())

    @property
    def array(self) -> np.ndarray:
        if self._data is None:
            return np.full(self.shape, self.uniform, self.dtype)
        return self._data

    def __hash__(self) -> int:
        return hash(self._key)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ConstValue) and self._key == other._key

    def __repr__(self) -> str:
        return repr(self.uniform) if self._data is None else f"array{self.shape}"


class ParamState:
    """The value behind a parameter, on the host and on at most one device at a time.

    ``buffers`` holds the device buffer with the current value, per device key. A parameter
    that a compiled function updates also has a ``spares`` buffer there: a call writes the
    new value into the spare and, once every command of the call has succeeded, ``swap``
    makes it current. A call that fails leaves the current buffer untouched. ``where``
    names the device whose buffer holds the current value (``None``: only the host copy is
    current); ``host_stale`` says the host copy is older than that buffer. The runtime
    installs ``pull`` to read the current buffer back.
    """

    def __init__(self, value: np.ndarray, name: str):
        self.host = value
        self.name = name
        self.where: Any = None
        self.host_stale = False
        self.buffers: dict[Any, Any] = {}
        self.spares: dict[Any, Any] = {}
        self.pull: Optional[Callable[[], np.ndarray]] = None

    def swap(self, key: Any) -> None:
        """Make the spare buffer on device ``key`` current (it holds the new value)."""
        self.buffers[key], self.spares[key] = self.spares[key], self.buffers[key]

    def read(self) -> np.ndarray:
        if self.host_stale:
            self.host = self.pull()
            self.host_stale = False
        return self.host


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

    @property
    def size(self) -> int:
        return int(np.prod(self.shape, dtype=np.int64))

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
        state = self.arg
        state.host, state.host_stale, state.where = array, False, None


def placeholder(shape: Iterable[int], dtype: Any = "float32",
                name: Optional[str] = None) -> Tensor:
    """A tensor fed with an array at each call of a compiled function."""
    shape = check_shape(shape, "placeholder")
    uid = next(_ids)
    return Tensor(Op.PLACEHOLDER, (), shape, as_dtype(dtype, "placeholder"), uid,
                  name or f"input{uid}")


def parameter(value: Any, name: Optional[str] = None, dtype: Any = None) -> Tensor:
    """Device-resident state initialised from ``value``; updated by compiled functions."""
    array = np.asarray(value)
    if dtype is None:
        dtype = array.dtype if array.dtype.kind == "f" else np.float32
    array = np.array(array, dtype=as_dtype(dtype, "parameter"), copy=True)
    shape = check_shape(array.shape, "parameter")
    uid = next(_ids)
    name = name or f"param{uid}"
    return Tensor(Op.PARAMETER, (), shape, array.dtype, ParamState(array, name), name)


def constant(value: Any, dtype: Any = None) -> Tensor:
    """A constant tensor; Python scalars become float32 unless ``dtype`` says otherwise."""
    array = np.asarray(value)
    if dtype is None:   # Python numbers are float32, as everywhere in graphc
        python_number = isinstance(value, (int, float, bool))
        dtype = array.dtype if array.dtype.kind == "f" and not python_number else np.float32
    array = array.astype(as_dtype(dtype, "constant"))
    check_shape(array.shape, "constant")
    return Tensor(Op.CONST, (), array.shape, array.dtype, ConstValue(array))


def check_shape(shape: Iterable[int], what: str) -> tuple:
    try:
        shape = tuple(int(d) for d in shape)
    except TypeError:
        raise ShapeError(f"{what}: shape must be a tuple of ints, got {shape!r}") from None
    if any(d <= 0 for d in shape):
        raise ShapeError(f"{what}: every dimension must be positive, got shape {shape}")
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
