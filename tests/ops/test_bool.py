"""bool tensors: comparisons and == build them, masks combine with & | ^ ~, astype and the
torch conversions cross between bool and floats, and bool placeholders, constants and
outputs stay bool on the device (uchar buffers)."""
from __future__ import annotations

import numpy as np
import pytest

import graphc as gc


def test_one_hot_by_equality_gives_the_loss_numpy_gives():
    """The issue's repro: == was Python identity, so a one-hot built with it was False and
    the loss 0 with no error."""
    labels = np.array([2, 0, 1, 2], np.float32)
    logits = np.random.default_rng(0).standard_normal((4, 3)).astype(np.float32)
    y = gc.placeholder((4,), name="y")
    z = gc.placeholder((4, 3), name="z")
    onehot = y.reshape(4, 1) == gc.constant(np.arange(3.0, dtype=np.float32))
    assert onehot.dtype == np.bool_ and onehot.shape == (4, 3)
    loss = -gc.sum(onehot.float() * gc.log_softmax(z, dim=1)) / 4
    fn = gc.compile([y, z], [onehot, loss])
    got_onehot, got_loss = fn(labels, logits)
    want = np.arange(3) == labels[:, None]
    np.testing.assert_array_equal(got_onehot, want)
    shifted = logits - logits.max(1, keepdims=True)
    log_p = shifted - np.log(np.exp(shifted).sum(1, keepdims=True))
    np.testing.assert_allclose(got_loss, -(want * log_p).sum() / 4, rtol=1e-5)
    assert got_loss > 0.1


def test_masks_combine_and_stay_bool_on_the_device():
    rng = np.random.default_rng(1)
    a, b = rng.standard_normal((2, 5, 16)).astype(np.float32)
    x, y = gc.placeholder((5, 16), name="x"), gc.placeholder((5, 16), name="y")
    m = gc.placeholder((5, 16), "bool", name="m")
    mv = rng.random((5, 16)) < 0.5
    outs = [(x > 0) & (y < 0), (x > 0) | m, (x > y) ^ m, ~m, x != y, x == x,
            gc.isnan(x / y), gc.where(m, x, y), gc.masked_fill(x, m, -1.0),
            m.float() * 2 + x, (x > 0).astype("float64"), x.astype("bool"), m & True]
    fn = gc.compile([x, y, m], outs)
    got = fn(a, b, mv)
    want = [(a > 0) & (b < 0), (a > 0) | mv, (a > b) ^ mv, ~mv, a != b, a == a,
            np.isnan(a / b), np.where(mv, a, b), np.where(mv, -1.0, a).astype(np.float32),
            (mv * 2.0 + a).astype(np.float32), (a > 0).astype(np.float64), a.astype(bool), mv]
    ref = gc.evaluate(outs, {x: a, y: b, m: mv})
    for i, (g, r, w) in enumerate(zip(got, ref, want)):
        assert g.dtype == w.dtype == r.dtype, (i, g.dtype, w.dtype)
        np.testing.assert_allclose(g, w, rtol=1e-6, err_msg=str(i))
        np.testing.assert_allclose(r, w, rtol=1e-6, err_msg=str(i))
    assert "uchar" in fn.source


def test_gradients_flow_through_masks_and_casts():
    x = gc.placeholder((6,), "float64", name="x")
    value = np.array([-2.0, -0.5, 0.3, 1.0, 2.5, -1.0])
    y = gc.sum(gc.where(x > 0, x ** 2, -x) * (x < 2).double() + gc.isfinite(x) * x)
    gc.check_grad(y, [x], {x: value})
    x32 = gc.placeholder((6,), name="x32")
    g = gc.grad(gc.sum(x32.double() ** 2), x32)
    assert g.dtype == np.float32          # a cast's gradient casts back
    np.testing.assert_allclose(gc.evaluate(g, {x32: value.astype(np.float32)}), 2 * value,
                               rtol=1e-6)


def test_bool_arithmetic_follows_torch():
    m, n = gc.placeholder((3,), "bool", name="m"), gc.placeholder((3,), "bool", name="n")
    assert (m + n).dtype == np.bool_ and (m * n).dtype == np.bool_
    assert gc.exp(m).dtype == np.float32 and (m / n).dtype == np.float32
    with pytest.raises(gc.DTypeError, match="neg: operands are bool"):
        -m
    with pytest.raises(gc.DTypeError, match="sub: operands are bool"):
        m - n
    with pytest.raises(gc.DTypeError, match="& | ^ ~ take bool"):
        gc.placeholder((3,)) & m
    with pytest.raises(gc.DTypeError, match="masked_fill: the mask must be a bool"):
        gc.masked_fill(gc.placeholder((3,)), gc.placeholder((3,)), 0.0)
    with pytest.raises(gc.DTypeError, match="float16"):
        m.astype("float16")
    feed = {m: np.array([True, False, True]), n: np.array([True, True, False])}
    np.testing.assert_array_equal(gc.evaluate(m + n, feed), [True, True, True])
    np.testing.assert_allclose(gc.evaluate(gc.exp(m), feed), np.exp([1.0, 0.0, 1.0]),
                               rtol=1e-7)
