"""Rewrites, checked structurally: what happens when nodes are built (CSE, constant folding,
algebraic simplification) and the named passes of graphc.rewrite."""
from __future__ import annotations

import numpy as np
import pytest
import sympy as sp

import graphc as gc
from graphc.graph import Op, toposort
from graphc.rewrite import (PASSES, format_graph, merge_elementwise, run_passes,
                            split_reductions)
from graphc.symbolic import operand

a0 = operand(0)
x = gc.placeholder((4, 3), name="x")
y = gc.placeholder((3,), name="y")


def test_common_subexpressions_are_one_node():
    assert (gc.exp(x) * 2 + y) is (gc.exp(x) * 2 + y)
    z = gc.tanh(x)
    total = z * z + z
    assert len([n for n in toposort([total]) if n.op is Op.EW and n.arg == sp.tanh(a0)]) == 1


def test_constants_fold_and_identities_vanish():
    assert (x * 1) is x and (x + 0) is x and (x ** 1) is x
    folded = gc.constant(2.0) * 3 + 1
    assert folded.op is Op.CONST and folded.arg.uniform == 7.0
    assert (x ** 2).arg == a0 ** 2          # printed as x*x in kernels
    # x - x is NaN where x is inf or NaN (numpy's): it stays a formula over floats
    assert (x - x).op is Op.EW
    i = gc.placeholder((4, 3), "int32", name="i")
    assert (i - i).op is Op.CONST and (i - i).arg.uniform == 0


def test_views_collapse():
    assert x.T.T is x
    assert x.reshape(12).reshape(4, 3) is x
    b = gc.broadcast_to(y, (4, 3))
    assert gc.broadcast_to(b.reshape(1, 4, 3), (2, 4, 3)).src[0].op is not Op.BROADCAST


def test_sum_of_a_broadcast_is_a_multiplication():
    s = gc.broadcast_to(y, (4, 3)).sum(axis=0)
    assert Op.REDUCE not in {n.op for n in toposort([s])}
    np.testing.assert_allclose(gc.evaluate(s, {y: np.arange(3.0)}), 4 * np.arange(3.0))


def test_merge_elementwise_simplifies_across_nodes():
    chain = gc.log(gc.exp(-(-x)))                     # three nodes as built
    assert len([n for n in toposort([chain]) if n.op is Op.EW]) >= 2
    (merged,) = merge_elementwise([chain])
    assert merged is x                                # log(exp(--x)) is x
    shared = gc.exp(x)                                # two consumers: not merged into either
    a, b = merge_elementwise([shared + 1, shared * 2])
    assert len(a.src) == len(b.src) == 1 and a.src[0] is shared and b.src[0] is shared


def test_passes_are_named_and_dead_code_is_not_compiled():
    assert [name for name, _, _ in PASSES] == ["merge_elementwise", "integer_powers",
                                              "batch_sums_into_matmul",
                                              "shared_matrices_into_rows",
                                              "views_into_elementwise",
                                              "index_masks_in_place",
                                              "elementwise_in_anchor_space",
                                              "split_reductions"]
    unused = gc.exp(y)                                # built, never asked for
    (out,) = run_passes([x * 2])
    assert all(n is not unused for n in toposort([out]))
    fn = gc.compile([x], out)
    assert all(n is not unused for k in fn.kernels for n in k.nodes)
    assert len(fn.kernels) == 1
    text = format_graph([out])
    assert "x: float32[4, 3] = placeholder" in text and "2*x" in text


def test_merged_graph_computes_the_same():
    z = gc.sigmoid(x * y) * gc.tanh(x) - x / 3
    (merged,) = run_passes([z])
    feed = {x: np.random.default_rng(0).standard_normal((4, 3)).astype(np.float32),
            y: np.ones(3, np.float32)}
    np.testing.assert_allclose(gc.evaluate(merged, feed), gc.evaluate(z, feed), rtol=1e-6)


@pytest.mark.parametrize("shape, axis, keepdims, inner", [
    ((256, 512), None, False, (1,)),           # the MLP's loss: rows first, then the column
    ((4, 64, 600), (1, 2), True, (2,)),        # 4 outputs of 38400
    ((3, 300, 200), None, True, (2,)),         # inner axes near the square root: 200
    ((8, 130, 9, 64), (0, 2, 3), False, (2, 3)),  # a batch norm's: rows of 576 first
])
@pytest.mark.parametrize("kind", ["sum", "max"])
def test_large_reductions_with_few_outputs_split_in_two(shape, axis, keepdims, inner, kind):
    big = gc.placeholder(shape, "float64", name="big")
    reduce = getattr(gc, kind)
    out = reduce(gc.exp(big) * 2, axis=axis, keepdims=keepdims)
    (split,) = split_reductions([out])
    reductions = [n for n in toposort([split]) if n.op is Op.REDUCE]
    assert len(reductions) == 2 and reductions[0].arg[1] == inner
    assert split.shape == out.shape
    xs = np.random.default_rng(1).standard_normal(shape)
    fn = gc.compile([big], out)
    assert [k.kind for k in fn.kernels] == ["reduce", "reduce"]
    assert fn.kernels[0].global_size[0] > fn.kernels[1].global_size[0]
    np.testing.assert_allclose(fn(xs), gc.evaluate(out, {big: xs}), rtol=1e-12)
    (g,) = gc.grad(gc.sum(out), [big])                 # gradients go through the split
    step = gc.compile([big], g)
    np.testing.assert_allclose(step(xs), gc.evaluate(g, {big: xs}), rtol=1e-12)


def test_small_or_many_output_reductions_stay_whole():
    small = gc.placeholder((64, 10), name="small")
    rows = gc.placeholder((300, 4000), name="rows")
    short = gc.placeholder((300, 64, 4), name="short")   # rows of 4: read across them
    for out in (gc.sum(small), gc.sum(rows, axis=1), gc.sum(rows, axis=0),
                gc.sum(short, axis=(0, 2))):
        (same,) = split_reductions([out])
        assert same is out


def test_elementwise_consumers_of_a_reshaped_matmul_run_in_its_epilogue():
    """relu(reshape(a @ b) + bias) is computed in the matmul's shape, and the output that
    reshapes it is its buffer: one kernel, the same numbers."""
    a = gc.placeholder((6, 4, 5), "float64", name="a")
    b = gc.placeholder((5, 8), "float64", name="b")
    bias = gc.placeholder((1, 2, 4), "float64", name="bias")
    out = gc.relu(gc.reshape(a @ b, (6, 8, 2, 2)).permute(0, 2, 3, 1).reshape(6, 2, 2, 2, 4)
                  .sum(axis=3) + bias)
    simple = gc.relu(gc.reshape(a @ b, (3, 2, 4, 8)) + 1.0)
    fn = gc.compile([a, b], simple)
    assert len(fn.kernels) == 1, fn.describe()
    rng = np.random.default_rng(0)
    va, vb, vbias = rng.standard_normal((6, 4, 5)), rng.standard_normal((5, 8)), \
        rng.standard_normal((1, 2, 4))
    np.testing.assert_allclose(fn(va, vb), np.maximum(0, (va @ vb).reshape(3, 2, 4, 8) + 1))
    both = gc.compile([a, b, bias], [out, simple])
    want = gc.evaluate([out, simple], {a: va, b: vb, bias: vbias})
    for got, w in zip(both(va, vb, vbias), want):
        np.testing.assert_allclose(got, w, rtol=1e-12)
