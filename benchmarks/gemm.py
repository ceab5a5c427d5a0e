"""GEMM throughput: graphc's matmul kernel vs numpy, in GFLOP/s.

Each graphc GEMM is ``gc.compile`` of ``a @ b`` with placeholders, fed device-resident
pyopencl arrays; the kernel alone is timed with OpenCL profiling events (median of many
launches, ``Function.profile``). numpy is timed with wall clock (median). ``--seed`` also
prints the time of each kernel of the seed's training step. ``benchmarks/run.py`` is the
suite with the whole-call comparisons; this script looks at single GEMM kernels.

    python benchmarks/gemm.py            # GEMM shapes
    python benchmarks/gemm.py --seed     # + per-kernel times of the seed step
    python benchmarks/gemm.py --panels   # + each shape with B read in place, interleaved

With ``--panels`` every shape is also compiled with B read in place (no panel copy,
``codegen.matmul.PANEL_SAVES = 0`` for that compile), and the two run in alternating
rounds; each keeps its best round (other load only ever adds time).
"""
from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np
import pyopencl.array as cla

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))    # this checkout's graphc
import graphc as gc  # noqa: E402

# (label, M, K, N, transposed A)
SHAPES = [("64x1000 @ 1000x100", 64, 1000, 100, False),
          ("x.T @ g: 1000x64 @ 64x100", 1000, 64, 100, True),
          ("64x100 @ 100x10", 64, 100, 10, False),
          ("64x10 @ (100x10).T", 64, 10, 100, "B"),
          ("4096x1024 @ 1024x2048", 4096, 1024, 2048, False),
          ("1024^3", 1024, 1024, 1024, False),
          ("2048^3", 2048, 2048, 2048, False)]


def kernel_times(fn, args, repeat: int) -> float:
    """Median seconds per call of all of ``fn``'s kernels (summed), from profiling events."""
    fn(*args)
    return sum(k.seconds for k in fn.profile(*args, repeat=repeat))


def wall(f, repeat: int) -> float:
    ts = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        f()
        ts.append(time.perf_counter() - t0)
    return float(np.median(ts))


def in_place(compile_):
    """``compile_()`` with no matmul reading B from panels."""
    from graphc.codegen import matmul
    saved, matmul.PANEL_SAVES = matmul.PANEL_SAVES, 0.0
    try:
        return compile_()
    finally:
        matmul.PANEL_SAVES = saved


def bench(label, M, K, N, trans, rng, panels: bool = False) -> None:
    flop = 2.0 * M * N * K
    repeat = max(3, min(200, int(2e9 / flop)))
    if trans is True:              # A = x.T, x of shape (K, M), read in place
        a_np = rng.standard_normal((K, M), dtype=np.float32)
        b_np = rng.standard_normal((K, N), dtype=np.float32)
        a, b = gc.placeholder((K, M)), gc.placeholder((K, N))
        fn = gc.compile([a, b], a.T @ b)
        ref = lambda: a_np.T @ b_np
    elif trans == "B":             # B = w.T, w of shape (N, K)
        a_np = rng.standard_normal((M, K), dtype=np.float32)
        b_np = rng.standard_normal((N, K), dtype=np.float32)
        a, b = gc.placeholder((M, K)), gc.placeholder((N, K))
        fn = gc.compile([a, b], a @ b.T)
        ref = lambda: a_np @ b_np.T
    else:
        a_np = rng.standard_normal((M, K), dtype=np.float32)
        b_np = rng.standard_normal((K, N), dtype=np.float32)
        a, b = gc.placeholder((M, K)), gc.placeholder((K, N))
        fn = gc.compile([a, b], a @ b)
        ref = lambda: a_np @ b_np
    ad, bd = cla.to_device(fn.queue, a_np), cla.to_device(fn.queue, b_np)
    got = fn(ad, bd)                 # binds the arguments; checks the result
    want = ref()
    err = np.max(np.abs(got - want)) / max(1.0, np.max(np.abs(want)))
    if panels:
        inputs = [a, b]
        plain = in_place(lambda: gc.compile(inputs, fn.outputs[0]))
        plain(ad, bd)
        rounds = [(kernel_times(fn, (ad, bd), repeat), kernel_times(plain, (ad, bd), repeat))
                  for _ in range(5)]
        t_gc, t_plain = min(r[0] for r in rounds), min(r[1] for r in rounds)
    else:
        t_gc = kernel_times(fn, (ad, bd), repeat)
    ref()
    t_np = wall(ref, repeat)
    spec = fn.kernels[-1]
    print(f"{label:<28} graphc {flop / t_gc * 1e-9:7.1f} GFLOP/s ({t_gc * 1e3:8.3f} ms)  "
          f"numpy {flop / t_np * 1e-9:7.1f} GFLOP/s ({t_np * 1e3:8.3f} ms)  "
          f"ratio {t_gc / t_np:5.2f}x  err {err:.1e}  global={spec.global_size} "
          f"local={spec.local_size}", flush=True)
    if panels:
        width = max(g.panels for g in fn.program.schedule.groups if g.kind == "matmul")
        read = f"B in panels {width} wide" if width else "B in place"
        print(f"{'':<28} {len(fn.kernels)} kernels ({read}); B in place "
              f"{flop / t_plain * 1e-9:7.1f} GFLOP/s ({t_plain * 1e3:8.3f} ms, "
              f"{t_plain / t_gc:.2f}x this)", flush=True)


def seed_kernels(repeat: int = 200) -> None:
    N, D_in, H, D_out = 64, 1000, 100, 10
    rng = np.random.default_rng(0)
    x_np, y_np = (rng.standard_normal(s, dtype=np.float32) for s in [(N, D_in), (N, D_out)])
    w1_np, w2_np = (rng.standard_normal(s, dtype=np.float32) for s in [(D_in, H), (H, D_out)])
    x, y = gc.placeholder((N, D_in), name="x"), gc.placeholder((N, D_out), name="y")
    w1, w2 = gc.parameter(w1_np, name="w1"), gc.parameter(w2_np, name="w2")
    loss = (x.mm(w1).clamp(min=0).mm(w2) - y).pow(2).sum()
    g1, g2 = gc.grad(loss, [w1, w2])
    step = gc.compile([x, y], [loss], {w1: w1 - 1e-6 * g1, w2: w2 - 1e-6 * g2})
    xd, yd = cla.to_device(step.queue, x_np), cla.to_device(step.queue, y_np)
    step(xd, yd)
    print(step.profile(xd, yd, repeat=repeat))


def main() -> None:
    rng = np.random.default_rng(0)
    args = sys.argv[1:]
    if "--seed" in args:
        print("seed step, per kernel:")
        seed_kernels()
        args = [a for a in args if a != "--seed"]
    panels = "--panels" in args
    args = [a for a in args if a != "--panels"]
    wanted = [s for s in SHAPES if not args or any(a in s[0] for a in args)]
    for shape in wanted:
        bench(*shape, rng, panels=panels)


if __name__ == "__main__":
    main()
