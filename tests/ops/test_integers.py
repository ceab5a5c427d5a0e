"""Integer and bool tensors end to end: torch's promotion, C-integer kernels that agree bit
for bit with gc.evaluate and numpy (wrapping, floor division and remainder of negative
operands, zero divisors that must not trap, shifts of any count, values above 2**31 and
2**53), bitwise ops, casts between every dtype pair, integer reductions, integer
placeholders, parameters and updates, and no gradient through integers."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import graphc as gc
from graphc.dtypes import cl_type

try:
    import torch
except ImportError:   # torch is an optional comparison
    torch = None

needs_torch = pytest.mark.skipif(torch is None, reason="torch is not installed")
INTS = ["int32", "int64", "uint32"]


def _exact(got, want, what=""):
    """Same dtype, same values, the same signs of zeros (NaN where NaN, of any sign)."""
    got, want = np.asarray(got), np.asarray(want)
    assert got.dtype == want.dtype, (what, got.dtype, want.dtype)
    assert got.shape == want.shape, (what, got.shape, want.shape)
    if got.dtype.kind == "f":
        number = ~np.isnan(want)
        np.testing.assert_array_equal(np.signbit(got[number]), np.signbit(want[number]),
                                      err_msg=str(what))
    np.testing.assert_array_equal(got, want, err_msg=str(what))


def _compiled_vs_evaluate(outs, feed):
    fn = gc.compile(list(feed), outs)
    got = fn(*feed.values())
    ref = gc.evaluate(outs, feed)
    for i, (g, r) in enumerate(zip(got, ref)):
        _exact(g, r, f"output {i}")
    return got


def _operands(dtype, n=64, seed=0):
    """Values that exercise signs, zeros, -1 and the extremes of ``dtype``."""
    info = np.iinfo(dtype)
    rng = np.random.default_rng(seed)
    special = [0, 1, -1, 2, -2, 7, -7, info.max, info.min, info.max - 1, info.min + 1, 3]
    special = [v for v in special if info.min <= v <= info.max]
    a = np.concatenate([special, rng.integers(info.min, info.max, n - len(special),
                                              endpoint=True, dtype=dtype)]).astype(dtype)
    b = np.concatenate([special[::-1], rng.integers(-9 if info.min else 0, 9,
                                                    n - len(special), endpoint=True)])
    return a, b.astype(dtype)


# {{{ dtypes: torch's promotion

@pytest.mark.parametrize("build, want", [
    (lambda i, l, u, b, f: i + l, "int64"), (lambda i, l, u, b, f: i + u, "int64"),
    (lambda i, l, u, b, f: i + f, "float32"), (lambda i, l, u, b, f: b + i, "int32"),
    (lambda i, l, u, b, f: i / i, "float32"), (lambda i, l, u, b, f: i + 2, "int32"),
    (lambda i, l, u, b, f: i + 0.5, "float32"), (lambda i, l, u, b, f: i * 2.0, "float32"),
    (lambda i, l, u, b, f: b + 1, "int64"), (lambda i, l, u, b, f: b * 1.5, "float32"),
    (lambda i, l, u, b, f: gc.exp(i), "float32"), (lambda i, l, u, b, f: gc.sqrt(l), "float32"),
    (lambda i, l, u, b, f: gc.sigmoid(u), "float32"), (lambda i, l, u, b, f: gc.sin(i), "float32"),
    (lambda i, l, u, b, f: i // l, "int64"), (lambda i, l, u, b, f: u % u, "uint32"),
    (lambda i, l, u, b, f: i ** 2, "int32"), (lambda i, l, u, b, f: i ** 0.5, "float32"),
    (lambda i, l, u, b, f: abs(i), "int32"), (lambda i, l, u, b, f: gc.relu(l), "int64"),
    (lambda i, l, u, b, f: gc.sign(i), "int32"), (lambda i, l, u, b, f: gc.floor(i), "int32"),
    (lambda i, l, u, b, f: i & l, "int64"), (lambda i, l, u, b, f: b & i, "int32"),
    (lambda i, l, u, b, f: b & b, "bool"), (lambda i, l, u, b, f: ~i, "int32"),
    (lambda i, l, u, b, f: i << 3, "int32"), (lambda i, l, u, b, f: i > l, "bool"),
    (lambda i, l, u, b, f: i.sum(), "int64"), (lambda i, l, u, b, f: u.sum(), "int64"),
    (lambda i, l, u, b, f: b.sum(), "int64"), (lambda i, l, u, b, f: i.prod(), "int64"),
    (lambda i, l, u, b, f: i.max(), "int32"), (lambda i, l, u, b, f: u.min(), "uint32"),
    (lambda i, l, u, b, f: i.mean(), "float32"), (lambda i, l, u, b, f: gc.all(i), "bool"),
    (lambda i, l, u, b, f: gc.where(b, i, 0.5), "float32"),
    (lambda i, l, u, b, f: gc.where(b, i, l), "int64"),
    (lambda i, l, u, b, f: gc.maximum(i, f), "float32"),
    (lambda i, l, u, b, f: i.clamp(min=0), "int32"), (lambda i, l, u, b, f: gc.isnan(i), "bool"),
])
def test_promotion_follows_torch(build, want):
    i, l, u = (gc.placeholder((3,), d) for d in ("int32", "int64", "uint32"))
    b, f = gc.placeholder((3,), "bool"), gc.placeholder((3,))
    assert build(i, l, u, b, f).dtype == np.dtype(want)


@needs_torch
def test_promotion_table_agrees_with_torch():
    """Operators over every pair of torch's dtypes among graphc's, and Python scalars."""
    names = ["int32", "int64", "bool", "float32", "float64"]
    ops = [lambda x, y: x + y, lambda x, y: x * y, lambda x, y: x / y,
           lambda x, y: x > y, lambda x, y: gc.maximum(x, y) if isinstance(x, gc.Tensor)
           else torch.maximum(x, y)]
    for a in names:
        for b in names:
            if {a, b} == {"float32", "float64"}:
                continue          # graphc asks for one float dtype per op
            for k, op in enumerate(ops):
                ta = torch.ones(2, dtype=getattr(torch, a))
                tb = torch.ones(2, dtype=getattr(torch, b))
                if a == b == "bool" and k < 2:
                    continue      # bool + bool: graphc's logical or, torch's too (as bool)
                want = str(op(ta, tb).dtype).replace("torch.", "")
                got = op(gc.placeholder((2,), a), gc.placeholder((2,), b)).dtype
                assert str(got) == want, (a, b, k)
        for scalar in (2, 0.5, True):
            ta = torch.ones(2, dtype=getattr(torch, a))
            want = str((ta * scalar).dtype).replace("torch.", "")
            if a == "bool" and scalar is True:
                want = "bool"     # graphc's bool * True is logical and, as bool & True
            assert str((gc.placeholder((2,), a) * scalar).dtype) == want, (a, scalar)


def test_python_integer_out_of_range_is_an_error():
    with pytest.raises(OverflowError, match=r"add.*2199023255552.*int32.*\.long\(\)"):
        gc.placeholder((2,), "int32") + 2 ** 41
    with pytest.raises(OverflowError, match="uint32"):
        gc.placeholder((2,), "uint32") - (-1)
    with pytest.raises(ValueError, match="pow: integers to the negative power"):
        gc.placeholder((2,), "int64") ** -1
    with pytest.raises(gc.DTypeError, match="bitwise_and.*bool or integer.*float32"):
        gc.placeholder((2,)) & gc.placeholder((2,), "int32")
    with pytest.raises(gc.DTypeError, match="bitwise_left_shift.*float32"):
        gc.placeholder((2,), "int32") << 1.5

# }}}


# {{{ elementwise: compiled vs gc.evaluate vs numpy, bit for bit

def _numpy_ops(a, b):
    """numpy's results (ignoring its warnings) for ``_graph_ops``."""
    with np.errstate(all="ignore"):
        bits = a.dtype.itemsize * 8
        shift = b.astype(np.int64) % (bits + 4) - 2          # -2 .. bits + 1
        shift = shift.astype(a.dtype) if a.dtype.kind == "i" else np.abs(shift).astype(a.dtype)
        return [a + b, a - b, a * b, -a if a.dtype.kind == "i" else (0 - a).astype(a.dtype),
                np.abs(a), np.floor_divide(a, b), np.remainder(a, b), a & b, a | b, a ^ b,
                ~a, np.maximum(a, b), np.minimum(a, b), np.sign(a), np.clip(a, 0, 5),
                a > b, a == b, a ** 3, a * 7 + 3,
                np.where(shift < bits, np.left_shift(a, np.where(shift < bits, shift, 0)), 0)
                if a.dtype.kind == "u" else None]


def _graph_ops(x, y):
    bits = x.dtype.itemsize * 8
    shift = (y.long() % (bits + 4) - 2)
    shift = shift.astype(x.dtype) if x.dtype.kind == "i" else abs(shift).astype(x.dtype)
    return [x + y, x - y, x * y, -x if x.dtype.kind == "i" else 0 - x, abs(x), x // y, x % y,
            x & y, x | y, x ^ y, ~x, gc.maximum(x, y), gc.minimum(x, y), gc.sign(x),
            x.clamp(0, 5), x > y, x == y, x ** 3, x * 7 + 3,
            x << shift if x.dtype.kind == "u" else None], shift


@pytest.mark.parametrize("dtype", INTS)
def test_integer_arithmetic_is_numpys_bit_for_bit(dtype):
    """Wrap-around at the extremes, floor division and remainder of negative operands,
    division by 0 and INT_MIN // -1 (which trap in C on x86), compiled and evaluated."""
    a, b = _operands(np.dtype(dtype))
    x, y = gc.placeholder(a.shape, dtype, name="x"), gc.placeholder(b.shape, dtype, name="y")
    outs, _ = _graph_ops(x, y)
    keep = [i for i, o in enumerate(outs) if o is not None]
    got = _compiled_vs_evaluate([outs[i] for i in keep], {x: a, y: b})
    want = _numpy_ops(a, b)
    for i, g in zip(keep, got):
        w = np.asarray(want[i])
        _exact(g, w.astype(outs[i].dtype) if w.dtype != outs[i].dtype and w.dtype.kind != "b"
               else w, i)
    assert "fabs" not in gc.compile([x, y], [abs(x)]).source


@pytest.mark.parametrize("dtype", INTS)
def test_integer_ops_in_vectorised_kernels(dtype):
    """Beside float work a CPU kernel computes vectors of neighbours: the same integer
    ops (masks, selects, unsigned wrapping, saturating conversions) on int16/long8/...
    vectors give the same bits."""
    a, b = _operands(np.dtype(dtype))
    x, y = gc.placeholder(a.shape, dtype), gc.placeholder(b.shape, dtype)
    outs, _ = _graph_ops(x, y)
    outs = [o for o in outs if o is not None] + [x.float() * 1.5, (x // 7).float(),
                                                 (x.float() * 1e9).astype(dtype)]
    fn = gc.compile([x, y], outs)
    assert len(fn.kernels) == 1
    lanes = fn.program.target.lanes(np.float32)
    if lanes > 1:
        assert f"{cl_type(np.dtype(dtype))}{lanes}" in fn.source
    for i, (g, r) in enumerate(zip(fn(a, b), gc.evaluate(outs, {x: a, y: b}))):
        _exact(g, r, i)


def test_floor_division_and_remainder_follow_numpy_signs():
    a = np.array([-7, 7, -7, 7, 0, -1, 5, -5], np.int32)
    b = np.array([2, -2, -2, 2, 3, 3, 0, 0], np.int32)
    x, y = gc.placeholder((8,), "int32"), gc.placeholder((8,), "int32")
    q, r = gc.compile([x, y], [x // y, x % y])(a, b)
    np.testing.assert_array_equal(q, [-4, -4, 3, 3, 0, -1, 0, 0])
    np.testing.assert_array_equal(r, [1, -1, -1, 1, 0, 2, 0, 0])


@settings(max_examples=8)
@given(st.sampled_from(INTS), st.lists(st.integers(1, 5), min_size=1, max_size=2).map(tuple),
       st.booleans(), st.integers(0, 2 ** 32 - 1))
def test_floor_division_hypothesis(dtype, shape, broadcast, seed):
    """Random shapes (a broadcast divisor too), values of both signs, zero divisors."""
    dtype = np.dtype(dtype)
    rng = np.random.default_rng(seed)
    low = 0 if dtype.kind == "u" else -50
    a = rng.integers(low, 50, shape).astype(dtype)
    bshape = shape[-1:] if broadcast else shape
    b = rng.integers(low // 10, 6, bshape).astype(dtype)
    x, y = gc.placeholder(shape, dtype), gc.placeholder(bshape, dtype)
    got = _compiled_vs_evaluate([x // y, x % y, 100 // (y + 1), x % 3], {x: a, y: b})
    with np.errstate(all="ignore"):
        want = [a // b, a % b, (100 // (b + dtype.type(1))).astype(dtype), a % dtype.type(3)]
    for g, w in zip(got, want):
        _exact(g, w)


def test_float_floor_division_and_remainder_are_numpys(dtype):
    """1.0 // 0.1 is 9 (numpy's divmod, not floor(1 / 0.1)); zero divisors, inf, and the
    signs of zero results."""
    a = np.array([1.0, -7.5, 7.5, -0.0, 0.0, 5.0, -5.0, np.inf, 3.0, -3.0, 1e30, 7.0],
                 dtype)
    b = np.array([0.1, 2.0, -2.0, 3.0, -3.0, 0.0, 0.0, 3.0, np.inf, np.inf, 3.0, -0.5],
                 dtype)
    x, y = gc.placeholder((12,), dtype), gc.placeholder((12,), dtype)
    got = _compiled_vs_evaluate([x // y, x % y, x % 0.25], {x: a, y: b})
    with np.errstate(all="ignore"):
        for g, w in zip(got, [np.floor_divide(a, b), np.remainder(a, b),
                              np.remainder(a, dtype.type(0.25))]):
            _exact(g, w)
    assert got[0][0] == 9.0


def test_int32_overflow_wraps_and_uint32_wraps_like_c():
    big = np.array([2 ** 31 - 1, -2 ** 31, 46341, -2 ** 31], np.int32)
    x = gc.placeholder((4,), "int32")
    u = gc.placeholder((4,), "uint32")
    uv = np.array([0, 1, 2 ** 32 - 1, 2 ** 31], np.uint32)
    got = _compiled_vs_evaluate([x + 1, x * x, -x, abs(x), x // -1, u - 1, u * u, u + u, -u],
                                {x: big, u: uv})
    with np.errstate(all="ignore"):
        np.testing.assert_array_equal(got[0], [-2 ** 31, -2 ** 31 + 1, 46342, -2 ** 31 + 1])
        np.testing.assert_array_equal(got[1], big * big)
        np.testing.assert_array_equal(got[2], -big)
        np.testing.assert_array_equal(got[3], np.abs(big))
        np.testing.assert_array_equal(got[4], [-2 ** 31 + 1, -2 ** 31, -46341, -2 ** 31])
        np.testing.assert_array_equal(got[5], [2 ** 32 - 1, 0, 2 ** 32 - 2, 2 ** 31 - 1])
        np.testing.assert_array_equal(got[6], uv * uv)
        np.testing.assert_array_equal(got[7], uv + uv)
        np.testing.assert_array_equal(got[8], (np.uint32(0) - uv))


def test_int64_above_2_to_the_31_and_53_survive_unchanged():
    values = np.array([2 ** 31, 2 ** 53 + 1, -(2 ** 62) - 3, 2 ** 63 - 1, -2 ** 63,
                       2 ** 40 + 7], np.int64)
    x = gc.placeholder((6,), "int64", name="x")
    small = gc.placeholder((6,), "int32", name="small")
    sv = np.array([0, 1, 2 ** 24 + 1, -5, 2 ** 31 - 1, 7], np.int32)
    outs = [x, x + 1, x - (2 ** 53 + 1), x.max(), x.min(), x // 3, x % 1000003,
            x > small, small.long() + x, (x == 2 ** 53 + 1), x.sum()]
    got = _compiled_vs_evaluate(outs, {x: values, small: sv})
    _exact(got[0], values)
    with np.errstate(all="ignore"):
        _exact(got[1], values + 1)
        _exact(got[2], values - np.int64(2 ** 53 + 1))
        _exact(got[7], values > sv)
        _exact(got[8], sv.astype(np.int64) + values)
        _exact(got[10], np.array(values.sum()))
    assert got[3] == 2 ** 63 - 1 and got[4] == -2 ** 63
    np.testing.assert_array_equal(got[9], [False, True, False, False, False, False])
    # int32 against float32 would have lost this: 2**24 + 1 is not a float32
    i32 = gc.placeholder((2,), "int32")
    l64 = gc.placeholder((2,), "int64")
    (eq,) = gc.compile([i32, l64], [i32 == l64])(np.array([2 ** 24 + 1, 3], np.int32),
                                                   np.array([2 ** 24, 3], np.int64))
    np.testing.assert_array_equal(eq, [False, True])


def test_bitwise_and_shifts_match_numpy():
    a = np.array([0b1100, -1, 5, -8, 2 ** 30, 7, -2 ** 31, 1], np.int32)
    s = np.array([1, 31, 32, 40, -1, 0, 1, 33], np.int32)
    x, k = gc.placeholder((8,), "int32"), gc.placeholder((8,), "int32")
    m = gc.placeholder((8,), "bool")
    mv = np.array([1, 0, 1, 1, 0, 0, 1, 0], bool)
    got = _compiled_vs_evaluate([x & 6, x | k, x ^ k, ~x, x << k, x >> k, 1 << k, m & x,
                                 ~m, m ^ True, gc.bitwise_left_shift(x, 2),
                                 gc.right_shift(x, 1)], {x: a, k: s, m: mv})
    want = [a & 6, a | s, a ^ s, ~a,
            np.left_shift(a, s), np.right_shift(a, s), np.left_shift(np.int32(1), s),
            mv & a, ~mv, mv ^ True, a << 2, a >> 1]
    for i, (g, w) in enumerate(zip(got, want)):
        _exact(g, np.asarray(w).astype(g.dtype) if g.dtype != bool else w, i)


def test_pow_with_integer_exponents():
    """Tensor exponents by squaring over every bit (wrapping as numpy's); negative ones
    as torch's."""
    a = np.array([2, 3, -3, 0, 1, -1, -1, 5, 7], np.int64)
    e = np.array([10, 40, 3, 0, 5, 3, 4, 0, 62], np.int64)
    x, y = gc.placeholder((9,), "int64"), gc.placeholder((9,), "int64")
    got = _compiled_vs_evaluate([x ** y, x ** 3, 2 ** y, x.int() ** y.int()], {x: a, y: e})
    _exact(got[0], a ** e)
    _exact(got[1], a ** 3)
    _exact(got[2], np.int64(2) ** e)
    _exact(got[3], a.astype(np.int32) ** e.astype(np.int32))
    negative = np.array([-1, -2, -3, -1, -2], np.int64)
    base = np.array([2, 1, -1, -1, 5], np.int64)
    (p,) = gc.compile([x, y], [x ** y])(np.resize(base, 9), np.resize(negative, 9))
    if torch is not None:
        want = torch.tensor(np.resize(base, 9)) ** torch.tensor(np.resize(negative, 9))
        np.testing.assert_array_equal(p, want.numpy())

# }}}


# {{{ casts

@pytest.mark.parametrize("source", ["float32", "float64", "int32", "int64", "uint32", "bool"])
def test_astype_between_every_pair(source):
    """Every conversion, compiled vs gc.evaluate bit for bit; floats to integers truncate
    toward zero and saturate (NaN gives 0)."""
    values = {"f": [0.0, -0.0, 1.5, -1.5, 2.7, -2.7, 1e10, -1e10, np.nan, np.inf, -np.inf,
                    3e9, 4.5e9, 1e20, 255.9, -0.5],
              "i": [0, 1, -1, 2 ** 31 - 1, -2 ** 31, 5, -5, 127, 2 ** 24 + 1, 3, 4, 6,
                    -7, 8, 9, 10],
              "u": [0, 1, 2 ** 32 - 1, 2 ** 31, 5, 2 ** 24 + 1, 7, 8, 9, 10, 11, 12, 13,
                    14, 15, 16],
              "b": [True, False] * 8}
    dtype = np.dtype(source)
    with np.errstate(all="ignore"):
        a = np.array(values[dtype.kind], dtype=dtype)
    x = gc.placeholder(a.shape, dtype)
    targets = ["float32", "float64", "int32", "int64", "uint32", "bool"]
    outs = [x.astype(t) for t in targets] + [x.float(), x.double(), x.int(), x.long(),
                                             x.bool()]
    got = _compiled_vs_evaluate(outs, {x: a})
    for t, g in zip(targets, got):
        assert g.dtype == np.dtype(t)
        if dtype.kind != "f" or np.dtype(t).kind not in "iu":
            with np.errstate(all="ignore"):
                _exact(g, a.astype(t), (source, t))
    if dtype.kind == "f":
        i32 = got[2]
        np.testing.assert_array_equal(i32[:8], [0, 0, 1, -1, 2, -2, 2 ** 31 - 1, -2 ** 31])
        assert i32[8] == 0 and i32[9] == 2 ** 31 - 1 and i32[10] == -2 ** 31
        assert got[4][3] == 0 and got[4][11] == 3_000_000_000 and got[4][12] == 2 ** 32 - 1


def test_gradients_skip_integers_and_pass_float_casts():
    x = gc.placeholder((4,), "float64", name="x")
    idx = gc.placeholder((4,), "int64", name="idx")
    value = np.array([0.5, -1.5, 2.0, 3.0])
    ids = np.array([1, -2, 3, 0])
    cost = gc.sum(x * idx.double() + (x.long() * idx).double() + x.float().double() ** 2)
    gx, gi = gc.grad(cost, [x, idx])
    gxv, giv = gc.evaluate([gx, gi], {x: value, idx: ids})
    np.testing.assert_allclose(gxv, ids + 2 * value.astype(np.float32), rtol=1e-6)
    np.testing.assert_array_equal(giv, 0)        # integers have no gradient
    gc.check_grad(gc.sum(x * idx.double() + x.double() ** 2), [x], {x: value, idx: ids})
    counter = (idx * 3 + 1) // 2
    assert gc.grad(gc.sum(counter.double() * x), x) is not None

# }}}


# {{{ reductions

@pytest.mark.parametrize("dtype", INTS + ["bool"])
def test_integer_reductions_accumulate_in_integers(dtype):
    dtype = np.dtype(dtype)
    rng = np.random.default_rng(3)
    if dtype == bool:
        a = rng.random((5, 7)) < 0.6
    else:
        info = np.iinfo(dtype)
        a = rng.integers(max(info.min, -2 ** 40), min(info.max, 2 ** 40), (5, 7),
                         endpoint=True).astype(dtype)
        a[0, 0], a[1, 1] = info.max, info.min
    x = gc.placeholder(a.shape, dtype)
    outs = [x.sum(), x.sum(0), x.sum(1, keepdims=True), x.prod(1), x.max(1), x.min(0),
            gc.amax(x), gc.amin(x, 1), gc.all(x, 1), gc.any(x, 0), gc.all(x), x.mean(1)]
    got = _compiled_vs_evaluate(outs, {x: a})
    acc = np.int64
    with np.errstate(all="ignore"):
        want = [a.sum(dtype=acc), a.sum(0, dtype=acc), a.sum(1, keepdims=True, dtype=acc),
                a.prod(1, dtype=acc), a.max(1), a.min(0), a.max(), a.min(1), a.all(1),
                a.any(0), a.all()]
    for i, (g, w) in enumerate(zip(got, want)):
        _exact(g, np.asarray(w), i)
    with np.errstate(all="ignore"):       # the mean of the (wrapping) int64 sum
        mean = a.sum(1, dtype=np.int64).astype(np.float64) / a.shape[1]
    np.testing.assert_allclose(got[-1], mean, rtol=1e-6)
    assert got[-1].dtype == np.float32
    if torch is not None and dtype != np.uint32:
        t = torch.from_numpy(a)
        assert str(t.sum().dtype) == f"torch.{got[0].dtype}"
        np.testing.assert_array_equal(got[1], t.sum(0).numpy())
        np.testing.assert_array_equal(got[4], t.amax(1).numpy())


def test_integer_max_starts_from_the_least_integer():
    a = np.full((3, 4), np.iinfo(np.int64).min, np.int64)
    a[1, 2] = np.iinfo(np.int64).min + 1
    x = gc.placeholder(a.shape, "int64")
    source = gc.lower([x.max(1)]).source
    assert "LONG_MIN" in source and "INFINITY" not in source
    got = _compiled_vs_evaluate([x.max(1), x.min(1)], {x: a})
    _exact(got[0], a.max(1))

# }}}


# {{{ placeholders, parameters, updates

def test_integer_state_stays_integer_on_the_device():
    """A step counter updated by the function, an int32 parameter, bool and uint32
    inputs and outputs, all of their own dtype."""
    n = gc.parameter(0, name="n")
    assert n.dtype == np.int64
    counts = gc.parameter(np.zeros(4, np.int32), name="counts")
    labels = gc.placeholder((4,), "int32", name="labels")
    flags = gc.placeholder((4,), "bool", name="flags")
    seeds = gc.placeholder((4,), "uint32", name="seeds")
    big = 2 ** 53 + 1
    fn = gc.compile([labels, flags, seeds],
                    [n * 1, counts + labels, flags & (labels > 0), seeds * 1664525 + 1013904223,
                     n + big],
                    updates={n: n + 1, counts: counts + gc.where(flags, labels, 0)})
    lv = np.array([1, -2, 3, 4], np.int32)
    fv = np.array([True, False, True, True])
    sv = np.array([0, 1, 2 ** 32 - 1, 12345], np.uint32)
    for step in range(3):
        now, total, both, lcg, shifted = fn(lv, fv, sv)
        assert now.dtype == np.int64 and now == step
        assert total.dtype == np.int32 and both.dtype == bool and lcg.dtype == np.uint32
        assert shifted == big + step
    np.testing.assert_array_equal(lcg, (sv * np.uint32(1664525) + np.uint32(1013904223)))
    assert n.value == 3 and n.value.dtype == np.int64
    np.testing.assert_array_equal(counts.value, 3 * np.where(fv, lv, 0))
    assert counts.value.dtype == np.int32
    with pytest.raises(TypeError, match="'labels'.*int32.*float64"):
        fn(lv.astype(np.float64), fv, sv)


def test_parameter_and_constant_keep_integer_dtypes():
    assert gc.parameter([1, 2, 3]).dtype == np.int64        # as torch.tensor
    assert gc.parameter(np.arange(3, dtype=np.int16)).dtype == np.int32
    assert gc.parameter(np.zeros(2, bool)).dtype == np.bool_
    assert gc.parameter([1.0, 2.0]).dtype == np.float64
    assert gc.parameter([1, 2], dtype="float32").dtype == np.float32
    assert gc.constant(np.arange(3)).dtype == np.int64
    assert gc.constant(2).dtype == np.float32                 # a bare number: the default float
    assert gc.constant(2 ** 62 + 1, "int64").arg.uniform == 2 ** 62 + 1
    w = gc.parameter(np.arange(3))
    with pytest.raises(gc.DTypeError, match="update of .* dtype float32.*int64"):
        gc.compile([], [w], updates={w: w * 0.5})

# }}}


def test_uint32_constants_folded_past_two_to_the_32_wrap():
    """sympy folds (x + a) + b into x + (a + b): the literal and a folded constant wrap as
    uint32 does (a Philox key schedule adds its Weyl constants this way)."""
    w = np.uint32(0x9E3779B9)
    x = gc.placeholder((4,), "uint32", name="x")
    k = gc.constant(np.uint32(7), "uint32")
    outs = [(x + gc.constant(w, "uint32")) + gc.constant(w, "uint32"),
            (k + gc.constant(w, "uint32")) + gc.constant(w, "uint32")]
    values = np.array([0, 1, 2 ** 31, 2 ** 32 - 1], np.uint32)
    with np.errstate(over="ignore"):
        want = [values + w + w, np.uint32(7) + w + w]
    for got in (gc.evaluate(outs, {x: values}), gc.compile([x], outs)(values)):
        for g, e in zip(got, want):
            np.testing.assert_array_equal(g, e)
