"""Convolutional training steps, graphc against PyTorch CPU (oneDNN) in the same process:

    python benchmarks/conv.py            # LeNet-like and ResNet block: a few minutes on 2 cores
    python benchmarks/conv.py --quick    # fewer rounds, a smaller ResNet batch
    python benchmarks/conv.py --profile  # and where graphc's time goes (Function.profile)

- "LeNet-like": N=64, 1x28x28 -> conv 3x3 (32) -> relu -> conv 3x3 (64) -> relu -> sum of
  squares; one SGD step (forward, the gradients of both weights and biases, the update).
- "ResNet basic block": N=32 (``--quick``: 8), 64 channels, 56x56: conv 3x3 -> batch norm
  -> relu -> conv 3x3 -> batch norm -> + x -> relu, sum of squares, one SGD step (batch
  statistics, as in training; running statistics not tracked).
- "dropout p=0.5, 4M float32" is in ``run.py`` (its ``dropout`` section).

float32 throughout. Both sides start from the same weights and their first losses must
agree. Timed as ``run.py`` times (``interleave``: interleaved rounds, the median call
per round, the median over rounds); "vs torch" is graphc's time over PyTorch's in the
same round (below 1: graphc is faster). The machine, the device, graphc's probed peaks
and numpy's BLAS kernels are printed with the table.
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))      # this checkout's graphc
sys.path.insert(0, str(HERE))
import run  # noqa: E402  (benchmarks/run.py: timing and machine description)


def lenet(rng):
    import numpy as np
    shapes = dict(w1=(32, 1, 3, 3), b1=(32,), w2=(64, 32, 3, 3), b2=(64,))
    weights = {k: (rng.standard_normal(s) * 0.1).astype(np.float32) for k, s in shapes.items()}
    x = rng.standard_normal((64, 1, 28, 28)).astype(np.float32)

    def graphc_forward(gc, p, x):
        return gc.relu(gc.conv2d(gc.relu(gc.conv2d(x, p["w1"], p["b1"])), p["w2"], p["b2"]))

    def torch_forward(F, p, x):
        return F.relu(F.conv2d(F.relu(F.conv2d(x, p["w1"], p["b1"])), p["w2"], p["b2"]))
    flop = 2 * 64 * (26 * 26 * 32 * 9 + 24 * 24 * 64 * 32 * 9) * 3     # forward + 2 grads
    return "LeNet-like conv step", x, weights, graphc_forward, torch_forward, flop


def resnet_block(rng, n):
    import numpy as np
    c = 64
    weights = {k: (rng.standard_normal((c, c, 3, 3)) * 0.05).astype(np.float32)
               for k in ("w1", "w2")}
    weights.update({k: np.ones(c, np.float32) for k in ("g1", "g2")})
    weights.update({k: np.zeros(c, np.float32) for k in ("b1", "b2")})
    x = rng.standard_normal((n, c, 56, 56)).astype(np.float32)

    def graphc_forward(gc, p, x):
        bn = gc.nn.batch_norm
        h = gc.relu(bn(gc.conv2d(x, p["w1"], padding=1), None, None, p["g1"], p["b1"],
                       training=True))
        h = bn(gc.conv2d(h, p["w2"], padding=1), None, None, p["g2"], p["b2"], training=True)
        return gc.relu(h + x)

    def torch_forward(F, p, x):
        h = F.relu(F.batch_norm(F.conv2d(x, p["w1"], padding=1), None, None, p["g1"],
                                p["b1"], training=True))
        h = F.batch_norm(F.conv2d(h, p["w2"], padding=1), None, None, p["g2"], p["b2"],
                         training=True)
        return F.relu(h + x)
    flop = 2 * n * 56 * 56 * c * c * 9 * 2 * 3
    return f"ResNet basic block step (N={n})", x, weights, graphc_forward, torch_forward, flop


def contenders(case, lr=1e-4):
    import pyopencl.array as cla
    import torch
    import torch.nn.functional as F

    import graphc as gc
    name, x, weights, graphc_forward, torch_forward, flop = case
    params = {k: gc.parameter(v.copy(), name=k) for k, v in weights.items()}
    xs = gc.placeholder(x.shape, name="x")
    loss = gc.sum(graphc_forward(gc, params, xs) ** 2)
    grads = gc.grad(loss, list(params.values()))
    step = gc.compile([xs], loss, updates={p: p - lr * g for p, g in
                                           zip(params.values(), grads)})
    xd = cla.to_device(step.queue, x)

    tp = {k: torch.from_numpy(v.copy()).requires_grad_() for k, v in weights.items()}
    xt = torch.from_numpy(x)

    def torch_step() -> float:
        out = (torch_forward(F, tp, xt) ** 2).sum()
        out.backward()
        with torch.no_grad():
            for p in tp.values():
                p -= lr * p.grad
                p.grad = None
        return out.item()
    first = float(step(xd)), torch_step()
    if abs(first[0] - first[1]) > 1e-3 * abs(first[1]):
        raise SystemExit(f"{name}: first losses differ: graphc {first[0]}, torch {first[1]}")
    return name, {"graphc": lambda: float(step(xd)), "PyTorch": torch_step}, step, xd, flop


def main() -> None:
    run.clean_blas_environment()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter,
                                     epilog="\n".join(__doc__.splitlines()[1:]))
    parser.add_argument("--quick", action="store_true", help="fewer rounds, ResNet N=8")
    parser.add_argument("--profile", action="store_true", help="print Function.profile")
    args = parser.parse_args()
    cache = Path(tempfile.gettempdir()) / f"graphc-bench-{os.getuid()}"
    os.environ.setdefault("POCL_CACHE_DIR", str(cache / "pocl"))
    os.environ.setdefault("XDG_CACHE_HOME", str(cache / "xdg"))
    started, load_before = time.perf_counter(), os.getloadavg()
    import numpy as np
    import torch
    torch.set_num_threads(os.cpu_count() or 1)
    rng = np.random.default_rng(0)
    rows, profiles, step = [], [], None
    for case in (lenet(rng), resnet_block(rng, 8 if args.quick else 32)):
        name, fns, step, xd, flop = contenders(case)
        res = run.interleave(fns, rounds=6 if args.quick else 12, inner=3, skip=1, warmup=1,
                             budget_s=20 if args.quick else 60, min_rounds=3)
        g, t = res.median("graphc"), res.median("PyTorch")
        rows.append((name, run.fmt_time(g), run.fmt_time(t),
                     f"{res.ratio('graphc', 'PyTorch'):.2f}", f"{flop / g / 1e9:.0f}",
                     f"{flop / t / 1e9:.0f}", f"{len(step.kernels)} launches",
                     len(res.times["graphc"])))
        if args.profile:
            profiles.append((name, step.profile(xd, repeat=3)))
        print(f"[conv.py] {name}: {time.perf_counter() - started:.0f} s", file=sys.stderr,
              flush=True)

    run.print_machine(step, load_before)
    print("one training step (forward, backward, SGD update), float32; vs torch: median over "
          "rounds of graphc / PyTorch in the same round (below 1 = graphc faster)\n")
    header = ("workload", "graphc", "PyTorch", "vs torch", "graphc GFLOP/s",
              "torch GFLOP/s", "graphc step", "rounds")
    run.print_columns(header, rows)
    for name, profile in profiles:
        print(f"\n{name}: graphc's kernels (Function.profile)\n{profile}")
    print(f"\n({time.perf_counter() - started:.0f} s)")


if __name__ == "__main__":
    main()
