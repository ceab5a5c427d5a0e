"""The seed program in graphc (examples/two_layer_net.py) gives the seed's numbers.

Compared with examples/reference_numpy.py: the same network and initial values, trained in
float64 numpy with a hand-written backward pass.
"""
from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
STEPS = 500


def _load(name: str):
    """Import ``examples/<name>.py`` by path (the examples are scripts, not a package)."""
    spec = importlib.util.spec_from_file_location(f"_example_{name}", EXAMPLES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _rel_err(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.max(np.abs(a - b)) / np.max(np.abs(b)))


@pytest.fixture(scope="module")
def runs():
    graphc_run = _load("two_layer_net").train(steps=STEPS, verbose=False)
    reference_run = _load("reference_numpy").train_reference(steps=STEPS)
    return graphc_run, reference_run


def test_reference_trains():
    losses, _, _ = _load("reference_numpy").train_reference(steps=STEPS)
    assert losses[0] > 1e7
    assert losses[-1] < 1e-3


def test_losses_match_reference(runs):
    (losses, _, _), (ref_losses, _, _) = runs
    losses, ref_losses = np.array(losses), np.array(ref_losses)
    assert losses.shape == (STEPS,)
    assert np.all(np.isfinite(losses))
    # Below a loss of 1, float32 rounding noise is no longer small next to the loss itself.
    big = ref_losses > 1
    assert big.sum() > 100
    rel = np.abs(losses - ref_losses) / ref_losses
    worst = int(np.argmax(np.where(big, rel, 0)))
    assert rel[big].max() < 2e-3, (
        f"step {worst}: graphc loss {losses[worst]!r}, reference {ref_losses[worst]!r}")


def test_final_weights_match_reference(runs):
    (_, w1, w2), (_, ref_w1, ref_w2) = runs
    assert w1.shape == ref_w1.shape and w2.shape == ref_w2.shape
    assert _rel_err(w1, ref_w1) < 1e-3
    assert _rel_err(w2, ref_w2) < 1e-3


def test_loss_drops(runs):
    (losses, _, _), _ = runs
    assert losses[-1] < losses[0] / 100
