"""Every operation users call: functions building graph nodes, one module per family.

``registry`` holds one ``OpDef`` per op (category, VJP, numpy reference, label,
rebuild, view rule); ``elementwise``, ``views``, ``reduce`` and ``contract`` declare
their ops next to the functions that build them; ``methods`` gives ``Tensor`` its
operators. Passes ask ``registry.opdef(node)`` and dispatch on its category.
"""
from __future__ import annotations

from ..graph import Op, Tensor
from . import contract, elementwise, methods, reduce, registry, views  # noqa: F401
from .contract import matmul, mm, swap_last
from .elementwise import (BINARY, COMPARISONS, FAMILY, PREDICATES, UNARY, abs, add, apply,
                          arccos, arccosh, arcsin, arcsinh, arctan, arctan2, arctanh,
                          as_tensor, astype, broadcast_shapes, ceil, clamp, cos, cosh, div,
                          elu, eq, erf, erfc, ew_node, exp, exp2, expm1, floor, floor_divide,
                          ge, gelu, gt, hardtanh, isfinite, isinf, isnan, le, leaky_relu,
                          log1p, log2, log10, log_raw, logical_and, logical_not, logical_or,
                          logical_xor, logsigmoid, lt, masked_fill, maximum, minimum, mish,
                          mul, nan_to_num, ne, neg, pow, reciprocal, relu, remainder, round,
                          rsqrt, selu, sigmoid, sign, silu, sin, sinh, softplus, sqrt,
                          square, sub, tan, tanh, trunc, where)
from .reduce import (allreduce, log, log_softmax, logsumexp, max, maxmask, mean, min,
                     reduce_axes, softmax, sum)
from .registry import Category, OpDef, category, define, opdef
from .views import (broadcast_to, concatenate_by_padding, flatten, flip, getitem,
                    normalize_axis, pad, pad_constant, permute, reshape, shrink, squeeze,
                    stop_gradient, t, transpose, unbroadcast, unsqueeze)

registry.define(Op.PLACEHOLDER, Category.LEAF)
registry.define(Op.PARAMETER, Category.LEAF, impl=lambda node: node.arg.read())
registry.define(Op.CONST, Category.LEAF, impl=lambda node: node.arg.array)

methods.install(Tensor)

ELEMENTWISE = ("neg exp log sqrt tanh sigmoid relu abs add sub mul div pow maximum minimum "
               "where clamp exp2 expm1 log2 log10 log1p rsqrt square reciprocal sin cos tan "
               "arcsin arccos arctan arctan2 sinh cosh arcsinh arccosh arctanh erf erfc "
               "logsigmoid softplus leaky_relu elu selu gelu silu mish hardtanh sign floor "
               "ceil round trunc isnan isinf isfinite nan_to_num masked_fill astype "
               "floor_divide remainder logical_and logical_or logical_xor logical_not "
               "eq ne lt le gt ge").split()
__all__ = ELEMENTWISE + (
    "reshape permute transpose t broadcast_to sum mean max min softmax log_softmax "
    "logsumexp matmul mm flip pad shrink stop_gradient unsqueeze squeeze flatten").split()
