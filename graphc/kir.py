"""The kernel IR: a kernel body as a small typed SSA of scalar values.

A ``Value`` is one operation on earlier values: ``load`` (a buffer argument read through a
strided ``schedule.View`` at the current index), ``gather`` (a buffer read through a view
at coordinates that are other values: a gather's indices), ``var`` (a C variable the
skeleton defines, such as a matmul's ``acc``), ``index`` (a component of the multi-index,
or the flat index), ``offset`` and ``valid`` (the flat element of a strided view at the
current index, and whether a masked view reads there: how an index leaf, ``arange``'s, is
read), ``const``, arithmetic (``add sub mul div neg max min pown``), C's integer ``idiv
imod`` and bitwise ``and or xor not shl shr`` (``and or xor`` also of bools), ``call`` (an
OpenCL function), ``cmp`` (a comparison), ``select`` (where) and ``cast``. Every value
has its own numpy dtype. A ``Builder`` hash-conses values: the same (op, args, dtype, arg)
is one value, so common subexpressions are shared by construction, and a chain of any
length is a list, never a recursion.

Each graph node's sympy formula is translated once (``translate``), over the values of its
sources; the formulas are small (``rewrite.merge_elementwise`` caps them), the kernel is
not.

Type rules
----------
- An elementwise node computes in its *compute dtype* (``compute_dtype``): ``node.dtype``
  if it is a float dtype, else the widest float dtype among its sources' dtypes, else the
  promoted integer dtype of its integer sources and its own dtype (int32 with int64
  compares in int64, never through float32), else (only bools) int32.
- Operands are cast to the compute dtype where they are used in arithmetic; literals take
  the compute dtype (a float32 kernel holds no double literal).
- Integers compute in C integers: ``+ - *`` and negation wrap (the printer computes
  signed ones in the unsigned type of their width), ``abs`` is OpenCL's integer ``abs``,
  max and min OpenCL's integer ``max``/``min``; numpy's floor division and remainder
  guard their divisor (x // 0 and x % 0 are 0, as numpy's, and never trap: x86's
  division by zero is SIGFPE), shifts give numpy's results for any count, ``IntPow``
  multiplies by squaring (``graphc.kir_integer``).
- Comparisons (``Greater``, ``GreaterEqual``, ``Equal``, ``NotEqual``, sympy's relations)
  and the predicates ``IsNan``, ``IsInf``, ``IsFinite`` give bool values. Two operands of
  one non-float dtype are compared in that dtype, others in the compute dtype.
- A bool used as a number is 0 or 1 of the compute dtype. ``Where(c, a, b)`` takes ``c`` as
  a bool; a non-bool ``c`` means ``c != 0``.
- ``Cast(x, dtype)`` converts to ``dtype``: to bool as ``x != 0``, from bool as 0/1, from
  a float to an integer toward zero and saturating (NaN to 0: OpenCL's
  ``convert_<int>_sat``; ``graphc.symbolic`` computes the same in numpy), between
  integers wrapping, other numbers as C does.
- A node's value is cast to the node's dtype, so what a consumer (or a store) sees has the
  dtype of the graph node.
"""
from __future__ import annotations

import dataclasses
from typing import Callable, Optional, Sequence

import numpy as np
import sympy as sp

from . import kir_integer
from .errors import CodegenError

BOOL = np.dtype(np.bool_)
INDEX = np.dtype(np.int32)
FLOAT32 = np.dtype(np.float32)

# ops that cost a floating-point operation per element (for KernelSpec.flops)
ARITHMETIC = frozenset({"add", "sub", "mul", "div", "neg", "max", "min", "pown", "call",
                        "cmp", "select", "idiv", "imod", "and", "or", "xor", "not", "shl",
                        "shr"})


@dataclasses.dataclass(frozen=True, eq=False)
class Value:
    """One SSA value: ``op`` applied to ``args`` (earlier values), with a static ``arg``
    (a literal, a function name, a comparison, a (buffer, view) pair...). Made only by a
    ``Builder``, which makes equal values the same object."""

    op: str
    args: tuple
    dtype: np.dtype
    arg: object = None
    id: int = 0

    def __repr__(self) -> str:
        args = ", ".join(f"%{a.id}" for a in self.args)
        extra = f"; {self.arg!r}" if self.arg is not None else ""
        return f"%{self.id}: {self.dtype} = {self.op}({args}{extra})"


def _wrapped(value: int, dtype: np.dtype) -> int:
    """An integer literal as ``dtype`` holds it: modulo its width (sympy folds x + a + b
    of uint32 into x + (a + b), which may pass 2**32; the C literal must not widen the sum)."""
    bits = 8 * dtype.itemsize
    value %= 1 << bits
    return value - (1 << bits) if dtype.kind == "i" and value >> (bits - 1) else value


def _key(arg: object) -> object:
    if isinstance(arg, float):
        return ("float", repr(arg))      # NaN equals itself here
    return arg


class Builder:
    """Makes the values of one kernel body; ``values`` lists them in creation order, which
    is a topological order (a value's arguments exist before it)."""

    def __init__(self) -> None:
        self._table: dict = {}
        self.values: list[Value] = []

    def make(self, op: str, args: Sequence[Value], dtype, arg: object = None) -> Value:
        dtype = np.dtype(dtype)
        key = (op, tuple(a.id for a in args), dtype.str, _key(arg))
        found = self._table.get(key)
        if found is None:
            found = Value(op, tuple(args), dtype, arg, len(self.values))
            self._table[key] = found
            self.values.append(found)
        return found

    # {{{ constructors

    def const(self, value, dtype) -> Value:
        dtype = np.dtype(dtype)
        if dtype.kind == "b":
            value = bool(value)
        elif dtype.kind in "iu":
            value = _wrapped(int(value), dtype)
        else:
            value = float(value)
        return self.make("const", (), dtype, value)

    def load(self, buffer: str, view: object, dtype) -> Value:
        return self.make("load", (), dtype, (buffer, view))

    def var(self, name: str, dtype) -> Value:
        return self.make("var", (), dtype, name)

    def index(self, axis: Optional[int] = None) -> Value:
        """Component ``axis`` of the multi-index (None: the flat index), an int32."""
        return self.make("index", (), INDEX, axis)

    def offset(self, view: object) -> Value:
        """The flat element of the strided ``view`` read at the current index (an
        int32): the value of an index leaf seen through that view."""
        return self.make("offset", (), INDEX, view)

    def cast(self, x: Value, dtype) -> Value:
        dtype = np.dtype(dtype)
        if x.dtype == dtype:
            return x
        if x.op == "const":
            value = np.asarray(x.arg).astype(dtype)
            return self.const(value.item(), dtype)
        if x.op == "cast" and x.args[0].dtype == dtype and _lossless(dtype, x.dtype):
            return x.args[0]                # there and back: float32 -> float64 -> float32
        return self.make("cast", (x,), dtype)

    def binary(self, op: str, a: Value, b: Value) -> Value:
        return self.make(op, (a, b), a.dtype)

    def unary(self, op: str, x: Value) -> Value:
        return self.make(op, (x,), x.dtype)

    def neg(self, x: Value) -> Value:
        if x.op == "neg":
            return x.args[0]
        return self.make("neg", (x,), x.dtype)

    def call(self, name: str, args: Sequence[Value], dtype=None) -> Value:
        return self.make("call", tuple(args), dtype if dtype is not None else args[0].dtype,
                         name)

    def pown(self, x: Value, n: int) -> Value:
        return self.make("pown", (x,), x.dtype, int(n))

    def cmp(self, op: str, a: Value, b: Value) -> Value:
        return self.make("cmp", (a, b), BOOL, op)

    def select(self, c: Value, a: Value, b: Value) -> Value:
        if a is b:
            return a
        return self.make("select", (c, a, b), a.dtype)

    # }}}


def _lossless(source: np.dtype, via: np.dtype) -> bool:
    """Does converting ``source`` to ``via`` keep every value (so that converting back
    gives it again)?"""
    if source == BOOL:
        return True
    if source.kind == "f":
        return via.kind == "f" and via.itemsize >= source.itemsize
    return via.kind == "f" and via.itemsize > source.itemsize     # int32 in float64


def compute_dtype(out: np.dtype, sources: Sequence[np.dtype]) -> np.dtype:
    """The dtype an elementwise node computes in (see the module's type rules)."""
    out = np.dtype(out)
    if out.kind == "f":
        return out
    floats = [np.dtype(d) for d in sources if np.dtype(d).kind == "f"]
    if floats:
        return max(floats, key=lambda d: d.itemsize)
    integers = [np.dtype(d) for d in [*sources, out] if np.dtype(d).kind in "iu"]
    return np.result_type(*integers) if integers else INDEX


def reachable(roots: Sequence[Value]) -> list:
    """The values ``roots`` depend on, in creation (topological) order."""
    seen: dict[int, Value] = {}
    stack = list(roots)
    while stack:
        v = stack.pop()
        if v.id not in seen:
            seen[v.id] = v
            stack.extend(v.args)
    return [seen[k] for k in sorted(seen)]


# {{{ sympy -> values

_CALLS = {"exp": "exp", "log": "log", "sin": "sin", "cos": "cos", "tan": "tan",
          "asin": "asin", "acos": "acos", "atan": "atan", "atan2": "atan2", "sinh": "sinh",
          "cosh": "cosh", "tanh": "tanh", "asinh": "asinh", "acosh": "acosh",
          "atanh": "atanh", "erf": "erf", "erfc": "erfc", "floor": "floor",
          "ceiling": "ceil", "sign": "sign", "Abs": "fabs", "FAbs": "fabs", "Log2": "log2",
          "Log10": "log10", "Exp2": "exp2", "Expm1": "expm1", "Log1p": "log1p",
          "Trunc": "trunc", "Round": "rint"}
# |x| beyond which tanh(x) rounds to 1, per float size: 1 - tanh(x) ~ 2 exp(-2x) is below
# half an ulp under 1 (2**-25 in float32, 2**-54 in float64)
_TANH_ONE = {2: 4.5, 4: 9.01, 8: 19.1}
_PREDICATES = {"IsNan": "isnan", "IsInf": "isinf", "IsFinite": "isfinite"}
_COMPARISONS = {"Greater": ">", "GreaterEqual": ">=", "Equal": "==", "NotEqual": "!="}
_EXTREMA = {"Max": "max", "Maximum": "max", "Min": "min", "Minimum": "min"}


class _Translator:
    """One node's formula -> values; ``env`` maps operand symbols to source values."""

    def __init__(self, b: Builder, env: dict, dtype: np.dtype):
        self.b, self.env, self.T = b, env, np.dtype(dtype)
        self.memo: dict = {}
        self.rules: dict[str, Callable] = {
            "Sigmoid": self._sigmoid, "Softplus": self._softplus, "Where": self._where,
            "Cast": self._cast, "re": lambda e: self.value(e.args[0]),
            "im": lambda e: self.b.const(0, self.T), "log": self._log, "tanh": self._tanh}
        self.rules.update(kir_integer.rules(self))

    def const(self, value) -> Value:
        return self.b.const(value, self.T)

    def num(self, e: sp.Basic) -> Value:
        """``e`` as a number of the compute dtype."""
        return self.b.cast(self.value(e), self.T)

    def cond(self, e: sp.Basic) -> Value:
        v = self.value(e)
        if v.dtype == BOOL:
            return v
        return self.b.cmp("!=", self.b.cast(v, self.T), self.const(0))

    def value(self, e: sp.Basic) -> Value:
        found = self.memo.get(e)
        if found is None:
            found = self.memo[e] = self._value(e)
        return found

    def _value(self, e: sp.Basic) -> Value:
        if isinstance(e, sp.Symbol):
            if e not in self.env:
                raise CodegenError(f"kernel formula uses {e}, which no operand binds")
            return self.env[e]
        if e.is_Integer:                 # exactly, in an integer dtype: 2**62 + 1 stays
            return self.const(int(e))
        if e.is_number:                  # 3, pi, log(2): a literal of the compute dtype
            try:
                return self.const(float(e))
            except (TypeError, ValueError):
                if e.is_Number:
                    raise CodegenError(f"{e} is not a real number") from None
        if e.is_Add:
            return self._add(e)
        if e.is_Mul:
            return self._mul(e)
        if e.is_Pow:
            return self._pow(e)
        if isinstance(e, sp.core.relational.Relational) and e.rel_op in (
                ">", ">=", "<", "<=", "==", "!="):
            return self._compare(e.rel_op, *e.args)
        name = type(e).__name__
        if name in self.rules:
            return self.rules[name](e)
        if name in _CALLS:
            return self.b.call(_CALLS[name], [self.num(a) for a in e.args])
        if name in _PREDICATES:
            return self.b.call(_PREDICATES[name], [self.num(e.args[0])], BOOL)
        if name in _COMPARISONS:
            return self._compare(_COMPARISONS[name], *e.args)
        if name in _EXTREMA:
            # constants go right: they are never NaN, so the macro's NaN test is on x
            args = sorted(e.args, key=lambda a: bool(a.is_Number))
            out = self.num(args[0])
            for a in args[1:]:
                out = self.b.binary(_EXTREMA[name], out, self.num(a))
            return out
        raise CodegenError(f"the OpenCL printer has no rule for {name}({e.args})")

    def _add(self, e: sp.Add) -> Value:
        terms = e.as_ordered_terms()
        if len(terms) == 2 and sp.S.NegativeOne in terms:      # exp(x) - 1 -> expm1(x)
            other = terms[0] if terms[1] == -1 else terms[1]
            if isinstance(other, sp.exp):
                return self.b.call("expm1", [self.num(other.args[0])])
        out = None
        for t in terms:
            coeff, _ = t.as_coeff_Mul()
            negative = coeff.is_Number and coeff < 0
            v = self.num(-t if negative else t)
            if out is None:
                out = self.b.neg(v) if negative else v
            else:
                out = self.b.binary("sub" if negative else "add", out, v)
        return out

    def _mul(self, e: sp.Mul) -> Value:
        coeff, _ = e.as_coeff_Mul()
        if coeff.is_Number and coeff < 0:
            return self.b.neg(self.num(-e))
        top, bottom = [], []
        for f in e.as_ordered_factors():
            if f.is_Pow and f.exp.is_Integer and f.exp < 0:
                bottom.append(f.base ** -f.exp)
            else:
                top.append(f)
        out = self._product(top) if top else self.const(1)
        if bottom and self.T.kind in "iu":
            raise CodegenError(f"{e} divides in {self.T}: integer formulas have no /")
        return self.b.binary("div", out, self._product(bottom)) if bottom else out

    def _product(self, factors: list) -> Value:
        out = self.num(factors[0])
        for f in factors[1:]:
            out = self.b.binary("mul", out, self.num(f))
        return out

    def _pow(self, e: sp.Pow) -> Value:
        base, ex = e.args
        if self.T.kind in "iu":
            return kir_integer.power(self, base, ex)
        if ex.is_Integer:
            n = int(ex)
            if 0 < abs(n) <= 4:
                x = self.num(base)
                out = x
                for _ in range(abs(n) - 1):
                    out = self.b.binary("mul", out, x)
                return out if n > 0 else self.b.binary("div", self.const(1), out)
            return self.b.pown(self.num(base), n)
        if ex.is_Number and float(ex) == 0.5:
            return self.b.call("sqrt", [self.num(base)])
        if ex.is_Number and float(ex) == -0.5:
            return self.b.call("rsqrt", [self.num(base)])
        if base == 2:
            return self.b.call("exp2", [self.num(ex)])
        return self.b.call("pow", [self.num(base), self.num(ex)])

    def _compare(self, op: str, a: sp.Basic, b: sp.Basic) -> Value:
        if op in ("<", "<="):
            op, a, b = {"<": ">", "<=": ">="}[op], b, a
        va, vb = self.value(a), self.value(b)
        if not (va.dtype == vb.dtype and va.dtype.kind in "iu"):
            va, vb = self.b.cast(va, self.T), self.b.cast(vb, self.T)
        return self.b.cmp(op, va, vb)

    def _log(self, e: sp.log) -> Value:
        arg = e.args[0]
        if arg.is_Add and sp.S.One in arg.args:             # log(1 + x) -> log1p(x)
            return self.b.call("log1p", [self.num(arg - 1)])
        return self.b.call("log", [self.num(arg)])

    def _sigmoid(self, e: sp.Basic) -> Value:
        one = self.const(1)
        x = self.num(e.args[0])
        return self.b.binary("div", one, self.b.binary(
            "add", one, self.b.call("exp", [self.b.neg(x)])))

    def _softplus(self, e: sp.Basic) -> Value:
        # max(x, 0) + log1p(exp(-|x|)): never overflows
        x = self.num(e.args[0])
        tail = self.b.call("log1p", [self.b.call("exp", [self.b.neg(
            self.b.call("fabs", [x]))])])
        return self.b.binary("add", self.b.call("fmax", [x, self.const(0)]), tail)

    def _tanh(self, e: sp.Basic) -> Value:
        # +-1 exactly beyond the argument where tanh rounds to 1 in the dtype: PoCL's
        # float tanh stops one ulp short of 1 (0.99999994), so a saturated 1 - tanh**2
        # (its derivative) would be 1.2e-7 instead of 0 and x * tanh(x)'s gradient 1.12
        # at x = 1e6 instead of 1
        x = self.num(e.args[0])
        saturated = self.const(_TANH_ONE[self.T.itemsize])
        return self.b.select(self.b.cmp(">", self.b.call("fabs", [x]), saturated),
                             self.b.call("copysign", [self.const(1), x]),
                             self.b.call("tanh", [x]))

    def _where(self, e: sp.Basic) -> Value:
        c, a, b = e.args
        return self.b.select(self.cond(c), self.num(a), self.num(b))

    def _cast(self, e: sp.Basic) -> Value:
        return self.b.cast(self.value(e.args[0]), np.dtype(e.args[1].name))


def translate(b: Builder, expr: sp.Basic, env: dict, dtype: np.dtype) -> Value:
    """The value of the sympy formula ``expr`` in ``b``, computed in ``dtype``, with
    ``env`` mapping each free symbol to a value (of any dtype)."""
    return _Translator(b, env, dtype).value(expr)

# }}}
