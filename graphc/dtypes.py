"""numpy dtype <-> OpenCL type name <-> literal text, and the promotion of dtypes.

graphc's tensors are float32, float64, int32, int64, uint32 or bool (comparisons, masks:
0 or 1); a bool buffer is ``uchar`` in memory.

Promotion (``promote``) is numpy's among integers and among floats, and torch's and JAX's
across them: an integer or bool with a float takes the float's dtype. Python numbers are
weak (``scalar_dtype``): they take the dtype of the tensor they meet, except that a
Python float meeting an integer or bool tensor gives the default float, float32, and a
Python int meeting a bool tensor gives int64 (both as torch).
"""
from __future__ import annotations

import numpy as np

from .errors import DTypeError

_CL_NAMES = {np.dtype(np.float32): "float", np.dtype(np.float64): "double"}
# every type a kernel value or buffer may have: a bool buffer holds one byte per element
# (numpy's bool), as OpenCL's uchar: a kernel argument cannot be a pointer to bool
_CL_TYPES = {**_CL_NAMES, np.dtype(np.bool_): "uchar", np.dtype(np.int32): "int",
             np.dtype(np.int64): "long", np.dtype(np.uint32): "uint",
             np.dtype(np.uint8): "uchar", np.dtype(np.uint64): "ulong"}


FLOATS = (np.dtype(np.float32), np.dtype(np.float64))
BOOL = np.dtype(np.bool_)
INTEGERS = (np.dtype(np.int32), np.dtype(np.int64), np.dtype(np.uint32))
SUPPORTED = FLOATS + INTEGERS + (BOOL,)
_NAMES = ", ".join(str(d) for d in SUPPORTED)


def as_dtype(dtype: object, what: str = "dtype") -> np.dtype:
    """Normalise ``dtype`` to a supported numpy dtype, or raise ``DTypeError``."""
    try:
        d = np.dtype(dtype)
    except TypeError:
        raise DTypeError(f"{what}: {dtype!r} is not a dtype; use one of {_NAMES}") from None
    if d not in SUPPORTED:
        hint = ("'int64' or 'int32'" if d.kind in "iu" else "'float32' or 'float64'"
                if d.kind == "f" else "one of them")
        raise DTypeError(f"{what}: graphc's dtypes are {_NAMES}, got {d}; convert to "
                         f"{hint} first")
    return d


def is_float(dtype: object) -> bool:
    return np.dtype(dtype) in FLOATS


def is_integer(dtype: object) -> bool:
    return np.dtype(dtype).kind in "iu"


def is_signed(dtype: object) -> bool:
    return np.dtype(dtype).kind == "i"


def unsigned(dtype: object) -> np.dtype:
    """The unsigned integer type as wide as integer ``dtype`` (where signed arithmetic
    wraps: C's signed overflow is undefined, its unsigned overflow wraps)."""
    return np.dtype(f"u{np.dtype(dtype).itemsize}")


def inferred(dtype: object, what: str) -> np.dtype:
    """The graphc dtype of an array of numpy dtype ``dtype`` given without ``dtype=``:
    itself where graphc has it; int8, int16, uint8 and uint16 widen to int32."""
    d = np.dtype(dtype)
    if d.kind in "iu" and d.itemsize < 4:
        return np.dtype(np.int32)
    return as_dtype(d, what)


def scalar_dtype(value: object, like: object) -> np.dtype:
    """The dtype a Python (or numpy) scalar ``value`` takes beside a tensor of dtype
    ``like`` (None: no tensor): weak, as in torch (see the module's promotion)."""
    kind = ("b" if isinstance(value, (bool, np.bool_)) else
            "i" if isinstance(value, (int, np.integer)) else "f")
    if like is None:
        return BOOL if kind == "b" else np.dtype(np.float32)
    like = np.dtype(like)
    if like.kind == "f" or kind == "b" or (kind == "i" and like.kind in "iu"):
        return like
    return np.dtype(np.int64) if kind == "i" else np.dtype(np.float32)


def promote(dtypes: list, what: str) -> np.dtype:
    """The dtype of an op over operands of ``dtypes``: numpy's promotion among integers
    (int32 with uint32 is int64); an integer or bool with a float takes the float (as in
    torch and JAX); float32 and float64 do not mix (convert one first)."""
    kinds = {np.dtype(d) for d in dtypes}
    floats = sorted((d for d in kinds if is_float(d)), key=str)
    if len(floats) > 1:
        listed = " and ".join(str(d) for d in floats)
        raise DTypeError(f"{what}: operands have dtypes {listed}; graphc does not mix "
                         "float32 and float64 in one op, give both the same dtype")
    if floats:
        return floats[0]
    integers = [d for d in kinds if is_integer(d)]
    return np.result_type(*integers) if integers else BOOL


def cl_type(dtype: np.dtype) -> str:
    """The OpenCL C scalar type of ``dtype`` (in memory: bool is ``uchar``)."""
    return _CL_TYPES[np.dtype(dtype)]


def needs_fp64(dtype: np.dtype) -> bool:
    return np.dtype(dtype) == np.float64


def literal(value: float, dtype: np.dtype) -> str:
    """``value`` as an OpenCL literal of ``dtype``: ``0.5f`` in float32, ``0.5`` in float64,
    ``3`` in an integer type, ``1``/``0`` in bool."""
    dtype = np.dtype(dtype)
    if dtype.kind == "b":
        return "1" if value else "0"
    if dtype.kind in "iu":
        if dtype.kind == "i" and int(value) == np.iinfo(dtype).min:
            return "INT_MIN" if dtype.itemsize == 4 else "LONG_MIN"   # -2147483648 is -(2^31)
        text = str(int(value))
        if dtype.itemsize == 8:
            return text + ("L" if dtype.kind == "i" else "UL")
        return text + ("u" if dtype.kind == "u" else "")
    value = float(value)
    if dtype == np.float32 and np.isfinite(value) and abs(value) > np.finfo(np.float32).max:
        value = float("inf") if value > 0 else float("-inf")   # rounds to infinity
    if np.isnan(value):
        return "NAN" if dtype == np.float32 else "((double)NAN)"
    if np.isinf(value):
        text = "INFINITY" if dtype == np.float32 else "((double)INFINITY)"
        return text if value > 0 else f"(-{text})"
    if dtype == np.float32:
        text = str(np.float32(value))   # the shortest text that rounds back to it
        if "e" not in text and "." not in text:
            text += ".0"
        return text + "f"
    text = repr(value)
    if "e" not in text and "." not in text:
        text += ".0"
    return text
