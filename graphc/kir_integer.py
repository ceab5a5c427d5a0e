"""The kernel IR translator's rules for integers and for numpy's division.

Integer formulas compute in C integers (``kir``'s type rules). What C leaves undefined or
lets trap is guarded here so that every kernel gives numpy's result: x // 0 and x % 0 are
0 and never divide by zero (an x86 integer division by zero, or INT_MIN / -1, is SIGFPE,
which would kill the process that runs PoCL), a remainder takes the sign of the divisor,
shifts by a negative count or by the bit width or more give 0 (-1 for a negative number
shifted right), and ``IntPow`` multiplies by squaring over every bit of its exponent, so
it wraps as numpy's does. Float ``//`` and ``%`` follow numpy's ``npy_divmod`` step by
step (fmod, then the sign fix and the snap to an integer), so that 1.0 // 0.1 is 9, as
numpy's, not floor(1.0 / 0.1) = 10.

Each rule takes the translator (``kir._Translator``: ``b`` the builder, ``T`` the compute
dtype) and the sympy node; ``rules(t)`` gives them by sympy class name.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Callable

import numpy as np
import sympy as sp

from .dtypes import unsigned
from .errors import CodegenError

if TYPE_CHECKING:
    from .kir import Value, _Translator

BOOL = np.dtype(np.bool_)


def _is_int(t: "_Translator") -> bool:
    return t.T.kind in "iu"


def _signed(t: "_Translator") -> bool:
    return t.T.kind == "i"


def _args(t: "_Translator", e: sp.Basic) -> list:
    return [t.num(a) for a in e.args]


def _literal(v: "Value") -> object:
    return v.arg if v.op == "const" else None


# {{{ division

def int_divmod(t: "_Translator", a: "Value", b: "Value") -> tuple:
    """numpy's (a // b, a % b) over integers, with the divisor guarded."""
    B, zero, one = t.b, t.const(0), t.const(1)
    divisor = _literal(b)
    if divisor == 0:
        return zero, zero
    if divisor == -1 and _signed(t):
        return B.neg(a), zero
    if divisor is None:
        is_zero = B.cmp("==", b, zero)
        bad = B.make("or", (is_zero, B.cmp("==", b, t.const(-1))), BOOL) if _signed(t) \
            else is_zero
        safe = B.select(bad, one, b)
    else:
        safe = b
    q, r = B.binary("idiv", a, safe), B.binary("imod", a, safe)
    if _signed(t):
        # C truncates; numpy floors: a remainder of the other sign than b moves q down
        fix = B.make("and", (B.cmp("!=", r, zero),
                             B.cmp("<", B.binary("xor", r, b), zero)), BOOL)
        q = B.select(fix, B.binary("sub", q, one), q)
        r = B.select(fix, B.binary("add", r, b), r)
        if divisor is None:
            q = B.select(B.cmp("==", b, t.const(-1)), B.neg(a), q)
    if divisor is None:
        q = B.select(is_zero, zero, q)
    return q, r


def float_divmod(t: "_Translator", a: "Value", b: "Value") -> tuple:
    """numpy's (a // b, a % b) over floats: ``npy_divmod``, including b == 0 (a / b and
    NaN) and the signs of zero results."""
    B, zero, one = t.b, t.const(0), t.const(1)
    mod = B.call("fmod", [a, b])
    div = B.binary("div", B.binary("sub", a, mod), b)
    nonzero = B.cmp("!=", mod, zero)
    other_sign = B.make("xor", (B.cmp("<", b, zero), B.cmp("<", mod, zero)), BOOL)
    fix = B.make("and", (nonzero, other_sign), BOOL)
    mod = B.select(fix, B.binary("add", mod, b),
                   B.select(nonzero, mod, B.call("copysign", [zero, b])))
    div = B.select(fix, B.binary("sub", div, one), div)
    floor = B.call("floor", [div])
    floor = B.select(B.cmp(">", B.binary("sub", div, floor), t.const(0.5)),
                     B.binary("add", floor, one), floor)
    quotient = B.binary("div", a, b)
    floordiv = B.select(B.cmp("!=", div, zero), floor, B.call("copysign", [zero, quotient]))
    return B.select(B.cmp("==", b, zero), quotient, floordiv), mod


def _divmod(t: "_Translator", e: sp.Basic) -> tuple:
    a, b = _args(t, e)
    return int_divmod(t, a, b) if _is_int(t) else float_divmod(t, a, b)

# }}}


# {{{ powers, bits and shifts

def power(t: "_Translator", base: sp.Basic, ex: sp.Basic) -> "Value":
    """base ** ex in an integer compute dtype: a literal exponent by squaring, another
    integer by ``IntPow``'s rule."""
    if not ex.is_Integer:
        raise CodegenError(f"{base} ** {ex} in {t.T}: integer powers take an integer "
                           "exponent (gc.pow builds IntPow for a tensor exponent)")
    n = int(ex)
    if n < 0:
        raise CodegenError(f"{base} ** {n} in {t.T}: integers to negative powers")
    x, out = t.num(base), t.const(1)
    while n:
        if n & 1:
            out = x if _literal(out) == 1 else t.b.binary("mul", out, x)
        n >>= 1
        if n:
            x = t.b.binary("mul", x, x)
    return out


def int_pow(t: "_Translator", e: sp.Basic) -> "Value":
    """a ** b for integer tensors: the product of a ** (2 ** k) over the bits k of b (every
    bit, so the result wraps exactly as numpy's); torch's results for b < 0."""
    B = t.b
    a, b = _args(t, e)
    if not _is_int(t):
        return B.call("pow", [a, b])
    one, zero = t.const(1), t.const(0)
    bits = t.T.itemsize * 8 - (1 if _signed(t) else 0)
    out, x = one, a
    for k in range(bits):
        bit = B.cmp("!=", B.binary("and", B.binary("shr", b, t.const(k)), one), zero)
        out = B.select(bit, B.binary("mul", out, x), out)
        if k < bits - 1:
            x = B.binary("mul", x, x)
    if not _signed(t):
        return out
    odd = B.cmp("!=", B.binary("and", b, one), zero)
    minus_one = B.select(odd, t.const(-1), one)
    negative = B.select(B.cmp("==", a, one), one,
                        B.select(B.cmp("==", a, t.const(-1)), minus_one, zero))
    return B.select(B.cmp("<", b, zero), negative, out)


def _bitwise(op: str) -> Callable:
    def rule(t: "_Translator", e: sp.Basic) -> "Value":
        _require_int(t, e)
        a, b = _args(t, e)
        return t.b.binary(op, a, b)
    return rule


def _require_int(t: "_Translator", e: sp.Basic) -> None:
    if not _is_int(t):
        raise CodegenError(f"{type(e).__name__} computes in {t.T}: bitwise operations "
                           "take integers")


def _shift(left: bool) -> Callable:
    def rule(t: "_Translator", e: sp.Basic) -> "Value":
        _require_int(t, e)
        B, zero = t.b, t.const(0)
        a, b = _args(t, e)
        inside = B.cmp("<", b, t.const(t.T.itemsize * 8))
        if _signed(t):
            inside = B.make("and", (B.cmp(">=", b, zero), inside), BOOL)
        safe = B.select(inside, b, zero)
        if left:
            return B.select(inside, B.binary("shl", a, safe), zero)
        beyond = B.select(B.cmp("<", a, zero), t.const(-1), zero) if _signed(t) else zero
        return B.select(inside, B.binary("shr", a, safe), beyond)
    return rule

# }}}


# {{{ functions whose integer form differs from the float one

def _abs(t: "_Translator", e: sp.Basic) -> "Value":
    (x,) = _args(t, e)
    if not _is_int(t):
        return t.b.call("fabs", [x])
    if not _signed(t):
        return x
    return t.b.cast(t.b.call("abs", [x], unsigned(t.T)), t.T)     # abs(INT_MIN) wraps


def _sign(t: "_Translator", e: sp.Basic) -> "Value":
    (x,) = _args(t, e)
    if not _is_int(t):
        return t.b.call("sign", [x])
    zero, one = t.const(0), t.const(1)
    below = t.b.select(t.b.cmp("<", x, zero), t.const(-1), zero) if _signed(t) else zero
    return t.b.select(t.b.cmp(">", x, zero), one, below)


def _rounding(name: str) -> Callable:
    def rule(t: "_Translator", e: sp.Basic) -> "Value":
        (x,) = _args(t, e)
        return x if _is_int(t) else t.b.call(name, [x])    # an integer is its own floor
    return rule

# }}}


def _bit_not(t: "_Translator", e: sp.Basic) -> "Value":
    _require_int(t, e)
    return t.b.unary("not", t.num(e.args[0]))


RULES: dict = {
    "FloorDiv": lambda t, e: _divmod(t, e)[0], "Remainder": lambda t, e: _divmod(t, e)[1],
    "IntPow": int_pow, "BitAnd": _bitwise("and"), "BitOr": _bitwise("or"),
    "BitXor": _bitwise("xor"), "BitNot": _bit_not,
    "LeftShift": _shift(True), "RightShift": _shift(False),
    "Abs": _abs, "FAbs": _abs, "sign": _sign, "floor": _rounding("floor"),
    "ceiling": _rounding("ceil"), "Trunc": _rounding("trunc"), "Round": _rounding("rint"),
}


def rules(t: "_Translator") -> dict:
    """``RULES`` by sympy class name, bound to translator ``t``."""
    return {name: (lambda rule: lambda e: rule(t, e))(rule) for name, rule in RULES.items()}
