"""examples/two_layer_net_adam.py (the seed with Adam) against PyTorch with
torch.optim.Adam: the same network, initial values and learning-rate schedule."""
from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "two_layer_net_adam.py"


def _example():
    spec = importlib.util.spec_from_file_location("_example_adam", EXAMPLE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _torch_train(module, steps: int, dtype: str, decay: float = 1.0):
    rng = np.random.default_rng(0)
    x, y, w1, w2 = (torch.from_numpy(rng.standard_normal(s, dtype=np.float32).astype(dtype))
                    for s in [(module.N, module.D_in), (module.N, module.D_out),
                              (module.D_in, module.H), (module.H, module.D_out)])
    w1.requires_grad_()
    w2.requires_grad_()
    opt = torch.optim.Adam([w1, w2], lr=module.LEARNING_RATE)
    losses = []
    for t in range(steps):
        opt.param_groups[0]["lr"] = module.LEARNING_RATE * decay ** t
        loss = (x.mm(w1).clamp(min=0).mm(w2) - y).pow(2).sum()
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    return np.array(losses), w1.detach().numpy(), w2.detach().numpy()


def test_float64_run_matches_torch(has_fp64):
    if not has_fp64:
        pytest.skip("no float64 on this device")
    module = _example()
    losses, w1, w2 = module.train(steps=100, dtype="float64", decay=0.99, verbose=False)
    want, want_w1, want_w2 = _torch_train(module, 100, "float64", decay=0.99)
    np.testing.assert_allclose(losses, want, rtol=1e-9)
    for got, ref in ((w1, want_w1), (w2, want_w2)):
        np.testing.assert_allclose(got, ref, rtol=1e-9, atol=1e-9 * np.abs(ref).max())


def test_float32_run_trains_as_torch():
    module = _example()
    losses, _, _ = module.train(steps=500, verbose=False)
    want, _, _ = _torch_train(module, 500, "float32")
    assert losses[0] > 1e7 and losses[-1] < 1e-2 and want[-1] < 1e-2
    big = want > 1e3
    assert big.sum() > 100
    assert np.max(np.abs(np.array(losses)[big] - want[big]) / want[big]) < 1e-2


def test_checkpoint_resumes_the_run_exactly(tmp_path):
    module = _example()
    path = str(tmp_path / "adam.npz")
    first, _, _ = module.train(steps=20, checkpoint=path, verbose=False)
    resumed, w1, w2 = module.train(steps=20, checkpoint=path, verbose=False)
    straight, s1, s2 = module.train(steps=40, verbose=False)
    assert first + resumed == straight
    np.testing.assert_array_equal(w1, s1)
    np.testing.assert_array_equal(w2, s2)
