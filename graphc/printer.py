"""sympy -> OpenCL C. Overloaded math functions, typed literals, integer powers unrolled."""
from __future__ import annotations

import numpy as np
import sympy as sp
from sympy.printing.c import C99CodePrinter

from .dtypes import cl_type, literal
from .errors import CodegenError
from .symbolic import Greater, GreaterEqual, Sigmoid, Where  # noqa: F401 (printed by name)

_FUNCTIONS = {"exp": "exp", "log": "log", "tanh": "tanh", "Abs": "fabs", "sign": "sign",
              "sqrt": "sqrt"}


class OpenCLPrinter(C99CodePrinter):
    """Prints the elementwise expressions of one kernel in that kernel's dtype.

    OpenCL C overloads ``exp``/``log``/... for float and double, so no ``f`` suffixes on
    functions; literals carry the kernel's precision, so float32 kernels hold no double.
    """

    printmethod = "_graphc_opencl"

    def __init__(self, dtype: np.dtype, names: dict | None = None, lanes: int = 1):
        super().__init__({"strict": True})
        self.dtype = np.dtype(dtype)
        self.names = names or {}
        self.lanes = lanes

    def _lit(self, value: float) -> str:
        """A literal of the kernel's type; with ``lanes`` > 1, a vector of it, so that
        every operand of a call, a comparison or ``?:`` is a vector of one type."""
        text = literal(value, self.dtype)
        if self.lanes > 1:
            return f"(({cl_type(self.dtype)}{self.lanes})({text}))"
        return f"({text})" if text.startswith("-") else text

    def _print_Symbol(self, expr: sp.Symbol) -> str:
        return self.names.get(expr, expr.name)

    def _print_Integer(self, expr: sp.Integer) -> str:
        return self._lit(int(expr))

    def _print_Rational(self, expr: sp.Rational) -> str:
        return self._lit(float(expr))

    def _print_Float(self, expr: sp.Float) -> str:
        return self._lit(float(expr))

    def _print_NaN(self, expr) -> str:
        return self._lit(float("nan"))

    def _print_Infinity(self, expr) -> str:
        return self._lit(float("inf"))

    def _print_NegativeInfinity(self, expr) -> str:
        return self._lit(float("-inf"))

    def _print_Exp1(self, expr) -> str:
        return self._lit(float(sp.E))

    def _print_Pi(self, expr) -> str:
        return self._lit(float(sp.pi))

    def _print_Pow(self, expr: sp.Pow) -> str:
        base, exponent = expr.args
        b = self.parenthesize(base, 1000)   # atoms and calls print bare, sums get ()
        one = self._lit(1)
        if exponent.is_Integer:
            n = int(exponent)
            if 0 < abs(n) <= 4:
                product = "*".join([b] * abs(n))
                return f"({product})" if n > 0 else f"({one}/({product}))"
            exponent = f"(int{self.lanes})({n})" if self.lanes > 1 else str(n)
            return f"pown({self._print(base)}, {exponent})"
        if exponent.is_Number and float(exponent) == 0.5:
            return f"sqrt({self._print(base)})"
        if exponent.is_Number and float(exponent) == -0.5:
            return f"rsqrt({self._print(base)})"
        return f"pow({self._print(base)}, {self._print(exponent)})"

    def _print_Function(self, expr: sp.Function) -> str:
        name = type(expr).__name__
        if name in _FUNCTIONS:
            args = ", ".join(self._print(a) for a in expr.args)
            return f"{_FUNCTIONS[name]}({args})"
        raise CodegenError(f"the OpenCL printer has no rule for {name}({expr.args})")

    def _print_sign(self, expr) -> str:
        return f"sign({self._print(expr.args[0])})"

    def _print_exp(self, expr) -> str:
        return f"exp({self._print(expr.args[0])})"

    def _print_Max(self, expr: sp.Max) -> str:
        return self._fold("GC_MAX", expr.args)

    def _print_Min(self, expr: sp.Min) -> str:
        return self._fold("GC_MIN", expr.args)

    def _fold(self, macro: str, args) -> str:
        """max/min through the preamble's NaN-propagating macros (fmax/fmin drop NaN,
        numpy and torch keep it). Constants go right: they are never NaN."""
        args = sorted(args, key=lambda a: bool(a.is_Number))
        text = self._print(args[0])
        for a in args[1:]:
            text = f"{macro}({text}, {self._print(a)})"
        return text

    def _compare(self, op: str, a, b) -> str:
        return f"(({self._print(a)} {op} {self._print(b)}) ? {self._lit(1)} : {self._lit(0)})"

    def _print_Greater(self, expr: Greater) -> str:
        return self._compare(">", *expr.args)

    def _print_GreaterEqual(self, expr: GreaterEqual) -> str:
        return self._compare(">=", *expr.args)

    def _print_FAbs(self, expr) -> str:
        return f"fabs({self._print(expr.args[0])})"

    def _print_re(self, expr) -> str:     # graphc's values are real
        return self._print(expr.args[0])

    def _print_im(self, expr) -> str:
        return self._lit(0)

    def _print_Softplus(self, expr) -> str:
        x = self._print(expr.args[0])
        return f"(fmax({x}, {self._lit(0)}) + log1p(exp(-fabs({x}))))"

    def _print_log(self, expr) -> str:
        arg = expr.args[0]
        if arg.is_Add and sp.S.One in arg.args:         # log(1 + x) -> log1p(x)
            return f"log1p({self._print(arg - 1)})"
        return f"log({self._print(arg)})"

    def _print_Maximum(self, expr) -> str:
        return self._fold("GC_MAX", expr.args)

    def _print_Minimum(self, expr) -> str:
        return self._fold("GC_MIN", expr.args)

    def _print_Sigmoid(self, expr: Sigmoid) -> str:
        one = self._lit(1)
        return f"({one}/({one} + exp(-{self.parenthesize(expr.args[0], 1000)})))"

    def _print_Where(self, expr: Where) -> str:
        c, a, b = (self._print(x) for x in expr.args)
        return f"(({c} != {self._lit(0)}) ? {a} : {b})"
