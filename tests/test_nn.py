"""graphc.nn against torch.nn: the modules' forward and backward with the same weights,
their default initialisations' distributions, names and parameters, and the seed written
in torch's nn style."""
from __future__ import annotations

import math

import numpy as np
import pytest

import graphc as gc
from graphc import nn, optim

torch = pytest.importorskip("torch")


def _copy(ours, theirs) -> None:
    with torch.no_grad():
        for (_, p), t in zip(ours.named_parameters(), theirs.parameters()):
            t.copy_(torch.tensor(p.value))


def _compare(ours, theirs, x_value, dtype=np.float32, tol=2e-5):
    x = gc.placeholder(x_value.shape, dtype, name="x")
    y = ours(x)
    params = ours.parameters()
    fn = gc.compile([x], [y] + gc.grad(gc.sum(y * y), params + [x]))
    got = fn(x_value)
    xt = torch.tensor(x_value, requires_grad=True)
    want = theirs(xt)
    (want * want).sum().backward()
    np.testing.assert_allclose(got[0], want.detach().numpy(), rtol=tol, atol=tol)
    grads = [t.grad for t in theirs.parameters()] + [xt.grad]
    for g, w in zip(got[1:], grads):
        np.testing.assert_allclose(g, w.numpy(), rtol=tol, atol=tol)


def test_linear_matches_torch():
    rng = np.random.default_rng(0)
    ours, theirs = nn.Linear(7, 5), torch.nn.Linear(7, 5)
    _copy(ours, theirs)
    _compare(ours, theirs, rng.normal(size=(4, 3, 7)).astype(np.float32))
    no_bias = nn.Linear(7, 5, bias=False)
    assert len(no_bias.parameters()) == 1


def test_layer_norm_matches_torch():
    rng = np.random.default_rng(1)
    ours, theirs = nn.LayerNorm((4, 6)), torch.nn.LayerNorm((4, 6))
    with torch.no_grad():
        theirs.weight.copy_(torch.tensor(rng.normal(size=(4, 6))))
        theirs.bias.copy_(torch.tensor(rng.normal(size=(4, 6))))
    ours.weight.set_value(theirs.weight.detach().numpy())
    ours.bias.set_value(theirs.bias.detach().numpy())
    _compare(ours, theirs, rng.normal(size=(3, 4, 6)).astype(np.float32) * 3)


def test_embedding_matches_torch_with_padding_idx():
    rng = np.random.default_rng(2)
    ours = nn.Embedding(10, 4, padding_idx=3)
    assert np.all(ours.weight.value[3] == 0)
    theirs = torch.nn.Embedding(10, 4, padding_idx=3)
    _copy(ours, theirs)
    index = np.array([[1, 3, 3], [9, 0, 1]])
    i = gc.placeholder(index.shape, "int64", name="i")
    y = ours(i)
    got = gc.compile([i], [y, gc.grad(gc.sum(y * y), ours.weight)])(index)
    want = theirs(torch.tensor(index))
    (want * want).sum().backward()
    np.testing.assert_allclose(got[0], want.detach().numpy(), rtol=1e-6)
    np.testing.assert_allclose(got[1], theirs.weight.grad.numpy(), rtol=1e-6)


def test_default_initialisations_follow_torch():
    nn.init.seed(3)
    layer = nn.Linear(400, 300)
    bound = 1 / math.sqrt(400)
    w, b = layer.weight.value, layer.bias.value
    assert w.shape == (300, 400) and w.dtype == np.float32
    assert np.abs(w).max() <= bound and np.abs(w).max() > 0.99 * bound
    assert abs(w.std() - bound / math.sqrt(3)) < 0.01 * bound      # U(-bound, bound)
    assert np.abs(b).max() <= bound
    p = gc.parameter(np.zeros((256, 512), np.float32))
    nn.init.kaiming_normal_(p, nonlinearity="relu")
    assert abs(p.value.std() - math.sqrt(2 / 512)) < 0.02 * math.sqrt(2 / 512)
    nn.init.xavier_uniform_(p)
    assert np.abs(p.value).max() <= math.sqrt(6 / (256 + 512))
    nn.init.seed(3)
    again = nn.Linear(400, 300)
    np.testing.assert_array_equal(again.weight.value, w)        # the same seed, the same
    with pytest.raises(TypeError, match="xavier_uniform_: expects a graphc parameter"):
        nn.init.xavier_uniform_(gc.placeholder((3, 3)))


def test_parameters_have_names_of_their_own():
    model = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2), nn.LayerNorm(2))
    names = [p.name for p in model.parameters()]
    assert len(names) == 6 and len(set(names)) == 6
    assert [n for n, _ in model.named_parameters()][:2] == ["0.weight", "0.bias"]
    assert model[1].parameters() == [] and len(model) == 4
    assert model.eval().training is False and model[0].training is False


def test_the_seed_in_nn_style_trains_as_the_seed():
    """The seed's network (no biases) with nn.Sequential and optim.SGD, against the seed's
    own numpy reference for the same weights."""
    N, D_in, H, D_out = 64, 1000, 100, 10
    rng = np.random.default_rng(0)
    x_np, y_np, w1, w2 = (rng.standard_normal(s, dtype=np.float32) for s in
                          [(N, D_in), (N, D_out), (D_in, H), (H, D_out)])
    model = nn.Sequential(nn.Linear(D_in, H, bias=False), nn.ReLU(),
                          nn.Linear(H, D_out, bias=False))
    model[0].weight.set_value(w1.T)
    model[2].weight.set_value(w2.T)
    x, y = gc.placeholder((N, D_in), name="x"), gc.placeholder((N, D_out), name="y")
    loss = gc.sum((model(x) - y) ** 2)
    step = gc.compile([x, y], loss, optim.SGD(model.parameters(), lr=1e-6).updates(loss))
    a, b = w1.astype(np.float64), w2.astype(np.float64)
    for _ in range(20):
        got = float(step(x_np, y_np))
        h = x_np @ a
        pred = np.maximum(h, 0) @ b
        want = float(((pred - y_np) ** 2).sum())
        g = 2 * (pred - y_np)
        gb = np.maximum(h, 0).T @ g
        ga = x_np.T @ ((g @ b.T) * (h > 0))
        a, b = a - 1e-6 * ga, b - 1e-6 * gb
        np.testing.assert_allclose(got, want, rtol=2e-4)
    assert len(step.kernels) == 2                      # still the seed's 2 launches


# {{{ convolutions, pools, batch norm

def test_conv_modules_match_torch():
    rng = np.random.default_rng(1)
    x = rng.standard_normal((2, 4, 9, 8)).astype(np.float32)
    ours = nn.Sequential(nn.Conv2d(4, 6, 3, stride=2, padding=1, groups=2), nn.ReLU(),
                         nn.MaxPool2d(2, ceil_mode=True), nn.Conv2d(6, 3, (2, 1), bias=False),
                         nn.AvgPool2d(2, 1), nn.AdaptiveAvgPool2d(1), nn.Flatten())
    theirs = torch.nn.Sequential(
        torch.nn.Conv2d(4, 6, 3, stride=2, padding=1, groups=2), torch.nn.ReLU(),
        torch.nn.MaxPool2d(2, ceil_mode=True), torch.nn.Conv2d(6, 3, (2, 1), bias=False),
        torch.nn.AvgPool2d(2, 1), torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten())
    _copy(ours, theirs)
    _compare(ours, theirs, x, tol=1e-4)
    up = nn.ConvTranspose2d(4, 2, 3, stride=2, padding=1, output_padding=1)
    tup = torch.nn.ConvTranspose2d(4, 2, 3, stride=2, padding=1, output_padding=1)
    _copy(up, tup)
    _compare(up, tup, x, tol=1e-4)
    line = nn.Conv1d(4, 2, 3, padding="same")
    tline = torch.nn.Conv1d(4, 2, 3, padding="same")
    _copy(line, tline)
    _compare(line, tline, x[:, :, 0], tol=1e-4)


def test_conv_initialisation_follows_torch():
    conv = nn.Conv2d(16, 32, 5)
    bound = 1 / math.sqrt(16 * 25)         # kaiming_uniform(a=sqrt(5)) and the bias's
    w, b = conv.weight.value, conv.bias.value
    assert w.shape == (32, 16, 5, 5) and b.shape == (32,)
    assert np.abs(w).max() <= bound and np.abs(w).max() > 0.95 * bound
    assert np.abs(b).max() <= bound
    assert abs(w.std() - bound / math.sqrt(3)) < 0.05 * bound
    assert nn.ConvTranspose2d(16, 32, 5).weight.shape == (16, 32, 5, 5)


def _batch_norm_twins(dtype=np.float64):
    rng = np.random.default_rng(2)
    ours = nn.BatchNorm2d(3, momentum=0.2, dtype=np.dtype(dtype).name)
    theirs = torch.nn.BatchNorm2d(3, momentum=0.2).to(torch.float64 if dtype == np.float64
                                                      else torch.float32)
    with torch.no_grad():
        for p, t in ((ours.weight, theirs.weight), (ours.bias, theirs.bias)):
            v = rng.standard_normal(3).astype(dtype)
            p.set_value(v)
            t.copy_(torch.tensor(v))
    return ours, theirs


def test_batch_norm_trains_and_evaluates_as_torch():
    """Training: the batch's statistics, the gradients through them, and the running
    statistics' updates (unbiased variance) as buffer updates; eval(): the running
    statistics, in a function of its own."""
    ours, theirs = _batch_norm_twins()
    assert [n for n, _ in ours.named_buffers()] == ["running_mean", "running_var"]
    assert len(ours.parameters()) == 2
    x = gc.placeholder((4, 3, 5, 2), "float64")
    y = ours(x)
    grads = gc.grad(gc.sum(y * y * y), ours.parameters() + [x])
    train = gc.compile([x], [y] + grads, updates=ours.buffer_updates())
    rng = np.random.default_rng(3)
    for _ in range(3):
        value = rng.standard_normal(x.shape) * 2 + 1
        got = train(value)
        xt = torch.tensor(value, requires_grad=True)
        want = theirs(xt)
        (want ** 3).sum().backward()
        for g, w in zip(got, [want, theirs.weight.grad, theirs.bias.grad, xt.grad]):
            np.testing.assert_allclose(g, w.detach().numpy(), rtol=1e-10, atol=1e-10)
        theirs.zero_grad()
    np.testing.assert_allclose(ours.running_mean.value, theirs.running_mean.numpy(),
                               rtol=1e-12)
    np.testing.assert_allclose(ours.running_var.value, theirs.running_var.numpy(),
                               rtol=1e-12)
    ours.eval()
    theirs.eval()
    evaluate = gc.compile([x], ours(x))
    assert ours.buffer_updates() == {}
    value = rng.standard_normal(x.shape)
    np.testing.assert_allclose(evaluate(value), theirs(torch.tensor(value)).detach().numpy(),
                               rtol=1e-12, atol=1e-12)


def test_batch_norm_inside_a_model_gives_every_buffer_update():
    model = nn.Sequential(nn.Conv2d(1, 4, 3), nn.BatchNorm2d(4), nn.ReLU(),
                          nn.Conv2d(4, 2, 3), nn.BatchNorm2d(2))
    x = gc.placeholder((2, 1, 7, 7))
    loss = gc.sum(model(x) ** 2)
    updates = model.buffer_updates()
    assert set(map(id, updates)) == set(map(id, model.buffers()))
    assert len(model.buffers()) == 4 and len(model.parameters()) == 8
    assert set(model.state_dict()) >= {"0.weight", "1.running_mean", "4.running_var"}
    opt = optim.SGD(model.parameters(), lr=0.1)
    step = gc.compile([x], loss, updates={**opt.updates(loss), **updates})
    before = model[1].running_mean.value.copy()
    step(np.random.default_rng(0).standard_normal(x.shape).astype(np.float32))
    assert not np.array_equal(before, model[1].running_mean.value)


def test_batch_norm_misuse_is_a_clear_error():
    with pytest.raises(gc.ShapeError, match="BatchNorm2d"):
        nn.BatchNorm2d(3)(gc.placeholder((2, 4, 5, 5)))
    with pytest.raises(ValueError, match="running_mean"):
        nn.batch_norm(gc.placeholder((2, 3)), None, None, training=False)
    with pytest.raises(NotImplementedError, match="padding_mode"):
        nn.Conv2d(1, 1, 3, padding_mode="reflect")

# }}}


def test_batch_norm_over_a_none_batch_matches_torch():
    ours, theirs = nn.BatchNorm2d(3), torch.nn.BatchNorm2d(3)
    x = gc.placeholder((None, 3, 4, 4))
    step = gc.compile([x], ours(x), updates=ours.buffer_updates())
    for n in (2, 5):           # one program per batch size, the statistics of each
        value = np.random.default_rng(n).standard_normal((n, 3, 4, 4)).astype(np.float32)
        np.testing.assert_allclose(step(value), theirs(torch.tensor(value)).detach().numpy(),
                                   rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(ours.running_var.value, theirs.running_var.numpy(), rtol=1e-6)
