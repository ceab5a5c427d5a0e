"""One call's commands: enqueued without waiting, one wait at the end, and what that must
not change (fresh outputs, inputs free to change once the call returns, updates)."""
from __future__ import annotations

import numpy as np
import pyopencl.array as cl_array
import pytest

import graphc as gc
import graphc.compiler as compiler

RNG = np.random.default_rng(7)
XS = RNG.standard_normal((5, 4)).astype(np.float32)


def _copies(monkeypatch) -> list:
    """Record (direction, blocking) of every host copy the next calls enqueue."""
    real = compiler.cl.enqueue_copy
    seen = []

    def spy(queue, dest, src, **kwargs):
        if isinstance(dest, np.ndarray):
            seen.append(("read", kwargs.get("is_blocking", True)))
        elif isinstance(src, np.ndarray):
            seen.append(("write", kwargs.get("is_blocking", True)))
        return real(queue, dest, src, **kwargs)

    monkeypatch.setattr(compiler.cl, "enqueue_copy", spy)
    return seen


def _three_outputs():
    x = gc.placeholder((5, 4), name="x")
    y = gc.placeholder((4,), name="y")
    outs = [x * 2 + y, (x * y).sum(), x[2:2] + 1]       # the last one empty: no read
    return [x, y], outs


def test_a_call_waits_once_at_its_last_read(monkeypatch):
    inputs, outs = _three_outputs()
    fn = gc.compile(inputs, outs)
    ys = np.arange(4, dtype=np.float32)
    want = gc.evaluate(outs, {inputs[0]: XS, inputs[1]: ys})
    fn(XS, ys)
    seen = _copies(monkeypatch)
    got = fn(XS, ys)
    assert seen == [("write", False), ("write", False), ("read", False), ("read", True)]
    for g, w in zip(got, want):
        assert g.shape == w.shape
        np.testing.assert_allclose(g, w, rtol=1e-6)


def test_outputs_of_a_call_are_not_overwritten_by_the_next(monkeypatch):
    inputs, outs = _three_outputs()
    fn = gc.compile(inputs, outs)
    ys = np.ones(4, np.float32)
    first = fn(XS, ys)
    kept = [a.copy() for a in first]
    fn(XS * 3, ys * 5)
    for a, b in zip(first, kept):
        np.testing.assert_array_equal(a, b)


def test_a_host_input_may_change_once_the_call_returned():
    """The input's copy to the device is not waited for on its own: the call returns only
    once the queue is done, so the caller may then overwrite the array."""
    x = gc.placeholder((5, 4), name="x")
    fn = gc.compile([x], gc.tanh(x).sum(axis=0))
    xs = XS.copy()
    got = fn(xs)
    xs[:] = 100
    np.testing.assert_allclose(got, np.tanh(XS).sum(axis=0), rtol=1e-5)
    np.testing.assert_allclose(fn(xs), np.full(4, 5 * np.tanh(100)), rtol=1e-5)


@pytest.mark.parametrize("transactional", [True, False])
@pytest.mark.parametrize("feed", ["numpy", "device"])
def test_steps_with_updates_match_numpy(feed, transactional):
    """Five steps of a two-layer net, its parameters swapping buffers at each commit (or
    updated in place), against the same steps in numpy (float64)."""
    x, y = gc.placeholder((5, 4), name="x"), gc.placeholder((5, 2), name="y")
    w1_0 = RNG.standard_normal((4, 3)).astype(np.float32)
    w2_0 = RNG.standard_normal((3, 2)).astype(np.float32)
    w1, w2 = gc.parameter(w1_0, name="w1"), gc.parameter(w2_0, name="w2")
    loss = ((gc.relu(x @ w1) @ w2 - y) ** 2).sum()
    g1, g2 = gc.grad(loss, [w1, w2])
    lr = 0.01
    fn = gc.compile([x, y], loss, {w1: w1 - lr * g1, w2: w2 - lr * g2},
                    transactional=transactional)
    ys = RNG.standard_normal((5, 2)).astype(np.float32)
    args = (XS, ys) if feed == "numpy" else (cl_array.to_device(fn.queue, XS),
                                             cl_array.to_device(fn.queue, ys))
    a, b = w1_0.astype(np.float64), w2_0.astype(np.float64)
    xs, yt = XS.astype(np.float64), ys.astype(np.float64)
    for _ in range(5):
        h = xs @ a
        r = np.maximum(h, 0) @ b - yt
        want = (r ** 2).sum()
        gb = np.maximum(h, 0).T @ (2 * r)
        ga = xs.T @ ((2 * r) @ b.T * (h > 0))
        a, b = a - lr * ga, b - lr * gb
        np.testing.assert_allclose(fn(*args), want, rtol=1e-4)
    np.testing.assert_allclose(w1.value, a, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(w2.value, b, rtol=1e-4, atol=1e-5)


def test_device_outputs_wait_for_their_copies():
    inputs, outs = _three_outputs()
    fn = gc.compile(inputs, outs, device_outputs=True)
    ys = np.arange(4, dtype=np.float32)
    got = fn(XS, ys)
    fn(XS * 0, ys * 0)                      # the next call does not change them
    want = gc.evaluate(outs, {inputs[0]: XS, inputs[1]: ys})
    for g, w in zip(got, want):
        assert isinstance(g, cl_array.Array) and g.shape == w.shape
        np.testing.assert_allclose(g.get(), w, rtol=1e-6)
