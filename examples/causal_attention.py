"""A causal self-attention block, as minGPT and nanoGPT write it: one projection to
q, k, v split apart with ``split``, scores masked with ``masked_fill`` where a key comes
after its query (the mask from ``arange`` comparisons), softmax, the weighted values, heads
joined and projected back. Prints the kernels one forward and backward pass launches.

    python examples/causal_attention.py [--device cpu]
"""
from __future__ import annotations

import argparse
import math

import numpy as np

import graphc as gc

B, T, C, HEADS = 4, 16, 32, 4


def init_parameters(rng: np.random.Generator, c: int = C) -> dict:
    """nn.Linear's default initialisation for the two projections (with biases)."""
    bound = 1.0 / math.sqrt(c)

    def uniform(*shape):
        return rng.uniform(-bound, bound, shape).astype(np.float32)

    return {"w_attn": uniform(3 * c, c), "b_attn": uniform(3 * c),
            "w_proj": uniform(c, c), "b_proj": uniform(c)}


def attention(x: gc.Tensor, p: dict, heads: int = HEADS) -> gc.Tensor:
    """Causal self-attention of x (B, T, C) with parameters ``p``: (B, T, C)."""
    b, t, c = x.shape
    q, k, v = (x @ p["w_attn"].T + p["b_attn"]).split(c, dim=2)
    # (B, T, C) -> (B, heads, T, C / heads)
    q, k, v = (z.reshape(b, t, heads, c // heads).transpose(1, 2) for z in (q, k, v))
    scores = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(c // heads))
    position = gc.arange(t)
    future = position[None, :] > position[:, None]          # key after query: hidden
    scores = scores.masked_fill(future, float("-inf"))
    y = gc.softmax(scores, dim=-1) @ v
    y = y.transpose(1, 2).reshape(b, t, c)
    return y @ p["w_proj"].T + p["b_proj"]


def build(params: dict, b: int = B, t: int = T, c: int = C):
    """The block and a loss: returns (x, target, loss, parameters by name)."""
    p = {name: gc.parameter(value, name=name) for name, value in params.items()}
    x = gc.placeholder((b, t, c), name="x")
    target = gc.placeholder((b, t, c), name="target")
    loss = gc.mse_loss(attention(x, p), target)
    return x, target, loss, p


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--device", default=None)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    x, target, loss, p = build(init_parameters(rng))
    grads = gc.grad(loss, list(p.values()))
    fn = gc.compile([x, target], [loss] + grads, device=args.device)
    xs = rng.standard_normal((B, T, C)).astype(np.float32)
    ys = rng.standard_normal((B, T, C)).astype(np.float32)
    print(f"loss {float(fn(xs, ys)[0]):.5f}; forward and backward: {len(fn.kernels)} kernels")
    print(fn.describe())


if __name__ == "__main__":
    main()
