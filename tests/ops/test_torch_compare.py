"""Every op against PyTorch (CPU, float64): the compiled forward, and the compiled
``gc.grad`` of ``sum(op(...) * w)`` against torch autograd, on fixed random inputs.

Skipped when torch is not installed. Inputs avoid kinks and ties except in the tests that
are about PyTorch's conventions there.
"""
from __future__ import annotations

import numpy as np
import pytest

import graphc as gc

torch = pytest.importorskip("torch")

F64 = np.dtype("float64")


@pytest.fixture(autouse=True)
def fp64(has_fp64):
    if not has_fp64:
        pytest.skip("device has no float64 support")


# {{{ inputs

def away_from_zero(rng, shape):
    return rng.choice([-1.0, 1.0], size=shape) * rng.uniform(0.25, 2.0, size=shape)


def distinct(rng, shape):
    n = int(np.prod(shape))
    return ((rng.permutation(n) - n / 2) * 0.3 + rng.uniform(0, 0.05, n)).reshape(shape)


DOMAINS = {
    "any": away_from_zero,
    "pos": lambda rng, shape: rng.uniform(0.5, 2.0, size=shape),
    "small": lambda rng, shape: rng.uniform(-0.4, 0.4, size=shape),
    "distinct": distinct,
    "logits": lambda rng, shape: rng.uniform(-3, 3, size=shape),
    # at least 0.2 away from the clamp bounds -1 and 1
    "bounds": lambda rng, shape: rng.choice([-1.8, -1.3, -0.6, 0.0, 0.6, 1.3, 1.8],
                                            size=shape) + rng.uniform(-0.1, 0.1, size=shape),
}

# }}}


# name: (inputs as (shape, domain), graphc function, torch function)
OPS = {
    # unary
    "neg": ([((3, 4), "any")], lambda x: -x, lambda x: -x),
    "exp": ([((3, 4), "any")], gc.exp, torch.exp),
    "log": ([((3, 4), "pos")], gc.log, torch.log),
    "sqrt": ([((3, 4), "pos")], gc.sqrt, torch.sqrt),
    "tanh": ([((3, 4), "any")], gc.tanh, torch.tanh),
    "sigmoid": ([((3, 4), "any")], gc.sigmoid, torch.sigmoid),
    "relu": ([((3, 4), "any")], gc.relu, torch.relu),
    "abs": ([((3, 4), "any")], gc.abs, torch.abs),
    "method chain": ([((3, 4), "pos")], lambda x: x.sqrt().log().tanh().sigmoid().exp(),
                     lambda x: x.sqrt().log().tanh().sigmoid().exp()),
    # binary, with broadcasting
    "add": ([((3, 4), "any"), ((4,), "any")], lambda a, b: a + b, torch.add),
    "sub": ([((3, 1), "any"), ((3, 4), "any")], lambda a, b: a - b, torch.sub),
    "mul": ([((2, 3, 4), "any"), ((3, 1), "any")], lambda a, b: a * b, torch.mul),
    "div": ([((3, 4), "any"), ((1, 4), "any")], lambda a, b: a / b, torch.div),
    "pow": ([((3, 4), "pos"), ((4,), "any")], lambda a, b: a ** b, torch.pow),
    "pow scalar exponent": ([((3, 4), "any")], lambda a: a ** 3, lambda a: a ** 3),
    "pow scalar base": ([((3, 4), "any")], lambda a: 2.0 ** a, lambda a: 2.0 ** a),
    "rdiv": ([((3, 4), "any")], lambda a: 1.5 / a, lambda a: 1.5 / a),
    "maximum": ([((3, 4), "distinct"), ((4,), "small")], gc.maximum, torch.maximum),
    "minimum": ([((3, 1), "small"), ((3, 4), "distinct")], gc.minimum, torch.minimum),
    "lt": ([((3, 4), "any"), ((4,), "any")], lambda a, b: a < b,
           lambda a, b: (a < b).to(a.dtype)),
    "le": ([((3, 4), "any"), ((3, 1), "any")], lambda a, b: a <= b,
           lambda a, b: (a <= b).to(a.dtype)),
    "gt": ([((3, 4), "any"), ((4,), "any")], lambda a, b: a > b,
           lambda a, b: (a > b).to(a.dtype)),
    "ge": ([((3, 4), "any"), ((), "any")], lambda a, b: a >= b,
           lambda a, b: (a >= b).to(a.dtype)),
    "where": ([((3, 4), "distinct"), ((4,), "small")],
              lambda a, b: gc.where(a > b, a * a, b), lambda a, b: torch.where(a > b, a * a, b)),
    "clamp min": ([((3, 4), "bounds")], lambda x: x.clamp(min=-1), lambda x: x.clamp(min=-1)),
    "clamp max": ([((3, 4), "bounds")], lambda x: x.clamp(max=1), lambda x: x.clamp(max=1)),
    "clamp both": ([((3, 4), "bounds")], lambda x: gc.clamp(x, min=-1, max=1),
                   lambda x: torch.clamp(x, min=-1, max=1)),
    # reductions
    "sum": ([((2, 3, 4), "any")], lambda x: x.sum(), lambda x: x.sum()),
    "sum axis": ([((2, 3, 4), "any")], lambda x: x.sum(1), lambda x: x.sum(1)),
    "sum dim keepdim": ([((2, 3, 4), "any")], lambda x: x.sum(dim=-1, keepdim=True),
                        lambda x: x.sum(dim=-1, keepdim=True)),
    "sum tuple": ([((2, 3, 4), "any")], lambda x: gc.sum(x, axis=(0, 2)),
                  lambda x: x.sum(dim=(0, 2))),
    "mean": ([((2, 3, 4), "any")], lambda x: x.mean(), lambda x: x.mean()),
    "mean axis keepdims": ([((2, 3, 4), "any")], lambda x: x.mean(axis=-2, keepdims=True),
                           lambda x: x.mean(dim=-2, keepdim=True)),
    "mean tuple": ([((2, 3, 4), "any")], lambda x: x.mean(dim=(1, 2)),
                   lambda x: x.mean(dim=(1, 2))),
    "max": ([((2, 3, 4), "distinct")], lambda x: x.max(), lambda x: x.max()),
    "max dim": ([((2, 3, 4), "distinct")], lambda x: x.max(dim=1),
                lambda x: x.max(dim=1).values),
    "max dim keepdim": ([((2, 3, 4), "distinct")], lambda x: gc.max(x, axis=-1, keepdims=True),
                        lambda x: x.max(dim=-1, keepdim=True).values),
    "max tuple": ([((2, 3, 4), "distinct")], lambda x: x.max(axis=(0, 2)),
                  lambda x: x.amax(dim=(0, 2))),
    "min": ([((2, 3, 4), "distinct")], lambda x: x.min(), lambda x: x.min()),
    "min dim": ([((2, 3, 4), "distinct")], lambda x: gc.min(x, dim=0),
                lambda x: x.min(dim=0).values),
    "min tuple keepdim": ([((2, 3, 4), "distinct")],
                          lambda x: x.min(dim=(1, 2), keepdim=True),
                          lambda x: x.amin(dim=(1, 2), keepdim=True)),
    # views
    "reshape -1": ([((2, 3, 4), "any")], lambda x: x.reshape(-1), lambda x: x.reshape(-1)),
    "reshape 4,-1": ([((2, 3, 4), "any")], lambda x: x.reshape(4, -1),
                     lambda x: x.reshape(4, -1)),
    "view": ([((2, 3, 4), "any")], lambda x: x.view(6, 4), lambda x: x.view(6, 4)),
    "transpose swap": ([((2, 3, 4), "any")], lambda x: x.transpose(0, 2),
                       lambda x: x.transpose(0, 2)),
    "transpose negative": ([((2, 3, 4), "any")], lambda x: x.transpose(-1, -2),
                           lambda x: x.transpose(-1, -2)),
    "transpose numpy": ([((2, 3, 4), "any")], lambda x: x.transpose((1, 2, 0)),
                        lambda x: x.permute(1, 2, 0)),
    "transpose reverse": ([((2, 3, 4), "any")], lambda x: x.transpose(),
                          lambda x: x.permute(2, 1, 0)),
    "permute": ([((2, 3, 4), "any")], lambda x: x.permute(2, 0, 1),
                lambda x: x.permute(2, 0, 1)),
    "t": ([((3, 4), "any")], lambda x: x.t(), lambda x: x.t()),
    "T": ([((3, 4), "any")], lambda x: x.T, lambda x: x.T),
    "broadcast_to": ([((3, 1), "any")], lambda x: x.broadcast_to((2, 3, 4)),
                     lambda x: x.broadcast_to((2, 3, 4))),
    "view of computed": ([((3, 4), "any")], lambda x: (x * x).T.reshape(2, 6),
                         lambda x: (x * x).T.reshape(2, 6)),
    # matmul
    "mm": ([((3, 4), "any"), ((4, 5), "any")], lambda a, b: a.mm(b), torch.mm),
    "matmul 2-D": ([((3, 4), "any"), ((4, 5), "any")], lambda a, b: a @ b, torch.matmul),
    "matmul batched": ([((2, 1, 3, 4), "any"), ((5, 4, 2), "any")], gc.matmul, torch.matmul),
    "matmul batched @ 2-D": ([((2, 3, 4), "any"), ((4, 5), "any")], lambda a, b: a @ b,
                             torch.matmul),
    "matmul 1-D @ 2-D": ([((4,), "any"), ((4, 5), "any")], lambda a, b: a @ b, torch.matmul),
    "matmul 2-D @ 1-D": ([((3, 4), "any"), ((4,), "any")], lambda a, b: a.matmul(b),
                         torch.matmul),
    "matmul 1-D @ 1-D": ([((4,), "any"), ((4,), "any")], lambda a, b: a @ b, torch.matmul),
    "matmul transposed": ([((4, 3), "any"), ((5, 4), "any")], lambda a, b: a.T @ b.T,
                          lambda a, b: a.T @ b.T),
    # softmax family
    "softmax": ([((3, 4), "logits")], lambda x: gc.softmax(x, 1),
                lambda x: torch.softmax(x, 1)),
    "softmax dim 0": ([((2, 3, 4), "logits")], lambda x: x.softmax(dim=0),
                      lambda x: torch.softmax(x, dim=0)),
    "log_softmax": ([((3, 4), "logits")], lambda x: gc.log_softmax(x, dim=-1),
                    lambda x: torch.log_softmax(x, dim=-1)),
    "log_softmax axis 1": ([((2, 3, 4), "logits")], lambda x: x.log_softmax(1),
                           lambda x: torch.log_softmax(x, 1)),
    "logsumexp": ([((3, 4), "logits")], lambda x: gc.logsumexp(x, axis=1),
                  lambda x: torch.logsumexp(x, dim=1)),
    "logsumexp keepdim": ([((2, 3, 4), "logits")],
                          lambda x: x.logsumexp(dim=-1, keepdim=True),
                          lambda x: torch.logsumexp(x, dim=-1, keepdim=True)),
    "logsumexp all": ([((3, 4), "logits")], lambda x: gc.logsumexp(x),
                      lambda x: torch.logsumexp(x, dim=(0, 1))),
    "logsumexp tuple": ([((2, 3, 4), "logits")], lambda x: gc.logsumexp(x, (0, 2)),
                        lambda x: torch.logsumexp(x, dim=(0, 2))),
    "softmax large logits": ([((3, 4), "logits")], lambda x: gc.softmax(x * 300.0, 1),
                             lambda x: torch.softmax(x * 300.0, 1)),
    # naive formulas, which graphc rewrites into stable ones as it builds them
    "naive softplus": ([((3, 4), "logits")], lambda x: gc.log(1 + gc.exp(x * 100.0)),
                       lambda x: torch.nn.functional.softplus(x * 100.0)),
    "naive log_softmax": ([((3, 4), "logits")],
                          lambda x: gc.log(gc.exp(x * 100.0) / gc.exp(x * 100.0)
                                           .sum(1, keepdims=True)),
                          lambda x: torch.log_softmax(x * 100.0, 1)),
    # a small network, as in the seed
    "two layer net": ([((5, 4), "any"), ((4, 3), "any"), ((3, 2), "any")],
                      lambda x, w1, w2: (x.mm(w1).clamp(min=0).mm(w2) - 1.0) ** 2,
                      lambda x, w1, w2: (x.mm(w1).clamp(min=0).mm(w2) - 1.0) ** 2),
}


def compare(name, specs, g_fn, t_fn, values=None, seed=0):
    """Forward and gradient of sum(op(...) * w), compiled graphc vs torch autograd."""
    rng = np.random.default_rng(seed)
    if values is None:
        values = [np.asarray(DOMAINS[domain](rng, shape), dtype=F64)
                  for shape, domain in specs]
    inputs = [gc.placeholder(v.shape, "float64", name=f"in{i}") for i, v in enumerate(values)]
    out = g_fn(*inputs)
    W = np.asarray(rng.standard_normal(out.shape))
    grads = gc.grad((out * gc.constant(W)).sum(), inputs)
    got = gc.compile(inputs, [out] + grads)(*values)

    tensors = [torch.tensor(v, dtype=torch.float64, requires_grad=True) for v in values]
    t_out = t_fn(*tensors)
    if t_out.requires_grad:
        (t_out * torch.tensor(W)).sum().backward()
    want = [t_out.detach().numpy()] + [
        np.zeros(v.shape) if t.grad is None else t.grad.numpy()
        for v, t in zip(values, tensors)]
    labels = ["forward"] + [f"grad wrt input {i}" for i in range(len(inputs))]
    for label, g, w in zip(labels, got, want):
        assert g.shape == w.shape, f"{name} {label}: shape {g.shape}, torch {w.shape}"
        scale = max(1.0, float(np.max(np.abs(w)))) if w.size else 1.0
        np.testing.assert_allclose(g, w, rtol=1e-10, atol=1e-11 * scale,
                                   err_msg=f"{name} {label}: graphc vs torch")


@pytest.mark.parametrize("name", list(OPS))
def test_op_matches_torch(name):
    specs, g_fn, t_fn = OPS[name]
    compare(name, specs, g_fn, t_fn)


# {{{ conventions at kinks and ties, compared with torch

def test_relu_and_abs_at_zero_match_torch():
    x = np.array([[-1.0, 0.0, 2.0], [0.0, 0.5, -0.0]])
    compare("relu at 0", None, gc.relu, torch.relu, values=[x])
    compare("abs at 0", None, gc.abs, torch.abs, values=[x])


def test_max_along_a_dim_with_ties_matches_torch():
    """torch.max(x, dim) sends the gradient to the index it returns: the first maximum."""
    x = np.array([[1.0, 3.0, 3.0], [5.0, 5.0, 0.0]])
    compare("max dim ties", None, lambda t: t.max(dim=1), lambda t: t.max(dim=1).values,
            values=[x])
    compare("min dim ties", None, lambda t: t.min(dim=0), lambda t: t.min(dim=0).values,
            values=[np.array([[1.0, 0.0], [1.0, 0.0]])])


def test_maximum_and_minimum_at_ties_match_torch():
    a = np.array([1.0, 2.0, 3.0])
    b = np.array([2.0, 2.0, 2.0])
    compare("maximum ties", None, gc.maximum, torch.maximum, values=[a, b])
    compare("minimum ties", None, gc.minimum, torch.minimum, values=[a, b])

# }}}
