"""pytorch/examples' MNIST CNN, written as its tutorial writes it, on scikit-learn's
bundled digits (8x8 images, so the feature map after pooling is 64 x 2 x 2): two 3x3
convolutions with ReLU, a 2x2 max pool, dropout 0.25, a 128-unit layer, dropout 0.5,
log_softmax and nll_loss, trained with Adadelta (lr 1.0) and a StepLR decay of 0.7 per
epoch through a 0-d ``lr`` placeholder (no recompile). The dropout masks are drawn on the
device, inside the kernels that use them.

    python examples/digits_cnn.py [--epochs 14]
"""
from __future__ import annotations

import argparse
import time

import numpy as np

import graphc as gc
from graphc import nn, optim

BATCH, TEST = 64, 297


class Net(nn.Module):
    def __init__(self, dropout: tuple = (0.25, 0.5)):
        self.conv1 = nn.Conv2d(1, 32, 3, 1)
        self.conv2 = nn.Conv2d(32, 64, 3, 1)
        self.dropout1 = nn.Dropout(dropout[0])
        self.dropout2 = nn.Dropout(dropout[1])
        self.fc1 = nn.Linear(64 * 2 * 2, 128)
        self.fc2 = nn.Linear(128, 10)

    def forward(self, x):
        x = self.conv1(x)
        x = gc.relu(x)
        x = self.conv2(x)
        x = gc.relu(x)
        x = gc.max_pool2d(x, 2)
        x = self.dropout1(x)
        x = gc.flatten(x, 1)
        x = self.fc1(x)
        x = gc.relu(x)
        x = self.dropout2(x)
        x = self.fc2(x)
        return gc.log_softmax(x, dim=1)


def load(seed: int = 0):
    """The digits as (N, 1, 8, 8) float32 in [0, 1], shuffled: (train images, train
    labels, test images, test labels); 1500 for training, 297 for the test."""
    from sklearn.datasets import load_digits
    images, labels = load_digits(return_X_y=True)
    order = np.random.default_rng(seed).permutation(len(labels))
    images = (images[order] / 16.0).astype(np.float32).reshape(-1, 1, 8, 8)
    labels = labels[order].astype(np.int64)
    return images[TEST:], labels[TEST:], images[:TEST], labels[:TEST]


def build(model: Net, seed: int = 1):
    """(training step: images, labels, lr -> loss; evaluation: images -> log-probs).
    The batch size is None: full batches and the short last one share one function."""
    x = gc.placeholder((None, 1, 8, 8), name="x")
    y = gc.placeholder((None,), "int64", name="y")
    lr = gc.placeholder((), name="lr")
    model.train()
    loss = gc.nll_loss(model(x), y)
    opt = optim.Adadelta(model.parameters(), lr=lr)
    step = gc.compile([x, y, lr], loss, updates=opt.updates(loss), seed=seed)
    model.eval()
    predict = gc.compile([x], model(x))
    model.train()
    return step, predict


def train(epochs: int = 14, seed: int = 0, dropout: tuple = (0.25, 0.5), verbose=True):
    """Train; returns (mean loss per epoch, test accuracy, the step, the model)."""
    gc.nn.init.seed(seed)
    train_images, train_labels, test_images, test_labels = load(seed)
    model = Net(dropout)
    step, predict = build(model, seed + 1)
    rng = np.random.default_rng(seed + 2)
    losses, lr = [], 1.0
    for epoch in range(epochs):
        order = rng.permutation(len(train_labels))
        batch = [float(step(train_images[order[k:k + BATCH]], train_labels[order[k:k + BATCH]],
                            np.float32(lr))) for k in range(0, len(order), BATCH)]
        losses.append(float(np.mean(batch)))
        lr *= 0.7                                       # StepLR(step_size=1, gamma=0.7)
        if verbose:
            print(f"epoch {epoch}  loss {losses[-1]:.4f}")
    accuracy = float((predict(test_images).argmax(1) == test_labels).mean())
    return losses, accuracy, step, model


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--epochs", type=int, default=14)
    args = parser.parse_args()
    start = time.perf_counter()
    losses, accuracy, step, _ = train(args.epochs)
    print(f"\ntest accuracy {100 * accuracy:.1f}% on {TEST} images "
          f"({time.perf_counter() - start:.1f} s)")
    print(f"one training step: {len(step.kernels)} kernels")
    print(step.describe())


if __name__ == "__main__":
    main()
