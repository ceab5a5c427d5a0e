"""The 2-D heat equation by explicit finite differences, written as numpy users write it:
slices for the neighbours and ``gc.pad`` to put the fixed boundary back. One compiled call
advances the field one step on the device (the field is a parameter updated in place);
the step is one kernel.

    python examples/heat_equation.py [--steps 500] [--png heat.png]
"""
from __future__ import annotations

import argparse

import numpy as np

import graphc as gc

SIZE, MU = 128, 0.2          # grid points per side; mu = alpha dt / dx^2 (stable below 1/4)


def initial(size: int = SIZE) -> np.ndarray:
    """A hot square in a cold plate, the boundary held at 0."""
    u = np.zeros((size, size), np.float32)
    u[size // 4: size // 2, size // 4: size // 2] = 1.0
    return u


def build(u0: np.ndarray, mu: float = MU):
    """The field (a parameter) and the compiled step advancing it once."""
    u = gc.parameter(u0, name="u")
    c = u[1:-1, 1:-1]
    inner = c + mu * (u[2:, 1:-1] + u[:-2, 1:-1] + u[1:-1, 2:] + u[1:-1, :-2] - 4 * c)
    new = gc.pad(inner, (1, 1, 1, 1))                # the boundary stays 0
    return u, gc.compile([], [], updates={u: new})


def reference(u0: np.ndarray, steps: int, mu: float = MU) -> np.ndarray:
    u = u0.astype(np.float64)
    for _ in range(steps):
        c = u[1:-1, 1:-1]
        inner = c + mu * (u[2:, 1:-1] + u[:-2, 1:-1] + u[1:-1, 2:] + u[1:-1, :-2] - 4 * c)
        u = np.pad(inner, 1)
    return u


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--steps", type=int, default=500)
    parser.add_argument("--png", default=None, help="save the final field (matplotlib)")
    args = parser.parse_args()
    u0 = initial()
    u, step = build(u0)
    for _ in range(args.steps):
        step()
    field = u.value
    error = np.abs(field - reference(u0, args.steps)).max()
    print(f"{args.steps} steps, {len(step.kernels)} kernel per step; heat left "
          f"{field.sum():.2f} of {u0.sum():.0f}; max difference from numpy (float64) "
          f"{error:.2e}")
    if args.png:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        plt.imshow(field, cmap="inferno")
        plt.colorbar()
        plt.title(f"heat after {args.steps} steps")
        plt.savefig(args.png, dpi=100)
        print(f"wrote {args.png}")


if __name__ == "__main__":
    main()
