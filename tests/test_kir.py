"""The kernel IR (graphc.kir): typed values, CSE by construction, typed kernels, deep chains.

The first part needs no device (kernel sources come from ``schedule`` and
``codegen.generate`` on a CPU target description); the last part runs deep chains on the
test device against ``gc.evaluate``.
"""
from __future__ import annotations

import dataclasses
import re
import time

import numpy as np
import pytest
import sympy as sp

import graphc as gc
from graphc import codegen, kir, rewrite, symbolic
from graphc.codegen import BufferRef
from graphc.graph import Op, Tensor, toposort
from graphc.ops import ew_node
from graphc.schedule import View, plan_buffers, schedule
from graphc.symbolic import (Equal, Greater, IsFinite, IsInf, IsNan, NotEqual, Where, cast,
                             operand)

a0, a1, a2 = operand(0), operand(1), operand(2)
F32, F64, BOOL = np.dtype(np.float32), np.dtype(np.float64), np.dtype(np.bool_)
CPU = codegen.Target("cpu", compute_units=2, max_group=4096)
DOUBLE = re.compile(r"\bdouble\d*\b")


def kernels(outputs: list, target: codegen.Target = CPU) -> list:
    """The kernel specs of ``outputs`` on ``target``, lowered without a device."""
    sched = schedule(outputs, [], True)
    slot_of, _ = plan_buffers(sched)

    def buffer_of(node: Tensor) -> BufferRef:
        if id(node) in slot_of:
            return BufferRef("temp", slot=slot_of[id(node)])
        return BufferRef("input", node)
    return codegen.generate(sched, buffer_of, target)


def bool_placeholder(shape: tuple, name: str) -> Tensor:
    return Tensor(Op.PLACEHOLDER, (), shape, BOOL, hash(name), name)


def body(spec) -> list:
    """The statements of an elementwise kernel after its index lines."""
    lines = [line.strip() for line in spec.source.splitlines()]
    start = max(i for i, line in enumerate(lines) if line.startswith("const int x"))
    return lines[start + 1:-1]


# {{{ values

def test_equal_values_are_one_value():
    b = kir.Builder()
    x = b.var("x", F32)
    assert b.call("tanh", [x]) is b.call("tanh", [x])
    assert b.const(0.5, F32) is b.const(0.5, F32)
    assert b.const(0.5, F32) is not b.const(0.5, F64)
    assert b.const(float("nan"), F32) is b.const(float("nan"), F32)
    assert b.neg(b.neg(x)) is x


def test_repeated_subexpression_is_computed_once():
    b = kir.Builder()
    x = b.var("x", F32)
    t = sp.tanh(a0 * 3)
    v = kir.translate(b, t * t + sp.exp(t) + t, {a0: x}, F32)
    ops = [u.op for u in kir.reachable([v])]
    assert [u.arg for u in kir.reachable([v]) if u.op == "call"].count("tanh") == 1
    assert ops.count("mul") == 2           # 3*x and t*t


def test_type_rules():
    b = kir.Builder()
    f, d, m = b.var("f", F32), b.var("d", F64), b.var("m", BOOL)
    assert kir.compute_dtype(BOOL, [F32, F64]) == F64
    assert kir.compute_dtype(BOOL, [BOOL]) == np.int32           # masks combine as 0/1 ints
    assert kir.compute_dtype(BOOL, [np.int32, np.int64]) == np.int64   # never via float32
    assert kir.compute_dtype(np.int32, [np.int32, BOOL]) == np.int32
    assert kir.compute_dtype(F32, [F64]) == F32
    gt = kir.translate(b, Greater(a0, a1), {a0: f, a1: d}, F64)
    assert gt.dtype == BOOL and gt.args[0].op == "cast" and gt.args[0].dtype == F64
    num = kir.translate(b, a0 * 2, {a0: m}, F32)      # a bool as a number: 0/1
    assert num.dtype == F32 and [a.op for a in num.args] == ["const", "cast"]
    where = kir.translate(b, Where(a0, a1, 0), {a0: f, a1: f}, F32)
    assert where.op == "select" and where.args[0].op == "cmp"      # f != 0
    assert kir.translate(b, cast(a0, "float64"), {a0: f}, F32).dtype == F64
    assert b.cast(b.cast(f, F64), F32) is f            # a lossless round trip


def test_derivatives_of_new_functions():
    x = a0
    assert symbolic.partial(sp.floor(x), 0) == 0
    assert symbolic.partial(sp.ceiling(x), 0) == 0
    assert symbolic.partial(sp.sign(x), 0) == 0
    assert symbolic.partial(symbolic.Round(x), 0) == 0
    assert symbolic.partial(symbolic.Trunc(x), 0) == 0
    assert symbolic.partial(cast(x, "float64"), 0) == 1
    assert symbolic.partial(cast(x, "bool"), 0) == 0
    assert symbolic.partial(symbolic.Log1p(x), 0) == 1 / (1 + x)
    assert symbolic.partial(symbolic.Expm1(x), 0) == sp.exp(x)
    assert sp.simplify(symbolic.partial(symbolic.Log2(x), 0) - 1 / (x * sp.log(2))) == 0

# }}}

# {{{ kernels, without a device


def test_typed_arguments_and_a_bool_output():
    x = gc.placeholder((3,), name="x")
    d = gc.placeholder((3,), "float64", name="d")
    (k,) = kernels([ew_node(Greater(a0, a1), [x, d], (3,), BOOL)])
    assert ("(__global const float* restrict b0, __global const double* restrict b1, "
            "__global uchar* restrict b2)") in k.source
    assert body(k) == ["const float v0_i = b0[i];", "const double v1_i = b1[i];",
                       "b2[i] = (uchar)((double)v0_i > v1_i);"]


def test_float32_kernel_golden_and_without_double():
    x = gc.placeholder((3,), name="x")
    y = ew_node(sp.tanh(a0) * 2 + sp.tanh(a0) ** 2 - 1, [x], (3,), F32)
    (k,) = kernels([y])
    assert body(k) == ["const float v0_i = b0[i];", "const float t_i_0 = ((fabs(v0_i) > "
                       "9.01f) ? copysign(1.0f, v0_i) : tanh(v0_i));",
                       "b1[i] = t_i_0*t_i_0 + 2.0f*t_i_0 - 1.0f;"]
    assert not DOUBLE.search(k.source)


def test_vector_bool_loads_selects_and_stores():
    x = gc.placeholder((4, 32), name="x")
    m = bool_placeholder((4, 32), "m")
    out = ew_node(Where(a0, a1, -a1), [m, x], (4, 32), F32)
    nan = ew_node(IsNan(a0), [out], (4, 32), BOOL)
    (k,) = kernels([out, nan])
    lines = body(k)
    assert "const char16 v0_i = (*(__global const uchar16*)(b0 + i) != ((uchar16)(0u)));" \
        in lines
    assert any("convert_int16(v0_i) ?" in line for line in lines)
    assert any("convert_uchar16(-isnan(" in line for line in lines)
    assert "__global uchar* restrict" in k.source and not DOUBLE.search(k.source)


@dataclasses.dataclass(frozen=True)
class MaskedView(View):
    """A View with ``valid`` bounds, as schedule.View will have them."""

    valid: tuple = ()


def test_masked_load_reads_only_inside_its_bounds():
    space = codegen._Space((4, 6), "i", lambda d: f"x{d}")
    view = MaskedView((4, 6), (4, 1), -5, ((1, 4), None))     # rows 1.. of a pad
    b = kir.Builder()
    v = b.load("b0", view, F32)
    text = codegen.KernelWriter._load(None, v, space, 1, True)
    assert text == "((x0 >= 1) ? b0[-5 + x0 * 4 + x1] : 0.0f)"
    plain = View((4, 6), (-6, 1), 18)                          # a flip of the rows
    assert space.offset(plain) == "18 + x0 * -6 + x1"


def test_masked_and_flipped_views_are_not_vectorised():
    x = gc.placeholder((4, 32), name="x")
    sched = schedule([gc.exp(x)], [], True)
    (group,) = sched.groups
    writer = codegen.KernelWriter(group, sched, lambda n: BufferRef("input", n), CPU)
    space = codegen._Space((4, 32), "i", lambda d: f"x{d}")
    assert writer._vector_lanes(space) == 16
    ((s, base, _),) = sched.loads[id(group)]
    for bad in (MaskedView((4, 32), (32, 1), 0, (None, (0, 16))),
                View((4, 32), (32, -1), 31)):
        writer.load_of = {id(s): (base, bad)}
        assert writer._vector_lanes(space) == 1


def test_merging_stops_at_a_modest_formula():
    x = gc.placeholder((8,), name="x")
    y = x
    for _ in range(100):
        y = gc.tanh(y) + 0.5
    (merged,) = rewrite.merge_elementwise([y])
    nodes = [n for n in toposort([merged]) if n.op is Op.EW]
    assert len(nodes) >= 100 // 21
    assert all(sp.count_ops(n.arg) <= rewrite.MERGE_MAX_OPS for n in nodes)
    (simplified,) = rewrite.merge_elementwise([-(-gc.exp(x))])
    assert simplified.arg == sp.exp(a0)


def test_a_deep_chain_is_one_kernel_and_shows_its_math():
    x = gc.placeholder((8,), name="x")
    y = x
    for _ in range(100):
        y = gc.tanh(y) + 0.5
    (k,) = kernels(rewrite.run_passes([y]))
    assert k.source.count("tanh(") == 100
    spec_math = gc.inspect.math(k)
    assert any("tanh" in str(e) for e in spec_math.values())

# }}}

# {{{ on the device


def _timed_compile(inputs, outputs):
    start = time.perf_counter()
    fn = gc.compile(inputs, outputs)
    return fn, time.perf_counter() - start


def test_100_step_chain_compiles_and_matches_evaluate():
    x = gc.placeholder((64, 32), name="x")
    y = x
    for _ in range(100):
        y = gc.tanh(y) + 0.5
    fn, seconds = _timed_compile([x], y)
    xs = np.random.default_rng(0).standard_normal((64, 32)).astype(np.float32)
    start = time.perf_counter()
    want = gc.evaluate(y, {x: xs})
    evaluated = time.perf_counter() - start
    print(f"\n100-step tanh chain: compile {seconds:.2f} s, evaluate {evaluated:.3f} s, "
          f"{len(fn.kernels)} kernel(s)")
    assert len(fn.kernels) == 1
    np.testing.assert_allclose(fn(xs), want, rtol=1e-5, atol=1e-5)


def test_30_euler_steps_compile_and_match_evaluate():
    u0 = gc.placeholder((128,), name="u")
    dt = 0.05
    u = u0
    for _ in range(30):
        u = u + dt * (-u ** 3 + gc.ops.apply("sin", sp.sin(a0), u))
    fn, seconds = _timed_compile([u0], u)
    us = np.linspace(-1.5, 1.5, 128, dtype=np.float32)
    start = time.perf_counter()
    want = gc.evaluate(u, {u0: us})
    evaluated = time.perf_counter() - start
    print(f"\n30 explicit Euler steps: compile {seconds:.2f} s, evaluate {evaluated:.3f} s, "
          f"{len(fn.kernels)} kernel(s)")
    assert len(fn.kernels) == 1
    assert not DOUBLE.search(fn.source)
    np.testing.assert_allclose(fn(us), want, rtol=1e-5, atol=1e-5)


def test_issue16_deep_chains_compile_and_match_evaluate():
    """Issue 16 (12): 100 steps of y = tanh(y) + c over a tensor c (RecursionError once),
    and 30 explicit Euler steps v = v + 0.01 * (x - v**3) (over 150 s once). Compile
    times are printed, not asserted."""
    rng = np.random.default_rng(0)
    y0, c = gc.placeholder((256,), name="y"), gc.placeholder((256,), name="c")
    y = y0
    for _ in range(100):
        y = gc.tanh(y) + c
    x, v0 = gc.placeholder((256,), name="x"), gc.placeholder((256,), name="v")
    v = v0
    for _ in range(30):
        v = v + 0.01 * (x - v * v * v)
    tanh_fn, tanh_seconds = _timed_compile([y0, c], y)
    euler_fn, euler_seconds = _timed_compile([x, v0], v)
    print(f"\n100 steps of tanh(y) + c: compile {tanh_seconds:.2f} s; 30 Euler steps of "
          f"v + 0.01 (x - v^3): compile {euler_seconds:.2f} s")
    ys, cs = rng.standard_normal(256).astype(np.float32), rng.uniform(-0.5, 0.5, 256)
    cs = cs.astype(np.float32)
    np.testing.assert_allclose(tanh_fn(ys, cs), gc.evaluate(y, {y0: ys, c: cs}),
                               rtol=1e-5, atol=1e-5)
    xs, vs = np.linspace(-1, 1, 256, dtype=np.float32), np.full(256, 0.5, np.float32)
    np.testing.assert_allclose(euler_fn(xs, vs), gc.evaluate(v, {x: xs, v0: vs}),
                               rtol=1e-5, atol=1e-6)


FUNCTIONS = {
    "log2": symbolic.Log2(a0), "log10": symbolic.Log10(a0), "exp2": symbolic.Exp2(a0),
    "expm1": symbolic.Expm1(a0), "log1p": symbolic.Log1p(a0), "trunc": symbolic.Trunc(a0),
    "round": symbolic.Round(a0), "sin": sp.sin(a0), "cos": sp.cos(a0), "tan": sp.tan(a0),
    "asin": sp.asin(a0 / 4), "acos": sp.acos(a0 / 4), "atan": sp.atan(a0),
    "atan2": sp.atan2(a0, a1), "sinh": sp.sinh(a0), "cosh": sp.cosh(a0),
    "asinh": sp.asinh(a0), "acosh": sp.acosh(a1 + 1), "atanh": sp.atanh(a0 / 4),
    "erf": sp.erf(a0), "erfc": sp.erfc(a0), "floor": sp.floor(a0),
    "ceil": sp.ceiling(a0), "sign": sp.sign(a0), "abs": sp.Abs(a0),
}
PREDICATES = {"isnan": IsNan(a0), "isinf": IsInf(a0), "isfinite": IsFinite(a0),
              "equal": Equal(a0, a1), "not_equal": NotEqual(a0, a1)}


@pytest.mark.parametrize("shape", [(2, 16), (3,)])     # vectors and scalars
def test_functions_and_predicates_match_numpy(shape, dtype):
    rng = np.random.default_rng(1)
    x = gc.placeholder(shape, dtype, name="x")
    y = gc.placeholder(shape, dtype, name="y")
    xs = (rng.uniform(0.2, 3, shape) * rng.choice([-1, 1], shape)).astype(dtype)
    xs.flat[0], xs.flat[1] = 2.5, -0.5                   # rint: half to even
    ys = np.abs(xs).astype(dtype)
    ys.flat[2] = xs.flat[2]
    outs = [ew_node(e, [x, y], shape, np.dtype(dtype)) for e in FUNCTIONS.values()]
    special = xs.copy()
    special.flat[0], special.flat[1] = np.nan, -np.inf
    z = gc.placeholder(shape, dtype, name="z")
    outs += [ew_node(e, [z, y], shape, BOOL) for e in PREDICATES.values()]
    fn = gc.compile([x, y, z], outs)
    assert "cl_khr_fp64" not in fn.source or dtype == np.float64
    with np.errstate(all="ignore"):
        want = gc.evaluate(outs, {x: xs, y: ys, z: special})
    tol = 1e-12 if dtype == np.float64 else 2e-6
    names = list(FUNCTIONS) + list(PREDICATES)
    for name, got, w in zip(names, fn(xs, ys, special), want):
        assert got.dtype == w.dtype, name
        np.testing.assert_allclose(got, w, rtol=tol, atol=tol, err_msg=name)


def test_mixed_dtype_kernel_matches_evaluate(has_fp64):
    if not has_fp64:
        pytest.skip("device has no float64 support")
    rng = np.random.default_rng(2)
    x = gc.placeholder((4, 32), name="x")
    d = gc.placeholder((4, 32), "float64", name="d")
    m = bool_placeholder((4, 32), "m")
    gt = ew_node(Greater(a0, a1), [x, d], (4, 32), BOOL)
    both = ew_node(Where(a0, a1, a2), [gt, m, gt], (4, 32), BOOL)
    mixed = ew_node(Where(a0, cast(a1, "float64") * 2, a2), [both, x, d], (4, 32), F32)
    fn = gc.compile([x, d, m], [both, mixed])
    xs = rng.standard_normal((4, 32)).astype(np.float32)
    ds = rng.standard_normal((4, 32))
    ms = rng.standard_normal((4, 32)) > 0
    for got, want in zip(fn(xs, ds, ms), gc.evaluate([both, mixed], {x: xs, d: ds, m: ms})):
        assert got.dtype == want.dtype
        np.testing.assert_array_equal(got, want)

# }}}
