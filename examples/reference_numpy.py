"""The seed's two-layer ReLU network, trained in plain numpy (float64) with a hand-written
backward pass, as in PyTorch's numpy tutorial.

It starts from the same random draws as ``two_layer_net.py`` (float32 values from
``numpy.random.default_rng(seed)`` in the order x, y, w1, w2), cast to float64, so its
losses and weights are the reference that graphc's run of the seed is compared with.

Run ``python examples/reference_numpy.py`` to print ``t loss`` for each step.
"""
from __future__ import annotations

import argparse

import numpy as np

# N is batch size; D_in is input dimension; H is hidden dimension; D_out is output dimension.
N, D_in, H, D_out = 64, 1000, 100, 10
LEARNING_RATE = 1e-6


def initial_values(seed: int = 0) -> tuple[np.ndarray, ...]:
    """x, y, w1, w2 as float32 draws from ``default_rng(seed)``, in that order."""
    rng = np.random.default_rng(seed)
    shapes = [(N, D_in), (N, D_out), (D_in, H), (H, D_out)]
    return tuple(rng.standard_normal(shape, dtype=np.float32) for shape in shapes)


def train_reference(steps: int = 500, seed: int = 0,
                    verbose: bool = False) -> tuple[list[float], np.ndarray, np.ndarray]:
    """Train for ``steps`` steps of gradient descent in float64.

    Returns
    -------
    losses : list of float
        The loss computed at each step, before that step's update.
    w1, w2 : numpy.ndarray
        The weights after the last update.
    """
    x, y, w1, w2 = (a.astype(np.float64) for a in initial_values(seed))
    losses = []
    for t in range(steps):
        # Forward pass.
        h = x @ w1
        h_relu = np.maximum(h, 0)
        y_pred = h_relu @ w2
        loss = float(np.square(y_pred - y).sum())
        losses.append(loss)
        if verbose:
            print(t, loss)

        # Backward pass; the relu gradient is 0 at 0, as in PyTorch.
        grad_y_pred = 2.0 * (y_pred - y)
        grad_w2 = h_relu.T @ grad_y_pred
        grad_h = grad_y_pred @ w2.T
        grad_h[h <= 0] = 0
        grad_w1 = x.T @ grad_h

        w1 -= LEARNING_RATE * grad_w1
        w2 -= LEARNING_RATE * grad_w2
    return losses, w1, w2


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=500)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    train_reference(steps=args.steps, seed=args.seed, verbose=True)


if __name__ == "__main__":
    main()
