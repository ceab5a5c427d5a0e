"""The seed's training step with each graphc.optim optimizer against PyTorch eager with the
same torch.optim optimizer, on the default device:

    python benchmarks/optim.py              # every optimizer: about a minute on 2 cores
    python benchmarks/optim.py --only Adam  # just Adam (and the seed's own step)

The seed's network (N=64, 1000 -> 100 -> 10, relu, squared error, float32, weights
standard normal), its optimizer's default hyperparameters and lr 1e-3; the loss read
back every step. graphc is fed device-resident pyopencl arrays; PyTorch runs its loop:
forward, backward, ``opt.step()``, ``opt.zero_grad()``. Timed as ``run.py`` times (its
``interleave``: all contenders in interleaved rounds, several calls in a row, the median
call per round, the median over rounds); "vs torch" is the median over rounds of graphc's
time over PyTorch's in the same round (below 1: graphc is faster). Each row also has the
launches of graphc's step and the kernels they run. The last row is the seed itself, its
update written by hand (w - 1e-6 * g, as examples/two_layer_net.py and run.py's seed
section), for comparison: what an optimizer's state costs on top of it.
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

OPTIMIZERS = ("Adam", "AdamW", "SGD", "RMSprop", "Adagrad", "Adadelta")
OPTIONS = {"SGD": dict(momentum=0.9)}
LR = 1e-3


def graphc_step(name: str, x, y, w1, w2):
    import graphc as gc
    from graphc import optim
    xs, ys = gc.placeholder(x.shape, name="x"), gc.placeholder(y.shape, name="y")
    w1p, w2p = gc.parameter(w1.copy(), name="w1"), gc.parameter(w2.copy(), name="w2")
    loss = (xs.mm(w1p).clamp(min=0).mm(w2p) - ys).pow(2).sum()
    opt = getattr(optim, name)([w1p, w2p], lr=LR, **OPTIONS.get(name, {}))
    return gc.compile([xs, ys], [loss], opt.updates(loss))


def torch_step(name: str, x, y, w1, w2):
    import torch
    xt, yt = torch.from_numpy(x), torch.from_numpy(y)
    w1t = torch.from_numpy(w1.copy()).requires_grad_()
    w2t = torch.from_numpy(w2.copy()).requires_grad_()
    opt = getattr(torch.optim, name)([w1t, w2t], lr=LR, **OPTIONS.get(name, {}))

    def step() -> float:
        loss = (xt.mm(w1t).clamp(min=0).mm(w2t) - yt).pow(2).sum()
        loss.backward()
        opt.step()
        opt.zero_grad()
        return loss.item()
    return step


SEED = "seed, update by hand"


def section(name: str, quick: bool) -> tuple:
    import numpy as np
    import pyopencl.array as cla
    x, y, w1, w2 = run.init(np.random.default_rng(0), 64, 1000, 100, 10, scaled=False)
    if name == SEED:
        step, reference = run.graphc_step(x, y, w1, w2), run.torch_step(x, y, w1, w2)
    else:
        step, reference = graphc_step(name, x, y, w1, w2), torch_step(name, x, y, w1, w2)
    xd, yd = cla.to_device(step.queue, x), cla.to_device(step.queue, y)
    contenders = {"graphc": lambda: float(step(xd, yd)[0]), "PyTorch": reference}
    first = {k: f() for k, f in contenders.items()}
    if abs(first["graphc"] - first["PyTorch"]) > 1e-4 * abs(first["PyTorch"]):
        raise SystemExit(f"{name}: first losses differ: {first}")
    res = run.interleave(contenders, rounds=30 if quick else 100, inner=20, skip=5,
                         warmup=20, budget_s=4 if quick else 10, min_rounds=10)
    kernels = sum(len(k.generated()) for k in step.kernels)
    return (name, run.fmt_time(res.median("graphc")), run.fmt_time(res.median("PyTorch")),
            f"{res.ratio('graphc', 'PyTorch'):.2f}", f"{res.best_ratio('graphc', 'PyTorch'):.2f}",
            f"{len(step.kernels)} launches of {kernels} kernels", len(res.times["graphc"])), step


def main() -> None:
    run.clean_blas_environment()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter,
                                     epilog="\n".join(__doc__.splitlines()[1:]))
    parser.add_argument("--only", default=",".join(OPTIMIZERS),
                        help=f"comma-separated optimizers, of {','.join(OPTIMIZERS)}")
    parser.add_argument("--quick", action="store_true", help="fewer rounds")
    args = parser.parse_args()
    wanted = [s.strip() for s in args.only.split(",") if s.strip()]
    for name in wanted:
        if name not in OPTIMIZERS:
            parser.error(f"unknown optimizer {name!r}; choose from {', '.join(OPTIMIZERS)}")
    cache = Path(tempfile.gettempdir()) / f"graphc-bench-{os.getuid()}"
    os.environ.setdefault("POCL_CACHE_DIR", str(cache / "pocl"))
    os.environ.setdefault("XDG_CACHE_HOME", str(cache / "xdg"))
    started, load_before = time.perf_counter(), os.getloadavg()
    import torch
    torch.set_num_threads(os.cpu_count() or 1)
    rows, step = [], None
    for name in wanted + [SEED]:
        row, step = section(name, args.quick)
        rows.append(row)
        print(f"[optim.py] {name}: {time.perf_counter() - started:.0f} s", file=sys.stderr,
              flush=True)

    run.print_machine(step, load_before)
    print("seed step (N=64, 1000-100-10, float32) with each optimizer; vs torch: median "
          "over rounds of graphc / PyTorch in the same round (below 1 = graphc faster)\n")
    header = ("optimizer", "graphc", "PyTorch eager", "vs torch", "best vs torch",
              "graphc step", "rounds")
    run.print_columns(header, rows)
    print(f"\n({time.perf_counter() - started:.0f} s)")


if __name__ == "__main__":
    main()
