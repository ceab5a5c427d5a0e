"""Karpathy's min-char-rnn in graphc: a character-level vanilla RNN trained with Adagrad
on a text string, the hidden state carried from one chunk of 25 characters to the next.

The inputs are int64 character indices; each step's input is a row of the input weights
(``embedding``, the product of a one-hot vector with them); the loss is the summed
cross-entropy of the next characters. The gradients are clipped to [-5, 5] as in the
original. Prints the loss (smoothed, as the original) and a sample.

    python examples/char_rnn.py [--iterations 2000]
"""
from __future__ import annotations

import argparse

import numpy as np

import graphc as gc
from graphc import optim

TEXT = ("the quick brown fox jumps over the lazy dog. a graph compiler fuses the forward "
        "and the backward pass into few kernels, and the parameters stay on the device. ")
HIDDEN, SEQ = 64, 25


def init_parameters(vocab: int, hidden: int = HIDDEN, seed: int = 0) -> dict:
    """min-char-rnn's initialisation: weights N(0, 0.01^2), biases 0."""
    rng = np.random.default_rng(seed)
    return {"wxh": (rng.standard_normal((hidden, vocab)) * 0.01).astype(np.float32),
            "whh": (rng.standard_normal((hidden, hidden)) * 0.01).astype(np.float32),
            "why": (rng.standard_normal((vocab, hidden)) * 0.01).astype(np.float32),
            "bh": np.zeros(hidden, np.float32), "by": np.zeros(vocab, np.float32)}


def build(params: dict, seq: int = SEQ, lr: float = 0.1):
    """The training step: (inputs, targets, h) -> (loss, last hidden state), Adagrad's
    update of the clipped gradients applied on the device."""
    p = {name: gc.parameter(value, name=name) for name, value in params.items()}
    hidden = p["whh"].shape[0]
    inputs = gc.placeholder((seq,), "int64", name="inputs")
    targets = gc.placeholder((seq,), "int64", name="targets")
    h0 = gc.placeholder((hidden,), name="h")
    # the input weights' column of each character: one_hot(x) @ wxh.T, without the product
    xs = gc.embedding(inputs, p["wxh"].T)
    h, logits = h0, []
    for t in range(seq):
        h = gc.tanh(xs[t] + p["whh"] @ h + p["bh"])
        logits.append(p["why"] @ h + p["by"])
    loss = gc.cross_entropy(gc.stack(logits), targets, reduction="sum")
    names = list(p)
    grads = [gc.clamp(g, -5, 5) for g in gc.grad(loss, [p[n] for n in names])]
    adagrad = optim.Adagrad([p[n] for n in names], lr=lr)
    step = gc.compile([inputs, targets, h0], [loss, h], adagrad.updates(grads=grads))
    return step, p


def sample(p: dict, h: np.ndarray, seed_index: int, n: int, rng) -> list:
    """n characters drawn from the model (in numpy, from the parameters' values)."""
    wxh, whh, why, bh, by = (p[k].value for k in ("wxh", "whh", "why", "bh", "by"))
    x, out = seed_index, []
    for _ in range(n):
        h = np.tanh(wxh[:, x] + whh @ h + bh)
        z = why @ h + by
        prob = np.exp(z - z.max())
        x = int(rng.choice(len(by), p=prob / prob.sum()))
        out.append(x)
    return out


def train(iterations: int = 2000, verbose: bool = True):
    chars = sorted(set(TEXT))
    index = {c: i for i, c in enumerate(chars)}
    data = np.array([index[c] for c in TEXT], np.int64)
    step, p = build(init_parameters(len(chars)))
    h = np.zeros(HIDDEN, np.float32)
    smooth = -np.log(1.0 / len(chars)) * SEQ
    losses, at = [], 0
    for it in range(iterations):
        if at + SEQ + 1 > len(data):
            at, h = 0, np.zeros(HIDDEN, np.float32)
        loss, h = step(data[at:at + SEQ], data[at + 1:at + SEQ + 1], h)
        smooth = smooth * 0.999 + float(loss) * 0.001
        losses.append(float(loss))
        at += SEQ
        if verbose and it % 500 == 0:
            text = "".join(chars[i] for i in sample(p, h, data[at % len(data)], 60,
                                                     np.random.default_rng(it)))
            print(f"iter {it:5d}  loss {smooth:.2f}  sample: {text!r}")
    return losses, step


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--iterations", type=int, default=2000)
    args = parser.parse_args()
    losses, step = train(args.iterations)
    print(f"\nmean loss of the first 50 chunks {np.mean(losses[:50]):.2f}, of the last 50 "
          f"{np.mean(losses[-50:]):.2f}; one step: {len(step.kernels)} launches")


if __name__ == "__main__":
    main()
