"""Inspection views: describe(), profile(), to_dot, GRAPHC_DEBUG, `python -m graphc devices`."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys

import numpy as np
import pytest

import graphc as gc

N, D_in, H, D_out = 16, 40, 12, 5


@pytest.fixture(scope="module")
def seed():
    rng = np.random.default_rng(0)
    x = gc.placeholder((N, D_in), name="x")
    y = gc.placeholder((N, D_out), name="y")
    w1 = gc.parameter(rng.standard_normal((D_in, H)).astype(np.float32), name="w1")
    w2 = gc.parameter(rng.standard_normal((H, D_out)).astype(np.float32), name="w2")
    loss = (x.mm(w1).clamp(min=0).mm(w2) - y).pow(2).sum().named("loss")
    g1, g2 = gc.grad(loss, [w1, w2])
    step = gc.compile([x, y], [loss], {w1: w1 - 1e-6 * g1, w2: w2 - 1e-6 * g2})
    args = (rng.standard_normal((N, D_in)).astype(np.float32),
            rng.standard_normal((N, D_out)).astype(np.float32))
    return step, args


def test_describe_names_every_kernel_and_the_users_tensors(seed):
    step, _ = seed
    text = step.describe()
    for k in step.kernels:
        assert k.name in text
    for name in ("w1", "w2", "loss", "grad(loss, w1)", "grad(loss, w2)", "new w1", "new w2",
                 "(backward)"):
        assert name in text, name
    assert str(step) == text


def test_kernels_report_flops_bytes_and_math(seed):
    step, _ = seed
    matmuls = [g for k in step.kernels for g in k.generated() if g.kind == "matmul"]
    # the forward x @ w1 kernel: 2*N*D_in*H flops at least, reads x and w1
    first = matmuls[0]
    assert first.flops >= 2 * N * D_in * H
    assert first.bytes >= (N * D_in + D_in * H) * 4
    for k in step.kernels:
        assert k.flops > 0 and k.bytes > 0
    update = [g for k in step.kernels for g in k.generated()
              if any(o.name == "new w1" for o in g.outputs)][0]
    (formula,) = [str(e) for name, e in gc.inspect.math(update).items() if name == "new w1"]
    assert "acc" in formula and "w1" in formula and "1.0e-6" in formula


def test_profile_has_one_record_per_kernel_and_adds_up(seed, monkeypatch):
    monkeypatch.setattr(gc.runtime, "busy", lambda: False)     # the peaks are kept
    step, args = seed
    before = [p.value for p, _ in step.updates]
    report = step.profile(*args, repeat=5)
    assert [r.name for r in report] == [k.name for k in step.kernels]
    assert all(r.seconds > 0 for r in report)
    assert abs(sum(r.share for r in report) - 1) < 1e-9
    total = sum(r.seconds for r in report)
    assert total <= 1.2 * report.call_seconds   # kernel time fits inside the call
    text = str(report)
    assert all(k.name in text for k in step.kernels)
    assert report.peaks["gflops"] > 0 and report.peaks["gbps"] > 0
    assert all(r.bound in ("compute", "memory") and r.roofline > 0 for r in report)
    assert "roofline of the device" in text
    assert gc.runtime.known_peaks(step.device) == report.peaks     # kept on disk
    # profiling runs the function: the updates were applied
    assert any(not np.array_equal(b, p.value) for b, (p, _) in zip(before, step.updates))


def test_to_dot_clusters_nodes_by_kernel(seed):
    step, _ = seed
    dot = gc.to_dot(step)
    assert dot.startswith("digraph graphc {") and dot.rstrip().endswith("}")
    for i, k in enumerate(step.kernels):
        assert f'label="{i}: {k.name}"' in dot
    for name in ("w1", "w2", "x", "y", "loss"):
        assert f'label="{name}\\n' in dot


def test_to_dot_of_tensors_without_compiling():
    x = gc.placeholder((3,), name="x")
    dot = gc.to_dot(gc.tanh(x) * 2)
    assert "cluster" not in dot and 'label="x\\n' in dot


@pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz's dot is not installed")
def test_render_writes_an_svg(seed, tmp_path):
    step, _ = seed
    path = gc.render(step, str(tmp_path / "graph.svg"))
    assert open(path).read().lstrip().startswith(("<?xml", "<svg"))


def test_render_without_dot_says_how_to_install(seed, monkeypatch, tmp_path):
    monkeypatch.setattr(shutil, "which", lambda name: None)
    with pytest.raises(RuntimeError, match="graphviz"):
        gc.render(seed[0], str(tmp_path / "g.svg"))


def _run(code: str, **env) -> subprocess.CompletedProcess:
    environment = {**os.environ, **env}
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env=environment, timeout=120)


GRAPH = ("import numpy as np, graphc as gc\n"
         "x = gc.placeholder((4, 3), name='x')\n"
         "f = gc.compile([x], (gc.exp(x) * 2).sum().named('total'))\n"
         "f(np.ones((4, 3), np.float32))\n")


@pytest.mark.parametrize("level, expected, absent", [
    ("1", ["total", "kernel"], ["__kernel", "after merge_elementwise", "graphc: call"]),
    ("2", ["graphc: call"], ["__kernel"]),
    ("3", ["__kernel"], ["after merge_elementwise"]),
    ("4", ["after merge_elementwise", "x: float32[4, 3] = placeholder"], []),
])
def test_graphc_debug_levels(level, expected, absent):
    result = _run(GRAPH, GRAPHC_DEBUG=level)
    assert result.returncode == 0, result.stderr
    for text in expected:
        assert text in result.stderr, (level, text)
    for text in absent:
        assert text not in result.stderr, (level, text)


def test_python_m_graphc_devices_lists_the_default_device():
    result = subprocess.run([sys.executable, "-m", "graphc", "devices"], capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    default = gc.runtime.select_device()
    assert default.name.strip() in result.stdout
    assert "fp64" in result.stdout and "* =" in result.stdout
