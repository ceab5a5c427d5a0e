"""``x ** c`` for a constant array ``c`` of a few small integers: a select over integer
powers (products), not a generic ``pow`` per element, with np.power's results."""
from __future__ import annotations

import numpy as np
import pytest
import sympy as sp
from hypothesis import given, strategies as st

import graphc as gc
from graphc.rewrite import POWER_MAX_DISTINCT, integer_powers

SPECIAL = [0.0, -0.0, 1.0, -1.0, -2.5, 3.0, 1e-3, np.inf, -np.inf, np.nan]


def compiled(outputs, feed):
    inputs = list(feed)
    fn = gc.compile(inputs, outputs)
    return fn, fn(*feed.values())


def test_a_constant_of_small_integers_becomes_products():
    x = gc.placeholder((5, 3), name="x")
    (out,) = integer_powers([x ** gc.constant([1.0, 2.0, 3.0], "float32")])
    assert "Where" in str(out.arg)
    assert all(p.exp.is_Integer for p in out.arg.atoms(sp.Pow))
    fn = gc.compile([x], [x ** gc.constant([1.0, 2.0, 3.0], "float32")])
    assert "pow(" not in fn.source and len(fn.kernels) == 1


@pytest.mark.parametrize("exponents", [[1.0, 2.0, 3.0], [0.0, -1.0, 2.0, -3.0],
                                       [4.0, 5.0, -16.0, 16.0], [2.0, 2.0, -2.0]])
def test_values_equal_numpy_with_negative_bases_and_specials(dtype, exponents):
    c = np.array(exponents, dtype)
    base = np.array(SPECIAL, dtype)[:, None] * np.ones(len(c), dtype)
    x = gc.placeholder(base.shape, dtype, name="x")
    out = x ** gc.constant(c, dtype)
    fn, (got,) = compiled([out], {x: base})
    assert "pow(" not in fn.source
    with np.errstate(all="ignore"):
        expected = np.power(base, c)
    rtol = 1e-6 if dtype == np.float32 else 1e-13
    np.testing.assert_allclose(got, expected, rtol=rtol, atol=0)
    np.testing.assert_allclose(got, gc.evaluate(out, {x: base}), rtol=rtol, atol=0)


def test_exponents_that_are_not_small_integers_keep_pow():
    for c in ([0.5, 2.0], [2.0, 17.0], list(range(POWER_MAX_DISTINCT + 1))):
        y = gc.placeholder((4, len(c)), name="y")
        out = y ** gc.constant(np.array(c, np.float32))
        (kept,) = integer_powers([out])
        assert kept is out
        data = np.random.default_rng(1).uniform(0.5, 2.0, y.shape).astype(np.float32)
        fn, (got,) = compiled([out], {y: data})
        assert "pow(" in fn.source
        np.testing.assert_allclose(got, np.power(data, np.float32(c)), rtol=1e-6)


def test_the_gradient_equals_torch_and_central_differences():
    torch = pytest.importorskip("torch")
    c = np.array([0.0, 1.0, 2.0, 3.0, -1.0], np.float64)
    data = np.random.default_rng(2).uniform(0.5, 2.0, (6, 5)) * np.array([1, -1, 1, -1, 1])
    x = gc.parameter(data, name="x")
    loss = (x ** gc.constant(c)).sum()
    g = gc.grad(loss, x)
    fn = gc.compile([], [loss, g])
    got_loss, got_g = fn()
    assert "pow(" not in fn.source
    xt = torch.tensor(data, requires_grad=True)
    lt = (xt ** torch.tensor(c)).sum()
    lt.backward()
    np.testing.assert_allclose(got_loss, lt.item(), rtol=1e-12)
    np.testing.assert_allclose(got_g, xt.grad.numpy(), rtol=1e-12)
    gc.check_grad(loss, [x])


def test_a_broadcast_constant_stays_its_own_size_on_the_device():
    x = gc.placeholder((1024, 3), name="x")
    fn = gc.compile([x], [x ** gc.constant([1.0, 2.0, 3.0], "float32")])
    assert fn.device_bytes <= 2 * x.numel() * 4 + 64


@given(rows=st.integers(1, 9), exponents=st.lists(st.integers(-4, 6), min_size=1,
                                                   max_size=5))
def test_random_shapes_and_exponents_equal_numpy(rows, exponents):
    c = np.array(exponents, np.float32)
    rng = np.random.default_rng(rows)
    base = rng.uniform(-3, 3, (rows, len(c))).astype(np.float32)
    x = gc.placeholder(base.shape, name="x")
    fn, (got,) = compiled([x ** gc.constant(c)], {x: base})
    with np.errstate(all="ignore"):
        np.testing.assert_allclose(got, np.power(base, c), rtol=1e-6, atol=0)
