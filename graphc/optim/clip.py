"""Gradient clipping by the total norm, as ``torch.nn.utils``' ``get_total_norm`` and
``clip_grad_norm_``, functional: the clipped gradients are new tensors, to hand to an
optimizer's ``updates(grads=...)``."""
from __future__ import annotations

from typing import Any, Sequence, Union

import numpy as np

from ..dtypes import is_float
from ..errors import DTypeError
from ..graph import Tensor
from ..ops import as_tensor, clamp, norm, stack

# added to the total norm before dividing by it, as torch does
EPS = 1e-6


def _tensors(tensors: Any, op: str) -> list:
    found = [tensors] if isinstance(tensors, Tensor) else list(tensors)
    for i, t in enumerate(found):
        if not isinstance(t, Tensor):
            raise TypeError(f"{op}: tensors[{i}] must be a graphc Tensor, got "
                            f"{type(t).__name__}")
        if not is_float(t.dtype):
            raise DTypeError(f"{op}: tensors[{i}] has dtype {t.dtype}; gradients are float")
    return found


def get_total_norm(tensors: Union[Tensor, Sequence[Tensor]],
                   norm_type: Union[float, str] = 2.0) -> Tensor:
    """The ``norm_type``-norm of all elements of ``tensors`` together, as one vector: the
    norm of their norms (torch's order of operations). 0-d, of their widest dtype."""
    found = _tensors(tensors, "get_total_norm")
    if not found:
        return as_tensor(0.0)
    norm_type = float("inf") if norm_type in ("inf", float("inf")) else norm_type
    dtype = np.result_type(*(t.dtype for t in found))
    norms = [norm(t, norm_type).astype(dtype) for t in found]
    return norm(stack(norms), norm_type)


def clip_grad_norm(grads: Union[Tensor, Sequence[Tensor]], max_norm: Any,
                   norm_type: Union[float, str] = 2.0) -> Union[Tensor, list]:
    """``grads`` scaled by ``min(max_norm / (total_norm + 1e-6), 1)``, as torch's
    ``clip_grad_norm_`` scales them in place: the total norm (``get_total_norm``) is then
    at most ``max_norm``. ``max_norm`` is a number or a 0-d tensor.

    Returns one tensor for one tensor, else a list, in order."""
    found = _tensors(grads, "clip_grad_norm")
    if not found:
        return []
    total = get_total_norm(found, norm_type)
    coef = clamp(as_tensor(max_norm, total, "clip_grad_norm") / (total + EPS), max=1.0)
    clipped = [g * coef.astype(g.dtype) for g in found]
    return clipped[0] if isinstance(grads, Tensor) else clipped
