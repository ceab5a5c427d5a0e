"""argmax, argmin, cumsum and cumprod: forward against torch and numpy (hypothesis shapes
and dims, negative ones too, both float dtypes), ties and NaN, gradients against torch and
central differences (cumprod with zeros), compiled results against gc.evaluate, views read
in place, kernel counts, GPU-shaped kernels on the test device, integer inputs, and the
errors of every misuse."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import graphc as gc
from graphc import codegen, runtime, target
from graphc.graph import Op

try:
    import torch
except ImportError:   # torch is an optional comparison
    torch = None

needs_torch = pytest.mark.skipif(torch is None, reason="torch is not installed")
FLOATS = st.sampled_from(["float32", "float64"])
shapes = st.lists(st.integers(1, 5), min_size=1, max_size=3).map(tuple)
GPU = codegen.Target("gpu", compute_units=4, max_group=256)


@pytest.fixture
def as_gpu():
    """Kernels shaped for a GPU (work-group trees, wide work-groups), run on the test
    device: OpenCL semantics do not depend on the device kind."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(runtime.DeviceContext, "target", property(lambda self: GPU))
        yield


def _compiled(outputs, feed):
    """Compiled results of ``outputs`` for ``feed``, the function, and gc.evaluate's."""
    inputs = list(feed)
    fn = gc.compile(inputs, outputs)
    return fn(*(feed[p] for p in inputs)), fn, gc.evaluate(outputs, feed)


def _ties_and_nans(data, shape, dtype, nans=True):
    """Values from a few integers (so that ties are common), NaN in some places."""
    values = np.array(data.draw(st.lists(st.integers(-2, 2), min_size=int(np.prod(shape)),
                                         max_size=int(np.prod(shape)))), dtype)
    if nans and data.draw(st.booleans()):
        values[data.draw(st.lists(st.integers(0, values.size - 1), max_size=3))] = np.nan
    return values.reshape(shape)


def _dim(data, ndim, allow_none=True):
    choices = st.integers(-ndim, ndim - 1)
    return data.draw(st.one_of(st.none(), choices) if allow_none else choices)


# {{{ argmax, argmin

@needs_torch
@given(shapes, st.data(), FLOATS, st.sampled_from(["argmax", "argmin"]))
def test_search_matches_torch_and_numpy(shape, data, dtype, name):
    """Ties take the first index, NaN wins, dim None flattens; evaluate against both."""
    values = _ties_and_nans(data, shape, dtype)
    dim, keep = _dim(data, len(shape)), data.draw(st.booleans())
    x = gc.placeholder(shape, dtype, name="x")
    torch_style = data.draw(st.booleans())
    out = (getattr(x, name)(dim=dim, keepdim=keep) if torch_style
           else getattr(gc, name)(x, axis=dim, keepdims=keep))
    got = gc.evaluate(out, {x: values})
    want = getattr(torch, name)(torch.from_numpy(values), dim=dim, keepdim=keep).numpy()
    assert out.dtype == np.int64 and got.dtype == np.int64
    np.testing.assert_array_equal(got, want)
    np.testing.assert_array_equal(got, getattr(np, name)(values, axis=dim, keepdims=keep))


@settings(max_examples=10)
@given(shapes, st.data(), FLOATS, st.sampled_from(["argmax", "argmin"]))
def test_search_compiled_matches_reference(shape, data, dtype, name):
    values = _ties_and_nans(data, shape, dtype)
    dim, keep = _dim(data, len(shape)), data.draw(st.booleans())
    x = gc.placeholder(shape, dtype, name="x")
    out = getattr(gc, name)(x, dim=dim, keepdim=keep)
    (got,), _, (want,) = _compiled([out], {x: values})
    assert got.dtype == np.int64
    np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("n", [7, 3000])        # one work-item's fold; long rows
@pytest.mark.parametrize("name", ["argmax", "argmin"])
def test_search_ties_and_nan(n, name):
    rng = np.random.default_rng(n)
    rows = [np.zeros(n), np.full(n, -np.inf), rng.integers(0, 3, n).astype(float)]
    with_nan = rng.standard_normal(n)
    with_nan[[n // 3, n // 2, n - 1]] = np.nan
    rows += [with_nan, np.full(n, np.nan), np.where(np.arange(n) % 2, 0.0, -0.0)]
    edge = rng.standard_normal(n)
    edge[[1, n - 2]] = [np.inf, -np.inf]
    rows.append(edge)
    values = np.stack(rows).astype(np.float32)
    x = gc.placeholder(values.shape, name="x")
    outs = [getattr(gc, name)(x, 1), getattr(gc, name)(x)]
    got, _, want = _compiled(outs, {x: values})
    np.testing.assert_array_equal(got[0], getattr(np, name)(values, 1))
    np.testing.assert_array_equal(got[1], getattr(np, name)(values))
    np.testing.assert_array_equal(got[0], want[0])


@pytest.mark.parametrize("shape, dim", [((3, 1000), 1), ((4, 5000), None), ((700, 3), 0),
                                        ((3, 9), 1)])
def test_search_gpu_kernels_match_reference(as_gpu, shape, dim):
    """A GPU's work-group tree of (value, index) pairs keeps the first index of ties and
    the first NaN, as the fold does."""
    rng = np.random.default_rng(0)
    values = rng.integers(0, 4, shape).astype(np.float32)
    values.reshape(-1)[rng.integers(0, values.size, 5)] = np.nan
    values[1] = 3.0
    x = gc.placeholder(shape, name="x")
    outs = [gc.argmax(x, dim), gc.argmin(x * 2.0, dim, keepdims=True)]
    got, fn, want = _compiled(outs, {x: values})
    for g, w in zip(got, want):
        np.testing.assert_array_equal(g, w)
    np.testing.assert_array_equal(got[0], np.argmax(values, dim))
    if shape[0] < 10:
        assert any(k.local_size[0] > 1 and k.template == "argmax" for k in fn.kernels)


def test_search_index_above_2_24_is_exact():
    """The index is an integer all the way: 2**24 + 3 is not a float32."""
    small = gc.placeholder((6,), name="small")
    x = gc.pad(small, (2 ** 24, 0), value=-1.0)       # read in place: no 64 MB buffer
    feed = {small: np.array([0, 1, 2, 5, 3, 5], np.float32)}
    (got,), fn, _ = _compiled([gc.argmax(x)], feed)
    assert got == 2 ** 24 + 3 and got.dtype == np.int64
    assert len(fn.kernels) == 1


def test_accuracy_is_few_kernels():
    """(argmax(out, 1) == labels).float().mean(): the comparison is the argmax's
    epilogue, the mean a second kernel; a linear layer's matmul comes first."""
    rng = np.random.default_rng(0)
    x = gc.placeholder((64, 20), name="x")
    labels = gc.placeholder((64,), "int64", name="labels")
    w = gc.parameter(rng.standard_normal((20, 10)).astype(np.float32), name="w")
    b = gc.parameter(rng.standard_normal(10).astype(np.float32), name="b")
    feed = {x: rng.standard_normal((64, 20)).astype(np.float32),
            labels: rng.integers(0, 10, 64)}
    for logits, kernels in [(x[:, :10] * 2.0 + 1.0, 2), (x @ w + b, 3)]:
        accuracy = (gc.argmax(logits, 1) == labels).float().mean()
        (got,), fn, (want,) = _compiled([accuracy], feed)
        assert got == want and len(fn.kernels) == kernels, [k.name for k in fn.kernels]
        predicted = np.argmax(gc.evaluate(logits, feed), 1)
        assert got == np.float32(np.mean(predicted == feed[labels]))


@pytest.mark.parametrize("build", [lambda x: gc.argmax(x.T, 0),
                                   lambda x: gc.argmin(x[::-1, 1:], 1),
                                   lambda x: gc.argmax(gc.exp(x) - x[:1], -1, keepdims=True),
                                   lambda x: gc.argmax(gc.broadcast_to(x[:, :1], (4, 6)))])
def test_search_reads_views_and_fuses_producers(build):
    values = np.random.default_rng(1).standard_normal((4, 6)).astype(np.float32)
    x = gc.placeholder((4, 6), name="x")
    (got,), fn, (want,) = _compiled([build(x)], {x: values})
    np.testing.assert_array_equal(got, want)
    assert len(fn.kernels) == 1


@pytest.mark.parametrize("dtype", ["int32", "int64", "bool"])
def test_search_of_integers(dtype):
    values = np.random.default_rng(2).integers(-5, 5, (5, 9)).astype(dtype)
    x = gc.placeholder(values.shape, dtype, name="x")
    got, _, want = _compiled([gc.argmax(x, 1), gc.argmin(x, 0), gc.argmax(x)], {x: values})
    for g, w, e in zip(got, want, [np.argmax(values, 1), np.argmin(values, 0),
                                   np.argmax(values)]):
        np.testing.assert_array_equal(g, w)
        np.testing.assert_array_equal(g, e)


def test_search_has_no_gradient_and_folds_single_candidates():
    x = gc.placeholder((3, 1), "float64", name="x")
    found = gc.argmax(x, 1)
    assert found.op is Op.CONST
    y = gc.placeholder((3, 4), "float64", name="y")
    cost = gc.sum(y) + gc.sum(gc.argmax(y, 1).double())
    np.testing.assert_array_equal(gc.evaluate(gc.grad(cost, y), {y: np.ones((3, 4))}),
                                  np.ones((3, 4)))
    assert gc.evaluate(gc.argmax(gc.constant(5.0)), {}) == 0


def test_search_errors_name_the_op_and_shape():
    x = gc.placeholder((3, 4), name="x")
    with pytest.raises(IndexError, match=r"argmax: dim 2 is out of range for a tensor of "
                                         r"shape \(3, 4\) \(expected a dim in \[-2, 1\]\)"):
        gc.argmax(x, 2)
    with pytest.raises(ValueError, match=r"argmin: dim -3 is out of range"):
        x.argmin(dim=-3)
    with pytest.raises(TypeError, match=r"argmax: dim must be one int"):
        gc.argmax(x, (0, 1))
    with pytest.raises(TypeError, match=r"argmin: dim must be an int, got float"):
        gc.argmin(x, 1.0)

# }}}


# {{{ cumsum, cumprod

def _scan_against_torch(name, values, dim, ts_dim=None):
    """Forward and the gradient of sum(out * w) against torch; returns the graph pieces."""
    dtype = values.dtype
    x = gc.placeholder(values.shape, dtype, name="x")
    out = getattr(gc, name)(x, dim)
    w = np.random.default_rng(0).standard_normal(out.shape).astype(dtype)
    cost = gc.sum(out * w)
    (gx,) = gc.grad(cost, [x])
    got, g = gc.evaluate([out, gx], {x: values})
    t = torch.tensor(values, requires_grad=True)
    tout = getattr(torch, name)(t, dim if ts_dim is None else ts_dim)
    (tout * torch.from_numpy(w)).sum().backward()
    tol = dict(rtol=2e-5, atol=2e-5) if dtype == np.float32 else dict(rtol=1e-11, atol=1e-11)
    np.testing.assert_allclose(got, tout.detach().numpy(), **tol)
    np.testing.assert_allclose(g, t.grad.numpy(), **tol)
    return x, out, cost, gx


@needs_torch
@given(shapes, st.data(), FLOATS, st.sampled_from(["cumsum", "cumprod"]))
def test_scan_matches_torch(shape, data, dtype, name):
    dim = _dim(data, len(shape), allow_none=False)
    values = np.random.default_rng(len(shape)).uniform(0.5, 1.5, shape).astype(dtype)
    if name == "cumprod" and data.draw(st.booleans()):
        values.reshape(-1)[data.draw(st.lists(st.integers(0, values.size - 1),
                                              max_size=3))] = 0.0
    x, out, cost, _ = _scan_against_torch(name, values, dim)
    if dtype == "float64":
        gc.check_grad(cost, [x], {x: values})


@settings(max_examples=8)
@given(shapes, st.data(), st.sampled_from(["cumsum", "cumprod"]))
def test_scan_compiled_matches_reference(shape, data, name):
    dim = _dim(data, len(shape), allow_none=False)
    rng = np.random.default_rng(sum(shape))
    values = rng.uniform(0.5, 1.5, shape)
    values.reshape(-1)[rng.integers(0, values.size, 2)] = 0.0
    x = gc.placeholder(shape, "float64", name="x")
    out = getattr(gc, name)(x, dim)
    (gx,) = gc.grad(gc.sum(gc.sin(out)), [x])
    got, _, want = _compiled([out, gx], {x: values})
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, rtol=1e-12, atol=1e-12)


@needs_torch
@pytest.mark.parametrize("row", [[2.0, 0.0, 3.0, 4.0], [0.0, 2.0, 3.0, 0.5],
                                 [2.0, 3.0, 0.5, 0.0], [1.5, 0.0, 2.0, 0.0, 3.0],
                                 [0.0, 0.0, 0.0, 2.0], [2.0, -1.0, 0.0, 0.0]])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_cumprod_gradient_with_zeros(row, dtype):
    """One zero, several, first and last: torch's gradient, and central differences."""
    values = np.array([row, row[::-1]], dtype)
    for dim in (1, -1):
        x, out, cost, gx = _scan_against_torch("cumprod", values, dim)
        (got,), _, (want,) = _compiled([gx], {x: values})
        np.testing.assert_allclose(got, want, rtol=1e-6)
    if dtype == "float64":
        gc.check_grad(cost, [x], {x: values})
        values = np.ascontiguousarray(values.T)
        x, out, cost, gx = _scan_against_torch("cumprod", values, 0)
        gc.check_grad(cost, [x], {x: values})


def test_cumprod_second_derivative():
    values = np.array([[1.5, 0.0, 2.0, -0.5], [0.5, 2.0, 1.5, 3.0]])
    x = gc.placeholder(values.shape, "float64", name="x")
    w = gc.constant(np.random.default_rng(3).standard_normal(values.shape))
    (gx,) = gc.grad(gc.sum(gc.cumprod(x, 1) * w), [x])
    gc.check_grad(gc.sum(gx * gx), [x], {x: values})
    (gs,) = gc.grad(gc.sum(gc.cumsum(x * x, 0) * w), [x])
    gc.check_grad(gc.sum(gs * gs), [x], {x: values})


VIEWS = [(lambda x: x.T, lambda t: t.T, 0), (lambda x: x[::-1, 1:], lambda t: t.flip(0)[:, 1:], 1),
         (lambda x: x[:, ::2], lambda t: t[:, ::2], -1),
         (lambda x: gc.broadcast_to(x[:1], (3, 5)), lambda t: t[:1].expand(3, 5), 0)]


@needs_torch
@pytest.mark.parametrize("name", ["cumsum", "cumprod"])
@pytest.mark.parametrize("view, torch_view, dim", VIEWS)
def test_scan_reads_views_in_place(name, view, torch_view, dim):
    """A transposed, reversed, strided or broadcast input is read in place: one kernel."""
    values = np.random.default_rng(4).uniform(0.5, 1.5, (5, 5))
    x = gc.placeholder((5, 5), "float64", name="x")
    out = getattr(gc, name)(view(x), dim)
    (gx,) = gc.grad(gc.sum(out * out), [x])
    got, fn, want = _compiled([out, gx], {x: values})
    t = torch.tensor(values, requires_grad=True)
    tout = getattr(torch, name)(torch_view(t), dim)
    (tout * tout).sum().backward()
    for g, w, e in zip(got, want, [tout.detach().numpy(), t.grad.numpy()]):
        np.testing.assert_allclose(g, w, rtol=1e-12)
        np.testing.assert_allclose(g, e, rtol=1e-12)
    assert len(gc.compile([x], out).kernels) == 1


def test_scan_fuses_producers_and_consumers():
    """cumsum(exp(x)) * 2 + x is one kernel; its gradient is one reverse scan."""
    values = np.random.default_rng(5).standard_normal((6, 7)).astype(np.float32)
    x = gc.placeholder((6, 7), name="x")
    out = gc.cumsum(gc.exp(x), 1) * 2.0 + x
    (got,), fn, (want,) = _compiled([out], {x: values})
    np.testing.assert_allclose(got, want, rtol=1e-5)
    assert len(fn.kernels) == 1 and fn.kernels[0].kind == "scan"
    g = gc.placeholder((6, 7), name="g")
    (gx,) = gc.grad(gc.cumsum(x, 0), [x], grad_output=g)
    (got,), fn, (want,) = _compiled([gx], {x: values, g: values})
    np.testing.assert_allclose(got, np.flip(np.cumsum(np.flip(values, 0), 0), 0), rtol=1e-5)
    assert len(fn.kernels) == 1


@needs_torch
def test_scan_numpy_and_torch_arguments():
    values = np.random.default_rng(6).standard_normal((3, 4)).astype(np.float32)
    x = gc.placeholder((3, 4), name="x")
    outs = [gc.cumsum(x), gc.cumprod(x, axis=0), x.cumsum(dim=-1), x.cumprod(1),
            gc.cumsum(x, 1, dtype="float64"), gc.cumsum(gc.constant(2.0), 0)]
    got, _, want = _compiled(outs, {x: values})
    expected = [np.cumsum(values), np.cumprod(values, axis=0), np.cumsum(values, -1),
                np.cumprod(values, 1), np.cumsum(values.astype(np.float64), 1), 2.0]
    for g, w, e in zip(got, want, expected):
        np.testing.assert_allclose(g, w, rtol=1e-6)
        np.testing.assert_allclose(g, e, rtol=1e-6)
    assert outs[4].dtype == np.float64 and outs[5].shape == ()
    assert outs[0].shape == (12,)
    t = torch.from_numpy(values)
    np.testing.assert_allclose(got[2], torch.cumsum(t, dim=-1).numpy(), rtol=1e-6)


@pytest.mark.parametrize("dtype", ["int32", "int64", "bool", "uint32"])
def test_scan_of_integers_is_int64_and_exact(dtype):
    """Integers and bools accumulate in int64 (torch's dtype), in the kernel's integer
    arithmetic: sums past 2**31 and products past 2**24 are exact."""
    rng = np.random.default_rng(7)
    big = {"bool": 2, "int32": 2 ** 30, "int64": 2 ** 30, "uint32": 2 ** 30}[dtype]
    values = rng.integers(0, big, (3, 6)).astype(dtype)
    small = rng.integers(1, 2 if dtype == "bool" else 40, (3, 6)).astype(dtype)
    x = gc.placeholder(values.shape, dtype, name="x")
    y = gc.placeholder(values.shape, dtype, name="y")
    outs = [gc.cumsum(x, 1), gc.cumprod(y, 1), gc.cumsum(x, 0)]
    got, _, want = _compiled(outs, {x: values, y: small})
    expected = [np.cumsum(values.astype(np.int64), 1), np.cumprod(small.astype(np.int64), 1),
                np.cumsum(values.astype(np.int64), 0)]
    for o, g, w, e in zip(outs, got, want, expected):
        assert o.dtype == np.int64 and g.dtype == np.int64
        np.testing.assert_array_equal(g, e)
        np.testing.assert_array_equal(w, e)


@pytest.mark.parametrize("shape", [(6, 300), (3, 2, 531)])
def test_scan_of_many_rows_by_blocks(shape):
    """Along an outer axis a CPU work-item scans a block of neighbouring rows (the last
    block partly); the gradient scans them backwards."""
    rng = np.random.default_rng(9)
    values = rng.uniform(0.5, 1.5, shape)
    x = gc.placeholder(shape, "float64", name="x")
    outs = [gc.cumsum(gc.sin(x), 0) + x, gc.cumprod(x, 0)]
    (gx,) = gc.grad(gc.sum(outs[0] * outs[1]), [x])
    got, fn, want = _compiled(outs + [gx], {x: values})
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(got[0], np.cumsum(np.sin(values), 0) + values, rtol=1e-12)
    rows = int(np.prod(shape[1:]))
    W, _ = runtime.device_context().target.scan(rows, True)
    scans = [g for k in fn.kernels for g in k.generated() if g.kind == "scan"]
    assert scans and all(k.fields["W"] == W for k in scans)


def test_scan_in_parameter_updates():
    """A parameter updated by a scan of itself, and one updated in a scan's epilogue."""
    rng = np.random.default_rng(10)
    start = rng.standard_normal((3, 4)).astype(np.float32)
    p = gc.parameter(start, name="p")
    q = gc.parameter(start, name="q")
    g = gc.placeholder((3, 4), name="g")
    step = gc.compile([g], [gc.argmax(p, 1)],
                      {p: gc.cumsum(p, 1), q: q - 0.5 * gc.cumsum(g, 0)})
    feed = rng.standard_normal((3, 4)).astype(np.float32)
    (found,) = step(feed)
    np.testing.assert_array_equal(found, np.argmax(start, 1))
    np.testing.assert_allclose(p.value, np.cumsum(start, 1), rtol=1e-6)
    np.testing.assert_allclose(q.value, start - 0.5 * np.cumsum(feed, 0), rtol=1e-6)


def test_scan_size_one_and_0d():
    x = gc.placeholder((4, 1), name="x")
    assert gc.cumsum(x, 1) is x and gc.cumprod(x, -1) is x
    s = gc.placeholder((), name="s")
    assert gc.cumsum(s, 0) is s and gc.cumprod(s, dim=-1) is s
    assert gc.cumsum(s).shape == (1,)


def test_scan_gpu_kernels_match_reference(as_gpu):
    rng = np.random.default_rng(8)
    values = rng.uniform(0.5, 1.5, (70, 9))
    values[3, 4] = 0.0
    x = gc.placeholder(values.shape, "float64", name="x")
    outs = [gc.cumsum(x, 0), gc.cumprod(x, 1)]
    (gx,) = gc.grad(gc.sum(outs[1] * x), [x])
    got, fn, want = _compiled(outs + [gx], {x: values})
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, rtol=1e-12, atol=1e-12)
    assert any(k.kind == "scan" and k.local_size[0] > 1 for k in fn.kernels)


def test_lowered_without_a_device():
    """Device-free: a CPU's argmax folds a row in one work-item, a GPU's in a work-group
    tree; a CPU scans 32 columns a work-item, a GPU one in work-groups of 64; float32
    kernels hold no double."""
    x = gc.placeholder((4, 5000), name="x")
    outs = [gc.argmax(x, 1), gc.cumsum(x, 0)]
    for tgt, search, scan_fields, local in [(target.CPU, "argmax_items", 32, (1,)),
                                            (target.GPU, "argmax", 1, (64,))]:
        kernels = [g for k in gc.lower(outs, [], tgt).kernels for g in k.generated()]
        (found,) = [k for k in kernels if k.template.startswith("argmax")]
        (scanned,) = [k for k in kernels if k.kind == "scan"]
        assert found.template == search and "long* restrict" in found.source
        assert scanned.fields["W"] == scan_fields and scanned.local_size == local
        assert all("double" not in k.source for k in kernels)


def test_scan_errors_name_the_op_and_shape():
    x = gc.placeholder((2, 3), name="x")
    with pytest.raises(IndexError, match=r"cumsum: dim 2 is out of range for a tensor of "
                                         r"shape \(2, 3\) \(expected a dim in \[-2, 1\]\)"):
        gc.cumsum(x, 2)
    with pytest.raises(ValueError, match=r"cumprod: dim -3 is out of range"):
        x.cumprod(-3)
    with pytest.raises(TypeError, match=r"cumsum: dim must be one int"):
        gc.cumsum(x, (0, 1))
    with pytest.raises(gc.DTypeError, match=r"cumsum"):
        gc.cumsum(x, 0, dtype="float16")

# }}}
