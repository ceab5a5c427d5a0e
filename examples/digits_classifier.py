"""A softmax classifier on scikit-learn's bundled digits (8x8 images, 10 classes), written
as a PyTorch user writes one: int64 labels and ``cross_entropy``, minibatches drawn with
``images[idx]`` from the training set held on the device, a short last batch, and the test
accuracy measured with ``argmax``.

The batch size is ``None`` in the index placeholder: the step compiles once for the full
batches and once for the short last one, and both share the parameters.

    python examples/digits_classifier.py [--epochs 30] [--device cpu]
"""
from __future__ import annotations

import argparse

import numpy as np

import graphc as gc

BATCH, TEST = 128, 297


def load(seed: int = 0):
    """The digits, shuffled, scaled to [0, 1]: (train images, train labels, test images,
    test labels); 1500 training images, so the last batch of each epoch has 92."""
    from sklearn.datasets import load_digits
    images, labels = load_digits(return_X_y=True)
    order = np.random.default_rng(seed).permutation(len(labels))
    images = (images[order] / 16.0).astype(np.float32)
    labels = labels[order].astype(np.int64)
    return images[TEST:], labels[TEST:], images[:TEST], labels[:TEST]


def build(train_images: np.ndarray, train_labels: np.ndarray, lr: float = 0.5):
    """The training step (a minibatch's indices -> its mean loss) and the accuracy of a
    batch of images and labels, over the same parameters."""
    features, classes = train_images.shape[1], int(train_labels.max()) + 1
    w = gc.parameter(np.zeros((features, classes), np.float32), name="w")
    b = gc.parameter(np.zeros(classes, np.float32), name="b")
    images, labels = gc.constant(train_images), gc.constant(train_labels)

    idx = gc.placeholder((None,), "int64", name="idx")
    loss = gc.cross_entropy(images[idx] @ w + b, labels[idx])
    gw, gb = gc.grad(loss, [w, b])
    step = gc.compile([idx], loss, {w: w - lr * gw, b: b - lr * gb})

    x = gc.placeholder((None, features), name="x")
    y = gc.placeholder((None,), "int64", name="y")
    accuracy = gc.compile([x, y], (gc.argmax(x @ w + b, dim=1) == y).float().mean())
    return step, accuracy, (w, b)


def train(epochs: int = 30, seed: int = 0, verbose: bool = True):
    """Train; returns (losses per epoch, test accuracy, the step, the accuracy function)."""
    train_images, train_labels, test_images, test_labels = load(seed)
    step, accuracy, _ = build(train_images, train_labels)
    rng = np.random.default_rng(seed + 1)
    losses = []
    for epoch in range(epochs):
        order = rng.permutation(len(train_labels))
        batch_losses = [float(step(order[k:k + BATCH]))
                        for k in range(0, len(order), BATCH)]
        losses.append(float(np.mean(batch_losses)))
        if verbose and (epoch % 5 == 0 or epoch == epochs - 1):
            print(f"epoch {epoch:3d}  loss {losses[-1]:.4f}")
    test_accuracy = float(accuracy(test_images, test_labels))
    return losses, test_accuracy, step, accuracy


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--epochs", type=int, default=30)
    args = parser.parse_args()
    losses, test_accuracy, step, _ = train(args.epochs)
    print(f"\ntest accuracy {100 * test_accuracy:.1f}% on {TEST} images")
    print(f"one training step: {len(step.kernels)} kernels")
    print(step.describe())


if __name__ == "__main__":
    main()
