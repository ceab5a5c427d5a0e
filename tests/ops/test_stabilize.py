"""Stabilising rewrites: naive formulas with logits of +-1000 in float32 give finite values
and finite gradients, equal to the stable references."""
from __future__ import annotations

import numpy as np
import pytest
import sympy as sp

import graphc as gc
from graphc.symbolic import Sigmoid, Softplus

LOGITS = np.array([[1000, -1000, 0, 3], [-1000, 999, 1000, -2]], np.float32)
TARGET = np.array([[1, 0, 0, 0], [0, 0, 1, 0]], np.float32)


def _stable_logsumexp(z, axis):
    m = np.max(z, axis=axis, keepdims=True)
    return np.squeeze(m, axis) + np.log(np.sum(np.exp(z - m), axis=axis))


def _softmax(z):
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


x = gc.placeholder((2, 4), name="x")
t = gc.placeholder((2, 4), name="t")
z64 = LOGITS.astype(np.float64)

CASES = {
    # name: (naive graphc formula, stable value, stable d(sum)/dx)
    "logsumexp": (gc.log(gc.exp(x).sum(axis=1)), _stable_logsumexp(z64, 1), _softmax(z64)),
    "log_softmax cross-entropy": (
        -(t * gc.log(gc.exp(x) / gc.exp(x).sum(axis=1, keepdims=True))).sum(),
        -(TARGET * (z64 - _stable_logsumexp(z64, 1)[:, None])).sum(),
        _softmax(z64) * TARGET.sum(axis=1, keepdims=True) - TARGET),
    "log(softmax) cross-entropy": (
        -(t * gc.log(gc.softmax(x, axis=1))).sum(),
        -(TARGET * (z64 - _stable_logsumexp(z64, 1)[:, None])).sum(),
        _softmax(z64) * TARGET.sum(axis=1, keepdims=True) - TARGET),
    "softplus": (gc.log(1 + gc.exp(x)), np.logaddexp(0, z64), 0.5 * (1 + np.tanh(z64 / 2))),
    "sigmoid": (1 / (1 + gc.exp(-x)), 0.5 * (1 + np.tanh(z64 / 2)),
                0.25 * (1 - np.tanh(z64 / 2) ** 2)),
}


@pytest.mark.parametrize("name", list(CASES))
def test_naive_formula_is_finite_and_stable(name):
    out, value, gradient = CASES[name]
    g = gc.grad(out.sum(), x)
    fn = gc.compile([x, t], [out, g])
    got, got_grad = fn(LOGITS, TARGET)
    assert np.isfinite(got).all() and np.isfinite(got_grad).all()
    # float32 rounding of quantities of size 1000 is ~6e-5
    np.testing.assert_allclose(got, value, rtol=1e-5, atol=1e-4)
    np.testing.assert_allclose(got_grad, gradient, rtol=1e-5, atol=1e-5)
    ref, ref_grad = gc.evaluate([out, g], {x: LOGITS, t: TARGET})
    np.testing.assert_allclose(ref, value, rtol=1e-5, atol=1e-4)
    np.testing.assert_allclose(ref_grad, gradient, rtol=1e-5, atol=1e-5)


def test_rewrites_are_visible_in_the_graph():
    assert gc.log(1 + gc.exp(x)).arg == Softplus(sp.Symbol("a0", real=True))
    assert (1 / (1 + gc.exp(-x))).arg == Sigmoid(sp.Symbol("a0", real=True))
    lse = gc.log(gc.exp(x).sum(axis=1))
    reduces = [n for n in gc.graph.toposort([lse]) if n.op is gc.graph.Op.REDUCE]
    assert [n.arg[0] for n in reduces] == ["max", "sum"]      # the max is subtracted


def test_log1p_is_printed_for_log_of_one_plus():
    fn = gc.compile([x], gc.log(1 + x * x))
    assert "log1p(" in fn.source


def test_gradients_of_stable_forms_match_central_differences():
    y = gc.placeholder((2, 4), dtype="float64", name="y")
    values = {y: np.random.default_rng(0).standard_normal((2, 4))}
    for out in (gc.log(1 + gc.exp(y)), 1 / (1 + gc.exp(-y)), gc.log(gc.exp(y).sum(axis=0)),
                gc.log(gc.exp(y) / gc.exp(y).sum(axis=1, keepdims=True))):
        gc.check_grad((out * out).sum(), y, values)


def test_log_of_a_sigmoid_becomes_a_softplus():
    """log(sigmoid(x)) -> -softplus(-x) and log(1 - sigmoid(x)) -> -softplus(x), also
    through the naive 1 / (1 + exp(-x)); torch's logsigmoid(-800) is -800."""
    a0 = sp.Symbol("a0", real=True)
    for naive in (gc.sigmoid(x), 1 / (1 + gc.exp(-x))):
        assert gc.log(naive).arg == -Softplus(-a0)
        assert gc.log(1 - naive).arg == -Softplus(a0)
        assert gc.log(naive).src == (x,)
    z = gc.placeholder((2,), name="z")
    got = gc.evaluate([gc.log(gc.sigmoid(z)), gc.grad(gc.sum(gc.log(1 - gc.sigmoid(z))), z)],
                      {z: np.array([-800, 800], np.float32)})
    np.testing.assert_array_equal(got[0], [-800, 0])
    np.testing.assert_array_equal(got[1], [0, -1])
