"""Golden tests of ``lower()``: the seed and a stencil lowered for a CPU and a GPU target
description, with no OpenCL device (kernel counts, buffer plans, generated source); and
graphc built, differentiated, evaluated and lowered in a process without pyopencl."""
from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

import graphc as gc
from graphc import codegen
from graphc.lower import HostAllreduce, Launch

CPU = codegen.Target("cpu", compute_units=2, max_group=4096)
GPU = codegen.Target("gpu", compute_units=132, max_group=1024)
ROOT = Path(__file__).resolve().parents[2]


def seed(dtype: str = "float32"):
    rng = np.random.default_rng(0)
    x = gc.placeholder((64, 1000), dtype, name="x")
    y = gc.placeholder((64, 10), dtype, name="y")
    w1 = gc.parameter(rng.standard_normal((1000, 100)).astype(dtype), name="w1")
    w2 = gc.parameter(rng.standard_normal((100, 10)).astype(dtype), name="w2")
    loss = (x.mm(w1).clamp(min=0).mm(w2) - y).pow(2).sum()
    g1, g2 = gc.grad(loss, [w1, w2])
    return [loss], {w1: w1 - 1e-6 * g1, w2: w2 - 1e-6 * g2}


def test_seed_on_a_cpu_is_two_launches():
    outputs, updates = seed()
    program = gc.lower(outputs, updates, CPU)
    assert [k.kind for k in program.kernels] == ["rows", "launch"]
    assert all(isinstance(s, Launch) for s in program.steps)
    rows, launch = program.kernels
    assert [p.kind for p in rows.parts] == ["matmul"] * 3
    assert sorted(p.kind for p in launch.parts) == ["matmul", "matmul", "reduce"]
    # both updates are written in place, into the parameters' spare buffers
    assert program.copies == []
    assert sorted(ref.node.name for k in program.kernels for ref in k.written
                  if ref.kind == "spare") == ["w1", "w2"]
    # temporaries: the chain keeps each buffer its members read alive through all of
    # them (h, relu(h), the hidden gradient: 64x100; the residual and 2d: 64x10; the
    # loss reuses one of them)
    assert program.temps == [25600, 25600, 2560, 2560, 25600]
    assert "double" not in program.source and "float16" in program.source
    assert "get_global_id" in program.source


def test_seed_on_a_gpu_launches_every_kernel_alone():
    outputs, updates = seed()
    program = gc.lower(outputs, updates, GPU)
    kinds = [k.kind for k in program.kernels]
    assert "rows" not in kinds and "launch" not in kinds
    assert kinds.count("matmul") == 5 and kinds.count("reduce") == 1
    assert all(k.parts == [] for k in program.kernels)
    assert any(np.prod(k.local_size) > 1 for k in program.kernels)   # lanes, not tiles
    assert "float16" not in program.source and "double" not in program.source


def test_float64_program_enables_fp64_once():
    outputs, updates = seed("float64")
    source = gc.lower(outputs, updates, CPU).source
    assert source.count("cl_khr_fp64") == 1
    assert "float " not in source.replace("float64", "")


def test_allreduce_is_a_host_step():
    x = gc.placeholder((8, 4), name="x")
    w = gc.parameter(np.ones((4, 3), np.float32), name="w")
    loss = gc.sum(x.mm(w) ** 2)
    g = gc.allreduce(gc.grad(loss, w))
    program = gc.lower([loss], {w: w - 0.1 * g}, CPU)
    kinds = [type(s) for s in program.steps]
    assert kinds.count(HostAllreduce) == 1 and kinds[0] is Launch and kinds[-1] is Launch


def test_program_prints_its_launches():
    outputs, updates = seed()
    text = str(gc.lower(outputs, updates, CPU))
    assert text.startswith("graphc program for a CPU target: 2 kernels (6 generated")
    assert "new w1" in text and "math:" in text


def test_graphc_without_pyopencl():
    """import graphc, build, grad, evaluate and lower the seed where pyopencl cannot be
    imported: only compile() needs a driver."""
    script = textwrap.dedent("""
        import sys
        sys.modules["pyopencl"] = None          # import pyopencl now raises ImportError
        import numpy as np
        import graphc as gc
        from graphc import codegen
        rng = np.random.default_rng(0)
        x = gc.placeholder((64, 1000), name="x")
        y = gc.placeholder((64, 10), name="y")
        w1 = gc.parameter(rng.standard_normal((1000, 100), dtype=np.float32), name="w1")
        w2 = gc.parameter(rng.standard_normal((100, 10), dtype=np.float32), name="w2")
        loss = (x.mm(w1).clamp(min=0).mm(w2) - y).pow(2).sum()
        g1, g2 = gc.grad(loss, [w1, w2])
        feed = {x: rng.standard_normal((64, 1000)), y: rng.standard_normal((64, 10))}
        print("loss", float(gc.evaluate(loss, feed)))
        print(gc.lower([loss], {w1: w1 - 1e-6 * g1, w2: w2 - 1e-6 * g2}, codegen.CPU))
        assert "pyopencl._cl" not in sys.modules
    """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          cwd=ROOT, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("loss ")
    assert "graphc program for a CPU target: 2 kernels" in done.stdout


def test_an_update_read_by_another_in_its_kernel_is_written_in_place():
    """A momentum buffer's new value, read by the new weight in the same matmul epilogue,
    is written into its spare buffer by that kernel: no copy after the launches."""
    outputs, updates = seed()
    weights = list(updates)
    momentum = {}
    for w, g in zip(weights, gc.grad(outputs[0], weights)):
        buf = gc.parameter(np.zeros(w.shape, np.float32), name=f"{w.name}.buf")
        momentum[buf] = 0.9 * buf + g
        momentum[w] = w - 1e-6 * momentum[buf]
    program = gc.lower(outputs, momentum, CPU)
    assert [k.kind for k in program.kernels] == ["rows", "launch"]
    assert program.copies == []
