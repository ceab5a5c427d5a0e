"""Joins and splits: cat, stack, split, chunk, tile, repeat, repeat_interleave, roll,
expand, movedim, unflatten. Forward and backward against torch (hypothesis shapes and
dims, negative ones too, both float dtypes), gradients against central differences,
compiled results against gc.evaluate, kernel counts (views read in place), and the
errors of every misuse."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, strategies as st

import graphc as gc

try:
    import torch
except ImportError:   # torch is an optional comparison
    torch = None

needs_torch = pytest.mark.skipif(torch is None, reason="torch is not installed")
FLOATS = st.sampled_from(["float32", "float64"])


def _listed(out):
    return list(out) if isinstance(out, (tuple, list)) else [out]


def _against_torch(build, build_torch, values, dtype, grad_check=True):
    """``build`` (graphc) and ``build_torch`` of placeholders fed ``values``: equal
    outputs, and equal gradients of ``sum(out_i * w_i)``; in float64, ``gc.check_grad``
    of that cost too. Returns the graphc outputs."""
    dtype = np.dtype(dtype)
    values = [np.asarray(v, dtype) for v in values]
    xs = [gc.placeholder(v.shape, dtype, name=f"x{i}") for i, v in enumerate(values)]
    outs = _listed(build(*xs))
    rng = np.random.default_rng(0)
    weights = [rng.standard_normal(o.shape).astype(dtype) for o in outs]
    cost = None
    for o, w in zip(outs, weights):
        term = gc.sum(o * w)
        cost = term if cost is None else cost + term
    grads = gc.grad(cost, xs)
    feed = dict(zip(xs, values))
    got = gc.evaluate(outs + grads, feed)
    ts = [torch.tensor(v, requires_grad=True) for v in values]
    touts = _listed(build_torch(*ts))
    assert len(touts) == len(outs)
    loss = sum((o * torch.from_numpy(w)).sum() for o, w in zip(touts, weights))
    loss.backward()
    tol = 1e-5 if dtype == np.float32 else 1e-12
    for g, t in zip(got[:len(outs)], touts):
        assert g.shape == tuple(t.shape)
        np.testing.assert_array_equal(g, t.detach().numpy())
    for g, t in zip(got[len(outs):], ts):
        np.testing.assert_allclose(g, t.grad.numpy(), rtol=tol, atol=tol)
    if grad_check and dtype == np.float64:
        gc.check_grad(cost, xs, feed)
    return got[:len(outs)]


def _values(shapes, seed=0):
    rng = np.random.default_rng(seed)
    return [rng.standard_normal(s) for s in shapes]


shapes = st.lists(st.integers(1, 4), min_size=1, max_size=3).map(tuple)


# {{{ against torch, hypothesis shapes and dims

@needs_torch
@given(shapes, st.data(), FLOATS)
def test_cat_matches_torch(shape, data, dtype):
    ndim = len(shape)
    dim = data.draw(st.integers(-ndim, ndim - 1))
    sizes = data.draw(st.lists(st.integers(1, 3), min_size=1, max_size=3))
    d = dim % ndim
    pieces = [shape[:d] + (s,) + shape[d + 1:] for s in sizes]
    numpy_name = data.draw(st.booleans())
    _against_torch(
        lambda *xs: gc.concatenate(list(xs), axis=dim) if numpy_name else gc.cat(xs, dim),
        lambda *ts: torch.cat(ts, dim), _values(pieces), dtype)


@needs_torch
@given(shapes, st.integers(1, 3), st.data(), FLOATS)
def test_stack_matches_torch(shape, count, data, dtype):
    dim = data.draw(st.integers(-len(shape) - 1, len(shape)))
    _against_torch(lambda *xs: gc.stack(list(xs), dim), lambda *ts: torch.stack(ts, dim),
                   _values([shape] * count), dtype)


@needs_torch
@given(shapes, st.data(), FLOATS)
def test_split_matches_torch(shape, data, dtype):
    dim = data.draw(st.integers(-len(shape), len(shape) - 1))
    n = shape[dim]
    if data.draw(st.booleans()):
        sections = data.draw(st.integers(1, n + 1))
    else:
        cuts = sorted(data.draw(st.sets(st.integers(1, n - 1), max_size=3))) if n > 1 else []
        sections = [b - a for a, b in zip([0] + cuts, cuts + [n])]
    _against_torch(lambda x: x.split(sections, dim), lambda t: t.split(sections, dim),
                   _values([shape]), dtype)


@needs_torch
@given(shapes, st.data(), FLOATS)
def test_chunk_matches_torch(shape, data, dtype):
    dim = data.draw(st.integers(-len(shape), len(shape) - 1))
    chunks = data.draw(st.integers(1, shape[dim] + 2))
    got = _against_torch(lambda x: gc.chunk(x, chunks, dim), lambda t: t.chunk(chunks, dim),
                         _values([shape]), dtype)
    assert len(got) <= chunks


@needs_torch
@given(shapes, st.lists(st.integers(1, 3), min_size=1, max_size=4).map(tuple), FLOATS)
def test_tile_matches_torch_and_numpy(shape, reps, dtype):
    (got,) = _against_torch(lambda x: gc.tile(x, reps), lambda t: t.tile(reps),
                            _values([shape]), dtype)
    np.testing.assert_array_equal(got, np.tile(_values([shape])[0].astype(dtype), reps))


@needs_torch
@given(shapes, st.data(), FLOATS)
def test_repeat_matches_torch(shape, data, dtype):
    extra = data.draw(st.integers(0, 1))
    sizes = tuple(data.draw(st.lists(st.integers(1, 3), min_size=len(shape) + extra,
                                     max_size=len(shape) + extra)))
    _against_torch(lambda x: x.repeat(*sizes), lambda t: t.repeat(*sizes),
                   _values([shape]), dtype)


@needs_torch
@given(shapes, st.integers(1, 3), st.data(), FLOATS)
def test_repeat_interleave_matches_torch(shape, repeats, data, dtype):
    dim = data.draw(st.one_of(st.none(), st.integers(-len(shape), len(shape) - 1)))
    _against_torch(lambda x: gc.repeat_interleave(x, repeats, dim),
                   lambda t: torch.repeat_interleave(t, repeats, dim), _values([shape]), dtype)


@needs_torch
@given(shapes, st.data(), FLOATS)
def test_roll_matches_torch(shape, data, dtype):
    shift = st.integers(-9, 9)
    if data.draw(st.booleans()):
        shifts, dims = data.draw(shift), None
    else:
        dims = tuple(data.draw(st.lists(st.integers(-len(shape), len(shape) - 1),
                                        min_size=1, max_size=3)))
        shifts = tuple(data.draw(shift) for _ in dims)
    _against_torch(lambda x: x.roll(shifts, dims), lambda t: t.roll(shifts, dims),
                   _values([shape]), dtype)


@needs_torch
@given(shapes, st.data(), FLOATS)
def test_expand_matches_torch(shape, data, dtype):
    shape = tuple(1 if data.draw(st.booleans()) else n for n in shape)
    lead = tuple(data.draw(st.lists(st.integers(1, 3), max_size=2)))
    sizes = lead + tuple(data.draw(st.sampled_from([-1, 3])) if n == 1 else
                         data.draw(st.sampled_from([-1, n])) for n in shape)
    _against_torch(lambda x: x.expand(*sizes), lambda t: t.expand(*sizes),
                   _values([shape]), dtype)


@needs_torch
@given(st.lists(st.integers(1, 4), min_size=1, max_size=4).map(tuple), st.data(), FLOATS)
def test_movedim_matches_torch(shape, data, dtype):
    ndim = len(shape)
    count = data.draw(st.integers(1, ndim))
    axes = st.permutations(range(ndim)).map(lambda p: p[:count])
    source = [a - ndim if data.draw(st.booleans()) else a for a in data.draw(axes)]
    destination = list(data.draw(axes))
    if count == 1 and data.draw(st.booleans()):
        source, destination = source[0], destination[0]
    _against_torch(lambda x: gc.movedim(x, source, destination),
                   lambda t: torch.movedim(t, source, destination), _values([shape]), dtype,
                   grad_check=False)


@needs_torch
@given(shapes, st.data(), FLOATS)
def test_unflatten_matches_torch(shape, data, dtype):
    dim = data.draw(st.integers(-len(shape), len(shape) - 1))
    n = shape[dim]
    first = data.draw(st.sampled_from([d for d in range(1, n + 1) if n % d == 0]))
    sizes = [first, n // first]
    if data.draw(st.booleans()):
        sizes[data.draw(st.integers(0, 1))] = -1
    _against_torch(lambda x: x.unflatten(dim, sizes), lambda t: t.unflatten(dim, sizes),
                   _values([shape]), dtype, grad_check=False)

# }}}


# {{{ compiled against the interpreter, and gradients by central differences

def test_compiled_joins_match_evaluate(dtype):
    """Every function at once, with its gradient: one compiled function."""
    a = gc.placeholder((3, 4), dtype, name="a")
    b = gc.placeholder((3, 2), dtype, name="b")
    p0, p1 = gc.split(a, [1, 3], -1)
    outs = [
        gc.cat([a, b], -1) * 2.0, gc.stack([a, a * 3.0], 1), gc.exp(p0) + p1,
        gc.chunk(b, 2, 0)[1], gc.tile(b, (2, 1, 2)), b.repeat(2, 1, 3),
        gc.repeat_interleave(a, 2, -1), gc.repeat_interleave(b, 3), gc.roll(a, (1, -1), (0, 1)),
        gc.roll(b, 4), b[:, :1].expand(2, -1, 5), gc.movedim(a[None], 0, -1),
        a.unflatten(1, (2, -1)),
    ]
    cost = sum(gc.sum(gc.sin(o) * (k + 1.0)) for k, o in enumerate(outs))
    grads = gc.grad(cost, [a, b])
    rng = np.random.default_rng(5)
    feed = {a: rng.standard_normal((3, 4)).astype(dtype),
            b: rng.standard_normal((3, 2)).astype(dtype)}
    fn = gc.compile([a, b], outs + grads)
    got = fn(*feed.values())
    want = gc.evaluate(outs + grads, feed)
    tol = 1e-5 if dtype == np.float32 else 1e-12
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, rtol=tol, atol=tol)
    if dtype == np.float64:
        gc.check_grad(cost, [a, b], feed)

# }}}


# {{{ kernel counts: read in place

def _kernels(inputs, output):
    return len(gc.compile(inputs, output).kernels)


def test_cat_and_split_are_read_in_place():
    a = gc.placeholder((4, 3), name="a")
    b = gc.placeholder((4, 5), name="b")
    fn = gc.compile([a, b], gc.cat([a, b], 1) * 2)
    assert len(fn.kernels) == 1, fn.describe()
    va = np.arange(12, dtype=np.float32).reshape(4, 3)
    vb = -np.arange(20, dtype=np.float32).reshape(4, 5)
    np.testing.assert_array_equal(fn(va, vb), np.concatenate([va, vb], 1) * 2)
    x = gc.placeholder((6, 8), name="x")
    p, q, r = gc.split(x, [2, 2, 4], 1)
    s, t = gc.chunk(x, 2, 0)
    fn = gc.compile([x], gc.exp(p) * q + r[:, 1:3] * gc.cat([s[:, :2], t[:, 6:]]))
    assert len(fn.kernels) == 1, fn.describe()
    v = np.random.default_rng(6).standard_normal((6, 8)).astype(np.float32)
    want = np.exp(v[:, :2]) * v[:, 2:4] + v[:, 5:7] * np.r_[v[:3, :2], v[3:, 6:]]
    np.testing.assert_allclose(fn(v), want, rtol=1e-6)


def test_stack_roll_expand_movedim_are_read_in_place():
    x = gc.placeholder((4, 5), name="x")
    y = gc.stack([x, gc.roll(x, 2, 1)], -1) + gc.movedim(x[:, :, None].expand(-1, -1, 2), 1, 1)
    assert _kernels([x], y * 2) == 1


def test_unsqueezed_elementwise_nodes_feed_any_consumer():
    """stack unsqueezes its pieces; an unsqueeze of an elementwise node is computed in
    its consumer's index space (views_into_elementwise): right under reductions,
    matmuls and softmax too."""
    x = gc.placeholder((4, 5), name="x")
    w = gc.placeholder((5, 3), name="w")
    e = gc.exp(x) * 2
    outs = [gc.sum(gc.unsqueeze(e, 1), 2), gc.matmul(gc.unsqueeze(e, 0), w),
            gc.max(gc.squeeze(gc.unsqueeze(e, 0) + 1, 0), 1), gc.sum(gc.stack([e, x], 1), 0),
            gc.softmax(gc.unsqueeze(e, -1), 1)]
    grads = gc.grad(sum(gc.sum(o) for o in outs), [x, w])
    rng = np.random.default_rng(7)
    feed = {x: rng.standard_normal((4, 5)).astype(np.float32),
            w: rng.standard_normal((5, 3)).astype(np.float32)}
    got = gc.compile([x, w], outs + grads)(*feed.values())
    for g, want in zip(got, gc.evaluate(outs + grads, feed)):
        np.testing.assert_allclose(g, want, rtol=1e-5, atol=1e-5)


def test_cat_gradient_is_slices_of_the_cotangent():
    a = gc.placeholder((4, 3), name="a")
    b = gc.placeholder((4, 5), name="b")
    y = gc.tanh(gc.cat([a, b], 1))
    fn = gc.compile([a, b], gc.grad(gc.sum(y * y), [a, b]))
    assert len(fn.kernels) <= 2, fn.describe()


def test_tile_of_size_one_axes_is_a_broadcast_and_others_a_copy():
    x = gc.placeholder((1, 5), name="x")
    assert _kernels([x], gc.tile(x, (3, 1)) * 2) == 1
    assert gc.tile(x, (3, 1)) is gc.broadcast_to(x, (3, 5))
    z = gc.placeholder((2, 5), name="z")
    assert _kernels([z], gc.tile(z, (3, 1)) * 2) <= 2    # the broadcast is copied first

# }}}


# {{{ dtypes

def test_cat_promotes_as_elementwise_ops_do():
    x = gc.placeholder((2, 2), name="x")
    m = gc.placeholder((2, 1), "bool", name="m")
    y = gc.cat([x, m], 1)
    assert y.dtype == np.float32
    vx = np.ones((2, 2), np.float32)
    vm = np.array([[True], [False]])
    np.testing.assert_array_equal(gc.evaluate(y, {x: vx, m: vm}), [[1, 1, 1], [1, 1, 0]])
    both = gc.cat([m, m], 0)
    assert both.dtype == np.bool_
    np.testing.assert_array_equal(gc.evaluate(both, {m: vm}), np.concatenate([vm, vm]))
    assert gc.stack([m, m]).dtype == np.bool_
    with pytest.raises(gc.DTypeError, match="cat.*float32 and float64"):
        gc.cat([x, gc.placeholder((2, 2), "float64")])


def test_joins_of_masks_compile(dtype):
    m = gc.placeholder((3,), "bool", name="m")
    x = gc.placeholder((3,), dtype, name="x")
    y = gc.where(gc.cat([m, gc.roll(m, 1)]), gc.tile(x, 2), 0.0)
    vm = np.array([True, False, True])
    vx = np.arange(1, 4).astype(dtype)
    fn = gc.compile([m, x], y)
    np.testing.assert_array_equal(fn(vm, vx), np.where(np.r_[vm, np.roll(vm, 1)],
                                                       np.tile(vx, 2), 0))

# }}}


# {{{ errors

def test_errors_name_the_op_and_the_shapes():
    x = gc.placeholder((2, 3), name="x")
    y = gc.placeholder((2, 4), name="y")
    cases = [
        (lambda: gc.cat([]), gc.ShapeError, "cat: expects a non-empty"),
        (lambda: gc.cat(x), TypeError, "cat: expects a list"),
        (lambda: gc.cat([x, y], 0), gc.ShapeError, r"cat: .*\(2, 3\).*\(2, 4\)"),
        (lambda: gc.cat([x, x[0]]), gc.ShapeError, "cat: .*same number of dimensions"),
        (lambda: gc.cat([x, x], 2), gc.ShapeError, "cat: axis 2 is out of range"),
        (lambda: gc.cat([x, x], dim=0, axis=1), TypeError, "dim or axis"),
        (lambda: gc.cat([gc.sum(x), gc.sum(x)]), gc.ShapeError, "zero-dimensional"),
        (lambda: gc.stack([]), gc.ShapeError, "stack: expects a non-empty"),
        (lambda: gc.stack([x, y]), gc.ShapeError, r"stack: .*\(2, 3\).*\(2, 4\)"),
        (lambda: gc.stack([x, x], 3), gc.ShapeError, "stack: axis 3"),
        (lambda: gc.split(x, [1, 1], 1), gc.ShapeError, r"split: sections \[1, 1\].*sum"),
        (lambda: gc.split(x, [3, 0], 1), gc.ShapeError, "split: sections"),
        (lambda: gc.split(x, 0), gc.ShapeError, "split: split size must be positive"),
        (lambda: gc.split(x, 1.5), TypeError, "split: split_size_or_sections"),
        (lambda: gc.split(x, 1, -3), gc.ShapeError, "split: axis -3"),
        (lambda: gc.chunk(x, 0), gc.ShapeError, "chunk: chunks must be a positive"),
        (lambda: gc.tile(x, (0, 1)), gc.ShapeError, "tile: repetitions must be positive"),
        (lambda: x.repeat(2), gc.ShapeError, r"repeat: .*shape \(2, 3\)"),
        (lambda: gc.repeat_interleave(x, x), TypeError, "repeat_interleave: repeats must be"),
        (lambda: gc.repeat_interleave(x, 0), gc.ShapeError, "repeats must be positive"),
        (lambda: gc.repeat_interleave(x, 2, 2), gc.ShapeError, "repeat_interleave: axis 2"),
        (lambda: gc.roll(x, (1, 2)), gc.ShapeError, "roll: without dims"),
        (lambda: gc.roll(x, (1, 2), 0), gc.ShapeError, "roll: shifts.*same length"),
        (lambda: gc.roll(x, 1, 2), gc.ShapeError, "roll: axis 2"),
        (lambda: x.expand(4, 3), gc.ShapeError, r"expand: cannot expand shape \(2, 3\)"),
        (lambda: x.expand(3), gc.ShapeError, "expand: 1 sizes"),
        (lambda: x.expand(-1, 2, 3), gc.ShapeError, "expand: .*-1 only keeps"),
        (lambda: gc.movedim(x, (0, 0), (0, 1)), gc.ShapeError, "movedim: repeated dim"),
        (lambda: gc.movedim(x, (0, 1), 0), gc.ShapeError, "movedim: .*same number"),
        (lambda: gc.movedim(x, 2, 0), gc.ShapeError, "movedim: axis 2"),
        (lambda: x.unflatten(1, (2, 2)), gc.ShapeError, r"unflatten: sizes \(2, 2\)"),
        (lambda: x.unflatten(1, (-1, -1)), gc.ShapeError, "unflatten: at most one -1"),
        (lambda: x.unflatten(1, ()), TypeError, "unflatten: sizes must be"),
    ]
    for call, error, pattern in cases:
        with pytest.raises(error, match=pattern):
            call()

# }}}
