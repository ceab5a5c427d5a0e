"""An Elman RNN, written the way PyTorch's tutorials write one: the inputs of each step are
slices ``x[:, t]`` of one (N, T, D) placeholder, the hidden state is carried in a Python
loop, and the loss reads the last hidden state. graphc unrolls the loop into one graph;
its backward pass is backpropagation through time.

The task: each sequence is T noisy draws around a mean; predict the mean. Trained with
plain SGD; prints the loss every few steps and the kernels one training step launches.

    python examples/elman_rnn.py [--steps 200] [--device cpu]
"""
from __future__ import annotations

import argparse

import numpy as np

import graphc as gc

N, T, D, H = 32, 12, 4, 24


def init_parameters(rng: np.random.Generator, d: int = D, h: int = H) -> dict:
    """torch.nn.RNN's and nn.Linear's default initialisation: U(-1/sqrt(h), 1/sqrt(h))."""
    bound = 1.0 / np.sqrt(h)

    def uniform(*shape):
        return rng.uniform(-bound, bound, shape).astype(np.float32)

    return {"w_ih": uniform(h, d), "w_hh": uniform(h, h), "b_ih": uniform(h),
            "b_hh": uniform(h), "w_out": uniform(d, h), "b_out": uniform(d)}


def build(params: dict, n: int = N, t: int = T, d: int = D):
    """The model's graph: returns (x, y, loss, parameters by name)."""
    p = {name: gc.parameter(value, name=name) for name, value in params.items()}
    x = gc.placeholder((n, t, d), name="x")
    y = gc.placeholder((n, d), name="y")
    h = gc.zeros((n, p["w_hh"].shape[0]))
    for step in range(t):
        h = gc.tanh(x[:, step] @ p["w_ih"].T + p["b_ih"] + h @ p["w_hh"].T + p["b_hh"])
    prediction = h @ p["w_out"].T + p["b_out"]
    loss = gc.mse_loss(prediction, y)
    return x, y, loss, p


def batch(rng: np.random.Generator, n: int = N, t: int = T, d: int = D):
    mean = rng.uniform(-1, 1, (n, d)).astype(np.float32)
    x = mean[:, None, :] + 0.3 * rng.standard_normal((n, t, d)).astype(np.float32)
    return x, mean


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--lr", type=float, default=0.5)
    parser.add_argument("--device", default=None)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    x, y, loss, p = build(init_parameters(rng))
    grads = gc.grad(loss, list(p.values()))
    step = gc.compile([x, y], loss, {w: w - args.lr * g for w, g in zip(p.values(), grads)},
                      device=args.device)
    for i in range(args.steps):
        value = step(*batch(rng))
        if i % 20 == 0 or i == args.steps - 1:
            print(f"step {i:4d}  loss {float(value):.5f}")
    print(f"\none training step: {len(step.kernels)} kernels")
    print(step.describe())


if __name__ == "__main__":
    main()
