"""``specialize``: a graph over ``None`` dimensions made concrete, once a call gives them.

A graph built over ``gc.placeholder((None, 64))`` holds symbolic sizes (``shapes.Dim``)
in its shapes and op arguments, and ``SIZE`` nodes for numbers made from them (the
``1 / x.shape[0]`` of a mean). ``bind`` reads the sizes off a call's arrays;
``specialize`` rebuilds every node over those numbers through its op's builder
(``registry.rebuild``), so the result is the graph the user would have built with those
shapes: the builders' simplifications apply again, and their checks run again, now
decidable (a broadcast that took two None sizes to be equal raises where they differ).
Parameters and nodes without symbolic sizes below them are kept as they are.
"""
from __future__ import annotations

from typing import Any, Mapping, Sequence

import numpy as np

from . import graph, inspect, shapes
from .graph import Op, Tensor, toposort
from .ops import registry


def is_symbolic(roots: Sequence[Tensor]) -> bool:
    """Does the graph under ``roots`` hold a symbolic size (a placeholder with ``None``
    dimensions, or what was built over one: ``x - x`` is a broadcast zero of x's shape)?"""
    return any(n.op is Op.SIZE or not shapes.is_static(n.shape) for n in toposort(roots))


def bind(nodes: Sequence[Tensor], given: Sequence[tuple]) -> dict:
    """The symbolic sizes of ``nodes`` (placeholders, say) fed arrays of shapes ``given``.

    A ``ValueError`` names the node whose array disagrees with its known sizes."""
    sizes: dict = {}
    for node, shape in zip(nodes, given):
        shape = tuple(int(d) for d in shape)
        fits = len(shape) == node.ndim and all(
            (d == s) if shapes.is_static(d) else (not isinstance(d, shapes.Dim) or s > 0)
            for d, s in zip(node.shape, shape))
        for d, s in zip(node.shape, shape):
            if fits and isinstance(d, shapes.Dim):
                fits = sizes.setdefault(d, s) == s
        if not fits:
            raise ValueError(f"input {node.name!r}: expected shape "
                             f"{shapes.public(node.shape)}, got {shape}")
    return sizes


def specialize(roots: Sequence[Tensor], sizes: Mapping[Any, int]) -> dict:
    """Every node under ``roots`` rebuilt with the symbolic ``sizes`` given as numbers:
    ``{id(old node): new node}``. A ``ShapeError`` where the sizes do not fit the graph
    (sizes that it took to be equal differ, a slice falls outside its axis)."""
    new: dict[int, Tensor] = {}
    for n in toposort(roots):
        src = tuple(new[id(s)] for s in n.src)
        same = all(a is b for a, b in zip(src, n.src))
        if same and n.op is not Op.SIZE and shapes.is_static(n.shape) \
                and shapes.is_static(n.arg):
            new[id(n)] = n
            continue
        node = _rebuilt(n, src, sizes)
        if node is not n:        # keep the user's names and the backward marks
            if n.name is not None:
                inspect.label_nodes([node], n.name)
            if inspect.is_backward(n) and node.op not in graph.LEAVES:
                inspect.mark_backward(node)
        new[id(n)] = node
    return new


def _rebuilt(n: Tensor, src: tuple, sizes: Mapping[Any, int]) -> Tensor:
    what = f"{n.name or n.op.value}"
    if n.op is Op.SIZE:
        value = shapes.substitute(n.arg, sizes)
        return graph.constant(np.asarray(value, dtype=n.dtype), n.dtype)
    shape = shapes.concrete_shape(n.shape, sizes, what)
    arg = shapes.substitute(n.arg, sizes)
    if n.op is Op.PLACEHOLDER:       # the same input (its id), of this call's shape
        return Tensor(Op.PLACEHOLDER, (), shape, n.dtype, n.arg, n.name)
    direct = Tensor(n.op, src, shape, n.dtype, arg, n.name)
    rule = registry.opdef(n).rebuild
    return direct if rule is None else rule(direct, src)


def with_shapes(roots: Sequence[Tensor], given: Mapping[Tensor, tuple]) -> list:
    """``roots`` rebuilt for placeholders of the shapes ``given`` ({placeholder: shape}):
    the graph to lower or inspect for those shapes."""
    nodes = list(given)
    new = specialize(list(roots), bind(nodes, [given[n] for n in nodes]))
    return [new[id(r)] for r in roots]


def describe_call(nodes: Sequence[Tensor], given: Sequence[tuple], error: Exception) -> str:
    """A message for a call whose input shapes do not fit the graph's assumptions."""
    listed = ", ".join(f"{n.name!r} {tuple(s)}" for n, s in zip(nodes, given)
                       if not shapes.is_static(n.shape))
    return (f"the inputs' shapes ({listed}) do not fit the graph built over their None "
            f"dimensions: {error}")
