"""Where the wall time of one call of the seed's step goes: graphc's Python, pyopencl,
PoCL's launches and wait, and the kernels themselves.

Every contender runs in interleaved rounds in this one process (medians and best rounds;
the machine is shared, so compare ratios within a run):

- ``graphc`` the compiled step fed device arrays, and fed numpy arrays;
- ``bare`` the same two launches with their arguments already set, then one blocking read
  of the loss, in a loop of plain pyopencl calls: the floor of any call through pyopencl;
- ``empty launch`` a kernel that writes one float, launched once (or twice) before a
  blocking read: PoCL's latency per launch and per wait, with no work in the kernels;
- ``numpy`` the hand-written numpy step.

Then the kernels' own times (profiling events) and the CPU time of the calling thread
(``time.thread_time``; the wall time minus it is time asleep waiting for PoCL's threads).

    python benchmarks/seed_call.py [--rounds 40]
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import numpy as np  # noqa: E402

import run as suite  # noqa: E402

N, D_IN, H, D_OUT = 64, 1000, 100, 10


def bare_loop(step, device_args) -> dict:
    """The step's launches as plain pyopencl calls, bound to the buffers of its call with
    ``device_args`` (graphc's own kernel objects), and empty launches on its queue."""
    import pyopencl as cl

    from graphc.lower import Launch
    step(*device_args)                  # the parameters' buffers on the device
    variant, queue = step.current, step.queue
    fed = {id(p): a.data for p, a in zip(variant.inputs, device_args)}
    kernels = [k for k in variant.kernels(fed) if k is not None]
    specs = [s.kernel for s in variant.program.steps if isinstance(s, Launch)]
    loss = variant.reads[0][2]
    host = np.empty((), np.float32)
    empty = cl.Kernel(cl.Program(step.ctx.context, "__kernel void one(__global float* a) "
                                 "{ a[0] = 1.0f; }").build(), "one")
    empty.set_args(loss)

    def bare() -> None:
        for kernel, spec in zip(kernels, specs):
            cl.enqueue_nd_range_kernel(queue, kernel, spec.global_size, spec.local_size)
        cl.enqueue_copy(queue, host, loss, is_blocking=True)

    def launches(count: int):
        def run() -> None:
            for _ in range(count):
                cl.enqueue_nd_range_kernel(queue, empty, (1,), (1,))
            cl.enqueue_copy(queue, host, loss, is_blocking=True)
        return run

    return {"bare pyopencl, same 2 launches": bare,
            "empty launch + blocking read": launches(1),
            "2 empty launches + blocking read": launches(2)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=40)
    args = parser.parse_args()
    import pyopencl.array as cla
    x, y, w1, w2 = suite.init(np.random.default_rng(0), N, D_IN, H, D_OUT, False)
    step = suite.graphc_step(x, y, w1, w2)
    xd, yd = cla.to_device(step.queue, x), cla.to_device(step.queue, y)
    contenders = {"graphc, device inputs": lambda: step(xd, yd),
                  "graphc, numpy inputs": lambda: step(x, y)}
    contenders.update(bare_loop(step, (xd, yd)))
    contenders["numpy"] = suite.numpy_step(x, y, w1, w2)
    walls = suite.interleave(contenders, rounds=args.rounds, inner=20, skip=5, warmup=20)
    cpu: dict[str, list[float]] = {n: [] for n in contenders if n != "numpy"}
    for _ in range(5):
        for name in cpu:
            start = time.thread_time()
            for _ in range(100):
                contenders[name]()
            cpu[name].append((time.thread_time() - start) / 100)
    print(f"{'contender':34s} {'median':>8s} {'best':>8s} {'vs bare':>8s} {'vs numpy':>9s} "
          f"{'own CPU':>8s}")
    for name in contenders:
        own = f"{statistics.median(cpu[name]) * 1e6:6.1f}us" if name in cpu else ""
        print(f"{name:34s} {walls.median(name) * 1e6:6.1f}us {min(walls.times[name]) * 1e6:6.1f}us "
              f"{walls.ratio(name, 'bare pyopencl, same 2 launches'):8.2f} "
              f"{walls.ratio(name):9.2f} {own:>8s}")
    profile = step.profile(xd, yd, repeat=200)
    print("\nkernels (profiling events, medians):")
    for k in profile:
        print(f"  {k.name:24s} {k.seconds * 1e6:6.1f} us  {k.gflops:6.1f} GFLOP/s")
    print(f"  {'sum':24s} {sum(k.seconds for k in profile) * 1e6:6.1f} us")


if __name__ == "__main__":
    main()
