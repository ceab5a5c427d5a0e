"""Gathers and scatters: x[idx], x[rows, cols], take, take_along_axis, gather,
index_select, embedding, one_hot, scatter_add, index_add. Forward and backward against
torch (hypothesis shapes, repeated and negative indices, both float dtypes, integer
sources where they apply), compiled results against gc.evaluate, gradients against
central differences, bitwise-deterministic scatter-adds, kernel counts (a gather is read
in place by its consumer), out-of-range indices, and the errors of every misuse."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import graphc as gc

torch = pytest.importorskip("torch")
F = torch.nn.functional

FLOATS = ["float32", "float64"]
FEW = settings(max_examples=6, deadline=None)
TOL = {np.dtype(np.float32): dict(rtol=1e-5, atol=1e-5),
       np.dtype(np.float64): dict(rtol=1e-12, atol=1e-12)}


def _indices(draw, n, shape, negative=True):
    """Indices into an axis of ``n`` (repeats likely; negative ones where allowed)."""
    low = -n if negative else 0
    return np.array(draw(st.lists(st.integers(low, n - 1), min_size=int(np.prod(shape)),
                                  max_size=int(np.prod(shape))))).reshape(shape)


def _shape(draw, ndim=None, low=1, high=4):
    ndim = draw(st.integers(1, 3)) if ndim is None else ndim
    return tuple(draw(st.lists(st.integers(low, high), min_size=ndim, max_size=ndim)))


def _compare(build, build_torch, floats, ints, dtype, ints_torch=None, grad_check=True):
    """``build(*float placeholders, *int placeholders)`` against ``build_torch`` of torch
    tensors: the output, and the gradients of ``sum(out * w)`` with respect to the float
    inputs; compiled against gc.evaluate; in float64, against central differences too.
    ``ints_torch`` are the indices torch gets (torch refuses negative ones in places)."""
    dtype = np.dtype(dtype)
    floats = [np.asarray(v, dtype) for v in floats]
    ints = [np.asarray(v, np.int64) for v in ints]
    xs = [gc.placeholder(v.shape, dtype, name=f"x{i}") for i, v in enumerate(floats)]
    ids = [gc.placeholder(v.shape, "int64", name=f"i{i}") for i, v in enumerate(ints)]
    out = build(*xs, *ids)
    w = np.random.default_rng(1).standard_normal(out.shape).astype(dtype)
    cost = gc.sum(out * w)
    grads = gc.grad(cost, xs)
    feed = dict(zip(xs + ids, floats + ints))
    expected = gc.evaluate([out] + grads, feed)
    got = gc.compile(xs + ids, [out] + grads)(*floats, *ints)
    for a, e in zip(got, expected):
        np.testing.assert_allclose(a, e, **TOL[dtype])
    ts = [torch.tensor(v, requires_grad=True) for v in floats]
    tout = build_torch(*ts, *[torch.tensor(v) for v in (ints_torch or ints)])
    (tout * torch.from_numpy(w)).sum().backward()
    np.testing.assert_allclose(expected[0], tout.detach().numpy(), **TOL[dtype])
    for g, t in zip(expected[1:], ts):
        np.testing.assert_allclose(g, t.grad.numpy(), **TOL[dtype])
    if grad_check and dtype == np.float64:
        gc.check_grad(cost, xs, feed)
    return got


def _wrap(index, n):
    return np.asarray(index) % n


# {{{ x[idx], x[rows, cols]

KEYS = [      # (i, j: index arrays; zero: the int 0, or for torch a 1-element [0])
    lambda i, j, zero: (i,),                        # rows of the first axis
    lambda i, j, zero: (slice(None), i),            # along the second axis
    lambda i, j, zero: (i, j),                      # two arrays, broadcast together
    lambda i, j, zero: (i, slice(None), j),         # separated: broadcast axes first
    lambda i, j, zero: (Ellipsis, j),
    lambda i, j, zero: (None, i, slice(1, None), j),
    lambda i, j, zero: (i, zero),                   # an int among arrays: advanced too
    lambda i, j, zero: (zero, slice(None), j),      # ... separated from its neighbour
]


@FEW
@given(st.data(), st.sampled_from(FLOATS), st.integers(0, len(KEYS) - 1))
def test_advanced_indexing_matches_numpy_and_torch(data, dtype, which):
    shape = _shape(data.draw, 3, low=2)
    rows = _indices(data.draw, 2, _shape(data.draw, data.draw(st.integers(1, 2))))
    last = data.draw(st.sampled_from([1, rows.shape[-1]]))     # broadcasts with rows
    cols = _indices(data.draw, 2, (1,) * (rows.ndim - 1) + (last,))
    key = KEYS[which]
    x = np.random.default_rng(0).standard_normal(shape)

    def build(t, i, j):
        return t[key(i, j, 0)]

    def build_torch(t, i, j):     # torch takes a lone int as basic indexing, numpy does not
        return t[key(i, j, torch.tensor([0]))]
    got = _compare(build, build_torch, [x], [rows, cols], dtype)   # torch wraps them too
    np.testing.assert_allclose(got[0], x.astype(dtype)[key(rows, cols, 0)])


def test_indices_from_lists_numpy_arrays_and_int32_tensors():
    x = gc.placeholder((4, 3), "float64", name="x")
    value = np.arange(12.0).reshape(4, 3)
    rows = gc.placeholder((3,), "int32", name="rows")
    cols = gc.placeholder((2,), "uint32", name="cols")
    out = [x[[3, -1, 0]], x[np.array([[1], [2]]), np.array([0, 2])], x[rows, 1:], x[:, cols]]
    got = gc.compile([x, rows, cols], out)(value, np.array([2, 2, -4], np.int32),
                                           np.array([2, 0], np.uint32))
    np.testing.assert_array_equal(got[0], value[[3, -1, 0]])
    np.testing.assert_array_equal(got[1], value[np.array([[1], [2]]), np.array([0, 2])])
    np.testing.assert_array_equal(got[2], value[[2, 2, -4], 1:])
    np.testing.assert_array_equal(got[3], value[:, [2, 0]])

# }}}


# {{{ take, take_along_axis, gather, index_select

@FEW
@given(st.data(), st.sampled_from(FLOATS))
def test_take_flattened_and_along_an_axis(data, dtype):
    shape = _shape(data.draw)
    size = int(np.prod(shape))
    flat = _indices(data.draw, size, _shape(data.draw))
    axis = data.draw(st.integers(-len(shape), len(shape) - 1))
    along = _indices(data.draw, shape[axis], _shape(data.draw, data.draw(st.integers(1, 2))))
    x = np.random.default_rng(0).standard_normal(shape)
    _compare(lambda t, i: gc.take(t, i), lambda t, i: torch.take(t, i), [x], [flat], dtype,
             ints_torch=[_wrap(flat, size)])
    got = gc.evaluate(gc.take(gc.constant(x), along, axis=axis))
    np.testing.assert_array_equal(got, np.take(x, along, axis=axis))


@FEW
@given(st.data(), st.sampled_from(FLOATS))
def test_take_along_axis_matches_numpy_and_torch(data, dtype):
    shape = _shape(data.draw)
    axis = data.draw(st.integers(-len(shape), len(shape) - 1))
    n = shape[axis]
    ishape = list(shape)
    ishape[axis] = data.draw(st.integers(1, 5))
    ishape = [1 if d != axis % len(shape) and data.draw(st.booleans()) else s
              for d, s in enumerate(ishape)]        # broadcast along some axes
    index = _indices(data.draw, n, tuple(ishape))
    x = np.random.default_rng(0).standard_normal(shape)
    got = _compare(lambda t, i: gc.take_along_axis(t, i, axis),
                   lambda t, i: torch.take_along_dim(t, i, axis), [x], [index], dtype,
                   ints_torch=[_wrap(index, n)])
    np.testing.assert_allclose(got[0], np.take_along_axis(x.astype(dtype), index, axis))


@FEW
@given(st.data(), st.sampled_from(FLOATS))
def test_gather_matches_torch(data, dtype):
    shape = _shape(data.draw)
    dim = data.draw(st.integers(-len(shape), len(shape) - 1))
    ishape = tuple(data.draw(st.integers(1, 5)) if d == dim % len(shape) else
                   data.draw(st.integers(1, s)) for d, s in enumerate(shape))
    index = _indices(data.draw, shape[dim], ishape, negative=False)
    x = np.random.default_rng(0).standard_normal(shape)
    _compare(lambda t, i: gc.gather(t, dim, i), lambda t, i: torch.gather(t, dim, i),
             [x], [index], dtype)


@FEW
@given(st.data(), st.sampled_from(FLOATS))
def test_index_select_matches_torch(data, dtype):
    shape = _shape(data.draw)
    dim = data.draw(st.integers(-len(shape), len(shape) - 1))
    index = _indices(data.draw, shape[dim], (data.draw(st.integers(1, 6)),))
    x = np.random.default_rng(0).standard_normal(shape)
    _compare(lambda t, i: t.index_select(dim, i),
             lambda t, i: torch.index_select(t, dim, i), [x], [index], dtype,
             ints_torch=[_wrap(index, shape[dim])])


@pytest.mark.parametrize("dtype", ["int32", "int64"])
def test_gathers_of_integer_sources(dtype):
    x = np.arange(-10, 14).reshape(4, 6).astype(dtype)
    t = gc.placeholder(x.shape, dtype, name="t")
    i = gc.placeholder((5,), "int64", name="i")
    index = np.array([3, -1, 0, 0, 2])
    outs = [t[i], gc.take(t, i), gc.index_select(t, 1, i),
            gc.gather(t, 0, gc.reshape(i, (5, 1)) % 4), gc.embedding(i, t)]
    got = gc.compile([t, i], outs)(x, index)
    tx, ti = torch.tensor(x), torch.tensor(index % 4)
    expected = [tx[ti], torch.take(tx, torch.tensor(index % 24)),
                torch.index_select(tx, 1, torch.tensor(index % 6)),
                torch.gather(tx, 0, ti.reshape(5, 1)), F.embedding(ti, tx)]
    for a, e in zip(got, expected):
        assert a.dtype == x.dtype
        np.testing.assert_array_equal(a, e.numpy())

# }}}


# {{{ embedding, one_hot

@FEW
@given(st.data(), st.sampled_from(FLOATS), st.booleans())
def test_embedding_matches_torch(data, dtype, padded):
    V, D = data.draw(st.integers(1, 8)), data.draw(st.integers(1, 5))
    index = _indices(data.draw, V, _shape(data.draw, data.draw(st.integers(1, 2)), high=6),
                     negative=False)
    padding = data.draw(st.integers(-V, V - 1)) if padded else None
    weight = np.random.default_rng(0).standard_normal((V, D))
    _compare(lambda w, i: gc.embedding(i, w, padding_idx=padding),
             lambda w, i: F.embedding(i, w, padding_idx=padding), [weight], [index], dtype)


def test_embedding_padding_row_gets_no_gradient():
    w = gc.parameter(np.ones((4, 2)), name="w")
    i = gc.placeholder((5,), "int64", name="i")
    g = gc.grad(gc.sum(gc.embedding(i, w, padding_idx=-1) * 3.0), w)
    got = gc.compile([i], g)(np.array([3, 1, 3, -1, 1]))
    np.testing.assert_array_equal(got, [[0, 0], [6, 6], [0, 0], [0, 0]])


def test_one_hot_matches_torch():
    i = gc.placeholder((2, 3), "int64", name="i")
    index = np.array([[0, 3, 1], [3, 3, 2]])
    out = gc.one_hot(i, num_classes=5)
    assert out.dtype == np.int64 and out.shape == (2, 3, 5)
    got = gc.compile([i], out)(index)
    np.testing.assert_array_equal(got, F.one_hot(torch.tensor(index), 5).numpy())
    with pytest.raises(ValueError, match="one_hot: num_classes must be given"):
        gc.one_hot(i)
    with pytest.raises(IndexError, match="one_hot"):
        gc.one_hot(np.array([0, 5]), 5)

# }}}


# {{{ scatter_add, index_add

@FEW
@given(st.data(), st.sampled_from(FLOATS))
def test_scatter_add_matches_torch(data, dtype):
    shape = _shape(data.draw)
    dim = data.draw(st.integers(-len(shape), len(shape) - 1))
    ishape = tuple(data.draw(st.integers(1, 5)) if d == dim % len(shape) else
                   data.draw(st.integers(1, s)) for d, s in enumerate(shape))
    index = _indices(data.draw, shape[dim], ishape, negative=False)
    rng = np.random.default_rng(0)
    x, src = rng.standard_normal(shape), rng.standard_normal(ishape)
    _compare(lambda t, s, i: gc.scatter_add(t, dim, i, s),
             lambda t, s, i: torch.scatter_add(t, dim, i, s), [x, src], [index], dtype)


def test_scatter_add_reads_only_as_much_of_src_as_index_covers():
    """torch's backward refuses a larger src; its forward, numpy and central differences
    judge graphc's."""
    rng = np.random.default_rng(0)
    x, src = rng.standard_normal((3, 4)), rng.standard_normal((4, 5))
    index = np.array([[2, 0, 2], [2, 1, 0]])
    tx, ts = gc.placeholder((3, 4), "float64", name="x"), gc.placeholder((4, 5), "float64")
    out = gc.scatter_add(tx, 1, index, ts)
    got = gc.compile([tx, ts], out)(x, src)
    expected = torch.scatter_add(torch.tensor(x), 1, torch.tensor(index), torch.tensor(src))
    np.testing.assert_allclose(got, expected.numpy(), rtol=1e-12)
    cost = gc.sum(out * gc.constant(rng.standard_normal((3, 4))))
    g = gc.evaluate(gc.grad(cost, ts), {tx: x, ts: src})
    assert not g[2:].any() and not g[:, 3:].any()
    gc.check_grad(cost, [tx, ts], {tx: x, ts: src})


@FEW
@given(st.data(), st.sampled_from(FLOATS), st.sampled_from([1, -0.5]))
def test_index_add_matches_torch(data, dtype, alpha):
    shape = _shape(data.draw)
    dim = data.draw(st.integers(-len(shape), len(shape) - 1))
    index = _indices(data.draw, shape[dim], (data.draw(st.integers(1, 6)),))
    sshape = list(shape)
    sshape[dim] = index.size
    rng = np.random.default_rng(0)
    x, source = rng.standard_normal(shape), rng.standard_normal(sshape)
    _compare(lambda t, s, i: t.index_add(dim, i, s, alpha=alpha),
             lambda t, s, i: torch.index_add(t, dim, i % shape[dim], s, alpha=alpha),
             [x, source], [index], dtype)


def test_scatters_of_integer_targets():
    x = np.arange(12).reshape(3, 4).astype(np.int64)
    t = gc.placeholder(x.shape, "int64", name="t")
    i = gc.placeholder((2, 4), "int64", name="i")
    s = gc.placeholder((2, 4), "int64", name="s")
    index, src = np.array([[0, 2, 2, 1], [2, 2, 0, 0]]), np.arange(8).reshape(2, 4) * 10
    rows = gc.placeholder((2,), "int64", name="rows")
    outs = [gc.scatter_add(t, 0, i, s), gc.index_add(t, 0, rows, s[:, :4])]
    got = gc.compile([t, i, s, rows], outs)(x, index, src, np.array([1, 1]))
    tx = torch.tensor(x)
    np.testing.assert_array_equal(got[0], torch.scatter_add(tx, 0, torch.tensor(index),
                                                            torch.tensor(src)).numpy())
    np.testing.assert_array_equal(got[1], torch.index_add(tx, 0, torch.tensor([1, 1]),
                                                          torch.tensor(src)).numpy())

# }}}


# {{{ determinism, empty selections, clamps, grad of grad

def test_scatter_add_gradients_are_bitwise_identical_across_runs():
    """Many repeated indices in float32: every run, the same bits, and np.add.at's."""
    rng = np.random.default_rng(0)
    V, D, N = 50, 16, 4000
    w = gc.placeholder((V, D), name="w")
    i = gc.placeholder((N,), "int64", name="i")
    g_out = gc.placeholder((N, D), name="g_out")
    grad = gc.grad(gc.sum(gc.embedding(i, w) * g_out), w)
    fn = gc.compile([w, i, g_out], grad)
    index = rng.integers(0, 5, N)                      # 4000 indices into 5 rows
    values = rng.standard_normal((N, D)).astype(np.float32) * 1e3
    runs = [fn(np.zeros((V, D), np.float32), index, values) for _ in range(10)]
    for r in runs[1:]:
        assert r.tobytes() == runs[0].tobytes()
    reference = np.zeros((V, D), np.float32)
    np.add.at(reference, index, values)               # sequential, in index order
    assert runs[0].tobytes() == reference.tobytes()
    unfused = gc.compile([w, i, g_out], grad, fuse=False)   # another schedule, same bits
    assert unfused(np.zeros((V, D), np.float32), index, values).tobytes() == reference.tobytes()
    assert not runs[0][5:].any()                      # rows nobody indexes: zeros


def test_empty_selections_are_empty_tensors():
    """An empty index selects an empty tensor, as numpy's; what it is scattered into keeps
    its values, and no kernel has an empty index space (tests/test_empty.py has more)."""
    x = gc.placeholder((4, 3), name="x")
    assert x[[]].shape == (0, 3)
    picked = gc.index_select(x, 0, np.zeros(0, np.int64))
    assert picked.shape == (0, 3)
    added = gc.index_add(x, 0, np.zeros(0, np.int64), gc.zeros(0, 3))
    value = np.arange(12.0, dtype=np.float32).reshape(4, 3)
    got = gc.compile([x], [picked, added, gc.grad(gc.sum(added * added), x)])(value)
    assert got[0].shape == (0, 3)
    np.testing.assert_array_equal(got[1], value)
    np.testing.assert_array_equal(got[2], 2 * value)


def test_computed_indices_out_of_range_are_clamped():
    x = gc.placeholder((4,), "float64", name="x")
    i = gc.placeholder((4,), "int64", name="i")
    out = x[i * 3]          # computed on the device: clamped into [0, 4)
    value, index = np.arange(4.0), np.array([0, 1, 2, -3])
    got = gc.compile([x, i], out)(value, index)
    np.testing.assert_array_equal(got, [0.0, 3.0, 3.0, 0.0])
    np.testing.assert_array_equal(got, gc.evaluate(out, {x: value, i: index}))


def test_fed_indices_out_of_range_raise_before_anything_runs():
    w = gc.parameter(np.ones((4, 2)), name="w")
    i = gc.placeholder((3,), "int64", name="tokens")
    step = gc.compile([i], gc.sum(w[i]), updates={w: w - gc.grad(gc.sum(w[i]), w)})
    with pytest.raises(IndexError, match=r"gather: index 4 in input 'tokens' is out of "
                                         r"bounds for an axis of size 4"):
        step(np.array([0, 4, 1]))
    np.testing.assert_array_equal(w.value, np.ones((4, 2)))    # nothing ran
    with pytest.raises(IndexError, match="index -5 in input 'tokens'"):
        gc.evaluate(w[i], {i: np.array([-5, 0, 0])})
    step(np.array([-4, 3, 3]))
    np.testing.assert_array_equal(w.value[:, 0], [0, 1, 1, -1])
    with pytest.raises(IndexError, match="indexing: index 9 is out of bounds for axis 0"):
        w[[0, 9]]


def test_gradient_of_a_gradient():
    x = gc.placeholder((4, 3), "float64", name="x")
    i = np.array([0, 3, 3, -1, 1])
    g = gc.grad(gc.sum(x[i] ** 3), x)                # a scatter of 3 x[i]^2
    cost = gc.sum(g * gc.constant(np.arange(12.0).reshape(4, 3)))
    gc.check_grad(cost, x, {x: np.random.default_rng(0).standard_normal((4, 3))})

def test_gathers_of_views_and_of_a_0d_index():
    """The source read through its view (a pad's mask, a transpose, a flip): in place."""
    p = gc.placeholder((3, 4), "float64", name="p")
    value = np.arange(12.0).reshape(3, 4)
    i = np.array([4, 0, -1, 2])
    outs = [gc.pad(p, (1, 1, 1, 1))[i], p.T[i[:3] % 4], gc.flip(p, 1)[:, i % 4],
            gc.take(p, 5), gc.constant(np.full((5, 2), 7.0))[[1, 3]]]
    fn = gc.compile([p], outs)
    expected = [np.pad(value, 1)[i], value.T[i[:3] % 4], value[:, ::-1][:, i % 4],
                np.take(value, 5), np.full((2, 2), 7.0)]
    for a, e in zip(fn(value), expected):
        np.testing.assert_array_equal(a, e)
    assert len(fn.kernels) == len(outs)              # one per output: no copies
    assert "const long v0_i" in fn.kernels[0].source   # an int constant stays int


def test_constant_indices_keep_their_integer_dtype_through_views():
    i = gc.constant(np.array([[2 ** 40, 3]]), "int64")
    for view in [gc.reshape(i, (2,)), i.T, i[:, :1], gc.broadcast_to(i, (3, 2))]:
        assert view.dtype == np.int64


def test_scatter_by_element_as_a_gpu_runs_it(monkeypatch):
    """A GPU target sums each target element in its own work-item; run that form here."""
    from graphc import target
    monkeypatch.setattr(target.CPUTarget, "scatter_rows", False)
    w = gc.placeholder((6, 3), name="w")
    i = gc.placeholder((8,), "int64", name="i")
    g = gc.placeholder((8, 3), name="g")
    grad = gc.grad(gc.sum(gc.embedding(i, w) * g), w)
    fn = gc.compile([w, i, g], [w - 0.5 * grad])
    assert "scatter" in [k.kind for k in fn.kernels]
    rng = np.random.default_rng(0)
    index, values = rng.integers(-6, 6, 8), rng.standard_normal((8, 3)).astype(np.float32)
    (got,) = fn(np.ones((6, 3), np.float32), index, values)
    dense = np.zeros((6, 3), np.float32)
    np.add.at(dense, index, values)
    np.testing.assert_array_equal(got, np.ones((6, 3), np.float32) - 0.5 * dense)


def test_scatter_kernels_on_cpu_and_gpu_descriptions():
    """Lowered without a device: a CPU sums a bucket's row per work-item, a GPU an element."""
    from graphc.target import GPU
    w = gc.placeholder((50, 8), name="w")
    i = gc.placeholder((20,), "int64", name="i")
    grad = gc.grad(gc.sum(gc.embedding(i, w) ** 2), w)
    cpu = [k.template for k in gc.lower(grad).kernels]
    gpu = [k.template for k in gc.lower(grad, target=GPU).kernels]
    assert "buckets" in cpu and "scatter_rows" in cpu and "scatter" not in cpu
    assert "buckets" in gpu and "scatter" in gpu
    source = gc.lower(grad).source
    assert "atomic_inc" in source and "atomic_add" not in source and "double" not in source

# }}}


# {{{ kernels: a gather is read in place

def test_a_gather_is_read_in_place_by_its_consumer():
    x = gc.placeholder((100, 8), name="x")
    i = gc.placeholder((30,), "int64", name="i")
    for out in [(x[i] * 2).sum(1), gc.exp(x[i]) + 1, gc.embedding(i, x).sum()]:
        fn = gc.compile([x, i], out)
        assert len(fn.kernels) == 1, [k.name for k in fn.kernels]
        assert "gc_index(" in fn.kernels[0].source


def test_kernel_count_of_a_gather_feeding_a_matmul():
    """The matmul's tiles read a buffer: the gather is one small kernel before it."""
    x = gc.placeholder((100, 64), name="x")
    w = gc.placeholder((64, 32), name="w")
    i = gc.placeholder((40,), "int64", name="i")
    program = gc.lower(x[i] @ w)
    kinds = [k.kind for k in program.kernels]
    assert kinds in (["elementwise", "matmul"], ["launch"]), kinds


def test_embedding_training_step_kernels():
    """Forward gather fused into the loss; the gradient: buckets, then a scatter whose
    epilogue writes the SGD update in place."""
    w = gc.parameter(np.random.default_rng(0).standard_normal((1000, 16)), name="w",
                     dtype="float32")
    i = gc.placeholder((64,), "int64", name="i")
    loss = gc.sum(gc.embedding(i, w) ** 2)
    program = gc.lower(loss, {w: w - 0.1 * gc.grad(loss, w)})
    kinds = [k.kind for k in program.kernels]
    assert kinds.count("buckets") == 1 and kinds.count("scatter") == 1, kinds
    assert len(kinds) <= 4, kinds

# }}}


# {{{ errors

def test_errors_name_the_op_and_the_tensor():
    x = gc.placeholder((4, 3), name="x")
    f = gc.placeholder((2,), name="f")
    i = gc.placeholder((2,), "int64", name="i")
    with pytest.raises(gc.DTypeError, match="gather: index 'f' has dtype float32.*long"):
        gc.gather(x, 0, gc.reshape(f, (2, 1)).named("f"))
    with pytest.raises(gc.DTypeError, match="indexing: index 'f' has dtype float32"):
        x[f]
    with pytest.raises(gc.ShapeError, match="gather: index of shape \\(2,\\) does not fit "
                                            "x of shape \\(4, 3\\)"):
        gc.gather(x, 0, i)
    with pytest.raises(gc.ShapeError, match="index_select: axis 2 is out of range"):
        gc.index_select(x, 2, i)
    with pytest.raises(gc.ShapeError, match="take_along_axis: indices .* same number"):
        gc.take_along_axis(x, i, 0)
    with pytest.raises(TypeError, match="indexing: index is boolean.*gc.where"):
        x[x > 0]
    with pytest.raises(gc.ShapeError, match="index_add: source has shape"):
        gc.index_add(x, 0, i, x)
    with pytest.raises(gc.DTypeError, match="scatter_add: src has dtype float64"):
        gc.scatter_add(x, 0, gc.reshape(i, (2, 1)), np.ones((2, 1)))
    with pytest.raises(gc.ShapeError, match="embedding: weight must be 2-d"):
        gc.embedding(i, gc.placeholder((3,), name="v"))
    with pytest.raises(ValueError, match="embedding: padding_idx 4"):
        gc.embedding(i, x, padding_idx=4)

# }}}


def test_picked_log_probabilities_over_a_batch_of_any_size():
    """``log_softmax(z)[arange(n), labels]``, the way PyTorch's tutorials write the
    negative log-likelihood, over a None batch: its gradient, a scatter, is planned for
    each batch size a call brings; an index leaf read by the scatter is written first."""
    torch = pytest.importorskip("torch")
    z = gc.placeholder((None, 10), name="z")
    labels = gc.placeholder((None,), "int64", name="labels")
    picked = gc.log_softmax(z, 1)[gc.arange(z.size(0)), labels]
    loss = -picked.mean()
    fn = gc.compile([z, labels], [loss, gc.grad(loss, z)])
    rng = np.random.default_rng(11)
    for n in (128, 92, 128):
        zs = rng.normal(size=(n, 10)).astype(np.float32)
        ys = rng.integers(0, 10, n)
        got = fn(zs, ys)
        zt = torch.tensor(zs, requires_grad=True)
        want = torch.nn.functional.cross_entropy(zt, torch.tensor(ys))
        want.backward()
        np.testing.assert_allclose(got[0], want.item(), rtol=1e-5)
        np.testing.assert_allclose(got[1], zt.grad.numpy(), rtol=1e-5, atol=1e-8)
        ev = gc.evaluate([loss, gc.grad(loss, z)], {z: zs, labels: ys})
        np.testing.assert_allclose(ev[1], got[1], rtol=1e-5, atol=1e-8)
    assert len(fn.variants) == 2
    # an embedding's gradient over a None batch of indices, into a fixed table
    w = gc.parameter(rng.normal(size=(7, 3)).astype(np.float32), name="w")
    i = gc.placeholder((None,), "int64", name="i")
    g = gc.grad(gc.sum(gc.embedding(i, w) ** 2), w)
    index = np.array([1, 1, 6, 0, 1])
    want = np.zeros((7, 3), np.float32)
    np.add.at(want, index, 2 * w.value[index])
    np.testing.assert_allclose(gc.compile([i], g)(index), want, rtol=1e-6)
