"""The programs of examples/ written the natural way, each against a reference: the digits
classifier's accuracy; the Elman RNN's, the causal attention block's and the small GPT's
gradients against torch's; min-char-rnn's Adagrad step against torch's; the heat equation
against numpy; with their kernel counts."""
from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

import graphc as gc

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def _load(name: str):
    spec = importlib.util.spec_from_file_location(f"_example_{name}", EXAMPLES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _close(got: np.ndarray, want: np.ndarray, name: str) -> None:
    scale = float(np.max(np.abs(want)))
    assert float(np.max(np.abs(got - want))) <= 2e-6 * scale, name


def test_digits_classifier_above_95_percent():
    pytest.importorskip("sklearn")
    digits = _load("digits_classifier")
    losses, accuracy, step, _ = digits.train(epochs=30, verbose=False)
    assert losses[-1] < 0.5 * losses[0]
    assert accuracy > 0.95, accuracy
    # one step: the gathered minibatch read in place by the matmul's kernels
    assert len(step.kernels) <= 12, step.describe()


def test_digits_minibatch_step_matches_numpy():
    """One step on a full batch and one on the short last batch against numpy: the
    gathered rows, the int64 labels' cross-entropy and the updates."""
    pytest.importorskip("sklearn")
    digits = _load("digits_classifier")
    images, labels, _, _ = digits.load()
    step, _, (w, b) = digits.build(images, labels, lr=0.5)
    rng = np.random.default_rng(3)
    w0 = rng.standard_normal(w.shape).astype(np.float32) * 0.1
    w.set_value(w0)
    b.set_value(np.zeros(b.shape, np.float32))
    for size in (128, 92):
        idx = rng.permutation(len(labels))[:size]
        wv, bv = w.value.astype(np.float64), b.value.astype(np.float64)
        z = images[idx] @ wv + bv
        z -= z.max(1, keepdims=True)
        p = np.exp(z) / np.exp(z).sum(1, keepdims=True)
        want = -np.log(p[np.arange(size), labels[idx]]).mean()
        p[np.arange(size), labels[idx]] -= 1
        gw = images[idx].T @ p / size
        got = float(step(idx))
        np.testing.assert_allclose(got, want, rtol=1e-5)
        np.testing.assert_allclose(w.value, wv - 0.5 * gw, rtol=1e-4, atol=1e-6)


def _torch_rnn(params: dict, x: np.ndarray, y: np.ndarray, torch):
    rnn = torch.nn.RNN(x.shape[2], params["w_hh"].shape[0], batch_first=True)
    head = torch.nn.Linear(params["w_hh"].shape[0], y.shape[1])
    with torch.no_grad():
        for name, value in (("weight_ih_l0", "w_ih"), ("weight_hh_l0", "w_hh"),
                            ("bias_ih_l0", "b_ih"), ("bias_hh_l0", "b_hh")):
            getattr(rnn, name).copy_(torch.tensor(params[value]))
        head.weight.copy_(torch.tensor(params["w_out"]))
        head.bias.copy_(torch.tensor(params["b_out"]))
    _, last = rnn(torch.tensor(x))
    loss = torch.nn.functional.mse_loss(head(last[0]), torch.tensor(y))
    loss.backward()
    grads = {"w_ih": rnn.weight_ih_l0.grad, "w_hh": rnn.weight_hh_l0.grad,
             "b_ih": rnn.bias_ih_l0.grad, "b_hh": rnn.bias_hh_l0.grad,
             "w_out": head.weight.grad, "b_out": head.bias.grad}
    return loss.item(), {k: v.numpy() for k, v in grads.items()}


def test_elman_rnn_gradients_equal_torch():
    torch = pytest.importorskip("torch")
    rnn = _load("elman_rnn")
    rng = np.random.default_rng(1)
    params = rnn.init_parameters(rng)
    x, y, loss, p = rnn.build(params)
    names = list(p)
    fn = gc.compile([x, y], [loss] + gc.grad(loss, [p[n] for n in names]))
    xs, ys = rnn.batch(rng)
    got = fn(xs, ys)
    want_loss, want = _torch_rnn(params, xs, ys, torch)
    np.testing.assert_allclose(got[0], want_loss, rtol=1e-6)
    for name, g in zip(names, got[1:]):
        _close(g, want[name], name)
    # forward and backward: about two kernels per time step (T = 12)
    assert len(fn.kernels) <= 2 * rnn.T + 4, fn.describe()


def test_causal_attention_gradients_equal_torch():
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    att = _load("causal_attention")
    rng = np.random.default_rng(2)
    params = att.init_parameters(rng)
    x, target, loss, p = att.build(params)
    names = list(p)
    fn = gc.compile([x, target], [loss] + gc.grad(loss, [p[n] for n in names] + [x]))
    shape = (att.B, att.T, att.C)
    xs = rng.standard_normal(shape).astype(np.float32)
    ys = rng.standard_normal(shape).astype(np.float32)
    got = fn(xs, ys)

    tp = {n: torch.tensor(v, requires_grad=True) for n, v in params.items()}
    xt = torch.tensor(xs, requires_grad=True)
    q, k, v = (xt @ tp["w_attn"].T + tp["b_attn"]).split(att.C, dim=2)
    b, t, c, h = att.B, att.T, att.C, att.HEADS
    q, k, v = (z.view(b, t, h, c // h).transpose(1, 2) for z in (q, k, v))
    y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
    out = y.transpose(1, 2).reshape(b, t, c) @ tp["w_proj"].T + tp["b_proj"]
    want = F.mse_loss(out, torch.tensor(ys))
    want.backward()
    np.testing.assert_allclose(got[0], want.item(), rtol=1e-5)
    for name, g in zip(names + ["x"], got[1:]):
        _close(g, (xt.grad if name == "x" else tp[name].grad).numpy(), name)
    # the causal mask is compared in the kernels that use it: no kernel stores a mask
    stored = [n for kernel in fn.kernels for n in kernel.outputs]
    assert stored and not any(n.dtype == np.bool_ for n in stored)
    assert len(fn.kernels) <= 28, fn.describe()


def test_heat_equation_is_one_kernel_and_matches_numpy():
    heat = _load("heat_equation")
    u0 = heat.initial(64)
    u, step = heat.build(u0)
    for _ in range(50):
        step()
    assert len(step.kernels) == 1
    np.testing.assert_allclose(u.value, heat.reference(u0, 50), atol=1e-5)


@pytest.mark.slow
def test_char_rnn_step_equals_torch_with_adagrad():
    """One min-char-rnn step (clipped gradients, Adagrad) against torch's, from the same
    weights; then the loss falls over 300 chunks."""
    torch = pytest.importorskip("torch")
    rnn = _load("char_rnn")
    vocab = 12
    params = rnn.init_parameters(vocab, hidden=16, seed=1)
    rnn_step, p = rnn.build(params, seq=8)
    rng = np.random.default_rng(4)
    inputs, targets = rng.integers(0, vocab, 8), rng.integers(0, vocab, 8)
    h0 = rng.standard_normal(16).astype(np.float32) * 0.1
    loss, h = rnn_step(inputs, targets, h0)

    tp = {k: torch.tensor(v, requires_grad=True) for k, v in params.items()}
    ht, logits = torch.tensor(h0), []
    for t in range(8):
        ht = torch.tanh(tp["wxh"][:, inputs[t]] + tp["whh"] @ ht + tp["bh"])
        logits.append(tp["why"] @ ht + tp["by"])
    want = torch.nn.functional.cross_entropy(torch.stack(logits), torch.tensor(targets),
                                             reduction="sum")
    want.backward()
    opt = torch.optim.Adagrad(list(tp.values()), lr=0.1)
    for v in tp.values():
        v.grad.clamp_(-5, 5)
    opt.step()
    np.testing.assert_allclose(loss, want.item(), rtol=1e-5)
    np.testing.assert_allclose(h, ht.detach().numpy(), rtol=1e-5, atol=1e-7)
    for name, v in tp.items():
        _close(p[name].value, v.detach().numpy(), name)

    losses, _ = rnn.train(iterations=300, verbose=False)
    assert np.mean(losses[-30:]) < 0.8 * np.mean(losses[:30])


def _torch_gpt(model, torch, chunk: np.ndarray, heads: int):
    """The same GPT in torch, from graphc's parameter values: (loss, {name: gradient})."""
    F = torch.nn.functional
    named = dict(model.named_parameters())
    tp = {n: torch.tensor(p.value, requires_grad=True) for n, p in named.items()}
    idx, target = torch.tensor(chunk[:, :-1]), torch.tensor(chunk[:, 1:])
    b, t = idx.shape
    c = tp["tokens.weight"].shape[1]

    def ln(x, name):
        return F.layer_norm(x, (c,), tp[f"{name}.weight"], tp[f"{name}.bias"])

    def linear(x, name):
        return x @ tp[f"{name}.weight"].T + tp[f"{name}.bias"]

    x = tp["tokens.weight"][idx] + tp["positions.weight"][torch.arange(t)]
    q, k, v = linear(ln(x, "block.ln1"), "block.attn").split(c, dim=2)
    q, k, v = (z.view(b, t, heads, c // heads).transpose(1, 2) for z in (q, k, v))
    y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
    x = x + linear(y.transpose(1, 2).reshape(b, t, c), "block.proj")
    x = x + linear(F.gelu(linear(ln(x, "block.ln2"), "block.fc")), "block.out")
    logits = linear(ln(x, "ln"), "head")
    loss = F.cross_entropy(logits.reshape(b * t, -1), target.reshape(b * t))
    loss.backward()
    return loss.item(), {n: v.grad.numpy() for n, v in tp.items()}


@pytest.mark.slow
def test_gpt_block_gradients_equal_torch():
    torch = pytest.importorskip("torch")
    gpt = _load("gpt_block")
    chars = sorted(set(gpt.TEXT))
    data = np.array([chars.index(ch) for ch in gpt.TEXT], np.int64)
    model = gpt.GPT(len(chars), t=12, c=16, heads=2)
    starts = gc.placeholder((3,), "int64", name="starts")
    loss = gpt.next_character_loss(model, data, starts, t=12)
    names = [n for n, _ in model.named_parameters()]
    params = model.parameters()
    fn = gc.compile([starts], [loss] + gc.grad(loss, params))
    begin = np.array([0, 40, 101])
    got = fn(begin)
    chunk = data[begin[:, None] + np.arange(13)]
    want_loss, want = _torch_gpt(model, torch, chunk, heads=2)
    np.testing.assert_allclose(got[0], want_loss, rtol=1e-5)
    for name, g in zip(names, got[1:]):
        _close(g, want[name], name)


def test_vae_loss_and_gradients_equal_torch_for_the_same_noise():
    """pytorch/examples' VAE on the digits: with the noise given (the same draws for both),
    its loss and gradients equal torch's; trained with noise drawn on the device, the
    loss per image falls."""
    torch = pytest.importorskip("torch")
    pytest.importorskip("sklearn")
    F = torch.nn.functional
    vae = _load("vae")
    images, _ = vae.load()
    xs = images[:50]
    model = vae.VAE(64)
    x = gc.placeholder(xs.shape, name="x")
    eps = gc.placeholder((50, vae.LATENT), name="eps")
    recon, mu, logvar = model(x, noise=lambda std: eps)
    loss = vae.loss_function(recon, x, mu, logvar)
    named = dict(model.named_parameters())
    fn = gc.compile([x, eps], [loss] + gc.grad(loss, list(named.values())))
    noise = np.random.default_rng(5).standard_normal((50, vae.LATENT)).astype(np.float32)
    got = fn(xs, noise)

    tp = {n: torch.tensor(p.value, requires_grad=True) for n, p in named.items()}

    def linear(v, name):
        return v @ tp[f"{name}.weight"].T + tp[f"{name}.bias"]

    xt = torch.tensor(xs)
    h = F.relu(linear(xt, "fc1"))
    m, lv = linear(h, "fc21"), linear(h, "fc22")
    z = m + torch.tensor(noise) * torch.exp(0.5 * lv)
    r = torch.sigmoid(linear(F.relu(linear(z, "fc3")), "fc4"))
    want = F.binary_cross_entropy(r, xt, reduction="sum") - 0.5 * torch.sum(
        1 + lv - m ** 2 - lv.exp())
    want.backward()
    np.testing.assert_allclose(got[0], want.item(), rtol=1e-5)
    for name, g in zip(named, got[1:]):
        _close(g, tp[name].grad.numpy(), name)

    history, _, test = vae.train(epochs=6, verbose=False)
    assert history[-1] < 0.8 * history[0] and np.isfinite(test)


def _torch_cnn(model, dropout):
    """The same network in torch, from the graphc model's initial weights."""
    import torch
    from torch import nn as tnn

    class Net(tnn.Module):
        def __init__(self):
            super().__init__()
            self.conv1, self.conv2 = tnn.Conv2d(1, 32, 3, 1), tnn.Conv2d(32, 64, 3, 1)
            self.dropout1, self.dropout2 = tnn.Dropout(dropout[0]), tnn.Dropout(dropout[1])
            self.fc1, self.fc2 = tnn.Linear(256, 128), tnn.Linear(128, 10)

        def forward(self, x):
            x = torch.relu(self.conv2(torch.relu(self.conv1(x))))
            x = self.dropout1(torch.nn.functional.max_pool2d(x, 2))
            x = self.dropout2(torch.relu(self.fc1(torch.flatten(x, 1))))
            return torch.log_softmax(self.fc2(x), dim=1)

    net = Net()
    with torch.no_grad():
        for name, p in net.named_parameters():
            layer, kind = name.split(".")
            p.copy_(torch.from_numpy(getattr(getattr(model, layer), kind).value))
    return net


def _train_torch_cnn(digits, model, dropout, epochs, seed=0):
    import torch
    torch.manual_seed(seed)
    images, labels, test_images, test_labels = digits.load(seed)
    net = _torch_cnn(model, dropout)
    opt = torch.optim.Adadelta(net.parameters(), lr=1.0)
    sched = torch.optim.lr_scheduler.StepLR(opt, step_size=1, gamma=0.7)
    rng = np.random.default_rng(seed + 2)
    losses = []
    for _ in range(epochs):
        order, batch = rng.permutation(len(labels)), []
        for k in range(0, len(order), digits.BATCH):
            i = order[k:k + digits.BATCH]
            opt.zero_grad()
            loss = torch.nn.functional.nll_loss(net(torch.from_numpy(images[i])),
                                                torch.from_numpy(labels[i]))
            loss.backward()
            opt.step()
            batch.append(loss.item())
        losses.append(float(np.mean(batch)))
        sched.step()
    net.eval()
    with torch.no_grad():
        predicted = net(torch.from_numpy(test_images)).argmax(1).numpy()
    return losses, float((predicted == test_labels).mean())


def test_digits_cnn_without_dropout_has_torch_losses():
    """p = 0: step by step, the losses of torch's network from the same weights, with
    Adadelta through the lr placeholder, over the first epoch (float32: later epochs
    drift apart by rounding alone)."""
    pytest.importorskip("sklearn")
    torch = pytest.importorskip("torch")
    digits = _load("digits_cnn")
    gc.nn.init.seed(0)
    model = digits.Net((0.0, 0.0))
    net = _torch_cnn(model, (0.0, 0.0))
    step, predict = digits.build(model)
    opt = torch.optim.Adadelta(net.parameters(), lr=1.0)
    images, labels, _, _ = digits.load(0)
    for k in range(0, len(labels), digits.BATCH):
        x, y = images[k:k + digits.BATCH], labels[k:k + digits.BATCH]
        got = float(step(x, y, np.float32(1.0)))
        opt.zero_grad()
        loss = torch.nn.functional.nll_loss(net(torch.from_numpy(x)), torch.from_numpy(y))
        loss.backward()
        opt.step()
        assert abs(got - loss.item()) <= 1e-4 * loss.item(), (k, got, loss.item())
    with torch.no_grad():
        want = net(torch.from_numpy(images[:100])).numpy()
    np.testing.assert_allclose(predict(images[:100]), want, rtol=1e-3, atol=1e-4)


@pytest.mark.slow
def test_digits_cnn_with_dropout_is_within_a_point_of_torch():
    """The tutorial's 14 epochs, with dropout, on three seeds: graphc's mean test accuracy
    within 1 point of torch's (dropout draws differ, so single runs differ by a few
    images of 297)."""
    pytest.importorskip("sklearn")
    pytest.importorskip("torch")
    digits = _load("digits_cnn")
    ours, theirs = [], []
    for seed in range(3):
        losses, accuracy, step, _ = digits.train(14, seed=seed, verbose=False)
        assert losses[-1] < 0.3 * losses[0]
        gc.nn.init.seed(seed)         # train() drew its initial weights right after this
        ours.append(accuracy)
        theirs.append(_train_torch_cnn(digits, digits.Net(), (0.25, 0.5), 14, seed)[1])
    assert min(ours) > 0.9, ours
    assert abs(np.mean(ours) - np.mean(theirs)) <= 0.01, (ours, theirs)
    assert len(step.kernels) <= 27, step.describe()
