"""graphc.nn: small modules over graphc's functions that hold their parameters, with
torch.nn's names, arguments and default initialisations (``graphc.nn.init``).

A module builds graph, it runs nothing: ``model(x)`` returns the tensor of the forward
pass, ``model.parameters()`` the parameters to differentiate and update::

    model = nn.Sequential(nn.Linear(1000, 100), nn.ReLU(), nn.Linear(100, 10))
    loss = gc.mse_loss(model(x), y)
    step = gc.compile([x, y], loss, updates=optim.SGD(model.parameters(), lr=0.1).updates(loss))

``Dropout`` draws its mask on the device (``gc.dropout``), in training mode only.
``BatchNorm2d`` normalises by the batch's statistics while training; their running
averages are buffers, which the graph cannot change as it runs: ``buffer_updates()``
gives their new values, for the ``updates`` of the training step::

    step = gc.compile([x, y], loss, updates={**opt.updates(loss), **model.buffer_updates()})
"""
from __future__ import annotations

import math
from typing import Optional, Sequence, Union

import numpy as np

from .. import graph, ops
from ..errors import ShapeError
from ..graph import Tensor
from . import init
from .conv import (AdaptiveAvgPool2d, AvgPool2d, Conv1d, Conv2d, ConvTranspose2d, Flatten,
                   MaxPool2d)
from .module import Module, unique_name
from .norm import BatchNorm1d, BatchNorm2d, batch_norm

__all__ = ["Module", "Linear", "Embedding", "LayerNorm", "Sequential", "ReLU", "Tanh",
           "Sigmoid", "GELU", "Identity", "Dropout", "init", "layer_norm", "Conv1d",
           "Conv2d", "ConvTranspose2d", "MaxPool2d", "AvgPool2d", "AdaptiveAvgPool2d",
           "Flatten", "BatchNorm1d", "BatchNorm2d", "batch_norm"]


class Linear(Module):
    """y = x W^T + b, W of shape (out_features, in_features), as torch.nn.Linear; W and b
    drawn from U(-1/sqrt(in_features), 1/sqrt(in_features)) (torch's default)."""

    def __init__(self, in_features: int, out_features: int, bias: bool = True,
                 dtype: str = "float32", *, name: Optional[str] = None):
        name = unique_name(name, "linear")
        self.in_features, self.out_features = int(in_features), int(out_features)
        bound = 1.0 / math.sqrt(self.in_features) if self.in_features else 0.0
        self.weight = graph.parameter(np.zeros((out_features, in_features), dtype),
                                      name=f"{name}.weight")
        init.kaiming_uniform_(self.weight, a=math.sqrt(5))       # torch's reset_parameters
        self.bias = (init.uniform_(graph.parameter(np.zeros(out_features, dtype),
                                                   name=f"{name}.bias"), -bound, bound)
                     if bias else None)

    def forward(self, x: Tensor) -> Tensor:
        if x.shape[-1] != self.in_features:
            raise ShapeError(f"Linear: input of shape {x.shape} has {x.shape[-1]} features, "
                             f"the layer takes {self.in_features}")
        y = ops.matmul(x, self.weight.T)
        return y if self.bias is None else y + self.bias


class Embedding(Module):
    """Rows of a (num_embeddings, embedding_dim) table looked up by integer indices, as
    torch.nn.Embedding: drawn from N(0, 1), the ``padding_idx`` row zero and without
    gradient."""

    def __init__(self, num_embeddings: int, embedding_dim: int,
                 padding_idx: Optional[int] = None, dtype: str = "float32", *,
                 name: Optional[str] = None):
        name = unique_name(name, "embedding")
        self.padding_idx = padding_idx
        self.weight = graph.parameter(np.zeros((num_embeddings, embedding_dim), dtype),
                                      name=f"{name}.weight")
        init.normal_(self.weight)
        if padding_idx is not None:
            value = self.weight.value
            value[padding_idx] = 0
            self.weight.set_value(value)

    def forward(self, index: Tensor) -> Tensor:
        return ops.embedding(index, self.weight, padding_idx=self.padding_idx)


def layer_norm(x: Tensor, normalized_shape: Union[int, Sequence[int]],
               weight: Optional[Tensor] = None, bias: Optional[Tensor] = None,
               eps: float = 1e-5) -> Tensor:
    """torch.nn.functional.layer_norm: x normalised over its last ``normalized_shape``
    axes (the biased variance, as torch), then scaled by ``weight`` and shifted by
    ``bias``."""
    shape = (normalized_shape,) if isinstance(normalized_shape, int) else tuple(
        normalized_shape)
    if tuple(x.shape[x.ndim - len(shape):]) != shape:
        raise ShapeError(f"layer_norm: input of shape {x.shape} does not end in the "
                         f"normalized shape {shape}")
    axes = tuple(range(x.ndim - len(shape), x.ndim))
    centred = x - ops.mean(x, axes, keepdims=True)
    variance = ops.mean(centred * centred, axes, keepdims=True)
    y = centred * ops.rsqrt(variance + eps)
    if weight is not None:
        y = y * weight
    return y if bias is None else y + bias


class LayerNorm(Module):
    """torch.nn.LayerNorm: weight ones and bias zeros of ``normalized_shape``."""

    def __init__(self, normalized_shape: Union[int, Sequence[int]], eps: float = 1e-5,
                 elementwise_affine: bool = True, bias: bool = True,
                 dtype: str = "float32", *, name: Optional[str] = None):
        name = unique_name(name, "layer_norm")
        self.normalized_shape = ((normalized_shape,) if isinstance(normalized_shape, int)
                                 else tuple(normalized_shape))
        self.eps = eps
        self.weight = self.bias = None
        if elementwise_affine:
            self.weight = graph.parameter(np.ones(self.normalized_shape, dtype),
                                          name=f"{name}.weight")
            if bias:
                self.bias = graph.parameter(np.zeros(self.normalized_shape, dtype),
                                            name=f"{name}.bias")

    def forward(self, x: Tensor) -> Tensor:
        return layer_norm(x, self.normalized_shape, self.weight, self.bias, self.eps)


class Sequential(Module):
    """Modules applied in order; ``model[k]`` is the k-th."""

    def __init__(self, *modules: Module):
        self.layers = list(modules)
        for k, m in enumerate(modules):
            if not isinstance(m, Module):
                raise TypeError(f"Sequential: argument {k} is a {type(m).__name__}, not a "
                                "graphc.nn module")
            setattr(self, str(k), m)

    def __getitem__(self, k: int) -> Module:
        return self.layers[k]

    def __len__(self) -> int:
        return len(self.layers)

    def forward(self, x: Tensor) -> Tensor:
        for m in self.layers:
            x = m(x)
        return x


class _Function(Module):
    fn = staticmethod(lambda x: x)

    def forward(self, x: Tensor) -> Tensor:
        return type(self).fn(x)


class ReLU(_Function):
    fn = staticmethod(ops.relu)


class Tanh(_Function):
    fn = staticmethod(ops.tanh)


class Sigmoid(_Function):
    fn = staticmethod(ops.sigmoid)


class Identity(_Function):
    pass


class GELU(Module):
    def __init__(self, approximate: str = "none"):
        self.approximate = approximate

    def forward(self, x: Tensor) -> Tensor:
        return ops.gelu(x, approximate=self.approximate)


class Dropout(Module):
    """``gc.dropout(x, p)`` while training (``model.train()``), ``x`` itself after
    ``model.eval()``: the mode when the graph is built is the one it computes."""

    def __init__(self, p: float = 0.5):
        if isinstance(p, bool) or not isinstance(p, (int, float)) or not 0 <= p <= 1:
            raise ValueError(f"Dropout: p must be a number in [0, 1], got {p!r}")
        self.p = float(p)

    def forward(self, x: Tensor) -> Tensor:
        return ops.dropout(x, self.p, training=self.training)
