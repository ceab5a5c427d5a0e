"""``check_grad``: symbolic gradients against central differences, in float64."""
from __future__ import annotations

from typing import Any, Mapping, Optional, Sequence, Union

import numpy as np

from .autodiff import grad
from .errors import GradientError
from .evaluate import evaluate
from .graph import Op, Tensor


def check_grad(cost: Tensor, wrt: Union[Tensor, Sequence[Tensor]],
               values: Optional[Mapping[Tensor, Any]] = None, *,
               grad_output: Any = None, directions: int = 3, eps: float = 1e-6,
               rtol: float = 1e-5, atol: float = 1e-8, seed: int = 0) -> None:
    """Raise ``GradientError`` unless ``gc.grad`` matches central differences.

    Everything is computed in float64 by the numpy interpreter. For each tensor in
    ``wrt`` and each of ``directions`` random unit directions ``u``, the directional
    derivative ``<grad, u>`` is compared with ``(f(x + eps u) - f(x - eps u)) / 2 eps``,
    where ``f`` is ``sum(cost * grad_output)``. ``values`` feeds the placeholders (and
    may override parameters): a mapping {tensor: array}, or (PyTensor's ``verify_grad``
    habit) a list of arrays aligned with ``wrt``.
    """
    targets = [wrt] if isinstance(wrt, Tensor) else list(wrt)
    feed = {k: np.asarray(v, dtype=np.float64) for k, v in _feed(targets, values).items()}
    for t in targets:
        if t not in feed:
            if t.op is not Op.PARAMETER:
                raise ValueError(f"check_grad: give a value for {t.name or t!r} in values")
            feed[t] = np.asarray(t.value, dtype=np.float64)
    weight = (np.ones(cost.shape) if grad_output is None
              else np.asarray(grad_output, dtype=np.float64))
    grads = grad(cost, targets, grad_output=grad_output)
    symbolic = evaluate(grads, feed, dtype=np.float64)

    def f(point: dict) -> float:
        return float(np.sum(evaluate(cost, point, dtype=np.float64) * weight))

    rng = np.random.default_rng(seed)
    failures = []
    for position, (t, g) in enumerate(zip(targets, symbolic)):
        for _ in range(directions):
            u = rng.standard_normal(feed[t].shape)   # t.shape may have None sizes
            u /= np.linalg.norm(u) or 1.0
            analytic = float(np.sum(g * u))
            plus, minus = f({**feed, t: feed[t] + eps * u}), f({**feed, t: feed[t] - eps * u})
            numeric = (plus - minus) / (2 * eps)
            # the difference quotient cannot be closer than the rounding of f itself
            rounding = 16 * np.finfo(np.float64).eps * max(abs(plus), abs(minus)) / eps
            tolerance = atol + rounding + rtol * max(abs(analytic), abs(numeric))
            if not abs(analytic - numeric) <= tolerance:
                failures.append(
                    f"  wrt[{position}] {t.name or t!r}: grad . u = {analytic:.10g}, "
                    f"central difference = {numeric:.10g}, |diff| = "
                    f"{abs(analytic - numeric):.3g} > tolerance {tolerance:.3g}")
    if failures:
        raise GradientError(
            f"check_grad: the gradient of {cost!r} disagrees with central differences "
            f"(eps={eps}, rtol={rtol}, atol={atol}):\n" + "\n".join(failures))


def _feed(targets: list, values: Any) -> Mapping:
    """``values`` as {tensor: array}: a mapping as given, a sequence aligned with
    ``targets``."""
    if values is None or isinstance(values, Mapping):
        return values or {}
    if isinstance(values, (list, tuple)):
        if len(values) != len(targets):
            raise ValueError(f"check_grad: values holds {len(values)} arrays for "
                             f"{len(targets)} tensors in wrt; give one per wrt tensor, "
                             "or a dict {tensor: array}")
        return dict(zip(targets, values))
    raise TypeError(f"check_grad: values must be a dict {{tensor: array}} or a list of "
                    f"arrays aligned with wrt, got {type(values).__name__}")
