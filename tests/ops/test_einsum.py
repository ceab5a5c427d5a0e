"""einsum, bmm and tensordot against numpy (values, hypothesis-drawn equations) and torch
(gradients), compiled and with gc.evaluate; errors of every misuse."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import graphc as gc

try:
    import torch
except ImportError:   # torch is an optional comparison
    torch = None

needs_torch = pytest.mark.skipif(torch is None, reason="torch is not installed")

CASES = [
    ("ij,jk->ik", [(3, 4), (4, 5)]),
    ("bij,bjk->bik", [(2, 3, 4), (2, 4, 5)]),
    ("bhqd,bhkd->bhqk", [(2, 3, 4, 5), (2, 3, 6, 5)]),     # attention's scores
    ("ii->i", [(4, 4)]),                                    # a diagonal
    ("ii", [(4, 4)]),                                       # a trace (implicit output)
    ("ij->", [(3, 4)]),
    ("ij->ji", [(3, 4)]),
    ("i,j->ij", [(3,), (4,)]),                              # an outer product
    ("i,i", [(5,), (5,)]),                                  # a dot
    ("...ij,...jk", [(2, 3, 4), (4, 5)]),                   # broadcast batch axes
    ("ijk,jil->kl", [(2, 3, 4), (3, 2, 5)]),
    ("ij,jk,kl->il", [(2, 3), (3, 4), (4, 5)]),             # three operands
    ("bi,i->b", [(3, 1), (4,)]),                            # a size-1 label broadcasts
    ("a b c, c d -> a d b", [(2, 3, 4), (4, 2)]),           # spaces
]


def _check(equation, shapes, dtype="float64", seed=0):
    rng = np.random.default_rng(seed)
    values = [rng.standard_normal(s).astype(dtype) for s in shapes]
    xs = [gc.placeholder(s, dtype) for s in shapes]
    y = gc.einsum(equation, *xs)
    want = np.einsum(equation, *values)
    weights = rng.standard_normal(want.shape).astype(dtype)
    cost = gc.sum(y * gc.constant(weights))
    grads = gc.grad(cost, xs)
    got = gc.compile(xs, [y] + grads)(*values)
    tol = 1e-4 if dtype == "float32" else 1e-12
    assert got[0].shape == want.shape
    np.testing.assert_allclose(got[0], want, rtol=tol, atol=tol)
    np.testing.assert_allclose(gc.evaluate(y, dict(zip(xs, values))), want, rtol=tol,
                               atol=tol)
    if torch is not None:
        ts = [torch.tensor(v, requires_grad=True) for v in values]
        (torch.einsum(equation.replace(" ", ""), *ts) * torch.tensor(weights)).sum().backward()
        for g, t in zip(got[1:], ts):
            np.testing.assert_allclose(g, t.grad.numpy(), rtol=tol, atol=tol)
    return y


@pytest.mark.parametrize("equation, shapes", CASES)
def test_einsum_matches_numpy_and_torch(equation, shapes):
    _check(equation, shapes)


@st.composite
def equations(draw):
    letters = "abcde"
    sizes = {c: draw(st.integers(1, 4)) for c in letters}
    count = draw(st.integers(1, 3))
    terms = [draw(st.lists(st.sampled_from(letters), min_size=1, max_size=3, unique=True))
             for _ in range(count)]
    used = sorted({c for t in terms for c in t})
    out = draw(st.lists(st.sampled_from(used), max_size=len(used), unique=True))
    equation = ",".join("".join(t) for t in terms) + "->" + "".join(out)
    return equation, [tuple(sizes[c] for c in t) for t in terms]


@settings(max_examples=15, deadline=None)
@given(equations(), st.sampled_from(["float32", "float64"]))
def test_random_equations_match_numpy(case, dtype):
    _check(*case, dtype=dtype)


def test_attention_scores_are_one_matmul():
    q, k = gc.placeholder((2, 3, 8, 16)), gc.placeholder((2, 3, 8, 16))
    fn = gc.compile([q, k], gc.einsum("bhqd,bhkd->bhqk", q, k))
    assert [kernel.kind for kernel in fn.kernels] == ["matmul"]


def test_bmm_and_tensordot_match_numpy():
    rng = np.random.default_rng(1)
    a, b = rng.standard_normal((3, 2, 4)), rng.standard_normal((3, 4, 5))
    pa, pb = gc.placeholder(a.shape, "float64"), gc.placeholder(b.shape, "float64")
    np.testing.assert_allclose(gc.evaluate(gc.bmm(pa, pb), {pa: a, pb: b}), a @ b)
    c = rng.standard_normal((4, 3, 5))
    pc = gc.placeholder(c.shape, "float64")
    for kwargs, numpy_axes in ((dict(dims=1), 1), (dict(axes=([0, 2], [1, 0])), ([0, 2], [1, 0])),
                               (dict(dims=0), 0)):
        other = c if numpy_axes != 1 else rng.standard_normal((4, 2))
        po = gc.placeholder(other.shape, "float64")
        got = gc.compile([pa, po], gc.tensordot(pa, po, **kwargs))(a, other)
        np.testing.assert_allclose(got, np.tensordot(a, other, numpy_axes), rtol=1e-12)


@pytest.mark.parametrize("call, error, match", [
    (lambda a, b: gc.einsum("ij,jk", a), ValueError, "operands"),
    (lambda a, b: gc.einsum("ijk,jk", a, b), ValueError, "does not fit"),
    (lambda a, b: gc.einsum("ij,jk->iz", a, b), ValueError, "no operand"),
    (lambda a, b: gc.einsum("ij,jk->ii", a, b), ValueError, "repeats"),
    (lambda a, b: gc.einsum("i1,jk", a, b), ValueError, "letters"),
    (lambda a, b: gc.einsum("ij,ij", a, b), gc.ShapeError, "sizes"),
    (lambda a, b: gc.einsum("ij,jk", a, b.double()), ValueError, "dtype"),
    (lambda a, b: gc.bmm(a, b), gc.ShapeError, "3-D"),
    (lambda a, b: gc.tensordot(a, b, dims=([1], [1])), gc.ShapeError, "differ"),
])
def test_misuse_is_a_clear_error(call, error, match):
    a, b = gc.placeholder((2, 3)), gc.placeholder((3, 4))
    with pytest.raises(error, match=match):
        call(a, b)
