"""One table-driven test of every elementwise op (as JAX's lax_autodiff_test): each entry
names the op, its numpy reference, its torch twin, the domain its inputs are drawn from
and whether it has a gradient. Every op is compared with numpy through gc.evaluate and
compiled (all ops of a dtype in one function, forward and gradients), with torch where
installed, and its gradient with central differences in float64."""
from __future__ import annotations

import dataclasses
import math
from typing import Callable, Optional

import numpy as np
import pytest
from hypothesis import given, strategies as st
from hypothesis.extra.numpy import mutually_broadcastable_shapes

import graphc as gc

try:
    import torch
    import torch.nn.functional as F
except ImportError:   # torch is an optional comparison
    torch = F = None

SHAPE = (6, 16)


def _erf(x):
    return np.vectorize(math.erf, otypes=[np.float64])(x)


def _gelu_tanh(x):
    return 0.5 * x * (1 + np.tanh(np.sqrt(2 / np.pi) * (x + 0.044715 * x ** 3)))


DOMAINS = {
    "real": lambda r, s: r.uniform(-3, 3, s),
    "positive": lambda r, s: r.uniform(0.2, 3, s),
    "unit": lambda r, s: r.uniform(-0.9, 0.9, s),
    "above1": lambda r, s: r.uniform(1.2, 3, s),
    # away from the kinks and jumps at integers and at 0, where the derivative is not
    # defined (central differences straddle them)
    "offgrid": lambda r, s: r.integers(-3, 3, s) + r.uniform(0.15, 0.85, s),
}


@dataclasses.dataclass(frozen=True)
class Op:
    name: str
    fn: Callable                 # graphc: tensors -> tensor
    ref: Callable                # numpy: arrays -> array
    torch: Optional[Callable] = None
    domain: str = "real"
    arity: int = 1
    grad: bool = True

    def __repr__(self) -> str:
        return self.name


def T(name: str):
    """torch's function of that name, looked up when torch is installed."""
    return (lambda *a: getattr(torch, name)(*a)) if torch is not None else None


def TF(name: str, **kw):
    return (lambda *a: getattr(F, name)(*a, **kw)) if F is not None else None


OPS = [
    Op("exp", gc.exp, np.exp, T("exp")),
    Op("exp2", gc.exp2, np.exp2, T("exp2")),
    Op("expm1", gc.expm1, np.expm1, T("expm1")),
    Op("log", gc.log, np.log, T("log"), "positive"),
    Op("log2", gc.log2, np.log2, T("log2"), "positive"),
    Op("log10", gc.log10, np.log10, T("log10"), "positive"),
    Op("log1p", gc.log1p, np.log1p, T("log1p"), "positive"),
    Op("sqrt", gc.sqrt, np.sqrt, T("sqrt"), "positive"),
    Op("rsqrt", gc.rsqrt, lambda x: 1 / np.sqrt(x), T("rsqrt"), "positive"),
    Op("square", gc.square, np.square, T("square")),
    Op("reciprocal", gc.reciprocal, np.reciprocal, T("reciprocal"), "positive"),
    Op("sin", gc.sin, np.sin, T("sin")),
    Op("cos", gc.cos, np.cos, T("cos")),
    Op("tan", gc.tan, np.tan, T("tan"), "unit"),
    Op("arcsin", gc.arcsin, np.arcsin, T("arcsin"), "unit"),
    Op("arccos", gc.arccos, np.arccos, T("arccos"), "unit"),
    Op("arctan", gc.arctan, np.arctan, T("arctan")),
    Op("sinh", gc.sinh, np.sinh, T("sinh")),
    Op("cosh", gc.cosh, np.cosh, T("cosh")),
    Op("tanh", gc.tanh, np.tanh, T("tanh")),
    Op("arcsinh", gc.arcsinh, np.arcsinh, T("arcsinh")),
    Op("arccosh", gc.arccosh, np.arccosh, T("arccosh"), "above1"),
    Op("arctanh", gc.arctanh, np.arctanh, T("arctanh"), "unit"),
    Op("erf", gc.erf, _erf, T("erf")),
    Op("erfc", gc.erfc, lambda x: 1 - _erf(x), T("erfc")),
    Op("sigmoid", gc.sigmoid, lambda x: 1 / (1 + np.exp(-x)), T("sigmoid")),
    Op("logsigmoid", gc.logsigmoid, lambda x: -np.logaddexp(0, -x), TF("logsigmoid")),
    Op("softplus", gc.softplus, lambda x: np.logaddexp(0, x), TF("softplus")),
    Op("relu", gc.relu, lambda x: np.maximum(x, 0), T("relu"), "offgrid"),
    Op("leaky_relu", lambda x: gc.leaky_relu(x, 0.1), lambda x: np.where(x > 0, x, 0.1 * x),
       TF("leaky_relu", negative_slope=0.1), "offgrid"),
    Op("elu", gc.elu, lambda x: np.where(x > 0, x, np.expm1(x)), TF("elu"), "offgrid"),
    Op("selu", gc.selu, lambda x: 1.0507009873554805 * np.where(
        x > 0, x, 1.6732632423543772 * np.expm1(x)), TF("selu"), "offgrid"),
    Op("gelu", gc.gelu, lambda x: x * (1 + _erf(x / np.sqrt(2))) / 2, TF("gelu")),
    Op("gelu_tanh", lambda x: gc.gelu(x, approximate="tanh"), _gelu_tanh,
       TF("gelu", approximate="tanh")),
    Op("silu", gc.silu, lambda x: x / (1 + np.exp(-x)), TF("silu")),
    Op("mish", gc.mish, lambda x: x * np.tanh(np.logaddexp(0, x)), TF("mish")),
    Op("hardtanh", gc.hardtanh, lambda x: np.clip(x, -1, 1), TF("hardtanh"), "offgrid"),
    Op("abs", gc.abs, np.abs, T("abs"), "offgrid"),
    Op("sign", gc.sign, np.sign, T("sign"), "offgrid"),
    Op("floor", gc.floor, np.floor, T("floor"), "offgrid"),
    Op("ceil", gc.ceil, np.ceil, T("ceil"), "offgrid"),
    Op("round", gc.round, np.rint, T("round"), "offgrid"),
    Op("trunc", gc.trunc, np.trunc, T("trunc"), "offgrid"),
    Op("neg", gc.neg, np.negative, T("neg")),
    Op("add", gc.add, np.add, T("add"), arity=2),
    Op("sub", gc.sub, np.subtract, T("sub"), arity=2),
    Op("mul", gc.mul, np.multiply, T("mul"), arity=2),
    Op("div", gc.div, np.divide, T("div"), "positive", arity=2),
    Op("pow", gc.pow, np.power, T("pow"), "positive", arity=2),
    Op("maximum", gc.maximum, np.maximum, T("maximum"), arity=2),
    Op("minimum", gc.minimum, np.minimum, T("minimum"), arity=2),
    Op("arctan2", gc.arctan2, np.arctan2, T("atan2"), "positive", arity=2),
]
BY_NAME = {op.name: op for op in OPS}


def _inputs(op: Op, dtype, seed: int = 0) -> list:
    rng = np.random.default_rng(seed)
    return [DOMAINS[op.domain](rng, SHAPE).astype(dtype) for _ in range(op.arity)]


def _tolerance(dtype) -> dict:
    return {"rtol": 2e-5, "atol": 2e-6} if dtype == np.float32 else {"rtol": 1e-12,
                                                                     "atol": 1e-13}


@pytest.mark.parametrize("op", OPS, ids=repr)
def test_reference_matches_numpy(op):
    values = _inputs(op, np.float64)
    xs = [gc.placeholder(SHAPE, "float64", name=f"x{i}") for i in range(op.arity)]
    got = gc.evaluate(op.fn(*xs), dict(zip(xs, values)))
    np.testing.assert_allclose(got, op.ref(*values), rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("op", [op for op in OPS if op.grad], ids=repr)
def test_gradient_matches_central_differences(op):
    values = _inputs(op, np.float64, seed=1)
    xs = [gc.placeholder(SHAPE, "float64", name=f"x{i}") for i in range(op.arity)]
    weights = np.random.default_rng(2).standard_normal(SHAPE)
    gc.check_grad(gc.sum(op.fn(*xs) * weights), xs, dict(zip(xs, values)))


def test_every_op_compiled_with_its_gradient(dtype):
    """All ops of the table in one compiled function: forward and gradient, each
    against gc.evaluate (the elementwise ones of a shape fuse into few kernels)."""
    feeds, outputs, names = {}, [], []
    weights = np.random.default_rng(3).standard_normal(SHAPE).astype(dtype)
    for op in OPS:
        xs = [gc.placeholder(SHAPE, dtype, name=f"{op.name}{i}") for i in range(op.arity)]
        feeds.update(zip(xs, _inputs(op, dtype)))
        y = op.fn(*xs)
        outputs.append(y)
        names.append(op.name)
        for i, g in enumerate(gc.grad(gc.sum(y * weights), xs)):
            outputs.append(g)
            names.append(f"d{op.name}/dx{i}")
    fn = gc.compile(list(feeds), outputs)
    got = fn(*feeds.values())
    want = gc.evaluate(outputs, feeds)
    for name, a, b in zip(names, got, want):
        np.testing.assert_allclose(a, b, err_msg=name, **_tolerance(dtype))
    assert len(fn.kernels) <= 8, fn.describe()


@pytest.mark.skipif(torch is None, reason="torch is not installed")
@pytest.mark.parametrize("op", [op for op in OPS if op.torch is not None], ids=repr)
def test_matches_torch_forward_and_backward(op):
    values = _inputs(op, np.float64, seed=4)
    xs = [gc.placeholder(SHAPE, "float64", name=f"x{i}") for i in range(op.arity)]
    y = op.fn(*xs)
    grads = gc.grad(gc.sum(y), xs)
    got = gc.evaluate([y] + grads, dict(zip(xs, values)))
    ts = [torch.tensor(v, requires_grad=True) for v in values]
    out = op.torch(*ts)
    out.sum().backward()
    np.testing.assert_allclose(got[0], out.detach().numpy(), rtol=1e-10, atol=1e-12)
    for g, t in zip(got[1:], ts):
        np.testing.assert_allclose(g, t.grad.numpy(), rtol=1e-9, atol=1e-12, err_msg=op.name)


@given(mutually_broadcastable_shapes(num_shapes=2, min_dims=0, max_dims=3, max_side=4),
       st.sampled_from([op for op in OPS if op.arity == 2]))
def test_binary_ops_broadcast_as_numpy(shapes, op):
    a_shape, b_shape = shapes.input_shapes
    rng = np.random.default_rng(5)
    a = DOMAINS[op.domain](rng, a_shape)
    b = DOMAINS[op.domain](rng, b_shape)
    x, y = gc.placeholder(a_shape, "float64", name="a"), gc.placeholder(b_shape, "float64",
                                                                         name="b")
    out = op.fn(x, y)
    assert out.shape == shapes.result_shape
    np.testing.assert_allclose(gc.evaluate(out, {x: a, y: b}), op.ref(a, b), rtol=1e-12)
    gx, gy = gc.grad(gc.sum(out), [x, y])
    assert gx.shape == a_shape and gy.shape == b_shape


def test_user_elementwise_op_is_fused_and_differentiated(dtype):
    import sympy as sp
    x = gc.placeholder(SHAPE, dtype, name="x")
    w = gc.placeholder(SHAPE, dtype, name="w")
    y = gc.elementwise(lambda a, b: sp.exp(-a ** 2) * sp.sin(b) + a, x, w)
    g = gc.grad(gc.sum(y), [x, w])
    xs, ws = _inputs(BY_NAME["sin"], dtype), _inputs(BY_NAME["cos"], dtype, seed=9)
    fn = gc.compile([x, w], [y] + g)
    got = fn(xs[0], ws[0])
    np.testing.assert_allclose(got[0], np.exp(-xs[0] ** 2) * np.sin(ws[0]) + xs[0],
                               **_tolerance(dtype))
    np.testing.assert_allclose(got[1], -2 * xs[0] * np.exp(-xs[0] ** 2) * np.sin(ws[0]) + 1,
                               rtol=1e-4 if dtype == np.float32 else 1e-10, atol=1e-5)
    np.testing.assert_allclose(got[2], np.exp(-xs[0] ** 2) * np.cos(ws[0]),
                               rtol=1e-4 if dtype == np.float32 else 1e-10, atol=1e-5)
    assert len(fn.kernels) == 1
    with pytest.raises(TypeError, match="takes 2 arguments but 1"):
        gc.elementwise(lambda a, b: a + b, x)
    with pytest.raises(ValueError, match="not its arguments"):
        gc.elementwise(lambda a: a + sp.Symbol("z"), x)
