"""Kernels shaped for a GPU (lane-sized tiles, wide work-groups), run on the test device.

OpenCL semantics do not depend on the device kind, so the GPU-shaped kernels must give the
same numbers on PoCL's CPU device: these tests pretend the device is a GPU and compare with
``gc.evaluate``. They also check the geometry each kind gets.
"""
from __future__ import annotations

import json
import subprocess
from types import SimpleNamespace

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import graphc as gc
from graphc import codegen, runtime, schedule, target

GPU = codegen.Target("gpu", compute_units=4, max_group=256)


@pytest.fixture(scope="module")
def as_gpu():
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(runtime.DeviceContext, "target", property(lambda self: GPU))
        yield


def _run(inputs, outputs, feed, updates=None):
    fn = gc.compile(inputs, outputs, updates)
    got = fn(*[feed[p] for p in inputs])
    want = gc.evaluate(outputs, {p: feed[p] for p in inputs})
    return fn, got, want


@given(m=st.integers(1, 37), k=st.integers(1, 20), n=st.integers(1, 37),
       ta=st.booleans(), tb=st.booleans(), batch=st.sampled_from([(), (3,)]))
def test_gpu_matmul_matches_reference(as_gpu, m, k, n, ta, tb, batch):
    rng = np.random.default_rng(m * 1000 + k * 10 + n)
    a = gc.placeholder(batch + ((k, m) if ta else (m, k)), "float64", name="a")
    b = gc.placeholder(batch + ((n, k) if tb else (k, n)), "float64", name="b")
    aa = gc.transpose(a, tuple(range(len(batch))) + (len(batch) + 1, len(batch))) if ta else a
    bb = gc.transpose(b, tuple(range(len(batch))) + (len(batch) + 1, len(batch))) if tb else b
    out = gc.tanh(aa @ bb) * 2.0
    feed = {a: rng.standard_normal(a.shape), b: rng.standard_normal(b.shape)}
    fn, got, want = _run([a, b], out, feed)
    np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-12)
    (mm,) = [k for k in fn.kernels if k.kind == "matmul"]
    assert all(g % loc == 0 for g, loc in zip(mm.global_size, mm.local_size))


def test_gpu_seed_step_matches_reference(as_gpu):
    rng = np.random.default_rng(0)
    x = gc.placeholder((64, 1000), name="x")
    y = gc.placeholder((64, 10), name="y")
    w1 = gc.parameter(rng.standard_normal((1000, 100)).astype(np.float32), name="w1")
    w2 = gc.parameter(rng.standard_normal((100, 10)).astype(np.float32), name="w2")
    loss = gc.sum((gc.relu(x @ w1) @ w2 - y) ** 2)
    g1, g2 = gc.grad(loss, [w1, w2])
    feed = {x: rng.standard_normal(x.shape).astype(np.float32),
            y: rng.standard_normal(y.shape).astype(np.float32)}
    want = gc.evaluate([loss, w1 - 1e-6 * g1, w2 - 1e-6 * g2], feed)
    step = gc.compile([x, y], loss, {w1: w1 - 1e-6 * g1, w2: w2 - 1e-6 * g2})
    got = step(feed[x], feed[y])
    np.testing.assert_allclose(got, want[0], rtol=1e-4)
    np.testing.assert_allclose(w1.value, want[1], rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(w2.value, want[2], rtol=1e-4, atol=1e-4)
    for k in step.kernels:
        assert np.prod(k.local_size) > 1 or np.prod(k.global_size) == 1, k.name


def test_gpu_reductions_and_maxmask_match_reference(as_gpu):
    rng = np.random.default_rng(1)
    x = gc.placeholder((5, 300), "float64", name="x")
    out = [gc.sum(gc.exp(x), axis=1), gc.max(x, axis=0), gc.logsumexp(x, axis=1)]
    feed = {x: rng.standard_normal(x.shape)}
    cost = gc.sum(out[1])
    (gx,) = gc.grad(cost, [x])
    fn, got, want = _run([x], out + [gx], feed)
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, rtol=1e-10, atol=1e-12)
    reduce = [k for k in fn.kernels if k.kind == "reduce"]
    assert sorted({k.local_size[0] for k in reduce}) == [8, 256]    # 5 rows, 300 columns


H200 = codegen.Target("gpu", compute_units=132, max_group=1024)


def test_gpu_plans_for_the_seed_and_a_large_step():
    big = codegen._matmul_plans_gpu(4096, 2048, 1024, 1024, 1, 1, H200)[0]
    assert big["variant"] == "tiled" and (big["BM"], big["LM"], big["WM"]) == (64, 16, 4)
    x_w1 = codegen._matmul_plans_gpu(64, 100, 1000, 1000, 1, 1, H200)[0]   # 8 blocks of 32
    assert x_w1["variant"] == "splitk" and x_w1["L"] == 128
    h_w2 = codegen._matmul_plans_gpu(64, 10, 100, 100, 1, 1, H200)[0]      # short k
    assert h_w2["variant"] == "outer" and h_w2["TM"] * h_w2["TN"] <= 8
    strided = codegen._matmul_plans_gpu(64, 100, 10, 10, 100, 1, H200)[0]  # (.) @ w2.T
    assert strided["variant"] == "outer" and strided["W"] == 1
    cpu = codegen._matmul_plan(4096, 2048, 1024, 1024, 1, 2048, 1, 1, np.float32, 2)
    assert cpu["TM"] * cpu["TN"] >= 64


# shapes that take each GPU variant with GPU's 4 compute units: (batch, m, k, n, template)
VARIANTS = [((), 130, 37, 129, "stage in local memory"),     # 64 x 64 blocks
            ((2,), 40, 21, 50, "stage in local memory"),     # 32 x 32 blocks
            ((), 5, 300, 3, "lanes split k"),
            ((2,), 6, 129, 7, "lanes split k"),
            ((), 9, 20, 6, "outer products")]


@pytest.mark.parametrize("ta", [False, True])
@pytest.mark.parametrize("tb", [False, True])
@pytest.mark.parametrize("batch, m, k, n, template", VARIANTS)
def test_every_gpu_matmul_variant_matches_reference(as_gpu, batch, m, k, n, template, ta, tb):
    """Each variant with both operands plain or transposed (contiguous along k or not),
    an epilogue fused in, and a gradient that runs more matmuls of other layouts."""
    rng = np.random.default_rng(m + k + n)
    nb = len(batch)
    swap = tuple(range(nb)) + (nb + 1, nb)
    a = gc.placeholder(batch + ((k, m) if ta else (m, k)), "float64", name="a")
    b = gc.placeholder(batch + ((n, k) if tb else (k, n)), "float64", name="b")
    c = (gc.transpose(a, swap) if ta else a) @ (gc.transpose(b, swap) if tb else b)
    out = gc.tanh(c) + 1.0
    (ga,) = gc.grad(gc.sum(out * out), [a])
    feed = {a: rng.standard_normal(a.shape), b: rng.standard_normal(b.shape)}
    fn, got, want = _run([a, b], [out, ga], feed)
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, rtol=1e-10, atol=1e-10)
    assert template in fn.kernels[0].source


# reductions of each kernel shape: (shape, axes, keepdims); a CPU and a GPU target each
REDUCTIONS = [((300, 70), 0, False),           # 70 outputs, a column each: work-groups
              ((500, 130), 0, True),           # 130 outputs not a multiple of 32
              ((3, 40, 2100), (0, 1), False),  # 2100 outputs: a lane each on a GPU
              ((40, 16, 9), (0, 2), False),    # a middle axis kept: work-groups
              ((700, 33), 1, True)]            # rows: 16-lane work-groups on a CPU


@pytest.mark.parametrize("shape, axes, keepdims", REDUCTIONS)
@pytest.mark.parametrize("kind", ["sum", "max"])
@pytest.mark.parametrize("target", ["cpu", "gpu"])
def test_reductions_of_every_shape_match_reference(shape, axes, keepdims, kind, target, cpu):
    chosen = GPU if target == "gpu" else cpu
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(runtime.DeviceContext, "target", property(lambda self: chosen))
        rng = np.random.default_rng(len(shape))
        x = gc.placeholder(shape, "float64", name="x")
        reduced = getattr(gc, kind)(gc.tanh(x) * 3 - x, axis=axes, keepdims=keepdims)
        out = gc.exp(reduced * 0.01) + 1.0             # an epilogue
        (gx,) = gc.grad(gc.sum(out), [x])
        feed = {x: rng.standard_normal(shape)}
        fn, got, want = _run([x], [out, gx], feed)
        for g, w in zip(got, want):
            np.testing.assert_allclose(g, w, rtol=1e-10, atol=1e-12)
    first = fn.kernels[0].source
    if target == "cpu" and axes == 0 and shape[1] >= 128:      # 32 outputs a work-item
        assert "32 neighbouring output elements" in first
    if target == "gpu" and shape[-1] >= 2048:                  # a lane an output
        assert "1 neighbouring output elements" in first



# {{{ targets without a device: from a description, codegen's widths, the width probe

def _device(kind: str = "cpu", float_width: int = 16, double_width: int = 8, **over):
    """A stand-in for a pyopencl.Device: the attributes ``target.from_device`` reads."""
    fields = dict(type=4 if kind == "gpu" else 2, max_compute_units=2,
                  max_work_group_size=4096, name=f" fake {kind} ", local_mem_size=1 << 20,
                  global_mem_size=8 << 30, preferred_vector_width_float=float_width,
                  preferred_vector_width_double=double_width,
                  native_vector_width_float=float_width,
                  native_vector_width_double=double_width, double_fp_config=63,
                  extensions="cl_khr_fp64 cl_khr_byte_addressable_store",
                  driver_version="1.0", platform=SimpleNamespace(name="Fake CL "))
    return SimpleNamespace(**dict(fields, **over))


def _passing_below(widest: dict, calls: list):
    """A probe child that passes every width up to ``widest[dtype]``, logging its calls."""
    def child(pairs):
        calls.append(list(pairs))
        verdict = {}
        for pair in pairs:
            dtype, width = pair.split(":")
            verdict[pair] = int(width) <= widest[dtype]
            if not verdict[pair]:
                break                        # the child crashed here: the rest unknown
        return verdict
    return child


@pytest.fixture
def cache_home(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    return tmp_path / "graphc" / "widths.json"


def test_cpu_target_from_a_256_bit_device(cache_home):
    t = target.from_device(_device(float_width=8, double_width=4),
                           child=_passing_below({"float32": 16, "float64": 8}, []))
    assert isinstance(t, target.CPUTarget) and t.name == "fake cpu"
    assert (t.lanes(np.float32), t.lanes(np.float64)) == (8, 4)
    assert t.vector_registers(np.float32) == 16 and t.fp64
    assert "cl_khr_fp64" in t.extensions and t.local_memory == 1 << 20
    assert t.shares_launches and t.chains_rows and t.matmul_model == "registers"


def test_cpu_target_from_a_512_bit_device_that_compiles_only_256(cache_home):
    """pip's PoCL 3.0 reports 16 floats where its builtins break above 8: the probe wins."""
    calls: list = []
    t = target.from_device(_device(), child=_passing_below({"float32": 8, "float64": 4},
                                                           calls))
    assert (t.lanes(np.float32), t.lanes(np.float64)) == (8, 4)
    # a crash at float32:16 leaves float64:8 untried: it goes with the next round
    assert calls == [["float32:16", "float64:8"], ["float32:8", "float64:8"], ["float64:4"]]
    assert t.vector_registers(np.float32) == 16


def test_gpu_target_from_a_device_has_no_cpu_habits(cache_home):
    calls: list = []
    t = target.from_device(_device("gpu", 1, 1, max_compute_units=132,
                                   max_work_group_size=1024),
                           child=_passing_below({"float32": 16, "float64": 8}, calls))
    assert isinstance(t, target.GPUTarget) and calls == []      # GPUs are not probed
    assert t.lanes(np.float32) == 1 and t.widest(np.float32) == 16
    assert not (t.shares_launches or t.chains_rows or t.packs_transposed or t.planes)
    assert t.matmul_model == "workgroups" and t.elementwise_group(10_000, 1) == 256


def test_oclgrind_device_gives_a_sane_gpu_target(cache_home):
    """Oclgrind's simulator reports every device type (15), one compute unit, scalar
    vector widths, 32 KiB of local memory and 128 MiB in all: a GPU target, not probed,
    whose kernels fit its limits."""
    calls: list = []
    t = target.from_device(_device("gpu", 1, 1, type=15, max_compute_units=1,
                                   max_work_group_size=1024, local_mem_size=32 << 10,
                                   global_mem_size=128 << 20, name="Oclgrind Simulator",
                                   platform=SimpleNamespace(name="Oclgrind")),
                           child=_passing_below({"float32": 16, "float64": 8}, calls))
    assert isinstance(t, target.GPUTarget) and calls == [] and t.compute_units == 1
    assert t.lanes(np.float32) == t.lanes(np.float64) == 1 and t.fp64
    assert t.elementwise_group(10_000, 1) == 256 and t.group_size(4096) == 1024
    assert t.reduction(1, 10_000, False) == ("group", 1, 256)
    assert t.scan(10, False) == (1, 10) and t.maxmask_group(500) == 64


def test_described_targets_need_no_device():
    cpu, gpu = target.CPUTarget.describe(), target.GPUTarget.describe()
    assert (cpu.lanes("float32"), cpu.lanes("float64"), cpu.compute_units) == (16, 8, 2)
    assert target.CPUTarget.describe(vector_bits=256).lanes("float32") == 8
    assert gpu.compute_units == 132 and gpu.lanes("float32") == 1
    assert codegen.Target("gpu") == target.GPUTarget() and codegen.CPU == cpu
    assert target.CPUTarget.describe(fp64=False).lanes("float64") == 1


def test_probe_verdict_is_kept_per_device_and_driver(cache_home):
    calls: list = []
    child = _passing_below({"float32": 4, "float64": 2}, calls)
    first = target.compiled_widths(_device(), child=child)
    assert first == {"float32": 4, "float64": 2} and len(calls) == 5
    assert target.compiled_widths(_device(), child=child) == first and len(calls) == 5
    kept = json.loads(cache_home.read_text())
    assert list(kept) == [target.device_key("Fake CL", "fake cpu", "1.0")]
    target.compiled_widths(_device(driver_version="2.0"), child=child)   # a new driver
    assert len(calls) == 10


def test_a_device_with_a_kept_vector_verdict_is_not_checked_again(cache_home, monkeypatch):
    """``runtime`` skips its trivial check build for a device that built and ran the
    width probe before (same driver); not where the verdict is missing, scalar, another
    driver's, or for a GPU (never probed)."""
    assert not target.compiled_before(_device())                   # nothing kept yet
    target.compiled_widths(_device(), child=_passing_below({"float32": 8, "float64": 2}, []))
    assert target.compiled_before(_device())
    assert not target.compiled_before(_device(driver_version="2.0"))
    assert not target.compiled_before(_device("gpu"))
    target.compiled_widths(_device(name="scalar cpu"), child=lambda pairs: {pairs[0]: False})
    assert not target.compiled_before(_device(name="scalar cpu"))

    def no_build(device):
        raise AssertionError("the trivial build ran for a device known to compile")
    monkeypatch.setattr(runtime, "_probe", no_build)
    monkeypatch.setattr(target, "probe_early", no_build)
    assert runtime._first_working([_device()], "default").name == " fake cpu "
    with pytest.raises(AssertionError, match="trivial build ran"):
        runtime._first_working([_device(driver_version="2.0")], "default")


def test_probe_falls_back_to_scalars_when_no_width_works(cache_home):
    def crashing(pairs):
        return {pairs[0]: False}                          # crashed at the first pair
    assert target.compiled_widths(_device(), child=crashing) == {"float32": 1, "float64": 1}
    assert target.compiled_widths(_device("cpu", double_fp_config=0), fp64=False,
                                  child=crashing) == {"float32": 1}


def test_probe_child_that_hangs_is_a_failing_width(monkeypatch):
    """run_child kills a child past its timeout and fails the pair it stopped at."""
    def hang(*args, **kwargs):
        raise subprocess.TimeoutExpired(args[0], kwargs.get("timeout"),
                                        output="float32:16:ok\n")
    monkeypatch.setattr(target.subprocess, "run", hang)
    verdict = target.run_child("p", "d", ["float32:16", "float64:8", "float32:8"], 0.1)
    assert verdict == {"float32:16": True, "float64:8": False}


def _sources(out, on) -> list:
    """The kernel sources of ``out`` generated for target ``on``, without a device."""
    sched = schedule.schedule([out], [], True, pack_transposed=on.packs_transposed)
    slot_of, _ = schedule.plan_buffers(sched)

    def buffer_of(node):
        if id(node) in slot_of:
            return codegen.BufferRef("temp", slot=slot_of[id(node)])
        return codegen.BufferRef("input", node)
    return [spec.source for spec in codegen.generate(sched, buffer_of, on)]


def test_elementwise_vectors_have_the_targets_width():
    x = gc.placeholder((64, 32), "float32", name="x")
    out = gc.tanh(x) * 2.0 + 1.0
    (wide,) = _sources(out, target.CPUTarget.describe())
    (narrow,) = _sources(out, target.CPUTarget.describe(vector_bits=256))
    (gpu,) = _sources(out, target.GPUTarget.describe())
    assert "float16" in wide and "float8" not in wide
    assert "float8" in narrow and "float16" not in narrow
    assert "float8" not in gpu and "float16" not in gpu


def test_transposed_copies_and_matmul_plans_have_the_targets_width():
    a = gc.placeholder((256, 128), "float32", name="a")
    b = gc.placeholder((256, 64), "float32", name="b")
    out = gc.transpose(a, (1, 0)) @ b
    for bits, wide in ((512, 16), (256, 8)):
        on = target.CPUTarget.describe(vector_bits=bits)
        sources = "\n".join(_sources(out, on))
        assert f"vload{wide}" in sources and f"float{2 * wide}" not in sources
    plan = codegen._matmul_plan(256, 64, 256, 1, 128, 64, 1, 1, np.float32, 2,
                                wide=8, registers=16)
    assert plan["W"] <= 8


def test_peak_probe_source_has_the_width_it_is_given():
    pytest.importorskip("pyopencl")
    src = runtime._probe_source(8)
    assert "float8 a0" in src and "float16" not in src and "$" not in src
    assert "float a0" in runtime._probe_source(1)

# }}}


def test_probe_child_runs_on_the_test_device(device):
    """The real child process: 128-bit vectors compile and compute right everywhere."""
    verdict = target.run_child(device.platform.name.strip(), device.name.strip(),
                               ["float32:4"])
    assert verdict == {"float32:4": True}
    widths = dict(runtime.context_for(device).target.compiled or ())
    assert all(w >= 1 for w in widths.values())


def test_probe_children_with_and_without_pyopencl_agree(device, monkeypatch):
    """The ctypes child (the loader pyopencl loaded, no numpy or pyopencl imported) gives
    the pyopencl child's verdicts, and fails a kernel that computes wrong or does not
    compile."""
    import sys
    if sys.platform.startswith("linux"):
        assert target.opencl_library() is not None
    platform, name = device.platform.name.strip(), device.name.strip()
    pairs = ["float32:4"] + (["float64:2"] if device.double_fp_config else [])
    fast = target.run_child(platform, name, pairs)
    monkeypatch.setattr(target, "opencl_library", lambda: None)
    assert target.run_child(platform, name, pairs) == fast == dict.fromkeys(pairs, True)
    monkeypatch.undo()
    wrong = target._KERNEL.replace("vstore$W(z +", "vstore$W(z + 1 +")
    monkeypatch.setattr(target, "_KERNEL", wrong)
    assert target.run_child(platform, name, ["float32:4"]) == {"float32:4": False}
    monkeypatch.setattr(target, "_KERNEL", target._KERNEL.replace("vstore", "no_such_call"))
    assert target.run_child(platform, name, ["float32:4", "float32:8"]) == {"float32:4": False}


def test_intel_runtime_from_pip_is_registered_beside_the_systems(tmp_path, monkeypatch):
    from graphc import icd
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    prefix, system = tmp_path / "venv", tmp_path / "vendors"
    (prefix / "lib").mkdir(parents=True)
    system.mkdir()
    (system / "pocl.icd").write_text("libpocl.so.2\n")
    env: dict = {}
    assert icd.register_intel(env, str(prefix), str(system)) is None     # not installed
    (prefix / "lib" / "libintelocl.so").write_bytes(b"")
    folder = icd.register_intel(env, str(prefix), str(system))
    assert env["OCL_ICD_VENDORS"] == folder
    icds = {p.name: p.read_text() for p in (tmp_path / "cache" / "graphc" / "icd").iterdir()}
    assert icds == {"pocl.icd": "libpocl.so.2\n",
                    "graphc-intel-cpu.icd": f"{prefix / 'lib' / 'libintelocl.so'}\n"}
    assert icd.register_intel({"OCL_ICD_VENDORS": "/x"}, str(prefix), str(system)) is None
    assert icd.register_intel({"GRAPHC_INTEL": "0"}, str(prefix), str(system)) is None
