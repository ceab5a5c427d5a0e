"""The reference interpreter: every node computed in numpy, no OpenCL. The oracle."""
from __future__ import annotations

from typing import Any, Mapping, Optional, Sequence, Union

import numpy as np

from . import shapes, specialize
from .dtypes import is_float
from .errors import ShapeError
from .graph import Op, Tensor, toposort
from .ops import random
from .ops.gathers import check_indices, index_checks
from .ops.registry import opdef

Feed = Mapping[Tensor, Any]


def evaluate(outputs: Union[Tensor, Sequence[Tensor]], feed: Optional[Feed] = None, *,
             dtype: Any = None) -> Union[np.ndarray, list[np.ndarray]]:
    """Compute ``outputs`` in numpy from ``feed`` ({placeholder: array}).

    Parameters take their current values unless ``feed`` gives others; random numbers are
    those of call 0 of the global seed (``gc.manual_seed``). ``dtype``
    (e.g. ``"float64"``) computes the whole graph in that precision instead of the
    graph's own, which is how ``check_grad`` gets accurate finite differences.
    """
    single = isinstance(outputs, Tensor)
    targets = [outputs] if single else list(outputs)
    feed = dict(feed or {})
    feed.setdefault(random.STATE, random.initial_state())   # call 0 of the global seed
    if specialize.is_symbolic(targets):      # None dimensions: sized by the fed arrays
        targets, feed = _specialized(targets, feed)
    values: dict[int, np.ndarray] = {}
    nodes = toposort(targets)
    check_indices(index_checks(nodes), {id(p): np.asarray(v) for p, v in feed.items()})
    with np.errstate(all="ignore"):
        for node in nodes:
            want = np.dtype(dtype) if dtype is not None and is_float(node.dtype) else node.dtype
            if node in feed:
                value = np.asarray(feed[node])
                if value.shape != node.shape:
                    raise ShapeError(f"evaluate: {node.name!r} fed an array of shape "
                                     f"{value.shape}, expected {node.shape}")
            elif node.op is Op.PLACEHOLDER:
                raise ValueError(f"evaluate: placeholder {node.name!r} needs a value in feed")
            else:
                value = opdef(node).impl(node, *(values[id(s)] for s in node.src))
            values[id(node)] = np.broadcast_to(np.asarray(value, dtype=want), node.shape)
    results = [np.array(values[id(t)]) for t in targets]
    return results[0] if single else results


def _specialized(targets: list, feed: dict) -> tuple[list, dict]:
    """The graph under ``targets`` and ``feed`` with the sizes the fed arrays give to
    its None dimensions."""
    for n in toposort(targets):
        if n.op is Op.PLACEHOLDER and n not in feed:
            raise ValueError(f"evaluate: placeholder {n.name!r} needs a value in feed")
    fed = [n for n in feed if not shapes.is_static(n.shape)]
    arrays = [np.asarray(feed[n]) for n in fed]
    try:
        sizes = specialize.bind(fed, [a.shape for a in arrays])
    except ValueError as e:
        raise ShapeError(f"evaluate: {e}") from None
    new = specialize.specialize(targets + list(feed), sizes)
    return ([new[id(t)] for t in targets],
            {new[id(n)]: np.asarray(v) for n, v in feed.items()})
