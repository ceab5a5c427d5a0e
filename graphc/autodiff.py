"""Reverse mode: ``grad`` walks the DAG backwards and adds the backward DAG to the graph.

Each op's vector-Jacobian product is declared with the op (``OpDef.vjp`` in
``graphc.ops``), returning one cotangent per source (``None`` where there is none).
Elementwise rules are not written by hand: they are ``sympy.diff`` of the op's scalar
form. Gradients are ordinary nodes, so grad of grad works.
"""
from __future__ import annotations

from typing import Optional, Sequence, Union

from . import inspect, ops, shapes
from .dtypes import is_float
from .errors import DTypeError, ShapeError
from .graph import Tensor, toposort
from .ops.registry import opdef


def grad(cost: Tensor, wrt: Union[Tensor, Sequence[Tensor]],
         grad_output: Optional[object] = None) -> Union[Tensor, list[Tensor]]:
    """Symbolic gradients of ``cost`` with respect to ``wrt``, as new graph nodes.

    Parameters
    ----------
    cost : Tensor
        A scalar (one element), or any tensor when ``grad_output`` is given.
    wrt : Tensor or sequence of Tensor
        Placeholders, parameters or intermediate tensors.
    grad_output : Tensor or array, optional
        The cotangent of ``cost`` (the vector of the vector-Jacobian product).

    Returns
    -------
    One Tensor when ``wrt`` is one Tensor, else a list, each of the shape of its ``wrt``.
    Tensors that ``cost`` does not depend on get a gradient of zeros.
    """
    if not isinstance(cost, Tensor):
        raise TypeError(f"grad: cost must be a graphc Tensor, got {type(cost).__name__}")
    single = isinstance(wrt, Tensor)
    if not single and not isinstance(wrt, (list, tuple)):
        raise TypeError(f"grad: wrt must be a graphc Tensor or a list of them, got "
                        f"{type(wrt).__name__} {wrt!r}")
    targets = [wrt] if single else list(wrt)
    for i, w in enumerate(targets):
        if not isinstance(w, Tensor):
            raise TypeError(f"grad: wrt[{i}] must be a graphc Tensor, got {type(w).__name__}")
    seed = _seed(cost, grad_output)

    order = toposort([cost])
    depends = set(map(id, targets))
    for node in order:
        if any(id(s) in depends for s in node.src):
            depends.add(id(node))
    cotangent: dict[int, Tensor] = {id(cost): seed}
    for node in reversed(order):
        g = cotangent.get(id(node))
        rule = opdef(node).vjp
        if g is None or rule is None or not is_float(node.dtype):
            continue                 # integers and bools have no gradient
        for src, contribution in zip(node.src, rule(node, g)):
            if contribution is None or id(src) not in depends:
                continue
            previous = cotangent.get(id(src))
            cotangent[id(src)] = contribution if previous is None else ops.add(previous,
                                                                              contribution)
    grads = [cotangent.get(id(w)) for w in targets]
    grads = [g if g is not None else
             ops.broadcast_to(ops.as_tensor(0.0, w if is_float(w.dtype) else None), w.shape)
             for g, w in zip(grads, targets)]
    forward = set(map(id, order))
    for node in toposort(grads):
        if id(node) not in forward:
            inspect.mark_backward(node)
    for g, w in zip(grads, targets):
        inspect.label_nodes([g], f"grad({inspect.label(cost, 1)}, {inspect.label(w, 1)})")
    return grads[0] if single else grads


def _seed(cost: Tensor, grad_output: Optional[object]) -> Tensor:
    if grad_output is None:
        if cost.numel() != 1:
            raise ShapeError(f"grad: cost has shape {cost.shape}, not a scalar; pass "
                             "grad_output= (the cotangent, of the same shape) or reduce it "
                             "first, e.g. with .sum()")
        return ops.broadcast_to(ops.as_tensor(1.0, cost), cost.shape)
    seed = ops.as_tensor(grad_output, cost, "grad_output")
    if not shapes.same(seed.shape, cost.shape):
        raise ShapeError(f"grad: grad_output has shape {seed.shape} but cost has shape "
                         f"{cost.shape}; they must be equal")
    if seed.dtype != cost.dtype:
        raise DTypeError(f"grad: grad_output has dtype {seed.dtype} but cost has dtype "
                         f"{cost.dtype}")
    return seed
