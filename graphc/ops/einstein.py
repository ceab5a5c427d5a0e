"""einsum (numpy's and torch's), bmm and tensordot, written with matmul, views and sums.

``einsum`` contracts its operands left to right, two at a time. A pair's labels sort into
batch (in both, still needed), contracted (in both, needed no more), and each one's own;
each operand is permuted to (batch, own, contracted) and reshaped to 3-D, so the pair is
one batched matmul, and the result is reshaped and permuted to the labels asked for.
Labels used by one operand only and needed no more are summed out first; a label repeated
within one operand takes its diagonal (a product with an index mask, computed in the
kernel: no buffer). ``...`` stands for broadcast leading axes, as in numpy.
"""
from __future__ import annotations

import math
import string
from typing import Any

from ..errors import ShapeError
from ..graph import Tensor
from .contract import matmul
from .creation import iota
from .elementwise import as_tensor, eq, mul
from .views import broadcast_to, permute, reshape

__all__ = ["einsum", "bmm", "tensordot"]


def _parse(equation: str, operands: list) -> tuple:
    """(labels of each operand, labels of the output), with ``...`` spelled out as letters
    the equation does not use (right-aligned, as numpy broadcasts)."""
    equation = equation.replace(" ", "")
    inputs, arrow, output = equation.partition("->")
    terms = inputs.split(",")
    if len(terms) != len(operands):
        raise ValueError(f"einsum: the equation {equation!r} has {len(terms)} operands, "
                         f"{len(operands)} were given")
    for term in terms + ([output] if arrow else []):
        if term.count("...") > 1 or any(c not in string.ascii_letters
                                        for c in term.replace("...", "")):
            raise ValueError(f"einsum: term {term!r} must be letters with at most one "
                             "'...'")
    counts = [x.ndim - (len(t) - 3) if "..." in t else 0 for t, x in zip(terms, operands)]
    free = [c for c in string.ascii_letters if c not in equation]
    ellipsis = free[:max(counts)]
    labels = []
    for term, x, count in zip(terms, operands, counts):
        head, dots, tail = term.partition("...")
        if count < 0 or (not dots and len(term) != x.ndim):
            raise ValueError(f"einsum: term {term!r} does not fit an operand of shape "
                             f"{x.shape}")
        labels.append(list(head) + ellipsis[len(ellipsis) - count:] + list(tail))
    if arrow:
        out = list(output.replace("...", "".join(ellipsis)))
        for c in out:
            if not any(c in term for term in labels):
                raise ValueError(f"einsum: output label {c!r} is in no operand")
        if len(set(out)) != len(out):
            raise ValueError(f"einsum: output {output!r} repeats a label")
    else:             # numpy's implicit output: '...' first, then labels seen once, sorted
        seen = [c for term in labels for c in term]
        out = ellipsis + sorted(c for c in set(seen) if seen.count(c) == 1
                                and c not in ellipsis)
    return labels, out


def _sizes(labels: list, operands: list) -> dict:
    """Each label's size: equal wherever it appears, or 1 (broadcast)."""
    sizes: dict = {}
    for term, x in zip(labels, operands):
        for c, n in zip(term, x.shape):
            old = sizes.get(c, 1)
            if old != 1 and n != 1 and old != n:
                raise ShapeError(f"einsum: label {c!r} has sizes {old} and {n}; sizes "
                                 "of one label must agree (or be 1)")
            sizes[c] = n if old == 1 else old
    return sizes


def _diagonal(x: Tensor, term: list) -> tuple:
    """``x`` with each repeated label's diagonal taken: (tensor, labels)."""
    while len(set(term)) != len(term):
        c = next(c for c in term if term.count(c) > 1)
        a = term.index(c)
        b = term.index(c, a + 1)
        n = x.shape[a]
        shape = [1] * x.ndim
        shape[a] = n
        rows = reshape(iota(n, "int32"), tuple(shape))
        shape[a], shape[b] = 1, n
        cols = reshape(iota(n, "int32"), tuple(shape))
        x = mul(x, eq(rows, cols).astype(x.dtype)).sum(axis=b)
        term = term[:b] + term[b + 1:]
    return x, term


def _pair(a: Tensor, la: list, b: Tensor, lb: list, keep: set, sizes: dict) -> tuple:
    """The contraction of two operands, keeping the labels in ``keep``: (tensor, labels)."""
    batch = [c for c in la if c in lb and c in keep]
    contracted = [c for c in la if c in lb and c not in keep]
    own_a = [c for c in la if c not in lb]
    own_b = [c for c in lb if c not in la]

    def arrange(x, labels, order):
        x = permute(x, tuple(labels.index(c) for c in order))
        return broadcast_to(x, tuple(sizes[c] for c in order))
    a3 = arrange(a, la, batch + own_a + contracted)
    b3 = arrange(b, lb, batch + contracted + own_b)
    size = lambda cs: math.prod(sizes[c] for c in cs)  # noqa: E731
    nb, m, k, n = size(batch), size(own_a), size(contracted), size(own_b)
    product = matmul(reshape(a3, (nb, m, k)), reshape(b3, (nb, k, n)))
    labels = batch + own_a + own_b
    return reshape(product, tuple(sizes[c] for c in labels)), labels


def einsum(equation: str, *operands: Any) -> Tensor:
    """Einstein summation, numpy's and torch's: ``einsum("bij,bjk->bik", a, b)``;
    operands as arguments or as one list; ``...`` for broadcast leading axes; without
    ``->`` the output is the labels seen once, sorted."""
    if len(operands) == 1 and isinstance(operands[0], (list, tuple)):
        operands = tuple(operands[0])
    if not operands:
        raise ValueError("einsum: no operands")
    first = next((x for x in operands if isinstance(x, Tensor)), None)
    xs = [as_tensor(x, first, "einsum") for x in operands]
    dtype = xs[0].dtype
    if any(x.dtype != dtype for x in xs):
        raise ValueError(f"einsum: operands have dtypes {[str(x.dtype) for x in xs]}; "
                         "give them one dtype")
    labels, out = _parse(equation, xs)
    sizes = _sizes(labels, xs)
    terms = []
    for x, term in zip(xs, labels):
        x, term = _diagonal(x, term)
        terms.append((x, term))
    x, term = terms[0]
    for i, (y, other) in enumerate(terms[1:], 1):
        later = {c for _, t in terms[i + 1:] for c in t} | set(out)
        # a label only one side has and nothing later needs: summed out first
        x, term = _sum_out(x, term, set(other) | later)
        y, other = _sum_out(y, other, set(term) | later)
        x, term = _pair(x, term, y, other, later, sizes)
    x, term = _sum_out(x, term, set(out))
    x = permute(x, tuple(term.index(c) for c in out)) if term else x
    return broadcast_to(x, tuple(sizes[c] for c in out)) if out else x


def _sum_out(x: Tensor, term: list, needed: set) -> tuple:
    gone = tuple(i for i, c in enumerate(term) if c not in needed)
    if not gone:
        return x, term
    return x.sum(axis=gone), [c for c in term if c in needed]


def bmm(input: Any, mat2: Any) -> Tensor:  # noqa: A002 (torch's name)
    """torch.bmm: (b, n, m) @ (b, m, p), no broadcasting."""
    a, b = as_tensor(input), as_tensor(mat2)
    if a.ndim != 3 or b.ndim != 3 or a.shape[0] != b.shape[0]:
        raise ShapeError(f"bmm: expects two 3-D tensors of one batch size, got shapes "
                         f"{a.shape} and {b.shape}; use matmul to broadcast")
    return matmul(a, b)


def tensordot(a: Any, b: Any, dims: Any = 2, *, axes: Any = None) -> Tensor:
    """numpy's tensordot (``axes``) and torch's (``dims``): the last ``dims`` axes of
    ``a`` with the first of ``b``, or the axes of two lists."""
    a = as_tensor(a, b if isinstance(b, Tensor) else None, "tensordot")
    b = as_tensor(b, a, "tensordot")
    spec = dims if axes is None else axes
    if isinstance(spec, int):
        if spec < 0 or spec > min(a.ndim, b.ndim):
            raise ValueError(f"tensordot: dims={spec} for shapes {a.shape} and {b.shape}")
        pa, pb = list(range(a.ndim - spec, a.ndim)), list(range(spec))
    else:
        pa, pb = ([v] if isinstance(v, int) else list(v) for v in spec)
        if len(pa) != len(pb):
            raise ValueError(f"tensordot: {len(pa)} axes of a against {len(pb)} of b")
        pa, pb = [p % a.ndim for p in pa], [p % b.ndim for p in pb]
    letters = iter(string.ascii_lowercase)
    la = [next(letters) for _ in range(a.ndim)]
    lb = [next(letters) for _ in range(b.ndim)]
    for i, j in zip(pa, pb):
        if a.shape[i] != b.shape[j]:
            raise ShapeError(f"tensordot: axis {i} of a (size {a.shape[i]}) and axis {j} "
                             f"of b (size {b.shape[j]}) differ")
        lb[j] = la[i]
    out = [c for i, c in enumerate(la) if i not in pa] + [
        c for j, c in enumerate(lb) if j not in pb]
    return einsum(f"{''.join(la)},{''.join(lb)}->{''.join(out)}", a, b)
