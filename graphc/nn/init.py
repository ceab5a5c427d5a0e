"""torch.nn.init for graphc parameters: each function draws new values for a parameter
(``set_value``) from the distribution torch's function of the same name draws from.

Draws come from ``generator`` (a ``numpy.random.Generator``), else from this module's own,
which ``seed(s)`` resets: the same seed gives the same values. The values are numpy's
draws, not torch's: the distributions match, the numbers do not.
"""
from __future__ import annotations

import math
from typing import Optional

import numpy as np

from ..errors import ShapeError
from ..graph import Op, Tensor

# made at the first draw: numpy.random takes ~9 ms to import, and ``import graphc`` needs
# none of it
_rng: Optional[np.random.Generator] = None


def seed(value: int) -> None:
    """Reset the module's generator: the initialisations after it are reproducible."""
    global _rng
    _rng = np.random.default_rng(value)


def _parameter(tensor: Tensor, op: str) -> Tensor:
    if not isinstance(tensor, Tensor) or tensor.op is not Op.PARAMETER:
        raise TypeError(f"{op}: expects a graphc parameter (gc.parameter), got "
                        f"{getattr(tensor, 'op', type(tensor).__name__)}")
    return tensor


def _set(tensor: Tensor, values: np.ndarray) -> Tensor:
    tensor.set_value(np.asarray(values).astype(tensor.dtype))
    return tensor


def _generator(generator: Optional[np.random.Generator]) -> np.random.Generator:
    global _rng
    if generator is not None:
        return generator
    if _rng is None:
        _rng = np.random.default_rng(0)
    return _rng


def calculate_gain(nonlinearity: str, param: Optional[float] = None) -> float:
    """torch's recommended gain for ``nonlinearity``."""
    if nonlinearity in ("linear", "conv1d", "conv2d", "conv3d", "sigmoid", "identity"):
        return 1.0
    if nonlinearity == "tanh":
        return 5.0 / 3
    if nonlinearity == "relu":
        return math.sqrt(2.0)
    if nonlinearity == "leaky_relu":
        slope = 0.01 if param is None else float(param)
        return math.sqrt(2.0 / (1 + slope ** 2))
    if nonlinearity == "selu":
        return 3.0 / 4
    raise ValueError(f"calculate_gain: unsupported nonlinearity {nonlinearity!r}")


def _fans(tensor: Tensor, op: str) -> tuple[int, int]:
    """torch's fan_in and fan_out: (out, in, *kernel) weights, as nn.Linear and Conv lay
    them out."""
    if tensor.ndim < 2:
        raise ShapeError(f"{op}: fan in and fan out need a tensor of at least 2 dimensions, "
                         f"got shape {tensor.shape}")
    receptive = int(np.prod(tensor.shape[2:], dtype=np.int64)) if tensor.ndim > 2 else 1
    return tensor.shape[1] * receptive, tensor.shape[0] * receptive


def uniform_(tensor: Tensor, a: float = 0.0, b: float = 1.0, *, generator=None) -> Tensor:
    _parameter(tensor, "uniform_")
    return _set(tensor, _generator(generator).uniform(a, b, tensor.shape))


def normal_(tensor: Tensor, mean: float = 0.0, std: float = 1.0, *, generator=None) -> Tensor:
    _parameter(tensor, "normal_")
    return _set(tensor, _generator(generator).normal(mean, std, tensor.shape))


def constant_(tensor: Tensor, val: float) -> Tensor:
    _parameter(tensor, "constant_")
    return _set(tensor, np.full(tensor.shape, val))


def zeros_(tensor: Tensor) -> Tensor:
    return constant_(tensor, 0.0)


def ones_(tensor: Tensor) -> Tensor:
    return constant_(tensor, 1.0)


def xavier_uniform_(tensor: Tensor, gain: float = 1.0, *, generator=None) -> Tensor:
    fan_in, fan_out = _fans(_parameter(tensor, "xavier_uniform_"), "xavier_uniform_")
    bound = gain * math.sqrt(6.0 / (fan_in + fan_out))
    return uniform_(tensor, -bound, bound, generator=generator)


def xavier_normal_(tensor: Tensor, gain: float = 1.0, *, generator=None) -> Tensor:
    fan_in, fan_out = _fans(_parameter(tensor, "xavier_normal_"), "xavier_normal_")
    return normal_(tensor, 0.0, gain * math.sqrt(2.0 / (fan_in + fan_out)),
                   generator=generator)


def _kaiming_std(tensor: Tensor, a: float, mode: str, nonlinearity: str, op: str) -> float:
    if mode not in ("fan_in", "fan_out"):
        raise ValueError(f"{op}: mode must be 'fan_in' or 'fan_out', got {mode!r}")
    fan_in, fan_out = _fans(_parameter(tensor, op), op)
    fan = fan_in if mode == "fan_in" else fan_out
    return calculate_gain(nonlinearity, a) / math.sqrt(fan)


def kaiming_uniform_(tensor: Tensor, a: float = 0.0, mode: str = "fan_in",
                     nonlinearity: str = "leaky_relu", *, generator=None) -> Tensor:
    bound = math.sqrt(3.0) * _kaiming_std(tensor, a, mode, nonlinearity, "kaiming_uniform_")
    return uniform_(tensor, -bound, bound, generator=generator)


def kaiming_normal_(tensor: Tensor, a: float = 0.0, mode: str = "fan_in",
                    nonlinearity: str = "leaky_relu", *, generator=None) -> Tensor:
    std = _kaiming_std(tensor, a, mode, nonlinearity, "kaiming_normal_")
    return normal_(tensor, 0.0, std, generator=generator)
