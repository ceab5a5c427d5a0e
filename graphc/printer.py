"""Kernel IR -> OpenCL C, type-aware: each value prints in its own dtype.

OpenCL C overloads ``exp``/``log``/... for float and double, so functions carry no ``f``
suffix; a literal takes the dtype of its use, so a float32 kernel holds no double. Integer
powers up to 4 are products, others ``pown``; x**-0.5 is ``rsqrt``; float max and min go
through the preamble's NaN-propagating ``GC_MAX``/``GC_MIN``, integer ones are OpenCL's
``max``/``min``. Signed integer ``+ - *``, negation and ``<<`` compute in the unsigned
type of their width (``as_int(as_uint(a) + as_uint(b))``): C leaves signed overflow
undefined, and numpy's integers wrap. A float converts to an integer saturating
(``convert_int_sat``: NaN gives 0, C's cast is undefined out of range).

With ``lanes`` > 1 every value is a vector of that many lanes (``float16``, ``double8``).
A bool vector is a mask (-1/0) of signed integers as wide as the elements it came from
(``float16 > float16`` is an ``int16``, an ``isnan`` of a ``double8`` a ``long8``): masks
are converted where a select or a cast needs another width, and stored as 0/1 ``uchar``.
A scalar bool is a C ``int`` (0/1).
"""
from __future__ import annotations

from typing import Callable, Optional, Sequence

import numpy as np
import sympy as sp

from . import kir
from .dtypes import cl_type, literal, unsigned
from .kir import BOOL, Value

ATOM, UNARY, MUL, ADD, SHIFT, REL, EQ, BITAND, BITXOR, BITOR, TERNARY = (
    100, 90, 80, 70, 65, 60, 55, 50, 45, 40, 10)
_MASKS = {1: "char", 2: "short", 4: "int", 8: "long"}
_BINARY = {"add": (" + ", ADD), "sub": (" - ", ADD), "mul": ("*", MUL), "div": ("/", MUL),
           "idiv": (" / ", MUL), "imod": (" % ", MUL), "shl": (" << ", SHIFT),
           "shr": (" >> ", SHIFT), "and": (" & ", BITAND), "xor": (" ^ ", BITXOR),
           "or": (" | ", BITOR)}
_WRAPPING = ("add", "sub", "mul", "shl")      # signed: computed in the unsigned type
_MACROS = {"max": "GC_MAX", "min": "GC_MIN"}
MAX_INLINE_DEPTH = 12           # deeper expressions get a name of their own


class CPrinter:
    """Prints the values a kernel body needs as C: declarations for the values that are
    used more than once (or named, like loads), inline text for the rest.

    ``load(value)``, ``index(value)`` and ``offset(value)`` give the C text of a ``load``,
    an ``index`` and an ``offset`` value (the caller knows the index space and buffers),
    ``gather(value, coords)`` that of a ``gather`` (a load at coordinates that are other
    values, printed as ``coords``); ``names`` fixes the names of some values (they are
    always declared); other shared values are named ``prefix`` + a number.
    """

    def __init__(self, lanes: int = 1, load: Optional[Callable[[Value], str]] = None,
                 index: Optional[Callable[[Value], str]] = None,
                 names: Optional[dict] = None, prefix: str = "t", inline: bool = False,
                 offset: Optional[Callable[[Value], str]] = None,
                 gather: Optional[Callable[[Value, list], str]] = None):
        self.lanes, self.prefix, self.inline = lanes, prefix, inline
        self._load, self._index, self._offset = load, index, offset
        self._gather = gather
        self.names = dict(names or {})
        self.text: dict[int, tuple[str, int]] = {}
        self.mask: dict[int, int] = {}          # bool value id -> mask element bytes
        self.depth: dict[int, int] = {}

    # {{{ types and literals

    def vector(self, scalar: str) -> str:
        return f"{scalar}{self.lanes}" if self.lanes > 1 else scalar

    def ctype(self, v: Value) -> str:
        """The C type of ``v`` as a variable."""
        if v.dtype == BOOL:
            return self.vector(_MASKS[self.mask[v.id]]) if self.lanes > 1 else "int"
        return self.vector(cl_type(v.dtype))

    def literal(self, value, dtype: np.dtype) -> str:
        text = literal(value, dtype)
        if self.lanes > 1:
            return f"(({self.vector(cl_type(dtype))})({text}))"
        return f"({text})" if text.startswith("-") else text

    # }}}

    def declare(self, roots: Sequence[Value]) -> list:
        """Declarations (``const T name = text;``) of what ``roots`` need, in order."""
        values = kir.reachable(roots)
        uses: dict[int, int] = {}
        for v in values:
            for a in v.args:
                uses[a.id] = uses.get(a.id, 0) + 1
        for r in roots:
            uses[r.id] = uses.get(r.id, 0) + 1
        lines, count = [], 0
        for v in values:
            text, prec = self._render(v)
            self.depth[v.id] = 1 + max((self.depth[a.id] for a in v.args), default=0)
            named = v.id in self.names or (not self.inline and v.op not in (
                "const", "var", "index", "offset", "valid") and (uses[v.id] > 1
                                                or self.depth[v.id] > MAX_INLINE_DEPTH))
            if named:
                if v.id not in self.names:
                    self.names[v.id] = f"{self.prefix}{count}"
                    count += 1
                lines.append(f"const {self.ctype(v)} {self.names[v.id]} = {text};")
                text, prec = self.names[v.id], ATOM
                self.depth[v.id] = 0
            self.text[v.id] = (text, prec)
        return lines

    def expr(self, v: Value) -> str:
        """The C text of ``v`` (after ``declare`` of a list that holds it)."""
        return self.text[v.id][0]

    def store(self, v: Value) -> str:
        """The text of ``v`` as stored in a buffer of its dtype (bool: 0/1 uchar)."""
        if v.dtype != BOOL:
            return self.expr(v)
        if self.lanes > 1:
            return f"convert_{self.vector('uchar')}(-{self._wrap(v, UNARY + 1)})"
        return f"(uchar){self._wrap(v, ATOM)}"

    # {{{ rendering one value

    def _wrap(self, v: Value, at_least: int) -> str:
        text, prec = self.text[v.id]
        return text if prec >= at_least else f"({text})"

    def _as_mask(self, v: Value, size: int) -> str:
        """A bool vector as a mask of ``size``-byte lanes."""
        text = self._wrap(v, ATOM)
        if self.lanes == 1 or self.mask[v.id] == size:
            return text
        return f"convert_{self.vector(_MASKS[size])}({text})"

    def _render(self, v: Value) -> tuple:
        op, args = v.op, v.args
        if op == "const":
            if v.dtype == BOOL:
                self.mask[v.id] = 4
                return ("-1" if v.arg else "0") if self.lanes > 1 else str(int(v.arg)), ATOM
            return self.literal(v.arg, v.dtype), ATOM
        if op == "var":
            return self.names.get(v.id, v.arg), ATOM
        if op == "load":
            text = self._load(v)
            if v.dtype == BOOL and self.lanes > 1:
                self.mask[v.id] = 1
                return f"({text} != {self.literal(0, np.dtype(np.uint8))})", ATOM
            return text, ATOM
        if op == "index":
            return self._index(v), ATOM
        if op in ("offset", "valid"):           # an index leaf's element, and its mask
            return f"({self._offset(v)})", ATOM
        if op == "gather":
            return self._gather(v, [self.expr(a) for a in args]), ATOM
        if op in _BINARY:
            return self._binary(v)
        if op == "not":
            return f"~{self._wrap(args[0], UNARY)}", UNARY
        if op == "neg" and v.dtype.kind == "i":
            return self._wrapping(v, f"-{self._as_unsigned(args[0])}"), ATOM
        if op in ("max", "min") and v.dtype.kind in "iu":
            return f"{op}({self.expr(args[0])}, {self.expr(args[1])})", ATOM
        if op == "neg":
            (x,) = args
            text, prec = self.text[x.id]
            if prec < MUL or text.startswith("-"):      # -(x*y) == (-x)*y exactly
                text = f"({text})"
            return f"-{text}", UNARY
        if op in _MACROS:
            return f"{_MACROS[op]}({self.expr(args[0])}, {self.expr(args[1])})", ATOM
        if op == "pown":
            n = f"(({self.vector('int')})({v.arg}))" if self.lanes > 1 else str(v.arg)
            return f"pown({self.expr(args[0])}, {n})", ATOM
        if op == "call":
            if v.dtype == BOOL:
                self.mask[v.id] = args[0].dtype.itemsize
            return f"{v.arg}({', '.join(self.expr(a) for a in args)})", ATOM
        if op == "cmp":
            self.mask[v.id] = args[0].dtype.itemsize
            prec = EQ if v.arg in ("==", "!=") else REL
            a, b = args
            return f"{self._wrap(a, prec + 1)} {v.arg} {self._wrap(b, prec + 1)}", prec
        if op == "select":
            c, a, b = args
            return (f"({self._as_mask(c, a.dtype.itemsize)} ? {self._wrap(a, TERNARY + 1)} : "
                    f"{self._wrap(b, TERNARY + 1)})"), ATOM
        if op == "cast":
            return self._cast(v, args[0])
        raise AssertionError(f"no C for {v!r}")

    def _binary(self, v: Value) -> tuple:
        sep, prec = _BINARY[v.op]
        a, b = v.args
        if v.dtype == BOOL:                 # and, or, xor of masks: one mask width
            size = self.mask[v.id] = self.mask.get(a.id, 4)
            return f"{self._wrap(a, ATOM)}{sep}{self._as_mask(b, size)}", prec
        if v.dtype.kind == "i" and v.op in _WRAPPING:
            text = f"{self._as_unsigned(a)}{sep}{self._as_unsigned(b)}"
            return self._wrapping(v, text), ATOM
        if prec <= SHIFT:                   # bits: operands in parentheses, as clang asks
            return f"{self._wrap(a, MUL)}{sep}{self._wrap(b, MUL)}", prec
        return f"{self._wrap(a, prec)}{sep}{self._wrap(b, prec + 1)}", prec

    def _as_unsigned(self, v: Value) -> str:
        return f"as_{self.vector(cl_type(unsigned(v.dtype)))}({self.expr(v)})"

    def _wrapping(self, v: Value, text: str) -> str:
        """``text``, computed in the unsigned type, as the signed type of ``v``."""
        return f"as_{self.vector(cl_type(v.dtype))}({text})"

    def _cast(self, v: Value, x: Value) -> tuple:
        if x.dtype == BOOL:              # 0/1 of the target type
            one, zero = self.literal(1, v.dtype), self.literal(0, v.dtype)
            return f"({self._as_mask(x, v.dtype.itemsize)} ? {one} : {zero})", ATOM
        if v.dtype == BOOL:
            self.mask[v.id] = x.dtype.itemsize
            return f"{self._wrap(x, EQ + 1)} != {self.literal(0, x.dtype)}", EQ
        if x.dtype.kind == "f" and v.dtype.kind in "iu":    # toward 0, saturating, NaN: 0
            return f"convert_{self.vector(cl_type(v.dtype))}_sat({self.expr(x)})", ATOM
        if self.lanes > 1:
            return f"convert_{self.vector(cl_type(v.dtype))}({self.expr(x)})", ATOM
        return f"({cl_type(v.dtype)}){self._wrap(x, ATOM)}", UNARY

    # }}}


class OpenCLPrinter:
    """Prints one sympy formula as one OpenCL C expression in ``dtype``: the formula is
    translated to kernel IR (free symbols become variables of ``dtype``, named by
    ``names`` or their own names) and printed with nothing shared, as a number of
    ``dtype`` (a comparison prints as 1/0). Kernels are printed by ``CPrinter``."""

    def __init__(self, dtype: np.dtype, names: dict | None = None, lanes: int = 1):
        self.dtype = np.dtype(dtype)
        self.names = names or {}
        self.lanes = lanes

    def doprint(self, expr: sp.Basic) -> str:
        b = kir.Builder()
        env = {s: b.var(self.names.get(s, s.name), self.dtype)
               for s in sp.sympify(expr).free_symbols}
        value = b.cast(kir.translate(b, sp.sympify(expr), env, self.dtype), self.dtype)
        printer = CPrinter(self.lanes, inline=True)
        printer.declare([value])
        return printer.expr(value)
