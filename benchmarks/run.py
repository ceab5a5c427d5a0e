"""graphc's benchmark suite: one table, every time also as a ratio to numpy's.

    python benchmarks/run.py             # everything, about 1.5 minutes on 2 cores
    python benchmarks/run.py --quick     # fewer rounds, no 2048^3 GEMM: about 30 s
    python benchmarks/run.py --only seed,gemm --no-torch
    python benchmarks/run.py --tune      # also graphc with matmul plans tuned on the device
    python benchmarks/run.py --only seed --launches   # also the seed with a launch per kernel

Sections (``--only`` takes their names):

seed     The seed's training step (N=64, 1000 -> 100 -> 10, relu, squared error, float32,
         lr 1e-6; forward, backward, both updates, the loss read back every step):
         graphc fed device-resident pyopencl arrays, graphc fed numpy arrays, numpy with a
         hand-written backward pass (same algorithm), PyTorch eager with autograd.
mlp      The same network, large: N=4096, 1024 -> 2048 -> 512, as GFLOP/s.
gemm     SGEMM 1024^3 and 2048^3: graphc ``a @ b`` on device inputs (the call returns C
         as a numpy array, as numpy does) vs numpy's ``a @ b``.
elementwise  Two fused elementwise bodies over 4M floats (a*x+y; exp(-x*x)*sigmoid(y)),
         graphc on device inputs returning a numpy array, vs numpy (and PyTorch).
dropout  dropout(x, 0.5) over 4M floats, its random numbers drawn in the kernel (Philox),
         vs the same traffic without them (graphc x * 2, a copy's: one read, one write),
         numpy (a mask from a Generator) and PyTorch's F.dropout; the notes give the ratios
         to graphc's copy and to PyTorch.
embedding  An embedding lookup and its gradient: vocabulary 50k, embedding dim 64, 4k
         indices (repeats among them), float32. "lookup + gradient": the call returns the
         looked-up rows and the dense gradient of the table, as numpy arrays (numpy:
         np.take and np.add.at into zeros; PyTorch: F.embedding forward and backward).
         "SGD step": the table is updated by lr * gradient where it lives (graphc: on the
         device, in the scatter kernel) and only the rows come back.
startup  Time to the first loss of the seed in a new process (benchmarks/first_loss.py),
         with empty PoCL/pyopencl caches and again with the same caches warm.

How it measures: all contenders of a section run in this one process, in interleaved
rounds. Each round runs every contender in a rotated order, several calls in a row, the
first few untimed (they pay for the previous runtime's threads), and keeps the median call.
A section stops after a time budget once it has its minimum of rounds, so a loaded machine
lengthens it only so much. A contender's time is the median over rounds; "vs numpy" is the
median over rounds of (its time / numpy's time in the same round), so load that drifts
during the run cancels. Below 1 is faster than numpy. GFLOP/s count 3 GEMMs per layer,
2*N*in*out each (the usual convention; the step really needs 5 GEMMs, no gradient of x),
the same count for every contender. PyTorch is optional (one thread per CPU); where it
sees a CUDA GPU, PyTorch CUDA runs too (graphc then runs on that GPU through OpenCL).
"""
from __future__ import annotations

import argparse
import compileall
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable, Optional

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
SECTIONS = ("seed", "mlp", "gemm", "elementwise", "dropout", "embedding", "startup")
LR = 1e-6


# {{{ timing

class Result:
    """The per-round times (seconds per call) of every contender of one section."""

    def __init__(self, times: dict[str, list[float]]):
        self.times = times

    def median(self, name: str) -> float:
        return statistics.median(self.times[name])

    def spread(self, name: str) -> float:
        """Half the interquartile range of the per-round times, relative to the median."""
        ts = sorted(self.times[name])
        if len(ts) < 4:
            return (ts[-1] - ts[0]) / 2 / statistics.median(ts)
        q = statistics.quantiles(ts, n=4)
        return (q[2] - q[0]) / 2 / statistics.median(ts)

    def best_ratio(self, name: str, base: str = "numpy") -> Optional[float]:
        """Best round over best round: what a quiet moment of the run shows."""
        if base not in self.times:
            return None
        return min(self.times[name]) / min(self.times[base])

    def ratio(self, name: str, base: str = "numpy") -> Optional[float]:
        if base not in self.times:
            return None
        return statistics.median(t / b for t, b in zip(self.times[name], self.times[base]))


# The sleep before each SGEMM contender's turn and before its profile: OpenBLAS's threads
# spin ~0.1 s after a product (see ``interleave``).
SETTLE_S = 0.3


def interleave(contenders: dict[str, Callable], rounds: int, inner: int = 1, skip: int = 0,
               warmup: int = 1, budget_s: float = float("inf"), min_rounds: int = 3,
               settle_s: float = 0.0) -> Result:
    """Run the contenders in interleaved rounds. In each round every contender makes
    ``inner`` calls in a row, of which the first ``skip`` are not timed (the first calls
    after a switch pay for the previous runtime's threads: OpenBLAS and OpenMP threads
    still spinning, PoCL's asleep) and the median of the rest is kept. With ``settle_s``
    each contender's turn starts after that long asleep: OpenBLAS's threads spin for
    about 0.1 s after numpy's last product, and on two cores they took half the CPU from
    the next SGEMM kernel (1024^3: 25 ms instead of 10.5). Stops after ``budget_s``
    seconds once ``min_rounds`` rounds are done."""
    names = list(contenders)
    for _ in range(warmup):
        for name in names:
            contenders[name]()
    times: dict[str, list[float]] = {n: [] for n in names}
    start = time.perf_counter()
    for r in range(rounds):
        k = r % len(names)
        for name in names[k:] + names[:k]:
            f = contenders[name]
            time.sleep(settle_s)
            for _ in range(skip):
                f()
            calls = []
            for _ in range(inner - skip):
                t0 = time.perf_counter()
                f()
                calls.append(time.perf_counter() - t0)
            times[name].append(statistics.median(calls))
        if r + 1 >= min_rounds and time.perf_counter() - start > budget_s:
            break
    return Result(times)

# }}}


# {{{ the two-layer network in numpy, PyTorch and graphc

def init(rng, N: int, D_in: int, H: int, D_out: int, scaled: bool):
    """x, y, w1, w2 (float32). The seed's weights are standard normal; ``scaled`` divides
    each by sqrt(fan_in) so that the large network's activations stay O(1)."""
    import numpy as np
    x, y, w1, w2 = (rng.standard_normal(s, dtype=np.float32) for s in
                    [(N, D_in), (N, D_out), (D_in, H), (H, D_out)])
    if scaled:
        w1 *= np.float32(D_in ** -0.5)
        w2 *= np.float32(H ** -0.5)
    return x, y, w1, w2


def numpy_step(x, y, w1, w2, lr: float = LR) -> Callable[[], float]:
    """One step of the hand-written numpy training loop (float32), updating copies of w1,
    w2 in place; returns the loss."""
    import numpy as np
    a1, a2 = w1.copy(), w2.copy()
    lr = np.float32(lr)

    def step() -> float:
        nonlocal a1, a2             # updated in place
        h = x @ a1
        h_relu = np.maximum(h, 0)
        y_pred = h_relu @ a2
        d = y_pred - y
        loss = float(np.sum(d * d))
        grad_y_pred = 2 * d
        grad_w2 = h_relu.T @ grad_y_pred
        grad_h = grad_y_pred @ a2.T
        grad_h[h < 0] = 0
        grad_w1 = x.T @ grad_h
        a1 -= lr * grad_w1
        a2 -= lr * grad_w2
        return loss
    return step


def torch_step(x, y, w1, w2, lr: float = LR, device: str = "cpu") -> Callable[[], float]:
    """PyTorch eager with autograd, the seed tutorial's loop; returns the loss."""
    import torch
    xt, yt = torch.from_numpy(x).to(device), torch.from_numpy(y).to(device)
    w1t = torch.from_numpy(w1.copy()).to(device).requires_grad_()
    w2t = torch.from_numpy(w2.copy()).to(device).requires_grad_()

    def step() -> float:
        y_pred = xt.mm(w1t).clamp(min=0).mm(w2t)
        loss = (y_pred - yt).pow(2).sum()
        loss.backward()
        with torch.no_grad():
            w1t.sub_(lr * w1t.grad)
            w2t.sub_(lr * w2t.grad)
            w1t.grad = None
            w2t.grad = None
        return loss.item()
    return step


def graphc_step(x, y, w1, w2, lr: float = LR, tune: bool = False, gc=None):
    """The compiled graphc step (inputs x, y; output the loss; both updates); ``tune``
    times matmul plans on the device (kept on disk) instead of the cost model's. ``gc``
    is the graphc to use (this checkout's, or the ``--against`` one)."""
    if gc is None:
        import graphc as gc
    xs = gc.placeholder(x.shape, name="x")
    ys = gc.placeholder(y.shape, name="y")
    w1p, w2p = gc.parameter(w1.copy(), name="w1"), gc.parameter(w2.copy(), name="w2")
    loss = (xs.mm(w1p).clamp(min=0).mm(w2p) - ys).pow(2).sum()
    g1, g2 = gc.grad(loss, [w1p, w2p])
    return gc.compile([xs, ys], [loss], {w1p: w1p - lr * g1, w2p: w2p - lr * g2}, tune=tune)


def two_layer(N: int, D_in: int, H: int, D_out: int, scaled: bool, use_torch: bool,
              numpy_inputs: bool, tune: bool = False, each_launch: bool = False,
              base=None):
    """The contenders (name -> one training step returning the loss), the graphc step,
    and the device inputs. Checks that every contender's first loss agrees with numpy's."""
    import numpy as np
    import pyopencl.array as cla
    x, y, w1, w2 = init(np.random.default_rng(0), N, D_in, H, D_out, scaled)
    step = graphc_step(x, y, w1, w2)
    xd, yd = cla.to_device(step.queue, x), cla.to_device(step.queue, y)
    contenders = {"graphc, device inputs": lambda: float(step(xd, yd)[0])}
    if tune:
        tuned = graphc_step(x, y, w1, w2, tune=True)
        contenders["graphc tuned, device inputs"] = lambda: float(tuned(xd, yd)[0])
    if each_launch:
        os.environ["GRAPHC_LAUNCHES"] = "each"
        try:
            apart = graphc_step(x, y, w1, w2)
        finally:
            del os.environ["GRAPHC_LAUNCHES"]
        contenders["graphc, a launch per kernel"] = lambda: float(apart(xd, yd)[0])
    if base is not None:
        old = graphc_step(x, y, w1, w2, gc=base.module)
        xo, yo = cla.to_device(old.queue, x), cla.to_device(old.queue, y)
        contenders[f"graphc {base.ref}, device inputs"] = lambda: float(old(xo, yo)[0])
    if numpy_inputs:
        contenders["graphc, numpy inputs"] = lambda: float(step(x, y)[0])
    contenders["numpy"] = numpy_step(x, y, w1, w2)
    if use_torch:
        contenders["PyTorch eager"] = torch_step(x, y, w1, w2)
        if torch_cuda():
            contenders["PyTorch CUDA eager"] = torch_step(x, y, w1, w2, device="cuda")
    first = {name: f() for name, f in contenders.items()
             if name != "graphc, numpy inputs"}
    for name, value in first.items():
        if not np.isfinite(value) or abs(value - first["numpy"]) > 1e-3 * abs(first["numpy"]):
            raise SystemExit(f"{name}: first loss {value} differs from numpy's "
                             f"{first['numpy']}")
    return contenders, step, (xd, yd)


def torch_cuda() -> bool:
    """Whether PyTorch can use an NVIDIA GPU here (a machine graphc may run on through
    OpenCL too: then PyTorch CUDA is the contender to compare with)."""
    try:
        import torch
        return bool(torch.cuda.is_available())
    except ImportError:
        return False


def gemm_flops(N: int, D_in: int, H: int, D_out: int) -> float:
    return 3 * 2.0 * N * (D_in * H + H * D_out)

# }}}


# {{{ sections

def seed_section(args, use_torch: bool, rows: list, info: dict) -> None:
    N, D_in, H, D_out = 64, 1000, 100, 10
    contenders, step, dev_args = two_layer(N, D_in, H, D_out, False, use_torch, True,
                                           args.tune, args.launches, args.base)
    info["device"] = (f"{step.device.name.strip()} | {step.device.platform.name.strip()} "
                      f"({step.device.platform.version.strip()})")
    info["seed kernels"] = len(step.kernels)
    res = interleave(contenders, rounds=40 if args.quick else 150, inner=20, skip=5,
                     warmup=20, budget_s=8 if args.quick else 20, min_rounds=10)
    prof = step.profile(*dev_args, repeat=100 if args.quick else 300)
    info["seed profile"] = prof
    kernel_sum = sum(k.seconds for k in prof)
    flop = gemm_flops(N, D_in, H, D_out)
    label = f"seed step, N={N} {D_in}-{H}-{D_out}"
    for name in contenders:
        note = ""
        if name == "graphc, device inputs":
            generated = sum(len(k.generated()) for k in step.kernels)
            note = (f"{len(step.kernels)} launches of {generated} kernels; their sum "
                    f"{kernel_sum * 1e3:.3f} ms (profiling events)")
        add_row(rows, label, name, res, name, flop, note)


def mlp_section(args, use_torch: bool, rows: list, info: dict) -> None:
    N, D_in, H, D_out = 4096, 1024, 2048, 512
    contenders, step, dev_args = two_layer(N, D_in, H, D_out, True, use_torch, False,
                                           args.tune, base=args.base)
    # Each contender made one step already (two_layer checks the first losses).
    res = interleave(contenders, rounds=3 if args.quick else 6, warmup=0,
                     budget_s=8 if args.quick else 25)
    prof = step.profile(*dev_args, repeat=3)
    info["mlp profile"] = prof
    flop = gemm_flops(N, D_in, H, D_out)
    label = f"MLP step, N={N} {D_in}-{H}-{D_out}"
    for name in contenders:
        note = ""
        if name.startswith("graphc") and not _base_row(args, name):
            top = max(prof, key=lambda k: k.seconds)
            note = (f"{len(step.kernels)} kernels; slowest {top.name} "
                    f"{top.seconds * 1e3:.0f} ms ({top.share:.0%})")
        add_row(rows, label, name, res, name, flop, note)


def gemm_section(args, use_torch: bool, rows: list, info: dict) -> None:
    import numpy as np
    import pyopencl.array as cla

    import graphc as gc
    from graphc import runtime
    sizes = [1024] if args.quick else [1024, 2048]
    for n in sizes:
        rng = np.random.default_rng(n)
        a_np, b_np = (rng.standard_normal((n, n), dtype=np.float32) for _ in range(2))
        a, b = gc.placeholder((n, n), name="a"), gc.placeholder((n, n), name="b")
        fn = gc.compile([a, b], a @ b)
        ad, bd = cla.to_device(fn.queue, a_np), cla.to_device(fn.queue, b_np)
        contenders = {"graphc, device inputs": lambda: fn(ad, bd),
                      "numpy": lambda: a_np @ b_np}
        if args.base is not None:
            g0 = args.base.module
            a0, b0 = g0.placeholder((n, n), name="a"), g0.placeholder((n, n), name="b")
            fn0 = g0.compile([a0, b0], a0 @ b0)
            ao, bo = cla.to_device(fn0.queue, a_np), cla.to_device(fn0.queue, b_np)
            contenders[f"graphc {args.base.ref}, device inputs"] = lambda: fn0(ao, bo)
        if use_torch:
            import torch
            at, bt = torch.from_numpy(a_np), torch.from_numpy(b_np)
            contenders["PyTorch"] = lambda: at @ bt
            if torch_cuda():   # C comes back to the host, as graphc's and numpy's do
                ac, bc = at.cuda(), bt.cuda()
                contenders["PyTorch CUDA"] = lambda: (ac @ bc).cpu()
        want = a_np.astype(np.float64) @ b_np.astype(np.float64)
        for name, f in contenders.items():
            got = np.asarray(f(), dtype=np.float64)
            err = np.max(np.abs(got - want)) / np.max(np.abs(want))
            if err > 1e-4:
                raise SystemExit(f"SGEMM {n}: {name} is wrong (relative error {err:.1e})")
        quick = n <= 1024
        res = interleave(contenders, rounds=(8 if args.quick else 15) if quick else 5,
                         inner=4 if quick else 2, skip=1, warmup=0,
                         budget_s=(6 if args.quick else 12) if quick else 20, min_rounds=3,
                         settle_s=SETTLE_S)
        fn(ad, bd)
        time.sleep(SETTLE_S)
        prof = fn.profile(ad, bd, repeat=8 if quick else 3)
        kernel = sum(k.seconds for k in prof)
        product = sum(k.seconds for k in prof if k.name.startswith("matmul"))
        transfer = read_back_seconds(fn, n)
        peaks = runtime.peak_rates(fn.ctx)
        peak = peaks["gflops"]
        copy_rate = 2.0 * 4 * n * n / (peaks["gbps"] * 1e9)   # a read and a write of C
        flop = 2.0 * n ** 3
        for name in contenders:
            note = ""
            if name.startswith("graphc") and not _base_row(args, name):
                share = f" ({flop / product / 1e9 / peak:.0%} of the probed peak)"
                copies = (f" + B into panels {fmt_time(kernel - product)}"
                          if kernel > product else "")
                note = (f"matmul kernel {flop / product / 1e9:.0f} GFLOP/s{share}; call "
                        f"{fmt_time(prof.call_seconds)} = matmul {fmt_time(product)}{copies}"
                        f" + read back {fmt_time(transfer)} (a copy at the probed rate: "
                        f"{fmt_time(copy_rate)}) + host "
                        f"{fmt_time(max(prof.call_seconds - kernel - transfer, 0.0))}; "
                        f"global {fn.kernels[-1].global_size} local {fn.kernels[-1].local_size}")
            add_row(rows, f"SGEMM {n}^3", name, res, name, flop, note)


def _base_row(args, name: str) -> bool:
    """Is ``name`` the row of graphc at ``--against``'s commit (whose kernels the notes,
    made from this checkout's function, do not describe)?"""
    return args.base is not None and args.base.ref in name


def read_back_seconds(fn, n: int) -> float:
    """The median time to read an n x n float32 result into a fresh numpy array, as a
    call returns it (np.empty, then a blocking copy out of the device buffer)."""
    import numpy as np
    import pyopencl as cl
    buf = cl.Buffer(fn.queue.context, cl.mem_flags.READ_WRITE, 4 * n * n)
    times = []
    for _ in range(9):
        t0 = time.perf_counter()
        cl.enqueue_copy(fn.queue, np.empty((n, n), np.float32), buf)
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def elementwise_section(args, use_torch: bool, rows: list, info: dict) -> None:
    """Fused elementwise bodies over 4M floats, device inputs; the call returns the result
    as a numpy array, as numpy's does."""
    import numpy as np
    import pyopencl.array as cla

    import graphc as gc
    n = 1 << 22
    rng = np.random.default_rng(0)
    xs, ys = (rng.standard_normal(n, dtype=np.float32) for _ in range(2))
    bodies = [("a*x+y", lambda x, y: x * 2.0 + y, lambda x, y: x * 2.0 + y),
              ("exp(-x*x)*sigmoid(y)", lambda x, y: gc.exp(-x * x) * gc.sigmoid(y),
               lambda x, y: np.exp(-x * x) / (1 + np.exp(-y)))]
    for label, build, reference in bodies:
        x, y = gc.placeholder((n,), name="x"), gc.placeholder((n,), name="y")
        fn = gc.compile([x, y], build(x, y))
        xd, yd = cla.to_device(fn.queue, xs), cla.to_device(fn.queue, ys)
        contenders = {"graphc, device inputs": lambda: fn(xd, yd),
                      "numpy": lambda: reference(xs, ys)}
        if use_torch:
            import torch
            xt, yt = torch.from_numpy(xs), torch.from_numpy(ys)
            torch_body = (lambda: xt * 2.0 + yt) if label == "a*x+y" else (
                lambda: torch.exp(-xt * xt) * torch.sigmoid(yt))
            contenders["PyTorch"] = torch_body
        want = reference(xs.astype(np.float64), ys.astype(np.float64))
        got = np.asarray(fn(xd, yd), np.float64)
        if np.max(np.abs(got - want)) > 1e-5 * max(1.0, np.max(np.abs(want))):
            raise SystemExit(f"elementwise {label}: graphc is wrong")
        res = interleave(contenders, rounds=8 if args.quick else 15, inner=4, skip=1,
                         warmup=0, budget_s=6 if args.quick else 12, min_rounds=3)
        prof = fn.profile(xd, yd, repeat=8)
        kernel = sum(k.seconds for k in prof)
        for name in contenders:
            note = ""
            if name.startswith("graphc"):
                note = (f"kernel alone {kernel * 1e3:.2f} ms, {12 * n / kernel / 1e9:.0f} GB/s; "
                        f"local {fn.kernels[0].local_size}")
            add_row(rows, f"elementwise {label}, 4M float32", name, res, name, 0.0, note)


def dropout_section(args, use_torch: bool, rows: list, info: dict) -> None:
    """dropout over 4M floats on device inputs, returning a numpy array, against a plain
    scaled copy (the least a kernel over the same bytes costs), numpy and PyTorch."""
    import numpy as np
    import pyopencl.array as cla

    import graphc as gc
    n = 1 << 22
    xs = np.random.default_rng(0).standard_normal(n, dtype=np.float32)
    x = gc.placeholder((n,), name="x")
    drop, copy = gc.compile([x], gc.dropout(x, 0.5)), gc.compile([x], x * 2.0)
    xd = cla.to_device(drop.queue, xs)
    rng = np.random.default_rng(1)
    contenders = {"graphc dropout, device inputs": lambda: drop(xd),
                  "graphc x * 2 (copy)": lambda: copy(xd),
                  "numpy": lambda: np.where(rng.random(n, np.float32) >= 0.5, xs * 2, 0)}
    if use_torch:
        import torch
        xt = torch.from_numpy(xs)
        contenders["PyTorch"] = lambda: torch.nn.functional.dropout(xt, 0.5)
    got = drop(xd)
    kept = got != 0
    if not np.allclose(got[kept], xs[kept] * 2) or abs(kept.mean() - 0.5) > 0.01:
        raise SystemExit("dropout: graphc is wrong")
    res = interleave(contenders, rounds=8 if args.quick else 15, inner=4, skip=1,
                     warmup=0, budget_s=6 if args.quick else 12, min_rounds=3)
    for name in contenders:
        note = ""
        if name.startswith("graphc dropout"):
            note = f"{res.ratio(name, 'graphc x * 2 (copy)'):.2f}x the copy"
            if use_torch:
                note += f", {res.ratio(name, 'PyTorch'):.2f}x PyTorch"
        add_row(rows, "dropout p=0.5, 4M float32", name, res, name, 0.0, note)


def embedding_section(args, use_torch: bool, rows: list, info: dict) -> None:
    """F.embedding forward and backward (V 50k, D 64, N 4k, float32), graphc fed numpy
    arrays (its fed indices are range-checked on the host at every call)."""
    import numpy as np

    import graphc as gc
    V, D, N, lr = 50_000, 64, 4096, 0.1
    rng = np.random.default_rng(0)
    table = rng.standard_normal((V, D), dtype=np.float32)
    index = rng.integers(0, V // 8, N)          # a skewed vocabulary: many repeats
    g_out = rng.standard_normal((N, D), dtype=np.float32)
    w = gc.parameter(table, name="w")
    i = gc.placeholder((N,), "int64", name="i")
    g = gc.placeholder((N, D), name="g")
    rows_out = gc.embedding(i, w)
    grad = gc.grad(gc.sum(rows_out * g), w)
    both = gc.compile([i, g], [rows_out, grad])
    sgd = gc.compile([i, g], rows_out, updates={w: w - lr * grad})
    reference = np.zeros_like(table)
    np.add.at(reference, index, g_out)
    got = both(index, g_out)
    if not (np.array_equal(got[0], table[index]) and np.allclose(got[1], reference, atol=1e-4)):
        raise SystemExit("embedding: graphc is wrong")

    def numpy_both():
        out = np.take(table, index, axis=0)
        dense = np.zeros_like(table)
        np.add.at(dense, index, g_out)
        return out, dense
    numpy_table = table.copy()

    def numpy_sgd():
        out = np.take(numpy_table, index, axis=0)
        dense = np.zeros_like(numpy_table)
        np.add.at(dense, index, g_out)
        numpy_table[...] -= lr * dense
        return out
    cases = {"lookup + gradient": {"graphc": lambda: both(index, g_out),
                                   "numpy": numpy_both},
             "SGD step": {"graphc": lambda: sgd(index, g_out), "numpy": numpy_sgd}}
    if use_torch:
        import torch
        import torch.nn.functional as F
        tw = torch.from_numpy(table.copy()).requires_grad_()
        ti, tg = torch.from_numpy(index), torch.from_numpy(g_out)

        def torch_both():
            tw.grad = None
            out = F.embedding(ti, tw)
            out.backward(tg)
            return out, tw.grad

        def torch_sgd():
            out = torch_both()[0]
            with torch.no_grad():
                tw.sub_(lr * tw.grad)
            return out
        cases["lookup + gradient"]["PyTorch"] = torch_both
        cases["SGD step"]["PyTorch"] = torch_sgd
    for label, contenders in cases.items():
        res = interleave(contenders, rounds=8 if args.quick else 15, inner=4, skip=1,
                         budget_s=6 if args.quick else 12, min_rounds=3)
        fn = both if label.startswith("lookup") else sgd
        prof = fn.profile(index, g_out, repeat=8)
        note = "kernels " + ", ".join(f"{k.name.split('_')[0]} {k.seconds * 1e3:.2f}"
                                      for k in prof) + " ms"
        if "PyTorch" in contenders:
            note = (f"vs PyTorch {res.ratio('graphc', 'PyTorch'):.2f} (best "
                    f"{res.best_ratio('graphc', 'PyTorch'):.2f}); {note}")
        for name in contenders:
            add_row(rows, f"embedding {label}, V 50k D 64 N 4k", name, res, name, 0.0,
                    note if name == "graphc" else "")


def startup_section(args, rows: list, info: dict) -> None:
    """Runs benchmarks/first_loss.py in new processes: cold, then warm, per repeat."""
    repeats = 1 if args.quick else 2
    got: dict[str, list] = {"cold": [], "warm": []}
    # pip compiles an installed graphc's bytecode; a checkout under PYTHONDONTWRITEBYTECODE
    # would compile its ~60 modules at every import (~0.1 s): measure the installed case
    compileall.compile_dir(str(ROOT / "graphc"), quiet=1)
    for _ in range(repeats):
        with tempfile.TemporaryDirectory(prefix="graphc-bench-startup-") as tmp:
            env = dict(os.environ, POCL_CACHE_DIR=os.path.join(tmp, "pocl"),
                       XDG_CACHE_HOME=os.path.join(tmp, "xdg"),
                       CUDA_CACHE_PATH=os.path.join(tmp, "nv"))   # NVIDIA's kernel cache
            env["PYTHONPATH"] = os.pathsep.join(
                [str(ROOT)] + [p for p in [os.environ.get("PYTHONPATH")] if p])
            env.pop("GRAPHC_DEBUG", None)
            os.makedirs(env["POCL_CACHE_DIR"])
            os.makedirs(env["XDG_CACHE_HOME"])
            for kind in ("cold", "warm"):
                t0 = time.perf_counter()
                proc = subprocess.run([sys.executable, str(HERE / "first_loss.py")], env=env,
                                      capture_output=True, text=True, timeout=600)
                wall = time.perf_counter() - t0
                if proc.returncode != 0:
                    raise SystemExit(f"first_loss.py failed ({kind} cache):\n{proc.stderr}")
                stages = json.loads(proc.stdout.strip().splitlines()[-1])
                stages["process"] = wall
                got[kind].append(stages)
    for kind in ("cold", "warm"):
        runs = got[kind]
        med = {key: statistics.median(r[key] for r in runs)
               for key in ("process", "import", "build", "compile", "call", "total")}
        n = f" (median of {len(runs)})" if len(runs) > 1 else ""
        label = f"first loss, new process, {kind} cache"
        rows.append((label, "whole process", fmt_time(med["process"]),
                     "", "", "", "", n.strip(" ()")))
        rows.append((label, "import graphc -> first loss", fmt_time(med["total"]),
                     "", "", "", "",
                     f"import {med['import']:.2f} + build/grad {med['build']:.2f} + compile "
                     f"{med['compile']:.2f} + call {med['call']:.2f} s"))

# }}}


# {{{ table

def progress(text: str) -> None:
    print(f"[run.py] {text}", file=sys.stderr, flush=True)


def fmt_time(s: float) -> str:
    if s >= 1:
        return f"{s:.2f} s"
    if s >= 1e-3:
        return f"{s * 1e3:.3g} ms" if s < 0.1 else f"{s * 1e3:.0f} ms"
    return f"{s * 1e6:.0f} us"


def add_row(rows: list, label: str, name: str, res: Result, key: str, flop: float,
            note: str) -> None:
    t = res.median(key)
    ratio, best = res.ratio(key), res.best_ratio(key)
    spread = res.spread(key)
    rows.append((label, name, fmt_time(t), f"±{spread:.0%}" if spread < 1 else "> ±100%",
                 f"{flop / t / 1e9:.1f}" if flop else "",
                 f"{ratio:.2f}" if ratio is not None else "",
                 f"{best:.2f}" if best is not None else "",
                 note + (f"{'; ' if note else ''}{len(res.times[key])} rounds"
                         if name == "numpy" else "")))


HEADER = ("benchmark", "contender", "median", "spread", "GFLOP/s", "vs numpy", "best vs numpy",
          "notes")


def print_table(rows: list, markdown: bool) -> None:
    if markdown:
        print("| " + " | ".join(HEADER) + " |")
        print("|" + "|".join("---" for _ in HEADER) + "|")
        last = None
        for r in rows:
            label = r[0] if r[0] != last else ""
            last = r[0]
            print("| " + " | ".join((label,) + tuple(r[1:])) + " |")
        return
    widths = [max(len(str(r[c])) for r in rows + [HEADER]) for c in range(len(HEADER))]
    print("  ".join(h.ljust(w) for h, w in zip(HEADER, widths)).rstrip())
    last = None
    for r in rows:
        cells = list(r)
        if r[0] == last:
            cells[0] = ""
        elif last is not None:
            print()
        last = r[0]
        print("  ".join(str(c).ljust(w) for c, w in zip(cells, widths)).rstrip())

# }}}


def print_machine(step, load_before: tuple) -> None:
    """The lines every side-by-side table is printed under: ``step``'s device, graphc's
    target and probed peaks, numpy's BLAS kernels, PyTorch's threads, the load."""
    import numpy as np
    import torch

    from graphc import runtime
    d = step.device
    ctx = runtime.device_context()
    peaks, target = runtime.peak_rates(ctx), ctx.target
    core = openblas_core(np)
    onednn = "oneDNN" if torch.backends.mkldnn.is_available() else "no oneDNN"
    print(f"device: {d.name.strip()} | {d.platform.name.strip()} ({d.platform.version.strip()})")
    print(f"graphc target: {type(target).__name__}, {target.compute_units} compute units; "
          f"probed peaks {peaks['gflops']:.0f} GFLOP/s (float32 FMA), {peaks['gbps']:.1f} "
          "GB/s (copy)")
    print(f"numpy {np.__version__}{f' ({core} kernels)' if core else ''}; PyTorch "
          f"{torch.__version__} ({onednn}), {torch.get_num_threads()} threads; "
          f"{os.cpu_count()} CPUs, load average {load_before[0]:.1f} at start, "
          f"{os.getloadavg()[0]:.1f} at end")


def print_columns(header: tuple, rows: list) -> None:
    """``rows`` under ``header``, each column as wide as its widest cell."""
    widths = [max(len(str(r[c])) for r in rows + [header]) for c in range(len(header))]
    for r in [header] + rows:
        print("  ".join(str(c).ljust(w) for c, w in zip(r, widths)).rstrip())


def openblas_core(np) -> str:
    """The kernel set numpy's OpenBLAS chose at run time ("Haswell", "SkylakeX"), or ""."""
    import ctypes
    import glob
    for lib in glob.glob(os.path.join(os.path.dirname(np.__file__), os.pardir, "numpy.libs",
                                      "*openblas*")):
        try:
            dll = ctypes.CDLL(lib)
        except OSError:
            continue
        for name in ("scipy_openblas_get_corename64_", "scipy_openblas_get_corename",
                     "openblas_get_corename64_", "openblas_get_corename"):
            f = getattr(dll, name, None)
            if f is not None:
                f.restype = ctypes.c_char_p
                return f().decode()
    return ""


class Base:
    """graphc at another commit, imported as the package ``graphc_base``."""

    def __init__(self, ref: str):
        import importlib.util
        self.ref = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", ref],
                                  check=True, capture_output=True, text=True).stdout.strip()
        self.path = Path(tempfile.mkdtemp(prefix="graphc-base-")) / self.ref
        subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", "--quiet",
                        str(self.path), self.ref], check=True)
        init = self.path / "graphc" / "__init__.py"
        spec = importlib.util.spec_from_file_location(
            "graphc_base", init, submodule_search_locations=[str(init.parent)])
        self.module = importlib.util.module_from_spec(spec)
        sys.modules["graphc_base"] = self.module
        spec.loader.exec_module(self.module)

    def remove(self) -> None:
        subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force",
                        str(self.path)], check=False)


def load_base(ref: str) -> Base:
    import atexit
    base = Base(ref)
    atexit.register(base.remove)
    return base


def clean_blas_environment() -> None:
    """Run numpy with OpenBLAS's own kernel choice: an environment that forces a core type
    or a cache size (OPENBLAS_CORETYPE, OPENBLAS_L2_SIZE) makes numpy slower than it is.
    OpenBLAS reads them when it loads, so the process starts again without them (this
    process only: tests and CI keep the environment they are given)."""
    forced = [k for k in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE") if k in os.environ]
    if forced:
        env = {k: v for k, v in os.environ.items() if k not in forced}
        env["GRAPHC_BENCH_UNSET"] = ",".join(f"{k}={os.environ[k]}" for k in forced)
        os.execve(sys.executable, [sys.executable] + sys.argv, env)


def main() -> None:
    clean_blas_environment()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter,
                                     epilog="\n".join(__doc__.splitlines()[1:]))
    parser.add_argument("--tune", action="store_true",
                        help="add graphc with matmul plans tuned on the device (graphc.tune; "
                        "the first run tunes and keeps them on disk)")
    parser.add_argument("--launches", action="store_true",
                        help="seed: add graphc launching every kernel on its own "
                        "(GRAPHC_LAUNCHES=each), to measure what shared launches save")
    parser.add_argument("--quick", action="store_true",
                        help="fewer rounds, no 2048^3 SGEMM, one startup repeat")
    parser.add_argument("--only", default=",".join(SECTIONS),
                        help=f"comma-separated sections to run, of {','.join(SECTIONS)}")
    parser.add_argument("--no-torch", action="store_true", help="leave PyTorch out")
    parser.add_argument("--markdown", action="store_true", help="print a Markdown table")
    parser.add_argument("--against", metavar="REF", default=None,
                        help="seed, mlp, gemm: add graphc at git commit REF as a contender, "
                        "interleaved in the same process (checked out in a temporary "
                        "worktree), to compare a change with what it changes")
    parser.add_argument("--no-profile", action="store_true",
                        help="do not print the per-kernel profile of the graphc steps")
    args = parser.parse_args()
    wanted = [s.strip() for s in args.only.split(",") if s.strip()]
    for s in wanted:
        if s not in SECTIONS:
            parser.error(f"unknown section {s!r}; choose from {', '.join(SECTIONS)}")

    # Our own kernel caches unless the caller chose them (PoCL reads these when pyopencl
    # first loads it, so before graphc is imported): a cache shared with concurrent
    # processes can make builds fail.
    cache = Path(tempfile.gettempdir()) / f"graphc-bench-{os.getuid()}"
    os.environ.setdefault("POCL_CACHE_DIR", str(cache / "pocl"))
    os.environ.setdefault("XDG_CACHE_HOME", str(cache / "xdg"))

    sys.path.insert(0, str(ROOT))      # measure this checkout's graphc, as first_loss.py does
    args.base = load_base(args.against) if args.against else None
    started = time.perf_counter()
    load_before = os.getloadavg()
    rows: list = []
    info: dict = {}
    # The startup runs go first, while this process has not loaded PoCL yet.
    startup_rows: list = []
    if "startup" in wanted:
        startup_section(args, startup_rows, info)
        progress(f"startup: {time.perf_counter() - started:.0f} s")

    use_torch = False
    if not args.no_torch and any(s in wanted for s in ("seed", "mlp", "gemm", "elementwise",
                                                       "dropout", "embedding")):
        try:
            import torch
            torch.set_num_threads(os.cpu_count() or 1)
            use_torch = True
            info["torch"] = f"PyTorch {torch.__version__}, {torch.get_num_threads()} threads"
        except ImportError:
            info["torch"] = "PyTorch not installed: left out"
    import numpy as np
    for name, section in (("seed", seed_section), ("mlp", mlp_section),
                          ("gemm", gemm_section), ("elementwise", elementwise_section),
                          ("dropout", dropout_section),
                          ("embedding", embedding_section)):
        if name in wanted:
            t0 = time.perf_counter()
            section(args, use_torch, rows, info)
            progress(f"{name}: {time.perf_counter() - t0:.0f} s")
    rows += startup_rows

    if "device" not in info and any(s in wanted for s in ("mlp", "gemm", "elementwise",
                                                          "dropout", "embedding")):
        from graphc import runtime
        d = runtime.select_device()
        info["device"] = (f"{d.name.strip()} | {d.platform.name.strip()} "
                          f"({d.platform.version.strip()})")
    print(f"device: {info.get('device', '(not used in this process)')}")
    if "device" in info:
        from graphc import runtime
        ctx = runtime.device_context()
        peaks = runtime.peak_rates(ctx)
        t = ctx.target
        print(f"graphc target: {type(t).__name__}, {t.compute_units} compute units, "
              f"vector lanes float32 {t.lanes('float32')} / float64 {t.lanes('float64')} "
              f"(compiled widths probed: {dict(t.compiled) if t.compiled else 'none'}); "
              f"probed peaks {peaks['gflops']:.0f} GFLOP/s (float32 FMA), "
              f"{peaks['gbps']:.1f} GB/s (copy)")
    if args.base is not None:
        print(f"also graphc at {args.base.ref} (--against), in this process")
    if "seed kernels" in info:
        print(f"seed step: {info['seed kernels']} kernels")
    blas = ""
    try:
        cfg = np.show_config(mode="dicts")["Build Dependencies"]["blas"]
        blas = f", BLAS {cfg.get('name')} {cfg.get('version')}"
    except Exception:  # noqa: BLE001 - older numpy: no dict mode
        pass
    core = openblas_core(np)
    if core:
        forced = os.environ.get("OPENBLAS_CORETYPE")
        blas += f" ({core} kernels{', OPENBLAS_CORETYPE=' + forced if forced else ''})"
    if os.environ.get("GRAPHC_BENCH_UNSET"):
        blas += f"; unset for this run: {os.environ['GRAPHC_BENCH_UNSET']}"
    print(f"numpy {np.__version__}{blas}; {info.get('torch', 'PyTorch not run')}; "
          f"{os.cpu_count()} CPUs, load average {load_before[0]:.1f} at start, "
          f"{os.getloadavg()[0]:.1f} at end")
    print("median: per call; spread: half the interquartile range over rounds; vs numpy: "
          "median over rounds of time / numpy's time in the same round (below 1 = faster); "
          "best vs numpy: best round / numpy's best round")
    if load_before[0] > 1.0:
        print(f"NOTE: the machine was busy (load average {load_before[0]:.1f} on "
              f"{os.cpu_count()} CPUs). On a CPU device, other processes can slow numpy's "
              "and PyTorch's statically split BLAS threads more than PoCL's dynamically "
              "scheduled work-groups: then 'vs numpy' flatters graphc, and 'best vs numpy' "
              "is closer to a quiet machine.")
    print()
    print_table(rows, args.markdown)
    if not args.no_profile:
        for key, title in (("seed profile", "seed step"), ("mlp profile", "MLP step")):
            if key in info:
                print(f"\ngraphc {title}, per kernel (OpenCL profiling events, medians):")
                print(info[key])
    print(f"\n({time.perf_counter() - started:.0f} s)")


if __name__ == "__main__":
    main()
