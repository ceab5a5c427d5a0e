"""Views: basic slicing (negative steps too), pad in every mode, flip, stop_gradient,
unsqueeze/squeeze/flatten; forward against numpy (and torch where installed), gradients
against central differences, compiled results against gc.evaluate, and fusion: views are
read in place by the consumer's kernel."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, strategies as st

import graphc as gc

try:
    import torch
except ImportError:   # torch is an optional comparison
    torch = None


def _compiled(outputs, feed):
    fn = gc.compile(list(feed), outputs)
    return fn, fn(*feed.values())


# {{{ basic indexing

@st.composite
def sliced(draw):
    """A shape and a basic-indexing key for it: ints, slices with any step, None, ..."""
    shape = tuple(draw(st.lists(st.integers(1, 5), min_size=1, max_size=3)))
    key = []
    for n in shape:
        kind = draw(st.sampled_from(["slice", "int", "full"]))
        if kind == "int":
            key.append(draw(st.integers(-n, n - 1)))
        elif kind == "full":
            key.append(slice(None))
        else:
            step = draw(st.sampled_from([1, 2, 3, -1, -2]))
            start = draw(st.one_of(st.none(), st.integers(-n, n - 1)))
            stop = draw(st.one_of(st.none(), st.integers(-n - 1, n)))
            key.append(slice(start, stop, step))
        if draw(st.booleans()) and draw(st.booleans()):
            key.append(None)
    if draw(st.booleans()) and len(key) > 1:
        key = [Ellipsis] + key[len(key) // 2:]
        if sum(k is not None and k is not Ellipsis for k in key) > len(shape):
            key = [Ellipsis]
    return shape, tuple(key)


def _non_empty(shape, key):
    return np.empty(shape)[key].size > 0


@given(sliced())
def test_basic_indexing_matches_numpy_and_its_gradient(case):
    shape, key = case
    if not _non_empty(shape, key):
        with pytest.raises(gc.ShapeError, match="empty"):
            gc.placeholder(shape, name="x")[key]
        return
    rng = np.random.default_rng(0)
    value = rng.standard_normal(shape)
    x = gc.placeholder(shape, "float64", name="x")
    y = x[key]
    expected = value[key]
    assert y.shape == expected.shape
    np.testing.assert_array_equal(gc.evaluate(y, {x: value}), expected)
    w = rng.standard_normal(expected.shape)
    cost = gc.sum(gc.sin(y) * w) if hasattr(gc, "sin") else gc.sum(gc.tanh(y) * w)
    gc.check_grad(cost, [x], {x: value})


@pytest.mark.parametrize("key", [np.s_[1:, ::-2], np.s_[..., None, 2], np.s_[-1], np.s_[::3, 1:2],
                                 np.s_[None, :, ::-1]])
def test_slices_compile_to_one_kernel_with_their_gradient(key, dtype):
    rng = np.random.default_rng(1)
    value = rng.standard_normal((5, 6)).astype(dtype)
    x = gc.placeholder((5, 6), dtype, name="x")
    y = gc.tanh(x[key]) * 3.0
    g = gc.grad(gc.sum(y * y), x)
    fn, (got, got_g) = _compiled([y, g], {x: value})
    want, want_g = gc.evaluate([y, g], {x: value})
    tol = 1e-6 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(got, want, rtol=tol, atol=tol)
    np.testing.assert_allclose(got_g, want_g, rtol=tol, atol=tol)
    np.testing.assert_allclose(got, np.tanh(value[key]) * 3, rtol=1e-5, atol=1e-6)
    assert len(gc.compile([x], y).kernels) == 1       # the slice is read in place
    # y over its shape, then its cotangent computed straight into x's shape (the pad of
    # the gradient pushed into it); a strided slice's gradient spreads the cotangent out
    # through reshapes of pads, which take copies
    keys = key if isinstance(key, tuple) else (key,)
    strided = any(isinstance(k, slice) and k.step not in (None, 1, -1) for k in keys)
    assert len(fn.kernels) <= (4 if strided else 2), fn.describe()


def test_indexing_errors_name_the_problem():
    x = gc.placeholder((3, 4), name="x")
    with pytest.raises(IndexError, match="out of bounds.*axis 1.*size 4"):
        x[0, 4]
    with pytest.raises(IndexError, match="too many indices"):
        x[0, 0, 0]
    with pytest.raises(TypeError, match="boolean.*gc.where"):   # integer arrays gather
        x[np.array([True, False, True])]
    assert x[2:1].shape == (0,) + x.shape[1:]         # empty, as numpy's
    with pytest.raises(IndexError, match="single ellipsis"):
        x[..., ...]

# }}}


# {{{ pad

PAD_MODES = {"constant": "constant", "reflect": "reflect", "replicate": "edge",
             "circular": "wrap"}


@pytest.mark.parametrize("mode", sorted(PAD_MODES))
@pytest.mark.parametrize("widths", [(1, 2), (0, 1, 2, 0), (2, 2, 1, 1)])
def test_pad_matches_numpy_and_torch(mode, widths, dtype):
    rng = np.random.default_rng(2)
    value = rng.standard_normal((4, 5)).astype(dtype)
    x = gc.placeholder((4, 5), dtype, name="x")
    kwargs = {"value": 1.5} if mode == "constant" else {}
    y = gc.pad(x, widths, mode=mode, **kwargs)
    pairs = [(0, 0)] * 2
    for k in range(len(widths) // 2):
        pairs[1 - k] = (widths[2 * k], widths[2 * k + 1])
    np_kwargs = {"constant_values": 1.5} if mode == "constant" else {}
    expected = np.pad(value, pairs, mode=PAD_MODES[mode], **np_kwargs)
    np.testing.assert_array_equal(gc.evaluate(y, {x: value}), expected)
    fn, got = _compiled(y, {x: value})
    np.testing.assert_array_equal(got, expected)
    if torch is not None:
        t = torch.nn.functional.pad(torch.from_numpy(value)[None], widths, mode=mode,
                                    **kwargs)[0]
        np.testing.assert_array_equal(got, t.numpy())
    w = rng.standard_normal(expected.shape)
    x64 = gc.placeholder((4, 5), "float64", name="x64")
    gc.check_grad(gc.sum(gc.pad(x64, widths, mode=mode, **kwargs) ** 2 * w), [x64],
                  {x64: value.astype(np.float64)})


def test_negative_pad_crops():
    x = gc.placeholder((4, 5), name="x")
    value = np.arange(20, dtype=np.float32).reshape(4, 5)
    got = gc.evaluate(gc.pad(x, (-1, 2)), {x: value})
    np.testing.assert_array_equal(got, np.pad(value[:, 1:], ((0, 0), (0, 2))))


def test_pad_errors():
    x = gc.placeholder((4, 5), name="x")
    with pytest.raises(gc.ShapeError, match="even number"):
        gc.pad(x, (1,))
    with pytest.raises(gc.ShapeError, match="reflect.*at most 4"):
        gc.pad(x, (5, 0), mode="reflect")
    with pytest.raises(ValueError, match="mode"):
        gc.pad(x, (1, 1), mode="mirror")


def test_pad_of_a_slice_is_read_in_place():
    """slicing's gradient is a pad: both are views, so x -> slice -> op -> pad -> op is
    one kernel: the op is computed in the pad's index space, masked outside."""
    rng = np.random.default_rng(3)
    value = rng.standard_normal((6, 7)).astype(np.float32)
    x = gc.placeholder((6, 7), name="x")
    inner = gc.exp(x[1:-1, 2:])
    y = gc.pad(inner, (2, 0, 1, 1)) + x
    fn, got = _compiled(y, {x: value})
    expected = np.pad(np.exp(value[1:-1, 2:]), ((1, 1), (2, 0))) + value
    np.testing.assert_allclose(got, expected, rtol=1e-6)
    assert len(fn.kernels) == 1, fn.describe()   # exp computed in the pad's index space
    assert fn.kernels[0].source.count("exp(") == 1

# }}}


def test_flip_matches_numpy(dtype):
    value = np.arange(24, dtype=dtype).reshape(2, 3, 4)
    x = gc.placeholder((2, 3, 4), dtype, name="x")
    for dims in [(0,), (1, 2), (-1,), None]:
        y = gc.flip(x, dims) if dims is not None else gc.flip(x)
        expected = np.flip(value, dims)
        np.testing.assert_array_equal(gc.evaluate(y, {x: value}), expected)
        fn, got = _compiled(y * 2.0, {x: value})
        np.testing.assert_array_equal(got, expected * 2)
    x64 = gc.placeholder((2, 3, 4), "float64", name="x64")
    gc.check_grad(gc.sum(gc.flip(x64, (1,)) * np.arange(24.0).reshape(2, 3, 4)), [x64],
                  {x64: value.astype(np.float64)})


def test_stop_gradient_and_detach():
    x = gc.placeholder((3,), "float64", name="x")
    y = gc.sum(x * gc.stop_gradient(x) + x.detach() ** 2)
    value = np.array([1.0, -2.0, 3.0])
    np.testing.assert_allclose(gc.evaluate(gc.grad(y, x), {x: value}), value)
    np.testing.assert_allclose(gc.evaluate(y, {x: value}), 2 * np.sum(value ** 2))


def test_unsqueeze_squeeze_flatten():
    x = gc.placeholder((2, 1, 3), name="x")
    assert gc.unsqueeze(x, -1).shape == (2, 1, 3, 1)
    assert x.unsqueeze(0).shape == (1, 2, 1, 3)
    assert gc.squeeze(x).shape == (2, 3)
    assert x.squeeze(0).shape == (2, 1, 3)      # torch leaves a non-1 axis alone
    assert x.flatten().shape == (6,)
    assert gc.flatten(gc.placeholder((2, 3, 4, 5)), 1, 2).shape == (2, 12, 5)
    assert x[..., None].shape == (2, 1, 3, 1)


def test_heat_equation_step_as_numpy_users_write_it(dtype):
    """One explicit step of the 2-D heat equation, written with slices as in numpy,
    put back on the grid with pad: one kernel, equal to numpy."""
    n, mu = 34, 0.2
    rng = np.random.default_rng(4)
    value = rng.random((n, n)).astype(dtype)
    u = gc.placeholder((n, n), dtype, name="u")
    c = u[1:-1, 1:-1]
    inner = c + mu * (u[2:, 1:-1] - 2 * c + u[:-2, 1:-1] + u[1:-1, 2:] - 2 * c + u[1:-1, :-2])
    new = gc.pad(inner, (1, 1, 1, 1))
    fn, got = _compiled(new, {u: value})
    ref = value.copy()
    ref[1:-1, 1:-1] = value[1:-1, 1:-1] + mu * (
        value[2:, 1:-1] - 2 * value[1:-1, 1:-1] + value[:-2, 1:-1]
        + value[1:-1, 2:] - 2 * value[1:-1, 1:-1] + value[1:-1, :-2])
    ref[0, :] = ref[-1, :] = ref[:, 0] = ref[:, -1] = 0
    np.testing.assert_allclose(got, ref, rtol=1e-5 if dtype == np.float32 else 1e-12,
                               atol=1e-6)
    assert len(fn.kernels) == 1, fn.describe()
    # the input and the output; the pad's mask, a uniform constant, is one element
    assert fn.device_bytes <= 2 * n * n * value.itemsize + 8, fn.device_bytes


def test_axis_errors_name_the_op_the_tensor_and_its_shape():
    x = gc.placeholder((10, 4), name="x")
    for build, op in ((lambda: gc.sum(x, axis=2), "sum"), (lambda: x.softmax(5), "max"),
                      (lambda: gc.cat([x, x], 3), "cat"), (lambda: x.squeeze(-3), "squeeze"),
                      (lambda: x.transpose(0, 2), "transpose"),
                      (lambda: gc.flip(x, 4), "flip")):
        with pytest.raises(gc.errors.AxisError,
                           match=rf"{op}: axis -?\d+ is out of range for a tensor 'x' of "
                                 r"shape \(10, 4\) \(expected an axis in \[-2, 1\]\)"):
            build()
    with pytest.raises(IndexError):          # as torch's
        gc.sum(x, axis=2)
    with pytest.raises(TypeError, match=r"sum: an axis \(dim\) must be an int, got 1.0"):
        gc.sum(x, axis=1.0)
