"""The reductions built on sum, max and prod (amax amin prod var std norm all any): a table
of cases, each against torch forward and backward in both float dtypes, all compiled in one
function against gc.evaluate, gradients against central differences in float64, hypothesis
shapes and axes against numpy, and the edge cases: ties, zeros in a product, corrections."""
from __future__ import annotations

import dataclasses
from typing import Callable, Optional

import numpy as np
import pytest
from hypothesis import given, strategies as st
from hypothesis.extra.numpy import array_shapes

import graphc as gc

try:
    import torch
except ImportError:   # torch is an optional comparison
    torch = None

SHAPE = (3, 4, 5)
INF = float("inf")


@dataclasses.dataclass(frozen=True)
class Case:
    name: str
    fn: Callable                      # graphc: tensor -> tensor
    torch: Optional[Callable]         # torch: tensor -> tensor
    grad: bool = True

    def __repr__(self) -> str:
        return self.name


def _t(fn: Callable) -> Optional[Callable]:
    return fn if torch is not None else None


CASES = [
    Case("amax_dim1", lambda x: gc.amax(x, 1), _t(lambda x: torch.amax(x, 1))),
    Case("amax_dims_keepdim", lambda x: gc.amax(x, dim=(0, 2), keepdim=True),
         _t(lambda x: torch.amax(x, dim=(0, 2), keepdim=True))),
    Case("amax_all", lambda x: x.amax(), _t(lambda x: torch.amax(x))),
    Case("amin_dim0", lambda x: gc.amin(x, axis=0), _t(lambda x: torch.amin(x, 0))),
    Case("amin_neg_keepdims", lambda x: x.amin(-1, keepdims=True),
         _t(lambda x: torch.amin(x, -1, keepdim=True))),
    Case("prod_dim1", lambda x: gc.prod(x, dim=1), _t(lambda x: torch.prod(x, 1))),
    Case("prod_all", lambda x: x.prod(), _t(lambda x: torch.prod(x))),
    Case("var_dim1", lambda x: gc.var(x, 1), _t(lambda x: torch.var(x, 1))),
    Case("var_corr0", lambda x: gc.var(x, dim=(0, 1), correction=0),
         _t(lambda x: torch.var(x, dim=(0, 1), correction=0))),
    Case("var_corr2_keepdim", lambda x: x.var(2, correction=2, keepdim=True),
         _t(lambda x: torch.var(x, 2, correction=2, keepdim=True))),
    Case("var_unbiased_false", lambda x: gc.var(x, 0, False),
         _t(lambda x: torch.var(x, 0, False))),
    Case("var_all", lambda x: gc.var(x), _t(lambda x: torch.var(x))),
    Case("std_dim_neg", lambda x: x.std(-1, keepdim=True),
         _t(lambda x: torch.std(x, -1, keepdim=True))),
    Case("std_all_ddof0", lambda x: gc.std(x, ddof=0), _t(lambda x: torch.std(x, correction=0))),
    Case("norm2_all", lambda x: gc.norm(x), _t(lambda x: torch.norm(x))),
    Case("norm_fro_dim1", lambda x: x.norm("fro", 1), _t(lambda x: torch.norm(x, "fro", 1))),
    Case("norm1_dim0", lambda x: gc.norm(x, 1, 0), _t(lambda x: torch.norm(x, 1, 0))),
    Case("norm_inf_dim1", lambda x: gc.norm(x, INF, 1), _t(lambda x: torch.norm(x, INF, 1))),
    Case("norm_neginf_keep", lambda x: gc.norm(x, -INF, (1, 2), True),
         _t(lambda x: torch.norm(x, -INF, (1, 2), True))),
    Case("norm3_dims", lambda x: gc.norm(x, 3, dim=(1, 2)),
         _t(lambda x: torch.norm(x, 3, dim=(1, 2)))),
    Case("norm_half_dim1", lambda x: gc.norm(x, 0.5, 1), _t(lambda x: torch.norm(x, 0.5, 1))),
    Case("norm0_dim2", lambda x: gc.norm(x, 0, 2), _t(lambda x: torch.norm(x, 0, 2)),
         grad=False),
    Case("any_float_dim1", lambda x: gc.any(x > 1.5, 1), _t(lambda x: torch.any(x > 1.5, 1)),
         grad=False),
    Case("all_float_dim2", lambda x: gc.all(x, 2), _t(lambda x: torch.all(x, 2)), grad=False),
    Case("all_bool_keepdim", lambda x: (x > -1.5).all(dim=0, keepdim=True),
         _t(lambda x: (x > -1.5).all(dim=0, keepdim=True)), grad=False),
    Case("any_all", lambda x: (x > 1.9).any(), _t(lambda x: (x > 1.9).any()), grad=False),
]


def _data(dtype, seed: int = 0) -> np.ndarray:
    # magnitudes in [0.3, 2): no ties, no zeros, no kinks of |x| within a difference step
    rng = np.random.default_rng(seed)
    return (rng.uniform(0.3, 2.0, SHAPE) * rng.choice([-1, 1], SHAPE)).astype(dtype)


def _tolerance(dtype) -> dict:
    return ({"rtol": 1e-4, "atol": 1e-5} if dtype == np.float32 else
            {"rtol": 1e-10, "atol": 1e-12})


@pytest.mark.skipif(torch is None, reason="torch is not installed")
@pytest.mark.parametrize("dt", [np.float32, np.float64], ids=["float32", "float64"])
@pytest.mark.parametrize("case", CASES, ids=repr)
def test_matches_torch_forward_and_backward(case, dt):
    value = _data(dt, seed=1)
    x = gc.placeholder(SHAPE, dt, name="x")
    y = case.fn(x)
    xt = torch.tensor(value, requires_grad=case.grad)
    want = case.torch(xt)
    assert y.shape == tuple(want.shape)
    outputs = [y]
    if case.grad:
        weights = np.random.default_rng(2).standard_normal(y.shape).astype(dt)
        outputs += [gc.grad(gc.sum(y * weights), x)]
        (want * torch.tensor(weights)).sum().backward()
    got = gc.evaluate(outputs, {x: value})
    np.testing.assert_allclose(got[0], want.detach().numpy(), **_tolerance(dt))
    if case.grad:
        np.testing.assert_allclose(got[1], xt.grad.numpy(), err_msg=case.name,
                                   **_tolerance(dt))


@pytest.mark.parametrize("case", [c for c in CASES if c.grad], ids=repr)
def test_gradient_matches_central_differences(case):
    x = gc.placeholder(SHAPE, "float64", name="x")
    y = case.fn(x)
    weights = np.random.default_rng(3).standard_normal(y.shape)
    gc.check_grad(gc.sum(y * weights), x, {x: _data(np.float64, seed=4)})


def test_every_case_compiled_with_its_gradient(dtype):
    """All cases in one compiled function, forward and gradient, against gc.evaluate."""
    x = gc.placeholder(SHAPE, dtype, name="x")
    outputs, names = [], []
    for case in CASES:
        y = case.fn(x)
        outputs.append(y)
        names.append(case.name)
        if case.grad:
            outputs.append(gc.grad(gc.sum(y * y), x))
            names.append(f"d{case.name}")
    value = _data(dtype, seed=5)
    fn = gc.compile([x], outputs)
    got = fn(value)
    want = gc.evaluate(outputs, {x: value})
    for name, a, b in zip(names, got, want):
        assert a.dtype == b.dtype and a.shape == b.shape, name
        np.testing.assert_allclose(a, b, err_msg=name, **_tolerance(dtype))


@pytest.mark.skipif(torch is None, reason="torch is not installed")
def test_ties_amax_splits_max_takes_first(dtype):
    value = np.array([[1, 3, 3, 0], [2, 2, 2, 2], [-1, 5, 4, 5]], dtype)
    x = gc.placeholder(value.shape, dtype, name="x")
    outputs = [gc.grad(gc.sum(f(x, 1)), x) for f in (gc.amax, gc.amin, gc.max)]
    outputs.append(gc.grad(gc.norm(x, INF), x))
    fn = gc.compile([x], outputs)
    want = []
    for f in (lambda t: torch.amax(t, 1), lambda t: torch.amin(t, 1),
              lambda t: torch.max(t, 1).values, lambda t: torch.norm(t, INF)):
        t = torch.tensor(value, requires_grad=True)
        f(t).sum().backward()
        want.append(t.grad.numpy())
    for got in (fn(value), gc.evaluate(outputs, {x: value})):
        for a, b in zip(got, want):
            np.testing.assert_allclose(a, b, rtol=1e-6)
    np.testing.assert_array_equal(want[0][1], [0.25] * 4)


@pytest.mark.skipif(torch is None, reason="torch is not installed")
def test_prod_gradient_with_zeros_is_torchs(dtype):
    # rows with no zero, one zero, two zeros, all zeros
    value = np.array([[1.5, -2, 3, 0.5], [2, 0, -3, 4], [0, 1, 0, 2], [0, 0, 0, 0]], dtype)
    x = gc.placeholder(value.shape, dtype, name="x")
    weights = np.arange(1, 5, dtype=dtype)
    outputs = [gc.prod(x, 1), gc.grad(gc.sum(gc.prod(x, 1) * weights), x),
               gc.grad(gc.prod(x), x), gc.grad(gc.sum(gc.prod(x, 0)), x)]
    fn = gc.compile([x], outputs)
    t = torch.tensor(value, requires_grad=True)
    want = [torch.prod(t, 1).detach().numpy()]
    for f in (lambda t: (torch.prod(t, 1) * torch.tensor(weights)).sum(),
              lambda t: torch.prod(t), lambda t: torch.prod(t, 0).sum()):
        t = torch.tensor(value, requires_grad=True)
        f(t).backward()
        want.append(t.grad.numpy())
    for got in (fn(value), gc.evaluate(outputs, {x: value})):
        for a, b in zip(got, want):
            np.testing.assert_allclose(a, b, rtol=1e-6)


def test_all_any_results_are_bool_with_no_gradient():
    x = gc.placeholder((2, 3), "float32", name="x")
    value = np.array([[0, 1, 2], [0, 0, 0]], np.float32)
    outputs = [gc.all(x), gc.any(x), gc.all(x, 1), gc.any(x, 1), x.any(dim=0, keepdim=True),
               gc.all(x != 0, 0)]
    got = gc.compile([x], outputs)(value)
    want = [np.all(value), np.any(value), np.all(value, 1), np.any(value, 1),
            np.any(value, 0, keepdims=True), np.all(value, 0)]
    for a, b in zip(got, want):
        assert a.dtype == np.bool_
        np.testing.assert_array_equal(a, b)
    assert gc.grad(gc.sum(gc.where(gc.any(x, 1, keepdims=True), x, 0)), x).shape == (2, 3)


def test_var_argument_errors_and_small_counts():
    x = gc.placeholder((2, 1), "float64", name="x")
    with pytest.raises(ValueError, match="var: give one of"):
        gc.var(x, 0, True, correction=1)
    # one element with correction 1: torch gives nan (0 / 0)
    got = gc.evaluate(gc.var(x, 1), {x: np.ones((2, 1))})
    assert np.isnan(got).all()
    with pytest.raises(ValueError, match="norm: p must"):
        gc.norm(x, -1)


@given(array_shapes(min_dims=1, max_dims=4, max_side=4), st.data())
def test_hypothesis_shapes_and_axes_match_numpy(shape, data):
    ndim = len(shape)
    axes = data.draw(st.one_of(st.none(), st.lists(st.integers(-ndim, ndim - 1), min_size=1,
                                                   max_size=ndim, unique_by=lambda a: a % ndim)
                               .map(tuple)))
    keep = data.draw(st.booleans())
    rng = np.random.default_rng(6)
    value = rng.uniform(0.5, 1.5, shape) * rng.choice([-1, 1], shape)
    x = gc.placeholder(shape, "float64", name="x")
    n = int(np.prod([shape[a] for a in (axes if axes is not None else range(ndim))]))
    cases = [(gc.amax, np.amax), (gc.amin, np.amin), (gc.prod, np.prod),
             (gc.all, lambda v, **k: np.all(v > 0, **k)), (gc.any, lambda v, **k: np.any(
                 v > 0, **k))]
    outputs = [f(x if f not in (gc.all, gc.any) else x > 0, axes, keep) for f, _ in cases]
    wants = [r(value, axis=axes, keepdims=keep) for _, r in cases]
    if n > 1:
        outputs.append(gc.var(x, axes, keepdims=keep, correction=1))
        wants.append(np.var(value, axis=axes, keepdims=keep, ddof=1))
    outputs.append(gc.norm(x, 3, axes, keep))
    wants.append(np.sum(np.abs(value) ** 3, axis=axes, keepdims=keep) ** (1 / 3))
    for got, want in zip(gc.evaluate(outputs, {x: value}), wants):
        assert got.shape == np.shape(want)
        np.testing.assert_allclose(got, want, rtol=1e-12)
    for out in outputs:
        if out.dtype != np.bool_:
            assert gc.grad(gc.sum(out), x).shape == shape



@pytest.mark.skipif(torch is None, reason="torch is not installed")
def test_norm_and_std_gradients_are_zero_at_zero_as_torchs():
    value = np.array([[0, 0, 0], [1.5, -2, 0.5], [2, 2, 2]])
    x = gc.placeholder(value.shape, "float64", name="x")
    fns = [(lambda v: gc.norm(v, dim=1), lambda v: torch.norm(v, dim=1)),
           (lambda v: gc.norm(v, 3, 1), lambda v: torch.norm(v, 3, 1)),
           (lambda v: gc.norm(v, INF, 1), lambda v: torch.norm(v, INF, 1)),
           (lambda v: gc.std(v, 1), lambda v: torch.std(v, 1))]
    outputs = []
    for f, _ in fns:
        outputs += [f(x), gc.grad(gc.sum(f(x)), x)]
    got = gc.compile([x], outputs)(value)
    for k, (_, ref) in enumerate(fns):
        t = torch.tensor(value, requires_grad=True)
        want = ref(t)
        want.sum().backward()
        np.testing.assert_allclose(got[2 * k], want.detach().numpy(), rtol=1e-12, err_msg=k)
        np.testing.assert_allclose(got[2 * k + 1], t.grad.numpy(), rtol=1e-12, err_msg=k)
