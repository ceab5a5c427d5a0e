"""Losses with torch.nn.functional's names, arguments and ``reduction=`` ('mean', 'sum',
'none'), each built from the elementwise ops and reductions so that it fuses into the
kernels around its operands, and stable for logits of any size (softplus and log-softmax,
never log of an exponential)."""
from __future__ import annotations

from typing import Optional

import numpy as np

from .. import shapes
from ..dtypes import BOOL, is_float, is_integer
from ..errors import DTypeError, ShapeError
from ..graph import Tensor, constant
from .creation import arange
from .elementwise import (Operand, abs, add, as_tensor, astype, clamp, div, eq, exp,
                          log_raw, logical_and, lt, mul, ne, neg, softplus, square, sub,
                          where)
from .reduce import log_softmax, mean, sum
from .views import broadcast_to, reshape, unsqueeze

_REDUCTIONS = ("mean", "sum", "none")


def _reduce(loss: Tensor, reduction: str, op: str, extra: tuple = ()) -> Tensor:
    if reduction not in _REDUCTIONS + extra:
        raise ValueError(f"{op}: reduction must be one of "
                         f"{', '.join(map(repr, _REDUCTIONS + extra))}, got {reduction!r}")
    if reduction == "mean":
        return mean(loss)
    if reduction == "sum":
        return sum(loss)
    return loss


def _operands(input: Operand, target: Operand, op: str) -> tuple[Tensor, Tensor]:
    x = as_tensor(input, what=op)
    t = as_tensor(target, x, op)
    for position, (name, v) in enumerate((("input", x), ("target", t))):
        if not is_float(v.dtype):
            raise DTypeError(f"{op}: argument {position} ({name}) must be a float tensor, "
                             f"got {v.dtype}")
    return x, t


def _weighted(loss: Tensor, weight: Optional[Operand]) -> Tensor:
    return loss if weight is None else mul(loss, as_tensor(weight, loss))


def mse_loss(input: Operand, target: Operand, *,  # noqa: A002 (torch's names)
             reduction: str = "mean") -> Tensor:
    """The squared error (input - target)**2, reduced as ``reduction`` says."""
    x, t = _operands(input, target, "mse_loss")
    return _reduce(square(sub(x, t)), reduction, "mse_loss")


def l1_loss(input: Operand, target: Operand, *,  # noqa: A002
            reduction: str = "mean") -> Tensor:
    """The absolute error |input - target|, reduced as ``reduction`` says."""
    x, t = _operands(input, target, "l1_loss")
    return _reduce(abs(sub(x, t)), reduction, "l1_loss")


def huber_loss(input: Operand, target: Operand, *,  # noqa: A002
               reduction: str = "mean", delta: float = 1.0) -> Tensor:
    """0.5 d**2 where |d| < delta, else delta (|d| - 0.5 delta), with d = input - target."""
    if delta <= 0:
        raise ValueError(f"huber_loss: delta must be positive, got {delta}")
    x, t = _operands(input, target, "huber_loss")
    d = sub(x, t)
    size = abs(d)
    loss = where(lt(size, delta), mul(square(d), 0.5), mul(sub(size, 0.5 * delta), delta))
    return _reduce(loss, reduction, "huber_loss")


def smooth_l1_loss(input: Operand, target: Operand, *,  # noqa: A002
                   reduction: str = "mean", beta: float = 1.0) -> Tensor:
    """0.5 d**2 / beta where |d| < beta, else |d| - 0.5 beta (beta = 0: the L1 loss)."""
    if beta < 0:
        raise ValueError(f"smooth_l1_loss: beta must not be negative, got {beta}")
    x, t = _operands(input, target, "smooth_l1_loss")
    d = sub(x, t)
    size = abs(d)
    if beta == 0:
        return _reduce(size, reduction, "smooth_l1_loss")
    loss = where(lt(size, beta), mul(square(d), 0.5 / beta), sub(size, 0.5 * beta))
    return _reduce(loss, reduction, "smooth_l1_loss")


def kl_div(input: Operand, target: Operand, *,  # noqa: A002
           reduction: str = "mean", log_target: bool = False) -> Tensor:
    """The Kullback-Leibler divergence of ``target`` from the log-probabilities ``input``:
    target (log target - input), 0 where target is 0 (or exp(target)(target - input) with
    ``log_target``); ``reduction='batchmean'`` divides the sum by the batch size."""
    x, t = _operands(input, target, "kl_div")
    if log_target:
        loss = mul(exp(t), sub(t, x))
    else:   # torch's xlogy: 0 log 0 is 0
        loss = sub(where(eq(t, 0), 0, mul(t, log_raw(t))), mul(t, x))
    if reduction == "batchmean":
        batch = loss.shape[0] if loss.ndim else 1
        return mul(sum(loss), 1.0 / batch)
    return _reduce(loss, reduction, "kl_div", ("batchmean",))


def binary_cross_entropy(input: Operand, target: Operand,  # noqa: A002
                         weight: Optional[Operand] = None, *,
                         reduction: str = "mean") -> Tensor:
    """-(target log(input) + (1 - target) log(1 - input)) for probabilities ``input``,
    each logarithm clamped at -100 as torch's; times ``weight`` (broadcast) if given."""
    p, t = _operands(input, target, "binary_cross_entropy")
    log_p = clamp(log_raw(p), min=-100.0)
    log_q = clamp(log_raw(sub(1, p)), min=-100.0)
    loss = neg(add(mul(t, log_p), mul(sub(1, t), log_q)))
    return _reduce(_weighted(loss, weight), reduction, "binary_cross_entropy")


def binary_cross_entropy_with_logits(input: Operand, target: Operand,  # noqa: A002
                                     weight: Optional[Operand] = None, *,
                                     reduction: str = "mean",
                                     pos_weight: Optional[Operand] = None) -> Tensor:
    """The binary cross-entropy of sigmoid(input), computed from the logits as
    (1 - t) x + (1 + (pos_weight - 1) t) softplus(-x), finite for every x."""
    x, t = _operands(input, target, "binary_cross_entropy_with_logits")
    tail = softplus(neg(x))
    if pos_weight is not None:
        tail = mul(add(1, mul(sub(as_tensor(pos_weight, x), 1), t)), tail)
    loss = add(mul(sub(1, t), x), tail)
    return _reduce(_weighted(loss, weight), reduction, "binary_cross_entropy_with_logits")


def cross_entropy(input: Operand, target: Operand,  # noqa: A002
                  weight: Optional[Operand] = None, *, ignore_index: int = -100,
                  reduction: str = "mean", label_smoothing: float = 0.0) -> Tensor:
    """The cross-entropy of logits ``input`` and ``target``, as torch's.

    Parameters
    ----------
    input : Tensor
        Logits, (C,), (N, C) or (N, C, d1, ...): the classes along axis 1 (0 for 1-d).
    target : Tensor
        Integer class labels of the logits' shape without the class axis ((), (N,),
        (N, d1, ...)), or class probabilities of the logits' shape (a float tensor).
    weight : Tensor, optional
        One weight per class, shape (C,).
    ignore_index : int
        Labels equal to it contribute nothing, not even to the mean's divisor (integer
        labels only).
    reduction : {'mean', 'sum', 'none'}
        'mean' divides the sum by the labels' total weight (the number of labels not
        ignored, without ``weight``) for integer labels, and by the number of samples
        (N d1 ...) for probabilities, as torch does; 'none' returns one loss per sample.
    label_smoothing : float
        In [0, 1]: the target is mixed with the uniform distribution over the C classes.

    A label is compared with each class index in the kernels around the logits (no
    gather, no one-hot buffer), so the loss and its gradient fuse with the log-softmax.
    A label outside [0, C) that is not ``ignore_index`` matches no class: its loss is
    the smoothing term alone (torch raises an error instead).
    """
    x = as_tensor(input, what="cross_entropy")
    if not is_float(x.dtype):
        raise DTypeError(f"cross_entropy: argument 0 (input) must be float logits, got "
                         f"{x.dtype}")
    if x.ndim == 0:
        raise ShapeError("cross_entropy: the logits must have a class axis, got a 0-d "
                         "tensor")
    if not 0.0 <= label_smoothing <= 1.0:
        raise ValueError(f"cross_entropy: label_smoothing must be in [0, 1], got "
                         f"{label_smoothing}")
    axis = 1 if x.ndim > 1 else 0
    classes = x.shape[axis]
    w = _class_weight(weight, x, axis, "cross_entropy")
    log_p = log_softmax(x, axis)
    weighted = log_p if w is None else mul(log_p, w)
    if _is_labels(target):
        hit, kept, valid = _label_match(x, target, axis, ignore_index, "cross_entropy")
        per_sample = neg(sum(mul(hit, weighted), axis))
        if label_smoothing:
            uniform = neg(sum(mul(kept, weighted), axis))
            per_sample = add(mul(per_sample, 1.0 - label_smoothing),
                             mul(uniform, label_smoothing / classes))
        return _reduce_labelled(per_sample, hit, valid, w, reduction, "cross_entropy")
    t = as_tensor(target, x, "cross_entropy")
    if t.dtype == BOOL or not is_float(t.dtype):
        raise DTypeError(f"cross_entropy: argument 1 (target) is {t.dtype}; give integer "
                         "class labels (int32 or int64) or class probabilities as a float "
                         "tensor of the logits' shape")
    if not shapes.same(t.shape, x.shape):
        raise ShapeError(f"cross_entropy: probabilities {t.shape} must have the shape of "
                         f"the logits {x.shape} (classes on axis 1); integer labels have "
                         f"the shape {_label_shape(x.shape, axis)}")
    per_sample = neg(sum(mul(t, weighted), axis))
    if label_smoothing:
        # the target mixed with the uniform distribution, as two sums: the mixed target
        # would be held in a buffer for the backward pass (one kernel more)
        uniform = neg(sum(weighted, axis))
        per_sample = add(mul(per_sample, 1.0 - label_smoothing),
                         mul(uniform, label_smoothing / classes))
    return _reduce(per_sample, reduction, "cross_entropy")


def nll_loss(input: Operand, target: Operand,  # noqa: A002
             weight: Optional[Operand] = None, *, ignore_index: int = -100,
             reduction: str = "mean") -> Tensor:
    """The negative log-likelihood -weight[y] input[n, y] of integer labels ``target``
    given log-probabilities ``input`` (classes on axis 1, or 0 for 1-d), as torch's:
    ``ignore_index`` and the 'mean' divisor as in ``cross_entropy``."""
    x = as_tensor(input, what="nll_loss")
    if not is_float(x.dtype):
        raise DTypeError(f"nll_loss: argument 0 (input) must be float log-probabilities, "
                         f"got {x.dtype}")
    if x.ndim == 0:
        raise ShapeError("nll_loss: the input must have a class axis, got a 0-d tensor")
    if not _is_labels(target):
        raise DTypeError(f"nll_loss: argument 1 (target) must be integer class labels, got "
                         f"{getattr(target, 'dtype', type(target).__name__)}")
    axis = 1 if x.ndim > 1 else 0
    w = _class_weight(weight, x, axis, "nll_loss")
    hit, _, valid = _label_match(x, target, axis, ignore_index, "nll_loss")
    weighted = x if w is None else mul(x, w)
    per_sample = neg(sum(mul(hit, weighted), axis))
    return _reduce_labelled(per_sample, hit, valid, w, reduction, "nll_loss")


def _is_labels(target: Operand) -> bool:
    dtype = target.dtype if isinstance(target, Tensor) else np.asarray(target).dtype
    return is_integer(dtype)


def _label_shape(shape: tuple, axis: int) -> tuple:
    return shape[:axis] + shape[axis + 1:]


def _class_weight(weight: Optional[Operand], x: Tensor, axis: int,
                  op: str) -> Optional[Tensor]:
    """``weight`` (C,) reshaped to broadcast along the class axis of ``x``."""
    if weight is None:
        return None
    w = as_tensor(weight, x, op)
    classes = x.shape[axis]
    if w.shape != (classes,):
        raise ShapeError(f"{op}: weight {w.shape} must have one entry per class "
                         f"({classes},)")
    return reshape(w, (classes,) + (1,) * (x.ndim - axis - 1))


def _label_match(x: Tensor, target: Operand, axis: int, ignore_index: int,
                 op: str) -> tuple[Tensor, Tensor, Tensor]:
    """Bool tensors: ``hit`` (the logits' shape), true at each sample's own class;
    ``kept`` (the logits' shape), true along the classes of every sample whose label is
    not ignored; ``valid`` (the labels' shape), true where the label is not ignored."""
    labels = target if isinstance(target, Tensor) else constant(
        np.asarray(target), np.asarray(target).dtype)
    want = _label_shape(x.shape, axis)
    if not shapes.same(labels.shape, want):
        raise ShapeError(f"{op}: integer labels {labels.shape} must have the logits' shape "
                         f"{x.shape} without the class axis {axis}: {want}")
    valid = ne(labels, ignore_index)
    labels = unsqueeze(labels, axis)
    classes = x.shape[axis]
    # each class's index, computed where it is compared (no buffer)
    index = reshape(arange(classes, dtype=labels.dtype),
                    (classes,) + (1,) * (x.ndim - axis - 1))
    # of the labels' own view, not of ``valid``: each kernel compares the labels again
    kept = broadcast_to(ne(labels, ignore_index), x.shape)
    return logical_and(eq(labels, index), kept), kept, valid


def _reduce_labelled(per_sample: Tensor, hit: Tensor, valid: Tensor, w: Optional[Tensor],
                     reduction: str, op: str) -> Tensor:
    """torch's reductions of a loss over labels: 'mean' divides by the labels' total
    weight (their number, without class weights), ignored labels left out."""
    if reduction != "mean":
        return _reduce(per_sample, reduction, op)
    if w is None:
        total = sum(astype(valid, per_sample.dtype))
    else:
        total = sum(where(hit, broadcast_to(w, hit.shape), 0))
    return div(sum(per_sample), total)


__all__ = ["binary_cross_entropy", "binary_cross_entropy_with_logits", "cross_entropy",
           "huber_loss", "kl_div", "l1_loss", "mse_loss", "nll_loss", "smooth_l1_loss"]
