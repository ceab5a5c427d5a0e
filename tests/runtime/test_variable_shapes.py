"""Compiled functions over None dimensions: one program per distinct input shape, compiled
at its first call and reused; parameters shared by all; results as gc.evaluate and numpy.
And device_outputs: pyopencl arrays that later calls leave alone."""
from __future__ import annotations

import threading

import numpy as np
import pyopencl.array as cl_array
import pytest

import graphc as gc
from graphc import compiler

D_IN, H, D_OUT = 20, 16, 4
LR = 1e-4


@pytest.fixture
def lowered(monkeypatch):
    """The input shapes of every program compiled from here on (one entry per compile)."""
    seen = []
    real = compiler._Variant.__init__

    def counting(self, ctx, inputs, *args, **kwargs):
        seen.append(tuple(p.shape for p in inputs))
        real(self, ctx, inputs, *args, **kwargs)
    monkeypatch.setattr(compiler._Variant, "__init__", counting)
    return seen


def seed_step(rng, batch=None):
    """The seed's network and SGD step (squared error summed, no biases), batch ``None``."""
    x = gc.placeholder((batch, D_IN), name="x")
    y = gc.placeholder((batch, D_OUT), name="y")
    w1 = gc.parameter(rng.standard_normal((D_IN, H), dtype=np.float32), name="w1")
    w2 = gc.parameter(rng.standard_normal((H, D_OUT), dtype=np.float32), name="w2")
    loss = ((x.mm(w1).clamp(min=0).mm(w2) - y) ** 2).sum()
    g1, g2 = gc.grad(loss, [w1, w2])
    step = gc.compile([x, y], loss, updates={w1: w1 - LR * g1, w2: w2 - LR * g2})
    return step, (x, y, w1, w2, loss)


def numpy_step(X, Y, w1, w2):
    """The same step in numpy: the loss, then the new weights."""
    h = X @ w1
    r = np.maximum(h, 0)
    d = 2 * (r @ w2 - Y)
    g2 = r.T @ d
    g1 = X.T @ ((d @ w2.T) * (h > 0))
    return float((d ** 2).sum() / 4), w1 - LR * g1, w2 - LR * g2


def test_epoch_with_a_short_last_batch_compiles_twice_and_trains_as_numpy(lowered):
    rng = np.random.default_rng(0)
    step, (x, y, w1, w2, _) = seed_step(rng)
    X = rng.standard_normal((128 * 2 + 92, D_IN), dtype=np.float32)
    Y = rng.standard_normal((len(X), D_OUT), dtype=np.float32)
    ref1, ref2 = w1.value, w2.value
    losses = []
    for epoch in range(2):
        for start in range(0, len(X), 128):
            xb, yb = X[start:start + 128], Y[start:start + 128]
            want, ref1, ref2 = numpy_step(xb, yb, ref1, ref2)
            got = step(xb, yb)
            assert isinstance(got, np.ndarray) and got.shape == () and np.isfinite(got)
            np.testing.assert_allclose(got, want, rtol=2e-5)
            np.testing.assert_allclose(w1.value, ref1, rtol=2e-4, atol=1e-5)
            np.testing.assert_allclose(w2.value, ref2, rtol=2e-4, atol=1e-5)
            losses.append(float(got))
    assert losses[-1] < losses[0] / 10      # it learns (finite numbers compared above)
    assert lowered == [((128, D_IN), (128, D_OUT)), ((92, D_IN), (92, D_OUT))]
    assert sorted(step.variants) == [((92, D_IN), (92, D_OUT)), ((128, D_IN), (128, D_OUT))]


def test_each_shape_compiles_once_and_kernels_follow_the_latest_call(lowered):
    x = gc.placeholder((None, 3), name="x")
    fn = gc.compile([x], [(x * 2).sum(0), x.mean()])
    with pytest.raises(gc.GraphcError, match=r"None dimensions \('x' \(None, 3\)\).*call it"):
        fn.kernels
    assert "not called yet" in repr(fn)
    rng = np.random.default_rng(1)
    sources = {}
    for n in (5, 9, 5, 5, 9, 1):
        X = rng.standard_normal((n, 3), dtype=np.float32)
        got = fn(X)
        for a, b in zip(got, gc.evaluate(fn.outputs, {x: X})):
            np.testing.assert_allclose(a, b, rtol=1e-6)
        np.testing.assert_allclose(got[1], X.mean(), rtol=1e-6)
        # the program of this call: its kernels read n rows
        assert fn.current is fn.variants[((n, 3),)]
        assert sources.setdefault(n, fn.source) == fn.source
        assert fn.kernels is fn.current.program.kernels
    assert [shape for (shape,) in lowered] == [(5, 3), (9, 3), (1, 3)]
    assert len({sources[5], sources[9], sources[1]}) == 3


def test_parameters_are_shared_by_every_shape():
    """An update made by a call of one shape is what a call of another shape reads; the
    parameter is uploaded once and never read back between calls."""
    x = gc.placeholder((None, 2), "float32", name="x")
    w = gc.parameter(np.zeros(2, np.float32), name="w")
    # each call adds the column sums of its batch to w, and returns w . sum of rows first
    out = (x * w).sum()
    step = gc.compile([x], out, updates={w: w + x.sum(0)})
    other = gc.compile([gc.placeholder((3, 2), name="z")], w * 1.0)   # a static function
    a, b = np.ones((4, 2), np.float32), np.full((7, 2), 2.0, np.float32)
    assert step(a) == 0.0                  # w was 0; now [4, 4]
    reads, pull = [], w.arg.pull
    w.arg.pull = lambda: reads.append(1) or pull()
    assert step(b) == 2.0 * 4 * 7 * 2      # reads the update of the (4, 2) call
    assert step(a) == 4 * (4 + 14) * 2     # and the (7, 2) call's
    assert reads == []                     # w stayed on the device
    np.testing.assert_array_equal(other(np.zeros((3, 2), np.float32)), [22, 22])
    np.testing.assert_array_equal(w.value, [22, 22])
    assert len(step.variants) == 2
    assert w.arg.where is step.ctx         # the device copy is the current one


def test_threads_calling_with_several_shapes_lose_no_update(lowered):
    x = gc.placeholder((None,), name="x")
    w = gc.parameter(np.zeros((), np.float32), name="w")
    step = gc.compile([x], w * 1.0, updates={w: w + x.sum()})
    sizes = [1, 2, 3] * 8

    def work(n: int) -> None:
        step(np.ones(n, np.float32))
    threads = [threading.Thread(target=work, args=(n,)) for n in sizes]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert w.value == sum(sizes)
    assert sorted(lowered) == [((1,),), ((2,),), ((3,),)]


def test_two_none_sizes_that_differ_at_a_call_name_the_inputs():
    x, y = gc.placeholder((None, 2), name="x"), gc.placeholder((None, 2), name="y")
    fn = gc.compile([x, y], (x - y).sum())
    assert fn(np.ones((3, 2), np.float32), np.zeros((3, 2), np.float32)) == 6.0
    with pytest.raises(ValueError, match=r"'x' \(3, 2\), 'y' \(4, 2\).*cannot be broadcast"):
        fn(np.ones((3, 2), np.float32), np.zeros((4, 2), np.float32))
    with pytest.raises(ValueError, match=r"input 'y': expected shape \(None, 2\), got \(3, 5\)"):
        fn(np.ones((3, 2), np.float32), np.zeros((3, 5), np.float32))
    assert len(fn.variants) == 1


def test_pyopencl_inputs_of_varying_shape(lowered):
    x = gc.placeholder((None, 4), name="x")
    fn = gc.compile([x], x.softmax(-1))
    for n in (3, 6, 3):
        host = np.random.default_rng(n).standard_normal((n, 4), dtype=np.float32)
        got = fn(cl_array.to_device(fn.queue, host))
        np.testing.assert_allclose(got, gc.evaluate(x.softmax(-1), {x: host}), rtol=1e-6)
    assert len(lowered) == 2


def test_stable_forms_and_folded_constants_over_a_none_size():
    x = gc.placeholder((None, 2), name="x")
    softplus = gc.log(1 + gc.exp(x))
    fn = gc.compile([x], [softplus, gc.grad(softplus.sum(), x), x * 0 + 3])
    X = np.array([[800.0, -800.0]] * 3, np.float32)
    got = fn(X)
    np.testing.assert_array_equal(got[0], [[800.0, 0.0]] * 3)      # not inf
    np.testing.assert_array_equal(got[1], [[1.0, 0.0]] * 3)        # not nan
    np.testing.assert_array_equal(fn(X[:1])[2], [[3.0, 3.0]])


# {{{ device_outputs

def test_device_outputs_are_pyopencl_arrays_that_later_calls_leave_alone():
    x = gc.placeholder((None, 3), name="x")
    w = gc.parameter(np.ones(3, np.float32), name="w")
    fn = gc.compile([x], [x * w, (x * w).sum()], updates={w: w * 2}, device_outputs=True)
    first = fn(np.ones((2, 3), np.float32))
    assert all(isinstance(a, cl_array.Array) and a.queue is fn.queue for a in first)
    assert first[0].shape == (2, 3) and first[1].shape == ()
    np.testing.assert_array_equal(first[0].get(), np.ones((2, 3)))
    second = fn(np.full((2, 3), 5.0, np.float32))           # the update was applied: w = 2
    np.testing.assert_array_equal(second[0].get(), np.full((2, 3), 10.0))
    np.testing.assert_array_equal(second[1].get(), 60.0)
    third = fn(np.ones((4, 3), np.float32))                 # another shape: w = 4
    np.testing.assert_array_equal(third[0].get(), np.full((4, 3), 4.0))
    # earlier results are copies, not the temporaries that later calls overwrite
    np.testing.assert_array_equal(first[0].get(), np.ones((2, 3)))
    np.testing.assert_array_equal(first[1].get(), 6.0)
    np.testing.assert_array_equal(w.value, np.full(3, 8.0))


def test_device_outputs_feed_another_function_without_a_host_copy():
    x = gc.placeholder((5,), name="x")
    square = gc.compile([x], x * x, device_outputs=True)
    y = gc.placeholder((5,), name="y")
    total = gc.compile([y], y.sum())
    squared = square(np.arange(5, dtype=np.float32))
    assert isinstance(squared, cl_array.Array)
    assert total(squared) == 30.0
    assert square(squared).get().tolist() == [0, 1, 16, 81, 256]


def test_without_device_outputs_results_are_numpy():
    x = gc.placeholder((None,), name="x")
    got = gc.compile([x], [x + 1])(np.zeros(3, np.float32))
    assert isinstance(got, list) and type(got[0]) is np.ndarray

# }}}
