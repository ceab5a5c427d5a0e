"""Kernels shaped for a GPU (lane-sized tiles, wide work-groups), run on the test device.

OpenCL semantics do not depend on the device kind, so the GPU-shaped kernels must give the
same numbers on PoCL's CPU device: these tests pretend the device is a GPU and compare with
``gc.evaluate``. They also check the geometry each kind gets.
"""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import graphc as gc
from graphc import codegen, runtime

GPU = codegen.Target("gpu", compute_units=4, max_group=256)
CPU = codegen.Target("cpu", compute_units=2, max_group=4096)


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
def test_reductions_of_every_shape_match_reference(shape, axes, keepdims, kind, target):
    chosen = GPU if target == "gpu" else CPU
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

