"""graphc: array programs as symbolic graphs, differentiated, fused and run as OpenCL."""
from __future__ import annotations

from . import distributed  # noqa: F401  (first: per-rank setup before pyopencl loads PoCL)
from .autodiff import grad
from .checkpoint import load, save
from .compiler import Function, compile
from .errors import (BuildError, CodegenError, DeviceError, DTypeError, GradientError,
                     GraphcError, ShapeError)
from .evaluate import evaluate
from .gradcheck import check_grad
from .graph import Tensor, constant, parameter, placeholder
from .inspect import render, to_dot
from .lower import Program, lower
from . import ops as _ops
from .ops import (all, allreduce, amax, amin, any, broadcast_to, flatten, flip, log_softmax,
                  logsumexp, matmul, max, mean, min, mm, norm, pad, permute, prod, reshape,
                  softmax, squeeze, std, stop_gradient, sum, transpose, unsqueeze, var)
from .ops.elementwise import elementwise
from .ops.joins import (cat, chunk, concatenate, expand, movedim, moveaxis, repeat,
                        repeat_interleave, roll, split, stack, tile, unflatten)
from .ops.gathers import (embedding, gather, index_add, index_select, one_hot, scatter_add,
                          take, take_along_axis, take_along_dim)
from .ops.reduce import log
from .ops.scans import argmax, argmin, cumprod, cumsum
from . import optim  # gc.optim.Adam, gc.optim.clip_grad_norm, ...
from . import nn  # gc.nn.Linear, gc.nn.Sequential, gc.nn.init, ...

# every elementwise op of the table, as gc.<name> (gc.sin, gc.gelu, gc.isnan, ...), and the
# losses (gc.cross_entropy, gc.mse_loss, ...), bitwise operations and creation functions
globals().update({name: getattr(_ops, name) for name in _ops.ELEMENTWISE})
globals().update({name: getattr(_ops, name) for name in _ops.FAMILIES})


def devices() -> list:
    """Every OpenCL device on every platform (``graphc.runtime.devices``)."""
    from .runtime import devices as listed   # pyopencl loads here, not at import graphc
    return listed()


__version__ = "0.1.0"

__all__ = list(_ops.ELEMENTWISE) + list(_ops.FAMILIES) + [
    "BuildError", "CodegenError", "DTypeError", "DeviceError", "Function", "GradientError",
    "GraphcError", "Program", "ShapeError", "Tensor", "abs", "allreduce", "broadcast_to",
    "check_grad",
    "clamp", "compile", "constant", "devices", "elementwise", "evaluate", "exp", "flatten",
    "flip", "grad", "log", "lower", "log_softmax", "logsumexp", "matmul", "max", "maximum",
    "mean",
    "min", "minimum", "mm", "pad", "parameter", "permute", "placeholder", "relu", "render",
    "reshape", "sigmoid", "softmax", "sqrt", "squeeze", "stop_gradient", "sum", "tanh",
    "to_dot", "transpose", "unsqueeze", "where",
    "cat", "chunk", "concatenate", "expand", "movedim", "moveaxis", "repeat",
    "repeat_interleave", "roll", "split", "stack", "tile", "unflatten",
    "all", "amax", "amin", "any", "norm", "prod", "std", "var",
    "argmax", "argmin", "cumprod", "cumsum",
    "embedding", "gather", "index_add", "index_select", "one_hot", "scatter_add", "take",
    "take_along_axis", "take_along_dim",
    "load", "nn", "optim", "save",
]
