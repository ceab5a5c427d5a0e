"""Every operation users call, as functions building graph nodes, and the Tensor methods.

Elementwise ops are declared once, in ``UNARY`` and ``BINARY``, by their sympy form over
the operand symbols; their gradients come from ``sympy.diff`` (see ``autodiff``).
Structural ops (views, reductions, matmul) check shapes here with numpy's rules.
"""
from __future__ import annotations

import builtins
from typing import Any, Iterable, Optional, Sequence, Union

import numpy as np
import sympy as sp

from . import graph
from .errors import DTypeError, ShapeError
from .graph import Op, Tensor
from .stabilize import stabilize
from .symbolic import (FAbs, Greater, GreaterEqual, Maximum, Minimum, Sigmoid, Where,
                       numpy_function, operand, renumber)

Operand = Union[Tensor, float, int, np.ndarray]
Axes = Union[None, int, Sequence[int]]

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
    "lt": Greater(a1, a0),
    "le": GreaterEqual(a1, a0),
    "gt": Greater(a0, a1),
    "ge": GreaterEqual(a0, a1),
}


# {{{ building elementwise nodes

def broadcast_shapes(*shapes: tuple, op: str = "broadcast") -> tuple:
    """numpy's broadcast of ``shapes``; a ``ShapeError`` naming ``op`` and the shapes."""
    ndim = builtins.max(len(s) for s in shapes)
    out = []
    for axis in range(ndim):
        sizes = {s[axis - ndim + len(s)] for s in shapes if axis - ndim + len(s) >= 0}
        sizes.discard(1)
        if len(sizes) > 1:
            listed = " and ".join(str(s) for s in shapes)
            raise ShapeError(f"{op}: shapes {listed} cannot be broadcast together "
                             f"(axis {axis - ndim} has sizes {sorted(sizes)})")
        out.append(sizes.pop() if sizes else 1)
    return tuple(out)


def as_tensor(value: Operand, like: Optional[Tensor] = None, what: str = "operand") -> Tensor:
    """A Tensor for ``value``; Python and numpy scalars take the dtype of ``like``."""
    if isinstance(value, Tensor):
        return value
    if isinstance(value, (bool, int, float, np.number)) or (
            isinstance(value, np.ndarray) and value.ndim == 0):
        dtype = like.dtype if like is not None else np.float32
        return graph.constant(np.asarray(value, dtype=dtype))
    if isinstance(value, (np.ndarray, list, tuple)):
        return graph.constant(np.asarray(value), like.dtype if like is not None else None)
    raise TypeError(f"{what}: expected a graphc Tensor, a number or an array, "
                    f"got {type(value).__name__}")


def elementwise(name: str, expr: sp.Expr, *operands: Operand) -> Tensor:
    """Apply the scalar function ``expr`` (of a0, a1, ...) to broadcast ``operands``."""
    like = next((o for o in operands if isinstance(o, Tensor)), None)
    tensors = [as_tensor(o, like, name) for o in operands]
    dtypes = {o.dtype for o in operands if isinstance(o, Tensor)}
    if len(dtypes) > 1:
        listed = " and ".join(str(d) for d in sorted(dtypes, key=str))
        raise DTypeError(f"{name}: operands have dtypes {listed}; graphc does not mix "
                         "float32 and float64 in one op, give both the same dtype")
    dtype = dtypes.pop() if dtypes else tensors[0].dtype
    shape = broadcast_shapes(*(t.shape for t in tensors), op=name)
    tensors = [broadcast_to(t, shape) for t in tensors]
    stable = stabilize(expr, tensors)
    if stable is not None:
        expr, tensors = stable
        expr, tensors = _log_of_sum_exp_leaves(expr, list(tensors))
    return ew_node(expr, tensors, shape, dtype)


def _log_of_sum_exp_leaves(expr: sp.Expr, tensors: list) -> tuple[sp.Expr, list]:
    """log(a_k), a_k a view of sum(exp(z)): read a view of logsumexp(z) instead."""
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
            replacement = (permute(replacement, v.arg) if v.op is Op.PERMUTE else
                           broadcast_to(replacement, v.shape) if v.op is Op.BROADCAST else
                           reshape(replacement, v.shape))
        expr = expr.xreplace({term: operand(len(tensors))})
        tensors.append(replacement)
    return expr, tensors


def ew_node(expr: sp.Expr, src: Sequence[Tensor], shape: tuple, dtype: np.dtype) -> Tensor:
    """The canonical elementwise node: uniform constants inlined, operands deduplicated.

    Canonical form makes equal computations hash to the same node: inputs appear once,
    in first-use order, as a0, a1, ...; a pure-constant result folds into a constant.
    """
    replace: dict = {}
    kept: list[Tensor] = []
    for i, t in enumerate(src):
        if t.op is Op.CONST and t.arg.uniform is not None and np.isfinite(t.arg.uniform):
            replace[operand(i)] = _number(t.arg.uniform, dtype)
        elif t in kept:
            replace[operand(i)] = operand(kept.index(t) + len(src))
        else:
            replace[operand(i)] = operand(len(kept) + len(src))
            kept.append(t)
    expr = sp.sympify(expr).xreplace(replace)
    used = sorted(int(s.name[1:]) - len(src) for s in expr.free_symbols)
    expr = renumber(expr, {old + len(src): new for new, old in enumerate(used)})
    kept = [kept[i] for i in used]
    if not kept or all(t.op is Op.CONST for t in kept):
        values = numpy_function(expr, len(kept))(*(t.arg.array for t in kept))
        return graph.constant(np.broadcast_to(np.asarray(values, dtype=dtype), shape))
    if expr == operand(0):
        return kept[0]
    return Tensor(Op.EW, tuple(kept), shape, dtype, expr)


def _number(value: float, dtype: np.dtype) -> sp.Number:
    """``value`` as a sympy number, written as the shortest decimal of its ``dtype``
    (1e-6 stays 1e-6 in float32, not 9.99999997e-07; the kernel rounds it back)."""
    if value % 1 == 0 and builtins.abs(value) < 2 ** 53:
        return sp.Integer(int(value))
    text = str(np.float32(value)) if dtype == np.float32 else repr(float(value))
    return sp.Float(text, 17)


def _unary(name: str):
    def apply(x: Operand) -> Tensor:
        return elementwise(name, UNARY[name], x)
    apply.__name__ = name
    apply.__doc__ = f"Elementwise {name}: {UNARY[name]} of a0."
    return apply


def _binary(name: str):
    def apply(x: Operand, y: Operand) -> Tensor:
        return elementwise(name, BINARY[name], x, y)
    apply.__name__ = name
    apply.__doc__ = f"Elementwise {name}: {BINARY[name]} of a0 and a1 (broadcast)."
    return apply


neg, exp, sqrt, tanh, sigmoid, relu = (_unary(n) for n in
                                       ("neg", "exp", "sqrt", "tanh", "sigmoid", "relu"))


def log(x: Operand) -> Tensor:
    """Elementwise natural logarithm. ``log(sum(exp(z)))`` becomes ``logsumexp(z)``."""
    if isinstance(x, Tensor) and x.op is Op.REDUCE and x.arg[0] == "sum":
        (e,) = x.src
        if e.op is Op.EW and isinstance(e.arg, sp.exp):
            z = ew_node(e.arg.args[0], e.src, e.shape, e.dtype)
            return logsumexp(z, x.arg[1], keepdims=x.ndim == z.ndim)
    return _log(x)


def _log(x: Operand) -> Tensor:
    return elementwise("log", UNARY["log"], x)
abs = _unary("abs")  # noqa: A001  (gc.abs, as SPEC names it)
add, sub, mul, div, pow = (_binary(n) for n in ("add", "sub", "mul", "div", "pow"))  # noqa: A001
maximum, minimum = _binary("maximum"), _binary("minimum")
lt, le, gt, ge = (_binary(n) for n in ("lt", "le", "gt", "ge"))


def where(condition: Operand, x: Operand, y: Operand) -> Tensor:
    """``x`` where ``condition`` is non-zero, else ``y`` (broadcast)."""
    return elementwise("where", Where(a0, a1, a2), condition, x, y)


def clamp(x: Operand, min: Optional[Operand] = None,  # noqa: A002 (torch's names)
          max: Optional[Operand] = None) -> Tensor:  # noqa: A002
    """Limit ``x`` to [min, max]; the gradient is 0 outside and on the bounds."""
    if min is None and max is None:
        raise ValueError("clamp: give min=, max= or both")
    result = x
    if min is not None:
        result = elementwise("clamp", sp.Max(a0, a1), result, min)
    if max is not None:
        result = elementwise("clamp", sp.Min(a0, a1), result, max)
    return result

# }}}


# {{{ views

def _normalize_axis(axis: int, ndim: int, op: str) -> int:
    if not isinstance(axis, (int, np.integer)) or not -ndim <= axis < builtins.max(ndim, 1):
        raise ShapeError(f"{op}: axis {axis!r} is out of range for a {ndim}-d tensor")
    return int(axis) % builtins.max(ndim, 1)


def reshape(x: Tensor, *shape: Any) -> Tensor:
    """Same elements in row-major order, new shape; one dimension may be -1."""
    if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
        shape = tuple(shape[0])
    shape = tuple(int(d) for d in shape)
    if shape.count(-1) > 1:
        raise ShapeError(f"reshape: at most one -1 in the new shape, got {shape}")
    known = int(np.prod([d for d in shape if d != -1], dtype=np.int64))
    if -1 in shape:
        if known == 0 or x.size % known:
            raise ShapeError(f"reshape: cannot reshape {x.shape} into {shape}")
        shape = tuple(x.size // known if d == -1 else d for d in shape)
    if int(np.prod(shape, dtype=np.int64)) != x.size or any(d <= 0 for d in shape):
        raise ShapeError(f"reshape: cannot reshape {x.shape} ({x.size} elements) "
                         f"into {shape}")
    if shape == x.shape:
        return x
    if x.op is Op.RESHAPE:
        return reshape(x.src[0], shape)
    if x.op is Op.CONST:
        return graph.constant(x.arg.array.reshape(shape))
    return Tensor(Op.RESHAPE, (x,), shape, x.dtype)


def permute(x: Tensor, *axes: Any) -> Tensor:
    """Reorder the axes of ``x``: output axis i is input axis ``axes[i]``."""
    if len(axes) == 1 and isinstance(axes[0], (tuple, list)):
        axes = tuple(axes[0])
    perm = tuple(_normalize_axis(a, x.ndim, "permute") for a in axes)
    if sorted(perm) != list(range(x.ndim)):
        raise ShapeError(f"permute: {axes} is not a permutation of the {x.ndim} axes "
                         f"of shape {x.shape}")
    if perm == tuple(range(x.ndim)):
        return x
    if x.op is Op.PERMUTE:
        return permute(x.src[0], tuple(x.arg[p] for p in perm))
    if x.op is Op.CONST:
        return graph.constant(np.transpose(x.arg.array, perm))
    shape = tuple(x.shape[p] for p in perm)
    return Tensor(Op.PERMUTE, (x,), shape, x.dtype, perm)


def transpose(x: Tensor, *axes: Any) -> Tensor:
    """``transpose()`` reverses the axes; ``transpose(d0, d1)`` swaps two, as in torch;
    ``transpose((p0, p1, ...))`` permutes, as in numpy."""
    if not axes:
        return permute(x, tuple(reversed(range(x.ndim))))
    if len(axes) == 1 and isinstance(axes[0], (tuple, list)):
        return permute(x, tuple(axes[0]))
    if len(axes) == 2:
        d0, d1 = (_normalize_axis(a, x.ndim, "transpose") for a in axes)
        perm = list(range(x.ndim))
        perm[d0], perm[d1] = perm[d1], perm[d0]
        return permute(x, tuple(perm))
    raise TypeError("transpose: call it with no axes, two axes to swap, or one tuple")


def t(x: Tensor) -> Tensor:
    """Transpose of a tensor of at most 2 dimensions, as torch's ``Tensor.t``."""
    if x.ndim > 2:
        raise ShapeError(f"t: expects a tensor of at most 2 dimensions, got shape {x.shape}; "
                         "use transpose(d0, d1) or permute")
    return transpose(x)


def broadcast_to(x: Operand, shape: Iterable[int]) -> Tensor:
    """``x`` stretched to ``shape`` by numpy's broadcasting rules (no copy is made)."""
    x = as_tensor(x)
    shape = tuple(int(d) for d in shape)
    if x.shape == shape:
        return x
    if broadcast_shapes(x.shape, shape, op="broadcast_to") != shape:
        raise ShapeError(f"broadcast_to: cannot broadcast shape {x.shape} to {shape}")
    if x.op is Op.CONST:
        if x.arg.uniform is not None:
            return graph.constant(np.full(shape, x.arg.uniform, x.dtype))
        return graph.constant(np.broadcast_to(x.arg.array, shape))
    padded = reshape(x, (1,) * (len(shape) - x.ndim) + x.shape)
    if padded.shape == shape:
        return padded
    if padded.op is Op.BROADCAST:
        padded = padded.src[0]
    return Tensor(Op.BROADCAST, (padded,), shape, x.dtype)


def unbroadcast(g: Tensor, shape: tuple) -> Tensor:
    """Sum ``g`` over the axes that broadcasting added to an operand of ``shape``."""
    if g.shape == shape:
        return g
    lead = g.ndim - len(shape)
    axes = tuple(range(lead)) + tuple(
        lead + i for i, d in enumerate(shape) if d == 1 and g.shape[lead + i] != 1)
    return reshape(sum(g, axes), shape)

# }}}


# {{{ reductions

def _reduce_axes(x: Tensor, axis: Axes, op: str) -> tuple:
    if axis is None or x.ndim == 0:   # torch accepts dim=0 and dim=-1 on a 0-d tensor
        return tuple(range(x.ndim))
    if isinstance(axis, (int, np.integer)):
        axis = (axis,)
    axes = tuple(sorted(_normalize_axis(a, x.ndim, op) for a in axis))
    if len(set(axes)) != len(axes):
        raise ShapeError(f"{op}: repeated axis in {axis}")
    return axes


def _reduction(kind: str, x: Operand, axis: Axes, keepdims: bool, dim: Axes,
               keepdim: Optional[bool], differentiable: bool = True) -> Tensor:
    x = as_tensor(x)
    axis = dim if dim is not None else axis
    keepdims = keepdim if keepdim is not None else keepdims
    axes = _reduce_axes(x, axis, kind)
    kept = tuple(1 if i in axes else d for i, d in enumerate(x.shape))
    out = tuple(d for i, d in enumerate(x.shape) if i not in axes)
    if not axes:
        result = x
    elif x.op is Op.CONST and x.arg.uniform is not None:
        n = int(np.prod([x.shape[a] for a in axes]))
        value = x.arg.uniform * n if kind == "sum" else x.arg.uniform
        result = graph.constant(np.full(out, value, x.dtype))
    elif kind == "sum" and x.op is Op.BROADCAST and all(
            x.src[0].shape[a] == 1 for a in axes):
        # sum over stretched axes of a broadcast is a multiplication
        n = int(np.prod([x.shape[a] for a in axes]))
        inner = x.src[0]
        kept_inner = tuple(d for i, d in enumerate(inner.shape) if i not in axes)
        result = broadcast_to(reshape(mul(inner, n), kept_inner), out)
    else:
        # keepdims is the node's own shape, so consumers of (n, 1) fuse as its epilogue
        return Tensor(Op.REDUCE, (x,), kept if keepdims else out, x.dtype,
                      (kind, axes, differentiable))
    return reshape(result, kept) if keepdims else result


def sum(x: Operand, axis: Axes = None, keepdims: bool = False, *,  # noqa: A001
        dim: Axes = None, keepdim: Optional[bool] = None) -> Tensor:
    """Sum over ``axis`` (an int, a tuple, or None for all), as numpy does."""
    return _reduction("sum", x, axis, keepdims, dim, keepdim)


def max(x: Operand, axis: Axes = None, keepdims: bool = False, *,  # noqa: A001
        dim: Axes = None, keepdim: Optional[bool] = None) -> Tensor:
    """Maximum over ``axis``; the gradient goes to the first maximal element."""
    return _reduction("max", x, axis, keepdims, dim, keepdim)


def min(x: Operand, axis: Axes = None, keepdims: bool = False, *,  # noqa: A001
        dim: Axes = None, keepdim: Optional[bool] = None) -> Tensor:
    """Minimum over ``axis``; the gradient goes to the first minimal element."""
    return neg(max(neg(x), axis, keepdims, dim=dim, keepdim=keepdim))


def mean(x: Operand, axis: Axes = None, keepdims: bool = False, *,
         dim: Axes = None, keepdim: Optional[bool] = None) -> Tensor:
    """Arithmetic mean over ``axis``."""
    x = as_tensor(x)
    total = sum(x, axis, keepdims, dim=dim, keepdim=keepdim)
    return mul(total, total.size / x.size)


def _stable_max(x: Tensor, axis: Axes) -> Tensor:
    # The shift that keeps exp() finite; it cancels mathematically, so no gradient. A row
    # of -inf shifts by 0 instead (-inf - -inf would be nan; the result is -inf, as numpy's).
    m = _reduction("max", x, axis, True, None, None, differentiable=False)
    return ew_node(Where(Greater(a0, sp.S.NegativeInfinity), a0, 0), [m], m.shape, m.dtype)


def softmax(x: Operand, axis: int = -1, *, dim: Optional[int] = None) -> Tensor:
    """exp(x) / sum(exp(x)) over ``axis``, computed with the maximum subtracted."""
    x = as_tensor(x)
    axis = dim if dim is not None else axis
    e = exp(sub(x, _stable_max(x, axis)))
    return div(e, sum(e, axis, keepdims=True))


def log_softmax(x: Operand, axis: int = -1, *, dim: Optional[int] = None) -> Tensor:
    """log(softmax(x)) over ``axis``, without overflow for large logits."""
    x = as_tensor(x)
    axis = dim if dim is not None else axis
    z = sub(x, _stable_max(x, axis))
    return sub(z, _log(sum(exp(z), axis, keepdims=True)))


def logsumexp(x: Operand, axis: Axes = None, keepdims: bool = False, *,
              dim: Axes = None, keepdim: Optional[bool] = None) -> Tensor:
    """log(sum(exp(x))) over ``axis``, with the maximum subtracted first."""
    x = as_tensor(x)
    axis = dim if dim is not None else axis
    keepdims = keepdim if keepdim is not None else keepdims
    m = _stable_max(x, axis)
    s = add(_log(sum(exp(sub(x, m)), axis, keepdims=True)), m)
    return s if keepdims else reshape(s, tuple(
        d for i, d in enumerate(x.shape) if i not in _reduce_axes(x, axis, "logsumexp")))


def allreduce(t: Operand, op: str = "sum") -> Tensor:
    """``t`` combined across all MPI ranks (``"sum"`` or ``"mean"``); in one process, ``t``.

    Its gradient is the allreduce of the cotangent. A compiled function reads the value
    to the host at this point, combines it with ``comm.Allreduce`` (several tensors reduced
    at the same point travel in one message) and continues on the device.
    """
    if op not in ("sum", "mean"):
        raise ValueError(f"allreduce: op must be 'sum' or 'mean', got {op!r}")
    t = as_tensor(t)
    return Tensor(Op.ALLREDUCE, (t,), t.shape, t.dtype, op)


def maxmask(x: Tensor, axes: tuple) -> Tensor:
    """1 at the first maximal element of each group over ``axes``, 0 elsewhere."""
    return Tensor(Op.MAXMASK, (x,), x.shape, x.dtype, axes)

# }}}


# {{{ matmul

def matmul(a: Operand, b: Operand) -> Tensor:
    """numpy's matmul: 2-D, batched with broadcast batch axes, 1-D operands promoted."""
    a = as_tensor(a, b if isinstance(b, Tensor) else None, "matmul")
    b = as_tensor(b, a, "matmul")
    if a.ndim == 0 or b.ndim == 0:
        raise ShapeError(f"matmul: operands must have at least 1 dimension, got shapes "
                         f"{a.shape} and {b.shape}; use * to scale")
    if a.dtype != b.dtype:
        raise DTypeError(f"matmul: operands have dtypes {a.dtype} and {b.dtype}; "
                         "give both the same dtype")
    a2 = reshape(a, (1,) + a.shape) if a.ndim == 1 else a
    b2 = reshape(b, b.shape + (1,)) if b.ndim == 1 else b
    if a2.shape[-1] != b2.shape[-2]:
        raise ShapeError(f"matmul: shapes {a.shape} and {b.shape} do not align "
                         f"({a2.shape[-1]} != {b2.shape[-2]}, the contracted dimension)")
    try:
        batch = broadcast_shapes(a2.shape[:-2], b2.shape[:-2], op="matmul")
    except ShapeError:
        raise ShapeError(f"matmul: shapes {a.shape} and {b.shape} have batch dimensions "
                         f"{a2.shape[:-2]} and {b2.shape[:-2]} that cannot be broadcast "
                         "together") from None
    a2 = broadcast_to(a2, batch + a2.shape[-2:])
    b2 = broadcast_to(b2, batch + b2.shape[-2:])
    out = Tensor(Op.MATMUL, (a2, b2), batch + (a2.shape[-2], b2.shape[-1]), a.dtype)
    final = batch + ((a.shape[-2],) if a.ndim > 1 else ()) + ((b.shape[-1],) if b.ndim > 1
                                                                  else ())
    return reshape(out, final)



def mm(a: Tensor, b: Operand) -> Tensor:
    """Matrix product of two 2-D tensors, as torch's ``mm``."""
    b = as_tensor(b, a, "mm")
    if a.ndim != 2 or b.ndim != 2:
        raise ShapeError(f"mm: expects two 2-D tensors, got shapes {a.shape} and {b.shape}; "
                         "use matmul for other ranks")
    return matmul(a, b)


def swap_last(x: Tensor) -> Tensor:
    """``x`` with its last two axes swapped (a view)."""
    perm = list(range(x.ndim))
    perm[-1], perm[-2] = perm[-2], perm[-1]
    return permute(x, tuple(perm))

# }}}


def install_methods(cls: type) -> None:
    """Give ``Tensor`` its operators and torch-style methods."""
    def flip(fn):
        return lambda self, other: fn(other, self)

    table = {
        "__add__": add, "__radd__": flip(add), "__sub__": sub, "__rsub__": flip(sub),
        "__mul__": mul, "__rmul__": flip(mul), "__truediv__": div,
        "__rtruediv__": flip(div), "__pow__": pow, "__rpow__": flip(pow),
        "__matmul__": matmul, "__rmatmul__": flip(matmul), "__neg__": neg,
        "__pos__": lambda self: self, "__abs__": abs,
        "__lt__": lt, "__le__": le, "__gt__": gt, "__ge__": ge,
        "mm": mm, "matmul": matmul, "clamp": clamp, "pow": pow, "exp": exp, "log": log,
        "sqrt": sqrt, "tanh": tanh, "sigmoid": sigmoid, "relu": relu, "abs": abs,
        "sum": sum, "mean": mean, "max": max, "min": min, "reshape": reshape,
        "view": reshape, "transpose": transpose, "permute": permute, "t": t,
        "broadcast_to": broadcast_to, "softmax": softmax, "log_softmax": log_softmax,
        "logsumexp": logsumexp,
    }
    for name, fn in table.items():
        setattr(cls, name, fn)
    cls.T = property(lambda self: transpose(self))


install_methods(Tensor)

__all__ = [name for name in ("neg exp log sqrt tanh sigmoid relu abs add sub mul div pow "
                             "maximum minimum where clamp reshape permute transpose t "
                             "broadcast_to sum mean max min softmax log_softmax logsumexp "
                             "matmul mm").split()]
