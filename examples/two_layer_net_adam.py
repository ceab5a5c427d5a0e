"""The seed's network trained with Adam, as PyTorch's "two-layer net with optim" tutorial.

The same fully-connected ReLU network as examples/two_layer_net.py (no biases, squared
error, the same initial values), written in torch's nn style (``nn.Sequential`` of
``nn.Linear`` and ``nn.ReLU``, ``mse_loss(reduction="sum")``), with
``graphc.optim.Adam`` in place of the hand-written update: ``opt.updates(loss)`` gives the new weights and the optimizer's state (both
moments of each weight, the step counter), all held on the device. On a CPU the whole
step is still two launches: the moment updates are epilogues of the matmuls computing
the weights' gradients. The learning rate is a 0-d placeholder, so ``--decay`` changes
it at every step with no new build.

Run ``python examples/two_layer_net_adam.py`` to print ``t loss`` for each of 500 steps;
``--checkpoint PATH`` saves the weights and the optimizer's state there at the end
(``gc.save``) and, if the file exists, resumes from it first (``gc.load``).
"""
from __future__ import annotations

import argparse
import os

import numpy as np

import graphc as gc
from graphc import nn, optim

# N is batch size; D_in is input dimension; H is hidden dimension; D_out is output dimension.
N, D_in, H, D_out = 64, 1000, 100, 10
LEARNING_RATE = 1e-3


def train(steps: int = 500, device=None, dtype: str = "float32", seed: int = 0,
          decay: float = 1.0, checkpoint: str | None = None,
          verbose: bool = True) -> tuple[list[float], np.ndarray, np.ndarray]:
    """Train the network for ``steps`` steps of Adam.

    Parameters
    ----------
    steps, device, dtype, seed, verbose
        As ``examples/two_layer_net.py``'s ``train``.
    decay : float
        The learning rate at step t is ``LEARNING_RATE * decay**t``.
    checkpoint : str, optional
        Resume from this file if it exists; save to it at the end.

    Returns
    -------
    losses : list of float
        The loss computed at each step, before that step's update.
    w1, w2 : numpy.ndarray
        The weights after the last update, (D_in, H) and (H, D_out) as the seed's.
    """
    rng = np.random.default_rng(seed)
    x_np, y_np, w1_np, w2_np = (
        rng.standard_normal(shape, dtype=np.float32).astype(dtype)
        for shape in [(N, D_in), (N, D_out), (D_in, H), (H, D_out)])

    x = gc.placeholder((N, D_in), dtype=dtype, name="x")
    y = gc.placeholder((N, D_out), dtype=dtype, name="y")
    lr = gc.placeholder((), dtype=dtype, name="lr")
    model = nn.Sequential(nn.Linear(D_in, H, bias=False, dtype=dtype, name="w1"),
                          nn.ReLU(),
                          nn.Linear(H, D_out, bias=False, dtype=dtype, name="w2"))
    # the seed's initial values (nn.Linear keeps its weight as (out, in))
    model[0].weight.set_value(w1_np.T)
    model[2].weight.set_value(w2_np.T)

    loss = gc.mse_loss(model(x), y, reduction="sum")
    opt = optim.Adam(model.parameters(), lr=lr, name="adam")
    step = gc.compile(inputs=[x, y, lr], outputs=[loss], updates=opt.updates(loss),
                      device=device)
    saved = model.parameters() + opt.state_tensors()
    if checkpoint and os.path.exists(checkpoint):
        gc.load(checkpoint, saved)

    losses = []
    for t in range(steps):
        (loss_value,) = step(x_np, y_np, np.asarray(LEARNING_RATE * decay ** t, dtype))
        losses.append(float(loss_value))
        if verbose:
            print(t, float(loss_value))
    if checkpoint:
        gc.save(checkpoint, saved)
    return losses, model[0].weight.value.T, model[2].weight.value.T


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=500)
    parser.add_argument("--device", default=None,
                        help="cpu, gpu, or a substring of the device name")
    parser.add_argument("--dtype", default="float32", choices=["float32", "float64"])
    parser.add_argument("--decay", type=float, default=1.0,
                        help="multiply the learning rate by this at every step")
    parser.add_argument("--checkpoint", default=None,
                        help="resume from this file if it exists, save to it at the end")
    args = parser.parse_args()
    train(steps=args.steps, device=args.device, dtype=args.dtype, decay=args.decay,
          checkpoint=args.checkpoint)


if __name__ == "__main__":
    main()
