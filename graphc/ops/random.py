"""Random numbers drawn on the device: Philox-4x32-10, computed where they are read.

A random tensor is a formula of its element index, never a buffer: Philox-4x32-10 (the
counter-based generator of Random123, PyTorch's CUDA generator and JAX), written with the
graph's own uint32 operations over ``iota`` (the element's flat index), so the kernels
that consume the numbers compute them, fused with whatever reads them, and
``gc.evaluate`` computes the same bits in numpy. Each element's four 32-bit words are

    philox(key=(seed_lo, seed_hi), counter=(element, op uid, call_lo, call_hi))

where the op uid numbers the random tensors in the order they are built, and the seed
and the call index come from one hidden uint32 placeholder (``STATE``). A compiled
function feeds it at each call with its seed and its own call count (``Stream``), so
every call draws new numbers and the same seed gives the same numbers in every schedule
and on every device: nothing depends on the work-item layout. ``gc.evaluate`` feeds it
with call 0 of the global seed, which is what the first call of a function compiled
with that seed draws.

Philox's 32x32 -> 64 bit products are int64 products of two uint32 values: they wrap in
int64 exactly as the unsigned product would, and the high word is the product shifted
right by 32, cast to uint32 (the low 32 bits of the shifted value are bits 32-63 of the
product whatever the sign).
"""
from __future__ import annotations

import itertools
import math
from typing import Any, Optional

import numpy as np

from .. import graph, shapes
from ..dtypes import as_dtype
from ..errors import DTypeError, ShapeError
from ..graph import Tensor
from .creation import _shape, iota, zeros
from .elementwise import (Operand, add, as_tensor, astype, cos, floor_divide, ge, lt,
                          mul, sqrt, sub, where)
from .integers import bitwise_right_shift, bitwise_xor
from .reduce import log
from .views import broadcast_to, reshape

UINT32 = np.dtype(np.uint32)
INT64 = np.dtype(np.int64)
MULTIPLIERS = (0xD2511F53, 0xCD9E8D57)
WEYL = (0x9E3779B9, 0xBB67AE85)
ROUNDS = 10

STATE = graph.placeholder((4,), UINT32, name="rng_state")
_uids = itertools.count(1)
_seed = [0]


# {{{ seeds and streams

def manual_seed(seed: int) -> None:
    """Seed the functions compiled from now on (without ``seed=``) and ``gc.evaluate``."""
    _seed[0] = _check_seed(seed, "manual_seed")


def _check_seed(seed: Any, what: str) -> int:
    if not isinstance(seed, (int, np.integer)) or isinstance(seed, bool):
        raise TypeError(f"{what}: the seed must be an int, got {type(seed).__name__}")
    if not 0 <= seed < 2 ** 64:
        raise ValueError(f"{what}: the seed must be in [0, 2**64), got {seed}")
    return int(seed)


def state(seed: int, call: int) -> np.ndarray:
    """The value of ``STATE`` for call number ``call`` of a function seeded ``seed``."""
    return np.array([seed & 0xFFFFFFFF, seed >> 32, call & 0xFFFFFFFF, call >> 32], UINT32)


class Stream:
    """The random state a compiled function feeds: its seed, and the calls made so far."""

    def __init__(self, seed: Optional[int] = None):
        self.seed = _seed[0] if seed is None else _check_seed(seed, "compile")
        self.calls = 0

    def draw(self) -> np.ndarray:
        value = state(self.seed, self.calls)
        self.calls += 1
        return value


def initial_state() -> np.ndarray:
    """What ``gc.evaluate`` feeds: call 0 of the global seed."""
    return state(_seed[0], 0)

# }}}


# {{{ Philox-4x32-10 over graph tensors (and over numpy arrays, for the tests)

def _u32(value: int) -> Tensor:
    return graph.constant(np.uint32(value), UINT32)


def _mulhilo(m: int, x: Tensor) -> tuple:
    """(high, low) 32-bit words of m * x, from the int64 product (wrapped)."""
    product = mul(astype(x, INT64), graph.constant(np.int64(m), INT64))
    return astype(bitwise_right_shift(product, 32), UINT32), astype(product, UINT32)


def philox(counter: list, key: list) -> list:
    """Philox-4x32-10 of four uint32 counter words under two key words (tensors,
    broadcast): four uint32 words."""
    c0, c1, c2, c3 = counter
    k0, k1 = key
    for r in range(ROUNDS):
        if r:
            k0, k1 = add(k0, _u32(WEYL[0])), add(k1, _u32(WEYL[1]))
        hi0, lo0 = _mulhilo(MULTIPLIERS[0], c0)
        hi1, lo1 = _mulhilo(MULTIPLIERS[1], c2)
        c0, c1, c2, c3 = (bitwise_xor(bitwise_xor(hi1, c1), k0), lo1,
                          bitwise_xor(bitwise_xor(hi0, c3), k1), lo0)
    return [c0, c1, c2, c3]


def philox_numpy(counter: list, key: list) -> list:
    """The same generator in plain numpy (uint64 products): what the tests check against
    the published test vectors and against the graph's bits."""
    c = [np.asarray(w, np.uint64) for w in counter]
    k = [np.asarray(w, np.uint64) for w in key]
    mask = np.uint64(0xFFFFFFFF)
    for r in range(ROUNDS):
        if r:
            k = [(k[0] + np.uint64(WEYL[0])) & mask, (k[1] + np.uint64(WEYL[1])) & mask]
        p0, p1 = np.uint64(MULTIPLIERS[0]) * c[0], np.uint64(MULTIPLIERS[1]) * c[2]
        c = [(p1 >> np.uint64(32)) ^ c[1] ^ k[0], p1 & mask,
             (p0 >> np.uint64(32)) ^ c[3] ^ k[1], p0 & mask]
    return [w.astype(np.uint32) for w in c]


def bits(shape: tuple, what: str) -> list:
    """Four uint32 words of random bits for each element of ``shape``: a new op uid, so a
    new draw (two calls of ``rand`` are different numbers)."""
    n = math.prod(shape)
    if shapes.is_static(shape) and n >= 2 ** 32:
        raise ShapeError(f"{what}: at most 2**32 - 1 random elements per tensor, got "
                         f"shape {shape}")
    uid = next(_uids)
    # everything of the element's shape from the start: the key schedule and the first
    # round are then recomputed per element in the consumer's kernel (a few integer
    # operations) rather than materialised as 1-element kernels of their own
    index = reshape(iota(n, UINT32), shape)
    word = [broadcast_to(STATE[k], shape) for k in range(4)]
    return philox([index, broadcast_to(_u32(uid), shape), word[2], word[3]], word[:2])

# }}}


# {{{ distributions

def _empty(shape: tuple) -> bool:
    """No element to draw (a size known at call time is never taken as 0)."""
    return shapes.is_static(shape) and math.prod(shape) == 0


def _float_dtype(dtype: Any, what: str) -> np.dtype:
    dtype = as_dtype(dtype, what)
    if dtype.kind != "f":
        raise DTypeError(f"{what}: dtype must be float32 or float64, got {dtype}")
    return dtype


def _uniform(words: list, dtype: np.dtype) -> Tensor:
    """[0, 1) from the top bits: 24 of one word for float32, 53 of two for float64."""
    if dtype == np.float32:
        return mul(astype(bitwise_right_shift(words[0], 8), dtype), 2.0 ** -24)
    high = astype(bitwise_right_shift(words[0], 5), dtype)       # 27 bits
    low = astype(bitwise_right_shift(words[1], 6), dtype)        # 26 bits
    return mul(add(mul(high, 2.0 ** 26), low), 2.0 ** -53)


def rand(*size: Any, dtype: Any = "float32") -> Tensor:
    """Uniform numbers in [0, 1), as ``torch.rand`` (``rand(2, 3)`` or ``rand((2, 3))``)."""
    return _rand(_shape(size, "rand"), _float_dtype(dtype, "rand"), "rand")


def _rand(shape: tuple, dtype: np.dtype, what: str) -> Tensor:
    if _empty(shape):
        return zeros(shape, dtype=dtype)
    return _uniform(bits(shape, what), dtype)


def randn(*size: Any, dtype: Any = "float32") -> Tensor:
    """Standard normal numbers, as ``torch.randn``: Box-Muller of two uniforms (the first
    taken as 1 - u, in (0, 1], so its log is finite)."""
    return _randn(_shape(size, "randn"), _float_dtype(dtype, "randn"), "randn")


def _randn(shape: tuple, dtype: np.dtype, what: str) -> Tensor:
    if _empty(shape):
        return zeros(shape, dtype=dtype)
    w = bits(shape, what)
    u1, u2 = (_uniform(w[:2], dtype), _uniform(w[2:], dtype)) if dtype == np.float64 \
        else (_uniform(w[:1], dtype), _uniform(w[1:2], dtype))
    radius = sqrt(mul(log(sub(1.0, u1)), -2.0))
    return mul(radius, cos(mul(u2, 2 * math.pi)))


def randint(low: int, high: Optional[int] = None, size: Any = None,
            dtype: Any = "int64") -> Tensor:
    """Integers in [low, high), as ``torch.randint(low=0, high, size)``: a word modulo
    the range (a bias below range / 2**32)."""
    if size is None:
        if high is None:
            raise TypeError("randint: size is required (randint(high, size) or "
                            "randint(low, high, size))")
        low, high, size = 0, low, high
    elif high is None:
        low, high = 0, low
    for what, v in (("low", low), ("high", high)):
        if not isinstance(v, (int, np.integer)) or isinstance(v, bool):
            raise TypeError(f"randint: {what} must be an int, got {type(v).__name__}")
    if not low < high or high - low > 2 ** 32:
        raise ValueError(f"randint: need low < high and high - low <= 2**32, got low={low},"
                         f" high={high}")
    shape = _shape(tuple(size) if isinstance(size, (tuple, list)) else (size,),
                          "randint")
    dtype = as_dtype(dtype, "randint")
    if dtype.kind not in "iu":
        raise DTypeError(f"randint: dtype must be an integer dtype, got {dtype}")
    if _empty(shape):
        return zeros(shape, dtype=dtype)
    word = astype(bits(shape, "randint")[0], INT64)
    span = graph.constant(np.int64(high - low), INT64)
    value = sub(word, mul(floor_divide(word, span), span))
    return astype(add(value, graph.constant(np.int64(low), INT64)), dtype)


def rand_like(t: Operand, dtype: Any = None) -> Tensor:
    """``rand`` of ``t``'s shape, of ``t``'s dtype unless ``dtype`` says otherwise."""
    t = as_tensor(t)
    return _rand(t.shape, _float_dtype(dtype if dtype is not None else t.dtype, "rand_like"),
                 "rand_like")


def randn_like(t: Operand, dtype: Any = None) -> Tensor:
    """``randn`` of ``t``'s shape, of ``t``'s dtype unless ``dtype`` says otherwise."""
    t = as_tensor(t)
    return _randn(t.shape, _float_dtype(dtype if dtype is not None else t.dtype,
                                        "randn_like"), "randn_like")


def bernoulli(p: Operand) -> Tensor:
    """1 with probability ``p`` (a float tensor of probabilities), else 0, of ``p``'s
    dtype, as ``torch.bernoulli``."""
    p = as_tensor(p)
    if p.dtype.kind != "f":
        raise DTypeError(f"bernoulli: p must be a float tensor of probabilities, got "
                         f"{p.dtype}")
    return astype(lt(_rand(p.shape, p.dtype, "bernoulli"), p), p.dtype)


def dropout(x: Operand, p: float = 0.5, training: bool = True) -> Tensor:
    """``torch.nn.functional.dropout``: each element kept with probability 1 - p and
    scaled by 1 / (1 - p), else 0; ``x`` itself when not training or p is 0. The mask is
    one node, so a step's forward and backward see the same numbers: the gradient is
    1 / (1 - p) where kept, 0 elsewhere."""
    x = as_tensor(x)
    if isinstance(p, Tensor) or not isinstance(p, (int, float)) or not 0 <= p <= 1:
        raise ValueError(f"dropout: p must be a number in [0, 1], got {p!r}")
    if x.dtype.kind != "f":
        raise DTypeError(f"dropout: x must be a float tensor, got {x.dtype}")
    if not training or p == 0:
        return x
    zero = graph.constant(np.zeros((), x.dtype), x.dtype)
    if p == 1:
        return mul(x, zero)
    keep = ge(_rand(x.shape, x.dtype, "dropout"), float(p))
    return where(keep, mul(x, 1.0 / (1.0 - p)), zero)

# }}}


__all__ = ["manual_seed", "rand", "randn", "randint", "rand_like", "randn_like",
           "bernoulli", "dropout"]
