"""Compile time of deep elementwise programs against gc.evaluate, each in a new process
with empty kernel caches (PoCL's and pyopencl's; graphc's probe of the device's vector
widths is kept, as it runs once per device), so the build is counted:

    python benchmarks/compile_time.py

- chain: 100 steps of ``y = tanh(y) + 0.5`` on a (64, 32) float32 input;
- euler: 30 explicit Euler steps of ``u += dt * (-u**3 + sin(u))`` on (128,);
- heat:  10 steps of the 2-D heat equation written with slices and put back with pad, on
  (130, 130).

For each: graph build, gc.evaluate (the numpy reference), gc.compile (lowering and the
OpenCL build), the first call, the number of kernels, and the largest difference from
gc.evaluate.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

CHILD = r"""
import json, sys, time
import numpy as np
t0 = time.perf_counter()
import graphc as gc
kind = sys.argv[1]
rng = np.random.default_rng(0)
t1 = time.perf_counter()
if kind == "chain":
    x = gc.placeholder((64, 32), name="x"); value = rng.standard_normal((64, 32)).astype(np.float32)
    y = x
    for _ in range(100):
        y = gc.tanh(y) + 0.5
elif kind == "euler":
    x = gc.placeholder((128,), name="u"); value = rng.standard_normal(128).astype(np.float32)
    y = x
    for _ in range(30):
        y = y + 0.05 * (-y ** 3 + gc.sin(y))
else:
    x = gc.placeholder((130, 130), name="u"); value = rng.random((130, 130)).astype(np.float32)
    y = x
    for _ in range(10):
        c = y[1:-1, 1:-1]
        y = gc.pad(c + 0.2 * (y[2:, 1:-1] + y[:-2, 1:-1] + y[1:-1, 2:] + y[1:-1, :-2] - 4 * c),
                   (1, 1, 1, 1))
t2 = time.perf_counter()
want = gc.evaluate(y, {x: value})
t3 = time.perf_counter()
fn = gc.compile([x], y)
t4 = time.perf_counter()
got = fn(value)
t5 = time.perf_counter()
print(json.dumps({"import": t1 - t0, "build": t2 - t1, "evaluate": t3 - t2,
                  "compile": t4 - t3, "first call": t5 - t4, "kernels": len(fn.kernels),
                  "max diff": float(np.max(np.abs(got - want)))}))
"""


def main() -> None:
    keep = Path(tempfile.mkdtemp(prefix="graphc-compile-time-"))   # the width verdict
    subprocess.run([sys.executable, "-c", "from graphc import runtime; "
                    "runtime.device_context().target"], check=True, cwd=keep,
                   env=dict(os.environ, XDG_CACHE_HOME=str(keep / "xdg"),
                            POCL_CACHE_DIR=str(keep / "pocl"), PYTHONPATH=str(ROOT)))
    print(f"{'program':<8} {'build s':>8} {'evaluate s':>11} {'compile s':>10} "
          f"{'1st call s':>11} {'kernels':>8} {'max |compiled - evaluate|':>26}")
    for kind in ("chain", "euler", "heat"):
        with tempfile.TemporaryDirectory() as tmp:
            for cached in [*(keep / "xdg").glob("pyopencl*"), *(keep / "xdg").glob("pytools*")]:
                subprocess.run(["rm", "-rf", str(cached)], check=True)
            env = dict(os.environ, POCL_CACHE_DIR=f"{tmp}/pocl",
                       XDG_CACHE_HOME=str(keep / "xdg"), PYTHONPATH=str(ROOT))
            out = subprocess.run([sys.executable, "-c", CHILD, kind], env=env, cwd=tmp,
                                 capture_output=True, text=True, check=True).stdout
        r = json.loads(out.strip().splitlines()[-1])
        print(f"{kind:<8} {r['build']:8.3f} {r['evaluate']:11.3f} {r['compile']:10.3f} "
              f"{r['first call']:11.3f} {r['kernels']:8d} {r['max diff']:26.2e}")
    print("(PoCL builds a kernel at its first launch: compile + 1st call is the build)")


if __name__ == "__main__":
    main()
