"""Elementwise ops: a scalar sympy formula over broadcast operands, one table entry each.

Each op of ``UNARY`` and ``BINARY`` is its sympy form over the operand symbols ``a0``,
``a1``; its gradient is ``sympy.diff`` of that form (``autodiff`` asks this module's
VJP), its numpy reference is the form lambdified, and the kernel prints it. Adding an op
is one table entry. ``gc.elementwise(fn, *tensors)`` makes a user's own op the same way.
"""
from __future__ import annotations

import builtins
import inspect as _inspect
from typing import Any, Callable, Optional, Sequence, Union

import numpy as np
import sympy as sp

from .. import graph
from ..dtypes import BOOL, as_dtype, is_float, is_integer, promote, scalar_dtype
from ..errors import DTypeError, ShapeError
from ..graph import Op, Tensor
from ..kir import compute_dtype
from ..stabilize import stabilize
from ..symbolic import (Equal, Exp2, Expm1, FAbs, FloorDiv, Greater, GreaterEqual, IntPow,
                        IsFinite, IsInf, IsNan, Log10, Log1p, Log2, Maximum, Minimum,
                        NotEqual, Remainder, Round, Sigmoid, Softplus, Trunc, Where, cast,
                        numpy_function, operand, partial, renumber, xreplace_ieee)
from ..shapes import broadcast_size, is_static
from .registry import Category, define
from .sizes import size_scalar

Operand = Union[Tensor, float, int, np.ndarray]

a0, a1, a2 = operand(0), operand(1), operand(2)

UNARY = {
    "neg": -a0,
    "exp": sp.exp(a0),
    "log": sp.log(a0),
    "sqrt": sp.sqrt(a0),
    "tanh": sp.tanh(a0),
    "sigmoid": Sigmoid(a0),
    "relu": sp.Max(a0, 0),
    "abs": FAbs(a0),
}

BINARY = {
    "add": a0 + a1,
    "sub": a0 - a1,
    "mul": a0 * a1,
    "div": a0 / a1,
    "pow": a0 ** a1,
    "maximum": Maximum(a0, a1),
    "minimum": Minimum(a0, a1),
}

# comparisons: bool tensors, true where the relation holds
COMPARISONS = {
    "lt": Greater(a1, a0),
    "le": GreaterEqual(a1, a0),
    "gt": Greater(a0, a1),
    "ge": GreaterEqual(a0, a1),
}


# {{{ building elementwise nodes

def broadcast_shapes(*shapes: tuple, op: str = "broadcast") -> tuple:
    """numpy's broadcast of ``shapes``; a ``ShapeError`` naming ``op`` and the shapes."""
    ndim = builtins.max(len(s) for s in shapes)
    return tuple(broadcast_size([s[axis - ndim + len(s)] for s in shapes
                                 if axis - ndim + len(s) >= 0], op, shapes, axis - ndim)
                 for axis in range(ndim))


def as_tensor(value: Operand, like: Optional[Tensor] = None, what: str = "operand") -> Tensor:
    """A Tensor for ``value``. Python and numpy scalars are weak (``dtypes.scalar_dtype``):
    they take the dtype of ``like``, except that a float beside an integer or bool tensor
    is float32 and an int beside a bool tensor int64, as in torch. Arrays take the dtype
    of a float or integer ``like`` unless they hold floats and ``like`` does not."""
    if isinstance(value, Tensor):
        return value
    if isinstance(value, (bool, int, float, np.number)) or (
            isinstance(value, np.ndarray) and value.ndim == 0):
        scalar = value.item() if isinstance(value, np.ndarray) else value
        dtype = scalar_dtype(scalar, like.dtype if like is not None else None)
        return graph.constant(_in_range(scalar, dtype, what), dtype)
    if isinstance(value, (np.ndarray, list, tuple)):
        array = np.asarray(value)
        dtype = None
        if like is not None and like.dtype != BOOL and (
                is_float(like.dtype) or array.dtype.kind in "biu"):
            dtype = like.dtype
        return graph.constant(array, dtype)
    if isinstance(value, sp.Basic):     # a size known only at call time (shapes.Dim)
        return size_scalar(value, like.dtype if like is not None else np.float32)
    raise TypeError(f"{what}: expected a graphc Tensor, a number or an array, "
                    f"got {type(value).__name__}")


def _in_range(value: object, dtype: np.dtype, what: str) -> np.ndarray:
    """``value`` as a 0-d array of ``dtype``; an integer that ``dtype`` cannot hold is an
    ``OverflowError`` (numpy's), not a silent wrap."""
    if dtype.kind in "iu" and not isinstance(value, (bool, np.bool_)):
        info = np.iinfo(dtype)
        if not info.min <= int(value) <= info.max:
            raise OverflowError(f"{what}: the Python integer {value} does not fit the "
                                f"operand's dtype {dtype} ([{info.min}, {info.max}]); "
                                "convert the tensor first, e.g. with .long()")
    return np.asarray(value, dtype=dtype)


def apply(name: str, expr: sp.Expr, *operands: Operand, dtype: Any = None) -> Tensor:
    """Apply the scalar function ``expr`` (of a0, a1, ...) to broadcast ``operands``.

    The result's dtype is ``dtype`` if given, else the operands' promoted dtype."""
    like = next((o for o in operands if isinstance(o, Tensor)), None)
    tensors = [as_tensor(o, like, name) for o in operands]
    promoted = promote([t.dtype for t in tensors], name)
    if dtype is None and promoted == BOOL:
        promoted = _bool_result(name)
    elif dtype is None and is_integer(promoted) and name not in INTEGER_CLOSED:
        promoted = np.dtype(np.float32)   # exp(int), int / int: the default float (torch)
    out_dtype = as_dtype(dtype, name) if dtype is not None else promoted
    from .views import broadcast_to
    shape = broadcast_shapes(*(t.shape for t in tensors), op=name)
    tensors = [broadcast_to(t, shape) for t in tensors]
    stable = stabilize(expr, tensors)
    if stable is not None:
        expr, tensors = stable
        expr, tensors = _log_of_sum_exp_leaves(expr, list(tensors))
    return ew_node(expr, tensors, shape, out_dtype)


# ops of bool operands whose result is bool, as in torch (+ is or, * is and); - has none
_BOOL_CLOSED = {"add", "mul", "maximum", "minimum", "clamp"}
# ops whose result over integers is an integer of the promoted dtype, as in torch; every
# other elementwise op of integers (exp, sqrt, true division, a user's own) gives float32
INTEGER_CLOSED = {"add", "sub", "mul", "neg", "abs", "maximum", "minimum", "clamp", "relu",
                  "sign", "square", "floor", "ceil", "round", "trunc", "floor_divide",
                  "remainder", "pow", "bitwise_and", "bitwise_or", "bitwise_xor",
                  "bitwise_not", "bitwise_left_shift", "bitwise_right_shift"}


def _bool_result(name: str) -> np.dtype:
    """The dtype of elementwise op ``name`` over bool operands only: bool for the logical
    ones, an error for negation and subtraction, else the default float (torch's
    exp(mask), mask / mask)."""
    if name in _BOOL_CLOSED:
        return BOOL
    if name in ("neg", "sub"):
        raise DTypeError(f"{name}: operands are bool, which has no negation or subtraction "
                         "(as in torch); use ~ or logical_xor, or convert with .float()")
    return np.dtype(np.float32)


def _log_of_sum_exp_leaves(expr: sp.Expr, tensors: list) -> tuple[sp.Expr, list]:
    """log(a_k), a_k a view of sum(exp(z)): read a view of logsumexp(z) instead."""
    from .reduce import log
    from .registry import opdef
    for k, t in enumerate(list(tensors)):
        term = sp.log(operand(k))
        if not expr.has(term):
            continue
        chain, base = [], t
        while base.op in (Op.RESHAPE, Op.BROADCAST, Op.PERMUTE):
            chain.append(base)
            base = base.src[0]
        if base.op is not Op.REDUCE or base is t:
            continue
        replacement = log(base)
        if replacement.op is Op.EW and replacement.arg == sp.log(operand(0)):
            continue      # not a sum of exp: nothing to gain
        for v in reversed(chain):
            replacement = opdef(v).rebuild(v, (replacement,))
        expr = expr.xreplace({term: operand(len(tensors))})
        tensors.append(replacement)
    return expr, tensors


def _inlined(t: Tensor) -> Optional[float]:
    """The number ``ew_node`` writes into the formula for operand ``t``, if any: a finite
    uniform constant's, also broadcast to a size known only at call time."""
    if t.op is Op.BROADCAST and not is_static(t.shape):
        t = t.src[0]
    if t.op is Op.CONST and t.arg.uniform is not None and np.isfinite(t.arg.uniform):
        return t.arg.uniform
    return None


def _wrapped(values: Any, dtype: np.dtype) -> Any:
    """Folded integer values modulo ``dtype``'s width, as the kernels wrap them (sympy
    computes over exact integers: uint32 keys plus constants pass 2**32)."""
    dtype, array = np.dtype(dtype), np.asarray(values)
    if dtype.kind not in "iu" or array.dtype.kind not in "iuO":
        return values
    bits = 8 * dtype.itemsize
    wrapped = [int(v) % (1 << bits) for v in array.ravel().tolist()]
    if dtype.kind == "i":
        wrapped = [v - (1 << bits) if v >> (bits - 1) else v for v in wrapped]
    return np.array(wrapped, dtype=dtype).reshape(array.shape)


def ew_node(expr: sp.Expr, src: Sequence[Tensor], shape: tuple, dtype: np.dtype) -> Tensor:
    """The canonical elementwise node: uniform constants inlined, operands deduplicated.

    Canonical form makes equal computations hash to the same node: inputs appear once,
    in first-use order, as a0, a1, ...; a pure-constant result folds into a constant.
    """
    replace: dict = {}
    kept: list[Tensor] = []
    for i, t in enumerate(src):
        if _inlined(t) is not None:
            replace[operand(i)] = _number(_inlined(t), t.dtype)
        elif any(t is k for k in kept):
            replace[operand(i)] = operand(_index(kept, t) + len(src))
        else:
            replace[operand(i)] = operand(len(kept) + len(src))
            kept.append(t)
    computes = compute_dtype(dtype, [t.dtype for t in src])
    expr = xreplace_ieee(sp.sympify(expr), replace, computes)
    used = sorted(int(s.name[1:]) - len(src) for s in expr.free_symbols)
    expr = renumber(expr, {old + len(src): new for new, old in enumerate(used)}, computes)
    kept = [kept[i] for i in used]
    if not kept or all(t.op is Op.CONST for t in kept):
        values = _wrapped(numpy_function(expr, len(kept))(*(t.arg.array for t in kept)),
                          dtype)
        if not is_static(shape):    # a size known at call time: broadcast then
            from .views import broadcast_to
            return broadcast_to(graph.constant(np.asarray(values, dtype=dtype), dtype), shape)
        return graph.constant(np.broadcast_to(np.asarray(values, dtype=dtype), shape), dtype)
    if expr == operand(0) and kept[0].dtype == dtype:
        return kept[0]
    return Tensor(Op.EW, tuple(kept), shape, dtype, expr)


def _index(items: Sequence[Tensor], t: Tensor) -> int:
    return next(i for i, k in enumerate(items) if k is t)


def _number(value: float, dtype: np.dtype) -> sp.Number:
    """``value`` as a sympy number, written as the shortest decimal of its ``dtype``
    (1e-6 stays 1e-6 in float32, not 9.99999997e-07; the kernel rounds it back)."""
    if np.dtype(dtype).kind in "biu" or (value % 1 == 0 and builtins.abs(value) < 2 ** 53):
        return sp.Integer(int(value))
    text = str(np.float32(value)) if dtype == np.float32 else repr(float(value))
    return sp.Float(text, 17)

# }}}


# {{{ the elementwise op: gradient, reference, label

def _vjp(node: Tensor, g: Tensor) -> list:
    n = len(node.src)
    if not is_float(node.dtype):
        return [None] * n
    out = []
    for i, s in enumerate(node.src):
        d = partial(node.arg, i)
        # each cotangent in its source's dtype (a cast's gradient casts back)
        out.append(None if d == 0 or not is_float(s.dtype) else
                   ew_node(operand(n) * d, node.src + (g,), node.shape, s.dtype))
    return out


def _label(node: Tensor, inner: list) -> str:
    # renamed without re-evaluating: sympy may take long to re-simplify a deep formula
    with sp.evaluate(False):
        return str(node.arg.xreplace({operand(i): sp.Symbol(t, real=True)
                                      for i, t in enumerate(inner)}))


def _impl(node: Tensor, *xs: np.ndarray) -> np.ndarray:
    if is_float(node.dtype):   # masks enter float formulas as 0/1 of the node's dtype
        xs = tuple(x.astype(node.dtype) if x.dtype == BOOL else x for x in xs)
    return numpy_function(node.arg, len(xs))(*xs)


define(Op.EW, Category.ELEMENTWISE, vjp=_vjp, impl=_impl,
       label=_label, rebuild=lambda node, src: ew_node(node.arg, src, node.shape, node.dtype))

# }}}


# {{{ the user-facing functions

def _unary(name: str, expr: sp.Expr) -> Callable[[Operand], Tensor]:
    def fn(x: Operand) -> Tensor:
        return apply(name, expr, x)
    fn.__name__ = fn.__qualname__ = name
    fn.__doc__ = f"Elementwise {name}: {expr} of a0."
    return fn


def _binary(name: str, expr: sp.Expr) -> Callable[[Operand, Operand], Tensor]:
    def fn(x: Operand, y: Operand) -> Tensor:
        return apply(name, expr, x, y)
    fn.__name__ = fn.__qualname__ = name
    fn.__doc__ = f"Elementwise {name}: {expr} of a0 and a1 (broadcast)."
    return fn


neg, exp, sqrt, tanh, sigmoid, relu = (_unary(n, UNARY[n]) for n in
                                       ("neg", "exp", "sqrt", "tanh", "sigmoid", "relu"))
abs = _unary("abs", UNARY["abs"])  # noqa: A001  (gc.abs, as SPEC names it)
add, sub, mul, div = (_binary(n, BINARY[n]) for n in ("add", "sub", "mul", "div"))


def pow(x: Operand, y: Operand) -> Tensor:  # noqa: A001
    """x ** y (broadcast). Over integers a literal exponent multiplies by squaring and a
    tensor exponent computes ``IntPow`` (wrapping as numpy's, exactly; torch's 0, 1 or -1
    for a negative exponent); a negative literal exponent is an error, as in torch."""
    like = next((o for o in (x, y) if isinstance(o, Tensor)), None)
    xt, yt = as_tensor(x, like, "pow"), as_tensor(y, like, "pow")
    if is_integer(promote([xt.dtype, yt.dtype], "pow")):
        if yt.op is Op.CONST and yt.arg.uniform is not None:
            if yt.arg.uniform < 0:
                raise ValueError(f"pow: integers to the negative power {yt.arg.uniform} are "
                                 "not allowed (as in torch); convert with .float() first")
        else:
            return apply("pow", IntPow(a0, a1), xt, yt)
    return apply("pow", BINARY["pow"], xt, yt)
maximum, minimum = _binary("maximum", BINARY["maximum"]), _binary("minimum", BINARY["minimum"])
def _comparison(name: str, expr: sp.Expr) -> Callable[[Operand, Operand], Tensor]:
    def fn(x: Operand, y: Operand) -> Tensor:
        return apply(name, expr, x, y, dtype=BOOL)
    fn.__name__ = fn.__qualname__ = name
    fn.__doc__ = f"Elementwise {name}: a bool tensor, {expr} of a0 and a1 (broadcast)."
    return fn


lt, le, gt, ge = (_comparison(n, COMPARISONS[n]) for n in ("lt", "le", "gt", "ge"))


def log_raw(x: Operand) -> Tensor:
    """The natural logarithm, without the logsumexp rewrite of ``gc.log``."""
    return apply("log", UNARY["log"], x)


def where(condition: Operand, x: Operand, y: Operand) -> Tensor:
    """``x`` where ``condition`` is true (non-zero), else ``y`` (broadcast)."""
    cond = as_tensor(condition)
    like = next((o for o in (x, y) if isinstance(o, Tensor)), None)
    x, y = as_tensor(x, like, "where"), as_tensor(y, like, "where")
    promote([cond.dtype, x.dtype, y.dtype], "where")
    return apply("where", Where(a0, a1, a2), cond, x, y, dtype=promote([x.dtype, y.dtype],
                                                                         "where"))


def clamp(x: Operand, min: Optional[Operand] = None,  # noqa: A002 (torch's names)
          max: Optional[Operand] = None) -> Tensor:  # noqa: A002
    """Limit ``x`` to [min, max]. As torch's: the gradient passes on the bounds and is 0
    outside them; NaN stays NaN."""
    if min is None and max is None:
        raise ValueError("clamp: give min=, max= or both")
    result = x
    if min is not None:       # x where it is not below min: ties keep x and its gradient
        result = apply("clamp", Where(Greater(a1, a0), a1, a0), result, min)
    if max is not None:
        result = apply("clamp", Where(Greater(a0, a1), a1, a0), result, max)
    return result


def elementwise(fn: Callable[..., Any], *tensors: Operand, name: Optional[str] = None) -> Tensor:
    """A user's own elementwise op: ``fn`` maps sympy symbols (one per tensor) to a sympy
    expression; the result is fused and differentiated like the built-in ops.

    Example: ``gc.elementwise(lambda x, y: sympy.exp(-x**2) * y, a, b)``. The formula may
    use sympy's functions (``sympy.sin``, ``sympy.erf``, ...) and graphc's
    (``graphc.symbolic.Sigmoid``, ...); the printer rejects what it cannot print.
    """
    if not callable(fn):
        raise TypeError(f"elementwise: fn must be a function of sympy symbols, got "
                        f"{type(fn).__name__}")
    if not tensors:
        raise TypeError("elementwise: give at least one tensor")
    try:
        arity = len(_inspect.signature(fn).parameters)
    except (TypeError, ValueError):
        arity = len(tensors)
    if arity != len(tensors):
        raise TypeError(f"elementwise: fn takes {arity} arguments but {len(tensors)} "
                        "tensors were given")
    expr = sp.sympify(fn(*(operand(i) for i in range(len(tensors)))))
    stray = {s for s in expr.free_symbols if s not in {operand(i) for i in range(len(tensors))}}
    if stray:
        raise ValueError(f"elementwise: the formula uses symbols {sorted(map(str, stray))} "
                         "that are not its arguments")
    return apply(name or getattr(fn, "__name__", "elementwise"), expr, *tensors)

# }}}


# {{{ the elementwise family: each a formula of the table

SQRT2 = sp.sqrt(2)
SELU_ALPHA, SELU_SCALE = 1.6732632423543772848170429916717, 1.0507009873554804934193349852946

FAMILY = {
    "exp2": Exp2(a0), "expm1": Expm1(a0), "log2": Log2(a0), "log10": Log10(a0),
    "log1p": Log1p(a0), "rsqrt": 1 / sp.sqrt(a0), "square": a0 ** 2, "reciprocal": 1 / a0,
    "sin": sp.sin(a0), "cos": sp.cos(a0), "tan": sp.tan(a0),
    "arcsin": sp.asin(a0), "arccos": sp.acos(a0), "arctan": sp.atan(a0),
    "sinh": sp.sinh(a0), "cosh": sp.cosh(a0), "arcsinh": sp.asinh(a0),
    "arccosh": sp.acosh(a0), "arctanh": sp.atanh(a0), "erf": sp.erf(a0), "erfc": sp.erfc(a0),
    "logsigmoid": -Softplus(-a0), "silu": a0 * Sigmoid(a0),
    "mish": a0 * sp.tanh(Softplus(a0)),
    "selu": SELU_SCALE * Where(Greater(a0, 0), a0, SELU_ALPHA * Expm1(a0)),
    "sign": sp.sign(a0), "floor": sp.floor(a0), "ceil": sp.ceiling(a0), "round": Round(a0),
    "trunc": Trunc(a0),
}
UNARY.update(FAMILY)
BINARY["arctan2"] = sp.atan2(a0, a1)
COMPARISONS.update({"eq": Equal(a0, a1), "ne": NotEqual(a0, a1)})
PREDICATES = {"isnan": IsNan(a0), "isinf": IsInf(a0), "isfinite": IsFinite(a0)}

# one function per entry of FAMILY: adding an op of one operand is one line above
globals().update({name: _unary(name, expr) for name, expr in FAMILY.items()})
arctan2 = _binary("arctan2", BINARY["arctan2"])
eq, ne = _comparison("eq", COMPARISONS["eq"]), _comparison("ne", COMPARISONS["ne"])


def floor_divide(x: Operand, y: Operand) -> Tensor:
    """floor(x / y), numpy's ``//`` (its gradient is 0): -7 // 2 is -4; over integers
    x // 0 is 0, as numpy's (and never traps); over floats 1.0 // 0.1 is 9.0, as numpy's."""
    return apply("floor_divide", FloorDiv(a0, a1), x, y)


def remainder(x: Operand, y: Operand) -> Tensor:
    """x - y * floor(x / y), numpy's ``%``: the result has the sign of y (-7 % 2 is 1,
    7 % -2 is -1); over integers x % 0 is 0, as numpy's, over floats NaN."""
    return apply("remainder", Remainder(a0, a1), x, y)


def _predicate(name: str) -> Callable[[Operand], Tensor]:
    def fn(x: Operand) -> Tensor:
        x = as_tensor(x)
        if not is_float(x.dtype):     # an integer is finite, never NaN nor inf
            return graph.constant(np.broadcast_to(name == "isfinite", x.shape), BOOL)
        return apply(name, PREDICATES[name], x, dtype=BOOL)
    fn.__name__ = fn.__qualname__ = name
    fn.__doc__ = f"True where x is {name[2:]} (a bool tensor)."
    return fn


globals().update({name: _predicate(name) for name in PREDICATES})


def _float(x: float) -> sp.Float:
    return sp.Float(repr(float(x)))


def softplus(x: Operand, beta: float = 1.0, threshold: float = 20.0) -> Tensor:
    """log(1 + exp(beta x)) / beta, as torch's; computed stably for every x (torch's
    ``threshold``, above which it returns x, changes the result by less than 1e-8)."""
    if beta == 1:
        return apply("softplus", Softplus(a0), x)
    return apply("softplus", Softplus(_float(beta) * a0) / _float(beta), x)


def leaky_relu(x: Operand, negative_slope: float = 0.01) -> Tensor:
    """x where x > 0, else negative_slope * x (the slope's gradient at 0, as torch)."""
    return apply("leaky_relu", Where(Greater(a0, 0), a0, _float(negative_slope) * a0), x)


def elu(x: Operand, alpha: float = 1.0) -> Tensor:
    """x where x > 0, else alpha * (exp(x) - 1)."""
    return apply("elu", Where(Greater(a0, 0), a0, _float(alpha) * Expm1(a0)), x)


def gelu(x: Operand, approximate: str = "none") -> Tensor:
    """x * Phi(x) (``approximate="none"``, with erf) or its tanh approximation."""
    if approximate == "none":
        return apply("gelu", a0 * (1 + sp.erf(a0 / SQRT2)) / 2, x)
    if approximate == "tanh":
        inner = sp.sqrt(2 / sp.pi) * (a0 + sp.Float("0.044715") * a0 ** 3)
        return apply("gelu", a0 * (1 + sp.tanh(inner)) / 2, x)
    raise ValueError(f"gelu: approximate must be 'none' or 'tanh', got {approximate!r}")


def hardtanh(x: Operand, min_val: float = -1.0, max_val: float = 1.0) -> Tensor:
    """x limited to [min_val, max_val]; the gradient is 0 on the bounds, as torch's."""
    if min_val > max_val:
        raise ValueError(f"hardtanh: min_val {min_val} is above max_val {max_val}")
    return apply("hardtanh", sp.Min(sp.Max(a0, _float(min_val)), _float(max_val)), x)


def nan_to_num(x: Operand, nan: float = 0.0, posinf: Optional[float] = None,
               neginf: Optional[float] = None) -> Tensor:
    """NaN, +inf and -inf replaced by ``nan``, ``posinf`` and ``neginf`` (default: the
    dtype's largest and smallest finite values), as numpy's and torch's."""
    x = as_tensor(x)
    if not is_float(x.dtype):
        return x                      # integers hold no NaN nor inf
    big = float(np.finfo(x.dtype).max)
    high = _float(big if posinf is None else posinf)
    low = _float(-big if neginf is None else neginf)
    expr = Where(IsNan(a0), _float(nan), Where(Equal(a0, sp.oo), high,
                                               Where(Equal(a0, -sp.oo), low, a0)))
    return apply("nan_to_num", expr, x)


def masked_fill(x: Operand, mask: Operand, value: Operand) -> Tensor:
    """``value`` where the bool ``mask`` is true, else ``x`` (broadcast), as torch's."""
    mask = as_tensor(mask)
    if mask.dtype != BOOL:
        raise DTypeError(f"masked_fill: the mask must be a bool tensor, got {mask.dtype}; "
                         "build it with a comparison (x > 0) or .bool()")
    x = as_tensor(x)
    return apply("masked_fill", Where(a0, a1, a2), mask, as_tensor(value, x), x,
                 dtype=x.dtype)


def astype(x: Operand, dtype: Any) -> Tensor:
    """``x`` converted to ``dtype`` (float to bool: true where non-zero)."""
    x = as_tensor(x)
    target = as_dtype(dtype, "astype")
    if target == x.dtype:
        return x
    return apply("astype", cast(a0, target), x, dtype=target)


def _logical(name: str, expr: sp.Expr, *operands: Operand) -> Tensor:
    tensors = [as_tensor(o) for o in operands]
    for t in tensors:
        if t.dtype != BOOL:
            raise DTypeError(f"{name}: & | ^ ~ take bool tensors, got {t.dtype}; compare "
                             "first (x > 0) or convert with .bool()")
    return apply(name, expr, *tensors, dtype=BOOL)


def logical_and(x: Operand, y: Operand) -> Tensor:
    return _logical("logical_and", a0 * a1, x, y)


def logical_or(x: Operand, y: Operand) -> Tensor:
    return _logical("logical_or", Maximum(a0, a1), x, y)


def logical_xor(x: Operand, y: Operand) -> Tensor:
    return _logical("logical_xor", NotEqual(a0, a1), x, y)


def logical_not(x: Operand) -> Tensor:
    return _logical("logical_not", Equal(a0, 0), x)

# }}}


# every elementwise op of this module, by name: gc.<name>, graphc.ops.<name> (and
# gc.elementwise, the user's own op)
# (gc.log is reduce.log: log of a sum of exponentials becomes logsumexp)
__all__ = sorted(set(UNARY) - {"log"} | set(BINARY) | set(COMPARISONS) | set(PREDICATES) | {
    "where", "clamp", "softplus", "leaky_relu", "elu", "gelu", "hardtanh",
    "nan_to_num", "masked_fill", "astype", "floor_divide", "remainder", "logical_and",
    "logical_or", "logical_xor", "logical_not"})
