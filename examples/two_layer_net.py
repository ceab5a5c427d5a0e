"""The seed program, PyTorch's "two-layer net with autograd" tutorial, written in graphc.

A fully-connected ReLU network with one hidden layer and no biases, trained to predict y
from x by minimizing squared Euclidean distance. graphc differentiates the loss
symbolically and compiles the forward pass, the backward pass and both weight updates
into one OpenCL step function; the weights stay on the device between steps.

Run ``python examples/two_layer_net.py`` to print ``t loss`` for each of 500 steps, as the
seed does. ``--device`` (or ``GRAPHC_DEVICE``) picks the OpenCL device: ``cpu``, ``gpu``,
or a substring of the device's name.
"""
from __future__ import annotations

import argparse

import numpy as np

import graphc as gc

# N is batch size; D_in is input dimension; H is hidden dimension; D_out is output dimension.
N, D_in, H, D_out = 64, 1000, 100, 10


def train(steps: int = 500, device=None, dtype: str = "float32", seed: int = 0,
          verbose: bool = True) -> tuple[list[float], np.ndarray, np.ndarray]:
    """Train the network for ``steps`` steps of gradient descent.

    Parameters
    ----------
    steps : int
        Number of training steps.
    device : pyopencl.Device or str, optional
        Passed to ``gc.compile``; None means ``GRAPHC_DEVICE`` or graphc's default.
    dtype : str
        ``"float32"`` or ``"float64"``. The initial values are float32 draws either way.
    seed : int
        Seed of ``numpy.random.default_rng``; x, y, w1, w2 are drawn in that order.
    verbose : bool
        Print ``t loss`` at each step.

    Returns
    -------
    losses : list of float
        The loss computed at each step, before that step's update.
    w1, w2 : numpy.ndarray
        The weights after the last update.
    """
    rng = np.random.default_rng(seed)
    x_np, y_np, w1_np, w2_np = (
        rng.standard_normal(shape, dtype=np.float32).astype(dtype)
        for shape in [(N, D_in), (N, D_out), (D_in, H), (H, D_out)])

    # Placeholders are fed at each call; parameters live on the device.
    x = gc.placeholder((N, D_in), dtype=dtype, name="x")
    y = gc.placeholder((N, D_out), dtype=dtype, name="y")
    w1 = gc.parameter(w1_np, name="w1")
    w2 = gc.parameter(w2_np, name="w2")

    learning_rate = 1e-6
    y_pred = x.mm(w1).clamp(min=0).mm(w2)
    loss = (y_pred - y).pow(2).sum()
    g1, g2 = gc.grad(loss, [w1, w2])

    # One compiled step: computes the loss, then applies both updates on the device.
    step = gc.compile(inputs=[x, y], outputs=[loss],
                      updates={w1: w1 - learning_rate * g1, w2: w2 - learning_rate * g2},
                      device=device)

    losses = []
    for t in range(steps):
        (loss_value,) = step(x_np, y_np)
        losses.append(float(loss_value))
        if verbose:
            print(t, float(loss_value))
    return losses, w1.value, w2.value


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=500)
    parser.add_argument("--device", default=None,
                        help="cpu, gpu, or a substring of the device name")
    parser.add_argument("--dtype", default="float32", choices=["float32", "float64"])
    args = parser.parse_args()
    train(steps=args.steps, device=args.device, dtype=args.dtype)


if __name__ == "__main__":
    main()
