"""Constants hold no memory proportional to the tensors they meet (issue 16: 13)."""
from __future__ import annotations

import tracemalloc

import numpy as np

import graphc as gc


def _peak_bytes(build) -> int:
    tracemalloc.start()
    try:
        build()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_scalar_times_a_huge_placeholder_allocates_little():
    x = gc.placeholder((8192, 16384), name="x")           # 512 MB were it materialised
    assert _peak_bytes(lambda: (x * 2.0, gc.grad((x * 2.0 + 1).sum(), x))) < 16 << 20


def test_scalar_times_a_huge_broadcast_allocates_little():
    y = gc.placeholder((1, 1), name="y")
    assert _peak_bytes(lambda: y.broadcast_to((65536, 65536)) * 2) < 1 << 20


def test_reshaped_uniform_constant_stays_uniform():
    c = gc.constant(np.broadcast_to(np.float32(3), (4096, 4096))).reshape((16384, 1024))
    assert c.arg.uniform == 3
    assert _peak_bytes(lambda: gc.constant(np.zeros((0,)) + 1)) < 1 << 20


def test_broadcast_array_constant_is_stored_at_its_own_size():
    n, k = 512, 4096
    row = np.arange(k, dtype=np.float32)[None]
    wide = np.broadcast_to(row, (n, k))
    assert _peak_bytes(lambda: gc.constant(wide)) < 1 << 20
    c = gc.constant(wide)
    assert c.shape == (n, k) and c.src[0].shape == (1, k)
    x = gc.placeholder((n, k), name="x")
    f = gc.compile([x], x * c)
    xv = np.random.default_rng(0).standard_normal((n, k)).astype(np.float32)
    np.testing.assert_array_equal(f(xv), xv * wide)
    np.testing.assert_array_equal(gc.evaluate(x * c, {x: xv}), xv * wide)
    # the input and the output, and one row of the constant: nothing n * k more
    assert f.device_bytes == 2 * n * k * 4 + k * 4
