"""Soak: 20,000 calls of the seed's step and 500 distinct compiles keep host and device
memory flat.

Host memory is the process's resident set (``VmRSS``); device memory is every OpenCL
buffer alive in the process (pyopencl's buffer objects, found by Python's collector, and
their sizes), beside each function's own ``device_bytes``. Both are measured after a
warm-up (caches, pools, first builds) and at the end.
"""
from __future__ import annotations

import ctypes
import gc as python_gc
import importlib.util
import json
import os
import subprocess
import sys
import weakref
from pathlib import Path

import numpy as np
import pyopencl as cl
import pytest
import sympy as sp

import graphc as gc
from graphc import runtime, symbolic
from graphc.graph import Tensor

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def rss_mb() -> float:
    """This process's resident set, in MiB, once glibc returned its free memory to the
    system (``malloc_trim``: memory freed by PoCL's compiler threads stays in their
    arenas, and counts in the resident set until trimmed)."""
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):       # not glibc: the resident set as it is
        pass
    with open("/proc/self/status") as f:
        line = next(line for line in f if line.startswith("VmRSS:"))
    return int(line.split()[1]) / 1024


def live_buffers() -> tuple:
    """(count, bytes) of the OpenCL buffers alive in this process and not released."""
    python_gc.collect()
    found = [o for o in python_gc.get_objects()
             if isinstance(o, cl.MemoryObject) and not runtime.released(o)]
    return len(found), sum(int(o.size) for o in found)


def seed_step(monkeypatch):
    """The step function examples/two_layer_net.py compiles (caught as it is made, one
    step of its training run), and arguments for it."""
    spec = importlib.util.spec_from_file_location("_soak_seed", EXAMPLES / "two_layer_net.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    made = []
    compile_function = gc.compile
    monkeypatch.setattr(gc, "compile", lambda *a, **k: made.append(
        compile_function(*a, **k)) or made[-1])
    module.train(steps=1, verbose=False)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((module.N, module.D_in), dtype=np.float32)
    y = rng.standard_normal((module.N, module.D_out), dtype=np.float32)
    return made[0], (x, y)


@pytest.mark.slow
def test_20000_seed_calls_keep_memory_flat(monkeypatch):
    step, args = seed_step(monkeypatch)
    for _ in range(2000):
        step(*args)
    host, device, held = rss_mb(), live_buffers(), step.device_bytes
    for _ in range(18000):
        (loss,) = step(*args)
    assert np.isfinite(loss)
    grown, now = rss_mb() - host, live_buffers()
    print(f"seed, calls 2,000 to 20,000: host memory {grown:+.1f} MiB, device buffers "
          f"{device} -> {now} (count, bytes), step.device_bytes {held}")
    assert now == device, f"live device buffers went from {device} to {now}"
    assert step.device_bytes == held
    assert grown < 8, f"host memory grew by {grown:.1f} MiB over 18,000 calls"


def _distinct(i: int, unique: bool):
    """A compiled training step, of a graph of its own: a matmul, a reduction, an
    elementwise epilogue and the update of a new parameter. Its program is one of 20
    (shapes and constant cycling with ``i``), or its own where ``unique``."""
    rows, cols = 4 + i % 4, 3 + i % 5
    scale = float(1000 + i if unique else i % 20 + 1)
    x = gc.placeholder((rows, 6), name=f"x{i}")
    w = gc.parameter(np.full((6, cols), 0.1, np.float32), name=f"w{i}")
    loss = (gc.tanh(x @ w) * scale).sum()
    fn = gc.compile([x], [loss], {w: w - 0.01 * gc.grad(loss, w)})
    (value,) = fn(np.ones((rows, 6), np.float32))
    assert np.isclose(value, rows * cols * np.tanh(0.6) * scale, rtol=1e-5)
    return weakref.ref(fn)


def compile_soak() -> dict:
    """500 compiles, each function dropped, and what stayed: their buffers, parameters,
    graph nodes and programs must go (a program once PROGRAMS_KEPT newer ones were
    built). Every 10th compile builds a new program; the others reuse one of 20 (PoCL
    takes ~0.3 s to build one: 500 builds would take minutes).

    The warm-up fills the device's programs kept, then compiles 200 more that reuse them:
    with fresh PoCL and pyopencl caches, the resident set still grew by ~19 MB over the
    first 250 compiles after the programs were built, and by 1.6 MB over 500 later ones.
    After it, host memory grows by what PoCL keeps of each program it built and freed
    (about 0.1 MB: 4-6 MB for 50 builds, in a loop of pyopencl alone building the
    programs of this test)."""
    for i in range(20 + runtime.PROGRAMS_KEPT // 2):     # warm: caches, pools, programs
        _distinct(10_000 + i, unique=i >= 20)
    for i in range(200):
        _distinct(20_000 + i, unique=False)
    python_gc.collect()
    host, device, nodes = rss_mb(), live_buffers(), len(Tensor._cache)
    functions = [_distinct(i, unique=i % 10 == 9) for i in range(500)]
    python_gc.collect()
    ctx = runtime.device_context()
    return {"host_mb": rss_mb() - host, "buffers": [device, live_buffers()],
            "nodes": [nodes, len(Tensor._cache)], "functions": sum(bool(f()) for f in functions),
            "programs": len(ctx.programs), "held": sorted(set(ctx.live) - set(ctx.programs))}


@pytest.mark.slow
def test_500_distinct_compiles_keep_memory_flat():
    """``compile_soak`` in a process of its own: the resident set of the test process
    depends on what ran in it before (it grew by 22 MB where 1,500 tests had run first,
    by 2.5 MB alone)."""
    code = ("import json, sys; sys.path.insert(0, sys.argv[1]); import test_soak; "
            "print(json.dumps(test_soak.compile_soak()))")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(
        [str(Path(gc.__file__).parents[1]), os.environ.get("PYTHONPATH", "")]))
    done = subprocess.run([sys.executable, "-c", code, str(Path(__file__).parent)], env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    found = json.loads(done.stdout.strip().splitlines()[-1])
    print(f"500 compiles: {found}")
    assert found["functions"] == 0, "compiled functions outlived their last use"
    assert found["buffers"][1] == found["buffers"][0], "device buffers outlived functions"
    assert found["nodes"][1] <= found["nodes"][0], "graph nodes outlived their functions"
    assert found["programs"] <= runtime.PROGRAMS_KEPT and not found["held"]
    assert found["host_mb"] < 10, f"host memory grew by {found['host_mb']:.1f} MiB"


def test_expression_caches_are_bounded():
    """Derivatives and lambdified functions are cached by expression, and expressions
    hold folded constants: a cache per expression ever seen grew without bound."""
    x = sp.Symbol("a0", real=True)
    for c in range(symbolic.EXPRESSIONS_KEPT + 100):
        expr = sp.tanh(x) * (c + 0.5)
        symbolic.numpy_function(expr, 1)
        symbolic.partial(expr, 0)
    for cached in (symbolic.numpy_function, symbolic.partial):
        assert cached.cache_info().currsize <= symbolic.EXPRESSIONS_KEPT
