"""graphc: array programs as symbolic graphs, differentiated, fused and run as OpenCL."""
from __future__ import annotations

from . import distributed  # noqa: F401  (first: per-rank setup before pyopencl loads PoCL)
from .autodiff import grad
from .compiler import Function, compile
from .errors import (BuildError, CodegenError, DeviceError, DTypeError, GradientError,
                     GraphcError, ShapeError)
from .evaluate import evaluate
from .gradcheck import check_grad
from .graph import Tensor, constant, parameter, placeholder
from .inspect import render, to_dot
from .ops import (abs, allreduce, broadcast_to, clamp, exp, log, log_softmax, logsumexp,
                  matmul, max, maximum, mean, min, minimum, mm, permute, relu, reshape,
                  sigmoid, softmax, sqrt, sum, tanh, transpose, where)
from .runtime import devices

__version__ = "0.1.0"

__all__ = [
    "BuildError", "CodegenError", "DTypeError", "DeviceError", "Function", "GradientError",
    "GraphcError", "ShapeError", "Tensor", "abs", "allreduce", "broadcast_to", "check_grad",
    "clamp", "compile", "constant", "devices", "evaluate", "exp", "grad", "log",
    "log_softmax", "logsumexp", "matmul", "max", "maximum", "mean", "min", "minimum", "mm",
    "parameter", "permute", "placeholder", "relu", "render", "reshape", "sigmoid", "softmax",
    "sqrt", "sum", "tanh", "to_dot", "transpose", "where",
]
