"""Creation functions against torch (values and dtypes), tril and triu with their
gradients, and what they cost: uniform constants and index leaves, never uploaded arrays;
a causal mask fused into the kernel that uses it."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import graphc as gc
from graphc.graph import Op

torch = pytest.importorskip("torch")


def _same(got, want):
    want = want.numpy()
    assert got.dtype == want.dtype, (got.dtype, want.dtype)
    np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-6)


CASES = [
    (lambda m: m.arange(5), {}), (lambda m: m.arange(2, 11, 3), {}),
    (lambda m: m.arange(10, 0, -3), {}), (lambda m: m.arange(0, 1, 0.1), {}),
    (lambda m: m.arange(-1.5, 2.5, 0.5), {}), (lambda m: m.arange(0.0, 3), {}),
    (lambda m: m.arange(4, dtype=m.float64), {}), (lambda m: m.arange(1, 6, dtype=m.int32), {}),
    (lambda m: m.linspace(-1, 1, 5), {}), (lambda m: m.linspace(0, 10, 7), {}),
    (lambda m: m.linspace(3, 3.5, 1), {}), (lambda m: m.linspace(1, 0, 4, dtype=m.float64), {}),
    (lambda m: m.zeros(2, 3), {}), (lambda m: m.ones((3,), dtype=m.int64), {}),
    (lambda m: m.full((2, 2), 7), {}), (lambda m: m.full((2,), 2.5), {}),
    (lambda m: m.full((3,), True), {}), (lambda m: m.eye(3), {}),
    (lambda m: m.eye(2, 4, dtype=m.int32), {}), (lambda m: m.eye(4, 2, dtype=m.bool), {}),
]


def _module(m):
    """graphc with torch's dtype names, so one lambda builds both."""
    if m is torch:
        return torch
    ns = type("gc", (), {})()
    for name in ("arange", "linspace", "zeros", "ones", "full", "eye"):
        setattr(ns, name, getattr(gc, name))
    for name in ("float64", "int32", "int64", "bool"):
        setattr(ns, name, name)
    return ns


def test_creation_matches_torch_compiled_and_evaluated():
    outs = [build(_module(gc)) for build, _ in CASES]
    compiled = gc.compile([], outs)()
    for (build, _), out, got in zip(CASES, outs, compiled):
        want = build(torch)
        _same(got, want)
        _same(gc.evaluate(out), want)


def test_like_functions_take_the_tensors_shape_and_dtype():
    x = gc.placeholder((2, 3), "int32")
    t = torch.zeros(2, 3, dtype=torch.int32)
    for got, want in [(gc.zeros_like(x), torch.zeros_like(t)),
                      (gc.ones_like(x, dtype="float32"), torch.ones_like(t, dtype=torch.float32)),
                      (gc.full_like(x, 4), torch.full_like(t, 4))]:
        assert got.shape == tuple(want.shape) and str(got.dtype) in str(want.dtype)
        _same(gc.evaluate(got), want)


@settings(max_examples=6)
@given(st.lists(st.integers(1, 4), min_size=2, max_size=3).map(tuple), st.integers(-3, 3),
       st.sampled_from(["float32", "float64"]))
def test_tril_triu_match_torch_forward_and_backward(shape, diagonal, dtype):
    rng = np.random.default_rng(len(shape) + diagonal)
    value = rng.standard_normal(shape).astype(dtype)
    w = rng.standard_normal(shape).astype(dtype)
    x = gc.placeholder(shape, dtype, name="x")
    lower, upper = gc.tril(x, diagonal), x.triu(diagonal)
    cost = gc.sum(lower * w) + gc.sum(upper * upper)
    g = gc.grad(cost, x)
    got = gc.evaluate([lower, upper, g], {x: value})
    t = torch.tensor(value, requires_grad=True)
    tl, tu = torch.tril(t, diagonal), t.triu(diagonal)
    ((tl * torch.from_numpy(w)).sum() + (tu * tu).sum()).backward()
    np.testing.assert_array_equal(got[0], tl.detach().numpy())
    np.testing.assert_array_equal(got[1], tu.detach().numpy())
    np.testing.assert_allclose(got[2], t.grad.numpy(), rtol=1e-6, atol=1e-6)
    if dtype == "float64":
        gc.check_grad(cost, x, {x: value})


def test_tril_compiled_and_of_integers_and_bools():
    a = np.arange(24, dtype=np.int64).reshape(2, 3, 4) - 10
    x = gc.placeholder(a.shape, "int64")
    m = gc.placeholder((3, 3), "bool")
    mv = np.ones((3, 3), bool)
    got = gc.compile([x, m], [gc.tril(x, -1), gc.triu(x, 2), gc.tril(m)])(a, mv)
    np.testing.assert_array_equal(got[0], np.tril(a, -1))
    np.testing.assert_array_equal(got[1], np.triu(a, 2))
    assert got[2].dtype == bool
    np.testing.assert_array_equal(got[2], np.tril(mv))


def test_nothing_proportional_to_the_size_is_uploaded():
    big = gc.zeros(4096, 4096)
    assert big.op is Op.CONST and big.arg.uniform == 0 and big.arg._data is None
    assert gc.full((1 << 14, 1 << 14), 3).arg._data is None
    x = gc.placeholder((64, 64), name="x")
    outs = [x + gc.ones(64, 64) * 2, x * gc.eye(64), gc.tril(x), x + gc.arange(64.0),
            x * gc.linspace(0, 1, 64)[:, None]]
    program = gc.lower(outs)
    assert program.consts == []      # no constant buffer at all: computed in the kernels
    want = gc.evaluate(outs, {x: np.ones((64, 64), np.float32)})
    got = gc.compile([x], outs)(np.ones((64, 64), np.float32))
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, rtol=1e-6)


def test_causal_mask_fuses_into_the_kernel_that_uses_it():
    """softmax(masked_fill(scores, ~causal, -inf)): the mask is index arithmetic inside the
    softmax's kernels: 3 kernels (max, sum, divide), as without a mask, and no bool
    buffer anywhere."""
    T = 8
    scores = gc.placeholder((2, 4, T, T), name="scores")
    causal = gc.arange(T)[:, None] >= gc.arange(T)[None, :]
    attention = gc.softmax(gc.masked_fill(scores, ~causal, float("-inf")), dim=-1)
    fn = gc.compile([scores], attention)
    assert len(fn.kernels) == len(gc.compile([scores], gc.softmax(scores, -1)).kernels) == 3
    assert "uchar" not in fn.source
    value = np.random.default_rng(0).standard_normal((2, 4, T, T)).astype(np.float32)
    t = torch.from_numpy(value).masked_fill(~torch.ones(T, T, dtype=torch.bool).tril(),
                                            float("-inf")).softmax(-1)
    np.testing.assert_allclose(fn(value), t.numpy(), rtol=1e-5, atol=1e-6)
    masked = gc.where(gc.tril(gc.ones(T, T)) > 0, scores, -1e9)
    assert len(gc.compile([scores], masked).kernels) == 1


def test_index_leaves_read_by_skeletons_and_as_outputs():
    """arange summed (a reduction computes it), multiplied (a matmul gets a copy), and
    returned as it is."""
    x = gc.placeholder((3, 4), name="x")
    r = gc.arange(12.0).reshape(3, 4)
    outs = [gc.arange(7), gc.arange(10).sum(), r.sum(1), x @ r.T, gc.arange(5)[::-2],
            gc.cat([gc.arange(3), gc.arange(2)])]
    value = np.ones((3, 4), np.float32)
    got = gc.compile([x], outs)(value)
    rn = np.arange(12.0, dtype=np.float32).reshape(3, 4)
    want = [np.arange(7), np.int64(45), rn.sum(1), value @ rn.T, np.arange(5)[::-2],
            np.array([0, 1, 2, 0, 1])]
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w)
        assert g.dtype == np.asarray(w).dtype


def test_creation_errors():
    with pytest.raises(ValueError, match="arange: step must be non-zero"):
        gc.arange(0, 5, 0)
    assert gc.arange(5, 0).shape == (0,)                 # empty, as torch's
    with pytest.raises(TypeError, match="arange: end must be a number"):
        gc.arange(0, "5")
    with pytest.raises(ValueError, match="linspace: steps must be a non-negative int"):
        gc.linspace(0, 1, -1)
    assert gc.linspace(0, 1, 0).shape == (0,)
    with pytest.raises(gc.ShapeError, match="tril: the input must have at least 2 dim"):
        gc.tril(gc.placeholder((3,)))
    with pytest.raises(TypeError, match="triu: diagonal must be an int"):
        gc.triu(gc.placeholder((3, 3)), 0.5)
    with pytest.raises(gc.ShapeError, match="zeros: a dimension cannot be negative"):
        gc.zeros(2, -1)
    with pytest.raises(gc.DTypeError, match="full.*float16"):
        gc.full((2,), 1, "float16")
