"""Every op of SPEC: compiled (OpenCL) == gc.evaluate (numpy interpreter) == a numpy formula.

Forward checks run in float32 and float64 over shapes drawn by hypothesis; gradient checks
run in float64: ``gc.grad`` compiled == ``gc.grad`` evaluated == central differences
(``gc.check_grad``), plus a hand-written derivative where one is short. Each hypothesis
example compiles ONE function holding every op of its group as outputs, to keep the number
of OpenCL builds small. Inputs stay in safe domains: log/sqrt/pow bases positive, divisors
and relu/abs arguments away from 0, clamp arguments away from the bounds, distinct values
for max/min.
"""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import BroadcastableShapes, mutually_broadcastable_shapes

import graphc as gc

F32, F64 = np.dtype("float32"), np.dtype("float64")


def examples(n):
    """Hypothesis settings for a test that compiles once per example: ``n`` examples under
    the "ci" profile, the profile's own number under a bigger one ("nightly")."""
    profile = settings.default.max_examples
    return settings(max_examples=n if profile <= 25 else profile,
                    suppress_health_check=[HealthCheck.function_scoped_fixture])


seeds = st.integers(0, 2**32 - 1)
shapes = st.lists(st.integers(1, 5), min_size=0, max_size=3).map(tuple)
nonscalar_shapes = st.lists(st.integers(1, 5), min_size=1, max_size=3).map(tuple)
pairs = mutually_broadcastable_shapes(num_shapes=2, min_dims=0, max_dims=3, min_side=1,
                                      max_side=5)


# {{{ helpers

def away_from_zero(rng, shape, lo=0.25, hi=2.0):
    """Random signs, magnitudes in [lo, hi]: no relu/abs kink, no tiny divisor."""
    return np.asarray(rng.choice([-1.0, 1.0], size=shape) * rng.uniform(lo, hi, size=shape))


def positive(rng, shape, lo=0.5, hi=2.0):
    return np.asarray(rng.uniform(lo, hi, size=shape))


def distinct(rng, shape):
    """Values at least 0.25 apart, in random order: max/min have a unique winner."""
    n = int(np.prod(shape, dtype=np.int64))
    values = (rng.permutation(n) - n / 2) * 0.3 + rng.uniform(0, 0.05, n)
    return values.reshape(shape)


def away_from_bounds(rng, shape, lo=-1.0, hi=1.0):
    """Values at least 0.25 from ``lo`` and ``hi``, on both sides of each."""
    pool = np.array([lo - 0.75, lo - 0.3, lo + 0.3, (lo + hi) / 2, hi - 0.3, hi + 0.3,
                     hi + 0.75])
    return np.asarray(rng.choice(pool, size=shape) + rng.uniform(-0.05, 0.05, size=shape))


def unbroadcast(g, shape):
    """numpy: sum ``g`` over the axes broadcasting added to an operand of ``shape``."""
    lead = g.ndim - len(shape)
    g = g.sum(axis=tuple(range(lead)))
    axes = tuple(i for i, d in enumerate(shape) if d == 1 and g.shape[i] != 1)
    return g.sum(axis=axes, keepdims=True).reshape(shape)


def tolerance(dt, loose=False):
    if np.dtype(dt) == F32:
        return (1e-4, 1e-5) if loose else (1e-5, 1e-6)
    return (1e-9, 1e-11) if loose else (1e-10, 1e-12)


def assert_close(what, got, want, dt, loose=False):
    got, want = np.asarray(got), np.asarray(want)
    assert got.shape == want.shape, f"{what}: shape {got.shape}, expected {want.shape}"
    rtol, atol = tolerance(dt, loose)
    finite = np.abs(want[np.isfinite(want)])
    scale = float(np.max(finite)) if finite.size else 1.0
    np.testing.assert_allclose(got, want, rtol=rtol, atol=atol * max(1.0, scale),
                               err_msg=what)


def sums_by_shape(outputs):
    """One extra output per shape: the sum of the outputs of that shape. Its additions read
    every elementwise kernel of that shape, so the scheduler merges those siblings into one
    kernel: far fewer kernels for PoCL to build (the cost of these tests), and the ops are
    also checked inside large multi-output kernels. test_torch_compare runs each op alone."""
    by_shape: dict = {}
    for o in outputs:
        by_shape.setdefault(o.shape, []).append(o)
    sums = []
    for group in by_shape.values():
        total = group[0]
        for o in group[1:]:
            total = total + o
        sums.append(total)
    return sums


def compile_and_run(inputs, values, outputs):
    """The compiled results of ``outputs`` (one compiled function, one call)."""
    outputs = list(outputs)
    fn = gc.compile(list(inputs), outputs + sums_by_shape(outputs))
    return fn(*values)[:len(outputs)]


def _is_comparison(name: str) -> bool:
    """Is case ``name`` a comparison (not a function of one, such as where(a > b, ...))?"""
    return "(" not in name and any(f" {op} " in f" {name} "
                                   for op in ("<", "<=", ">", ">=", "==", "!="))


def check_cases(inputs, values, cases):
    """``cases``: (name, tensor, numpy reference in float64, loose). Checks the compiled
    function and gc.evaluate against the reference and against each other."""
    dt = inputs[0].dtype
    values = [np.asarray(v, dtype=dt) for v in values]
    outputs = [c[1] for c in cases]
    for name, t, want, _ in cases:
        # comparisons are bool tensors (compared with the reference as 0/1 below)
        expected = np.bool_ if _is_comparison(name) else dt
        assert t.dtype == expected, f"{name}: dtype {t.dtype}, expected {expected}"
        assert t.shape == np.shape(want), f"{name}: built shape {t.shape}, expected " \
                                          f"{np.shape(want)}"
    evaluated = gc.evaluate(outputs, dict(zip(inputs, values)))
    got = compile_and_run(inputs, values, outputs)
    for (name, t, want, loose), e, g in zip(cases, evaluated, got):
        assert g.dtype == t.dtype, f"{name}: compiled result has dtype {g.dtype}"
        e, g = e.astype(dt), g.astype(dt)
        assert_close(f"{name}: gc.evaluate vs numpy", e, want, dt, loose)
        assert_close(f"{name}: compiled vs numpy", g, want, dt, loose)
        assert_close(f"{name}: compiled vs gc.evaluate", g, e, dt, loose)


def check_gradients(inputs, values, costs):
    """``costs``: (name, scalar cost, wrt, analytic gradients or None), all float64.

    For each: gc.check_grad (central differences), then every gradient compiled in one
    function == gc.evaluate == the analytic gradients."""
    values = [np.asarray(v, dtype=F64) for v in values]
    feed = dict(zip(inputs, values))
    outputs, meta = [], []
    for name, cost, wrt, analytic in costs:
        assert cost.numel() == 1
        try:
            gc.check_grad(cost, wrt, feed)
        except gc.GradientError as e:
            raise AssertionError(f"{name}: {e}") from None
        grads = gc.grad(cost, wrt)
        for k, (w, g) in enumerate(zip(wrt, grads)):
            assert g.shape == w.shape, f"{name}: grad wrt {w.name} has shape {g.shape}, " \
                                       f"expected {w.shape}"
            assert g.dtype == F64
            outputs.append(g)
            meta.append((f"{name} d/d{w.name}", None if analytic is None else analytic[k]))
    evaluated = gc.evaluate(outputs, feed)
    got = compile_and_run(inputs, values, outputs)
    for (what, want), e, g in zip(meta, evaluated, got):
        assert_close(f"{what}: compiled vs gc.evaluate", g, e, F64, loose=True)
        if want is not None:
            assert_close(f"{what}: gc.evaluate vs analytic", e, want, F64, loose=True)


def weights(rng, shape):
    """A fixed float64 constant: costs are sum(op(...) * w), so every output counts."""
    return gc.constant(np.asarray(rng.standard_normal(shape)), dtype="float64")


def sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))

# }}}


# {{{ elementwise

@examples(3)
@given(shape=shapes, seed=seeds)
def test_unary(dtype, shape, seed):
    rng = np.random.default_rng(seed)
    x = gc.placeholder(shape, dtype, name="x")
    p = gc.placeholder(shape, dtype, name="p")
    xv = away_from_zero(rng, shape).astype(dtype)
    pv = positive(rng, shape, 0.1, 3.0).astype(dtype)
    X, P = xv.astype(F64), pv.astype(F64)
    cases = [
        ("-x", -x, -X, False),
        ("gc.exp", gc.exp(x), np.exp(X), False), ("x.exp()", x.exp(), np.exp(X), False),
        ("gc.log", gc.log(p), np.log(P), False), ("p.log()", p.log(), np.log(P), False),
        ("gc.sqrt", gc.sqrt(p), np.sqrt(P), False), ("p.sqrt()", p.sqrt(), np.sqrt(P), False),
        ("gc.tanh", gc.tanh(x), np.tanh(X), False), ("x.tanh()", x.tanh(), np.tanh(X), False),
        ("gc.sigmoid", gc.sigmoid(x), sigmoid(X), False),
        ("x.sigmoid()", x.sigmoid(), sigmoid(X), False),
        ("gc.relu", gc.relu(x), np.maximum(X, 0), False),
        ("x.relu()", x.relu(), np.maximum(X, 0), False),
        ("gc.abs", gc.abs(x), np.abs(X), False), ("x.abs()", x.abs(), np.abs(X), False),
        ("abs(x)", abs(x), np.abs(X), False),
        ("chain", gc.sqrt(gc.exp(-x).sigmoid() + p.log().abs()).tanh(),
         np.tanh(np.sqrt(sigmoid(np.exp(-X)) + np.abs(np.log(P)))), False),
    ]
    check_cases([x, p], [xv, pv], cases)


@examples(2)
@example(shapes=BroadcastableShapes(((2, 1, 4), (3, 1)), (2, 3, 4)), seed=1)
@given(shapes=pairs, seed=seeds)
def test_binary(dtype, shapes, seed):
    rng = np.random.default_rng(seed)
    sa, sb = shapes.input_shapes
    out = shapes.result_shape
    a = gc.placeholder(sa, dtype, name="a")
    b = gc.placeholder(sb, dtype, name="b")
    pa = gc.placeholder(sa, dtype, name="pa")
    av = away_from_zero(rng, sa).astype(dtype)
    bv = away_from_zero(rng, sb).astype(dtype)
    pav = positive(rng, sa).astype(dtype)
    A, B, PA = av.astype(F64), bv.astype(F64), pav.astype(F64)
    bA = np.broadcast_to(A, out)
    cases = [
        ("a + b", a + b, A + B, False), ("a - b", a - b, A - B, False),
        ("a * b", a * b, A * B, False), ("a / b", a / b, A / B, False),
        ("pa ** b", pa ** b, PA ** B, False), ("pa.pow(b)", pa.pow(b), PA ** B, False),
        ("gc.maximum", gc.maximum(a, b), np.maximum(A, B), False),
        ("gc.minimum", gc.minimum(a, b), np.minimum(A, B), False),
        ("a < b", a < b, (A < B).astype(F64), False),
        ("a <= b", a <= b, (A <= B).astype(F64), False),
        ("a > b", a > b, (A > B).astype(F64), False),
        ("a >= b", a >= b, (A >= B).astype(F64), False),
        ("gc.where(a > b, a, b)", gc.where(a > b, a, b), np.where(A > B, A, B), False),
        ("gc.where(mask, a, 0.5)", gc.where(b < 0, a, 0.5), np.where(B < 0, A, 0.5), False),
        # Python scalars on either side take the tensor's dtype
        ("a + 2", a + 2, A + 2, False), ("2 - a", 2 - a, 2 - A, False),
        ("a * 0.5", a * 0.5, A * 0.5, False), ("1.5 / b", 1.5 / b, 1.5 / B, False),
        ("a ** 2", a ** 2, A ** 2, False), ("a ** 3", a ** 3, A ** 3, False),
        ("pa ** 0.5", pa ** 0.5, PA ** 0.5, False), ("pa ** -1.5", pa ** -1.5, PA ** -1.5,
                                                     False),
        ("2 ** a", 2 ** a, 2.0 ** A, False),
        ("a > 0.5", a > 0.5, (A > 0.5).astype(F64), False),
        ("0.5 < a", 0.5 < a, (A > 0.5).astype(F64), False),
        ("mask arithmetic", (a > b) * a + (a <= b) * b, np.maximum(A, B), False),
        ("broadcast chain", (a * b - a / b) * (a + 1.0), (A * B - A / B) * (A + 1.0), False),
        ("broadcast a", a + 0 * b, bA + 0 * B, False),
        # numpy operands (any float dtype) become constants of the tensor's dtype
        ("a + numpy array", a + bv.astype(F64), A + B, False),
        ("numpy array - a", bv.astype(F64) - a, B - A, False),
        ("numpy scalar * a", np.float64(0.5) * a, 0.5 * A, False),
        ("a ** -2", a ** -2, A ** -2.0, False),
    ]
    check_cases([a, b, pa], [av, bv, pav], cases)


def test_comparisons_on_ties(dtype):
    a = gc.placeholder((2, 3), dtype, name="a")
    b = gc.placeholder((3,), dtype, name="b")
    av = np.array([[1, 2, 3], [2, 2, 2]], dtype)
    bv = np.array([2, 2, 2], dtype)
    A, B = av.astype(F64), bv.astype(F64)
    cases = [
        ("a < b", a < b, (A < B) * 1.0, False), ("a <= b", a <= b, (A <= B) * 1.0, False),
        ("a > b", a > b, (A > B) * 1.0, False), ("a >= b", a >= b, (A >= B) * 1.0, False),
        ("a < 2", a < 2, (A < 2) * 1.0, False), ("a >= 2", a >= 2, (A >= 2) * 1.0, False),
        ("a <= a", a <= a, np.ones((2, 3)), False), ("a < a", a < a, np.zeros((2, 3)), False),
        ("max tie", gc.maximum(a, b), np.maximum(A, B), False),
        ("where on ties", gc.where(a >= b, a, -b), np.where(A >= B, A, -B), False),
        ("clamp on the bounds", a.clamp(min=2, max=2), np.full((2, 3), 2.0), False),
        ("relu of 0", (a - 2).relu(), np.maximum(A - 2, 0), False),
    ]
    for name, t, _, _ in cases:
        assert t.dtype == (np.bool_ if _is_comparison(name) else dtype), name
    check_cases([a, b], [av, bv], cases)


@examples(3)
@given(shape=shapes, seed=seeds)
def test_clamp(dtype, shape, seed):
    rng = np.random.default_rng(seed)
    x = gc.placeholder(shape, dtype, name="x")
    xv = away_from_bounds(rng, shape).astype(dtype)
    X = xv.astype(F64)
    cases = [
        ("clamp(min=)", x.clamp(min=-1.0), np.maximum(X, -1.0), False),
        ("clamp(max=)", x.clamp(max=1.0), np.minimum(X, 1.0), False),
        ("clamp(min=, max=)", x.clamp(min=-1.0, max=1.0), np.clip(X, -1.0, 1.0), False),
        ("gc.clamp", gc.clamp(x, min=-1, max=1), np.clip(X, -1, 1), False),
        ("clamp(min=0)", x.clamp(min=0), np.maximum(X, 0), False),
        ("clamp int bounds", x.clamp(-1, 1), np.clip(X, -1, 1), False),
    ]
    check_cases([x], [xv], cases)
    with pytest.raises(ValueError):
        x.clamp()

# }}}


# {{{ reductions

def reduction_cases(x, X, rng, names=("sum", "mean", "max", "min"), every_axis=True):
    """Every axis spelling over ``X``'s shape: None, each int (positive and negative), a
    tuple, keepdims, torch's dim=/keepdim=, as methods and as functions. Without
    ``every_axis``, one random axis instead of each."""
    nd = X.ndim
    ref = {"sum": np.sum, "mean": np.mean, "max": np.max, "min": np.min}
    fn = {"sum": gc.sum, "mean": gc.mean, "max": gc.max, "min": gc.min}
    subset = tuple(sorted(rng.choice(nd, size=rng.integers(1, nd + 1), replace=False)
                          .tolist())) if nd else None
    cases = []
    for name in names:
        r, f = ref[name], fn[name]
        method = getattr(x, name)
        cases += [
            (f"x.{name}()", method(), r(X), True),
            (f"gc.{name}(x, keepdims=True)", f(x, keepdims=True), r(X, keepdims=True), True),
        ]
        for i in (range(nd) if every_axis else rng.choice(nd, size=min(nd, 1))):
            i = int(i)
            cases += [
                (f"x.{name}({i})", method(i), r(X, axis=i), True),
                (f"gc.{name}(x, axis={i - nd}, keepdims=True)", f(x, axis=i - nd,
                                                                  keepdims=True),
                 r(X, axis=i - nd, keepdims=True), True),
                (f"x.{name}(dim={i - nd})", method(dim=i - nd), r(X, axis=i - nd), True),
            ]
        if nd:
            neg = tuple(a - nd for a in subset)
            cases += [
                (f"x.{name}({subset})", method(subset), r(X, axis=subset), True),
                (f"x.{name}(dim={neg}, keepdim=True)", method(dim=neg, keepdim=True),
                 r(X, axis=neg, keepdims=True), True),
                (f"gc.{name}(x, axis={list(subset)})", f(x, axis=list(subset)),
                 r(X, axis=subset), True),
            ]
    return cases


@examples(2)
@example(shape=(2, 3, 4), seed=1)
@given(shape=shapes, seed=seeds)
def test_reductions(dtype, shape, seed):
    rng = np.random.default_rng(seed)
    x = gc.placeholder(shape, dtype, name="x")
    xv = distinct(rng, shape).astype(dtype)
    X = xv.astype(F64)
    cases = reduction_cases(x, X, rng)
    cases += [
        ("sum(axis=())", x.sum(axis=()), X, True),
        ("sum of a product", (x * x).sum(), (X * X).sum(), True),
        ("sum then epilogue", x.sum(-1, keepdims=True) * 2 + 1 if x.ndim else x.sum() * 2 + 1,
         X.sum(-1, keepdims=True) * 2 + 1 if X.ndim else X.sum() * 2 + 1, True),
        ("x - x.max(keepdims)", x - x.max(keepdims=True), X - X.max(keepdims=True), True),
    ]
    check_cases([x], [xv], cases)


def test_reduction_axis_errors():
    x = gc.placeholder((2, 3), "float32")
    for bad in (2, -3, (0, 0), (0, 2)):
        with pytest.raises(ValueError):
            x.sum(bad)
        with pytest.raises(ValueError):
            x.max(dim=bad)


@pytest.mark.parametrize("axis", [0, -1])
def test_reduction_with_an_axis_of_a_0d_tensor_is_consistent(fp64, axis):
    """numpy rejects ``axis=0`` on a 0-d array, torch accepts dim=0 and dim=-1 as the whole
    tensor. Either is fine, but what builds must evaluate and compile."""
    s = gc.placeholder((), "float64", name="s")
    value = np.array(0.75)
    for name in ("sum", "max", "mean", "min", "logsumexp"):
        try:
            t = getattr(s, name)(axis)
        except ValueError:
            continue
        assert t.shape == (), name
        want = value          # every one of them is the identity on a 0-d tensor
        assert_close(f"{name}({axis}) evaluated", gc.evaluate(t, {s: value}), want, F64)
        got = gc.compile([s], t)(value)
        assert_close(f"{name}({axis}) compiled", got, want, F64)

# }}}


# {{{ special values and larger sizes

def special_values(dtype):
    return np.array([0.0, -0.0, 1.5, -2.0, np.inf, -np.inf, np.nan, -80.0, 100.0], dtype)


def test_infinities_and_nan(dtype):
    """Compiled == gc.evaluate == numpy on 0, -0, inf, -inf, nan and large magnitudes."""
    x = gc.placeholder((9,), dtype, name="x")
    m = gc.placeholder((2, 3), dtype, name="m")
    n = gc.placeholder((3,), dtype, name="n")
    # references computed in the test's dtype: exp(100) overflows in float32
    X = special_values(dtype)
    M = np.array([[1.0, -np.inf, 2.0], [-np.inf, 0.5, -np.inf]], dtype)
    N = np.array([1.0, np.nan, 3.0], dtype)
    with np.errstate(all="ignore"):
        cases = [
            ("exp", gc.exp(x), np.exp(X), False), ("log", gc.log(x), np.log(X), False),
            ("sqrt", gc.sqrt(x), np.sqrt(X), False), ("tanh", gc.tanh(x), np.tanh(X), False),
            ("sigmoid", gc.sigmoid(x), sigmoid(X), False), ("abs", abs(x), np.abs(X), False),
            ("neg", -x, -X, False), ("1 / x", 1.0 / x, 1.0 / X, False),
            ("x * x", x * x, X * X, False), ("x < 1", x < 1, (X < 1) * 1.0, False),
            ("x >= -2", x >= -2, (X >= -2) * 1.0, False),
            ("where(x > 0, x, 0)", gc.where(x > 0, x, 0.0), np.where(X > 0, X, 0.0), False),
            ("max of nan", n.max(), np.max(N), True), ("min of nan", n.min(), np.min(N), True),
            ("sum of nan", n.sum(), np.sum(N), True),
            ("max with -inf", m.max(1), M.max(1), True),
            ("softmax with -inf", gc.softmax(m, 1),
             np.exp(M - M.max(1, keepdims=True)) / np.exp(M - M.max(1, keepdims=True))
             .sum(1, keepdims=True), True),
            ("log_softmax with -inf", gc.log_softmax(m, 1),
             M - M.max(1, keepdims=True) - np.log(np.exp(M - M.max(1, keepdims=True))
                                                  .sum(1, keepdims=True)), True),
        ]
    check_cases([x, m, n], [X, M, N], cases)


def test_nan_goes_through_relu_clamp_maximum_minimum(dtype):
    """numpy, gc.evaluate and torch propagate nan through relu, clamp, maximum, minimum; a
    compiled function must agree with gc.evaluate (OpenCL's fmax/fmin drop the nan)."""
    x = gc.placeholder((9,), dtype, name="x")
    X = special_values(dtype).astype(F64)
    cases = [
        ("relu", gc.relu(x), np.maximum(X, 0), False),
        ("clamp(min=)", x.clamp(min=-1), np.maximum(X, -1), False),
        ("clamp(max=)", x.clamp(max=1), np.minimum(X, 1), False),
        ("clamp(min=, max=)", x.clamp(-1, 1), np.minimum(np.maximum(X, -1), 1), False),
        ("maximum", gc.maximum(x, 0.5), np.maximum(X, 0.5), False),
        ("minimum", gc.minimum(0.5, x), np.minimum(0.5, X), False),
    ]
    check_cases([x], [X], cases)


def test_logsumexp_of_an_all_minus_inf_row(dtype):
    m = gc.placeholder((2, 3), dtype, name="m")
    M = np.array([[1.0, -np.inf, 2.0], [-np.inf, -np.inf, -np.inf]], dtype)
    with np.errstate(all="ignore"):
        want = np.log(np.exp(M).sum(1))
    check_cases([m], [M], [("logsumexp", gc.logsumexp(m, 1), want, True)])


def test_larger_sizes(dtype):
    """Reductions over more elements than one work-group, odd sizes, a matmul of several
    tiles, softmax over long rows; with their gradients (float64)."""
    rng = np.random.default_rng(7)
    shapes = {"x": (3, 1000), "y": (257, 3), "z": (1031,), "c": (4, 130, 7), "a": (37, 53),
              "b": (53, 29), "v": (53,), "p": (9, 3), "q": (3, 17), "r": (5, 17), "s": (5, 33)}
    ts = {k: gc.placeholder(s, dtype, name=k) for k, s in shapes.items()}
    R = {k: rng.uniform(-1, 1, s) for k, s in shapes.items()}
    x, y, z, c, a, b, v, p, q, r, s = ts.values()
    X, Y, Z, C, A, B, V, P, Q, Rr, S = R.values()
    cases = [
        ("x.sum(1)", x.sum(1), X.sum(1), True), ("x.sum()", x.sum(), X.sum(), True),
        ("x.max(1)", x.max(1), X.max(1), True), ("x.min()", x.min(), X.min(), True),
        ("x.mean(0)", x.mean(0), X.mean(0), True), ("y.sum(0)", y.sum(0), Y.sum(0), True),
        ("y.max(0)", y.max(0), Y.max(0), True), ("z.sum()", z.sum(), Z.sum(), True),
        ("z.max()", z.max(), Z.max(), True),
        ("c.sum((0, 2))", c.sum((0, 2)), C.sum((0, 2)), True),
        ("c.max(1)", c.max(1), C.max(1), True),
        ("c.min((0, 1), keepdims)", c.min((0, 1), keepdims=True), C.min((0, 1), keepdims=True),
         True),
        ("a @ b", a @ b, A @ B, True), ("a @ v", a @ v, A @ V, True),
        ("v @ b", v @ b, V @ B, True),
        # sizes around matmul tiles, a transposed operand
        ("p @ q", p @ q, P @ Q, True), ("r.T @ s", r.T @ s, Rr.T @ S, True),
        ("softmax(x, 1)", gc.softmax(x, 1), np_softmax(X, 1), True),
        ("logsumexp(x, 1)", gc.logsumexp(x, 1), np_logsumexp(X, 1), True),
        ("log_softmax(y, 0)", gc.log_softmax(y, 0), np.log(np_softmax(Y, 0)), True),
    ]
    check_cases(list(ts.values()), list(R.values()), cases)
    if dtype == F64:
        f64 = {k: gc.placeholder(s, "float64", name=k) for k, s in shapes.items()}
        x, y, a, b = f64["x"], f64["y"], f64["a"], f64["b"]
        costs = [("max", (x.max(1) * weights(rng, (3,))).sum(), [x]),
                 ("matmul", (a @ b).tanh().sum(), [a, b]),
                 ("logsumexp", gc.logsumexp(y, 0).sum(), [y])]
        check_gradients(list(f64.values()), list(R.values()),
                        [(name, cost, wrt, None) for name, cost, wrt in costs])

# }}}


# {{{ naive formulas that graphc stabilises as it builds them

def test_stabilised_naive_formulas(dtype):
    """log(1 + exp(x)), 1 / (1 + exp(-x)), log(sum(exp(x))), log(softmax(x)) and the naive
    log-softmax equal their numpy formulas, and stay finite where the naive ones overflow."""
    x = gc.placeholder((2, 4), dtype, name="x")
    big = gc.placeholder((2, 4), dtype, name="big")
    X = np.array([[-1.0, 0.5, 2.0, -3.0], [0.25, -0.2, 1.0, 3.0]])
    BIG = X * 300.0                  # exp overflows in float32 and float64
    softplus = np.logaddexp(0.0, X)
    log_softmax = X - np_logsumexp(X, 1, keepdims=True)
    cases = [
        ("log(1 + exp(x))", gc.log(1 + gc.exp(x)), softplus, False),
        ("log(exp(x) + 1)", gc.log(gc.exp(x) + 1.0), softplus, False),
        ("1 / (1 + exp(-x))", 1 / (1 + gc.exp(-x)), sigmoid(X), False),
        ("exp(x) - 1", gc.exp(x) - 1, np.expm1(X), False),
        ("log(1 + x * x)", gc.log(1 + x * x), np.log1p(X * X), False),
        ("log(2 + exp(x))", gc.log(2 + gc.exp(x)), np.log(2 + np.exp(X)), False),
        ("log(exp(x) + exp(x * x))", gc.log(gc.exp(x) + gc.exp(x * x)),
         np.log(np.exp(X) + np.exp(X * X)), False),
        ("log(exp(x))", gc.log(gc.exp(x)), X, False),
        ("log(exp(x) * 3)", gc.log(gc.exp(x) * 3.0), X + np.log(3.0), False),
        ("log(sum(exp(x), 1))", gc.log(gc.exp(x).sum(1)), np_logsumexp(X, 1), True),
        ("log(sum(exp(x), 0, keepdims))", gc.log(gc.exp(x).sum(0, keepdims=True)),
         np_logsumexp(X, 0, keepdims=True), True),
        ("log(sum(exp(x)))", gc.log(gc.exp(x).sum()), np_logsumexp(X), True),
        ("log(sum(exp(x)) * 2)", gc.log(gc.exp(x).sum(1) * 2.0), np_logsumexp(X, 1) + np.log(2),
         True),
        ("log(sum(exp(x)) + 1)", gc.log(gc.exp(x).sum(1) + 1.0),
         np.log(np.exp(X).sum(1) + 1.0), True),
        ("log(sum(exp(x) * x * x))", gc.log((gc.exp(x) * x * x).sum()),
         np.log((np.exp(X) * X * X).sum()), True),
        ("log(softmax(x))", gc.log(gc.softmax(x, 1)), log_softmax, True),
        ("log(exp(x) / sum(exp(x)))", gc.log(gc.exp(x) / gc.exp(x).sum(1, keepdims=True)),
         log_softmax, True),
        ("log(1 + exp(big))", gc.log(1 + gc.exp(big)), np.logaddexp(0.0, BIG), False),
        ("1 / (1 + exp(-big))", 1 / (1 + gc.exp(-big)), sigmoid(np.clip(BIG, -700, 700)),
         False),
        ("log(sum(exp(big)))", gc.log(gc.exp(big).sum(1)), np_logsumexp(BIG, 1), True),
        ("log(softmax(big))", gc.log(gc.softmax(big, 1)), BIG - np_logsumexp(BIG, 1, True),
         True),
        ("naive log_softmax(big)", gc.log(gc.exp(big) / gc.exp(big).sum(1, keepdims=True)),
         BIG - np_logsumexp(BIG, 1, True), True),
    ]
    check_cases([x, big], [X, BIG], cases)
    if dtype == F64:
        check_gradients([x], [X], [(name, (t * weights(np.random.default_rng(0), t.shape))
                                     .sum(), [x], None) for name, t, _, _ in cases[:17]])


@pytest.mark.filterwarnings("ignore:Casting complex values")
def test_log_of_products_with_negative_factors(dtype):
    x = gc.placeholder((2, 3), dtype, name="x")
    y = gc.placeholder((2, 3), dtype, name="y")
    X = np.array([[-1.0, 0.5, 2.0], [-3.0, -0.2, 1.0]])
    Y = -np.array([[0.5, 1.5, 2.0], [1.0, 3.0, 0.7]])          # negative
    cases = [
        ("log(exp(x) * x * x)", gc.log(gc.exp(x) * x * x), np.log(np.exp(X) * X * X), False),
        ("log(y ** 2 * exp(x))", gc.log(y ** 2 * gc.exp(x)), np.log(Y ** 2 * np.exp(X)), False),
        ("log((exp(x) - 2) ** 2)", gc.log((gc.exp(x) - 2) ** 2),
         np.log((np.exp(X) - 2) ** 2), False),
        ("log(exp(x) * y * y)", gc.log(gc.exp(x) * y * y), np.log(np.exp(X) * Y * Y), False),
        ("log(-exp(x) * y)", gc.log(-gc.exp(x) * y), np.log(-np.exp(X) * Y), False),
    ]
    check_cases([x, y], [X, Y], cases)

# }}}


# {{{ views

def permutation_of(rng, nd):
    return tuple(int(a) for a in rng.permutation(nd))


@examples(2)
@example(shape=(2, 3, 4), seed=1)
@given(shape=shapes, seed=seeds)
def test_views(dtype, shape, seed):
    rng = np.random.default_rng(seed)
    x = gc.placeholder(shape, dtype, name="x")
    xv = away_from_zero(rng, shape).astype(dtype)
    X = xv.astype(F64)
    nd = len(shape)
    perm = permutation_of(rng, nd)
    target = tuple(int(rng.integers(1, 4)) for _ in range(int(rng.integers(0, 2)))) + tuple(
        int(rng.integers(1, 4)) if d == 1 else d for d in shape)
    y = x * 2.0 + 1.0          # a computed tensor, so views of kernel results are covered
    Y = X * 2.0 + 1.0
    cases = [
        ("reshape(-1)", x.reshape(-1), X.reshape(-1), False),
        ("reshape((1, -1))", x.reshape((1, -1)), X.reshape(1, -1), False),
        ("view(-1, 1)", x.view(-1, 1), X.reshape(-1, 1), False),
        ("y.reshape(-1)", y.reshape(-1), Y.reshape(-1), False),
        ("transpose()", x.transpose(), X.T, False),
        ("x.T", x.T, X.T, False),
        ("y.T", y.T, Y.T, False),
        ("gc.transpose", gc.transpose(x), X.T, False),
        ("transpose(perm)", x.transpose(perm), np.transpose(X, perm), False),
        ("permute(*perm)", x.permute(*perm), np.transpose(X, perm), False),
        ("gc.permute(perm)", gc.permute(y, perm), np.transpose(Y, perm), False),
        ("broadcast_to", x.broadcast_to(target), np.broadcast_to(X, target), False),
        ("gc.broadcast_to(y)", gc.broadcast_to(y, target), np.broadcast_to(Y, target), False),
        ("strided reads", x.transpose(perm) * y.transpose(perm) + 1.0,
         np.transpose(X, perm) * np.transpose(Y, perm) + 1.0, False),
        ("broadcast reads", x.broadcast_to(target) - 0.5, np.broadcast_to(X, target) - 0.5,
         False),
    ]
    if nd:
        rest = shape[1:]
        cases += [
            ("reshape(-1, *rest)", x.reshape(-1, *rest), X.reshape(-1, *rest), False),
            ("reshape(shape[::-1])", x.reshape(shape[::-1]), X.reshape(shape[::-1]), False),
            ("y.reshape(..., -1)", y.reshape(*shape[:-1], -1), Y.reshape(*shape[:-1], -1),
             False),
        ]
    if nd >= 2:
        d0, d1 = (int(d) for d in rng.choice(nd, 2, replace=False))
        cases += [
            (f"transpose({d0}, {d1})", x.transpose(d0, d1), np.swapaxes(X, d0, d1), False),
            (f"transpose({d0 - nd}, {d1})", y.transpose(d0 - nd, d1),
             np.swapaxes(Y, d0, d1), False),
        ]
    if nd <= 2:
        cases += [("t()", x.t(), X.T, False), ("y.t()", y.t(), Y.T, False),
]
    check_cases([x], [xv], cases)


def test_view_shape_errors():
    x = gc.placeholder((2, 3, 4), "float32")
    with pytest.raises(ValueError):
        x.reshape(5, -1)
    with pytest.raises(ValueError):
        x.reshape(-1, -1)
    with pytest.raises(ValueError):
        x.t()
    with pytest.raises(ValueError):
        x.permute(0, 1)
    with pytest.raises(ValueError):
        x.broadcast_to((3, 3, 4))


VIEW_OUTPUT_BUG = ("BUG: a compiled function returns an uninitialised buffer for an output "
                   "that no kernel computes: a view (x.T, reshape, keepdims reduction, "
                   "matmul with a 1-D operand, logsumexp, broadcast_to, the gradient of a "
                   "broadcast operand), a placeholder, a parameter or a folded constant")


def test_outputs_that_no_kernel_computes(dtype):
    """Views, leaves and folded constants returned directly by a compiled function."""
    x = gc.placeholder((3, 4), dtype, name="x")
    v = gc.placeholder((4,), dtype, name="v")
    p = gc.parameter(np.full((2, 2), 1.5, dtype), name="p")
    xv = (np.arange(12).reshape(3, 4) / 10).astype(dtype)
    vv = np.array([1.0, -1.0, 0.5, 2.0], dtype)
    X, V = xv.astype(F64), vv.astype(F64)
    cases = [
        ("x.T", x.T, X.T), ("(2x).T", (x * 2).T, 2 * X.T),
        ("reshape of computed", (x + 1).reshape(-1), (X + 1).reshape(-1)),
        ("keepdims max", x.max(axis=0, keepdims=True), X.max(0, keepdims=True)),
        ("matrix @ vector", x @ v, X @ V),
        ("logsumexp", gc.logsumexp(x, axis=1), np.log(np.exp(X).sum(1))),
        ("broadcast of computed", (v * 2).broadcast_to((3, 4)), np.broadcast_to(V * 2, (3, 4))),
        ("broadcast gradient", gc.grad((x * v.reshape(1, 4).broadcast_to((3, 4))).sum(), v),
         X.sum(0)),
        ("placeholder", x, X), ("parameter", p, np.full((2, 2), 1.5)),
        ("folded constant", x <= x, np.ones((3, 4))),
    ]
    evaluated = gc.evaluate([c[1] for c in cases], {x: xv, v: vv})
    got = gc.compile([x, v], [c[1] for c in cases])(xv, vv)
    failures = []
    for (name, _, want), e, g in zip(cases, evaluated, got):
        assert_close(f"{name} evaluated", e, want, dtype)
        try:
            assert_close(f"{name} compiled", g, want, dtype)
        except AssertionError:
            failures.append(name)
    single = gc.compile([x], x.T)(xv)            # a view as the single output
    if not np.allclose(single, X.T):
        failures.append("single output x.T")
    assert not failures, f"wrong compiled outputs: {failures}"


def test_reshape_of_a_transposed_tensor(dtype):
    x = gc.placeholder((3, 4), dtype, name="x")
    xv = (np.arange(12).reshape(3, 4) / 10).astype(dtype)
    X = xv.astype(F64)
    cases = [("exp(x.T.reshape(-1))", gc.exp(x.T.reshape(-1)), np.exp(X.T.reshape(-1)), False),
             ("(x * x).T.reshape(2, 6) + 1", (x * x).T.reshape(2, 6) + 1.0,
              (X * X).T.reshape(2, 6) + 1.0, False),
             ("x.permute(1, 0).reshape(2, 2, 3).sum(1)",
              x.permute(1, 0).reshape(2, 2, 3).sum(1), X.T.reshape(2, 2, 3).sum(1), True)]
    check_cases([x], [xv], cases)


# }}}


# {{{ matmul

matmul_shapes = st.tuples(st.integers(1, 5), st.integers(1, 5), st.integers(1, 5),
                          mutually_broadcastable_shapes(num_shapes=2, min_dims=0, max_dims=2,
                                                        min_side=1, max_side=3))


@examples(2)
@example(dims=(3, 4, 2, BroadcastableShapes(((2, 1), (3,)), (2, 3))), seed=1)
@given(dims=matmul_shapes, seed=seeds)
def test_matmul(dtype, dims, seed):
    M, K, N, batch = dims
    ba, bb = batch.input_shapes
    rng = np.random.default_rng(seed)
    names = {"A": (M, K), "B": (K, N), "At": (K, M), "bA": ba + (M, K), "bB": bb + (K, N),
             "u": (K,), "w": (K,)}
    ts = {n: gc.placeholder(s, dtype, name=n) for n, s in names.items()}
    vals = {n: rng.uniform(-1, 1, s).astype(dtype) for n, s in names.items()}
    R = {n: v.astype(F64) for n, v in vals.items()}
    A, B, At, bA, bB, u, w = (ts[n] for n in names)
    cases = [
        ("A @ B", A @ B, R["A"] @ R["B"], True),
        ("A.mm(B)", A.mm(B), R["A"] @ R["B"], True),
        ("gc.mm", gc.mm(A, B), R["A"] @ R["B"], True),
        ("gc.matmul", gc.matmul(A, B), R["A"] @ R["B"], True),
        ("A.matmul(B)", A.matmul(B), R["A"] @ R["B"], True),
        ("At.T @ B", At.T @ B, R["At"].T @ R["B"], True),
        ("(A @ B).T", (A @ B).T, (R["A"] @ R["B"]).T, True),
        ("B.T @ A.T", B.T @ A.T, R["B"].T @ R["A"].T, True),
        ("batched", bA @ bB, R["bA"] @ R["bB"], True),
        ("batched @ 2-D", bA @ B, R["bA"] @ R["B"], True),
        ("2-D @ batched", A @ bB, R["A"] @ R["bB"], True),
        ("1-D @ 2-D", u @ B, R["u"] @ R["B"], True),
        ("2-D @ 1-D", A @ u, R["A"] @ R["u"], True),
        ("1-D @ 1-D", u @ w, R["u"] @ R["w"], True),
        ("batched @ 1-D", bA @ u, R["bA"] @ R["u"], True),
        ("1-D @ batched", u @ bB, R["u"] @ R["bB"], True),
        ("epilogue", (A @ B).relu() * 2.0 + 1.0,
         np.maximum(R["A"] @ R["B"], 0) * 2.0 + 1.0, True),
        ("prologue", (A * 2.0).tanh() @ B, np.tanh(R["A"] * 2.0) @ R["B"], True),
        ("numpy array operand", A @ R["B"].astype(dtype), R["A"] @ R["B"], True),
    ]
    check_cases([ts[n] for n in names], [vals[n] for n in names], cases)


def test_matmul_shape_errors():
    a = gc.placeholder((3, 4), "float32")
    with pytest.raises(ValueError, match=r"\(3, 4\)"):
        a @ a
    with pytest.raises(ValueError):
        a.mm(gc.placeholder((4,), "float32"))
    with pytest.raises(ValueError):
        gc.placeholder((2, 3, 4), "float32") @ gc.placeholder((3, 4, 5), "float32")
    with pytest.raises(ValueError):
        a @ gc.placeholder((), "float32")

# }}}


# {{{ softmax, log_softmax, logsumexp

def np_logsumexp(X, axis=None, keepdims=False):
    m = np.max(X, axis=axis, keepdims=True)
    out = np.log(np.sum(np.exp(X - m), axis=axis, keepdims=True)) + m
    return out if keepdims else np.squeeze(out, axis=axis) if axis is not None else \
        out.reshape(())


def np_softmax(X, axis):
    e = np.exp(X - X.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


@examples(2)
@example(shape=(2, 3, 4), seed=1)
@given(shape=nonscalar_shapes, seed=seeds)
def test_softmax_family(dtype, shape, seed):
    rng = np.random.default_rng(seed)
    nd = len(shape)
    axis = int(rng.integers(-nd, nd))
    x = gc.placeholder(shape, dtype, name="x")
    big = gc.placeholder(shape, dtype, name="big")
    xv = rng.uniform(-3, 3, shape).astype(dtype)
    bigv = (xv + 200).astype(dtype)     # exp(200) overflows float32 and float64 is fine
    X, BIG = xv.astype(F64), bigv.astype(F64)
    subset = tuple(int(a) for a in sorted(rng.choice(nd, rng.integers(1, nd + 1),
                                                     replace=False)))
    cases = [
        ("softmax(axis)", gc.softmax(x, axis), np_softmax(X, axis), True),
        ("softmax(dim=)", gc.softmax(x, dim=axis), np_softmax(X, axis), True),
        ("x.softmax()", x.softmax(), np_softmax(X, -1), True),
        ("log_softmax(axis)", gc.log_softmax(x, axis), np.log(np_softmax(X, axis)), True),
        ("log_softmax(dim=)", gc.log_softmax(x, dim=axis), np.log(np_softmax(X, axis)), True),
        ("logsumexp()", gc.logsumexp(x), np_logsumexp(X), True),
        ("logsumexp(axis)", gc.logsumexp(x, axis), np_logsumexp(X, axis), True),
        ("logsumexp(axis, keepdims)", gc.logsumexp(x, axis=axis, keepdims=True),
         np_logsumexp(X, axis, keepdims=True), True),
        ("logsumexp(dim=, keepdim=)", x.logsumexp(dim=axis, keepdim=True),
         np_logsumexp(X, axis, keepdims=True), True),
        ("logsumexp(tuple)", gc.logsumexp(x, subset), np_logsumexp(X, subset), True),
        ("softmax of large logits", gc.softmax(big, axis), np_softmax(BIG, axis), True),
        ("log_softmax of large logits", gc.log_softmax(big, axis),
         BIG - np_logsumexp(BIG, axis, keepdims=True), True),
        ("logsumexp of large logits", gc.logsumexp(big, axis), np_logsumexp(BIG, axis), True),
        ("softmax sums to 1", gc.softmax(x, axis).sum(axis), np.ones(np.sum(X, axis).shape),
         True),
    ]
    check_cases([x, big], [xv, bigv], cases)

# }}}


# {{{ gradients (float64)

@pytest.fixture
def fp64(has_fp64):
    if not has_fp64:
        pytest.skip("device has no float64 support")


@examples(3)
@given(shape=shapes, seed=seeds)
def test_grad_unary(fp64, shape, seed):
    rng = np.random.default_rng(seed)
    x = gc.placeholder(shape, "float64", name="x")
    p = gc.placeholder(shape, "float64", name="p")
    X, P = away_from_zero(rng, shape), positive(rng, shape, 0.1, 3.0)
    w = weights(rng, shape)
    W = w.arg.array
    s = sigmoid(X)
    specs = [
        ("neg", -x, x, -W), ("exp", gc.exp(x), x, np.exp(X) * W),
        ("log", gc.log(p), p, W / P), ("sqrt", gc.sqrt(p), p, W / (2 * np.sqrt(P))),
        ("tanh", gc.tanh(x), x, (1 - np.tanh(X) ** 2) * W),
        ("sigmoid", gc.sigmoid(x), x, s * (1 - s) * W),
        ("relu", gc.relu(x), x, (X > 0) * W), ("abs", gc.abs(x), x, np.sign(X) * W),
    ]
    costs = [(name, (y * w).sum(), [v], [g]) for name, y, v, g in specs]
    check_gradients([x, p], [X, P], costs)


@examples(3)
@example(shapes=BroadcastableShapes(((2, 1, 4), (3, 1)), (2, 3, 4)), seed=1)
@given(shapes=pairs, seed=seeds)
def test_grad_binary(fp64, shapes, seed):
    rng = np.random.default_rng(seed)
    sa, sb = shapes.input_shapes
    out = shapes.result_shape
    a = gc.placeholder(sa, "float64", name="a")
    b = gc.placeholder(sb, "float64", name="b")
    pa = gc.placeholder(sa, "float64", name="pa")
    # a and b are never within 0.1 of each other: no maximum/minimum/where ties
    A = away_from_zero(rng, sa, 0.5, 2.0)
    B = np.asarray(np.where(rng.random(sb) < 0.5, 1.0, -1.0) * rng.uniform(0.2, 0.4, sb))
    PA = positive(rng, sa)
    w = weights(rng, out)
    W = w.arg.array
    bA, bB = np.broadcast_to(A, out), np.broadcast_to(B, out)
    bPA = np.broadcast_to(PA, out)

    def both(ga, gb):
        return [unbroadcast(ga * W, sa), unbroadcast(gb * W, sb)]

    one, zero = np.ones(out), np.zeros(out)
    specs = [
        ("add", a + b, [a, b], both(one, one)),
        ("sub", a - b, [a, b], both(one, -one)),
        ("mul", a * b, [a, b], both(bB, bA)),
        ("div", a / b, [a, b], both(1 / bB, -bA / bB ** 2)),
        ("pow", pa ** b, [pa, b], [unbroadcast(bB * bPA ** (bB - 1) * W, sa),
                                   unbroadcast(np.log(bPA) * bPA ** bB * W, sb)]),
        ("maximum", gc.maximum(a, b), [a, b], both(bA > bB, bA < bB)),
        ("minimum", gc.minimum(a, b), [a, b], both(bA < bB, bA > bB)),
        ("where", gc.where(a > b, a * a, b), [a, b], both((bA > bB) * 2 * bA, bA <= bB)),
        ("lt", a < b, [a, b], both(zero, zero)),
        ("ge", a >= b, [a, b], both(zero, zero)),
        ("scalar pow", a ** 3, [a], [unbroadcast(3 * bA ** 2 * W, sa)]),
        ("rpow", 2.0 ** b, [b], [unbroadcast(np.log(2) * 2.0 ** bB * W, sb)]),
        ("rdiv", 1.0 / b, [b], [unbroadcast(-W / bB ** 2, sb)]),
    ]
    costs = [(name, (y * w).sum(), wrt, g) for name, y, wrt, g in specs]
    check_gradients([a, b, pa], [A, B, PA], costs)


@examples(2)
@given(shape=shapes, seed=seeds)
def test_grad_clamp(fp64, shape, seed):
    rng = np.random.default_rng(seed)
    x = gc.placeholder(shape, "float64", name="x")
    X = away_from_bounds(rng, shape)
    w = weights(rng, shape)
    W = w.arg.array
    specs = [
        ("clamp(min=)", x.clamp(min=-1), (X > -1) * W),
        ("clamp(max=)", x.clamp(max=1), (X < 1) * W),
        ("clamp(both)", x.clamp(min=-1, max=1), ((X > -1) & (X < 1)) * W),
    ]
    costs = [(name, (y * w).sum(), [x], [g]) for name, y, g in specs]
    check_gradients([x], [X], costs)


@examples(3)
@example(shape=(2, 3, 4), seed=1)
@given(shape=shapes, seed=seeds)
def test_grad_reductions(fp64, shape, seed):
    rng = np.random.default_rng(seed)
    x = gc.placeholder(shape, "float64", name="x")
    X = distinct(rng, shape)
    costs = []
    for name, t, want, _ in reduction_cases(x, X, rng, every_axis=False):
        w = weights(rng, t.shape)
        costs.append((name, (t * w).sum(), [x], None))
    # analytic: the gradient of max goes to the argmax, of mean is uniform
    if X.ndim:
        w = weights(rng, X.shape[1:])
        onehot = (X == X.max(axis=0, keepdims=True)) * w.arg.array
        costs.append(("max(0) analytic", (x.max(0) * w).sum(), [x], [onehot]))
        onehot = (X == X.min(axis=0, keepdims=True)) * w.arg.array
        costs.append(("min(0) analytic", (x.min(0) * w).sum(), [x], [onehot]))
    costs.append(("mean analytic", x.mean() * 3.0, [x], [np.full(X.shape, 3.0 / X.size)]))
    check_gradients([x], [X], costs)


@examples(3)
@example(shape=(2, 3, 4), seed=1)
@given(shape=shapes, seed=seeds)
def test_grad_views(fp64, shape, seed):
    rng = np.random.default_rng(seed)
    x = gc.placeholder(shape, "float64", name="x")
    X = away_from_zero(rng, shape)
    nd = len(shape)
    perm = permutation_of(rng, nd)
    target = (2,) + tuple(int(rng.integers(1, 4)) if d == 1 else d for d in shape)
    y = x * x                                   # make the gradient depend on x
    views = [("reshape(-1)", y.reshape(-1)), ("T", y.T), ("permute", y.permute(perm)),
             ("broadcast_to", y.broadcast_to(target)),
             ("reshape(1, -1).T", y.reshape(1, -1).T)]
    if nd >= 2:
        views.append(("transpose(0, -1)", y.transpose(0, -1)))
    costs = []
    for name, v in views:
        w = weights(rng, v.shape)      # v * v: the backward views act on computed tensors
        costs.append((name, (v * v * w).sum(), [x], None))
    # broadcast: the gradient is the sum over the stretched axes
    wb = weights(rng, target)
    costs.append(("broadcast analytic", (x.broadcast_to(target) * wb).sum(), [x],
                  [unbroadcast(np.broadcast_to(wb.arg.array, target), shape)]))
    check_gradients([x], [X], costs)


@examples(3)
@example(dims=(3, 4, 2, BroadcastableShapes(((2, 1), (3,)), (2, 3))), seed=1)
@given(dims=matmul_shapes, seed=seeds)
def test_grad_matmul(fp64, dims, seed):
    M, K, N, batch = dims
    ba, bb = batch.input_shapes
    rng = np.random.default_rng(seed)
    names = {"A": (M, K), "B": (K, N), "bA": ba + (M, K), "bB": bb + (K, N), "u": (K,),
             "v": (K,)}
    ts = {n: gc.placeholder(s, "float64", name=n) for n, s in names.items()}
    R = {n: rng.uniform(-1, 1, s) for n, s in names.items()}
    A, B, bA, bB, u, v = (ts[n] for n in names)
    specs = [("A @ B", A @ B, [A, B]), ("A.mm(B)", A.mm(B), [A, B]),
             ("batched", bA @ bB, [bA, bB]), ("1-D @ 2-D", u @ B, [u, B]),
             ("2-D @ 1-D", A @ u, [A, u]), ("1-D @ 1-D", u @ v, [u, v]),
             ("batched @ 2-D", bA @ B, [bA, B]), ("B.T @ A.T", B.T @ A.T, [A, B])]
    costs = []
    for name, t, wrt in specs:
        w = weights(rng, t.shape)
        costs.append((name, (t * w).sum(), wrt, None))
    W = rng.standard_normal((M, N))
    costs.append(("A @ B analytic", (A @ B * gc.constant(W)).sum(), [A, B],
                  [W @ R["B"].T, R["A"].T @ W]))
    check_gradients([ts[n] for n in names], [R[n] for n in names], costs)


@examples(3)
@example(shape=(2, 3, 4), seed=1)
@given(shape=nonscalar_shapes, seed=seeds)
def test_grad_softmax_family(fp64, shape, seed):
    rng = np.random.default_rng(seed)
    nd = len(shape)
    axis = int(rng.integers(-nd, nd))
    x = gc.placeholder(shape, "float64", name="x")
    X = rng.uniform(-3, 3, shape)
    specs = [("softmax", gc.softmax(x, axis)), ("log_softmax", gc.log_softmax(x, dim=axis)),
             ("logsumexp()", gc.logsumexp(x)), ("logsumexp(axis)", gc.logsumexp(x, axis)),
             ("logsumexp(keepdims)", gc.logsumexp(x, axis, keepdims=True))]
    costs = []
    for name, t in specs:
        w = weights(rng, t.shape)
        costs.append((name, (t * w).sum(), [x], None))
    # d logsumexp / dx = softmax
    costs.append(("logsumexp analytic", gc.logsumexp(x), [x], [np_softmax(X, None)]))
    check_gradients([x], [X], costs)

# }}}


def test_grad_compiled_in_float32():
    """The seed's case: gradients compiled in float32 agree with float64 evaluation."""
    rng = np.random.default_rng(3)
    x = gc.placeholder((8, 5), "float32", name="x")
    w1 = gc.parameter(rng.uniform(-1, 1, (5, 6)).astype(np.float32), name="w1")
    w2 = gc.parameter(rng.uniform(-1, 1, (6, 3)).astype(np.float32), name="w2")
    b = gc.placeholder((3,), "float32", name="b")
    X, Bv = rng.uniform(-1, 1, (8, 5)).astype(np.float32), rng.uniform(-1, 1, 3).astype(
        np.float32)
    h = x.mm(w1).clamp(min=0)
    logits = h @ w2 + b
    cost = -(gc.log_softmax(logits, dim=1) * gc.constant(np.eye(3)[[0, 1, 2, 0, 1, 2, 0, 1]],
                                                          "float32")).sum() / 8 \
        + (gc.sigmoid(x) ** 2).mean() + gc.logsumexp(logits) + (logits.max(1) * 0.1).sum()
    grads = gc.grad(cost, [x, w1, w2, b])
    assert all(g.dtype == F32 for g in grads)
    got = gc.compile([x, b], grads)(X, Bv)
    want = gc.evaluate(grads, {x: X, b: Bv}, dtype="float64")
    for name, g, e in zip(("x", "w1", "w2", "b"), got, want):
        assert g.dtype == F32
        assert_close(f"d cost / d {name}", g, e, F32, loose=True)
    gc.check_grad(cost, [x, w1, w2, b], {x: X, b: Bv})
