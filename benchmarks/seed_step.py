"""Quick timing of the seed's training step: graphc vs numpy, interleaved in one process."""
from __future__ import annotations

import time

import numpy as np

import graphc as gc

N, D_in, H, D_out = 64, 1000, 100, 10


def main(repeat: int = 300) -> None:
    rng = np.random.default_rng(0)
    x_np, y_np = (rng.standard_normal(s, dtype=np.float32) for s in [(N, D_in), (N, D_out)])
    w1_np, w2_np = (rng.standard_normal(s, dtype=np.float32) for s in [(D_in, H), (H, D_out)])
    x = gc.placeholder((N, D_in), name="x")
    y = gc.placeholder((N, D_out), name="y")
    w1, w2 = gc.parameter(w1_np, name="w1"), gc.parameter(w2_np, name="w2")
    loss = (x.mm(w1).clamp(min=0).mm(w2) - y).pow(2).sum()
    g1, g2 = gc.grad(loss, [w1, w2])
    step = gc.compile([x, y], [loss], {w1: w1 - 1e-6 * g1, w2: w2 - 1e-6 * g2})
    import pyopencl.array as cla
    xd, yd = cla.to_device(step.queue, x_np), cla.to_device(step.queue, y_np)
    a1, a2 = w1_np.copy(), w2_np.copy()

    def numpy_step():
        nonlocal a1, a2
        h = x_np @ a1
        hr = np.maximum(h, 0)
        yp = hr @ a2
        d = yp - y_np
        loss = np.sum(d * d)
        gy = 2 * d
        ga2 = hr.T @ gy
        gh = gy @ a2.T
        gh[h <= 0] = 0
        ga1 = x_np.T @ gh
        a1 -= 1e-6 * ga1
        a2 -= 1e-6 * ga2
        return loss

    contenders = {"numpy": numpy_step, "graphc (numpy inputs)": lambda: step(x_np, y_np),
                  "graphc (device inputs)": lambda: step(xd, yd)}
    times = {k: [] for k in contenders}
    for _ in range(10):
        for f in contenders.values():
            f()
    for _ in range(repeat):
        for name, f in contenders.items():
            t0 = time.perf_counter()
            f()
            times[name].append(time.perf_counter() - t0)
    base = np.median(times["numpy"])
    for name, ts in times.items():
        med = np.median(ts)
        print(f"{name:<26} {med * 1e3:8.3f} ms  {med / base:6.2f}x numpy")


if __name__ == "__main__":
    main()
