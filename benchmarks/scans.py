"""argmax and cumsum against numpy and torch, on the default device:

    python benchmarks/scans.py

- accuracy: ``(argmax(x, 1) == labels).float().mean()`` of (4096, 1000) logits, with
  graphc's argmax (a reduction of (value, index) pairs) and with the first-maximum mask
  (``maxmask(x) * index`` summed), its kernel count each;
- argmax of 4M elements, of 4096 rows of 1000, over the 1000 rows of (1000, 4096);
- cumsum along each axis of (4096, 1024) and of 4M elements.

Inputs are parameters (on the device) and outputs are reduced to a number, so neither an
upload nor a large download is timed; the best of 5 runs of 10 calls, in milliseconds.
"""
from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))    # this checkout's graphc
import graphc as gc  # noqa: E402
from graphc.ops.reduce import maxmask  # noqa: E402

try:
    import torch
except ImportError:    # torch is an optional comparison
    torch = None


def best_ms(fn, runs: int = 5, calls: int = 10) -> float:
    fn()
    best = float("inf")
    for _ in range(runs):
        start = time.perf_counter()
        for _ in range(calls):
            fn()
        best = min(best, (time.perf_counter() - start) / calls * 1e3)
    return best


def row(name: str, graphc_ms: float, kernels: int, numpy_ms: float, torch_ms) -> None:
    torch_text = f"{torch_ms:8.2f}" if torch_ms is not None else "       -"
    print(f"{name:34s} {graphc_ms:8.2f} ({kernels} kernels) {numpy_ms:8.2f} {torch_text}")


def main() -> None:
    rng = np.random.default_rng(0)
    if torch is not None:
        torch.set_num_threads(2)
    print(f"{'':34s} {'graphc':>8s}             {'numpy':>8s} {'torch':>8s}")
    logits = rng.standard_normal((4096, 1000)).astype(np.float32)
    labels = rng.integers(0, 1000, 4096)
    x = gc.parameter(logits, name="logits")
    y = gc.parameter(labels, name="labels", dtype="int64")
    index = gc.constant(np.arange(1000, dtype=np.float32))
    by_mask = gc.sum(maxmask(x, (1,)) * index, axis=1).astype("int64")
    t = torch.from_numpy(logits) if torch is not None else None
    tl = torch.from_numpy(labels) if torch is not None else None
    for name, found in [("accuracy, argmax", gc.argmax(x, 1)), ("accuracy, maxmask", by_mask)]:
        fn = gc.compile([], (found == y).float().mean())
        row(name, best_ms(fn), len(fn.kernels),
            best_ms(lambda: np.mean(np.argmax(logits, 1) == labels)),
            best_ms(lambda: (t.argmax(1) == tl).float().mean()) if t is not None else None)
    for shape, dim in [((1 << 22,), None), ((4096, 1000), 1), ((1000, 4096), 0)]:
        values = rng.standard_normal(shape).astype(np.float32)
        p = gc.parameter(values)
        fn = gc.compile([], gc.argmax(p, dim).sum())
        tv = torch.from_numpy(values) if torch is not None else None
        row(f"argmax {shape} dim={dim}", best_ms(fn), len(fn.kernels),
            best_ms(lambda: np.argmax(values, dim)),
            best_ms(lambda: tv.argmax(dim)) if tv is not None else None)
    for shape, dim in [((4096, 1024), 1), ((4096, 1024), 0), ((1 << 22,), 0)]:
        values = rng.standard_normal(shape).astype(np.float32)
        p = gc.parameter(values)
        fn = gc.compile([], gc.cumsum(p, dim).sum())
        tv = torch.from_numpy(values) if torch is not None else None
        row(f"cumsum {shape} dim={dim} (+ sum)", best_ms(fn), len(fn.kernels),
            best_ms(lambda: np.cumsum(values, dim)),
            best_ms(lambda: tv.cumsum(dim)) if tv is not None else None)


if __name__ == "__main__":
    main()
