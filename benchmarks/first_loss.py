"""Time to the first loss of the seed's training step in this process.

``benchmarks/run.py`` starts this script in a new process, once with empty PoCL and
pyopencl caches (``POCL_CACHE_DIR``, ``XDG_CACHE_HOME``) and once more with the same, now
warm, caches. The clock starts just before ``import graphc`` (which imports numpy,
pyopencl and sympy); the last line printed is JSON with the stages in seconds.

    python benchmarks/first_loss.py
"""
import os
import sys
import time

T0 = time.perf_counter()
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import graphc as gc  # noqa: E402

T_IMPORT = time.perf_counter()

import json  # noqa: E402

import numpy as np  # noqa: E402

N, D_in, H, D_out = 64, 1000, 100, 10


def main() -> None:
    rng = np.random.default_rng(0)
    x_np, y_np, w1_np, w2_np = (rng.standard_normal(s, dtype=np.float32) for s in
                                [(N, D_in), (N, D_out), (D_in, H), (H, D_out)])
    x = gc.placeholder((N, D_in), name="x")
    y = gc.placeholder((N, D_out), name="y")
    w1, w2 = gc.parameter(w1_np, name="w1"), gc.parameter(w2_np, name="w2")
    loss = (x.mm(w1).clamp(min=0).mm(w2) - y).pow(2).sum()
    g1, g2 = gc.grad(loss, [w1, w2])
    t_build = time.perf_counter()
    step = gc.compile([x, y], [loss], {w1: w1 - 1e-6 * g1, w2: w2 - 1e-6 * g2})
    t_compile = time.perf_counter()
    (value,) = step(x_np, y_np)
    print(0, float(value), flush=True)
    t_loss = time.perf_counter()
    print(json.dumps({"import": T_IMPORT - T0, "build": t_build - T_IMPORT,
                      "compile": t_compile - t_build, "call": t_loss - t_compile,
                      "total": t_loss - T0, "kernels": len(step.kernels),
                      "loss": float(value)}))


if __name__ == "__main__":
    main()
