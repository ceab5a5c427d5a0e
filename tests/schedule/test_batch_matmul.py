"""A batched activation times a shared weight is one matmul in both directions: the
product and the input's gradient over the rows of every batch item
(``shared_matrices_into_rows``), the weight's gradient over the merged batch and rows
(``batch_sums_into_matmul``), not a product per batch item and a sum; values and
gradients equal gc.evaluate's and torch's."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, strategies as st

import graphc as gc
from graphc.graph import Op, toposort
from graphc import rewrite
from graphc.rewrite import batch_sums_into_matmul, shared_matrices_into_rows

rng = np.random.default_rng(0)


def grads_of(x_shape, w_shape, transposed=False, dtype=np.float64):
    x = gc.placeholder(x_shape, dtype, name="x")
    w = gc.parameter(rng.standard_normal(w_shape).astype(dtype), name="w")
    a = x.transpose(-1, -2) if transposed else x
    loss = (gc.tanh(a @ w) ** 2).sum()
    return x, w, loss, gc.grad(loss, [x, w])


def torch_grads(data, w0, transposed):
    torch = pytest.importorskip("torch")
    xt = torch.tensor(data, requires_grad=True)
    wt = torch.tensor(w0, requires_grad=True)
    a = xt.transpose(-1, -2) if transposed else xt
    loss = (torch.tanh(a @ wt) ** 2).sum()
    loss.backward()
    return loss.item(), xt.grad.numpy(), wt.grad.numpy()


def test_the_weight_gradient_is_one_matmul_with_the_batch_in_its_contraction(monkeypatch):
    x, w, loss, (gx, gw) = grads_of((4, 8, 16), (16, 5))
    (rewritten,) = batch_sums_into_matmul([gw])
    nodes = toposort([rewritten])
    products = [n for n in nodes if n.op is Op.MATMUL and n.shape == (16, 5)]
    assert len(products) == 1 and products[0].src[0].shape == (16, 32)    # K = 4 * 8
    assert not any(n.op is Op.REDUCE and n.src[0].op is Op.MATMUL for n in nodes)
    fn = gc.compile([x], [loss, gx, gw])
    computed = [n for k in fn.kernels for n in k.nodes]
    assert sum(n.op is Op.MATMUL for n in computed) == 3     # forward, x's gradient, w's
    assert not any(n.op is Op.REDUCE and n.src[0].op is Op.MATMUL for n in computed)
    # without the pass: one product per batch item and a sum over them, a kernel more
    monkeypatch.setattr(rewrite, "PASSES", [p for p in rewrite.PASSES
                                            if p[0] != "batch_sums_into_matmul"])
    x, w, loss, (gx, gw) = grads_of((32, 64, 256), (256, 64), dtype=np.float32)
    unmerged = gc.compile([x], [loss, gx, gw])
    monkeypatch.undo()
    assert len(gc.compile([x], [loss, gx, gw]).kernels) == len(unmerged.kernels) - 1


def test_the_product_and_the_input_gradient_are_2d_matmuls_over_all_rows():
    x, w, loss, (gx, gw) = grads_of((4, 8, 16), (16, 5))
    roots = shared_matrices_into_rows([loss, gx])
    products = [n for n in toposort(roots) if n.op is Op.MATMUL]
    assert sorted(n.shape for n in products) == [(32, 5), (32, 16)]   # x @ w, g @ w.T
    assert all(n.ndim == 2 for n in products)
    fn = gc.compile([x], [loss, gx, gw])
    computed = [n for k in fn.kernels for n in k.nodes if n.op is Op.MATMUL]
    assert all(n.ndim == 2 for n in computed) and len(computed) == 3
    # a batch of first operands times a batch of second ones stays batched
    a, b = gc.placeholder((3, 4, 5)), gc.placeholder((3, 5, 2))
    (kept,) = shared_matrices_into_rows([a @ b])
    assert kept.op is Op.MATMUL and kept.shape == (3, 4, 2)


def test_a_very_long_merged_contraction_stays_batched():
    """Past BATCH_SUM_MAX_K the products stay per batch item, then a sum (a convolution's
    weight gradient over 32 x 3136 positions ran 3x slower as one product)."""
    steps = rewrite.BATCH_SUM_MAX_K // 64 + 1
    x, w, loss, (gx, gw) = grads_of((2, 64 * steps, 8), (8, 3))
    (kept,) = batch_sums_into_matmul([gw])
    assert any(n.op is Op.REDUCE and n.src[0].op is Op.MATMUL for n in toposort([kept]))
    value = rng.standard_normal(x.shape)
    got = gc.compile([x], gw)(value)
    np.testing.assert_allclose(got, gc.evaluate(gw, {x: value}), rtol=1e-10)


@pytest.mark.parametrize("x_shape, w_shape, transposed", [
    ((4, 8, 16), (16, 5), False),          # (B, T, D) @ (D, E)
    ((2, 3, 6, 7), (7, 4), False),         # two batch axes
    ((3, 2, 5, 6), (2, 6, 4), False),      # w shared over the first batch axis only
    ((4, 16, 8), (16, 5), True),           # a transposed view: its rows do not merge
    ((5, 7), (7,), False),                 # a matrix times a vector: nothing to merge
])
def test_values_and_gradients_equal_evaluate_and_torch(x_shape, w_shape, transposed):
    x, w, loss, (gx, gw) = grads_of(x_shape, w_shape, transposed)
    data = rng.standard_normal(x_shape)
    fn = gc.compile([x], [loss, gx, gw])
    got = fn(data)
    expected = gc.evaluate([loss, gx, gw], {x: data})
    for g, e in zip(got, expected):
        np.testing.assert_allclose(g, e, rtol=1e-10, atol=1e-10)
    for g, t in zip(got, torch_grads(data, w.value, transposed)):
        np.testing.assert_allclose(g, t, rtol=1e-10, atol=1e-10)


def test_central_differences():
    x, w, loss, _ = grads_of((2, 3, 4), (4, 3))
    gc.check_grad(loss, [x, w], {x: rng.standard_normal((2, 3, 4))})


def test_a_batch_of_unknown_size():
    x = gc.placeholder((None, 6, 5), name="x")
    w0 = rng.standard_normal((5, 3)).astype(np.float32)
    w = gc.parameter(w0, name="w")
    loss = (gc.tanh(x @ w) ** 2).sum()
    gw = gc.grad(loss, w)
    fn = gc.compile([x], [loss, gw])
    for n in (1, 4):
        data = rng.standard_normal((n, 6, 5)).astype(np.float32)
        got = fn(data)
        for g, e in zip(got, gc.evaluate([loss, gw], {x: data})):
            np.testing.assert_allclose(g, e, rtol=1e-4, atol=1e-4)


@given(batch=st.lists(st.integers(1, 4), min_size=1, max_size=2), t=st.integers(1, 5),
       d=st.integers(1, 6), e=st.integers(1, 4))
def test_random_shapes_equal_evaluate(batch, t, d, e):
    x, w, loss, grads = grads_of(tuple(batch) + (t, d), (d, e), dtype=np.float32)
    data = rng.standard_normal(x.shape).astype(np.float32)
    got = gc.compile([x], [loss, *grads])(data)
    for g, ex in zip(got, gc.evaluate([loss, *grads], {x: data})):
        np.testing.assert_allclose(g, ex, rtol=2e-4, atol=2e-4)
