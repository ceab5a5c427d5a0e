"""Fusion: exact kernel counts of reference graphs, each checked against the unfused
schedule and against gc.evaluate."""
from __future__ import annotations

import numpy as np
import pytest

import graphc as gc


def _elementwise_chain(dtype, rng):
    x = gc.placeholder((32, 16), dtype, name="x")
    y = gc.placeholder((16,), dtype, name="y")
    out = gc.tanh(gc.exp(2 * x + 1) * y - gc.sigmoid(x))
    feed = {x: rng.standard_normal((32, 16)) * 0.5, y: rng.standard_normal(16)}
    return [x, y], [out], {}, feed


def _elementwise_chain_grad(dtype, rng):
    inputs, (out,), _, feed = _elementwise_chain(dtype, rng)
    return inputs, [out] + gc.grad(out.sum(), inputs), {}, feed


def _softmax_cross_entropy(dtype, rng):
    logits = gc.placeholder((64, 10), dtype, name="logits")
    target = gc.placeholder((64, 10), dtype, name="target")
    loss = -(target * gc.log_softmax(logits, axis=1)).sum() / 64
    feed = {logits: rng.standard_normal((64, 10)) * 3,
            target: np.eye(10)[rng.integers(0, 10, 64)]}
    return [logits, target], [loss, gc.grad(loss, logits)], {}, feed


def _seed_step(dtype, rng):
    x = gc.placeholder((64, 100), dtype, name="x")
    y = gc.placeholder((64, 10), dtype, name="y")
    w1 = gc.parameter(rng.standard_normal((100, 30)).astype(dtype), name="w1")
    w2 = gc.parameter(rng.standard_normal((30, 10)).astype(dtype), name="w2")
    loss = (x.mm(w1).clamp(min=0).mm(w2) - y).pow(2).sum()
    g1, g2 = gc.grad(loss, [w1, w2])
    updates = {w1: w1 - 1e-4 * g1, w2: w2 - 1e-4 * g2}
    feed = {x: rng.standard_normal((64, 100)), y: rng.standard_normal((64, 10))}
    return [x, y], [loss], updates, feed


def _mlp_bias_tanh(dtype, rng):
    x = gc.placeholder((64, 32), dtype, name="x")
    y = gc.placeholder((64, 8), dtype, name="y")
    w1 = gc.parameter(rng.standard_normal((32, 48)).astype(dtype) * 0.2, name="w1")
    b1 = gc.parameter(rng.standard_normal(48).astype(dtype), name="b1")
    w2 = gc.parameter(rng.standard_normal((48, 8)).astype(dtype) * 0.2, name="w2")
    b2 = gc.parameter(rng.standard_normal(8).astype(dtype), name="b2")
    loss = ((gc.tanh(x @ w1 + b1) @ w2 + b2 - y) ** 2).mean()
    params = [w1, b1, w2, b2]
    updates = {p: p - 0.1 * g for p, g in zip(params, gc.grad(loss, params))}
    feed = {x: rng.standard_normal((64, 32)), y: rng.standard_normal((64, 8))}
    return [x, y], [loss], updates, feed


# (graph, fused kernels, their launches on a CPU, unfused kernels). On a CPU, matmuls that
# read each other's results only row by row run as one chain (codegen.row_chains), and
# kernels of one-work-item groups that do not depend on each other share a launch
# (codegen.merge_launches); a GPU launches each kernel.
REFERENCE = [
    (_elementwise_chain, 1, 1, 7),
    (_elementwise_chain_grad, 1, 1, 16),
    (_softmax_cross_entropy, 5, 4, 17),
    (_seed_step, 6, 2, 15),
    (_mlp_bias_tanh, 8, 2, 24),
]


def _kernels(fn) -> list:
    """The kernels of ``fn``, with each shared launch replaced by the kernels in it."""
    return [g for k in fn.kernels for g in k.generated()]


def _run(fn, inputs, feed, dtype, updates):
    results = fn(*(np.asarray(feed[p], dtype) for p in inputs))
    return results + [p.value for p in updates]


@pytest.mark.parametrize("build, fused, launches, unfused", REFERENCE,
                         ids=[r[0].__name__.strip("_") for r in REFERENCE])
def test_kernel_count_and_results(build, fused, launches, unfused, dtype):
    rng = np.random.default_rng(0)
    inputs, outputs, updates, feed = build(dtype, rng)
    start = {p: p.value for p in updates}
    feed = {k: np.asarray(v, dtype) for k, v in feed.items()}
    expected = gc.evaluate(outputs + list(updates.values()), feed)

    fn = gc.compile(inputs, outputs, updates)
    assert len(_kernels(fn)) == fused
    if fn.ctx.target.shares_launches:
        assert len(fn.kernels) == launches
    got = _run(fn, inputs, feed, dtype, updates)
    for p, v in start.items():
        p.set_value(v)
    reference = gc.compile(inputs, outputs, updates, fuse=False)
    assert len(reference.kernels) == unfused
    unfused_got = _run(reference, inputs, feed, dtype, updates)

    for a, b, e in zip(got, unfused_got, expected):
        # float32: rounding differs between kernels and numpy (1 - tanh**2 near 1 cancels)
        scale = np.max(np.abs(e)) + 1e-30
        tol = (dict(rtol=2e-4, atol=1e-4 * scale) if dtype == np.float32
               else dict(rtol=1e-9, atol=1e-12 * scale))
        np.testing.assert_allclose(a, e, **tol)
        np.testing.assert_allclose(a, b, **tol)


def test_fused_kernel_computes_every_node_once():
    rng = np.random.default_rng(1)
    inputs, outputs, updates, _ = _seed_step(np.float32, rng)
    fn = gc.compile(inputs, outputs, updates)
    computed = [id(n) for k in _kernels(fn) for n in k.nodes]
    assert len(computed) == len(set(computed))


def test_updates_are_written_in_place_in_the_seed_step():
    rng = np.random.default_rng(2)
    inputs, outputs, updates, _ = _seed_step(np.float32, rng)
    fn = gc.compile(inputs, outputs, updates)
    # both updates are epilogues of the matmuls producing their gradients: no copies
    assert fn._final_copies == []
    writers = [k for k in _kernels(fn) if any(n is v for n in k.outputs
                                            for _, v in fn.updates)]
    assert [k.kind for k in writers] == ["matmul", "matmul"]
