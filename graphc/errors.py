"""One exception hierarchy for everything graphc raises on purpose."""
from __future__ import annotations


class GraphcError(Exception):
    """Base class of every error graphc raises deliberately."""


class ShapeError(GraphcError, ValueError):
    """Operand shapes that the op cannot combine (raised when the node is built)."""


class AxisError(ShapeError, IndexError):
    """An axis (dim) out of range for a tensor's rank: a ValueError and an IndexError, as
    numpy's ``AxisError`` (torch raises IndexError)."""


class DTypeError(GraphcError, TypeError):
    """Unsupported or mismatched dtypes."""


class GradientError(GraphcError, AssertionError):
    """A symbolic gradient disagrees with finite differences (see ``check_grad``)."""


class CodegenError(GraphcError):
    """The graph holds something the OpenCL code generator cannot print."""


class BuildError(GraphcError):
    """The OpenCL compiler rejected a generated program."""

    def __init__(self, message: str, log: str = "", options: tuple = (), source_path: str = ""):
        super().__init__(message)
        self.log = log
        self.options = options
        self.source_path = source_path


class DeviceError(GraphcError, RuntimeError):
    """No usable OpenCL device, or a device that lacks a needed capability."""
