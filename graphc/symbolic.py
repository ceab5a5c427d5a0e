"""The sympy side of elementwise ops: their scalar forms, partial derivatives, numpy lambdas.

Every elementwise node holds a sympy expression over the operand symbols ``a0, a1, ...``.
Derivatives come from ``sympy.diff``; the few functions sympy lacks or models differently
(comparisons as 0/1 values, sigmoid, where) are defined here with their own ``fdiff``.
"""
from __future__ import annotations

import functools
import math
from typing import Callable

import numpy as np
import sympy as sp
from sympy.core.symbol import Str


@functools.lru_cache(maxsize=None)
def operand(i: int) -> sp.Symbol:
    """The symbol standing for operand ``i`` of an elementwise node."""
    return sp.Symbol(f"a{i}", real=True)


def operand_index(symbol: sp.Symbol) -> int:
    return int(symbol.name[1:])


class Greater(sp.Function):
    """1 where ``a > b``, else 0. Piecewise constant: its derivative is 0."""

    nargs = 2
    is_real = True

    @classmethod
    def eval(cls, a, b):
        if a.is_Number and b.is_Number:
            return sp.S.One if a > b else sp.S.Zero
        return None

    def fdiff(self, argindex=1):
        return sp.S.Zero


class GreaterEqual(sp.Function):
    """1 where ``a >= b``, else 0."""

    nargs = 2
    is_real = True

    @classmethod
    def eval(cls, a, b):
        if a.is_Number and b.is_Number:
            return sp.S.One if a >= b else sp.S.Zero
        if a == b:
            return sp.S.One
        return None

    def fdiff(self, argindex=1):
        return sp.S.Zero


def _half_step(a, b):
    """1 where a > b, 1/2 where a == b, 0 where a < b."""
    return (Greater(a, b) + GreaterEqual(a, b)) / 2


class _Extremum(sp.Function):
    """Elementwise maximum or minimum of two tensors; at a tie each side gets half the
    gradient, as in PyTorch (sympy's Max gives Heaviside, which graphc takes as 0 at the
    kink)."""

    nargs = 2
    is_real = True
    _pick = sp.Max

    @classmethod
    def eval(cls, a, b):
        if a.is_Number and b.is_Number:
            return cls._pick(a, b)
        if a == b:
            return a
        return None

    def fdiff(self, argindex=1):
        a, b = self.args if argindex == 1 else reversed(self.args)
        return _half_step(a, b) if self._pick is sp.Max else _half_step(b, a)


class Maximum(_Extremum):
    _pick = sp.Max


class Minimum(_Extremum):
    _pick = sp.Min


class Sigmoid(sp.Function):
    """The logistic function 1 / (1 + exp(-x))."""

    nargs = 1
    is_real = True

    @classmethod
    def eval(cls, x):
        if x.is_Number:
            return 1 / (1 + sp.exp(-x))
        return None

    def fdiff(self, argindex=1):
        return Sigmoid(self.args[0]) * (1 - Sigmoid(self.args[0]))


class FAbs(sp.Function):
    """|x| for real x. sympy's Abs rewrites |exp(z)| as exp(re(z)) when it cannot prove z
    real (log(x) may be complex to it); graphc's values are real floats, NaN where
    undefined, so |x| stays |x|. Its derivative is sign(x): 0 at 0, as in PyTorch."""

    nargs = 1
    is_real = True

    @classmethod
    def eval(cls, x):
        if x.is_Number:
            return abs(x)
        if isinstance(x, FAbs):
            return x
        return None

    def fdiff(self, argindex=1):
        return sp.sign(self.args[0])


class Softplus(sp.Function):
    """log(1 + exp(x)), computed as max(x, 0) + log1p(exp(-|x|)) so it never overflows."""

    nargs = 1
    is_real = True

    @classmethod
    def eval(cls, x):
        if x.is_Number:
            return sp.log(1 + sp.exp(x))
        return None

    def fdiff(self, argindex=1):
        return Sigmoid(self.args[0])


class Where(sp.Function):
    """``a`` where ``c`` is non-zero, else ``b``."""

    nargs = 3
    is_real = True

    @classmethod
    def eval(cls, c, a, b):
        if c.is_Number:
            return a if c != 0 else b
        if a == b:
            return a
        return None

    def fdiff(self, argindex=1):
        c = self.args[0]
        if argindex == 1:
            return sp.S.Zero
        return Where(c, 1, 0) if argindex == 2 else Where(c, 0, 1)


class _Unary(sp.Function):
    """A real function of one argument that sympy lacks or models otherwise; subclasses
    give ``_numeric`` (the value at a number, or None to stay symbolic) and ``_derivative``."""

    nargs = 1
    is_real = True

    @classmethod
    def eval(cls, x):
        return None

    def fdiff(self, argindex=1):
        return self._derivative(self.args[0])

    @staticmethod
    def _derivative(x):
        return sp.S.Zero


class Log2(_Unary):
    """log2(x)."""

    @staticmethod
    def _derivative(x):
        return 1 / (x * sp.log(2))


class Log10(_Unary):
    """log10(x)."""

    @staticmethod
    def _derivative(x):
        return 1 / (x * sp.log(10))


class Exp2(_Unary):
    """2 ** x."""

    @staticmethod
    def _derivative(x):
        return Exp2(x) * sp.log(2)


class Expm1(_Unary):
    """exp(x) - 1, accurate near 0."""

    @staticmethod
    def _derivative(x):
        return sp.exp(x)


class Log1p(_Unary):
    """log(1 + x), accurate near 0."""

    @staticmethod
    def _derivative(x):
        return 1 / (1 + x)


class Trunc(_Unary):
    """x rounded toward 0. Piecewise constant: its derivative is 0."""


class Round(_Unary):
    """x rounded to the nearest integer, half to even (numpy's ``rint``, OpenCL's
    ``rint``). Its derivative is 0."""


class IsNan(_Unary):
    """True where x is NaN (a bool value; 1/0 where used as a number)."""


class IsInf(_Unary):
    """True where x is +-inf."""


class IsFinite(_Unary):
    """True where x is neither NaN nor +-inf."""


class Equal(sp.Function):
    """True where ``a == b`` (IEEE: NaN equals nothing). Its derivative is 0."""

    nargs = 2
    is_real = True

    def fdiff(self, argindex=1):
        return sp.S.Zero


class NotEqual(sp.Function):
    """True where ``a != b`` (IEEE: NaN differs from everything)."""

    nargs = 2
    is_real = True

    def fdiff(self, argindex=1):
        return sp.S.Zero


class Cast(sp.Function):
    """``x`` converted to a dtype: ``Cast(x, Str("float64"))`` (``cast`` builds it). Its
    derivative is 1 toward a float dtype, 0 toward bool and integers."""

    nargs = 2
    is_real = True

    @property
    def dtype(self) -> np.dtype:
        return np.dtype(self.args[1].name)

    def fdiff(self, argindex=1):
        if argindex == 1 and self.dtype.kind == "f":
            return sp.S.One
        return sp.S.Zero

    def _eval_derivative(self, s):
        return self.fdiff(1) * self.args[0].diff(s)     # the dtype is no variable


def cast(x, dtype) -> sp.Expr:
    """The formula ``x`` converted to ``dtype`` (a numpy dtype or its name)."""
    return Cast(x, Str(np.dtype(dtype).name))


class _Flat(sp.Function):
    """A piecewise-constant function of two operands (its derivative is 0)."""

    nargs = 2
    is_real = True

    def fdiff(self, argindex=1):
        return sp.S.Zero


class FloorDiv(_Flat):
    """numpy's ``floor_divide``: floor(a / b); over integers x // 0 is 0 (numpy's)."""


class Remainder(sp.Function):
    """numpy's ``remainder``: a - b * floor(a / b), with the sign of b; x % 0 is 0 over
    integers, NaN over floats. Its gradient is torch's: 1 for a, -floor(a / b) for b."""

    nargs = 2
    is_real = True

    def fdiff(self, argindex=1):
        return sp.S.One if argindex == 1 else -FloorDiv(*self.args)


class IntPow(_Flat):
    """a ** b over integers, wrapping like numpy's; a negative b gives torch's integer
    result (1 ** b is 1, (-1) ** b is +-1, others 0) where numpy raises."""


class BitAnd(_Flat):
    """a & b over integers."""


class BitOr(_Flat):
    """a | b over integers."""


class BitXor(_Flat):
    """a ^ b over integers."""


class BitNot(sp.Function):
    """~a over integers."""

    nargs = 1
    is_real = True

    def fdiff(self, argindex=1):
        return sp.S.Zero


class LeftShift(_Flat):
    """a << b, numpy's: 0 where b is negative or not below the bit width."""


class RightShift(_Flat):
    """a >> b (arithmetic), numpy's: 0 (or -1 for negative a) where b is negative or not
    below the bit width."""


# sympy's own piecewise-constant functions: their derivatives are 0 (sympy leaves floor's
# and ceiling's unevaluated, and gives sign's as a Dirac delta)
_FLAT = (sp.floor, sp.ceiling, sp.sign, Trunc, Round, IsNan, IsInf, IsFinite, _Flat, BitNot)


def _heaviside_to_mask(z, *h0):
    # PyTorch's convention: the gradient of relu, clamp, max at the kink is 0.
    return Greater(z, 0)


# Derivatives and numpy functions kept, by expression. An expression holds the constants
# folded into it, so distinct graphs keep making new ones: an unbounded cache grew by
# 13 KB a lambdified expression, 1.8 MB over 120 compiles of distinct constants.
EXPRESSIONS_KEPT = 512


@functools.lru_cache(maxsize=EXPRESSIONS_KEPT)
def partial(expr: sp.Expr, i: int) -> sp.Expr:
    """d expr / d a_i, with Heaviside(z) as the mask z > 0, Dirac deltas dropped and the
    imaginary unit (from the log of a negative number) as NaN."""
    d = sp.diff(expr, operand(i))
    if d.has(sp.Heaviside):
        d = d.replace(sp.Heaviside, _heaviside_to_mask)
    if d.has(sp.DiracDelta):
        d = d.replace(sp.DiracDelta, lambda *args: sp.S.Zero)
    if d.has(sp.I):     # log of a negative constant, (-2) ** x: NaN, as in torch
        d = d.xreplace({sp.I: sp.nan})
    if d.has(sp.Derivative):
        d = d.replace(lambda e: isinstance(e, sp.Derivative) and isinstance(e.expr, _FLAT),
                      lambda e: sp.S.Zero)
    return d


def _np_sigmoid(x):
    with np.errstate(over="ignore"):
        return 1 / (1 + np.exp(-x))   # exp overflows to inf for x << 0: the result is 0


def _cast(x, dtype) -> np.ndarray:
    """numpy's conversion, saturating from floats to integers (NaN to 0), as the kernels'
    ``convert_<int>_sat``: numpy's own is undefined out of range, C's too."""
    x, dtype = np.asarray(x), np.dtype(dtype)
    if x.dtype.kind != "f" or dtype.kind not in "iu":
        return x.astype(dtype)
    info = np.iinfo(dtype)
    x = np.where(np.isnan(x), 0, x)
    high, low = x >= float(info.max), x <= float(info.min)     # float(2**63 - 1) is 2**63
    inside = np.where(high | low, 0, x).astype(dtype)
    return np.where(high, info.max, np.where(low, info.min, inside)).astype(dtype)


def _int_pow(a, b) -> np.ndarray:
    a, b = np.asarray(a), np.asarray(b)
    out = np.power(a, np.where(b < 0, 0, b).astype(b.dtype))
    if b.dtype.kind == "u":
        return out
    one = np.ones_like(out)
    negative = np.where(a == 1, one, np.where(a == -1, np.where(b % 2 == 0, one, -one),
                                                np.zeros_like(out)))
    return np.where(b < 0, negative, out)


def _shift(a, b, left: bool) -> np.ndarray:
    a, b = np.asarray(a), np.asarray(b)
    dtype = np.result_type(a, b)
    bits = dtype.itemsize * 8
    inside = (b >= 0) & (b < bits)
    safe = np.where(inside, b, 0).astype(dtype)
    if left:
        return np.where(inside, np.left_shift(a.astype(dtype), safe), 0).astype(dtype)
    beyond = np.where(a < 0, -1, 0) if dtype.kind == "i" else 0
    return np.where(inside, np.right_shift(a.astype(dtype), safe), beyond).astype(dtype)


def _np_tanh(x):
    """tanh, +-1 exactly where it rounds to 1 (as the kernels' tanh: see kir._TANH_ONE);
    numpy's float32 tanh stops one ulp short of 1 up to x = 9.1."""
    x = np.asarray(x)
    one = {2: 4.5, 4: 9.01}.get(x.dtype.itemsize, 19.1) if x.dtype.kind == "f" else 19.1
    t = np.tanh(x)
    return np.where(np.abs(x) > one, np.sign(x), t).astype(t.dtype)


def _mask(condition: np.ndarray, a, b) -> np.ndarray:
    # 0/1 in the operands' float dtype: numpy's bool + bool would be a logical or
    return np.asarray(condition).astype(np.result_type(a, b))


_NUMPY_FUNCS = {
    "Greater": lambda a, b: _mask(np.greater(a, b), a, b),
    "GreaterEqual": lambda a, b: _mask(np.greater_equal(a, b), a, b),
    "Sigmoid": _np_sigmoid,
    "tanh": _np_tanh,
    "FAbs": np.abs,
    "Softplus": lambda x: np.logaddexp(0, x),
    "Maximum": np.maximum,
    "Minimum": np.minimum,
    "Where": lambda c, a, b: np.where(np.not_equal(c, 0), a, b),
    "Log2": np.log2,
    "Log10": np.log10,
    "Exp2": np.exp2,
    "Expm1": np.expm1,
    "Log1p": np.log1p,
    "Trunc": np.trunc,
    "Round": np.rint,
    "IsNan": lambda x: _mask(np.isnan(x), x, x),
    "IsInf": lambda x: _mask(np.isinf(x), x, x),
    "IsFinite": lambda x: _mask(np.isfinite(x), x, x),
    "Equal": lambda a, b: _mask(np.equal(a, b), a, b),
    "NotEqual": lambda a, b: _mask(np.not_equal(a, b), a, b),
    "Cast": _cast,
    "FloorDiv": np.floor_divide,
    "Remainder": np.remainder,
    "IntPow": _int_pow,
    "BitAnd": np.bitwise_and,
    "BitOr": np.bitwise_or,
    "BitXor": np.bitwise_xor,
    "BitNot": np.invert,
    "LeftShift": lambda a, b: _shift(a, b, True),
    "RightShift": lambda a, b: _shift(a, b, False),
    "ceiling": np.ceil,
    "erf": np.vectorize(math.erf, otypes=[np.float64]),
    "erfc": np.vectorize(math.erfc, otypes=[np.float64]),
    "Max": np.maximum,   # sympy's own numpy printing drops NaN in some versions
    "Min": np.minimum,
}


@functools.lru_cache(maxsize=EXPRESSIONS_KEPT)
def numpy_function(expr: sp.Expr, arity: int) -> Callable[..., np.ndarray]:
    """A numpy function of ``arity`` arrays computing ``expr`` elementwise. numpy is
    given as the module, not as ``"numpy"``: sympy's printer is the same (it writes
    ``numpy.exp``), but the name makes sympy run ``from numpy import *``, which imports
    numpy.testing, numpy.random and more: 60 ms at the first constant folded."""
    return sp.lambdify([operand(i) for i in range(arity)], expr, modules=[_NUMPY_FUNCS, np])


def renumber(expr: sp.Expr, mapping: dict[int, int], dtype=None) -> sp.Expr:
    """Rename operand symbols: a_i -> a_mapping[i] (``xreplace_ieee``'s ``dtype``)."""
    pairs = {operand(old): operand(new) for old, new in mapping.items() if old != new}
    return xreplace_ieee(expr, pairs, dtype) if pairs else expr


def xreplace_ieee(expr: sp.Expr, mapping: dict, dtype=None) -> sp.Expr:
    """``expr.xreplace(mapping)``, unless sympy's simplification of the result would change
    an IEEE value: then the same substitution left unevaluated, computed as written.

    sympy rewrites for finite reals: ``x - x`` is 0, ``x * 0`` is 0, ``x / x`` is 1 and
    ``exp(x) * exp(-x)`` is 1, where numpy gives NaN at inf or 0. Such a rewrite reads an
    operand less than the formula did (``_reads``), which is how it is recognised. Folding numbers (``x * 1e20 * 1e20`` as ``x * 1e40``)
    gives a number that ``dtype`` cannot hold, where numpy's step-by-step product stays
    finite (1e-30 * 1e20 * 1e20 is 1e10). And sympy's numbers are complex: ``x / 0``
    would be ``zoo * x`` and ``log(-2)`` ``log(2) + I*pi``, where IEEE gives +-inf (NaN
    at 0) and NaN. ``dtype`` is the one the formula computes in (None: a float)."""
    out = expr.xreplace(mapping)
    if dtype is not None and np.dtype(dtype).kind != "f":
        return out              # integers and bools have no NaN, inf or rounding
    written = _unevaluated(expr, mapping)
    if out == written:
        return out
    reads, kept = _reads(written), _reads(out)
    if (all(kept.get(s, 0.0) >= n * (1 - 1e-9) for s, n in reads.items())
            and _specials(out) <= _specials(written) and not _unrepresentable(out, dtype)):
        return out
    return written


def _unevaluated(expr: sp.Basic, mapping: dict) -> sp.Basic:
    """``expr.xreplace(mapping)`` without evaluating what it rebuilds. (Not under
    ``sp.evaluate(False)``: sympy's cache does not key on that flag, so the unevaluated
    nodes it made would come back from later evaluated constructions.)"""
    if expr in mapping:
        return sp.sympify(mapping[expr])
    if not expr.args:
        return expr
    args = tuple(_unevaluated(a, mapping) for a in expr.args)
    if all(a is b for a, b in zip(args, expr.args)):
        return expr
    try:
        return expr.func(*args, evaluate=False)
    except TypeError:
        return expr.func(*args)


def _reads(expr: sp.Basic) -> dict:
    """How much ``expr`` reads each symbol: once per occurrence, times |n| inside
    ``x**n`` and times |c| inside ``c * x``. Combining like terms keeps the total when it
    is IEEE-safe (``x + x`` as ``2*x``, ``x * x`` as ``x**2``) and lowers it when terms
    cancel (``3*x - 2*x`` as ``x``: inf - inf is NaN, not inf)."""
    counts: dict = {}

    def walk(e: sp.Basic, times: float) -> None:
        if isinstance(e, sp.Symbol):
            counts[e] = counts.get(e, 0.0) + times
        elif e.is_Pow and e.exp.is_Integer:
            walk(e.base, times * abs(int(e.exp)))
        elif e.is_Mul:
            scale = _scale([a for a in e.args if a.is_number])
            for a in e.args:
                if not a.is_number:
                    walk(a, times * scale)
        else:
            for a in e.args:
                walk(a, times)
    walk(expr, 1.0)
    return counts


def _scale(numbers: list) -> float:
    """|product of numbers|, or 1 where it is 0 (``x * 0`` reads x once), not finite or
    not real."""
    try:
        scale = abs(float(sp.Mul(*numbers)))
    except TypeError:
        return 1.0
    return scale if 0 < scale < float("inf") else 1.0


_SPECIALS = (sp.I, sp.zoo, sp.nan, sp.oo, sp.S.NegativeInfinity)


def _specials(expr: sp.Basic) -> set:
    """The complex, infinite and undefined numbers in ``expr``."""
    return {s for s in _SPECIALS if expr.has(s)}


def _unrepresentable(expr: sp.Expr, dtype) -> bool:
    """Does ``expr`` hold a number that ``dtype`` rounds to inf or to 0?"""
    if dtype is None:
        return False
    info = np.finfo(dtype)
    for n in expr.atoms(sp.Number):
        if n.is_finite and n != 0 and not float(info.smallest_subnormal) <= abs(float(n)) <= float(info.max):
            return True
    return False
