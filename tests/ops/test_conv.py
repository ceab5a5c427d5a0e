"""Convolutions and pools: conv1d, conv2d, conv_transpose1d/2d, max_pool, avg_pool and
adaptive_avg_pool against torch, forward and backward, on hypothesis-drawn strides,
paddings, dilations, groups and shapes in both float dtypes; compiled results against
gc.evaluate; gradients against central differences and grad of grad; the first maximum
of a tie; kernel counts; and the errors of every misuse."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import graphc as gc

try:
    import torch
    import torch.nn.functional as F
except ImportError:   # torch is an optional comparison
    torch = None

needs_torch = pytest.mark.skipif(torch is None, reason="torch is not installed")
FLOATS = st.sampled_from(["float32", "float64"])
FEW = settings(max_examples=6, deadline=None)
MANY = settings(max_examples=30, deadline=None)


def _listed(out):
    return list(out) if isinstance(out, (tuple, list)) else [out]


def _compare(build, build_torch, values, dtype, check_grad=False):
    """graphc (compiled, and gc.evaluate) against torch: the outputs, and the gradients
    of ``sum(out * w)`` with respect to every input; ``gc.check_grad`` of that cost in
    float64 where ``check_grad``."""
    dtype = np.dtype(dtype)
    values = [np.asarray(v, dtype) for v in values]
    xs = [gc.placeholder(v.shape, dtype, name=f"x{i}") for i, v in enumerate(values)]
    outs = _listed(build(*xs))
    rng = np.random.default_rng(1)
    weights = [rng.standard_normal(o.shape).astype(dtype) for o in outs]
    cost = sum((gc.sum(o * w) for o, w in zip(outs, weights)), gc.constant(0.0, dtype))
    grads = gc.grad(cost, xs)
    compiled = gc.compile(xs, outs + grads)(*values)
    expected = gc.evaluate(outs + grads, dict(zip(xs, values)))
    ts = [torch.tensor(v, requires_grad=True) for v in values]
    touts = _listed(build_torch(*ts))
    sum((o * torch.from_numpy(w)).sum() for o, w in zip(touts, weights)).backward()
    want = [t.detach().numpy() for t in touts] + [t.grad.numpy() for t in ts]
    tol = dict(rtol=2e-4, atol=2e-4) if dtype == np.float32 else dict(rtol=1e-10, atol=1e-10)
    for i, (c, e, w) in enumerate(zip(compiled, expected, want)):
        assert c.shape == w.shape, f"result {i}"
        np.testing.assert_allclose(c, w, err_msg=f"result {i}: compiled vs torch", **tol)
        np.testing.assert_allclose(e, w, err_msg=f"result {i}: evaluate vs torch", **tol)
    if check_grad and dtype == np.float64:
        gc.check_grad(cost, xs, dict(zip(xs, values)))
    return compiled


def _normal(*shapes, seed=0):
    rng = np.random.default_rng(seed)
    return [rng.standard_normal(s) for s in shapes]


# {{{ convolutions against torch

@st.composite
def conv_cases(draw, nd):
    groups = draw(st.sampled_from([1, 1, 2]))
    c_in, c_out = groups * draw(st.integers(1, 2)), groups * draw(st.integers(1, 3))
    kernel = tuple(draw(st.integers(1, 3)) for _ in range(nd))
    stride = tuple(draw(st.integers(1, 2)) for _ in range(nd))
    dilation = tuple(draw(st.integers(1, 2)) for _ in range(nd))
    if all(s == 1 for s in stride) and draw(st.booleans()):
        padding = draw(st.sampled_from(["same", "valid"]))
        pads = [0] * nd if padding == "valid" else [d * (k - 1) for k, d in
                                                     zip(kernel, dilation)]
    else:
        pads = [draw(st.integers(0, 2)) for _ in range(nd)]
        padding = tuple(pads) if draw(st.booleans()) else pads[0]
        pads = [pads[0]] * nd if isinstance(padding, int) else pads
        pads = [2 * p for p in pads]
    size = tuple(max(draw(st.integers(1, 7)), d * (k - 1) + 1 - p) for k, d, p in
                 zip(kernel, dilation, pads))
    n = draw(st.integers(1, 2))
    bias = draw(st.booleans())
    return dict(x=(n, c_in) + size, w=(c_out, c_in // groups) + kernel, bias=bias,
                args=dict(stride=stride, padding=padding, dilation=dilation, groups=groups))


@needs_torch
@FEW
@given(conv_cases(2), FLOATS)
def test_conv2d_matches_torch(case, dtype):
    shapes = [case["x"], case["w"]] + ([case["w"][:1]] if case["bias"] else [])
    _compare(lambda *a: gc.conv2d(*a, **case["args"]),
             lambda *a: F.conv2d(*a, **case["args"]), _normal(*shapes), dtype)


@needs_torch
@FEW
@given(conv_cases(1), FLOATS)
def test_conv1d_matches_torch(case, dtype):
    shapes = [case["x"], case["w"]] + ([case["w"][:1]] if case["bias"] else [])
    _compare(lambda *a: gc.conv1d(*a, **case["args"]),
             lambda *a: F.conv1d(*a, **case["args"]), _normal(*shapes), dtype)


@pytest.mark.slow
@needs_torch
@MANY
@given(conv_cases(2), FLOATS)
def test_conv2d_matches_torch_many(case, dtype):
    shapes = [case["x"], case["w"]] + ([case["w"][:1]] if case["bias"] else [])
    _compare(lambda *a: gc.conv2d(*a, **case["args"]),
             lambda *a: F.conv2d(*a, **case["args"]), _normal(*shapes), dtype)


@st.composite
def transpose_cases(draw, nd):
    groups = draw(st.sampled_from([1, 1, 2]))
    c_in, c_out = groups * draw(st.integers(1, 2)), groups * draw(st.integers(1, 2))
    kernel = tuple(draw(st.integers(1, 3)) for _ in range(nd))
    stride = tuple(draw(st.integers(1, 3)) for _ in range(nd))
    dilation = tuple(draw(st.integers(1, 2)) for _ in range(nd))
    extra = tuple(draw(st.integers(0, max(s, d) - 1)) for s, d in zip(stride, dilation))
    size = tuple(draw(st.integers(1, 5)) for _ in range(nd))
    full = [(s - 1) * st_ + d * (k - 1) + 1 for s, st_, d, k in
            zip(size, stride, dilation, kernel)]
    padding = tuple(draw(st.integers(0, max(0, (f + e - 1) // 2))) for f, e in
                    zip(full, extra))
    return dict(x=(draw(st.integers(1, 2)), c_in) + size,
                w=(c_in, c_out // groups) + kernel, bias=draw(st.booleans()), c_out=c_out,
                args=dict(stride=stride, padding=padding, output_padding=extra,
                          groups=groups, dilation=dilation))


@needs_torch
@FEW
@given(transpose_cases(2), FLOATS)
def test_conv_transpose2d_matches_torch(case, dtype):
    shapes = [case["x"], case["w"]] + ([(case["c_out"],)] if case["bias"] else [])
    _compare(lambda *a: gc.conv_transpose2d(*a, **case["args"]),
             lambda *a: F.conv_transpose2d(*a, **case["args"]), _normal(*shapes), dtype)


@needs_torch
@FEW
@given(transpose_cases(1), FLOATS)
def test_conv_transpose1d_matches_torch(case, dtype):
    shapes = [case["x"], case["w"]] + ([(case["c_out"],)] if case["bias"] else [])
    _compare(lambda *a: gc.conv_transpose1d(*a, **case["args"]),
             lambda *a: F.conv_transpose1d(*a, **case["args"]), _normal(*shapes), dtype)


@needs_torch
def test_conv3d_and_unbatched_inputs_match_torch():
    x, w = _normal((2, 2, 4, 5, 3), (3, 2, 2, 3, 1))
    _compare(lambda x, w: gc.conv3d(x, w, padding=1, stride=(1, 2, 1)),
             lambda x, w: F.conv3d(x, w, padding=1, stride=(1, 2, 1)), [x, w], "float64")
    x, w = _normal((3, 6, 5), (4, 3, 3, 2))
    _compare(lambda x, w: gc.conv2d(x, w, padding=(1, 0)),
             lambda x, w: F.conv2d(x, w, padding=(1, 0)), [x, w], "float64")

# }}}


# {{{ gradients: central differences, grad of grad

def test_conv2d_gradients_against_central_differences():
    x, w, b = _normal((2, 2, 5, 4), (3, 2, 3, 2), (3,))
    xs = [gc.placeholder(v.shape, "float64") for v in (x, w, b)]
    y = gc.conv2d(*xs, stride=(2, 1), padding=1, dilation=(1, 2))
    cost = gc.sum(gc.tanh(y) * gc.constant(_normal(y.shape, seed=3)[0]))
    gc.check_grad(cost, xs, dict(zip(xs, (x, w, b))))
    # a strided transpose: its gradient reads the spread-out slices back
    xt, wt = _normal((1, 2, 3, 3), (2, 2, 3, 3), seed=4)
    ps = [gc.placeholder(v.shape, "float64") for v in (xt, wt)]
    yt = gc.conv_transpose2d(*ps, stride=2, padding=1, output_padding=1)
    gc.check_grad(gc.sum(yt * yt), ps, dict(zip(ps, (xt, wt))))


@needs_torch
def test_conv2d_grad_of_grad_matches_torch():
    """d/dw of <d loss/dx, v>: the double backward a WGAN-GP gradient penalty takes."""
    x, w, v = _normal((2, 2, 6, 5), (3, 2, 3, 3), (2, 2, 6, 5))
    px, pw = gc.placeholder(x.shape, "float64"), gc.placeholder(w.shape, "float64")
    y = gc.conv2d(px, pw, stride=2, padding=1)
    (gx,) = gc.grad(gc.sum(gc.tanh(y)), [px])
    penalty = gc.sum(gx * gc.constant(v))
    ggw, ggx = gc.grad(penalty, [pw, px])
    got = gc.compile([px, pw], [ggw, ggx])(x, w)
    tx, tw = (torch.tensor(a, requires_grad=True) for a in (x, w))
    (tgx,) = torch.autograd.grad(torch.tanh(F.conv2d(tx, tw, stride=2, padding=1)).sum(),
                                 [tx], create_graph=True)
    want = torch.autograd.grad((tgx * torch.tensor(v)).sum(), [tw, tx])
    for g, t in zip(got, want):
        np.testing.assert_allclose(g, t.numpy(), rtol=1e-10, atol=1e-10)
    gc.check_grad(penalty, [pw], {px: x, pw: w})

# }}}


# {{{ pools against torch

@st.composite
def pool_cases(draw, nd, dilated=True):
    kernel = tuple(draw(st.integers(1, 3)) for _ in range(nd))
    stride = tuple(draw(st.integers(1, 3)) for _ in range(nd))
    dilation = tuple(draw(st.integers(1, 2)) for _ in range(nd)) if dilated else (1,) * nd
    padding = tuple(draw(st.integers(0, (d * (k - 1) + 1) // 2)) for k, d in
                    zip(kernel, dilation))
    size = tuple(draw(st.integers(d * (k - 1) + 1, 7)) for k, d in zip(kernel, dilation))
    shape = (draw(st.integers(1, 2)), draw(st.integers(1, 3))) + size
    return shape, dict(kernel_size=kernel, stride=stride, padding=padding,
                       ceil_mode=draw(st.booleans())), dilation


@needs_torch
@FEW
@given(pool_cases(2), FLOATS)
def test_max_pool2d_matches_torch(case, dtype):
    shape, args, dilation = case
    # few distinct values: ties, and the gradient must go to the first maximum
    x = np.round(_normal(shape)[0] * 2) / 2
    _compare(lambda x: gc.max_pool2d(x, dilation=dilation, **args),
             lambda x: F.max_pool2d(x, dilation=dilation, **args), [x], dtype)


@needs_torch
@FEW
@given(pool_cases(1), FLOATS)
def test_max_pool1d_matches_torch(case, dtype):
    shape, args, dilation = case
    x = np.round(_normal(shape)[0] * 2) / 2
    _compare(lambda x: gc.max_pool1d(x, dilation=dilation, **args),
             lambda x: F.max_pool1d(x, dilation=dilation, **args), [x], dtype)


@needs_torch
@FEW
@given(pool_cases(2, dilated=False), st.booleans(), st.sampled_from([None, 3]), FLOATS)
def test_avg_pool2d_matches_torch(case, include_pad, divisor, dtype):
    shape, args, _ = case
    _compare(lambda x: gc.avg_pool2d(x, count_include_pad=include_pad,
                                     divisor_override=divisor, **args),
             lambda x: F.avg_pool2d(x, count_include_pad=include_pad,
                                    divisor_override=divisor, **args),
             _normal(shape), dtype)


@needs_torch
@FEW
@given(st.integers(1, 8), st.integers(1, 8), st.integers(1, 5), st.integers(1, 5), FLOATS)
def test_adaptive_avg_pool2d_matches_torch(h, w, oh, ow, dtype):
    _compare(lambda x: gc.adaptive_avg_pool2d(x, (oh, ow)),
             lambda x: F.adaptive_avg_pool2d(x, (oh, ow)), _normal((2, 3, h, w)), dtype)


@needs_torch
def test_pools_one_dimensional_and_unbatched_match_torch():
    x = _normal((3, 9))[0]
    _compare(lambda x: gc.avg_pool1d(x, 3, 2, 1), lambda x: F.avg_pool1d(x, 3, 2, 1), [x],
             "float64")
    _compare(lambda x: gc.adaptive_avg_pool1d(x, 4), lambda x: F.adaptive_avg_pool1d(x, 4),
             [x], "float64")
    _compare(lambda x: gc.adaptive_avg_pool2d(x, (None, 2)),
             lambda x: F.adaptive_avg_pool2d(x, (None, 2)), _normal((2, 5, 4)), "float64")


@needs_torch
def test_max_pool_indices_and_nan_match_torch():
    x = np.round(_normal((2, 3, 7, 6))[0])
    x[0, 0, 1, 1] = np.nan
    p = gc.placeholder(x.shape, "float64")
    y, i = gc.max_pool2d(p, 3, 2, 1, return_indices=True)
    got_y, got_i = gc.compile([p], [y, i])(x)
    ty, ti = F.max_pool2d(torch.tensor(x), 3, 2, 1, return_indices=True)
    np.testing.assert_array_equal(got_y, ty.numpy())      # NaN where torch has NaN
    np.testing.assert_array_equal(got_i, ti.numpy())
    assert got_i.dtype == np.int64


def test_max_pool_gradient_goes_to_the_first_maximum():
    x = np.array([[[[1.0, 3.0], [3.0, 3.0]]]])
    p = gc.placeholder(x.shape, "float64")
    (g,) = gc.grad(gc.sum(gc.max_pool2d(p, 2)), [p])
    np.testing.assert_array_equal(gc.compile([p], g)(x), [[[[0, 1], [0, 0]]]])

# }}}


# {{{ kernels: windows read in place, epilogues fused

def _kernels(inputs, outputs, updates=None):
    return len(gc.compile(inputs, outputs, updates=updates).kernels)


def test_conv_forward_is_a_copy_of_its_columns_and_one_matmul_with_its_epilogue():
    x = gc.placeholder((4, 3, 10, 10), "float32")
    w = gc.parameter(np.ones((8, 3, 3, 3), np.float32))
    b = gc.parameter(np.ones(8, np.float32))
    r = gc.placeholder((4, 8, 10, 10), "float32")
    # columns, matmul (+ bias, residual add, relu in its epilogue); a pad is one copy more
    assert _kernels([x, r], gc.relu(gc.conv2d(x, w, b) + 1.0)) == 2
    assert _kernels([x, r], gc.relu(gc.conv2d(x, w, b, padding=1) + r)) == 3


def test_pool_reads_its_taps_in_place():
    x = gc.placeholder((4, 3, 10, 10), "float32")
    assert _kernels([x], gc.max_pool2d(x, 2)) == 1
    assert _kernels([x], gc.avg_pool2d(x, 3, 2, 1)) == 1
    (g,) = gc.grad(gc.sum(gc.max_pool2d(x, 2) ** 2), [x])
    assert _kernels([x], g) <= 3


def test_conv_weight_gradient_and_input_gradient_are_matmuls():
    x = gc.placeholder((4, 3, 10, 10), "float32")
    w = gc.parameter(np.ones((8, 3, 3, 3), np.float32))
    loss = gc.sum(gc.conv2d(x, w) ** 2)
    gw, gx = gc.grad(loss, [w, x])
    fn = gc.compile([x], [gx], updates={w: w - 0.1 * gw})
    kinds = [k.kind for k in fn.kernels]
    assert kinds.count("matmul") == 3, kinds     # forward, input's and weight's gradient
    assert len(fn.kernels) <= 7, kinds

# }}}


# {{{ shapes the batch leaves open

def test_conv_over_a_none_batch_compiles_per_batch_size():
    w = np.random.default_rng(0).standard_normal((4, 1, 3, 3))
    x = gc.placeholder((None, 1, 6, 6), "float64")
    y = gc.max_pool2d(gc.relu(gc.conv2d(x, gc.constant(w), padding=1)), 2)
    fn = gc.compile([x], y)
    for n in (1, 3):
        v = np.random.default_rng(n).standard_normal((n, 1, 6, 6))
        np.testing.assert_allclose(fn(v), gc.evaluate(y, {x: v}), rtol=1e-12, atol=1e-12)

# }}}


# {{{ errors

@pytest.mark.parametrize("call, error, match", [
    (lambda x, w: gc.conv2d(x, gc.placeholder((4, 2, 3, 3))), gc.ShapeError, "channels"),
    (lambda x, w: gc.conv2d(x, w, groups=2), gc.ShapeError, "groups"),
    (lambda x, w: gc.conv2d(x, w, groups=0), ValueError, "groups"),
    (lambda x, w: gc.conv2d(x, w, stride=2, padding="same"), ValueError, "same"),
    (lambda x, w: gc.conv2d(x, w, padding="full"), ValueError, "padding"),
    (lambda x, w: gc.conv2d(x, w, stride=(1, 2, 3)), ValueError, "stride"),
    (lambda x, w: gc.conv2d(x, w, stride=0), ValueError, "stride"),
    (lambda x, w: gc.conv2d(x, w, padding=-1), ValueError, "padding"),
    (lambda x, w: gc.conv2d(x, w, dilation=9), gc.ShapeError, "kernel"),
    (lambda x, w: gc.conv2d(x, w, bias=gc.placeholder((3,))), gc.ShapeError, "bias"),
    (lambda x, w: gc.conv2d(x, w.astype("float64")), gc.DTypeError, "dtype"),
    (lambda x, w: gc.conv2d(x.astype("int32"), w), gc.DTypeError, "float"),
    (lambda x, w: gc.conv2d(gc.placeholder((5, 5)), w), gc.ShapeError, "dimensions"),
    (lambda x, w: gc.conv1d(x, w), gc.ShapeError, "dimensions"),
    (lambda x, w: gc.conv_transpose2d(x, gc.placeholder((3, 2, 3, 3)), stride=2,
                                      output_padding=2), ValueError, "output_padding"),
    (lambda x, w: gc.max_pool2d(x, 2, padding=2), ValueError, "half"),
    (lambda x, w: gc.max_pool2d(x, 9), gc.ShapeError, "kernel"),
    (lambda x, w: gc.avg_pool2d(x, 2, divisor_override=0), ValueError, "divisor"),
    (lambda x, w: gc.adaptive_avg_pool2d(x, (2, 0)), ValueError, "positive"),
])
def test_misuse_is_a_clear_error(call, error, match):
    x = gc.placeholder((2, 3, 6, 6))
    w = gc.placeholder((4, 3, 3, 3))
    with pytest.raises(error, match=match):
        call(x, w)

# }}}
