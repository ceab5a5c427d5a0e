"""Elementwise kernels that compute a vector of neighbouring elements per work-item (the CPU
shape): every elementwise op and its gradient, operands of every broadcast pattern, and the
shapes that must stay scalar. The kernels are CPU-shaped whatever the test device is."""
from __future__ import annotations

import numpy as np
import pytest

import graphc as gc
from graphc import runtime
from graphc.ops import BINARY, UNARY



@pytest.fixture(autouse=True)
def as_cpu(monkeypatch, cpu):
    monkeypatch.setattr(runtime.DeviceContext, "target", property(lambda self: cpu))

# operand shapes against an output of (6, 32): the same shape (aligned vector loads), a row
# (a vector load per row), a column and a scalar (one value for every lane)
OPERAND_SHAPES = [(6, 32), (32,), (6, 1), ()]


def _vectorised(fn) -> bool:
    target = fn.ctx.target
    vectors = [f"float{target.lanes(np.float32)}", f"double{target.lanes(np.float64)}"]
    return any(v in k.source for v in vectors for k in fn.kernels if k.kind == "elementwise")


# the seed's ops, with their own domain here; the whole family is in tests/ops (each op
# drawn from its own domain, where its float32 gradient is well conditioned)
@pytest.mark.parametrize("name", ["abs", "exp", "log", "neg", "relu", "sigmoid", "sqrt",
                                  "tanh"])
def test_vectorised_unary_ops_and_gradients(name, dtype):
    rng = np.random.default_rng(3)
    x = gc.placeholder((6, 32), dtype, name="x")
    value = rng.uniform(0.2, 2.0, (6, 32)) * rng.choice([-1, 1], (6, 32))
    if name in ("log", "sqrt"):
        value = np.abs(value)
    feed = {x: value.astype(dtype)}
    out = gc.ops.apply(name, UNARY[name], x)
    (gx,) = gc.grad(gc.sum(out * out), [x])
    fn = gc.compile([x], [out, gx])
    assert _vectorised(fn)
    tol = 1e-12 if dtype == np.float64 else 2e-6
    for got, want in zip(fn(feed[x]), gc.evaluate([out, gx], feed)):
        np.testing.assert_allclose(got, want, rtol=tol, atol=tol)


@pytest.mark.parametrize("shape", OPERAND_SHAPES)
@pytest.mark.parametrize("name", sorted(BINARY))
def test_vectorised_binary_ops_and_gradients(name, shape, dtype):
    rng = np.random.default_rng(4)
    a = gc.placeholder((6, 32), dtype, name="a")
    b = gc.placeholder(shape, dtype, name="b")
    av = rng.uniform(0.5, 2.0, (6, 32))
    bv = rng.uniform(0.5, 2.0, shape) * (1 if name == "pow" else rng.choice([-1, 1], shape))
    if name in ("maximum", "minimum", "lt", "le", "gt", "ge"):
        bv = np.round(bv * 2) / 2           # ties with a, where the gradients split
        av = np.round(av * 2) / 2
    feed = {a: av.astype(dtype), b: np.asarray(bv, dtype)}
    out = gc.ops.apply(name, BINARY[name], a, b)
    grads = [] if name in ("lt", "le", "gt", "ge") else gc.grad(gc.sum(out * 3.0), [a, b])
    fn = gc.compile([a, b], [out] + list(grads))
    assert _vectorised(fn)
    tol = 1e-12 if dtype == np.float64 else 2e-6
    for got, want in zip(fn(feed[a], feed[b]), gc.evaluate([out] + list(grads), feed)):
        np.testing.assert_allclose(got, want, rtol=tol, atol=tol)


def test_vectorised_where_clamp_nan_and_powers():
    x = gc.placeholder((2, 16), name="x")
    y = gc.placeholder((2, 16), name="y")
    xs = np.linspace(-3, 3, 32, dtype=np.float32).reshape(2, 16)
    xs[0, 3] = np.nan
    ys = np.full((2, 16), 0.5, np.float32)
    outs = [gc.where(x > y, x, -y), gc.clamp(x, -1.0, 2.0), gc.maximum(x, 0.0) ** 5,
            x ** -3, gc.relu(x) * gc.sigmoid(-x) + gc.log(gc.exp(x) + 1.0)]
    fn = gc.compile([x, y], outs)
    assert _vectorised(fn)
    with np.errstate(all="ignore"):
        for got, want in zip(fn(xs, ys), gc.evaluate(outs, {x: xs, y: ys})):
            np.testing.assert_allclose(got, want, rtol=2e-6, atol=1e-6, equal_nan=True)


def test_shapes_that_cannot_be_vectorised_stay_scalar():
    x = gc.placeholder((6, 20), name="x")          # 120 elements, rows of 20
    r = gc.placeholder((20,), name="r")             # a row read along a row of 20: no
    fn = gc.compile([x, r], gc.exp(x + r))
    assert not _vectorised(fn)
    xs = np.random.default_rng(0).standard_normal((6, 20)).astype(np.float32)
    rs = np.arange(20, dtype=np.float32) / 20
    np.testing.assert_allclose(fn(xs, rs), np.exp(xs + rs), rtol=2e-6)
    t = gc.placeholder((32, 6), name="t")           # a transposed read: no
    fn = gc.compile([t], gc.exp(gc.transpose(t)))
    assert not _vectorised(fn)



@pytest.mark.parametrize("n", [16, 40, 100])       # whole vectors, and tiles shifted back
def test_vectorised_matmul_epilogues(n, dtype):
    """Matmul epilogues run on accumulator vectors along rows of C: a row bias, a column
    and a full operand, a mask, NaN through maximum, and the gradients of all of it."""
    rng = np.random.default_rng(n)
    a = gc.placeholder((24, 30), dtype, name="a")
    w = gc.placeholder((30, n), dtype, name="w")
    bias = gc.placeholder((n,), dtype, name="bias")
    col = gc.placeholder((24, 1), dtype, name="col")
    full = gc.placeholder((24, n), dtype, name="full")
    h = a @ w
    out = gc.where(h > col, gc.tanh(h + bias) * full, gc.maximum(h, col) ** 2)
    grads = gc.grad(gc.sum(out), [a, w, bias])
    feed = {p: rng.standard_normal(p.shape).astype(dtype) for p in (a, w, bias, col, full)}
    feed[full][0, 0] = np.nan
    fn = gc.compile(list(feed), [out] + list(grads))
    assert any("vstore" in g.source for k in fn.kernels for g in k.generated()
               if g.kind == "matmul")
    tol = 1e-10 if dtype == np.float64 else 2e-4
    for got, want in zip(fn(*feed.values()), gc.evaluate([out] + list(grads), feed)):
        np.testing.assert_allclose(got, want, rtol=tol, atol=tol, equal_nan=True)


@pytest.mark.parametrize("m", [1024, 1012])     # blocks of 8 doubles; a copy that is not
def test_large_transposed_operands_are_packed_into_rows(m):
    """x.T @ g with a long k: x.T is copied into rows first (by 16 x 16 blocks where the
    shape allows), then multiplied; the numbers are those of gc.evaluate."""
    rng = np.random.default_rng(m)
    x = gc.placeholder((1040, m), "float64", name="x")
    g = gc.placeholder((1040, 24), "float64", name="g")
    out = gc.transpose(x) @ g
    fn = gc.compile([x, g], out)
    assert [k.kind for k in fn.kernels] == ["elementwise", "matmul"]
    blocks = "A transposed copy" in fn.kernels[0].source
    lanes = fn.ctx.target.lanes(np.float64)        # 8 doubles a vector, where it compiles
    assert blocks == (m % lanes == 0)
    xs, gs = rng.standard_normal((1040, m)), rng.standard_normal((1040, 24))
    np.testing.assert_allclose(fn(xs, gs), xs.T @ gs, rtol=1e-10, atol=1e-10)
    unfused = gc.compile([x, g], out, fuse=False)    # the reference schedule packs nothing
    assert [k.kind for k in unfused.kernels] == ["matmul"]


@pytest.mark.parametrize("shape, perm", [
    ((4, 3, 8, 9), (1, 0, 2, 3)),        # whole planes moved: a convolution's columns
    ((2, 9, 8, 10), (0, 3, 1, 2)),       # planes gathered across the source
    ((3, 16, 9, 8), (2, 0, 3, 1)),
])
@pytest.mark.parametrize("dtype", ["float32", "float64", "int32"])
def test_a_strided_copy_moves_a_plane_a_work_item(shape, perm, dtype):
    x = gc.placeholder(shape, dtype)
    y = gc.reshape(gc.permute(x, perm), (-1,))       # strides cannot say it: a copy
    fn = gc.compile([x], y)
    # or vectors of rows, where its planes' rows are vectors of the source
    assert len(fn.kernels) == 1 and ("One work-item per plane" in fn.kernels[0].source
                                     or "copy of a stack of planes" in
                                     fn.kernels[0].source), fn.describe()
    v = np.arange(np.prod(shape)).reshape(shape).astype(dtype)
    np.testing.assert_array_equal(fn(v), np.transpose(v, perm).reshape(-1))
    small = gc.placeholder((5, 2, 3), dtype)         # planes of 6: one element an item
    fn = gc.compile([small], gc.reshape(gc.permute(small, (1, 0, 2)), (-1,)))
    assert not any("One work-item per plane" in k.source for k in fn.kernels)


@pytest.mark.parametrize("shape, perm, how", [
    ((5, 37, 64), (1, 0, 2), "along"),      # rows moved whole; 37 rows, not blocks of W
    ((2, 64, 6, 32), (0, 2, 1, 3), "along"),
    ((64, 3, 32), (1, 2, 0), "across"),     # each plane a transpose
    ((48, 32), None, "across"),             # B transposed into panels, as x @ w.T reads
])
@pytest.mark.parametrize("dtype", ["float32", "float64", "int32"])
def test_a_copy_of_vector_rows_moves_blocks_of_vectors(shape, perm, how, dtype):
    x = gc.placeholder(shape, dtype)
    if perm is None:         # w (N, K) read as w.T (K, N) in panels of 16 columns
        view = gc.permute(gc.reshape(gc.transpose(x), (32, 3, 16)), (1, 0, 2))
    else:
        view = gc.permute(x, perm)
    y = gc.reshape(view, (-1,))
    fn = gc.compile([x], y)
    lanes = fn.ctx.target.lanes(np.dtype(dtype))
    sources = [k.source for k in fn.kernels]
    if lanes > 1 and view.shape[-1] % lanes == 0 and (
            how == "along" or view.shape[-2] % lanes == 0):
        assert len(sources) == 1 and f"{how} the source's rows" in sources[0], \
            fn.describe()
    v = np.arange(np.prod(shape)).reshape(shape).astype(dtype)
    want = gc.evaluate(y, {x: v})
    np.testing.assert_array_equal(fn(v), want)
