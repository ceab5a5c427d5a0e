"""IEEE results through simplification, constant folding and saturation (issue 16: 7-10).

sympy simplifies a formula for finite reals and complex numbers; graphc's values are IEEE
floats, so the compiled function and ``gc.evaluate`` must both give numpy's results at
inf, NaN, 0 and overflow, and torch's at saturation.
"""
from __future__ import annotations

import numpy as np
import pytest

import graphc as gc

SPECIAL = np.array([np.inf, -np.inf, np.nan, 0.0, 1.0, -2.5], np.float32)


def _both(inputs, output, feed):
    compiled = gc.compile(inputs, output)(*feed)
    reference = gc.evaluate(output, dict(zip(inputs, feed)))
    return compiled, reference


# {{{ simplifications that drop NaN and inf

CANCELLING = {
    "x - x": (lambda x: x - x, lambda x: x - x),
    "x * 0": (lambda x: x * 0, lambda x: x * np.float32(0)),
    "0 / x": (lambda x: 0 / x, lambda x: np.float32(0) / x),
    "x / x": (lambda x: x / x, lambda x: x / x),
    "exp(x) * exp(-x)": (lambda x: gc.exp(x) * gc.exp(-x), lambda x: np.exp(x) * np.exp(-x)),
    "(x - x) + 2 * x": (lambda x: (x - x) + 2 * x, lambda x: (x - x) + 2 * x),
    "x * 0 + 1": (lambda x: x * 0 + 1, lambda x: x * np.float32(0) + 1),
}


@pytest.mark.parametrize("name", CANCELLING)
def test_cancellation_keeps_nan_and_inf(name):
    build, reference = CANCELLING[name]
    x = gc.placeholder((SPECIAL.size,), name="x")
    with np.errstate(all="ignore"):
        want = reference(SPECIAL)
    for got in _both([x], build(x), [SPECIAL]):
        np.testing.assert_array_equal(got, want)


def test_finite_simplifications_still_apply():
    # rewrites that change no IEEE value stay: x * 2 / 2, --x and x + 0 are x itself,
    # x * x is one power, and x - x over a NaN-free integer tensor is still folded
    from graphc.rewrite import run_passes
    x = gc.placeholder((4,), name="x")
    assert run_passes([x * 2 / 2])[0] is x
    assert run_passes([-(-x)])[0] is x
    assert (x + 0) is x
    assert str((x * x).arg) == "a0**2"
    i = gc.placeholder((4,), "int32", name="i")
    assert (i - i).op is gc.graph.Op.CONST

# }}}


# {{{ folding numbers that overflow the dtype

@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_folded_product_does_not_overflow(dtype):
    big = 1e20 if dtype == "float32" else 1e200
    xv = np.array([1 / big ** 1.5, 0, 1], dtype)
    x = gc.placeholder((3,), dtype, name="x")
    with np.errstate(all="ignore"):
        want = xv * np.asarray(big, dtype) * np.asarray(big, dtype)
    for got in _both([x], x * big * big, [xv]):
        np.testing.assert_allclose(got, want, rtol=1e-6)


def test_folded_product_does_not_underflow():
    xv = np.array([1e30, 1.0], np.float32)
    x = gc.placeholder((2,), name="x")
    want = xv * np.float32(1e-30) * np.float32(1e-30)
    for got in _both([x], x * 1e-30 * 1e-30, [xv]):
        np.testing.assert_allclose(got, want, rtol=1e-6)

# }}}


# {{{ no complex numbers

def test_division_by_a_zero_constant_is_ieee():
    xv = np.array([1.0, 0.0, -1.0, np.nan], np.float32)
    x = gc.placeholder((4,), name="x")
    for got in _both([x], x / 0.0, [xv]):
        np.testing.assert_array_equal(got, [np.inf, np.nan, -np.inf, np.nan])


def test_gradient_of_negative_constant_base_is_nan():
    torch = pytest.importorskip("torch")
    xv = np.array([1.0, 2.0, 0.5], np.float32)
    x = gc.placeholder((3,), name="x")
    g = gc.grad(((-2.0) ** x).sum(), x)
    tx = torch.tensor(xv, requires_grad=True)
    ((-2.0) ** tx).sum().backward()
    for got in _both([x], g, [xv]):
        assert got.dtype == np.float32
        np.testing.assert_array_equal(got, tx.grad.numpy())      # NaN everywhere


def test_sqrt_of_negative_constant_inside_a_formula_is_nan():
    x = gc.placeholder((2,), name="x")
    c = gc.constant(-4.0)
    out = x + gc.sqrt(c * x / x)       # sqrt(-4) once merged: not 2*I
    xv = np.array([1.0, 2.0], np.float32)
    for got in _both([x], out, [xv]):
        assert np.isnan(got).all()

# }}}


# {{{ tanh saturates to exactly 1

LARGE = np.array([-1e6, -1e4, -20.0, -9.5, 9.5, 20.0, 1e4, 1e6, 0.5, -0.25])


def _tanh_cases():
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    return {
        "tanh": (gc.tanh, torch.tanh),
        "x*tanh(x)": (lambda x: x * gc.tanh(x), lambda x: x * torch.tanh(x)),
        "gelu_tanh": (lambda x: gc.gelu(x, approximate="tanh"),
                      lambda x: F.gelu(x, approximate="tanh")),
    }


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("name", ["tanh", "x*tanh(x)", "gelu_tanh"])
def test_saturated_tanh_matches_torch(name, dtype, has_fp64):
    if dtype == "float64" and not has_fp64:
        pytest.skip("device has no float64 support")
    torch = pytest.importorskip("torch")
    build, reference = _tanh_cases()[name]
    xv = LARGE.astype(dtype)
    x = gc.placeholder(xv.shape, dtype, name="x")
    y = build(x)
    g = gc.grad(y.sum(), x)
    tx = torch.tensor(xv, requires_grad=True)
    ty = reference(tx)
    ty.sum().backward()
    want = [ty.detach().numpy(), tx.grad.numpy()]
    compiled = gc.compile([x], [y, g])(xv)
    reference_values = gc.evaluate([y, g], {x: xv})
    tol = 1e-6 if dtype == "float32" else 1e-12
    for got in (compiled, reference_values):
        for a, b in zip(got, want):
            np.testing.assert_allclose(a, b, rtol=tol, atol=tol)
    if name == "tanh":      # exactly +-1 and 0 when saturated, as torch's
        saturated = np.abs(xv) >= 20
        np.testing.assert_array_equal(compiled[0][saturated], np.sign(xv[saturated]))
        np.testing.assert_array_equal(compiled[1][saturated], 0)

# }}}


# {{{ the class: random formulas of one input at IEEE special values

_STEPS = {
    "add": (lambda a, b: a + b, lambda a, b: a + b),
    "sub": (lambda a, b: a - b, lambda a, b: a - b),
    "mul": (lambda a, b: a * b, lambda a, b: a * b),
    "div": (lambda a, b: a / b, lambda a, b: a / b),
}
_UNARY = {
    "exp": (gc.exp, np.exp), "neg": (lambda a: -a, np.negative),
    "zero": (lambda a: a * 0, lambda a: a * np.float32(0)),
    "tanh": (gc.tanh, np.tanh),
}


def _formulas():
    from hypothesis import strategies as st
    leaf = st.just(("x",))
    return st.recursive(leaf, lambda inner: st.one_of(
        st.tuples(st.sampled_from(sorted(_UNARY)), inner),
        st.tuples(st.sampled_from(sorted(_STEPS)), inner, inner)), max_leaves=6)


def _build(formula, x, graph: bool):
    if formula == ("x",):
        return x
    if len(formula) == 2:
        fn = _UNARY[formula[0]][0 if graph else 1]
        return fn(_build(formula[1], x, graph))
    fn = _STEPS[formula[0]][0 if graph else 1]
    return fn(_build(formula[1], x, graph), _build(formula[2], x, graph))


def test_random_formulas_keep_numpy_nan_and_inf():
    from hypothesis import given, settings, HealthCheck
    x = gc.placeholder((SPECIAL.size,), name="x")

    @settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
    @given(_formulas())
    def check(formula):
        with np.errstate(all="ignore"):
            want = np.asarray(_build(formula, SPECIAL, graph=False), np.float32)
        out = _build(formula, x, graph=True)
        # compare where numpy says NaN or inf exactly, and the finite values loosely
        for got in _both([x], out, [SPECIAL]):
            got = np.broadcast_to(got, want.shape)
            np.testing.assert_array_equal(np.isnan(got), np.isnan(want), err_msg=str(formula))
            finite = np.isfinite(want)
            np.testing.assert_array_equal(got[~finite & ~np.isnan(want)],
                                          want[~finite & ~np.isnan(want)],
                                          err_msg=str(formula))
            np.testing.assert_allclose(got[finite], want[finite], rtol=1e-4, atol=1e-5,
                                       err_msg=str(formula))
    check()

# }}}
