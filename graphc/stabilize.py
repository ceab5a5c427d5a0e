"""Stabilising rewrites, applied as nodes are built so that gradients are stable too.

A user who writes the naive formula gets the stable one:

- ``log(sum(exp(x)))``        -> logsumexp with the maximum subtracted;
- ``log(softmax(x))``         -> ``x - max - log(sum(exp(x - max)))`` (log-softmax);
- ``log(1 + exp(x))``         -> ``Softplus(x)`` = max(x, 0) + log1p(exp(-|x|));
- ``1 / (1 + exp(-x))``       -> ``Sigmoid(x)``;
- ``log(Sigmoid(x))``         -> ``-Softplus(-x)`` (torch's logsigmoid);
- ``log(1 - Sigmoid(x))``     -> ``-Softplus(x)``;
- ``log(1 + x)``, ``exp(x) - 1`` print as ``log1p``/``expm1`` (see the printer).

The elementwise rules look through the node's elementwise sources (their formulas are
inlined a few levels deep); when a rule fires, the new node reads the inlined sources.
"""
from __future__ import annotations

from typing import Optional, Sequence

import sympy as sp

from .graph import Op, Tensor
from .symbolic import Sigmoid, Softplus, operand, xreplace_ieee

_INLINE_DEPTH = 3
_w = sp.Wild("w")


def _inline(expr: sp.Expr, src: Sequence[Tensor], depth: int) -> tuple[sp.Expr, list]:
    """``expr`` with elementwise sources substituted in, over the remaining sources."""
    leaves: list[Tensor] = []
    mapping = {}

    def slot(t: Tensor) -> sp.Symbol:       # by identity: == on tensors is a comparison
        for k, leaf in enumerate(leaves):
            if leaf is t:
                return _slot(k)
        leaves.append(t)
        return _slot(len(leaves) - 1)

    for i, s in enumerate(src):
        if s.op is Op.EW and depth > 0:
            inner, inner_src = _inline(s.arg, s.src, depth - 1)
            shift = {operand(k): sp.Dummy() for k in range(len(inner_src))}
            inner = xreplace_ieee(inner, shift)
            for k, t in enumerate(inner_src):
                inner = xreplace_ieee(inner, {shift[operand(k)]: slot(t)})
            mapping[operand(i)] = inner
        else:
            mapping[operand(i)] = slot(s)
    expr = xreplace_ieee(expr, mapping)
    return xreplace_ieee(expr, {_slot(k): operand(k) for k in range(len(leaves))}), leaves


_SLOTS: dict[int, sp.Symbol] = {}


def _slot(k: int) -> sp.Symbol:
    if k not in _SLOTS:
        _SLOTS[k] = sp.Symbol(f"_slot{k}", real=True)
    return _SLOTS[k]


def _rules(expr: sp.Expr) -> sp.Expr:
    expr = expr.replace(lambda e: isinstance(e, sp.log) and e.args[0].has(sp.exp),
                        lambda e: _stable_log(e.args[0]))
    expr = expr.replace(1 / (1 + sp.exp(-_w)), Sigmoid(_w))
    # log of a logistic (the naive binary cross-entropy): 1 - Sigmoid(x) is Sigmoid(-x)
    expr = expr.replace(sp.log(1 - Sigmoid(_w)), -Softplus(_w))
    expr = expr.replace(sp.log(Sigmoid(_w)), -Softplus(-_w))
    return expr


def _stable_log(arg: sp.Expr) -> sp.Expr:
    """log(arg) with the exponentials taken out of it, by rules that hold for every real
    value (NaN where the original is NaN): log(exp(z) * r) = z + log(r) since exp(z) > 0,
    and log(s**k) = k*log(s) only for odd k; even powers and other factors stay inside."""
    if arg.is_Add and len(arg.args) == 2 and sp.S.One in arg.args:
        other = arg.args[0] if arg.args[1] == 1 else arg.args[1]
        if isinstance(other, sp.exp):
            return Softplus(other.args[0])
    if isinstance(arg, sp.exp):
        return arg.args[0]
    if not arg.is_Mul:
        return sp.log(arg)
    outside, inside = [], []
    for factor in arg.args:
        if isinstance(factor, sp.exp):
            outside.append(factor.args[0])
        elif factor.is_Pow and isinstance(factor.base, sp.exp):
            outside.append(factor.base.args[0] * factor.exp)
        elif (factor.is_Pow and factor.exp.is_Integer and int(factor.exp) % 2
                and not factor.base.is_Number):
            outside.append(factor.exp * sp.log(factor.base))
        else:
            inside.append(factor)
    if not outside:
        return sp.log(arg)
    rest = sp.Mul(*inside)
    return sp.Add(*outside) + (sp.log(rest) if rest != 1 else 0)


def stabilize(expr: sp.Expr, src: Sequence[Tensor]) -> Optional[tuple[sp.Expr, list]]:
    """A stable equivalent of the elementwise ``expr`` over ``src``, or None."""
    if not (expr.has(sp.log) or expr.has(sp.Pow)):
        return None
    inlined, leaves = _inline(expr, src, _INLINE_DEPTH)
    if not (inlined.has(sp.exp) or inlined.has(Sigmoid)):
        return None
    stable = _rules(inlined)
    if stable == inlined:
        return None
    return stable, leaves
