"""A variational autoencoder on scikit-learn's bundled digits, as pytorch/examples' VAE
writes it: an encoder to the mean and log-variance of a Gaussian, a sample drawn with
``randn_like`` (on the device, in the kernel that uses it), a decoder to pixel
probabilities, and the loss binary cross-entropy (summed) plus the KL divergence. Adam.

    python examples/vae.py [--epochs 30] [--png samples.png]
"""
from __future__ import annotations

import argparse
from typing import Callable, Optional

import numpy as np

import graphc as gc
from graphc import nn, optim

BATCH, HIDDEN, LATENT = 100, 128, 8


class VAE(nn.Module):
    def __init__(self, features: int = 64, hidden: int = HIDDEN, latent: int = LATENT):
        self.fc1, self.fc21, self.fc22 = (nn.Linear(features, hidden),
                                          nn.Linear(hidden, latent), nn.Linear(hidden, latent))
        self.fc3, self.fc4 = nn.Linear(latent, hidden), nn.Linear(hidden, features)

    def encode(self, x):
        h = gc.relu(self.fc1(x))
        return self.fc21(h), self.fc22(h)

    def decode(self, z):
        return gc.sigmoid(self.fc4(gc.relu(self.fc3(z))))

    def forward(self, x, noise: Optional[Callable] = None):
        mu, logvar = self.encode(x)
        std = gc.exp(0.5 * logvar)
        eps = gc.randn_like(std) if noise is None else noise(std)
        return self.decode(mu + eps * std), mu, logvar


def loss_function(recon, x, mu, logvar):
    """Reconstruction (binary cross-entropy, summed) + KL(q(z|x) || N(0, 1))."""
    bce = gc.binary_cross_entropy(recon, x, reduction="sum")
    kld = -0.5 * gc.sum(1 + logvar - mu ** 2 - gc.exp(logvar))
    return bce + kld


def load(seed: int = 0):
    from sklearn.datasets import load_digits
    images = load_digits().data.astype(np.float32) / 16.0
    order = np.random.default_rng(seed).permutation(len(images))
    return images[order][:1700], images[order][1700:]


def train(epochs: int = 30, seed: int = 0, verbose: bool = True):
    nn.init.seed(seed)
    gc.manual_seed(seed)
    train_images, test_images = load(seed)
    model = VAE(train_images.shape[1])
    x = gc.placeholder((None, train_images.shape[1]), name="x")
    recon, mu, logvar = model(x)
    loss = loss_function(recon, x, mu, logvar)
    step = gc.compile([x], loss, optim.Adam(model.parameters(), lr=1e-3).updates(loss))
    evaluate = gc.compile([x], loss)
    rng = np.random.default_rng(seed)
    history = []
    for epoch in range(epochs):
        order = rng.permutation(len(train_images))
        total = sum(float(step(train_images[order[k:k + BATCH]]))
                    for k in range(0, len(order), BATCH))
        history.append(total / len(train_images))
        if verbose and (epoch % 5 == 0 or epoch == epochs - 1):
            test = float(evaluate(test_images)) / len(test_images)
            print(f"epoch {epoch:3d}  train loss {history[-1]:.2f}  test loss {test:.2f}")
    return history, model, float(evaluate(test_images)) / len(test_images)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--png", default=None, help="save decoded samples (matplotlib)")
    args = parser.parse_args()
    history, model, test = train(args.epochs)
    print(f"\nloss per image {history[0]:.2f} -> {history[-1]:.2f}; test {test:.2f}")
    if args.png:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        z = gc.placeholder((16, LATENT), name="z")
        images = gc.compile([z], model.decode(z))(
            np.random.default_rng(1).standard_normal((16, LATENT)).astype(np.float32))
        fig, axes = plt.subplots(2, 8, figsize=(8, 2))
        for ax, image in zip(axes.ravel(), images):
            ax.imshow(image.reshape(8, 8), cmap="gray")
            ax.axis("off")
        fig.savefig(args.png, dpi=100)
        print(f"wrote {args.png}")


if __name__ == "__main__":
    main()
