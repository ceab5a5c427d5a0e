"""Compile the seed's training step and look inside: the kernel table with each kernel's
math, the source of the largest kernel, a profile, and the graph as a Graphviz file.

    python examples/inspect_kernels.py [--dot graph.dot]
"""
from __future__ import annotations

import argparse

import numpy as np

import graphc as gc

N, D_in, H, D_out = 64, 1000, 100, 10


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--dot", default="two_layer_net.dot", help="where to write the DOT")
    parser.add_argument("--device", default=None)
    args = parser.parse_args()

    rng = np.random.default_rng(0)
    x_np, y_np, w1_np, w2_np = (rng.standard_normal(s, dtype=np.float32) for s in
                                [(N, D_in), (N, D_out), (D_in, H), (H, D_out)])
    x = gc.placeholder((N, D_in), name="x")
    y = gc.placeholder((N, D_out), name="y")
    w1, w2 = gc.parameter(w1_np, name="w1"), gc.parameter(w2_np, name="w2")
    # names are optional: they label the kernel table, the profile and the graph
    h = x.mm(w1).named("h")
    y_pred = h.clamp(min=0).named("h_relu").mm(w2).named("y_pred")
    loss = (y_pred - y).pow(2).sum().named("loss")
    g1, g2 = gc.grad(loss, [w1, w2])
    step = gc.compile([x, y], [loss], {w1: w1 - 1e-6 * g1, w2: w2 - 1e-6 * g2},
                      device=args.device)

    print(step.describe())
    largest = max(step.kernels, key=lambda k: k.flops)
    print(f"\nthe largest kernel, {largest.name} ({largest.flops / 1e6:.1f} MFLOP):")
    print(largest.source)
    print(step.profile(x_np, y_np, repeat=50))
    with open(args.dot, "w") as f:
        f.write(gc.to_dot(step))
    print(f"\nwrote {args.dot}; render it with: dot -Tsvg {args.dot} -o graph.svg")


if __name__ == "__main__":
    main()
