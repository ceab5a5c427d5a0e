"""Large CPU matmuls read their second operand from panels: B is first copied so that
each run of N // width columns lies k by k in one stream (``schedule._Builder.pack_panels``,
``codegen.matmul.panel_width``). Every layout of B a matmul reads in place (rows,
transposed, batched, a slice) must give gc.evaluate's numbers through its panels, with
the epilogue fused, tiles shifted back at M's end, and gradients; small or compact
matmuls, broadcast operands and GPUs keep B in place. The kernels are CPU-shaped
whatever the test device is."""
from __future__ import annotations

import numpy as np
import pytest

import graphc as gc
from graphc import codegen, runtime
from graphc.codegen import matmul as mm
from graphc.view import View


@pytest.fixture(autouse=True)
def as_cpu(monkeypatch, cpu):
    monkeypatch.setattr(runtime.DeviceContext, "target", property(lambda self: cpu))


def _panels(fn) -> list:
    """The panel widths of ``fn``'s matmul kernels (0 where B is read in place)."""
    return [g.panels for g in fn.program.schedule.groups if g.kind == "matmul"]


def _tol(dtype) -> float:
    return 1e-10 if np.dtype(dtype) == np.float64 else 3e-4


@pytest.mark.parametrize("M, K, N, dtype", [(256, 512, 1024, "float32"),
                                            (1000, 256, 256, "float32"),   # M % tile
                                            (300, 400, 256, "float64")])
def test_rows_of_b_through_panels_with_an_epilogue(M, K, N, dtype):
    rng = np.random.default_rng(M)
    x = gc.placeholder((M, K), dtype, name="x")
    w = gc.placeholder((K, N), dtype, name="w")
    bias = gc.placeholder((N,), dtype, name="bias")
    out = gc.relu(x @ w + bias)
    fn = gc.compile([x, w, bias], out)
    lanes = fn.ctx.target.lanes(np.dtype(dtype))
    (width,) = _panels(fn)
    assert width in (4 * lanes, 2 * lanes, lanes) and N % width == 0
    assert [k.kind for k in fn.kernels] == ["elementwise", "matmul"]
    feed = [rng.standard_normal(s).astype(dtype) for s in ((M, K), (K, N), (N,))]
    want = gc.evaluate(out, dict(zip((x, w, bias), feed)))
    np.testing.assert_allclose(fn(*feed), want, rtol=_tol(dtype), atol=_tol(dtype))


def test_a_transposed_b_is_transposed_into_its_panels():
    """x @ w.T, nn.Linear's layout: in place each lane of B's vectors is a gather."""
    rng = np.random.default_rng(1)
    x = gc.placeholder((384, 520), name="x")
    w = gc.placeholder((512, 520), name="w")
    fn = gc.compile([x, w], x @ w.T)
    assert _panels(fn) != [0]
    xs, ws = rng.standard_normal((384, 520), np.float32), rng.standard_normal((512, 520),
                                                                              np.float32)
    np.testing.assert_allclose(fn(xs, ws), xs @ ws.T, rtol=3e-4, atol=3e-4)


def test_batched_b_and_a_slice_of_b_have_panels_per_batch():
    rng = np.random.default_rng(2)
    a = gc.placeholder((3, 256, 256), name="a")
    b = gc.placeholder((3, 256, 600), name="b")
    out = a @ b[:, :, 8:520]               # a slice: rows 600 apart, 512 columns read
    fn = gc.compile([a, b], out)
    assert _panels(fn) != [0]
    feed = {a: rng.standard_normal(a.shape, np.float32),
            b: rng.standard_normal(b.shape, np.float32)}
    np.testing.assert_allclose(fn(*feed.values()), gc.evaluate(out, feed), rtol=3e-4,
                               atol=3e-4)


def test_a_training_step_with_panels_matches_the_reference():
    """Forward, both weight gradients (x.T @ g reads g in panels) and the updates."""
    rng = np.random.default_rng(3)
    x = gc.placeholder((256, 512), name="x")
    y = gc.placeholder((256, 256), name="y")
    w1 = gc.parameter(rng.standard_normal((512, 512), np.float32) * 0.05, name="w1")
    w2 = gc.parameter(rng.standard_normal((512, 256), np.float32) * 0.05, name="w2")
    loss = ((gc.relu(x @ w1) @ w2 - y) ** 2).mean()
    g1, g2 = gc.grad(loss, [w1, w2])
    updates = {w1: w1 - 0.1 * g1, w2: w2 - 0.1 * g2}
    feed = {x: rng.standard_normal(x.shape, np.float32),
            y: rng.standard_normal(y.shape, np.float32)}
    want = gc.evaluate([loss, updates[w1], updates[w2]], feed)
    step = gc.compile([x, y], [loss], updates)
    assert sum(1 for p in _panels(step) if p) >= 2
    (got,) = step(*feed.values())
    np.testing.assert_allclose(got, want[0], rtol=1e-4)
    np.testing.assert_allclose(w1.value, want[1], rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(w2.value, want[2], rtol=1e-4, atol=1e-5)


def test_small_compact_or_broadcast_b_stays_in_place():
    cases = []
    a, b = gc.placeholder((64, 1000)), gc.placeholder((1000, 100))          # small
    cases.append(([a, b], a @ b))
    a, b = gc.placeholder((1024, 1040)), gc.placeholder((1040, 24))         # rows 96 B
    cases.append(([a, b], a @ b))
    a, b = gc.placeholder((64, 4096)), gc.placeholder((4096, 1024))         # 64 rows
    cases.append(([a, b], a @ b))
    a, b = gc.placeholder((4096, 64)), gc.placeholder((64, 1024))           # k of 64
    cases.append(([a, b], a @ b))
    # a broadcast B times a broadcast A: no rows to merge (shared_matrices_into_rows),
    # and panels of B would be copied once per batch item
    a, b = gc.placeholder((1, 256, 512)), gc.placeholder((512, 512))
    cases.append(([a, b], gc.broadcast_to(a, (8, 256, 512)) @ b))
    for inputs, out in cases:
        assert not any(_panels(gc.compile(inputs, out)))
    a, b = gc.placeholder((256, 1024)), gc.placeholder((1024, 1024))
    assert _panels(gc.compile([a, b], a @ b, fuse=False)) == [0]   # the reference schedule


def test_a_shared_weight_is_read_in_panels_by_all_batch_items():
    """x (B, T, D) @ w (D, E): one 2-D product over B*T rows, w in panels."""
    rng = np.random.default_rng(5)
    x = gc.placeholder((4, 64, 512), name="x")
    w = gc.placeholder((512, 512), name="w")
    fn = gc.compile([x, w], x @ w)
    assert _panels(fn) != [0]
    xs, ws = rng.standard_normal(x.shape, np.float32), rng.standard_normal(w.shape,
                                                                           np.float32)
    np.testing.assert_allclose(fn(xs, ws), xs @ ws, rtol=3e-4, atol=3e-4)


def test_gpu_targets_read_b_in_place():
    node = gc.placeholder((1024, 1024)) @ gc.placeholder((1024, 1024))
    view = View.contiguous((1024, 1024))
    gpu = codegen.Target("gpu", compute_units=64, max_group=1024)
    assert mm.panel_width(gpu, node, view, view) == 0


def test_tuned_plans_of_a_panel_problem_are_panel_plans(monkeypatch, tmp_path):
    """The tuner times only plans whose tile is one panel wide, and a compile uses the
    kept one."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    rng = np.random.default_rng(4)
    a, b = gc.placeholder((256, 512), name="a"), gc.placeholder((512, 1024), name="b")
    fn = gc.compile([a, b], a @ b, tune=True)
    (width,) = _panels(fn)
    problem = codegen.matmul_problems(fn.program.schedule)[0]
    assert problem.b_panel == width
    plans = codegen.matmul_plans(problem, fn.ctx.target)
    assert plans and all(p["TN"] == width and p["role"] == "rows" for p in plans)
    xs, ys = rng.standard_normal((256, 512), np.float32), rng.standard_normal(
        (512, 1024), np.float32)
    np.testing.assert_allclose(fn(xs, ys), xs @ ys, rtol=3e-4, atol=3e-4)
