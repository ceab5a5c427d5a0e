"""sympy -> OpenCL C, golden strings in the style of sympy's printing/tests/test_c.py.

The printer tests need no device; the whole-program checks at the end compile graphs
(code generation only needs the device for the final build).
"""
from __future__ import annotations

import re

import numpy as np
import pytest
import sympy as sp

import graphc as gc
from graphc.printer import OpenCLPrinter
from graphc.symbolic import Greater, GreaterEqual, Sigmoid, Where, operand

a0, a1, a2 = operand(0), operand(1), operand(2)
F32, F64 = np.float32, np.float64


def p32(expr):
    return OpenCLPrinter(F32).doprint(expr)


def p64(expr):
    return OpenCLPrinter(F64).doprint(expr)


def bare(text):
    """Drop redundant parentheses around a lone name or number: ``(a0)`` -> ``a0``."""
    return re.sub(r"(?<!\w)\(([\w.]+)\)", r"\1", text)


# {{{ golden strings

@pytest.mark.parametrize("expr, f32, f64", [
    (2 * a0 * a1, "2.0f*a0*a1", "2.0*a0*a1"),
    (a0 + 0.5, "a0 + 0.5f", "a0 + 0.5"),
    (a0 - 1, "a0 - 1.0f", "a0 - 1.0"),
    (a0 * 1e-5, "1e-05f*a0", "1e-05*a0"),
    (a0 / a1, "a0/a1", "a0/a1"),
    (-a0, "-a0", "-a0"),
    (sp.Integer(3), "3.0f", "3.0"),
    (sp.Rational(1, 4) * a0, "0.25f*a0", "0.25*a0"),
    (sp.exp(a0), "exp(a0)", "exp(a0)"),
    (sp.exp(-a0), "exp(-a0)", "exp(-a0)"),
    (sp.log(a0 + 1), "log1p(a0)", "log1p(a0)"),
    # exactly +-1 where tanh rounds to 1: PoCL's float tanh stops at 0.99999994
    (sp.tanh(a0), "((fabs(a0) > 9.01f) ? copysign(1.0f, a0) : tanh(a0))",
     "((fabs(a0) > 19.1) ? copysign(1.0, a0) : tanh(a0))"),
    (sp.sqrt(a0), "sqrt(a0)", "sqrt(a0)"),
    (1 / sp.sqrt(a0), "rsqrt(a0)", "rsqrt(a0)"),
    (a0 ** sp.Rational(-1, 2), "rsqrt(a0)", "rsqrt(a0)"),
    (a0 ** 7, "pown(a0, 7)", "pown(a0, 7)"),
    (a0 ** -7, "pown(a0, -7)", "pown(a0, -7)"),
    (a0 ** a1, "pow(a0, a1)", "pow(a0, a1)"),
    (a0 ** 1.5, "pow(a0, 1.5f)", "pow(a0, 1.5)"),
    # max/min propagate NaN like numpy (fmax/fmin would drop it); constants go right
    (sp.Max(a0, a1), "GC_MAX(a0, a1)", "GC_MAX(a0, a1)"),
    (sp.Min(a0, a1), "GC_MIN(a0, a1)", "GC_MIN(a0, a1)"),
    (sp.Max(a0, 0), "GC_MAX(a0, 0.0f)", "GC_MAX(a0, 0.0)"),
    (sp.Abs(a0), "fabs(a0)", "fabs(a0)"),
    (sp.E * a0, "2.7182817f*a0", "2.718281828459045*a0"),
    (sp.pi * a0, "3.1415927f*a0", "3.141592653589793*a0"),
    (Greater(a0, a1), "((a0 > a1) ? 1.0f : 0.0f)", "((a0 > a1) ? 1.0 : 0.0)"),
    (GreaterEqual(a0, 0), "((a0 >= 0.0f) ? 1.0f : 0.0f)", "((a0 >= 0.0) ? 1.0 : 0.0)"),
    (Where(a0, a1, 2), "((a0 != 0.0f) ? a1 : 2.0f)", "((a0 != 0.0) ? a1 : 2.0)"),
    (Sigmoid(a0), "1.0f/(1.0f + exp(-a0))", "1.0/(1.0 + exp(-a0))"),
])
def test_golden(expr, f32, f64):
    # redundant parentheses around one name or number, e.g. (0.25f)*a0, do not count
    assert bare(p32(expr)) == f32
    assert bare(p64(expr)) == f64


def test_max_of_three_folds_into_nested_macros():
    text = p32(sp.Max(a0, a1, a2))
    assert text.count("GC_MAX(") == 2 and "a2" in text and "fmax" not in text


def test_small_integer_powers_are_products():
    assert p32(a0 ** 2) == "a0*a0"
    assert p32(a0 ** 3) == "a0*a0*a0"
    assert p32(a0 ** 4) == "a0*a0*a0*a0"
    assert p32(a0 ** -1) == "1.0f/a0"
    assert p32(a0 ** -2) == "1.0f/(a0*a0)"
    assert p64(a0 ** -1) == "1.0/a0"
    assert p32((a0 + 1) ** 2) == "(a0 + 1.0f)*(a0 + 1.0f)"
    assert p32(sp.log(a0) ** -2).count("log(a0)") == 2
    for e in (a0 ** 2, a0 ** 3, a0 ** -1, (a0 + 1) ** 2, sp.log(a0) ** -2):
        assert "pow" not in p32(e)


def test_small_integer_powers_print_atoms_bare():
    # the C printer parenthesises by precedence: atoms and calls print bare
    assert p32(a0 ** 2) == "a0*a0"
    assert p32(a0 ** -1) == "1.0f/a0"
    assert p32(sp.sin(a0) ** 2) == "sin(a0)*sin(a0)"


@pytest.mark.parametrize("expr, expected", [(a0 ** -0.5, "rsqrt(a0)"),
                                            (a0 ** 0.5, "sqrt(a0)")])
def test_float_half_powers(expr, expected):
    assert p32(expr) == expected


def test_no_f_suffixed_functions():
    text = p32(sp.exp(a0) + sp.log(a1) + sp.sqrt(a0) + sp.tanh(a1) + sp.Abs(a0) + a0 ** a1
               + sp.Max(a0, a1))
    assert not re.search(r"\b(expf|logf|sqrtf|tanhf|fabsf|powf|fmaxf)\b", text)


def test_float32_literals_round_to_float32():
    assert p32(a0 * 0.1) == "0.1f*a0"
    assert p64(a0 * 0.1) == "0.1*a0"
    assert p32(a0 + 1e30) == "a0 + 1e+30f"
    assert p64(a0 * 1e300) == "1e+300*a0"
    assert p32(a0 * 1e-5) == "1e-05f*a0"


@pytest.mark.filterwarnings("ignore:overflow encountered:RuntimeWarning")
def test_float32_literal_out_of_range_is_infinity():
    assert p32(a0 * 1e300) == "INFINITY*a0"
    assert p32(a0 * -1e300) == "-INFINITY*a0"


def test_special_values():
    assert p32(sp.S.NaN) == "NAN"
    assert p32(sp.oo) == "INFINITY"
    assert p32(-sp.oo) == "(-INFINITY)"
    assert "double" in p64(sp.oo)      # a double INFINITY in a double kernel


def test_symbol_names_can_be_mapped():
    x = sp.Symbol("x", real=True)
    assert OpenCLPrinter(F32, {a0: "v0"}).doprint(a0 + 1) == "v0 + 1.0f"
    assert OpenCLPrinter(F32).doprint(x * 2) == "2.0f*x"


def test_unknown_function_is_a_codegen_error():
    with pytest.raises(gc.CodegenError, match=r"no rule for foo"):
        p32(sp.Function("foo")(a0))

# }}}

# {{{ whole programs

FLOAT_LITERAL = re.compile(
    r"(?<![\w.])((\d+\.\d*|\.\d+)([eE][+-]?\d+)?|\d+[eE][+-]?\d+)(?![\w.])")
DOUBLE = re.compile(r"\bdouble\b")


def float32_program(which):
    x = gc.placeholder((4, 8), name="x")
    w = gc.parameter(np.linspace(-1, 1, 24, dtype=np.float32).reshape(8, 3), name="w")
    if which == "elementwise":
        chain = (gc.tanh(x * 0.5 + 1e-5) ** 3 / (1 + gc.exp(-x))).abs().sqrt()
        return gc.compile([x], chain.clamp(min=0.1, max=7) * gc.sigmoid(x)
                          + gc.maximum(x, 0.3))
    if which == "reduce":
        return gc.compile([x], [x.sum(1), x.max(0), x.mean(), x.min(1) * 2])
    if which == "matmul":
        return gc.compile([x], (x @ w).relu() * 2.5 + 0.1)
    if which == "softmax":
        return gc.compile([x], [gc.softmax(x, 1), gc.log_softmax(x, 0) * 3])
    loss = (gc.softmax(x @ w, 1) ** 2).sum()
    g = gc.grad(loss, w)
    return gc.compile([x], [loss], updates={w: w - 0.01 * g})


@pytest.mark.parametrize("which", ["elementwise", "reduce", "matmul", "softmax", "train"])
def test_float32_program_has_no_double(which):
    fn = float32_program(which)
    source = fn.source
    assert not DOUBLE.search(source), which
    assert "cl_khr_fp64" not in source
    unsuffixed = [m.group(0) for m in FLOAT_LITERAL.finditer(source)]
    assert not unsuffixed, f"float literals without f suffix in {which}: {unsuffixed}"
    for k in fn.kernels:
        assert not DOUBLE.search(k.source)


def test_float64_program_has_fp64_pragma(has_fp64):
    if not has_fp64:
        pytest.skip("device has no float64 support")
    x = gc.placeholder((4, 8), dtype="float64", name="x")
    fn = gc.compile([x], [gc.softmax(x * 0.5, 1), x.sum()])
    assert "#pragma OPENCL EXTENSION cl_khr_fp64 : enable" in fn.source
    assert DOUBLE.search(fn.source)
    assert "0.5f" not in fn.source and "0.5" in fn.source
    assert not re.search(r"\bfloat\b", fn.source)

# }}}
