"""graphc: array programs as symbolic graphs, differentiated, fused and run as OpenCL."""
from __future__ import annotations

from . import distributed  # noqa: I001  (first: per-rank setup before pyopencl loads PoCL)
from .autodiff import grad
from .errors import (BuildError, CodegenError, DeviceError, DTypeError, GradientError,
                     GraphcError, ShapeError)
from .compiler import Function, compile
from .evaluate import evaluate
from .gradcheck import check_grad
from .graph import Tensor, constant, parameter, placeholder
from .inspect import render, to_dot
from .runtime import devices
from .ops import (abs, allreduce, broadcast_to, clamp, exp, log, log_softmax, logsumexp, matmul, max,
                  maximum, mean, min, minimum, mm, permute, relu, reshape, sigmoid, softmax,
                  sqrt, sum, tanh, transpose, where)

__version__ = "0.1.0"
