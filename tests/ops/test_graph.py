"""Graph building, no device: static shapes and dtypes, hash-consing, sympy forms, folding."""
from __future__ import annotations

import numpy as np
import pytest
import sympy as sp

import graphc as gc
from graphc.graph import Op
from graphc.symbolic import FAbs, Greater, GreaterEqual, Maximum, Minimum, Sigmoid, Where, operand

a0, a1, a2 = operand(0), operand(1), operand(2)


def ph(*shape, dtype="float32", name=None):
    return gc.placeholder(shape, dtype=dtype, name=name)


# {{{ shapes

@pytest.mark.parametrize("sa, sb, expected", [
    ((3, 4), (3, 4), (3, 4)),
    ((3, 1), (4,), (3, 4)),
    ((4,), (3, 1), (3, 4)),
    ((), (2, 3), (2, 3)),
    ((2, 1, 5), (3, 1), (2, 3, 5)),
    ((1,), (7,), (7,)),
])
def test_broadcast_shapes_follow_numpy(sa, sb, expected):
    assert expected == np.broadcast_shapes(sa, sb)
    for op in (lambda a, b: a + b, lambda a, b: a * b, lambda a, b: a - b,
               lambda a, b: a / b, gc.maximum, gc.minimum, lambda a, b: a < b):
        t = op(ph(*sa), ph(*sb))
        assert t.shape == expected
        assert t.ndim == len(expected)
        assert t.dtype == (np.bool_ if t.op is Op.EW and "Greater" in str(t.arg)
                           else np.float32)


def test_python_scalar_operands_keep_shape():
    x = ph(2, 3)
    for t in (x + 1, 1 + x, 2 * x, x / 2, 2 / x, x ** 2, 2 ** x, -x, x - 0.5, 0.5 - x):
        assert t.shape == (2, 3)
        assert t.dtype == np.float32


@pytest.mark.parametrize("sa, sb, expected", [
    ((3, 4), (4, 5), (3, 5)),
    ((2, 3, 4), (4, 5), (2, 3, 5)),
    ((4,), (4, 5), (5,)),
    ((3, 4), (4,), (3,)),
    ((4,), (4,), ()),
    ((2, 1, 3, 4), (5, 4, 6), (2, 5, 3, 6)),
    ((6, 3, 4), (6, 4, 2), (6, 3, 2)),
])
def test_matmul_shapes_follow_numpy(sa, sb, expected):
    assert np.matmul(np.zeros(sa), np.zeros(sb)).shape == expected
    a, b = ph(*sa), ph(*sb)
    assert (a @ b).shape == expected
    assert gc.matmul(a, b).shape == expected
    assert a.matmul(b).shape == expected


def test_mm_is_2d_matmul():
    a, b = ph(3, 4), ph(4, 5)
    assert a.mm(b).shape == (3, 5)
    assert gc.mm(a, b) is a @ b


@pytest.mark.parametrize("kwargs, expected", [
    ({}, ()),
    ({"axis": 0}, (3, 4)),
    ({"axis": 1}, (2, 4)),
    ({"axis": -1}, (2, 3)),
    ({"axis": (0, 2)}, (3,)),
    ({"axis": (2, 0)}, (3,)),
    ({"axis": None, "keepdims": True}, (1, 1, 1)),
    ({"axis": 1, "keepdims": True}, (2, 1, 4)),
    ({"axis": (0, -1), "keepdims": True}, (1, 3, 1)),
    ({"dim": 1}, (2, 4)),
    ({"dim": 1, "keepdim": True}, (2, 1, 4)),
    ({"dim": (0, 1), "keepdim": False}, (4,)),
])
def test_reduction_shapes(kwargs, expected):
    x = ph(2, 3, 4)
    np_kwargs = {("axis" if k == "dim" else "keepdims" if k == "keepdim" else k): v
                 for k, v in kwargs.items()}
    assert np.sum(np.zeros((2, 3, 4)), **np_kwargs).shape == expected
    for reduce in ("sum", "mean", "max", "min"):
        assert getattr(x, reduce)(**kwargs).shape == expected, reduce
        assert getattr(gc, reduce)(x, **kwargs).shape == expected, reduce
    assert gc.logsumexp(x, **kwargs).shape == expected


def test_reductions_positional_axis():
    x = ph(2, 3, 4)
    assert x.sum(1).shape == (2, 4)
    assert x.sum(1, True).shape == (2, 1, 4)
    assert gc.max(x, (0, 1)).shape == (4,)


@pytest.mark.parametrize("fn", [gc.softmax, gc.log_softmax])
def test_softmax_keeps_shape(fn):
    x = ph(2, 3, 4)
    assert fn(x).shape == (2, 3, 4)
    assert fn(x, 0).shape == (2, 3, 4)
    assert fn(x, dim=1).shape == (2, 3, 4)


@pytest.mark.parametrize("new, expected", [
    ((4, 6), (4, 6)),
    ((-1,), (24,)),
    ((-1, 6), (4, 6)),
    ((2, -1, 3), (2, 4, 3)),
    ((24, 1), (24, 1)),
])
def test_reshape_shapes(new, expected):
    x = ph(2, 3, 4)
    assert x.reshape(new).shape == expected
    assert x.reshape(*new).shape == expected
    assert gc.reshape(x, new).shape == expected
    assert x.view(*new).shape == expected


def test_reshape_to_same_shape_is_identity_and_reshapes_collapse():
    x = ph(2, 3, 4)
    assert x.reshape(2, 3, 4) is x
    assert x.reshape(6, 4).reshape(24).src == (x,)
    assert x.reshape(6, 4).reshape(2, 3, 4) is x


def test_transpose_permute_t():
    x = ph(2, 3, 4)
    assert x.transpose().shape == (4, 3, 2)
    assert x.T.shape == (4, 3, 2)
    assert x.transpose(0, 2).shape == (4, 3, 2)
    assert x.transpose(1, -1).shape == (2, 4, 3)
    assert x.transpose((1, 2, 0)).shape == (3, 4, 2)
    assert x.permute(2, 0, 1).shape == (4, 2, 3)
    assert gc.permute(x, (2, 0, 1)).shape == (4, 2, 3)
    assert gc.transpose(x).shape == (4, 3, 2)
    m = ph(3, 5)
    assert m.t().shape == (5, 3)
    assert m.T.shape == (5, 3)
    assert m.t().t() is m
    assert x.permute(1, 0, 2).permute(1, 0, 2) is x
    assert ph(5).t().shape == (5,)
    assert x.permute(0, 1, 2) is x


def test_broadcast_to_shapes():
    x = ph(3, 1)
    assert x.broadcast_to((2, 3, 4)).shape == (2, 3, 4)
    assert gc.broadcast_to(x, (3, 5)).shape == (3, 5)
    assert x.broadcast_to((3, 1)) is x


def test_tensor_attributes():
    x = gc.placeholder((2, 3), name="x")
    assert x.shape == (2, 3) and x.ndim == 2 and x.name == "x" and x.numel() == 6
    assert x.dtype == np.dtype("float32") and isinstance(x.dtype, np.dtype)
    assert gc.placeholder((2,)).dtype == np.float32          # float32 by default
    assert gc.placeholder((2,), dtype=np.float64).dtype == np.float64
    assert len(x) == 2
    with pytest.raises(AttributeError):
        x.shape = (6,)


# }}}

# {{{ dtypes

@pytest.mark.parametrize("dt", ["float32", "float64"])
def test_python_scalars_adopt_tensor_dtype(dt):
    x = ph(2, 3, dtype=dt)
    for t in (x + 1, 1 + x, x * 2.5, 2.5 * x, x / 3.0, 3.0 / x, x ** 2, 2.0 ** x, x - 1e-3,
              x.clamp(min=0.1), x.clamp(max=1), gc.maximum(x, 0.0), gc.where(x > 0, x, 0.5),
              x.mean(), x.sum() * 0.5, x * np.float64(2.0),
              x * np.float32(2.0), x * np.array(2.0)):
        assert t.dtype == np.dtype(dt), t
    for t in (x > 0.5, x <= 1, x == 2.0):       # comparisons are bool, as in numpy
        assert t.dtype == np.bool_ and t.src[0].dtype == np.dtype(dt), t


def test_float32_scalar_is_rounded_to_float32():
    """0.1 in a float32 graph means float32(0.1), what numpy/torch would use; the formula
    keeps the shortest decimal that rounds to it (kernels print it with an f suffix)."""
    x = ph(3)
    coeff = (x * 0.1).arg.coeff(a0)
    assert np.float32(float(coeff)) == np.float32(0.1)
    assert str(coeff).rstrip("0") == "0.1"
    assert "0.1f*" in gc.compile([x], x * 0.1).source
    x64 = ph(3, dtype="float64")
    assert float((x64 * 0.1).arg.coeff(a0)) == 0.1


def test_constant_dtype():
    assert gc.constant(2).dtype == np.float32
    assert gc.constant(np.float32(2)).dtype == np.float32
    assert gc.constant(np.zeros(3)).dtype == np.float64           # numpy array dtype kept
    assert gc.constant(2.0, dtype="float64").dtype == np.float64
    assert gc.constant(np.arange(3)).dtype == np.int64            # ints stay ints (numpy's)
    assert gc.constant(np.array([True])).dtype == np.bool_


def test_constant_of_python_float_is_float32():
    assert gc.constant(2.0).dtype == np.float32
    x = ph(3)
    assert (gc.constant(2.0) * x).dtype == np.float32


def test_comparisons_are_bool_tensors():
    for dt in ("float32", "float64"):
        x = ph(3, dtype=dt)
        for t in (x < 0, x <= 0, x > 0, x >= 0, x == 0, x != 0):
            assert t.dtype == np.bool_ and t.shape == (3,)
        y = (x > 0) * x          # a mask meets a float: the float's dtype (torch, JAX)
        assert y.dtype == np.dtype(dt)
    x, y = ph(3), ph(3)
    assert {x: 1, y: 2}[x] == 1 and x in {x}       # hashing stays by identity
    with pytest.raises(TypeError, match="compare tensors with `is`"):
        bool(x == y)


def test_parameter_dtype_and_value():
    w = gc.parameter(np.arange(6.0).reshape(2, 3), name="w")
    assert w.dtype == np.float64 and w.shape == (2, 3) and w.name == "w"
    w64 = gc.parameter(np.arange(6, dtype=np.int64).reshape(2, 3))
    assert w64.dtype == np.int64                                  # as torch.tensor
    assert gc.parameter([1.0, 2.0], dtype="float32").dtype == np.float32
    np.testing.assert_array_equal(w.value, np.arange(6.0).reshape(2, 3))
    v = w.value
    v[0, 0] = 99
    assert w.value[0, 0] == 0            # .value is a copy


def test_parameter_copies_its_initial_value():
    init = np.ones(3, np.float32)
    w = gc.parameter(init)
    init[:] = 5
    np.testing.assert_array_equal(w.value, np.ones(3))


def test_set_value_converts_dtype():
    w = gc.parameter(np.zeros(3, np.float32))
    w.set_value([1, 2, 3])
    assert w.value.dtype == np.float32
    np.testing.assert_array_equal(w.value, [1, 2, 3])

# }}}

# {{{ hash-consing and CSE

def test_hash_consing_same_expression_same_object():
    x = ph(4, 5)
    assert (x * 2 + 1) is (x * 2 + 1)
    assert gc.exp(x) is x.exp()
    assert x.sum(axis=1) is gc.sum(x, dim=1)
    assert (x @ x.T) is gc.matmul(x, x.transpose())
    assert x.reshape(20) is x.reshape(-1)
    assert gc.relu(x) is x.relu()


def test_distinct_placeholders_are_distinct_nodes():
    x, y = ph(3), ph(3)
    assert x is not y
    assert (x + 1) is not (y + 1)


def test_parameters_with_equal_values_are_distinct():
    a = gc.parameter(np.zeros(3, np.float32))
    b = gc.parameter(np.zeros(3, np.float32))
    assert a is not b


def test_cse_for_free():
    x = ph(4)
    t = x * 2 + 1
    s = t + (x * 2 + 1)
    # both operands are the same node, so the sum holds it once: 2 * a0
    assert s.src == (t,)
    assert s.arg == 2 * a0
    assert (x * x).src == (x,) and (x * x).arg == a0 ** 2


def test_equal_constants_are_one_node():
    assert gc.constant(np.array([1.0, 2.0], np.float32)) is gc.constant(
        np.array([1.0, 2.0], np.float32))
    assert gc.constant(3.0, dtype="float32") is gc.constant(np.float32(3.0))

# }}}

# {{{ sympy forms

def test_elementwise_sympy_forms():
    x, y = ph(3), ph(3)
    assert gc.exp(x).arg == sp.exp(a0)
    assert gc.log(x).arg == sp.log(a0)
    assert gc.tanh(x).arg == sp.tanh(a0)
    assert gc.sqrt(x).arg == sp.sqrt(a0)
    assert gc.sigmoid(x).arg == Sigmoid(a0)
    assert gc.relu(x).arg == sp.Max(a0, 0)
    assert gc.abs(x).arg == FAbs(a0)     # |x| of real floats: never rewritten via re()
    assert (-x).arg == -a0
    assert (x + y).arg == a0 + a1 and (x + y).src == (x, y)
    assert (x * y).arg == a0 * a1
    assert (x / y).arg == a0 / a1
    assert (x - y).arg == a0 - a1
    assert (x ** y).arg == a0 ** a1
    assert (y - x).src == (y, x)
    assert gc.maximum(x, y).arg == Maximum(a0, a1)   # splits the gradient at ties
    assert gc.minimum(x, y).arg == Minimum(a0, a1)
    assert (x > y).arg == Greater(a0, a1)
    assert (x >= y).arg == GreaterEqual(a0, a1)
    assert (x < y).arg == Greater(a1, a0)
    assert (x <= y).arg == GreaterEqual(a1, a0)
    assert gc.where(x, y, x).arg == Where(a0, a1, a0)
    for t in (gc.exp(x), x + y, x > y):
        assert t.op is Op.EW


def test_scalar_constants_are_inlined_in_the_expression():
    x = ph(3)
    assert (x * 2 + 1).arg == a0 + 1
    assert (x * 2 + 1).src[0].arg == 2 * a0
    assert (x * 2).src == (x,)
    assert (x ** 3).arg == a0 ** 3
    assert x.clamp(min=0).arg == Where(Greater(0, a0), 0, a0)
    assert (2 - x).arg == 2 - a0


def test_identities_fold_to_the_operand():
    x = ph(3)
    assert x * 1 is x
    assert x + 0 is x
    assert +x is x

# }}}

# {{{ constant folding

def test_constants_fold():
    c = gc.constant(2.0, dtype="float32") * 3
    assert c.op is Op.CONST
    assert c.dtype == np.float32
    np.testing.assert_array_equal(c.arg.array, 6.0)
    d = gc.exp(gc.constant(np.array([0.0, 1.0], np.float32)))
    assert d.op is Op.CONST and d.shape == (2,)
    np.testing.assert_allclose(d.arg.array, np.exp([0.0, 1.0]), rtol=1e-6)


def test_constant_views_and_reductions_fold():
    c = gc.constant(np.arange(6, dtype=np.float32).reshape(2, 3))
    assert c.T.op is Op.CONST
    np.testing.assert_array_equal(c.T.arg.array, np.arange(6).reshape(2, 3).T)
    assert c.reshape(3, 2).op is Op.CONST
    ones = gc.constant(np.ones((2, 3), np.float32))
    s = ones.sum(axis=1)
    assert s.op is Op.CONST
    np.testing.assert_array_equal(s.arg.array, [3.0, 3.0])


def test_zero_times_placeholder_is_not_a_constant_surprise():
    # x * 0 may fold, but the result keeps x's shape and dtype
    x = ph(2, 3)
    t = x * 0
    assert t.shape == (2, 3) and t.dtype == np.float32

# }}}
