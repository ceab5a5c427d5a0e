"""The seed program, data-parallel over MPI: each rank trains on its shard of the batch.

Every rank draws the same x, y, w1, w2 as ``two_layer_net.py`` (``default_rng(seed)``, in
that order), keeps its shard of the 64 rows (rank r of s takes rows ``r*64//s`` to
``(r+1)*64//s``), computes its shard's loss and gradients, sums the gradients (and the loss,
for printing) across ranks with ``gc.allreduce(..., "sum")`` and applies the same update.
The summed gradients are the full batch's, so every rank holds the same weights as a
single process training on the whole batch, up to float32 rounding (the sums are added in
another order).

Run it with::

    mpiexec -n 2 python -m mpi4py examples/two_layer_net_mpi.py

(``pip install '.[mpi]'`` installs mpi4py and MPICH's ``mpiexec``.) Rank 0 prints ``t loss``
for each step, as the seed does; at the end it prints, on stderr, the time per step and the
share of it spent in the allreduce (the host step that reads the gradients, combines them
across ranks and writes them back, including the wait for the slowest rank). ``--save DIR``
makes each rank save its final weights to ``DIR/rank{r}.npz``. Without a launcher it runs as
one process of size 1, where the allreduce is the identity.
"""
from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np

import graphc as gc
from graphc import distributed

# N is batch size; D_in is input dimension; H is hidden dimension; D_out is output dimension.
N, D_in, H, D_out = 64, 1000, 100, 10
LEARNING_RATE = 1e-6


def shard(rank: int, size: int, n: int = N) -> slice:
    """The rows of the batch that ``rank`` of ``size`` trains on."""
    return slice(rank * n // size, (rank + 1) * n // size)


def train(steps: int = 500, device=None, seed: int = 0, verbose: bool = True) -> dict:
    """Train for ``steps`` steps on this rank's shard, gradients summed across ranks.

    Returns a dict with ``losses`` (the full batch's loss before each step's update),
    ``w1``, ``w2`` (the weights after the last update), ``step_s`` (mean seconds per step,
    the first step left out), ``allreduce_s`` (mean seconds per step in the allreduce) and
    ``function`` (the compiled step).
    """
    rank, size = distributed.rank, distributed.size
    rng = np.random.default_rng(seed)
    x_np, y_np, w1_np, w2_np = (
        rng.standard_normal(shape, dtype=np.float32)
        for shape in [(N, D_in), (N, D_out), (D_in, H), (H, D_out)])
    rows = shard(rank, size)
    x_np, y_np = x_np[rows], y_np[rows]
    n = x_np.shape[0]

    x = gc.placeholder((n, D_in), name="x")
    y = gc.placeholder((n, D_out), name="y")
    w1 = gc.parameter(w1_np, name="w1")
    w2 = gc.parameter(w2_np, name="w2")

    y_pred = x.mm(w1).clamp(min=0).mm(w2)
    loss = (y_pred - y).pow(2).sum()                  # this shard's part of the loss
    g1, g2 = gc.grad(loss, [w1, w2])
    # The full batch's loss and gradients: one message for the three of them.
    g1, g2, loss = (gc.allreduce(t, "sum") for t in (g1, g2, loss))
    step = gc.compile(inputs=[x, y], outputs=[loss],
                      updates={w1: w1 - LEARNING_RATE * g1, w2: w2 - LEARNING_RATE * g2},
                      device=device)

    # Time the allreduce host step. The kernels before it are waited for first, so that
    # their time is not counted as the allreduce's; what is counted is the copy to the
    # host, the MPI message (with the wait for the slowest rank) and queueing the copy back.
    allreduce_s = [0.0]
    inner = step._allreduce

    def timed_allreduce(specs, fed):
        step.queue.finish()
        start = time.perf_counter()
        inner(specs, fed)
        allreduce_s[0] += time.perf_counter() - start

    step._allreduce = timed_allreduce

    losses = []
    start = time.perf_counter()
    for t in range(steps):
        if t == 1:      # the first step also uploads the weights: leave it out
            start, allreduce_s[0] = time.perf_counter(), 0.0
        (loss_value,) = step(x_np, y_np)
        losses.append(float(loss_value))
        if verbose and rank == 0:
            print(t, float(loss_value))
    timed = max(steps - 1, 1)
    return {"losses": losses, "w1": w1.value, "w2": w2.value,
            "step_s": (time.perf_counter() - start) / timed,
            "allreduce_s": allreduce_s[0] / timed, "function": step}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=500)
    parser.add_argument("--device", default=None,
                        help="cpu, gpu, or a substring of the device name")
    parser.add_argument("--save", metavar="DIR", default=None,
                        help="save each rank's final w1, w2 (and losses) to DIR/rank{r}.npz")
    args = parser.parse_args()

    run = train(steps=args.steps, device=args.device)
    rank, size = distributed.rank, distributed.size
    if args.save:
        os.makedirs(args.save, exist_ok=True)
        np.savez(os.path.join(args.save, f"rank{rank}.npz"), w1=run["w1"], w2=run["w2"],
                 losses=np.array(run["losses"]))

    # The slowest rank's time per step, and each rank's share in the allreduce.
    times = [(run["step_s"], run["allreduce_s"])]
    comm = distributed.comm()
    if comm is not None:
        times = comm.gather(times[0], root=0)
    if rank == 0:
        step_s = max(s for s, _ in times)
        shares = ", ".join(f"{100 * a / s:.0f}%" for s, a in times)
        print(f"# {size} rank(s), {args.steps} steps: {1e3 * step_s:.2f} ms per step; "
              f"share in the allreduce by rank: {shares}", file=sys.stderr)


if __name__ == "__main__":
    main()
