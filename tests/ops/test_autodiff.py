"""Reverse mode without a device: gc.grad, gc.evaluate and gc.check_grad only.

Higher derivatives, grad_output=, the kinds of tensors one differentiates with respect to,
unconnected tensors, PyTorch's conventions at kinks and ties, broadcasting un-reduced, and
check_grad failing (with a readable message) where the symbolic gradient and central
differences truly disagree.
"""
from __future__ import annotations

import numpy as np
import pytest

import graphc as gc

F64 = np.dtype("float64")
RNG = np.random.default_rng(1234)


def ph(shape, name, dtype="float64"):
    return gc.placeholder(shape, dtype, name=name)


def close(got, want, rtol=1e-10, atol=1e-12):
    got, want = np.asarray(got), np.asarray(want)
    assert got.shape == want.shape, f"shape {got.shape}, expected {want.shape}"
    np.testing.assert_allclose(got, want, rtol=rtol, atol=atol)


# {{{ higher derivatives

def test_second_and_third_derivative_of_tanh():
    x = ph((5,), "x")
    X = np.linspace(-2, 2, 5)
    g = gc.grad(gc.tanh(x).sum(), x)
    g2 = gc.grad(g.sum(), x)
    g3 = gc.grad(g2.sum(), x)
    t = np.tanh(X)
    close(gc.evaluate(g, {x: X}), 1 - t ** 2)
    close(gc.evaluate(g2, {x: X}), -2 * t * (1 - t ** 2))
    close(gc.evaluate(g3, {x: X}), -2 * (1 - t ** 2) ** 2 + 4 * t ** 2 * (1 - t ** 2))
    gc.check_grad(g.sum(), x, {x: X})
    gc.check_grad(g2.sum(), x, {x: X})


def test_derivatives_of_a_cube():
    x = ph((2, 3), "x")
    X = RNG.uniform(-2, 2, (2, 3))
    g = gc.grad((x ** 3).sum(), x)
    g2 = gc.grad(g.sum(), x)
    g3 = gc.grad(g2.sum(), x)
    g4 = gc.grad(g3.sum(), x)
    close(gc.evaluate(g, {x: X}), 3 * X ** 2)
    close(gc.evaluate(g2, {x: X}), 6 * X)
    close(gc.evaluate(g3, {x: X}), np.full((2, 3), 6.0))
    close(gc.evaluate(g4, {x: X}), np.zeros((2, 3)))


def test_hessian_vector_products():
    """Grad of grad through softmax, log_softmax, matmul and sigmoid, checked by central
    differences of the first gradient."""
    x = ph((3, 4), "x")
    m = ph((4, 2), "m")
    X, M = RNG.uniform(-1, 1, (3, 4)), RNG.uniform(-1, 1, (4, 2))
    W = gc.constant(RNG.standard_normal((3, 4)))
    V = gc.constant(RNG.standard_normal((3, 4)))
    feed = {x: X, m: M}
    for name, cost in [
        ("softmax", (gc.softmax(x, axis=1) * W).sum()),
        ("log_softmax", (gc.log_softmax(x, axis=0) * W).sum()),
        ("logsumexp", gc.logsumexp(x)),
        ("matmul/sigmoid", ((x @ m).sigmoid() ** 2).sum()),
        ("mean/sqrt", ((x * x + 1.0).sqrt().mean(0) * 2.0).sum()),
    ]:
        g = gc.grad(cost, x)
        hvp = (g * V).sum()
        gc.check_grad(hvp, [x, m] if name == "matmul/sigmoid" else x, feed)
        gc.check_grad(cost, x, feed)


def test_softmax_second_derivative_matches_the_formula():
    x = ph((4,), "x")
    X = np.array([0.3, -1.2, 0.8, 0.1])
    w = np.array([1.0, -2.0, 0.5, 3.0])
    s = np.exp(X) / np.exp(X).sum()
    jac = np.diag(s) - np.outer(s, s)            # d softmax / dx
    g = gc.grad((gc.softmax(x) * gc.constant(w)).sum(), x)
    close(gc.evaluate(g, {x: X}), jac @ w)
    # d/dx of (J w)_0 = d/dx s0 (w0 - s.w)
    g2 = gc.grad((g * gc.constant(np.eye(4)[0])).sum(), x)
    sw = s @ w
    want = jac[0] * (w[0] - sw) - s[0] * (jac @ w)
    close(gc.evaluate(g2, {x: X}), want)


def test_max_has_no_second_derivative():
    x = ph((2, 3), "x")
    X = np.array([[1.0, 5.0, 2.0], [4.0, 0.0, 3.0]])
    g = gc.grad((x.max(axis=1) ** 2).sum(), x)
    close(gc.evaluate(g, {x: X}), np.array([[0, 10.0, 0], [8.0, 0, 0]]))
    g2 = gc.grad(g.sum(), x)
    close(gc.evaluate(g2, {x: X}), np.array([[0, 2.0, 0], [2.0, 0, 0]]))

# }}}


# {{{ grad_output, what one differentiates with respect to

def test_grad_output_for_a_non_scalar_cost():
    x = ph((3, 4), "x")
    X = RNG.uniform(-1, 1, (3, 4))
    G = RNG.standard_normal((3, 4))
    y = gc.tanh(x) * 2.0
    close(gc.evaluate(gc.grad(y, x, grad_output=G), {x: X}), 2 * (1 - np.tanh(X) ** 2) * G)
    gt = gc.grad(y, x, grad_output=gc.constant(G))                # a Tensor cotangent
    close(gc.evaluate(gt, {x: X}), 2 * (1 - np.tanh(X) ** 2) * G)
    gc.check_grad(y, x, {x: X}, grad_output=G)
    # the cotangent may itself be a placeholder: a VJP one feeds at run time
    go = ph((3, 4), "go")
    close(gc.evaluate(gc.grad(y, x, grad_output=go), {x: X, go: G}),
          2 * (1 - np.tanh(X) ** 2) * G)
    # matmul: the VJP is G @ B^T
    b = ph((4, 2), "b")
    B = RNG.standard_normal((4, 2))
    G2 = RNG.standard_normal((3, 2))
    close(gc.evaluate(gc.grad(x @ b, x, grad_output=G2), {x: X, b: B}), G2 @ B.T)


def test_grad_output_errors():
    x = ph((3, 4), "x")
    with pytest.raises(ValueError, match="grad_output"):
        gc.grad(x * 2.0, x)
    with pytest.raises(ValueError, match=r"\(4, 3\)"):
        gc.grad(x * 2.0, x, grad_output=np.ones((4, 3)))
    with pytest.raises(TypeError):
        gc.grad(x * 2.0, x, grad_output=gc.constant(np.ones((3, 4), np.float32)))
    with pytest.raises(TypeError):
        gc.grad(np.ones(3), x)
    with pytest.raises(TypeError):
        gc.grad(x.sum(), [x, np.ones(3)])


def test_grad_wrt_placeholder_parameter_and_intermediate():
    x = ph((4, 3), "x")
    X = RNG.uniform(-1, 1, (4, 3))
    W0 = RNG.uniform(-1, 1, (3, 2))
    w = gc.parameter(W0, name="w")
    h = x @ w                                   # an intermediate
    a = gc.tanh(h)
    cost = (a ** 2).sum()
    gx, gw, gh, ga = gc.grad(cost, [x, w, h, a])
    H = X @ W0
    A = np.tanh(H)
    dH = 2 * A * (1 - A ** 2)
    feed = {x: X}
    close(gc.evaluate(ga, feed), 2 * A)
    close(gc.evaluate(gh, feed), dH)
    close(gc.evaluate(gw, feed), X.T @ dH)
    close(gc.evaluate(gx, feed), dH @ W0.T)
    assert [g.shape for g in (gx, gw, gh, ga)] == [(4, 3), (3, 2), (4, 2), (4, 2)]
    gc.check_grad(cost, [x, w], feed)       # the parameter's value comes from w.value
    gc.check_grad(cost, [x, w], {x: X, w: W0 * 2})   # or from values, overriding it
    # grad of the cost with respect to itself is 1
    close(gc.evaluate(gc.grad(cost, cost), feed), np.ones(()))


def test_return_type_follows_wrt():
    x = ph((3,), "x")
    g = gc.grad(x.sum(), x)
    assert isinstance(g, gc.Tensor)
    gl = gc.grad(x.sum(), [x])
    assert isinstance(gl, list) and len(gl) == 1
    gt = gc.grad(x.sum(), (x, x))
    assert isinstance(gt, list) and len(gt) == 2


def test_unconnected_tensors_get_zeros():
    x = ph((3,), "x")
    z = ph((2, 2), "z")
    z32 = ph((5,), "z32", "float32")
    p = gc.parameter(np.ones((4,)), name="p")
    cost = (x * x).sum()
    gz, gp, gz32 = gc.grad(cost, [z, p, z32])
    assert gz.shape == (2, 2) and gz.dtype == F64
    assert gz32.shape == (5,) and gz32.dtype == np.float32
    feed = {x: np.ones(3), z: np.ones((2, 2)), z32: np.ones(5, np.float32)}
    close(gc.evaluate(gz, feed), np.zeros((2, 2)))
    close(gc.evaluate(gp, feed), np.zeros(4))
    close(gc.evaluate(gz32, feed), np.zeros(5))
    # connected, but only through a piecewise-constant op: zero as well
    y = ph((3,), "y")
    gy = gc.grad(((y > 0) * x).sum() + (y <= 0.5).sum(), y)
    close(gc.evaluate(gy, {x: np.ones(3), y: np.array([-1.0, 0.2, 3.0])}), np.zeros(3))


def test_gradient_dtype_stays_float32():
    x = ph((3,), "x", "float32")
    cost = ((x * 2.5 + 1) ** 2).sum() / 3
    g = gc.grad(cost, x)
    assert g.dtype == np.float32
    X = np.array([0.5, -1.0, 2.0], np.float32)
    got = gc.evaluate(g, {x: X})
    assert got.dtype == np.float32
    close(got, 2 * (X * 2.5 + 1) * 2.5 / 3, rtol=1e-6, atol=1e-6)
    gc.check_grad(cost, x, {x: X})              # check_grad works in float64 regardless

# }}}


# {{{ PyTorch's conventions at kinks and ties

def test_relu_clamp_abs_gradients_at_the_kink_are_zero():
    x = ph((5,), "x")
    X = np.array([-1.0, 0.0, 0.5, 1.0, 2.0])
    feed = {x: X}
    close(gc.evaluate(gc.grad(x.relu().sum(), x), feed), [0, 0, 1, 1, 1])
    close(gc.evaluate(gc.grad(gc.relu(x - 1.0).sum(), x), feed), [0, 0, 0, 0, 1])
    # clamp passes the gradient on its bounds, as torch's (SPEC)
    close(gc.evaluate(gc.grad(x.clamp(min=0).sum(), x), feed), [0, 1, 1, 1, 1])
    close(gc.evaluate(gc.grad(x.clamp(max=1).sum(), x), feed), [1, 1, 1, 1, 0])
    close(gc.evaluate(gc.grad(x.clamp(min=0, max=1).sum(), x), feed), [0, 1, 1, 1, 0])
    close(gc.evaluate(gc.grad(x.clamp(min=-1, max=2).sum(), x), feed), [1, 1, 1, 1, 1])
    close(gc.evaluate(gc.grad(x.abs().sum(), x), feed), [-1, 0, 1, 1, 1])
    close(gc.evaluate(gc.grad(abs(x - 0.5).sum(), x), feed), [-1, -1, 0, 1, 1])


def test_max_and_min_send_the_gradient_to_the_first_extremum():
    x = ph((3,), "x")
    feed = {x: np.array([1.0, 3.0, 3.0])}
    close(gc.evaluate(gc.grad(x.max(), x), feed), [0, 1, 0])
    close(gc.evaluate(gc.grad(gc.max(x, axis=0), x), feed), [0, 1, 0])
    feed = {x: np.array([3.0, 1.0, 1.0])}
    close(gc.evaluate(gc.grad(x.min(), x), feed), [0, 1, 0])
    feed = {x: np.array([2.0, 2.0, 2.0])}
    close(gc.evaluate(gc.grad(x.max(), x), feed), [1, 0, 0])
    close(gc.evaluate(gc.grad(x.min(), x), feed), [1, 0, 0])


def test_max_over_an_axis_with_ties_picks_the_first_per_group():
    x = ph((2, 3), "x")
    X = np.array([[1.0, 3.0, 3.0], [5.0, 5.0, 0.0]])
    close(gc.evaluate(gc.grad(x.max(axis=1).sum(), x), {x: X}), [[0, 1, 0], [1, 0, 0]])
    close(gc.evaluate(gc.grad(x.max(dim=0, keepdim=True).sum(), x), {x: X}),
          [[0, 0, 1], [1, 1, 0]])
    Y = np.array([[2.0, 1.0, 1.0], [0.0, 0.0, 4.0]])
    close(gc.evaluate(gc.grad(x.min(axis=-1).sum(), x), {x: Y}), [[0, 1, 0], [1, 0, 0]])
    # over several axes, "first" is in row-major order of the reduced elements
    Z = np.array([[1.0, 7.0, 2.0], [7.0, 0.0, 7.0]])
    close(gc.evaluate(gc.grad(x.max(), x), {x: Z}), [[0, 1, 0], [0, 0, 0]])
    close(gc.evaluate(gc.grad(x.max(axis=(0, 1)), x), {x: Z}), [[0, 1, 0], [0, 0, 0]])
    # 3-d, reducing the outer and inner axes: the first tie in (axis0, axis2) order
    t = ph((2, 2, 2), "t")
    T = np.array([[[0.0, 9.0], [9.0, 1.0]], [[9.0, 9.0], [2.0, 9.0]]])
    want = np.zeros((2, 2, 2))
    want[0, 0, 1] = want[0, 1, 0] = 1
    close(gc.evaluate(gc.grad(t.max(axis=(0, 2)).sum(), t), {t: T}), want)


def test_maximum_and_minimum_split_the_gradient_at_ties():
    a, b = ph((3,), "a"), ph((3,), "b")
    feed = {a: np.array([1.0, 2.0, 3.0]), b: np.array([2.0, 2.0, 2.0])}
    ga, gb = gc.evaluate(gc.grad(gc.maximum(a, b).sum(), [a, b]), feed)
    close(ga + gb, np.ones(3))                 # d/dt maximum(t, t) = 1
    close(ga, [0, 0.5, 1])
    ga, gb = gc.evaluate(gc.grad(gc.minimum(a, b).sum(), [a, b]), feed)
    close(ga, [1, 0.5, 0])


def test_softmax_gradient_is_finite_for_large_logits():
    x = ph((3,), "x")
    X = np.array([1000.0, 1001.0, 999.0])
    g = gc.evaluate(gc.grad((gc.log_softmax(x) * gc.constant([1.0, 0, 0])).sum(), x), {x: X})
    s = np.exp(X - X.max()) / np.exp(X - X.max()).sum()
    close(g, np.array([1.0, 0, 0]) - s)
    g = gc.evaluate(gc.grad(gc.logsumexp(x), x), {x: X})
    close(g, s)

# }}}


def test_gradients_of_naive_formulas_are_stable():
    """graphc stabilises naive formulas as it builds them, so their gradients are finite
    where the naive gradient would overflow."""
    x = ph((4,), "x")
    X = np.array([-1000.0, -1.0, 2.0, 1000.0])
    sig = 0.5 * (1 + np.tanh(X / 2))
    close(gc.evaluate(gc.grad(gc.log(1 + gc.exp(x)).sum(), x), {x: X}), sig)
    close(gc.evaluate(gc.grad((1 / (1 + gc.exp(-x))).sum(), x), {x: X}), sig * (1 - sig))
    s = np.exp(X - X.max()) / np.exp(X - X.max()).sum()
    close(gc.evaluate(gc.grad(gc.log(gc.exp(x).sum()), x), {x: X}), s)
    w = np.array([1.0, 0.0, 0.0, 0.0])
    naive = gc.log(gc.exp(x) / gc.exp(x).sum(0, keepdims=True))
    close(gc.evaluate(gc.grad((naive * gc.constant(w)).sum(), x), {x: X}), w - s)


# {{{ broadcasting

def test_broadcast_gradients_are_reduced_to_the_operand_shape():
    x = ph((3, 4), "x")
    col = ph((3, 1), "col")
    row = ph((4,), "row")
    s = ph((), "s")
    X = RNG.uniform(-1, 1, (3, 4))
    feed = {x: X, col: RNG.uniform(-1, 1, (3, 1)), row: RNG.uniform(-1, 1, 4),
            s: np.array(0.7)}
    cost = (x * col * row * s).sum()
    gcol, grow, gs = gc.grad(cost, [col, row, s])
    assert (gcol.shape, grow.shape, gs.shape) == ((3, 1), (4,), ())
    xr = X * feed[row]
    close(gc.evaluate(gcol, feed), (xr * feed[s]).sum(axis=1, keepdims=True))
    close(gc.evaluate(grow, feed), (X * feed[col] * feed[s]).sum(axis=0))
    close(gc.evaluate(gs, feed), (xr * feed[col]).sum())
    gc.check_grad(cost, [col, row, s], feed)
    # broadcast_to: the row sums, as in the SPEC example (3,1) -> (3,4)
    g = gc.grad((col.broadcast_to((3, 4)) * x).sum(), col)
    close(gc.evaluate(g, feed), X.sum(axis=1, keepdims=True))
    g = gc.grad(col.broadcast_to((2, 3, 4)).sum(), col)
    close(gc.evaluate(g, feed), np.full((3, 1), 8.0))
    # a Python scalar operand takes no gradient and changes nothing
    g = gc.grad((col + 1.0).sum(), col)
    close(gc.evaluate(g, feed), np.full((3, 1), 1.0))


def test_batched_matmul_gradient_is_reduced_over_broadcast_batches():
    a = ph((2, 3, 4), "a")
    b = ph((4, 5), "b")
    A, B = RNG.standard_normal((2, 3, 4)), RNG.standard_normal((4, 5))
    W = RNG.standard_normal((2, 3, 5))
    cost = ((a @ b) * gc.constant(W)).sum()
    ga, gb = gc.grad(cost, [a, b])
    assert gb.shape == (4, 5)
    close(gc.evaluate(gb, {a: A, b: B}), np.einsum("bmk,bmn->kn", A, W))
    close(gc.evaluate(ga, {a: A, b: B}), W @ B.T)
    gc.check_grad(cost, [a, b], {a: A, b: B})

# }}}


# {{{ check_grad itself

def test_check_grad_passes_on_correct_gradients():
    x, y = ph((3, 2), "x"), ph((2,), "y")
    feed = {x: RNG.uniform(0.5, 1.5, (3, 2)), y: RNG.uniform(-1, 1, 2)}
    cost = (gc.log(x) * gc.exp(y) / (x + y * y)).sum() + gc.logsumexp(x @ y)
    gc.check_grad(cost, [x, y], feed)
    gc.check_grad(cost, [x, y], feed, directions=8, seed=3)
    gc.check_grad(x * y, [x, y], feed, grad_output=np.ones((3, 2)))


def test_check_grad_fails_at_a_relu_kink():
    """At 0, relu's gradient is 0 (PyTorch) but its central difference is u/2."""
    x = ph((3,), "x")
    with pytest.raises(gc.GradientError) as info:
        gc.check_grad(gc.relu(x).sum(), x, {x: np.zeros(3)})
    message = str(info.value)
    assert "central difference" in message and "'x'" in message, message
    assert isinstance(info.value, AssertionError)
    assert isinstance(info.value, gc.GraphcError)
    # abs at 0 has a symmetric difference quotient of 0, which agrees with grad 0
    gc.check_grad(gc.abs(x).sum(), x, {x: np.zeros(3)})


def test_check_grad_fails_on_max_ties():
    """max(x) of [1, 3, 3]: grad . u = u[1] (first maximum), but the central difference is
    (max(u1, u2) + min(u1, u2)) / 2 = (u1 + u2) / 2."""
    x = ph((3,), "x")
    with pytest.raises(gc.GradientError, match=r"wrt\[0\] 'x'"):
        gc.check_grad(x.max(), x, {x: np.array([1.0, 3.0, 3.0])})
    gc.check_grad(x.max(), x, {x: np.array([1.0, 3.0, 2.0])})     # no tie: agrees


def test_check_grad_fails_on_a_discontinuity():
    """A step (where on a comparison) has gradient 0 but a huge central difference."""
    x = ph((2,), "x")
    cost = gc.where(x > 0, x + 1.0, x).sum()
    with pytest.raises(gc.GradientError, match="disagrees"):
        gc.check_grad(cost, x, {x: np.array([0.0, 0.0])})
    gc.check_grad(cost, x, {x: np.array([-1.0, 1.0])})


def test_check_grad_needs_values_for_placeholders():
    x, y = ph((2,), "x"), ph((2,), "y")
    with pytest.raises(ValueError, match="'?y'?"):
        gc.check_grad((x * y).sum(), [x, y], {x: np.ones(2)})

# }}}


def test_masks_add_as_numbers_in_the_reference():
    """Comparisons are bool tensors, as in numpy and torch: two of them add as a logical
    or, and as numbers once converted (.float()); inside a formula the 0/1 masks of the
    tie-splitting gradients of maximum and minimum add as numbers."""
    x = gc.placeholder((3,), dtype="float64", name="x")
    y = gc.placeholder((3,), dtype="float64", name="y")
    feed = {x: np.array([1.0, 2.0, 3.0]), y: np.array([3.0, 2.0, 1.0])}
    both = (y > x) + (y >= x)
    assert both.dtype == np.bool_
    np.testing.assert_array_equal(gc.evaluate(both, feed), [True, True, False])
    np.testing.assert_array_equal(gc.evaluate((y > x).double() + (y >= x).double(), feed),
                                  [2, 1, 0])
    cost = gc.maximum(x, y).sum() + 2 * gc.minimum(x, y).sum()
    np.testing.assert_array_equal(gc.evaluate(gc.grad(cost, x), feed), [2, 1.5, 1])
    gc.check_grad(cost, [x, y], {x: np.array([1.0, 2.5, 3.0]), y: feed[y]})
