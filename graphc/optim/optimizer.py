"""What every optimizer shares: parameter groups, state held as parameters, ``updates``.

An optimizer here takes no step itself. ``updates(loss)`` returns the ``updates`` mapping
for ``gc.compile``: the new value of every weight and of every state tensor (momentum
buffers, moments, the step counter), as graph nodes computed from the old values. The
compiled function then runs the whole step on the device, and the state stays there
between calls, as parameters do.

Fusion shapes two choices. A weight's update is an epilogue of the kernel computing its
gradient (a matmul for a linear layer), so everything it reads per element, its moments
included, costs no launch; but a 0-d value computed in the step (a bias correction, a
cast of a 0-d placeholder) is a kernel of its own that every weight's kernel waits for. So
the step counter and the powers of Adam's betas are state updated for the next step, and
each weight's update reads them, and its 0-d hyperparameter tensors, broadcast to its
own shape: its kernel computes from them at each element, and the 0-d kernel that advances
the counter runs beside the weights' kernels, in the same launch on a CPU.
"""
from __future__ import annotations

import itertools
from typing import Any, Mapping, Optional, Sequence, Union

import numpy as np

from ..autodiff import grad
from ..dtypes import is_float
from ..errors import DTypeError, ShapeError
from ..graph import Op, Tensor, parameter, toposort

Hyper = Union[float, Tensor]

# names given to optimizers built without one: adam, adam_1, adam_2, ...
_counts: dict[str, "itertools.count[int]"] = {}


def default_name(kind: str) -> str:
    n = next(_counts.setdefault(kind, itertools.count()))
    return kind if n == 0 else f"{kind}_{n}"


class Optimizer:
    """Base class: ``param_groups`` (each a dict of ``params`` and hyperparameters, as in
    torch), ``state`` (per parameter, a dict of state name -> graphc parameter) and
    ``updates(loss)``.

    Parameters (of every optimizer; the others are torch's, with torch's defaults)
    ----------
    params : list of parameters, or list of dicts
        The float ``gc.parameter``s to optimize, or torch's param groups: dicts with
        ``"params"`` and any hyperparameters that differ from the optimizer's.
    name : str, optional
        Prefix of the shared state's names (``<name>.step``); default the class name in
        lower case, numbered from the second optimizer of a kind (``adam``, ``adam_1``).
        A parameter's own state is named after it (``w1.exp_avg``).

    Any hyperparameter but a flag may be a 0-d float tensor instead of a number, e.g. a
    placeholder fed at each call. Options are read when ``updates`` builds the graph:
    change a placeholder's value, not ``param_groups``, between calls.

    Subclasses give ``_init_state`` (a parameter's state) and ``_update`` (its new value
    and those of its state), and ``_init_shared``/``_update_shared`` for per-group state.
    """

    def __init__(self, params: Any, defaults: dict, name: Optional[str] = None):
        kind = type(self).__name__
        self.defaults = defaults
        self.name = str(name) if name is not None else default_name(kind.lower())
        self.param_groups = [_group(g, defaults, kind, i)
                             for i, g in enumerate(_group_list(params, kind))]
        seen: set[int] = set()
        for p in self.params:
            if id(p) in seen:
                raise ValueError(f"{kind}: parameter {p.name!r} appears in more than one "
                                 "place of params; list each parameter once")
            seen.add(id(p))
        self.step_count = parameter(np.zeros((), np.int64), name=f"{self.name}.step",
                                    dtype="int64")
        self.state: dict[Tensor, dict[str, Tensor]] = {}
        for i, group in enumerate(self.param_groups):
            shared = {"step": self.step_count, **self._init_shared(group, i)}
            for p in group["params"]:
                self.state[p] = {**shared, **self._init_state(p, group)}

    # {{{ what subclasses give

    def _init_state(self, p: Tensor, group: dict) -> dict:
        return {}

    def _init_shared(self, group: dict, index: int) -> dict:
        return {}

    def _update(self, p: Tensor, g: Tensor, group: dict, state: dict, new: dict) -> Tensor:
        raise NotImplementedError

    def _update_shared(self, group: dict, state: dict, new: dict) -> None:
        """Advance the group's shared state (``state``: a parameter's, holding it)."""

    # }}}

    @property
    def params(self) -> list:
        """Every parameter this optimizer updates, group by group."""
        return [p for group in self.param_groups for p in group["params"]]

    def state_tensors(self) -> list:
        """Every state tensor, each once: pass them to ``gc.save``/``gc.load`` with the
        parameters (``gc.save(path, opt.params + opt.state_tensors())``)."""
        found: dict[int, Tensor] = {}
        for p in self.params:
            for t in self.state[p].values():
                found.setdefault(id(t), t)
        return list(found.values())

    def updates(self, loss: Optional[Tensor] = None, *,
                grads: Union[None, Sequence, Mapping] = None) -> dict:
        """The ``updates`` mapping of one optimization step, for ``gc.compile``.

        Parameters
        ----------
        loss : Tensor, optional
            The scalar to minimize (``maximize=True``: to maximize); the gradients are
            ``gc.grad(loss, params)``. A parameter that ``loss`` does not depend on is not
            updated, as torch skips a parameter whose ``.grad`` is None.
        grads : sequence or mapping of Tensor, optional
            Instead of ``loss``: the gradients themselves (one per parameter of
            ``params``, in order, or a mapping parameter -> gradient), e.g. clipped by
            ``clip_grad_norm``.

        Returns
        -------
        dict
            {parameter: new value} for every updated weight and every state tensor.
            Calling ``updates`` again gives the same state tensors: functions compiled
            from either share the optimizer's state.
        """
        found = self._gradients(loss, grads)
        new: dict = {}
        for group in self.param_groups:
            stepped = [p for p in group["params"] if p in found]
            for p in stepped:
                g = found[p]
                new[p] = self._update(p, -g if group["maximize"] else g, group,
                                      self.state[p], new)
            if stepped:
                self._update_shared(group, self.state[stepped[0]], new)
        # the 0-d state last: its kernel then follows the weights' kernels, which read its
        # old value, so it may still write its new value in place (graphc.schedule)
        new[self.step_count] = self.step_count + 1
        for key in [k for k in new if k.ndim == 0]:
            new[key] = new.pop(key)
        return new

    def step(self, *args: Any, **kwargs: Any) -> None:
        raise TypeError(f"{type(self).__name__}.step(): a graphc optimizer builds the step "
                        "into a compiled function instead: fn = gc.compile(inputs, "
                        "[loss], updates=opt.updates(loss)), then call fn(...) each step")

    def _gradients(self, loss: Optional[Tensor], grads: Any) -> dict:
        kind = type(self).__name__
        params = self.params
        if (loss is None) == (grads is None):
            raise TypeError(f"{kind}.updates: pass either loss or grads=, not "
                            f"{'both' if loss is not None else 'neither'}")
        if loss is not None:
            if not isinstance(loss, Tensor):
                raise TypeError(f"{kind}.updates: loss must be a graphc Tensor, got "
                                f"{type(loss).__name__}")
            reached = {id(n) for n in toposort([loss])}
            connected = [p for p in params if id(p) in reached]
            return dict(zip(connected, grad(loss, connected))) if connected else {}
        if isinstance(grads, Mapping):
            mine = {id(p) for p in params}
            for p in grads:
                if id(p) not in mine:
                    raise ValueError(f"{kind}.updates: grads has a gradient for {p!r}, "
                                     "which this optimizer does not update")
            pairs = list(grads.items())
        else:
            grads = list(grads)
            if len(grads) != len(params):
                raise ValueError(f"{kind}.updates: {len(grads)} gradients for "
                                 f"{len(params)} parameters; give one per parameter, in "
                                 "the order of opt.params")
            pairs = list(zip(params, grads))
        for p, g in pairs:
            if not isinstance(g, Tensor):
                raise TypeError(f"{kind}.updates: the gradient of {p.name!r} must be a "
                                f"graphc Tensor, got {type(g).__name__}")
            if g.shape != p.shape:
                raise ShapeError(f"{kind}.updates: the gradient of {p.name!r} has shape "
                                 f"{g.shape}, the parameter {p.shape}")
            if g.dtype != p.dtype:
                raise DTypeError(f"{kind}.updates: the gradient of {p.name!r} has dtype "
                                 f"{g.dtype}, the parameter {p.dtype}; convert it with "
                                 f".astype('{p.dtype}')")
        return dict(pairs)

    def __repr__(self) -> str:
        lines = [f"{type(self).__name__} ({self.name!r}"]
        for i, group in enumerate(self.param_groups):
            lines.append(f"  group {i}: " + ", ".join(
                [f"{len(group['params'])} params"] +
                [f"{k}={_show(v)}" for k, v in group.items() if k != "params"]))
        return "\n".join(lines) + ")"


def _show(value: Any) -> str:
    if isinstance(value, Tensor):
        return f"<{value.name or value.op.value}>"
    if isinstance(value, tuple):
        return "(" + ", ".join(map(_show, value)) + ")"
    return repr(value)


# {{{ parameter groups and hyperparameters

def _group_list(params: Any, kind: str) -> list:
    if isinstance(params, Tensor):
        raise TypeError(f"{kind}: params must be a list of parameters (or of dicts of "
                        f"param groups), got one Tensor; write [{params.name or 'w'}]")
    params = list(params)
    if not params:
        raise ValueError(f"{kind}: got an empty parameter list")
    if all(isinstance(g, dict) for g in params):
        return params
    if any(isinstance(g, dict) for g in params):
        raise TypeError(f"{kind}: params mixes parameters and dicts of param groups")
    return [{"params": params}]


def _group(group: dict, defaults: dict, kind: str, index: int) -> dict:
    where = f"{kind}: param group {index}"
    if "params" not in group:
        raise ValueError(f"{where} has no 'params'")
    unknown = sorted(set(group) - set(defaults) - {"params"})
    if unknown:
        raise TypeError(f"{where}: unknown option(s) {', '.join(map(repr, unknown))}; "
                        f"{kind} takes {', '.join(defaults)}")
    params = group["params"]
    params = [params] if isinstance(params, Tensor) else list(params)
    for i, p in enumerate(params):
        if not isinstance(p, Tensor) or p.op is not Op.PARAMETER:
            raise TypeError(f"{where}: params[{i}] must be a graphc parameter "
                            f"(gc.parameter), got {p!r}")
        if not is_float(p.dtype):
            raise DTypeError(f"{where}: parameter {p.name!r} has dtype {p.dtype}; only "
                             "float parameters can be optimized")
    return {"params": params, **{k: group.get(k, v) for k, v in defaults.items()}}


def hyper(value: Any, name: str, kind: str, low: float = 0.0,
          high: Optional[float] = None, open_high: bool = False) -> Hyper:
    """A hyperparameter: a number checked as torch checks it, or a 0-d tensor (a
    placeholder fed at each call, so a schedule changes it without a new build)."""
    if isinstance(value, Tensor):
        if value.ndim != 0:
            raise ShapeError(f"{kind}: {name} must be a number or a 0-d tensor, got a "
                             f"tensor of shape {value.shape}")
        if not is_float(value.dtype):
            raise DTypeError(f"{kind}: {name} must be a float tensor, got {value.dtype}")
        return value
    if isinstance(value, bool) or not isinstance(value, (int, float, np.number)):
        raise TypeError(f"{kind}: {name} must be a number or a 0-d tensor, got "
                        f"{type(value).__name__}")
    value = float(value)
    above = high is not None and (value >= high if open_high else value > high)
    if not value >= low or above:
        bounds = f"{low} <= {name}" + ("" if high is None else
                                       f" {'<' if open_high else '<='} {high}")
        raise ValueError(f"{kind}: invalid {name}: {value} (it must satisfy {bounds})")
    return value


def nonzero(value: Hyper) -> bool:
    """Whether a term scaled by ``value`` is there at all (a tensor may be non-zero)."""
    return isinstance(value, Tensor) or value != 0


def scalar(value: Any, like: Tensor) -> Any:
    """``value`` (a number or a 0-d tensor) as an operand of ``like``'s update: a tensor
    broadcast to ``like``'s shape, then cast to its dtype, so that the weight's kernel
    computes with it at each element rather than waiting for a 0-d kernel."""
    if isinstance(value, Tensor):
        return value.broadcast_to(like.shape).astype(like.dtype)
    return value


def zeros_like(p: Tensor, key: str, fill: float = 0.0) -> Tensor:
    """A state tensor of ``p``'s shape and dtype, named ``<p.name>.<key>``."""
    return parameter(np.full(p.shape, fill, p.dtype), name=f"{p.name}.{key}", dtype=p.dtype)


def group_dtype(group: dict) -> np.dtype:
    """The float dtype of a group's shared state: the widest of its parameters'."""
    return np.result_type(*(p.dtype for p in group["params"]))

# }}}
