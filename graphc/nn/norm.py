"""Batch normalisation: ``batch_norm`` (torch.nn.functional's, without the in-place
update of the running statistics, which a static graph cannot do) and the modules
BatchNorm1d and BatchNorm2d, whose running statistics are buffers updated through
``Module.buffer_updates``."""
from __future__ import annotations

from typing import Optional

import numpy as np

from .. import graph, ops
from ..errors import ShapeError
from ..graph import Tensor
from .module import Module, unique_name


def _stats_axes(x: Tensor, op: str) -> tuple:
    if x.ndim < 2:
        raise ShapeError(f"{op}: input of shape {x.shape} has no channel axis; it needs "
                         "(N, C) or (N, C, ...)")
    return (0,) + tuple(range(2, x.ndim))


def _per_channel(t: Tensor, x: Tensor) -> Tensor:
    return ops.reshape(t, (1, x.shape[1]) + (1,) * (x.ndim - 2))


def batch_norm(input: Tensor, running_mean: Optional[Tensor],  # noqa: A002 (torch's name)
               running_var: Optional[Tensor], weight: Optional[Tensor] = None,
               bias: Optional[Tensor] = None, training: bool = False,
               momentum: float = 0.1, eps: float = 1e-5) -> Tensor:
    """torch.nn.functional.batch_norm over (N, C, ...): normalised per channel by the
    batch's mean and biased variance (``training``) or by the running statistics. It
    returns the output only: ``running_statistics`` gives the running statistics'
    new values."""
    x = input
    axes = _stats_axes(x, "batch_norm")
    if training:
        mean = ops.mean(x, axes, keepdims=True)
        centred = x - mean
        var = ops.mean(centred * centred, axes, keepdims=True)
    else:
        if running_mean is None or running_var is None:
            raise ValueError("batch_norm: evaluation (training=False) needs running_mean "
                             "and running_var")
        centred = x - _per_channel(running_mean, x)
        var = _per_channel(running_var, x)
    y = centred * ops.rsqrt(var + eps)
    if weight is not None:
        y = y * _per_channel(weight, x)
    return y if bias is None else y + _per_channel(bias, x)


def running_statistics(x: Tensor, running_mean: Tensor, running_var: Tensor,
                       momentum: float) -> tuple:
    """(mean, var) after one training step, as torch updates them: ``(1 - momentum) *
    running + momentum * batch``, the batch's variance unbiased."""
    axes = _stats_axes(x, "batch_norm")
    mean = ops.mean(x, axes)
    unbiased = ops.var(x, axes, correction=1)
    return ((1 - momentum) * running_mean + momentum * ops.stop_gradient(mean),
            (1 - momentum) * running_var + momentum * ops.stop_gradient(unbiased))


class _BatchNorm(Module):
    dims = (4,)

    def __init__(self, num_features: int, eps: float = 1e-5, momentum: float = 0.1,
                 affine: bool = True, track_running_stats: bool = True,
                 dtype: str = "float32", *, name: Optional[str] = None):
        kind = type(self).__name__
        if momentum is None:
            raise NotImplementedError(f"{kind}: momentum=None (a cumulative average) is "
                                      "not built; give a number")
        name = unique_name(name, kind.lower())
        self.num_features, self.eps, self.momentum = int(num_features), eps, momentum
        self.weight = self.bias = None
        if affine:
            self.weight = graph.parameter(np.ones(num_features, dtype),
                                          name=f"{name}.weight")
            self.bias = graph.parameter(np.zeros(num_features, dtype), name=f"{name}.bias")
        self.track_running_stats = track_running_stats
        if track_running_stats:
            self.register_buffer("running_mean", graph.parameter(
                np.zeros(num_features, dtype), name=f"{name}.running_mean"))
            self.register_buffer("running_var", graph.parameter(
                np.ones(num_features, dtype), name=f"{name}.running_var"))
        self._pending = {}

    def forward(self, x: Tensor) -> Tensor:
        kind = type(self).__name__
        if x.ndim not in self.dims or x.shape[1] != self.num_features:
            ranks = " or ".join(map(str, self.dims))
            raise ShapeError(f"{kind}: input of shape {x.shape} is not (N, "
                             f"{self.num_features}, ...) with {ranks} dimensions")
        batch_stats = self.training or not self.track_running_stats
        if self.training and self.track_running_stats:
            mean, var = running_statistics(x, self.running_mean, self.running_var,
                                           self.momentum)
            self._pending = {self.running_mean: mean, self.running_var: var}
        else:
            self._pending = {}
        running = (None, None) if batch_stats else (self.running_mean, self.running_var)
        return batch_norm(x, *running, self.weight, self.bias, batch_stats, self.momentum,
                          self.eps)


class BatchNorm1d(_BatchNorm):
    """torch.nn.BatchNorm1d over (N, C) or (N, C, L)."""

    dims = (2, 3)


class BatchNorm2d(_BatchNorm):
    """torch.nn.BatchNorm2d over (N, C, H, W): per-channel statistics of the batch while
    training (and the running statistics' updates, ``buffer_updates()``), the running
    statistics after ``eval()``."""

    dims = (4,)
