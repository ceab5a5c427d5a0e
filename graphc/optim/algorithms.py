"""torch.optim's algorithms, with torch's arguments, defaults and update formulas.

Each ``_update`` is the loop body of torch's ``_single_tensor_<name>`` (torch/optim/), as
graph code: ``p`` the parameter, ``g`` its gradient (already negated for ``maximize``),
the state tensors' new values put in ``new``. Hyperparameters pass through ``scalar``,
which reads a 0-d tensor at each element of ``p`` (see ``optimizer``'s docstring).
"""
from __future__ import annotations

from typing import Any, Optional

import numpy as np

from ..graph import Tensor, constant, parameter
from ..ops import maximum, sqrt, where
from .optimizer import (Hyper, Optimizer, group_dtype, hyper, nonzero, scalar,
                        zeros_like)


class SGD(Optimizer):
    """Stochastic gradient descent, with momentum (heavy ball or Nesterov's), dampening
    and L2 weight decay, as ``torch.optim.SGD``. The momentum buffer starts as the first
    gradient (torch's ``buf = grad.clone()``), not as zeros."""

    def __init__(self, params: Any, lr: Hyper = 1e-3, momentum: Hyper = 0,
                 dampening: Hyper = 0, weight_decay: Hyper = 0, nesterov: bool = False, *,
                 maximize: bool = False, name: Optional[str] = None):
        kind = "SGD"
        momentum = hyper(momentum, "momentum", kind)
        dampening = hyper(dampening, "dampening", kind, low=-np.inf)
        if nesterov and (not nonzero(momentum) or nonzero(dampening)):
            raise ValueError("SGD: Nesterov momentum requires a momentum and zero dampening")
        super().__init__(params, dict(lr=hyper(lr, "lr", kind), momentum=momentum,
                                      dampening=dampening,
                                      weight_decay=hyper(weight_decay, "weight_decay", kind),
                                      nesterov=bool(nesterov), maximize=bool(maximize)),
                         name)

    def _init_state(self, p: Tensor, group: dict) -> dict:
        return {"momentum_buffer": zeros_like(p, "momentum_buffer")} if nonzero(
            group["momentum"]) else {}

    def _update(self, p: Tensor, g: Tensor, group: dict, state: dict, new: dict) -> Tensor:
        if nonzero(group["weight_decay"]):
            g = g + scalar(group["weight_decay"], p) * p
        if nonzero(group["momentum"]):
            momentum = scalar(group["momentum"], p)
            old = state["momentum_buffer"]
            first = state["step"].broadcast_to(p.shape) == 0
            buf = new[old] = where(first, g, momentum * old
                                   + (1 - scalar(group["dampening"], p)) * g)
            g = g + momentum * buf if group["nesterov"] else buf
        return p - scalar(group["lr"], p) * g


class Adam(Optimizer):
    """Adam (Kingma and Ba), with AMSGrad and L2 or decoupled weight decay, as
    ``torch.optim.Adam``. The bias corrections ``1 - beta**t`` come from the powers
    ``beta**(t-1)``, state of each param group, advanced with the step counter."""

    _decoupled = False

    def __init__(self, params: Any, lr: Hyper = 1e-3, betas: tuple = (0.9, 0.999),
                 eps: Hyper = 1e-8, weight_decay: Hyper = 0, amsgrad: bool = False, *,
                 maximize: bool = False, decoupled_weight_decay: Optional[bool] = None,
                 name: Optional[str] = None):
        kind = type(self).__name__
        if len(betas) != 2:
            raise ValueError(f"{kind}: betas must be a pair (beta1, beta2), got {betas!r}")
        betas = tuple(hyper(b, f"betas[{i}]", kind, high=1.0,
                            open_high=True) for i, b in enumerate(betas))
        if decoupled_weight_decay is None:
            decoupled_weight_decay = self._decoupled
        super().__init__(params, dict(lr=hyper(lr, "lr", kind), betas=betas,
                                      eps=hyper(eps, "eps", kind),
                                      weight_decay=hyper(weight_decay, "weight_decay", kind),
                                      amsgrad=bool(amsgrad), maximize=bool(maximize),
                                      decoupled_weight_decay=bool(decoupled_weight_decay)),
                         name)

    def _init_shared(self, group: dict, index: int) -> dict:
        ones = np.ones((), group_dtype(group))
        return {f"beta{i}_power": parameter(ones, name=f"{self.name}.{index}.beta{i}_power")
                for i in (1, 2)}

    def _init_state(self, p: Tensor, group: dict) -> dict:
        keys = ["exp_avg", "exp_avg_sq"] + (["max_exp_avg_sq"] if group["amsgrad"] else [])
        return {key: zeros_like(p, key) for key in keys}

    def _update(self, p: Tensor, g: Tensor, group: dict, state: dict, new: dict) -> Tensor:
        lr, wd = scalar(group["lr"], p), scalar(group["weight_decay"], p)
        beta1, beta2 = (scalar(b, p) for b in group["betas"])
        if nonzero(group["weight_decay"]):
            if group["decoupled_weight_decay"]:
                p = p * (1 - lr * wd)
            else:
                g = g + wd * p
        m = new[state["exp_avg"]] = beta1 * state["exp_avg"] + (1 - beta1) * g
        v = new[state["exp_avg_sq"]] = beta2 * state["exp_avg_sq"] + (1 - beta2) * g * g
        if group["amsgrad"]:
            v = new[state["max_exp_avg_sq"]] = maximum(state["max_exp_avg_sq"], v)
        bias_correction1 = 1 - beta1 * scalar(state["beta1_power"], p)
        bias_correction2 = 1 - beta2 * scalar(state["beta2_power"], p)
        denom = sqrt(v) / sqrt(bias_correction2) + scalar(group["eps"], p)
        return p - lr / bias_correction1 * m / denom

    def _update_shared(self, group: dict, state: dict, new: dict) -> None:
        t = (state["step"] + 1).astype(state["beta1_power"].dtype)
        for i, beta in zip((1, 2), group["betas"]):
            power = state[f"beta{i}_power"]
            base = beta.astype(power.dtype) if isinstance(beta, Tensor) else constant(
                beta, power.dtype)
            new[power] = base ** t


class AdamW(Adam):
    """Adam with decoupled weight decay (Loshchilov and Hutter), as ``torch.optim.AdamW``:
    the weight shrinks by ``lr * weight_decay`` each step, apart from the gradient."""

    _decoupled = True

    def __init__(self, params: Any, lr: Hyper = 1e-3, betas: tuple = (0.9, 0.999),
                 eps: Hyper = 1e-8, weight_decay: Hyper = 1e-2, amsgrad: bool = False, *,
                 maximize: bool = False, name: Optional[str] = None):
        super().__init__(params, lr, betas, eps, weight_decay, amsgrad, maximize=maximize,
                         name=name)


class RMSprop(Optimizer):
    """RMSprop (Hinton), plain or centered, with momentum and weight decay, as
    ``torch.optim.RMSprop``."""

    def __init__(self, params: Any, lr: Hyper = 1e-2, alpha: Hyper = 0.99,
                 eps: Hyper = 1e-8, weight_decay: Hyper = 0, momentum: Hyper = 0,
                 centered: bool = False, *, maximize: bool = False,
                 name: Optional[str] = None):
        kind = "RMSprop"
        super().__init__(params, dict(lr=hyper(lr, "lr", kind), alpha=hyper(alpha, "alpha",
                                                                             kind),
                                      eps=hyper(eps, "eps", kind),
                                      weight_decay=hyper(weight_decay, "weight_decay", kind),
                                      momentum=hyper(momentum, "momentum", kind),
                                      centered=bool(centered), maximize=bool(maximize)),
                         name)

    def _init_state(self, p: Tensor, group: dict) -> dict:
        keys = (["square_avg"] + (["momentum_buffer"] if nonzero(group["momentum"]) else [])
                + (["grad_avg"] if group["centered"] else []))
        return {key: zeros_like(p, key) for key in keys}

    def _update(self, p: Tensor, g: Tensor, group: dict, state: dict, new: dict) -> Tensor:
        alpha, lr = scalar(group["alpha"], p), scalar(group["lr"], p)
        if nonzero(group["weight_decay"]):
            g = g + scalar(group["weight_decay"], p) * p
        square_avg = new[state["square_avg"]] = (alpha * state["square_avg"]
                                                 + (1 - alpha) * g * g)
        if group["centered"]:
            grad_avg = new[state["grad_avg"]] = alpha * state["grad_avg"] + (1 - alpha) * g
            avg = sqrt(square_avg - grad_avg * grad_avg)
        else:
            avg = sqrt(square_avg)
        avg = avg + scalar(group["eps"], p)
        if nonzero(group["momentum"]):
            buf = new[state["momentum_buffer"]] = (scalar(group["momentum"], p)
                                                   * state["momentum_buffer"] + g / avg)
            return p - lr * buf
        return p - lr * g / avg


class Adagrad(Optimizer):
    """Adagrad (Duchi et al.), with learning-rate decay and weight decay, as
    ``torch.optim.Adagrad``: the step size is ``lr / (1 + (t - 1) * lr_decay)``."""

    def __init__(self, params: Any, lr: Hyper = 1e-2, lr_decay: Hyper = 0,
                 weight_decay: Hyper = 0, initial_accumulator_value: float = 0,
                 eps: Hyper = 1e-10, *, maximize: bool = False, name: Optional[str] = None):
        kind = "Adagrad"
        initial = hyper(initial_accumulator_value, "initial_accumulator_value", kind)
        if isinstance(initial, Tensor):
            raise TypeError("Adagrad: initial_accumulator_value is the state's initial "
                            "value: give a number, not a tensor")
        super().__init__(params, dict(lr=hyper(lr, "lr", kind),
                                      lr_decay=hyper(lr_decay, "lr_decay", kind),
                                      weight_decay=hyper(weight_decay, "weight_decay", kind),
                                      initial_accumulator_value=initial,
                                      eps=hyper(eps, "eps", kind), maximize=bool(maximize)),
                         name)

    def _init_state(self, p: Tensor, group: dict) -> dict:
        return {"sum": zeros_like(p, "sum", group["initial_accumulator_value"])}

    def _update(self, p: Tensor, g: Tensor, group: dict, state: dict, new: dict) -> Tensor:
        if nonzero(group["weight_decay"]):
            g = g + scalar(group["weight_decay"], p) * p
        clr = scalar(group["lr"], p)
        if nonzero(group["lr_decay"]):
            done = scalar(state["step"], p)          # the steps before this one: t - 1
            clr = clr / (1 + done * scalar(group["lr_decay"], p))
        total = new[state["sum"]] = state["sum"] + g * g
        return p - clr * g / (sqrt(total) + scalar(group["eps"], p))


class Adadelta(Optimizer):
    """Adadelta (Zeiler), with weight decay, as ``torch.optim.Adadelta``."""

    def __init__(self, params: Any, lr: Hyper = 1.0, rho: Hyper = 0.9, eps: Hyper = 1e-6,
                 weight_decay: Hyper = 0, *, maximize: bool = False,
                 name: Optional[str] = None):
        kind = "Adadelta"
        super().__init__(params, dict(lr=hyper(lr, "lr", kind),
                                      rho=hyper(rho, "rho", kind, high=1.0),
                                      eps=hyper(eps, "eps", kind),
                                      weight_decay=hyper(weight_decay, "weight_decay", kind),
                                      maximize=bool(maximize)),
                         name)

    def _init_state(self, p: Tensor, group: dict) -> dict:
        return {key: zeros_like(p, key) for key in ("square_avg", "acc_delta")}

    def _update(self, p: Tensor, g: Tensor, group: dict, state: dict, new: dict) -> Tensor:
        rho, eps = scalar(group["rho"], p), scalar(group["eps"], p)
        if nonzero(group["weight_decay"]):
            g = g + scalar(group["weight_decay"], p) * p
        square_avg = new[state["square_avg"]] = (rho * state["square_avg"]
                                                 + (1 - rho) * g * g)
        delta = sqrt(state["acc_delta"] + eps) / sqrt(square_avg + eps) * g
        new[state["acc_delta"]] = rho * state["acc_delta"] + (1 - rho) * delta * delta
        return p - scalar(group["lr"], p) * delta
