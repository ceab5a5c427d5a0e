"""Convolution and pooling modules, torch.nn's names, arguments and initialisation:
Conv1d, Conv2d, ConvTranspose2d, MaxPool2d, AvgPool2d, AdaptiveAvgPool2d, Flatten."""
from __future__ import annotations

import math
from typing import Any, Optional

import numpy as np

from .. import graph, ops
from ..graph import Tensor
from . import init
from .module import Module, unique_name


class _ConvNd(Module):
    """The weight (C_out, C_in / groups, *kernel) (transposed: (C_in, C_out / groups,
    *kernel)) and bias, drawn as torch's ``reset_parameters`` draws them."""

    nd = 2
    transposed = False

    def __init__(self, in_channels: int, out_channels: int, kernel_size: Any,
                 stride: Any = 1, padding: Any = 0, dilation: Any = 1, groups: int = 1,
                 bias: bool = True, padding_mode: str = "zeros", dtype: str = "float32",
                 *, name: Optional[str] = None, output_padding: Any = 0):
        kind = type(self).__name__
        if padding_mode != "zeros":
            raise NotImplementedError(f"{kind}: padding_mode {padding_mode!r} is not "
                                      "built; pad with gc.pad(x, ..., mode=...) first")
        if in_channels % groups or out_channels % groups:
            raise ValueError(f"{kind}: in_channels {in_channels} and out_channels "
                             f"{out_channels} must be multiples of groups {groups}")
        name = unique_name(name, kind.lower())
        kernel = (kernel_size,) * self.nd if isinstance(kernel_size, int) else tuple(
            kernel_size)
        self.in_channels, self.out_channels, self.kernel_size = (
            int(in_channels), int(out_channels), kernel)
        self.stride, self.padding, self.dilation, self.groups = (
            stride, padding, dilation, groups)
        self.output_padding = output_padding
        shape = ((in_channels, out_channels // groups) if self.transposed else
                 (out_channels, in_channels // groups)) + kernel
        self.weight = graph.parameter(np.zeros(shape, dtype), name=f"{name}.weight")
        init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        self.bias = None
        if bias:
            fan_in = shape[1] * math.prod(kernel)
            bound = 1.0 / math.sqrt(fan_in) if fan_in else 0.0
            self.bias = init.uniform_(graph.parameter(np.zeros(out_channels, dtype),
                                                      name=f"{name}.bias"), -bound, bound)


class Conv1d(_ConvNd):
    """torch.nn.Conv1d over (N, C_in, L)."""

    nd = 1

    def forward(self, x: Tensor) -> Tensor:
        return ops.conv1d(x, self.weight, self.bias, self.stride, self.padding,
                          self.dilation, self.groups)


class Conv2d(_ConvNd):
    """torch.nn.Conv2d over (N, C_in, H, W): ``gc.conv2d`` with the layer's weight."""

    def forward(self, x: Tensor) -> Tensor:
        return ops.conv2d(x, self.weight, self.bias, self.stride, self.padding,
                          self.dilation, self.groups)


class ConvTranspose2d(_ConvNd):
    """torch.nn.ConvTranspose2d: weight (C_in, C_out / groups, kH, kW)."""

    transposed = True

    def __init__(self, in_channels: int, out_channels: int, kernel_size: Any,
                 stride: Any = 1, padding: Any = 0, output_padding: Any = 0,
                 groups: int = 1, bias: bool = True, dilation: Any = 1,
                 padding_mode: str = "zeros", dtype: str = "float32", *,
                 name: Optional[str] = None):
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, dilation,
                         groups, bias, padding_mode, dtype, name=name,
                         output_padding=output_padding)

    def forward(self, x: Tensor) -> Tensor:
        return ops.conv_transpose2d(x, self.weight, self.bias, self.stride, self.padding,
                                    self.output_padding, self.groups, self.dilation)


class MaxPool2d(Module):
    """torch.nn.MaxPool2d."""

    def __init__(self, kernel_size: Any, stride: Any = None, padding: Any = 0,
                 dilation: Any = 1, return_indices: bool = False, ceil_mode: bool = False):
        self.args = (kernel_size, stride, padding, dilation, ceil_mode, return_indices)

    def forward(self, x: Tensor) -> Any:
        return ops.max_pool2d(x, *self.args)


class AvgPool2d(Module):
    """torch.nn.AvgPool2d."""

    def __init__(self, kernel_size: Any, stride: Any = None, padding: Any = 0,
                 ceil_mode: bool = False, count_include_pad: bool = True,
                 divisor_override: Optional[int] = None):
        self.args = (kernel_size, stride, padding, ceil_mode, count_include_pad,
                     divisor_override)

    def forward(self, x: Tensor) -> Tensor:
        return ops.avg_pool2d(x, *self.args)


class AdaptiveAvgPool2d(Module):
    """torch.nn.AdaptiveAvgPool2d."""

    def __init__(self, output_size: Any):
        self.output_size = output_size

    def forward(self, x: Tensor) -> Tensor:
        return ops.adaptive_avg_pool2d(x, self.output_size)


class Flatten(Module):
    """torch.nn.Flatten: axes ``start_dim`` to ``end_dim`` as one (from 1: the batch
    stays)."""

    def __init__(self, start_dim: int = 1, end_dim: int = -1):
        self.start_dim, self.end_dim = start_dim, end_dim

    def forward(self, x: Tensor) -> Tensor:
        return ops.flatten(x, self.start_dim, self.end_dim)
