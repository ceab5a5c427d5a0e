"""``Module``: parameters, buffers (state updated by the forward pass rather than by an
optimizer, such as batch norm's running statistics) and training mode."""
from __future__ import annotations

from typing import Iterator, Optional

from .. import graph
from ..graph import Tensor


class Module:
    """A piece of a model: its parameters (attributes that are parameters, and those of
    attributes that are modules, in the order they were set), its buffers and its
    ``forward``.

    A graph is static, so a forward pass cannot change a buffer as torch's does: a
    module that updates one (``BatchNorm2d`` in training mode) records the new value,
    and ``buffer_updates()`` hands every such pair to ``gc.compile``'s ``updates``,
    next to the optimizer's."""

    training = True

    def __call__(self, *args, **kwargs) -> Tensor:
        return self.forward(*args, **kwargs)

    def forward(self, *args, **kwargs) -> Tensor:
        raise NotImplementedError(f"{type(self).__name__} has no forward")

    def register_buffer(self, name: str, tensor: Tensor) -> None:
        """``tensor`` (a parameter: it lives on the device) as state the optimizer does
        not update: in ``named_buffers``, not in ``parameters``."""
        self.__dict__.setdefault("_buffer_names", set()).add(name)
        setattr(self, name, tensor)

    def _own(self, buffers: bool) -> Iterator[tuple[str, object]]:
        names = self.__dict__.get("_buffer_names", set())
        for name, value in vars(self).items():
            if isinstance(value, Module):
                yield name, value
            elif (isinstance(value, Tensor) and value.op is graph.Op.PARAMETER
                  and (name in names) == buffers):
                yield name, value

    def _named(self, buffers: bool, prefix: str) -> Iterator[tuple[str, Tensor]]:
        seen: set = set()
        for name, value in self._own(buffers):
            found = (value._named(buffers, f"{prefix}{name}.") if isinstance(value, Module)
                     else [(prefix + name, value)])
            for inner, p in found:
                if id(p) not in seen:
                    seen.add(id(p))
                    yield inner, p

    def named_parameters(self, prefix: str = "") -> Iterator[tuple[str, Tensor]]:
        return self._named(False, prefix)

    def parameters(self) -> list:
        return [p for _, p in self.named_parameters()]

    def named_buffers(self, prefix: str = "") -> Iterator[tuple[str, Tensor]]:
        return self._named(True, prefix)

    def buffers(self) -> list:
        return [b for _, b in self.named_buffers()]

    def state_dict(self) -> dict:
        """{name: tensor} of every parameter and buffer, for ``gc.save`` and ``gc.load``."""
        return dict(list(self.named_parameters()) + list(self.named_buffers()))

    def buffer_updates(self) -> dict:
        """{buffer: new value} recorded by the latest forward pass in training mode, here
        and in every child: pass them in ``updates`` with the optimizer's."""
        out = dict(self.__dict__.get("_pending", {}))
        for child in self.children():
            out.update(child.buffer_updates())
        return out

    def children(self) -> list:
        return [v for v in vars(self).values() if isinstance(v, Module)]

    def train(self, mode: bool = True) -> "Module":
        """Set training mode (here and in every child); a graph built after it uses it."""
        self.training = mode
        for child in self.children():
            child.train(mode)
        return self

    def eval(self) -> "Module":
        return self.train(False)


_names: dict = {}


def unique_name(name: Optional[str], base: str) -> str:
    """``name``, else ``base``, ``base_1``, ... : every module's parameters have names of
    their own, which ``gc.save`` keeps them by."""
    if name is not None:
        return name
    count = _names.get(base, 0)
    _names[base] = count + 1
    return base if count == 0 else f"{base}_{count}"
