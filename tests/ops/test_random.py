"""Random numbers drawn on the device: Philox-4x32-10 against Random123's published test
vectors, the graph's bits against plain numpy's Philox, compiled bits against
gc.evaluate's, fused against unfused and across processes; the moments and a
Kolmogorov-Smirnov statistic over 10**6 samples; new numbers at each call; dropout's
forward and backward through one mask, fused into its consumer; the errors of misuse."""
from __future__ import annotations

import itertools
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import graphc as gc
from graphc.ops import random as R

N = 10 ** 6
FLOATS = st.sampled_from(["float32", "float64"])


@pytest.fixture(autouse=True)
def _seed():
    """Each test starts from the same global seed and op numbering (its numbers do not
    depend on which tests ran before it), and leaves both as it found them."""
    saved = R._seed[0], R._uids
    gc.manual_seed(1234)
    R._uids = itertools.count(1)
    yield
    R._seed[0], R._uids = saved


# {{{ the generator

def test_philox_matches_random123_test_vectors():
    """Random123's kat_vectors for philox4x32_10."""
    cases = [([0, 0, 0, 0], [0, 0], [0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8]),
             ([0xffffffff] * 4, [0xffffffff] * 2,
              [0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd]),
             ([0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344], [0xa4093822, 0x299f31d0],
              [0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1])]
    for counter, key, expected in cases:
        assert [int(w) for w in R.philox_numpy(counter, key)] == expected
        words = R.philox([gc.constant(np.uint32(c), "uint32") for c in counter],
                         [gc.constant(np.uint32(k), "uint32") for k in key])
        assert [int(w) for w in gc.evaluate(words)] == expected
        assert [int(w) for w in gc.compile([], words)()] == expected


def test_bits_are_philox_of_seed_op_call_and_element():
    shape = (3, 5)
    words = R.bits(shape, "test")
    uid = next(R._uids) - 1
    seed, call = 0x123456789ABCDEF0, 7
    state = R.state(seed, call)
    got = gc.evaluate(words, {R.STATE: state})
    index = np.arange(15, dtype=np.uint32)
    expected = R.philox_numpy([index, np.full(15, uid), np.full(15, state[2]),
                               np.full(15, state[3])], [state[0], state[1]])
    for g, e in zip(got, expected):
        np.testing.assert_array_equal(g, e.reshape(shape))
    compiled = gc.compile([], words, seed=seed)
    compiled.stream.calls = call
    for g, e in zip(compiled(), expected):
        np.testing.assert_array_equal(g, e.reshape(shape))


@settings(max_examples=4)
@given(shape=st.lists(st.integers(1, 7), min_size=0, max_size=3).map(tuple), dtype=FLOATS)
def test_compiled_bits_equal_evaluate_and_unfused(shape, dtype):
    outs = [gc.rand(shape, dtype=dtype), gc.randint(-3, 11, shape),
            gc.bernoulli(gc.full(shape, 0.3, dtype))]
    reference = gc.evaluate(outs)
    for fuse in (True, False):
        got = gc.compile([], outs, seed=1234, fuse=fuse)()
        for g, r in zip(got, reference):
            np.testing.assert_array_equal(g, r)


def test_randn_compiled_matches_evaluate(dtype):
    z = gc.randn(64, 33, dtype=dtype)
    reference = gc.evaluate(z)
    tol = 1e-5 if dtype == np.float32 else 1e-12
    for fuse in (True, False):
        np.testing.assert_allclose(gc.compile([], z, fuse=fuse)(), reference, rtol=tol,
                                   atol=tol)


def test_two_calls_differ_and_seed_reproduces():
    u = gc.rand(1000)
    f = gc.compile([], u, seed=5)
    first, second = f(), f()
    assert not np.array_equal(first, second)
    g = gc.compile([], u, seed=5)
    np.testing.assert_array_equal(g(), first)
    np.testing.assert_array_equal(g(), second)
    assert not np.array_equal(gc.compile([], u, seed=6)(), first)


def test_two_random_tensors_differ():
    a, b = gc.rand(100), gc.rand(100)
    x, y = gc.evaluate([a, b])
    assert a is not b and not np.array_equal(x, y)


def test_manual_seed_sets_evaluate_and_later_compiles():
    u = gc.rand(50)
    gc.manual_seed(9)
    first = gc.evaluate(u)
    f = gc.compile([], u)
    gc.manual_seed(10)
    assert not np.array_equal(gc.evaluate(u), first)
    np.testing.assert_array_equal(f(), first)       # the seed at compile time


SCRIPT = """
import sys
sys.path.insert(0, {root!r})
import numpy as np
import graphc as gc
gc.manual_seed(77)
x = gc.placeholder((6, 7), name="x")
outs = [gc.rand(6, 7), gc.randn(6, 7, dtype="float64"), gc.dropout(x, 0.3)]
f = gc.compile([x], outs)
f(np.ones((6, 7), np.float32))
second = f(np.ones((6, 7), np.float32))
sys.stdout.write("".join(a.tobytes().hex() for a in second))
"""


@pytest.mark.slow
def test_same_bits_across_processes():
    root = str(Path(__file__).resolve().parents[2])
    runs = [subprocess.run([sys.executable, "-c", SCRIPT.format(root=root)], check=True,
                           capture_output=True, text=True).stdout for _ in range(2)]
    assert runs[0] and runs[0] == runs[1]

# }}}


# {{{ statistics over 10**6 samples

def _ks(samples: np.ndarray, cdf) -> float:
    """The Kolmogorov-Smirnov statistic of ``samples`` against ``cdf``."""
    x = np.sort(samples.astype(np.float64))
    f = cdf(x)
    n = len(x)
    return max(np.max(np.arange(1, n + 1) / n - f), np.max(f - np.arange(n) / n))


KS_CRITICAL = 1.63 / math.sqrt(N)          # the 1% level, for large n


def _normal_cdf(x):
    from math import erf
    return 0.5 * (1 + np.vectorize(erf)(x / math.sqrt(2)))


def test_uniform_statistics(dtype):
    u = gc.compile([], gc.rand(N, dtype=dtype), seed=3)()
    assert u.dtype == dtype and u.min() >= 0 and u.max() < 1
    assert abs(u.mean() - 0.5) < 5 * math.sqrt(1 / 12 / N)
    assert abs(u.var() - 1 / 12) < 1e-3
    assert _ks(u, lambda x: x) < KS_CRITICAL
    bins = np.bincount((u * 16).astype(int), minlength=16)
    chi2 = ((bins - N / 16) ** 2 / (N / 16)).sum()
    assert chi2 < 37.7             # 15 degrees of freedom, 0.1%


def test_normal_statistics(dtype):
    z = gc.compile([], gc.randn(N, dtype=dtype), seed=4)().astype(np.float64)
    assert np.isfinite(z).all()
    m, v = z.mean(), z.var()
    skew = ((z - m) ** 3).mean() / v ** 1.5
    kurt = ((z - m) ** 4).mean() / v ** 2
    assert abs(m) < 5e-3 and abs(v - 1) < 5e-3
    assert abs(skew) < 1.5e-2 and abs(kurt - 3) < 3e-2
    assert _ks(z, _normal_cdf) < KS_CRITICAL


def test_randint_and_bernoulli_statistics():
    k = gc.compile([], gc.randint(-2, 5, (N,)), seed=5)()
    assert k.dtype == np.int64 and k.min() == -2 and k.max() == 4
    counts = np.bincount(k + 2)
    assert np.all(np.abs(counts / N - 1 / 7) < 2e-3)
    p = gc.placeholder((N,), name="p")
    b = gc.compile([p], gc.bernoulli(p), seed=6)(np.full(N, 0.25, np.float32))
    assert set(np.unique(b)) <= {0.0, 1.0} and abs(b.mean() - 0.25) < 3e-3

# }}}


# {{{ dropout

@pytest.mark.parametrize("p", [0.1, 0.5, 0.9])
def test_dropout_forward_backward_one_mask(dtype, p):
    x = gc.placeholder((300, 7), dtype, name="x")
    y = gc.dropout(x, p)
    w = np.random.default_rng(0).standard_normal((300, 7)).astype(dtype)
    g = gc.grad(gc.sum(y * w), x)
    values = np.random.default_rng(1).uniform(0.5, 2, (300, 7)).astype(dtype)
    f = gc.compile([x], [y, g], seed=11)
    for _ in range(2):
        out, grad = f(values)
        kept = out != 0
        scale = dtype.type(1 / (1 - p))
        np.testing.assert_allclose(out[kept], values[kept] * scale, rtol=1e-6)
        np.testing.assert_allclose(grad, np.where(kept, w * scale, 0), rtol=1e-6)
        assert abs(1 - kept.mean() - p) < 0.03


def test_dropout_over_a_batch_of_any_size():
    x = gc.placeholder((None, 8), name="x")
    y = gc.dropout(x, 0.5)
    f = gc.compile([x], [y, gc.grad(gc.sum(y), x)], seed=1234)
    for n in (3, 5):
        out, grad = f(np.ones((n, 8), np.float32))
        assert out.shape == (n, 8)
        np.testing.assert_array_equal(grad, out)          # 2 where kept, 0 elsewhere
    first = gc.compile([x], y, seed=1234)(np.ones((3, 8), np.float32))
    np.testing.assert_array_equal(first, gc.evaluate(y, {x: np.ones((3, 8), np.float32)}))


def test_dropout_not_training_and_edges():
    x = gc.placeholder((4,), name="x")
    assert gc.dropout(x, 0.5, training=False) is x
    assert gc.dropout(x, 0.0) is x
    np.testing.assert_array_equal(gc.evaluate(gc.dropout(x, 1.0), {x: np.ones(4)}),
                                  np.zeros(4))


def test_dropout_fuses_into_its_consumer():
    x = gc.placeholder((4096,), name="x")
    f = gc.compile([x], gc.sum(gc.dropout(x) * 2))
    (kernel,) = f.kernels
    assert len(kernel.args) == 3 and len(kernel.written) == 1     # x, the state, the sum
    assert kernel.bytes <= 4096 * 4 + 16 + 4 + 64
    values = np.ones(4096, np.float32)
    assert abs(f(values) / 4096 / 2 - 1) < 0.1      # kept: half, scaled by 2, times 2


def test_nn_dropout_follows_the_mode():
    x = gc.placeholder((8, 16), name="x")
    model = gc.nn.Sequential(gc.nn.Linear(16, 16), gc.nn.Dropout(0.25))
    trained = model(x)
    model.eval()
    assert model(x) is model[0](x) and trained is not model(x)
    with pytest.raises(ValueError, match="Dropout: p"):
        gc.nn.Dropout(2)


def test_float32_kernels_hold_no_double():
    x = gc.placeholder((64,), name="x")
    f = gc.compile([x], [gc.dropout(x) + gc.randn(64) + gc.rand(64)])
    assert "double" not in f.source

# }}}


# {{{ errors

def test_errors():
    with pytest.raises(ValueError, match="dropout: p"):
        gc.dropout(gc.placeholder((3,)), 1.5)
    with pytest.raises(gc.DTypeError, match="rand: dtype"):
        gc.rand(3, dtype="int32")
    with pytest.raises(ValueError, match="randint: need low < high"):
        gc.randint(5, 5, (3,))
    with pytest.raises(TypeError, match="randint: size"):
        gc.randint(5)
    with pytest.raises(gc.DTypeError, match="bernoulli"):
        gc.bernoulli(gc.placeholder((3,), "int32"))
    with pytest.raises(TypeError, match="manual_seed"):
        gc.manual_seed(1.5)
    with pytest.raises(ValueError, match="compile: the seed"):
        gc.compile([], gc.rand(3), seed=-1)

# }}}
