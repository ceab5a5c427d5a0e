"""Clear errors, or the call taken as meant, for the misuses of issue 16 (18, 19)."""
from __future__ import annotations

import numpy as np
import pytest

import graphc as gc
from graphc.errors import ShapeError


def test_sum_over_a_float_axis_is_a_type_error():
    x = gc.placeholder((2, 3), name="x")
    with pytest.raises(TypeError, match="sum.*int.*1.0"):
        x.sum(axis=1.0)


def test_grad_wrt_a_number_is_a_type_error():
    x = gc.placeholder((3,), name="x")
    with pytest.raises(TypeError, match="grad: wrt must be a graphc Tensor"):
        gc.grad(x.sum(), 3)


def test_updates_as_a_list_of_pairs():
    w = gc.parameter(np.ones(3, np.float32), name="w")
    x = gc.placeholder((3,), name="x")
    f = gc.compile([x], (x * w).sum(), updates=[(w, w * 2)])
    assert f(np.ones(3, np.float32)) == 3
    np.testing.assert_array_equal(w.value, [2, 2, 2])


@pytest.mark.parametrize("updates, error, match", [
    ([(1, 2, 3)], TypeError, r"updates\[0\] must be a \(parameter, new value\) pair"),
    ("w", TypeError, "updates must be a mapping"),
])
def test_bad_updates_say_what_they_take(updates, error, match):
    x = gc.placeholder((3,), name="x")
    with pytest.raises(error, match=match):
        gc.compile([x], x.sum(), updates=updates)


def test_updates_pairs_naming_a_parameter_twice():
    w = gc.parameter(np.ones(3, np.float32), name="w")
    x = gc.placeholder((3,), name="x")
    with pytest.raises(ValueError, match="twice"):
        gc.compile([x], x.sum(), updates=[(w, w * 2), (w, w * 3)])


@pytest.mark.parametrize("shape", [(3.5, 2), (2.0, 2), ("3", 2), (True, 2)])
def test_placeholder_shape_of_non_integers_is_an_error(shape):
    with pytest.raises(ShapeError, match="placeholder: shape must be a tuple of ints"):
        gc.placeholder(shape)


def test_placeholder_shape_of_numpy_integers():
    assert gc.placeholder((np.int64(3), np.int32(2))).shape == (3, 2)


def test_broadcast_to_a_negative_size_is_an_error():
    x = gc.placeholder((1, 3), name="x")
    with pytest.raises(ShapeError, match="negative"):
        x.broadcast_to((-1, 3))
    assert x.broadcast_to((0, 3)).shape == (0, 3)        # empty tensors are legal


@pytest.mark.parametrize("value", [1.0, 1, True, 0.5])
def test_python_numbers_for_a_0d_float_input(value):
    s = gc.placeholder((), name="s")
    assert gc.compile([s], s * 2)(value) == np.float32(value) * 2


def test_a_float64_array_for_a_float32_input_is_still_refused():
    s = gc.placeholder((2,), name="s")
    with pytest.raises(TypeError, match="expected dtype float32, got float64"):
        gc.compile([s], s * 2)(np.ones(2))


def test_check_grad_takes_values_aligned_with_wrt():
    x, y = gc.placeholder((3,), name="x"), gc.placeholder((3,), name="y")
    cost = (x * x * y).sum()
    xv, yv = np.array([1.0, 2.0, 3.0]), np.array([0.5, -1.0, 2.0])
    gc.check_grad(cost, [x, y], [xv, yv])
    gc.check_grad(cost, [x, y], (xv, yv))
    gc.check_grad(cost, [x, y], {x: xv, y: yv})
    with pytest.raises(ValueError, match="one per wrt tensor"):
        gc.check_grad(cost, [x, y], [xv])
    with pytest.raises(TypeError, match="values must be a dict"):
        gc.check_grad(cost, [x, y], xv)
