"""Graphs over None dimensions made concrete, no device: gc.evaluate with arrays of any
size, the specialized graph is the graph built with those shapes, the call's checks."""
from __future__ import annotations

import numpy as np
import pytest

import graphc as gc
from graphc import codegen, specialize
from graphc.graph import Op, toposort


def mlp(x_shape, y_shape, dtype="float64"):
    """A two-layer net with bias, a mean squared loss and a softmax cross-entropy: the
    loss and its gradients, over placeholders of the given shapes."""
    rng = np.random.default_rng(0)
    x = gc.placeholder(x_shape, dtype, name="x")
    y = gc.placeholder(y_shape, dtype, name="y")
    w1 = gc.parameter(rng.standard_normal((5, 4)).astype(dtype), name="w1")
    b1 = gc.parameter(rng.standard_normal(4).astype(dtype), name="b1")
    w2 = gc.parameter(rng.standard_normal((4, 3)).astype(dtype), name="w2")
    h = (x @ w1 + b1).relu()
    out = h @ w2
    loss = ((out - y) ** 2).mean() + gc.cross_entropy(out, y.softmax(1)) + (x[1:] - x[:-1]).sum()
    return x, y, (w1, b1, w2), loss, gc.grad(loss, [w1, b1, w2, x])


def numpy_mlp(X, Y, w1, b1, w2):
    h = np.maximum(X @ w1 + b1, 0)
    out = h @ w2
    p = np.exp(Y - Y.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    z = out - out.max(1, keepdims=True)
    log_softmax = z - np.log(np.exp(z).sum(1, keepdims=True))
    ce = -(p * log_softmax).sum(1).mean()
    return ((out - Y) ** 2).mean() + ce + (X[1:] - X[:-1]).sum()


@pytest.mark.parametrize("n", [2, 7, 32])
def test_evaluate_takes_any_batch(n):
    x, y, params, loss, grads = mlp((None, 5), (None, 3))
    rng = np.random.default_rng(n)
    X, Y = rng.standard_normal((n, 5)), rng.standard_normal((n, 3))
    got = gc.evaluate([loss] + grads, {x: X, y: Y})
    np.testing.assert_allclose(got[0], numpy_mlp(X, Y, *(p.value for p in params)),
                               rtol=1e-12)
    assert [g.shape for g in got[1:]] == [(5, 4), (4,), (4, 3), (n, 5)]
    # the same numbers as the graph built with this batch size
    cx, cy, cparams, closs, cgrads = mlp((n, 5), (n, 3))
    want = gc.evaluate([closs] + cgrads, {cx: X, cy: Y})
    for a, b in zip(got, want):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-14)


def test_check_grad_over_a_none_dimension():
    x, y, params, loss, _ = mlp((None, 5), (None, 3))
    rng = np.random.default_rng(1)
    gc.check_grad(loss, list(params) + [x],
                  {x: rng.standard_normal((3, 5)), y: rng.standard_normal((3, 3))})


def test_specialized_graph_lowers_as_the_graph_built_with_its_shapes():
    """Rebuilt through each op's builder, the graph is the one the user would have built:
    the same kernels, the same source, byte for byte."""
    x, y, params, loss, grads = mlp((None, 5), (None, 3), "float32")
    updates = {p: p - 0.1 * g for p, g in zip(params, grads)}
    roots = specialize.with_shapes([loss] + list(updates.values()), {x: (6, 5), y: (6, 3)})
    got = gc.lower(roots[:1], dict(zip(updates, roots[1:])), codegen.CPU)
    cx, cy, cparams, closs, cgrads = mlp((6, 5), (6, 3), "float32")
    want = gc.lower([closs], {p: p - 0.1 * g for p, g in zip(cparams, cgrads)}, codegen.CPU)
    assert len(got.kernels) == len(want.kernels) > 1
    # parameter names and values are the same; only the placeholders' ids differ
    assert got.source == want.source


def test_specialize_keeps_what_has_no_symbolic_size():
    x = gc.placeholder((None, 3), name="x")
    w = gc.parameter(np.ones((3, 2), np.float32), name="w")
    static = (w * 2).sum()
    out = (x @ w).sum() + static
    new = specialize.specialize([out], specialize.bind([x], [(4, 3)]))
    assert new[id(w)] is w and new[id(static)] is static
    concrete = new[id(out)]
    assert concrete.shape == () and all(
        n.op is not Op.SIZE and all(isinstance(d, int) for d in n.shape)
        for n in toposort([concrete]))
    (x4,) = [n for n in toposort([concrete]) if n.op is Op.PLACEHOLDER]
    assert x4.shape == (4, 3) and x4.arg == x.arg and x4.name == "x"


def test_sizes_become_constants_of_each_call():
    x = gc.placeholder((None,), "float64", name="x")
    mean, per = x.mean(), x.sum() / x.size(0)
    var = x.var()
    for n in (1, 2, 5):
        X = np.arange(1.0, n + 1)
        got = gc.evaluate([mean, per, var], {x: X})
        np.testing.assert_allclose(got[:2], [X.mean()] * 2, rtol=1e-15)
        # one element: no degree of freedom left, as torch's (0 / 0)
        np.testing.assert_equal(got[2], X.var(ddof=1) if n > 1 else np.nan)


@pytest.mark.parametrize("shape", [(4, 6), (4,), (4, 5, 1), (0, 5)])
def test_bind_names_the_placeholder_whose_array_disagrees(shape):
    x = gc.placeholder((None, 5), name="x")
    with pytest.raises(ValueError, match=rf"input 'x': expected shape \(None, 5\), got "
                                         rf"\({shape[0]}[,)]"):
        specialize.bind([x], [shape])
    with pytest.raises(gc.ShapeError, match="evaluate: input 'x'"):
        gc.evaluate(x * 2, {x: np.zeros(shape, np.float32)})


def test_none_sizes_taken_to_be_equal_must_be():
    x, y = gc.placeholder((None, 2), name="x"), gc.placeholder((None, 2), name="y")
    z = x * y
    assert gc.evaluate(z, {x: np.ones((3, 2)), y: np.ones((3, 2))}).shape == (3, 2)
    with pytest.raises(gc.ShapeError, match=r"\(4, 2\) and \(3, 2\) cannot be broadcast"):
        gc.evaluate(z, {x: np.ones((3, 2)), y: np.ones((4, 2))})


@pytest.mark.parametrize("build, n, match", [
    (lambda x: x[2:4], 3, r"slice .* does not fit axis 0 of size 3"),
    (lambda x: x.view(-1, 4), 3, r"size 3\*x.shape\[0\]/2 is 9/2 for x.shape\[0\] = 3"),
    (lambda x: x[1:], 1, r"size x.shape\[0\] - 1 is 0"),
])
def test_sizes_that_do_not_fit_the_graph_fail_at_the_call(build, n, match):
    x = gc.placeholder((None, 6), name="x")
    t = build(x)
    with pytest.raises(gc.ShapeError, match=match):
        gc.evaluate(t, {x: np.ones((n, 6), np.float32)})


def test_with_shapes_needs_every_none_size():
    x, y = gc.placeholder((None, 2), name="x"), gc.placeholder((None, 2), name="y")
    with pytest.raises(gc.ShapeError, match=r"no shape was given for y.shape\[0\]"):
        specialize.with_shapes([(x @ y.T).sum()], {x: (3, 2)})
    with pytest.raises(gc.ShapeError, match="None dimensions.*with_shapes"):
        gc.lower(x * 2)
    with pytest.raises(ValueError, match="placeholder 'y' needs a value"):
        gc.evaluate(x + y, {x: np.ones((3, 2))})


def test_constants_of_a_none_shape_wait_for_its_size():
    """A constant broadcast to x's shape is a graph without x: a broadcast of one number,
    made a constant of the call's shape. (``x * 0`` is no constant: NaN where x is inf.)"""
    x = gc.placeholder((None, 3), name="x")
    zero = gc.broadcast_to(gc.constant(0.0), x.shape)
    one = zero + 1
    assert zero.op is Op.BROADCAST and zero.shape == x.shape
    assert all(n.op is not Op.PLACEHOLDER for n in toposort([zero, one]))
    got = gc.evaluate([zero, one, (zero + one).sum()], {x: np.ones((4, 3), np.float32)})
    np.testing.assert_array_equal(got[0], np.zeros((4, 3)))
    np.testing.assert_array_equal(got[1], np.ones((4, 3)))
    assert got[2] == 12.0
    with pytest.raises(gc.ShapeError, match=r"no shape was given for x.shape\[0\]"):
        gc.evaluate(zero)


def test_numpy_integer_indices_of_a_none_axis():
    x = gc.placeholder((None, 2), "float64", name="x")
    X = np.arange(10.0).reshape(5, 2)
    got = gc.evaluate([x[np.int64(-1)], x[np.int64(1):np.int64(-1)], x[::np.int64(-2)]],
                      {x: X})
    for a, b in zip(got, [X[-1], X[1:-1], X[::-2]]):
        np.testing.assert_array_equal(a, b)
