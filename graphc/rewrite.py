"""Graph rewrites: named passes from roots to new roots, run by ``compile`` before fusion.

Much simplification happens as nodes are built: hash-consing shares equal nodes (CSE),
``ew_node`` folds constants and lets sympy simplify each scalar form, and the view and
reduction builders collapse transposes of transposes, broadcasts of broadcasts and sums
of broadcasts. The passes here work on the whole joint forward+backward graph.
"""
from __future__ import annotations

import os
import sys
from typing import Callable, Optional

import numpy as np
import sympy as sp

from . import graph, inspect, kir, ops, schedule, shapes
from .dtypes import BOOL
from .graph import LEAVES, Op, Tensor, toposort
from .ops import registry
from .symbolic import Equal, Where, operand, xreplace_ieee


def rebuild(node: Tensor, src: tuple) -> Tensor:
    """``node`` with new sources, through its builder (so its simplifications apply)."""
    return registry.rebuild(node, src)


def substitute(roots: list, rule: Callable[[Tensor, tuple, dict], Tensor | None]) -> list:
    """Rebuild the graph under ``roots`` bottom-up. ``rule(node, src, uses)`` sees each
    original node, its rewritten sources (aligned with ``node.src``) and the number of
    consumers of every original node; it returns a replacement, or None to rebuild as is."""
    order = toposort(roots)
    uses: dict[int, int] = {id(r): 1 for r in roots}
    for n in order:
        for s in n.src:
            uses[id(s)] = uses.get(id(s), 0) + 1
    new: dict[int, Tensor] = {}
    for n in order:
        src = tuple(new[id(s)] for s in n.src)
        replacement = rule(n, src, uses)
        replacement = replacement if replacement is not None else rebuild(n, src)
        if replacement is not n:      # keep the user's names and the backward marks
            if n.name is not None:
                inspect.label_nodes([replacement], n.name)
            if inspect.is_backward(n) and replacement.op not in LEAVES:
                inspect.mark_backward(replacement)
        new[id(n)] = replacement
    return [new[id(r)] for r in roots]


# merge_elementwise builds no formula with more operations than this: a deep chain stays a
# chain of nodes (still one kernel, and shared values are shared by the kernel IR), so that
# sympy never works on, nor recurses through, a formula of the whole chain
MERGE_MAX_OPS = 40
# a mask of inputs alone with at most this many operations (a label's one-hot match, a
# causal mask), or a broadcast of one, is recomputed by each consumer rather than stored
# for them all
RECOMPUTE_MAX_OPS = 6


def merge_elementwise(roots: list) -> list:
    """Substitute an elementwise node into its only consumer, so sympy simplifies across
    what were two ops (``--x``, ``log(exp(x))``, ``x * 1 * 2``), while the merged formula
    has at most ``MERGE_MAX_OPS`` operations and computes in the dtype both did (an
    integer sum inside a float formula would be computed in floats). A small mask that
    compares inputs alone is substituted into every consumer, through a broadcast too:
    comparing its inputs again costs less than a kernel that stores it and a buffer that
    holds it (a comparison of two integers is made in their own dtype wherever it is).
    So is a small float formula of scalars (``1 / n``, a learning rate times a bias
    correction): a kernel of one element that every consumer waited for costs more than
    each consumer's few operations on numbers it reads anyway."""
    def rule(node: Tensor, src: tuple, uses: dict):
        if node.op is not Op.EW:
            return None
        src = tuple(_recomputed(s) for s in src)
        expr, merged = node.arg, list(src)
        computes = _computes(node.dtype, src)
        for i, (old, s) in enumerate(zip(node.src, src)):
            others = [t for t in merged if t is not s] + list(s.src)
            alike = (uses[id(old)] == 1 and _computes(s.dtype, s.src) == computes
                     == _computes(node.dtype, others))
            scalar = _of_scalars(s) and _computes(s.dtype, s.src) == computes
            if s.op is Op.EW and (alike or scalar or _cheap_of_inputs(s)):
                shift = len(merged)
                inner = xreplace_ieee(s.arg, {operand(k): operand(shift + k)
                                              for k in range(len(s.src))})
                candidate = xreplace_ieee(expr, {operand(i): inner}, computes)
                if sp.count_ops(candidate) > MERGE_MAX_OPS:
                    continue
                expr = candidate
                merged.extend(s.src)
        return ops.ew_node(expr, merged, node.shape, node.dtype)
    return substitute(roots, rule)


def _computes(dtype: np.dtype, src) -> np.dtype:
    return kir.compute_dtype(dtype, [t.dtype for t in src])


def _reads_input(t: Tensor) -> bool:
    while registry.is_view(t):
        t = t.src[0]
    return t.op in LEAVES


_RELATIONS = ("Equal", "NotEqual", "Greater", "GreaterEqual")
_LOGICAL = ("Mul", "Maximum", "Minimum")      # and, or of 0/1 values


def _cheap_of_inputs(node: Tensor) -> bool:
    """Is ``node`` a small mask of comparisons of inputs (no arithmetic on them), which a
    consumer of any compute dtype can make again exactly?"""
    def plain(e: sp.Basic) -> bool:
        name = type(e).__name__
        if name in _RELATIONS:
            return all(a.is_Symbol or a.is_Number for a in e.args)
        return name in _LOGICAL and all(plain(a) for a in e.args)
    return (node.op is Op.EW and node.dtype == BOOL
            and all(_reads_input(s) for s in node.src)
            and sp.count_ops(node.arg) <= RECOMPUTE_MAX_OPS and plain(node.arg))


def _of_scalars(node: Tensor) -> bool:
    """Is ``node`` a small float formula of values of one element each (views of them)?"""
    def scalar(t: Tensor) -> bool:
        while registry.is_view(t):
            t = t.src[0]
        return shapes.is_static(t.shape) and t.numel() == 1
    return (node.op is Op.EW and node.dtype.kind == "f" and all(scalar(s) for s in node.src)
            and sp.count_ops(node.arg) <= RECOMPUTE_MAX_OPS)


_MOVES = {Op.RESHAPE: lambda t, v: ops.reshape(t, v.shape),
          Op.BROADCAST: lambda t, v: ops.broadcast_to(t, v.shape),
          Op.PERMUTE: lambda t, v: ops.permute(t, v.arg),
          Op.SHRINK: lambda t, v: ops.shrink(t, v.arg)}


def _recomputed(t: Tensor) -> Tensor:
    """A view (broadcast, reshape, permute, slice) of a small mask of inputs, or of a small
    formula of scalars, as that formula over the viewed sources (``broadcast(labels !=
    -100)`` -> ``broadcast(labels) != -100``): each consumer computes it itself; else
    ``t``. (The formula's sources all have its shape, so every view of it is a view of
    each of them.)"""
    chain, inner = [], t
    while inner.op in _MOVES:
        chain.append(inner)
        inner = inner.src[0]
    if not chain or not (_cheap_of_inputs(inner) or _of_scalars(inner)):
        return t
    src = list(inner.src)
    for view in reversed(chain):
        src = [_MOVES[view.op](s, view) for s in src]
    return ops.ew_node(inner.arg, src, t.shape, inner.dtype)


# A reduction runs one work-group per output: with few outputs and many inputs, a few
# work-groups would do all the work (the MLP's loss, 2M elements into 1, took 0.48 ms of a
# 3.2 ms step on a GPU). Such a reduction over several axes becomes two: the trailing axes
# first (many outputs, the prologue fused in), then the leading ones.
SPLIT_MIN_INPUTS = 1 << 15
SPLIT_MAX_OUTPUTS = 64
SPLIT_MIN_INNER = 32
ROWS_FIRST_MIN = 1 << 12     # a rows-first split pays for its second launch from here


def split_reductions(roots: list) -> list:
    """``reduce(x, axes)`` with at least ``SPLIT_MIN_INPUTS`` elements per output and at
    most ``SPLIT_MAX_OUTPUTS`` outputs -> ``reduce(reduce(x, inner, keepdims), axes)``:
    ``inner`` the trailing axes of ``axes`` whose size is nearest the square root of the
    reduced size (and at least ``SPLIT_MIN_INNER``), so both stages have work to share.
    Over axes that end the shape past a kept axis (``_rows_first``), the trailing ones go
    first whatever the sizes."""
    def rule(node: Tensor, src: tuple, uses: dict):
        if node.op is not Op.REDUCE or len(node.arg[1]) < 2:
            return None
        kind, axes, differentiable = node.arg
        (x,) = src
        if not shapes.is_static(x.shape):
            return None
        inner = _rows_first(x.shape, axes)
        if inner is None:
            reduced = int(np.prod([x.shape[a] for a in axes]))
            if reduced < SPLIT_MIN_INPUTS or node.numel() > SPLIT_MAX_OUTPUTS:
                return None
            # the trailing axes whose size is nearest the square root of the reduced size
            best = None
            for k in range(1, len(axes)):
                count = int(np.prod([x.shape[a] for a in axes[k:]]))
                score = abs(np.log(count) - np.log(reduced) / 2)
                if count >= SPLIT_MIN_INNER and (best is None or score < best[0]):
                    best = (score, axes[k:])
            if best is None:
                return None
            inner = best[1]
        first = Tensor(Op.REDUCE, (x,), tuple(1 if i in inner else d for i, d in
                                               enumerate(x.shape)), x.dtype,
                       (kind, tuple(inner), differentiable))
        outer = tuple(a for a in axes if a not in inner)
        kept = tuple(1 if i in outer else d for i, d in enumerate(first.shape))
        shape = kept if node.ndim == x.ndim else tuple(
            d for i, d in enumerate(first.shape) if i not in axes)
        second = Tensor(Op.REDUCE, (first,), shape, x.dtype, (kind, outer, differentiable))
        return second if shape == node.shape else ops.reshape(second, node.shape)
    return substitute(roots, rule)


def _rows_first(shape: tuple, axes: tuple):
    """The reduced axes that end ``shape`` where a kept axis lies before them (a batch
    norm's ``(0, 2, 3)`` of NCHW): those first, along contiguous rows, then the rest;
    reading across the kept axis at every step is several times slower. None otherwise,
    or where the rows are short or the whole is small."""
    trailing = []
    for a in reversed(range(len(shape))):
        if a not in axes:
            break
        trailing.insert(0, a)
    if not trailing or len(trailing) == len(axes):
        return None
    rows = int(np.prod([shape[a] for a in trailing]))
    reduced = int(np.prod([shape[a] for a in axes]))
    return tuple(trailing) if rows >= SPLIT_MIN_INNER and reduced >= ROWS_FIRST_MIN \
        else None


# An elementwise node this small is recomputed in a view's index space rather than read
# from a buffer of its own (2 * u[1:-1, 1:-1], read by both terms of a stencil)
PUSH_MAX_OPS = 6
PUSH_DEPTH = 4


def views_into_elementwise(roots: list) -> list:
    """A slice, a pad or a reshape that only adds or drops size-1 axes (``unsqueeze``) of
    an elementwise node becomes the node computed in the view's own index space, over
    viewed sources: ``pad(f(a, b))`` -> ``where(pad(ones), f(pad(a), pad(b)), fill)``.
    The view is then read in place by the consumer's kernel instead of through a buffer
    that the producer writes first (a heat-equation step, its slices put back with pad:
    one kernel, not two; ``stack`` of computed pieces: one kernel). The node must have no other
    consumer, or be small enough to compute twice; small elementwise sources are pushed
    through as well."""
    def small(t: Tensor) -> bool:
        return t.op is Op.EW and sp.count_ops(t.arg) <= PUSH_MAX_OPS

    def moved(view: Tensor, t: Tensor, depth: int) -> Tensor:
        if depth > 0 and small(t) and (view.op is not Op.RESHAPE
                                       or all(s.shape == t.shape for s in t.src)):
            return ops.ew_node(t.arg, [moved(view, s, depth - 1) for s in t.src],
                               view.shape, t.dtype)
        if view.op is Op.SHRINK:
            return ops.shrink(t, view.arg)
        if view.op is Op.RESHAPE:
            return ops.reshape(t, view.shape)
        return ops.pad_constant(t, view.arg[0], 0.0)  # the top level masks the pad

    def unit_axes_only(node: Tensor, inner: Tensor) -> bool:
        """Does reshape ``node`` of ``inner`` only add or drop size-1 axes? (Any view
        of an elementwise node's sources, all of its shape, then stays a strided view.)"""
        return ([d for d in node.shape if d != 1] == [d for d in inner.shape if d != 1]
                and all(s.shape == inner.shape for s in inner.src))

    def rule(node: Tensor, src: tuple, uses: dict):
        if node.op not in (Op.SHRINK, Op.PAD, Op.RESHAPE):
            return None
        (inner,) = src
        if inner.op is not Op.EW or not (uses[id(node.src[0])] == 1 or small(inner)):
            return None
        if node.op is Op.RESHAPE and not unit_axes_only(node, inner):
            return None
        pushed = [moved(node, s, PUSH_DEPTH) for s in inner.src]
        if node.op in (Op.SHRINK, Op.RESHAPE):
            return ops.ew_node(inner.arg, pushed, node.shape, inner.dtype)
        widths, fill = node.arg
        # where the pad reads nothing the sources read 0: the mask says which is which
        ones = graph.constant(np.ones(inner.shape, inner.dtype), inner.dtype)
        mask = ops.pad_constant(ones, widths, 0.0)
        expr = Where(operand(len(pushed)), inner.arg, sp.Float(fill) if fill == fill else sp.nan)
        return ops.ew_node(expr, pushed + [mask], node.shape, inner.dtype)
    return substitute(roots, rule)


def elementwise_in_anchor_space(roots: list) -> list:
    """An elementwise node that reads a matmul (or an elementwise node) through a reshape
    that merges or splits axes becomes the node computed in the matmul's own shape, its
    other sources reshaped to it, and is reshaped after: ``relu(reshape(w @ cols) + b)``
    -> ``reshape(relu(w @ cols + reshape(b)))``. It then runs in the matmul's epilogue
    (a convolution's bias and activation: one kernel, not two). Only where every other
    source's reshape is still a strided view, so that nothing is copied for it."""
    def anchor_of(src: tuple):
        for s in src:
            if (s.op is Op.RESHAPE and s.src[0].op in (Op.MATMUL, Op.EW)
                    and shapes.is_static(s.shape)
                    and [d for d in s.shape if d != 1]
                    != [d for d in s.src[0].shape if d != 1]):
                return s.src[0]
        return None

    def rule(node: Tensor, src: tuple, uses: dict):
        if node.op is not Op.EW:
            return None
        anchor = anchor_of(src)
        if anchor is None:
            return None
        moved = []
        for s in src:
            if s.op is Op.RESHAPE and s.src[0] is anchor:
                moved.append(anchor)
                continue
            r = ops.reshape(s, anchor.shape)
            if schedule.resolve(r, {})[1] is None:
                return None
            moved.append(r)
        return ops.reshape(ops.ew_node(node.arg, moved, anchor.shape, node.dtype), node.shape)
    return substitute(roots, rule)


def index_masks_in_place(roots: list) -> list:
    """A broadcast of an elementwise node that reads only index leaves and constants (a
    causal mask ``arange(T)[:, None] >= arange(T)[None, :]``, broadcast over the batch and
    heads it masks) becomes the node computed in the broadcast's own index space: it
    reads no buffer, so computing it per element costs less than writing it once and
    reading it back, and the consumer's kernel computes it in place."""
    def index_only(t: Tensor, depth: int = PUSH_DEPTH) -> bool:
        while registry.is_view(t):
            t = t.src[0]
        if t.op in (Op.IOTA, Op.CONST):
            return t.op is Op.IOTA or t.arg.uniform is not None
        return (t.op is Op.EW and depth > 0 and sp.count_ops(t.arg) <= PUSH_MAX_OPS
                and all(index_only(s, depth - 1) for s in t.src))

    def spread(t: Tensor, shape: tuple) -> Tensor:
        if t.op is Op.EW:
            return ops.ew_node(t.arg, [spread(s, shape) for s in t.src], shape, t.dtype)
        return ops.broadcast_to(t, shape)

    def rule(node: Tensor, src: tuple, uses: dict):
        if node.op is not Op.BROADCAST or src[0].op is not Op.EW or not index_only(src[0]):
            return None
        return spread(src[0], node.shape)
    return substitute(roots, rule)


# Merged contractions longer than this stay batched products and a sum: a ResNet block's
# weight gradient, (64, 32*3136) @ (32*3136, 576), ran at 70 GFLOP/s as one product (its
# tiles re-read the whole operands from memory) against ~200 as 32 products of K = 3136
BATCH_SUM_MAX_K = 1 << 14


def batch_sums_into_matmul(roots: list) -> list:
    """A sum over batch axes of a batched matmul is one matmul whose contraction runs over
    those axes too: ``sum_b P_b @ Q_b = [P_0 | P_1 | ...] @ [Q_0; Q_1; ...]``. The weight
    gradient of ``x (B, T, D) @ w (D, E)`` was B products of (D, T) @ (T, E) and then a
    sum over B; it is one product of K = B*T, (D, B*T) @ (B*T, E). For ``x`` in rows
    both merged operands are views (``x``'s rows, transposed, and the incoming gradient's
    rows); otherwise the matmul kernel reads one copy of them. The matmul must have no
    other consumer, and the merged contraction at most ``BATCH_SUM_MAX_K`` long."""
    def rule(node: Tensor, src: tuple, uses: dict):
        if node.op is not Op.REDUCE or node.arg[0] != "sum":
            return None
        (m,) = src
        axes = node.arg[1]
        if (m.op is not Op.MATMUL or uses[id(node.src[0])] != 1
                or not all(a < m.ndim - 2 for a in axes)
                or not shapes.is_static(m.shape)):
            return None
        merged = m.src[0].shape[-1] * int(np.prod([m.shape[a] for a in axes]))
        if merged > BATCH_SUM_MAX_K:
            return None
        return ops.reshape(_contract_batch(*m.src, axes), node.shape)
    return substitute(roots, rule)


def _contract_batch(p: Tensor, q: Tensor, axes: tuple) -> Tensor:
    """``sum(p @ q, axes)`` of batched ``p`` (..., M, K) and ``q`` (..., K, N), ``axes``
    among the batch axes, as one matmul: the summed axes moved next to K and merged with
    it (the kept batch axes stay a batch)."""
    n = p.ndim - 2
    kept = [a for a in range(n) if a not in axes]
    rows = ops.permute(p, tuple(kept) + (n,) + tuple(axes) + (n + 1,))
    cols = ops.permute(q, tuple(kept) + tuple(axes) + (n, n + 1))
    batch = tuple(p.shape[a] for a in kept)
    rows = ops.reshape(rows, batch + (p.shape[-2], -1))
    cols = ops.reshape(cols, batch + (-1, q.shape[-1]))
    return ops.matmul(rows, cols)


def shared_matrices_into_rows(roots: list) -> list:
    """A batched matmul whose second operand is one matrix broadcast over the batch is one
    2-D matmul over the rows of every batch item: ``x (B, T, D) @ w (D, E)`` is ``(B*T, D)
    @ (D, E)`` reshaped, and so is its input gradient ``g @ w.T``. One product of M = B*T
    is tiled (and, on a CPU, reads ``w`` from panels) as a whole, rather than B products
    of T rows each re-reading ``w``. The first operand must be a batch of its own (a
    broadcast one would be copied whole)."""
    def rule(node: Tensor, src: tuple, uses: dict):
        if node.op is not Op.MATMUL or node.ndim < 3 or not shapes.is_static(node.shape):
            return None
        a, b = src
        shared = _shared_matrix(b)
        if shared is None or a.op is Op.BROADCAST:
            return None
        rows = ops.matmul(ops.reshape(a, (-1, a.shape[-1])), shared)
        return ops.reshape(rows, node.shape)
    return substitute(roots, rule)


def _shared_matrix(b: Tensor) -> Optional[Tensor]:
    """The one matrix that batched operand ``b`` broadcasts over its batch axes (also
    with its last two axes swapped after the broadcast: a gradient's ``w.T``), or None."""
    swap = tuple(range(b.ndim - 2)) + (b.ndim - 1, b.ndim - 2)
    swapped = b.op is Op.PERMUTE and b.arg == swap
    inner = b.src[0] if swapped else b
    if inner.op is not Op.BROADCAST:
        return None
    (shared,) = inner.src
    if any(d != 1 for d in shared.shape[:-2]) or shared.shape[-2:] != inner.shape[-2:]:
        return None
    shared = ops.reshape(shared, shared.shape[-2:])
    return ops.transpose(shared) if swapped else shared


# A float power whose exponent comes from a constant array of at most this many distinct
# values, each giving an integer exponent of at most this size, is a select over them
POWER_MAX_DISTINCT = 8
POWER_MAX_EXPONENT = 16


def integer_powers(roots: list) -> list:
    """``x ** c`` for a constant array ``c`` whose distinct values give a few small integer
    exponents (``x ** constant([1., 2., 3.])``, and its gradient's ``x ** (c - 1)``)
    becomes a select over those values, each branch an integer power that the kernel IR
    writes as products: ``where(c == 1, x, where(c == 2, x*x, x*x*x))``. A generic
    ``pow`` per element cost ~150 times ``x ** 3.0`` on PoCL. Each branch gives np.power's
    result for its integral exponent: negative bases, ``0 ** 0 == nan ** 0 == 1``, inf."""
    def rule(node: Tensor, src: tuple, uses: dict):
        if node.op is not Op.EW or node.dtype.kind != "f":
            return None
        expr = node.arg
        exponents = set().union(*(p.exp.free_symbols for p in expr.atoms(sp.Pow)))
        for k, s in enumerate(src):
            values = _constant_values(s) if operand(k) in exponents else None
            if values is not None:
                expr = _select_powers(expr, operand(k), values)
        return None if expr is node.arg else ops.ew_node(expr, src, node.shape, node.dtype)
    return substitute(roots, rule)


def _constant_values(t: Tensor):
    """The distinct values of ``t`` if it is a constant array read through moves (a pad
    would add its fill) with at most ``POWER_MAX_DISTINCT`` of them, else None."""
    while t.op in _MOVES:
        t = t.src[0]
    if t.op is not Op.CONST or t.arg.uniform is not None:
        return None
    values = np.unique(t.arg.array)
    return values if len(values) <= POWER_MAX_DISTINCT else None


def _select_powers(expr: sp.Expr, symbol: sp.Symbol, values: np.ndarray) -> sp.Expr:
    """``expr`` with every power whose exponent is a formula of ``symbol`` alone, integral
    and small at each of ``values``, as a select over ``values`` (``expr`` itself if none)."""
    replace = {}
    for p in expr.atoms(sp.Pow):
        base, ex = p.args
        if ex.free_symbols != {symbol}:
            continue
        exponents = [ex.xreplace({symbol: sp.Float(v)}) for v in values.tolist()]
        if not all(e.is_Number and e.is_finite and float(e) == int(e)
                   and abs(int(e)) <= POWER_MAX_EXPONENT for e in exponents):
            continue
        select = base ** int(exponents[-1])
        for v, e in zip(values[-2::-1].tolist(), exponents[-2::-1]):
            select = Where(Equal(symbol, sp.Float(v)), base ** int(e), select)
        replace[p] = select
    return expr.xreplace(replace) if replace else expr


# (name, pass, is a fusion: skipped when compiling with fuse=False). Dead code needs no pass:
# every stage walks the graph from the roots, so a node nothing asks for is never reached.
PASSES = [
    ("merge_elementwise", merge_elementwise, True),
    ("integer_powers", integer_powers, False),
    ("batch_sums_into_matmul", batch_sums_into_matmul, True),
    ("shared_matrices_into_rows", shared_matrices_into_rows, True),
    ("views_into_elementwise", views_into_elementwise, True),
    ("index_masks_in_place", index_masks_in_place, True),
    ("elementwise_in_anchor_space", elementwise_in_anchor_space, True),
    ("split_reductions", split_reductions, True),
]


def run_passes(roots: list, fuse: bool = True) -> list:
    """Every pass of ``PASSES`` in order; ``GRAPHC_DEBUG>=4`` prints the graph after each."""
    debug = int(os.environ.get("GRAPHC_DEBUG", "0") or 0)
    for name, rewrite, fusing in PASSES:
        if fusing and not fuse:
            continue
        roots = rewrite(roots)
        if debug >= 4:
            print(f"graphc: after {name}:\n{format_graph(roots)}", file=sys.stderr)
    return roots


def format_graph(roots: list) -> str:
    """A let-style listing of the graph, one node per line, inputs first."""
    names: dict[int, str] = {}
    lines = []
    for i, n in enumerate(toposort(roots)):
        names[id(n)] = n.name if n.op in (Op.PLACEHOLDER, Op.PARAMETER) else f"%{i}"
        if n.op in (Op.PLACEHOLDER, Op.PARAMETER):
            detail = n.op.value
        elif n.op is Op.EW:
            detail = str(n.arg.xreplace({operand(k): sp.Symbol(names[id(s)])
                                         for k, s in enumerate(n.src)}))
        else:
            args = ", ".join(names[id(s)] for s in n.src)
            detail = f"{n.op.value}({args}{', ' + str(n.arg) if n.arg is not None else ''})"
        lines.append(f"  {names[id(n)]}: {n.dtype}{list(n.shape)} = {detail}")
    outs = ", ".join(names[id(r)] for r in roots)
    return "\n".join(lines + [f"  -> {outs}"])
