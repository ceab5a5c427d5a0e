"""The reference interpreter: every node computed in numpy, no OpenCL. The oracle."""
from __future__ import annotations

from typing import Any, Callable, Mapping, Optional, Sequence, Union

import numpy as np

from . import distributed
from .errors import ShapeError
from .graph import Op, Tensor, toposort
from .symbolic import numpy_function

Feed = Mapping[Tensor, Any]


def _maxmask(x: np.ndarray, axes: tuple) -> np.ndarray:
    rest = [a for a in range(x.ndim) if a not in axes]
    moved = np.transpose(x, rest + list(axes))
    flat = moved.reshape(moved.shape[:len(rest)] + (-1,))
    first = np.argmax(flat, axis=-1)
    onehot = np.zeros_like(flat)
    np.put_along_axis(onehot, first[..., None], 1, axis=-1)
    return np.transpose(onehot.reshape(moved.shape), np.argsort(rest + list(axes)))


def _allreduce(x: np.ndarray, op: str) -> np.ndarray:
    out = np.array(x, copy=True, order="C")   # combined in place through a flat view
    distributed.allreduce_arrays([out], op)
    return out


def _reduce(node: Tensor, x: np.ndarray) -> np.ndarray:
    kind, axes, _ = node.arg
    return (np.sum if kind == "sum" else np.max)(x, axis=axes, keepdims=node.ndim == x.ndim)


_IMPL: dict[Op, Callable[..., np.ndarray]] = {
    Op.CONST: lambda node: node.arg.array,
    Op.PARAMETER: lambda node: node.arg.read(),
    Op.EW: lambda node, *xs: numpy_function(node.arg, len(xs))(*xs),
    Op.RESHAPE: lambda node, x: x.reshape(node.shape),
    Op.PERMUTE: lambda node, x: np.transpose(x, node.arg),
    Op.BROADCAST: lambda node, x: np.broadcast_to(x, node.shape),
    Op.REDUCE: _reduce,
    Op.MATMUL: lambda node, a, b: np.matmul(a, b),
    Op.MAXMASK: lambda node, x: _maxmask(x, node.arg),
    Op.ALLREDUCE: lambda node, x: _allreduce(x, node.arg),
}


def evaluate(outputs: Union[Tensor, Sequence[Tensor]], feed: Optional[Feed] = None, *,
             dtype: Any = None) -> Union[np.ndarray, list[np.ndarray]]:
    """Compute ``outputs`` in numpy from ``feed`` ({placeholder: array}).

    Parameters take their current values unless ``feed`` gives others. ``dtype``
    (e.g. ``"float64"``) computes the whole graph in that precision instead of the
    graph's own, which is how ``check_grad`` gets accurate finite differences.
    """
    single = isinstance(outputs, Tensor)
    targets = [outputs] if single else list(outputs)
    feed = dict(feed or {})
    values: dict[int, np.ndarray] = {}
    with np.errstate(all="ignore"):
        for node in toposort(targets):
            want = np.dtype(dtype) if dtype is not None else node.dtype
            if node in feed:
                value = np.asarray(feed[node])
                if value.shape != node.shape:
                    raise ShapeError(f"evaluate: {node.name!r} fed an array of shape "
                                     f"{value.shape}, expected {node.shape}")
            elif node.op is Op.PLACEHOLDER:
                raise ValueError(f"evaluate: placeholder {node.name!r} needs a value in feed")
            else:
                value = _IMPL[node.op](node, *(values[id(s)] for s in node.src))
            values[id(node)] = np.broadcast_to(np.asarray(value, dtype=want), node.shape)
    results = [np.array(values[id(t)]) for t in targets]
    return results[0] if single else results
