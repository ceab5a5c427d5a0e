"""Tensor's operators and torch-style methods, each one of the functions of graphc.ops."""
from __future__ import annotations

from typing import Any

from ..graph import Tensor
from . import contract, elementwise as ew, reduce, views


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
}


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
