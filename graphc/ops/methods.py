"""Tensor's operators and torch-style methods, each one of the functions of graphc.ops."""
from __future__ import annotations

from typing import Any

from ..graph import Tensor
from . import contract, elementwise as ew, joins, reduce, scans, views


def _reflected(fn):
    return lambda self, other: fn(other, self)


METHODS = {
    "__add__": ew.add, "__radd__": _reflected(ew.add), "__sub__": ew.sub,
    "__rsub__": _reflected(ew.sub), "__mul__": ew.mul, "__rmul__": _reflected(ew.mul),
    "__truediv__": ew.div, "__rtruediv__": _reflected(ew.div), "__pow__": ew.pow,
    "__rpow__": _reflected(ew.pow), "__matmul__": contract.matmul,
    "__rmatmul__": _reflected(contract.matmul), "__neg__": ew.neg,
    "__pos__": lambda self: self, "__abs__": ew.abs,
    "__lt__": ew.lt, "__le__": ew.le, "__gt__": ew.gt, "__ge__": ew.ge,
    "__eq__": ew.eq, "__ne__": ew.ne,
    "__floordiv__": ew.floor_divide, "__rfloordiv__": _reflected(ew.floor_divide),
    "__mod__": ew.remainder, "__rmod__": _reflected(ew.remainder),
    "__and__": ew.logical_and, "__rand__": _reflected(ew.logical_and),
    "__or__": ew.logical_or, "__ror__": _reflected(ew.logical_or),
    "__xor__": ew.logical_xor, "__rxor__": _reflected(ew.logical_xor),
    "__invert__": ew.logical_not,
    "astype": ew.astype, "float": lambda self: ew.astype(self, "float32"),
    "double": lambda self: ew.astype(self, "float64"),
    "bool": lambda self: ew.astype(self, "bool"),
    "int": lambda self: ew.astype(self, "int32"), "long": lambda self: ew.astype(self, "int64"),
    "where": lambda self, condition, other: ew.where(condition, self, other),
    "masked_fill": ew.masked_fill, "nan_to_num": ew.nan_to_num,
    "__getitem__": views.getitem,
    "mm": contract.mm, "matmul": contract.matmul, "clamp": ew.clamp, "pow": ew.pow,
    "exp": ew.exp, "log": reduce.log, "sqrt": ew.sqrt, "tanh": ew.tanh,
    "sigmoid": ew.sigmoid, "relu": ew.relu, "abs": ew.abs,
    "sum": reduce.sum, "mean": reduce.mean, "max": reduce.max, "min": reduce.min,
    "reshape": views.reshape, "view": views.reshape, "transpose": views.transpose,
    "permute": views.permute, "t": views.t, "broadcast_to": views.broadcast_to,
    "expand_as": lambda self, other: views.broadcast_to(self, other.shape),
    "flip": views.flip, "unsqueeze": views.unsqueeze, "squeeze": views.squeeze,
    "flatten": views.flatten, "detach": views.stop_gradient,
    "softmax": reduce.softmax, "log_softmax": reduce.log_softmax,
    "logsumexp": reduce.logsumexp,
    "split": joins.split, "chunk": joins.chunk, "tile": joins.tile, "repeat": joins.repeat,
    "repeat_interleave": joins.repeat_interleave, "roll": joins.roll,
    "expand": joins.expand, "movedim": joins.movedim, "moveaxis": joins.moveaxis,
    "unflatten": joins.unflatten,
    "amax": reduce.amax, "amin": reduce.amin,
    "prod": reduce.prod, "var": reduce.var, "std": reduce.std, "norm": reduce.norm,
    "all": reduce.all, "any": reduce.any,
    "argmax": scans.argmax, "argmin": scans.argmin, "cumsum": scans.cumsum,
    "cumprod": scans.cumprod,
}


# torch's methods of one argument, named as torch names them (numpy's arc- names too)
_UNARY_METHODS = {name: getattr(ew, name) for name in [*ew.FAMILY, *ew.PREDICATES, "neg"]}
_UNARY_METHODS.update(asin=ew.arcsin, acos=ew.arccos, atan=ew.arctan, asinh=ew.arcsinh,
                      acosh=ew.arccosh, atanh=ew.arctanh, negative=ew.neg)
METHODS.update(_UNARY_METHODS)
METHODS.update(atan2=ew.arctan2, arctan2=ew.arctan2, maximum=ew.maximum, minimum=ew.minimum,
               logical_and=ew.logical_and, logical_or=ew.logical_or,
               logical_xor=ew.logical_xor, logical_not=ew.logical_not)


def install(cls: type) -> None:
    """Give ``cls`` (``Tensor``) its operators and methods."""
    for name, fn in METHODS.items():
        setattr(cls, name, fn)
    cls.T = property(lambda self: views.transpose(self))


def extend(**methods: Any) -> None:
    """Add methods (an op module's own) to the table and to Tensor."""
    METHODS.update(methods)
    for name, fn in methods.items():
        setattr(Tensor, name, fn)
