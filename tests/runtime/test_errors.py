"""Every deliberate error of SPEC's "Bad input gets a clear error, and nothing is lost"."""
from __future__ import annotations

import os
import re

import numpy as np
import pytest

import graphc as gc
from graphc import runtime
from graphc import target as graphc_target


def ph(*shape, dtype="float32", name=None):
    return gc.placeholder(shape, dtype=dtype, name=name)


def shapes_named(*shapes):
    """A regex that matches a message naming every shape of ``shapes`` (any order)."""
    return "".join(f"(?=.*{re.escape(str(s))})" for s in shapes)


# {{{ the exception hierarchy

def test_error_classes_are_builtin_subclasses():
    assert issubclass(gc.ShapeError, ValueError)
    assert issubclass(gc.DTypeError, TypeError)
    assert issubclass(gc.DeviceError, RuntimeError)
    for cls in (gc.ShapeError, gc.DTypeError, gc.DeviceError, gc.BuildError,
                gc.CodegenError, gc.GradientError):
        assert issubclass(cls, gc.GraphcError)

# }}}

# {{{ shapes at build time

def test_add_shape_mismatch_names_op_and_shapes():
    x, y = ph(3, 4), ph(5)
    with pytest.raises(ValueError, match=r"^add" + shapes_named((3, 4), (5,))) as info:
        x + y
    assert isinstance(info.value, gc.ShapeError)
    with pytest.raises(gc.ShapeError, match=r"^mul" + shapes_named((3, 4), (5,))):
        x * y
    with pytest.raises(gc.ShapeError, match=r"^sub" + shapes_named((2, 3), (3, 2))):
        ph(2, 3) - ph(3, 2)


def test_matmul_shape_mismatch_names_op_and_shapes():
    with pytest.raises(gc.ShapeError, match=r"^matmul" + shapes_named((3, 4), (3, 4))):
        ph(3, 4) @ ph(3, 4)
    with pytest.raises(gc.ShapeError, match=r"matmul" + shapes_named((5,), (4, 2))):
        gc.matmul(ph(5), ph(4, 2))
    with pytest.raises(gc.ShapeError, match=r"^mm" + shapes_named((3, 4), (4,))):
        ph(3, 4).mm(ph(4))
    with pytest.raises(gc.ShapeError, match=r"matmul.*at least 1 dimension"):
        gc.matmul(ph(3), ph())


def test_matmul_batch_mismatch_names_operand_shapes():
    with pytest.raises(gc.ShapeError,
                       match=r"matmul" + shapes_named((2, 3, 4), (3, 4, 5))):
        ph(2, 3, 4) @ ph(3, 4, 5)


def test_where_shape_mismatch_names_op_and_shapes():
    with pytest.raises(gc.ShapeError, match=r"^where" + shapes_named((3, 4), (5,))):
        gc.where(ph(3, 4), ph(5), 1.0)


def test_broadcast_to_shape_mismatch_names_op_and_shapes():
    with pytest.raises(gc.ShapeError,
                       match=r"^broadcast_to" + shapes_named((3, 4), (3, 5))):
        ph(3, 4).broadcast_to((3, 5))
    with pytest.raises(gc.ShapeError, match=r"broadcast_to" + shapes_named((3, 4), (4,))):
        gc.broadcast_to(ph(3, 4), (4,))


def test_reshape_mismatch_names_op_and_shapes():
    with pytest.raises(gc.ShapeError, match=r"^reshape" + shapes_named((3, 4), (5, 3))):
        ph(3, 4).reshape(5, 3)
    with pytest.raises(gc.ShapeError, match=r"^reshape" + shapes_named((3, 4), (-1, 5))):
        ph(3, 4).reshape(-1, 5)
    with pytest.raises(gc.ShapeError, match=r"reshape.*-1"):
        ph(3, 4).reshape(-1, -1)


def test_bad_axes():
    x = ph(3, 4)
    with pytest.raises(gc.ShapeError, match=r"sum.*axis 2.*shape \(3, 4\)"):
        x.sum(axis=2)
    with pytest.raises(gc.ShapeError, match=r"max.*repeated axis"):
        x.max(axis=(1, -1))
    with pytest.raises(gc.ShapeError, match=r"permute.*not a permutation"):
        ph(2, 3, 4).permute(0, 0, 1)
    with pytest.raises(gc.ShapeError, match=r"^t:.*\(2, 3, 4\)"):
        ph(2, 3, 4).t()


def test_bad_shapes_of_leaves():
    with pytest.raises(gc.ShapeError, match=r"placeholder.*negative.*\(3, -1\)"):
        gc.placeholder((3, -1))
    with pytest.raises(gc.ShapeError, match=r"placeholder.*tuple of ints"):
        gc.placeholder(3)


def test_set_value_wrong_shape_names_parameter():
    w = gc.parameter(np.zeros((2, 3), np.float32), name="weights")
    with pytest.raises(gc.ShapeError, match=r"'weights'" + shapes_named((2, 3), (3, 2))):
        w.set_value(np.zeros((3, 2)))
    np.testing.assert_array_equal(w.value, np.zeros((2, 3)))


def test_no_truth_value_and_value_of_non_parameter():
    x = ph(3)
    with pytest.raises(TypeError, match="where"):
        bool(x > 0)
    with pytest.raises(TypeError, match="not a parameter"):
        x.value
    with pytest.raises(ValueError, match="clamp"):
        x.clamp()

# }}}

# {{{ dtypes

def test_mixing_float32_and_float64_is_a_dtype_error():
    x, y = ph(3), ph(3, dtype="float64")
    with pytest.raises(gc.DTypeError, match=r"add.*float32.*float64") as info:
        x + y
    assert isinstance(info.value, TypeError)
    with pytest.raises(gc.DTypeError, match=r"matmul.*float32.*float64"):
        ph(2, 3) @ ph(3, 2, dtype="float64")
    with pytest.raises(gc.DTypeError, match=r"where"):
        gc.where(x, x, y)


@pytest.mark.parametrize("bad, hint", [("int8", "int64"), (np.uint64, "int64"),
                                       ("float16", "float32"), ("complex64", "one of")])
def test_unsupported_placeholder_dtype(bad, hint):
    with pytest.raises(gc.DTypeError, match=rf"placeholder.*dtypes are float32.*{hint}"):
        gc.placeholder((2,), dtype=bad)


def test_not_a_dtype():
    with pytest.raises(gc.DTypeError, match=r"placeholder.*not a dtype"):
        gc.placeholder((2,), dtype="floaty")


def test_unsupported_parameter_and_constant_dtype():
    with pytest.raises(gc.DTypeError, match=r"parameter.*int16"):
        gc.parameter(np.zeros(3), dtype="int16")
    with pytest.raises(gc.DTypeError, match=r"constant.*float16"):
        gc.constant(1.0, dtype="float16")


def test_non_numeric_operand():
    with pytest.raises(TypeError, match=r"add.*str"):
        ph(3) + "one"

# }}}

# {{{ gradients

def test_grad_of_non_scalar_needs_grad_output():
    x = gc.parameter(np.ones((3, 4), np.float32), name="x")
    with pytest.raises(ValueError, match=r"grad_output") as info:
        gc.grad(x * 2, x)
    assert re.search(re.escape(str((3, 4))), str(info.value))
    # with the cotangent it works
    g = gc.grad(x * 2, x, grad_output=gc.constant(np.ones((3, 4), np.float32)))
    assert g.shape == (3, 4)

# }}}

# {{{ compile

def test_compile_update_of_wrong_shape():
    w = gc.parameter(np.zeros((4, 2), np.float32), name="w")
    with pytest.raises(gc.ShapeError, match=r"update of 'w'" + shapes_named((2, 4), (4, 2))):
        gc.compile([], [], updates={w: w.T})


def test_compile_update_of_wrong_dtype():
    w = gc.parameter(np.zeros(3, np.float32), name="w")
    with pytest.raises(gc.DTypeError, match=r"update of 'w'.*float64.*float32"):
        gc.compile([], [], updates={w: ph(3, dtype="float64")})


def test_compile_update_key_must_be_parameter():
    x = ph(3, name="x")
    with pytest.raises(TypeError, match="updates keys must be parameters"):
        gc.compile([x], [], updates={x: x + 1})


def test_compile_output_needs_missing_placeholder():
    x, y = ph(3, name="x"), ph(3, name="why")
    with pytest.raises(ValueError, match=r"placeholder 'why'.*not in inputs"):
        gc.compile([x], [x + y])
    w = gc.parameter(np.zeros(3, np.float32), name="w")
    with pytest.raises(ValueError, match=r"placeholder 'why'.*not in inputs"):
        gc.compile([x], [x], updates={w: w + y})


def test_compile_bad_inputs_and_outputs():
    x = ph(3, name="x")
    w = gc.parameter(np.zeros(3, np.float32))
    with pytest.raises(TypeError, match=r"inputs\[0\] must be a placeholder"):
        gc.compile([w], [w + 1])
    with pytest.raises(TypeError, match=r"outputs\[1\]"):
        gc.compile([x], [x + 1, np.zeros(3)])
    with pytest.raises(ValueError, match="twice"):
        gc.compile([x, x], [x + 1])

# }}}

# {{{ calls


@pytest.fixture(scope="module")
def step():
    """A training step: inputs ('xin', 'target'), output the loss, one parameter updated."""
    x = gc.placeholder((3, 4), name="xin")
    y = gc.placeholder((3, 2), name="target")
    w = gc.parameter(np.linspace(-1, 1, 8, dtype=np.float32).reshape(4, 2), name="w")
    loss = ((x @ w - y) ** 2).sum()
    g = gc.grad(loss, w)
    fn = gc.compile([x, y], [loss], updates={w: w - 0.01 * g})
    return fn, w


XS = np.arange(12, dtype=np.float32).reshape(3, 4) / 10
YS = np.ones((3, 2), np.float32)


def test_wrong_number_of_arguments_names_placeholders(step):
    fn, _ = step
    with pytest.raises(TypeError, match=r"2 inputs.*'xin'.*'target'.*got 1"):
        fn(XS)
    with pytest.raises(TypeError, match=r"2 inputs.*'xin'.*'target'.*got 3"):
        fn(XS, YS, YS)


def test_wrong_shape_names_placeholder(step):
    fn, _ = step
    with pytest.raises(ValueError, match=r"'target'" + shapes_named((3, 2), (2, 3))):
        fn(XS, YS.T.copy())


def test_wrong_dtype_names_placeholder(step):
    fn, _ = step
    with pytest.raises(TypeError, match=r"'xin'.*float32.*float64"):
        fn(XS.astype(np.float64), YS)


def test_integer_arrays_are_converted(step):
    fn, w = step
    before = w.value
    (loss,) = fn(np.zeros((3, 4), np.int64), YS)    # integer arrays are accepted
    np.testing.assert_allclose(loss, 6.0)
    # with x = 0 the gradient x.T @ (x @ w - y) is 0, so w is unchanged
    np.testing.assert_array_equal(w.value, before)


def test_failed_call_leaves_parameters_unchanged(step):
    fn, w = step
    before = w.value
    bad_calls = [(XS,), (XS, YS, YS), (XS, YS.T.copy()), (XS.astype(np.float64), YS),
                 (np.zeros((4, 3), np.float32), YS), (XS, "not an array")]
    for args in bad_calls:
        with pytest.raises((TypeError, ValueError)):
            fn(*args)
        np.testing.assert_array_equal(w.value, before)
    # a good call does change it
    fn(XS, YS)
    after = w.value
    assert not np.array_equal(after, before)
    x = XS.astype(np.float64)
    grad = 2 * x.T @ (x @ before - YS)
    np.testing.assert_allclose(after, before - 0.01 * grad, rtol=1e-5, atol=1e-6)
    # and another failing call after it leaves the new value alone
    with pytest.raises(ValueError):
        fn(XS, np.zeros((2, 2), np.float32))
    np.testing.assert_array_equal(w.value, after)


def test_failed_call_with_pyopencl_array_leaves_parameters_unchanged(step):
    import pyopencl.array as cl_array
    fn, w = step
    before = w.value
    wrong = cl_array.to_device(fn.queue, np.zeros((4, 3), np.float32))
    with pytest.raises(ValueError, match=r"'xin'.*\(3, 4\)"):
        fn(wrong, YS)
    np.testing.assert_array_equal(w.value, before)


class Injected(RuntimeError):
    """The failure the tests below inject into the OpenCL calls of a step."""


def _seed_step():
    """The seed's step at a small size: both updates are written by their gradient kernels
    (in place in the schedule's terms), the last two kernels of the call."""
    rng = np.random.default_rng(3)
    x = gc.placeholder((8, 30), name="x")
    y = gc.placeholder((8, 5), name="y")
    w1 = gc.parameter(rng.standard_normal((30, 20)).astype(np.float32), name="w1")
    w2 = gc.parameter(rng.standard_normal((20, 5)).astype(np.float32), name="w2")
    loss = ((gc.relu(x @ w1) @ w2 - y) ** 2).sum()
    g1, g2 = gc.grad(loss, [w1, w2])
    fn = gc.compile([x, y], loss, {w1: w1 - 1e-3 * g1, w2: w2 - 1e-3 * g2})
    feed = (rng.standard_normal((8, 30)).astype(np.float32),
            rng.standard_normal((8, 5)).astype(np.float32))
    return fn, (w1, w2), feed


def _fail_launch(monkeypatch, index: int):
    """Make kernel launch number ``index`` (from 0) of the next call raise ``Injected``;
    returns the real ``enqueue_nd_range_kernel``."""
    import graphc.compiler as compiler
    real = compiler.cl.enqueue_nd_range_kernel
    launched = []

    def flaky(queue, kernel, *args, **kwargs):
        if len(launched) == index:
            raise Injected(f"injected failure at launch {index}")
        launched.append(kernel.function_name)
        return real(queue, kernel, *args, **kwargs)

    monkeypatch.setattr(compiler.cl, "enqueue_nd_range_kernel", flaky)
    return real


def _kernels(fn) -> list:
    """The kernels of ``fn``, with each shared launch replaced by the kernels in it."""
    return [g for k in fn.kernels for g in k.generated()]


def test_seed_step_writes_its_updates_in_kernels():
    from graphc.inspect import label
    fn, _, _ = _seed_step()
    assert {label(n) for k in _kernels(fn)[-2:] for n in k.outputs} == {"new w1", "new w2"}
    assert not fn._final_copies


@pytest.mark.parametrize("fail_at", range(6))
def test_failure_mid_call_leaves_every_parameter_unchanged(monkeypatch, fail_at):
    """An OpenCL failure at any kernel launch, also after the kernels that write updates
    have been enqueued, leaves both parameters as they were; the next call works."""
    import graphc.compiler as compiler
    fn, params, feed = _seed_step()
    assert len(_kernels(fn)) == 6
    if fail_at >= len(fn.kernels):      # kernels that share a launch: fewer launches
        pytest.skip(f"{len(fn.kernels)} launches on this device")
    want = gc.evaluate([fn.outputs[0]] + [v for _, v in fn.updates],
                       dict(zip(fn.inputs, feed)))
    before = [p.value for p in params]
    real = _fail_launch(monkeypatch, fail_at)
    with pytest.raises(Injected):
        fn(*feed)
    for p, old in zip(params, before):
        np.testing.assert_array_equal(p.value, old)
    monkeypatch.setattr(compiler.cl, "enqueue_nd_range_kernel", real)
    loss = fn(*feed)
    np.testing.assert_allclose(loss, want[0], rtol=1e-5)
    for p, new in zip(params, want[1:]):
        np.testing.assert_allclose(p.value, new, rtol=1e-5, atol=1e-6)


def test_non_transactional_step_updates_in_one_buffer(monkeypatch):
    """transactional=False: the same results with no spare buffers, and the documented
    cost: a failure after an update kernel ran leaves that update done."""
    import graphc.compiler as compiler
    fn, params, feed = _seed_step()
    one = gc.compile(fn.inputs, fn.outputs[0], dict(fn.updates), transactional=False)
    assert one.spare_bytes == 0 and fn.spare_bytes == one.parameter_bytes > 0
    assert "spare buffers 0" in one.describe()
    want = gc.evaluate([fn.outputs[0]] + [v for _, v in fn.updates],
                       dict(zip(fn.inputs, feed)))
    before = [p.value for p in params]
    real = compiler.cl.enqueue_copy

    def flaky(queue, dest, src, **kwargs):      # the loss's read, after every kernel
        if isinstance(dest, np.ndarray) and dest.shape == ():
            raise Injected("injected failure reading the loss")
        return real(queue, dest, src, **kwargs)

    monkeypatch.setattr(compiler.cl, "enqueue_copy", flaky)
    with pytest.raises(Injected):
        one(*feed)
    changed = [not np.array_equal(p.value, old) for p, old in zip(params, before)]
    assert changed == [True, True]           # both updates were written in place
    now = [p.value for p in params]
    with pytest.raises(Injected):            # the transactional step, the same failure
        fn(*feed)
    assert all(np.array_equal(p.value, old) for p, old in zip(params, now))
    for p, old in zip(params, before):
        p.set_value(old)
    monkeypatch.setattr(compiler.cl, "enqueue_copy", real)
    np.testing.assert_allclose(one(*feed), want[0], rtol=1e-5)
    for p, new in zip(params, want[1:]):
        np.testing.assert_allclose(p.value, new, rtol=1e-5, atol=1e-6)


def test_failure_reading_outputs_leaves_parameters_unchanged(monkeypatch):
    """The last commands of a call read the outputs back; a failure there, after every
    kernel ran, still leaves the parameters as they were (also on an interrupt)."""
    import graphc.compiler as compiler
    fn, params, feed = _seed_step()
    before = [p.value for p in params]
    real = compiler.cl.enqueue_copy

    def flaky(queue, dest, src, **kwargs):
        if isinstance(dest, np.ndarray) and dest.shape == ():
            raise KeyboardInterrupt
        return real(queue, dest, src, **kwargs)

    monkeypatch.setattr(compiler.cl, "enqueue_copy", flaky)
    with pytest.raises(KeyboardInterrupt):
        fn(*feed)
    for p, old in zip(params, before):
        np.testing.assert_array_equal(p.value, old)


def test_failure_in_a_final_copy_leaves_parameters_unchanged(monkeypatch):
    """An update that no kernel writes (w <- v) is copied from a temporary at the end,
    after the kernel that writes v's update: a failure in that copy leaves both."""
    import graphc.compiler as compiler
    w = gc.parameter(np.arange(4, dtype=np.float32), name="w")
    v = gc.parameter(np.ones(4, np.float32), name="v")
    x = gc.placeholder((4,), name="x")
    fn = gc.compile([x], gc.sum(w * x), {w: v, v: w + x})   # a swap and an update
    before = (w.value, v.value)
    real = compiler.cl.enqueue_copy
    copies = []

    def flaky(queue, dest, src, **kwargs):
        if "byte_count" in kwargs:
            copies.append(dest)
            raise Injected("injected failure in the final copy")
        return real(queue, dest, src, **kwargs)

    monkeypatch.setattr(compiler.cl, "enqueue_copy", flaky)
    with pytest.raises(Injected):
        fn(np.full(4, 10, np.float32))
    assert len(copies) == 1 and len(fn._final_copies) == 1
    np.testing.assert_array_equal(w.value, before[0])
    np.testing.assert_array_equal(v.value, before[1])
    monkeypatch.setattr(compiler.cl, "enqueue_copy", real)
    fn(np.full(4, 10, np.float32))
    np.testing.assert_array_equal(w.value, before[1])
    np.testing.assert_array_equal(v.value, before[0] + 10)


def test_wrong_dtype_pyopencl_array_is_type_error(step):
    import pyopencl.array as cl_array
    fn, _ = step
    bad = cl_array.to_device(fn.queue, XS.astype(np.float64))
    with pytest.raises(TypeError, match=r"'xin'"):
        fn(bad, YS)

# }}}

# {{{ devices


def test_unknown_device_lists_available_devices():
    names = [d.name.strip() for d in gc.devices()]
    with pytest.raises(gc.DeviceError, match=r"nonexistent-device.*available") as info:
        gc.compile([ph(3)], [], device="nonexistent-device")
    for name in names:
        assert name in str(info.value)
    with pytest.raises(gc.DeviceError, match=r"nonexistent-device.*available"):
        runtime.select_device("nonexistent-device")


def test_a_simulator_is_chosen_only_by_name(monkeypatch):
    """Oclgrind's device reports every device type, GPU included: never the default, nor
    "gpu" or "cpu", nor a device the pytest plugin tests unless GRAPHC_DEVICE names it."""
    from types import SimpleNamespace
    from graphc import testing

    def fake(platform, name, kind):
        return SimpleNamespace(platform=SimpleNamespace(name=platform), name=name,
                               type=kind, int_ptr=id(name))
    oclgrind = fake("Oclgrind", "Oclgrind Simulator", 15)
    pocl = fake("Portable Computing Language", "cpu-haswell-AMD EPYC", 2)
    monkeypatch.setattr(runtime, "devices", lambda: [oclgrind, pocl])
    monkeypatch.setattr(runtime, "_probe", lambda device: None)
    monkeypatch.setattr(graphc_target, "probe_early", lambda device: None)
    monkeypatch.setattr(graphc_target, "compiled_before", lambda device: False)
    monkeypatch.delenv("GRAPHC_DEVICE", raising=False)
    assert runtime.simulated(oclgrind) and not runtime.simulated(pocl)
    assert runtime.select_device() is pocl and runtime.select_device("cpu") is pocl
    with pytest.raises(gc.DeviceError, match="'gpu' matches no OpenCL device.*by name"):
        runtime.select_device("gpu")
    assert runtime.select_device("oclgrind") is oclgrind
    assert testing.devices_under_test() == [pocl]
    monkeypatch.setenv("GRAPHC_DEVICE", "Oclgrind")
    assert runtime.select_device() is oclgrind and testing.devices_under_test() == [oclgrind]
    monkeypatch.setattr(runtime, "devices", lambda: [oclgrind])
    monkeypatch.delenv("GRAPHC_DEVICE")
    assert runtime.select_device() is oclgrind      # the only device: better than none


def test_device_of_wrong_type():
    with pytest.raises(TypeError, match="device="):
        runtime.select_device(3)


def test_no_platform_says_how_to_install_pocl(monkeypatch):
    import pyopencl as cl
    monkeypatch.setattr(cl, "get_platforms", lambda: [])
    with pytest.raises(gc.DeviceError, match=re.escape("pip install 'graphc[pocl]'")):
        runtime.devices()
    with pytest.raises(gc.DeviceError, match=re.escape("pip install 'graphc[pocl]'")):
        gc.devices()


def test_no_platform_error_from_icd_loader(monkeypatch):
    """Without an ICD, pyopencl raises PLATFORM_NOT_FOUND_KHR instead of returning []."""
    import pyopencl as cl

    def fail():
        raise cl.LogicError("clGetPlatformIDs failed: PLATFORM_NOT_FOUND_KHR")

    monkeypatch.setattr(cl, "get_platforms", fail)
    with pytest.raises(gc.DeviceError, match=re.escape("pip install 'graphc[pocl]'")):
        runtime.devices()


def test_float64_on_device_without_fp64(monkeypatch):
    monkeypatch.setattr(runtime.DeviceContext, "has_fp64", property(lambda self: False))
    x = ph(3, dtype="float64")
    with pytest.raises(gc.DeviceError, match=r"float64.*float32"):
        gc.compile([x], [x * 2])
    # float32 graphs still compile
    y = ph(3)
    fn = gc.compile([y], y * 2)
    np.testing.assert_array_equal(fn(np.ones(3, np.float32)), 2 * np.ones(3))


def test_build_failure_is_a_build_error():
    source = "__kernel void f() { this is not C; }"
    with pytest.raises(gc.BuildError, match=r"rejected") as info:
        runtime.device_context().build(source)
    err = info.value
    try:
        assert "error" in err.log.lower()
        assert err.log and err.log in str(err)
        assert err.source_path and os.path.isfile(err.source_path)
        assert err.source_path in str(err)
        with open(err.source_path) as f:
            assert f.read() == source
        assert isinstance(err.options, tuple)
    finally:
        if err.source_path and os.path.isfile(err.source_path):
            os.remove(err.source_path)
    assert source not in runtime.device_context().programs

# }}}


def test_work_groups_larger_than_the_device_runs_are_a_clear_error(monkeypatch):
    """A kernel whose work-group the device cannot run (registers, local memory) fails at
    compile time with its name and both sizes, not at a launch."""
    x = gc.placeholder((300, 40), name="x")
    out = gc.sum(x, axis=1)                    # one work-group of 16 or more per row

    class Small:
        def __init__(self, program, name):
            pass

        def get_work_group_info(self, what, device):
            return 8

    monkeypatch.setattr(gc.runtime.cl, "Kernel", Small)    # the device context asks
    with pytest.raises(gc.CodegenError, match=r"kernel reduce_\w+ \(reduce\) needs work-groups "
                       r"of \d+ work-items but .* runs it in at most 8"):
        gc.compile([x], out)


def test_an_input_over_the_device_allocation_limit_names_it():
    """Issue 16 (16): the input, its size and the device's limit, not INVALID_BUFFER_SIZE.
    A broadcast numpy array has the size without the memory: refused before any copy."""
    from graphc import runtime
    limit = int(runtime.device_context().device.max_mem_alloc_size)
    n = limit // 4 + 1
    x = gc.placeholder((None,), name="big")
    f = gc.compile([x], x * 2)
    huge = np.broadcast_to(np.float32(1), (n,))
    with pytest.raises(gc.errors.DeviceError,
                       match=rf"input 'big' of shape \({n},\).*{4 * n} bytes.*limit of "
                             rf"{limit} bytes.*max_mem_alloc_size"):
        f(huge)
