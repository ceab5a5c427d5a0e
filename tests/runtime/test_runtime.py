"""Running compiled functions: device-resident parameters, pyopencl inputs, output forms,
Theano update semantics, device choice and program reuse."""
from __future__ import annotations

import warnings

import numpy as np
import pyopencl as cl
import pyopencl.array as cl_array
import pytest

import graphc as gc
from graphc import runtime

RNG = np.random.RandomState(1234)
XS = RNG.randn(6, 4).astype(np.float32)
YS = RNG.randn(6, 3).astype(np.float32)
W0 = RNG.randn(4, 3).astype(np.float32)
LR = 0.05


def train_step(w0=W0):
    x = gc.placeholder((6, 4), name="x")
    y = gc.placeholder((6, 3), name="y")
    w = gc.parameter(w0, name="w")
    loss = ((x @ w - y) ** 2).sum()
    g = gc.grad(loss, w)
    return x, y, w, loss, gc.compile([x, y], [loss], updates={w: w - LR * g})


def numpy_step(w, x=XS, y=YS):
    w, x, y = (np.asarray(a, np.float64) for a in (w, x, y))
    r = x @ w - y
    return (r ** 2).sum(), w - LR * 2 * x.T @ r


# {{{ parameters stay on the device

def test_parameters_stay_on_device_and_read_back_on_demand():
    x, y, w, loss, step = train_step()
    (l0,) = step(XS, YS)
    expected_loss, expected_w = numpy_step(W0)
    np.testing.assert_allclose(l0, expected_loss, rtol=1e-5)
    assert w.arg.host_stale                       # the new value lives on the device only
    np.testing.assert_allclose(w.value, expected_w, rtol=1e-5, atol=1e-6)
    assert not w.arg.host_stale                   # reading it brought it back
    (l1,) = step(XS, YS)
    expected_loss1, expected_w1 = numpy_step(expected_w)
    np.testing.assert_allclose(l1, expected_loss1, rtol=1e-4)
    np.testing.assert_allclose(w.value, expected_w1, rtol=1e-4, atol=1e-5)


def test_calls_do_not_read_parameters_back():
    x, y, w, loss, step = train_step()
    step(XS, YS)
    pulls = []
    real_pull = w.arg.pull

    def counting_pull():
        pulls.append(1)
        return real_pull()

    w.arg.pull = counting_pull
    for _ in range(3):
        step(XS, YS)
    assert pulls == []                            # three calls, the value never left
    w.value
    assert pulls == [1]
    w.value
    assert pulls == [1]                           # read once, then the host copy is current


def test_set_value_is_used_by_the_next_call():
    x, y, w, loss, step = train_step()
    step(XS, YS)
    new = np.full((4, 3), 0.25, np.float32)
    w.set_value(new)
    np.testing.assert_array_equal(w.value, new)
    (l,) = step(XS, YS)
    expected_loss, expected_w = numpy_step(new)
    np.testing.assert_allclose(l, expected_loss, rtol=1e-5)
    np.testing.assert_allclose(w.value, expected_w, rtol=1e-5, atol=1e-6)


def test_a_parameter_shared_by_two_functions():
    x, y, w, loss, step = train_step()
    peek = gc.compile([x], x @ w)
    step(XS, YS)
    _, expected_w = numpy_step(W0)
    np.testing.assert_allclose(peek(XS), XS @ expected_w, rtol=1e-4, atol=1e-5)
    assert w.arg.host_stale                       # peek read it on the device

# }}}

# {{{ inputs and outputs


def test_pyopencl_array_input_gives_the_same_result():
    x = gc.placeholder((6, 4), name="x")
    w = gc.parameter(W0, name="w")
    fn = gc.compile([x], [(x @ w).relu().sum(axis=0), gc.exp(x * 0.5)])
    from_numpy = fn(XS)
    xd = cl_array.to_device(fn.queue, XS)
    from_device = fn(xd)
    for a, b in zip(from_numpy, from_device):
        assert isinstance(b, np.ndarray)
        np.testing.assert_array_equal(a, b)


def test_pyopencl_array_input_is_not_copied_from_the_host(monkeypatch):
    x = gc.placeholder((6, 4), name="x")
    fn = gc.compile([x], gc.tanh(x) * 2)
    xd = cl_array.to_device(fn.queue, XS)
    fn(xd)                                         # warm up
    uploads = []
    real = cl.enqueue_copy

    def spy(queue, dest, src, **kwargs):
        if isinstance(src, np.ndarray):
            uploads.append(src.shape)
        return real(queue, dest, src, **kwargs)

    monkeypatch.setattr(cl, "enqueue_copy", spy)
    out = fn(xd)
    assert uploads == []
    np.testing.assert_allclose(out, np.tanh(XS) * 2, rtol=1e-5)
    fn(XS)
    assert uploads == [(6, 4)]                     # a numpy input is uploaded once


def test_outputs_list_or_single():
    x = gc.placeholder((3,), name="x")
    xs = np.array([1, 2, 3], np.float32)
    single = gc.compile([x], x * 2)
    out = single(xs)
    assert isinstance(out, np.ndarray) and out.shape == (3,) and out.dtype == np.float32
    np.testing.assert_array_equal(out, xs * 2)
    one_list = gc.compile([x], [x * 2])
    out = one_list(xs)
    assert isinstance(out, list) and len(out) == 1
    np.testing.assert_array_equal(out[0], xs * 2)
    two = gc.compile([x], [x * 2, (x * 3).sum()])
    a, b = two(xs)
    np.testing.assert_array_equal(a, xs * 2)
    assert b.shape == () and b == 18
    empty = gc.compile([x], [])
    assert empty(xs) == []
    as_tuple = gc.compile([x], (x + 1, x - 1))
    assert isinstance(as_tuple(xs), list)


def test_output_arrays_are_fresh_each_call():
    x = gc.placeholder((3,), name="x")
    fn = gc.compile([x], x * 2)
    a = fn(np.ones(3, np.float32))
    b = fn(np.full(3, 5, np.float32))
    np.testing.assert_array_equal(a, 2)            # not overwritten by the second call
    np.testing.assert_array_equal(b, 10)


@pytest.mark.parametrize("make", [lambda x, w: x, lambda x, w: x.T,
                                  lambda x, w: x.reshape(3, 2), lambda x, w: w],
                         ids=["placeholder", "transpose", "reshape", "parameter"])
def test_leaf_and_view_outputs(make):
    x = gc.placeholder((2, 3), name="x")
    w = gc.parameter(np.arange(6, dtype=np.float32).reshape(2, 3) + 10, name="w")
    out = make(x, w)
    xs = np.arange(6, dtype=np.float32).reshape(2, 3)
    fn = gc.compile([x], [x * 2, out])
    np.testing.assert_array_equal(fn(xs)[1], gc.evaluate(out, {x: xs}))


def test_logsumexp_output_matches_reference():
    x = gc.placeholder((4, 8), name="x")
    xs = RNG.randn(4, 8).astype(np.float32)
    y = gc.logsumexp(x, 1)
    np.testing.assert_allclose(gc.compile([x], y)(xs), gc.evaluate(y, {x: xs}), rtol=1e-5)

# }}}

# {{{ Theano semantics


def test_outputs_are_computed_before_updates():
    a = gc.parameter(np.array([1.0, 2.0, 3.0], np.float32), name="a")
    fn = gc.compile([], [a * 2, a.sum()], updates={a: a + 1})
    doubled, total = fn()
    np.testing.assert_array_equal(doubled, [2, 4, 6])
    assert total == 6
    np.testing.assert_array_equal(a.value, [2, 3, 4])
    doubled, total = fn()
    np.testing.assert_array_equal(doubled, [4, 6, 8])


def test_updates_read_old_values():
    a = gc.parameter(np.array([1.0, 2.0], np.float32), name="a")
    b = gc.parameter(np.array([10.0, 20.0], np.float32), name="b")
    fn = gc.compile([], [a + b], updates={a: b * 2, b: a * 3})
    (s,) = fn()
    np.testing.assert_array_equal(s, [11, 22])
    np.testing.assert_array_equal(a.value, [20, 40])
    np.testing.assert_array_equal(b.value, [3, 6])


def test_update_reads_another_parameters_reduction():
    a = gc.parameter(np.arange(6, dtype=np.float32).reshape(2, 3), name="a")
    b = gc.parameter(np.ones((2, 3), np.float32), name="b")
    fn = gc.compile([], [], updates={a: a - a.sum(axis=1, keepdims=True), b: b + a})
    fn()
    old = np.arange(6, dtype=np.float32).reshape(2, 3)
    np.testing.assert_array_equal(a.value, old - old.sum(axis=1, keepdims=True))
    np.testing.assert_array_equal(b.value, 1 + old)


def test_swap_two_parameters():
    a = gc.parameter(np.array([1.0, 2.0, 3.0], np.float32), name="a")
    b = gc.parameter(np.array([-1.0, -2.0, -3.0], np.float32), name="b")
    fn = gc.compile([], [], updates={a: b, b: a})
    fn()
    np.testing.assert_array_equal(a.value, [-1, -2, -3])
    np.testing.assert_array_equal(b.value, [1, 2, 3])
    fn()
    np.testing.assert_array_equal(a.value, [1, 2, 3])


def test_parameter_output_is_the_old_value():
    a = gc.parameter(np.array([1.0, 2.0, 3.0], np.float32), name="a")
    fn = gc.compile([], [a], updates={a: a + 1})
    (old,) = fn()
    np.testing.assert_array_equal(old, [1, 2, 3])
    np.testing.assert_array_equal(a.value, [2, 3, 4])
    (old,) = fn()
    np.testing.assert_array_equal(old, [2, 3, 4])


def test_update_of_a_parameter_the_graph_does_not_read():
    x = gc.placeholder((3,), name="x")
    w = gc.parameter(np.zeros(3, np.float32), name="w")
    fn = gc.compile([x], [], updates={w: x * 2})
    fn(np.array([1, 2, 3], np.float32))
    np.testing.assert_array_equal(w.value, [2, 4, 6])

# }}}

# {{{ devices


def test_devices_lists_opencl_devices():
    found = gc.devices()
    assert found and all(isinstance(d, cl.Device) for d in found)
    assert runtime.devices() == found


def test_device_argument_accepts_device_and_string(device):
    x = gc.placeholder((3,), name="x")
    xs = np.array([1, 2, 3], np.float32)
    kind = "gpu" if device.type & cl.device_type.GPU else "cpu"
    by_object = gc.compile([x], x + 1, device=device)
    by_kind = gc.compile([x], x + 1, device=kind)
    by_name = gc.compile([x], x + 1, device=device.name.strip())
    default = gc.compile([x], x + 1)
    assert by_object.device == device
    assert by_kind.device == device          # conftest: GRAPHC_DEVICE=cpu unless set
    assert by_name.device == device
    assert default.device == device
    assert by_object.queue is by_kind.queue is default.queue   # one context per device
    for fn in (by_object, by_kind, by_name, default):
        np.testing.assert_array_equal(fn(xs), xs + 1)
    assert isinstance(by_object.queue, cl.CommandQueue)
    assert by_object.queue.device == device


def test_second_compile_reuses_the_built_program(monkeypatch):
    def make():
        x = gc.placeholder((5, 3), name="x")
        return gc.compile([x], [gc.softmax(x, 1), (x * 3).sum()])

    first = make()
    ctx = runtime.device_context()
    count = len(ctx.programs)
    built = []
    real = cl.Program.build

    def spy(self, *args, **kwargs):
        built.append(1)
        return real(self, *args, **kwargs)

    monkeypatch.setattr(cl.Program, "build", spy)
    second = make()
    assert second.source == first.source
    assert len(ctx.programs) == count
    assert built == []
    assert ctx.programs[second.source] is ctx.programs[first.source]
    xs = RNG.randn(5, 3).astype(np.float32)
    for a, b in zip(first(xs), second(xs)):
        np.testing.assert_array_equal(a, b)


@pytest.mark.skipif(not hasattr(cl, "RepeatedKernelRetrieval"),
                    reason="pyopencl without RepeatedKernelRetrieval warnings")
def test_second_compile_emits_no_kernel_retrieval_warning():
    """getattr(program, name) on a cached program makes pyopencl warn; graphc must not."""
    def make():
        x = gc.placeholder((7,), name="x")
        return gc.compile([x], gc.exp(x) + 1)

    make()
    with warnings.catch_warnings():
        warnings.simplefilter("error", cl.RepeatedKernelRetrieval)
        make()

# }}}
