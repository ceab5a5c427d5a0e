"""A small GPT trained on a text string, as minGPT writes one: token and position
embeddings, one transformer block (layer norm, causal self-attention, layer norm, an MLP
with GELU, both with residuals), a final layer norm and a linear head, trained with AdamW
on next-character prediction. The batch is windows of the text gathered on the device:
``data[starts[:, None] + gc.arange(T)]``.

    python examples/gpt_block.py [--steps 300]
"""
from __future__ import annotations

import argparse
import importlib.util
from pathlib import Path

import numpy as np

import graphc as gc
from graphc import nn, optim

TEXT = ("to be, or not to be, that is the question: whether 'tis nobler in the mind to "
        "suffer the slings and arrows of outrageous fortune, or to take arms against a sea "
        "of troubles and by opposing end them. ")
B, T, C, HEADS = 16, 32, 48, 4


def _attention_module():
    path = Path(__file__).resolve().parent / "causal_attention.py"
    spec = importlib.util.spec_from_file_location("_causal_attention", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class Block(nn.Module):
    def __init__(self, c: int, heads: int):
        self.ln1, self.ln2 = nn.LayerNorm(c), nn.LayerNorm(c)
        self.attn, self.proj = nn.Linear(c, 3 * c), nn.Linear(c, c)
        self.fc, self.out = nn.Linear(c, 4 * c), nn.Linear(4 * c, c)
        self.heads = heads

    def forward(self, x: gc.Tensor) -> gc.Tensor:
        p = {"w_attn": self.attn.weight, "b_attn": self.attn.bias,
             "w_proj": self.proj.weight, "b_proj": self.proj.bias}
        x = x + _attention_module().attention(self.ln1(x), p, self.heads)
        return x + self.out(gc.gelu(self.fc(self.ln2(x))))


class GPT(nn.Module):
    def __init__(self, vocab: int, t: int = T, c: int = C, heads: int = HEADS):
        self.tokens, self.positions = nn.Embedding(vocab, c), nn.Embedding(t, c)
        self.block, self.ln, self.head = Block(c, heads), nn.LayerNorm(c), nn.Linear(c, vocab)

    def forward(self, idx: gc.Tensor) -> gc.Tensor:
        t = idx.shape[1]
        x = self.tokens(idx) + self.positions(gc.arange(t))
        return self.head(self.ln(self.block(x)))


def next_character_loss(model: GPT, data: np.ndarray, starts: gc.Tensor, t: int = T):
    """The mean cross-entropy of each next character in the windows of ``data`` that
    begin at ``starts``, gathered on the device."""
    b, vocab = starts.shape[0], model.head.out_features
    window = starts[:, None] + gc.arange(t + 1)           # (B, T + 1) indices into the text
    chunk = gc.constant(data)[window]
    logits = model(chunk[:, :-1])
    return gc.cross_entropy(logits.reshape(b * t, vocab), chunk[:, 1:].reshape(b * t))


def build(vocab: int, data: np.ndarray, b: int = B, t: int = T, lr: float = 3e-3):
    """The model and its training step: window starts (B,) -> the mean loss."""
    model = GPT(vocab, t)
    starts = gc.placeholder((b,), "int64", name="starts")
    loss = next_character_loss(model, data, starts, t)
    opt = optim.AdamW(model.parameters(), lr=lr)
    return model, gc.compile([starts], loss, opt.updates(loss))


def train(steps: int = 300, seed: int = 0, verbose: bool = True):
    nn.init.seed(seed)
    chars = sorted(set(TEXT))
    data = np.array([chars.index(c) for c in TEXT], np.int64)
    model, step = build(len(chars), data)
    rng = np.random.default_rng(seed)
    losses = []
    for i in range(steps):
        losses.append(float(step(rng.integers(0, len(data) - T - 1, B))))
        if verbose and i % 50 == 0:
            print(f"step {i:4d}  loss {losses[-1]:.3f}")
    return losses, model, step


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--steps", type=int, default=300)
    args = parser.parse_args()
    losses, _, step = train(args.steps)
    print(f"\nloss {losses[0]:.3f} -> {np.mean(losses[-20:]):.3f} (log of the vocabulary "
          f"{np.log(len(set(TEXT))):.3f}); one step: {len(step.kernels)} launches")


if __name__ == "__main__":
    main()
