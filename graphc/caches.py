"""The cache folders graphc and its OpenCL stack write, checked before OpenCL starts.

PoCL keeps compiled kernels in ``$POCL_CACHE_DIR`` (default ``$XDG_CACHE_HOME/pocl``),
pyopencl and pytools theirs in ``$XDG_CACHE_HOME``, graphc its probes and tuned plans in
``$XDG_CACHE_HOME/graphc``. A folder that cannot be created made PoCL report no platform
at all ("no OpenCL platform found") and pytools raise a bare ``FileNotFoundError`` from
the first kernel call. Each such folder is replaced, with a warning, by a fresh temporary
one for this process: everything works, only nothing is kept between runs.
"""
from __future__ import annotations

import atexit
import functools
import os
import shutil
import tempfile
import warnings

_VARIABLES = ("XDG_CACHE_HOME", "POCL_CACHE_DIR")
_checked = False


def ensure_usable() -> None:
    """Check (once per process) that the cache folders can be created; replace those
    that cannot, with a warning. Call before OpenCL's platforms are first listed."""
    global _checked
    if _checked:
        return
    _checked = True
    for variable in _VARIABLES:
        folder = os.environ.get(variable)
        if folder is None and variable == "XDG_CACHE_HOME":
            folder = os.path.join(os.path.expanduser("~"), ".cache")
        if folder is None or _creatable(folder):
            continue
        fallback = tempfile.mkdtemp(prefix=f"graphc-{variable.lower()}-")
        atexit.register(functools.partial(shutil.rmtree, fallback, ignore_errors=True))
        warnings.warn(f"graphc: the cache folder {folder!r} (${variable}) cannot be "
                      f"created; using {fallback!r} for this process instead (compiled "
                      f"kernels and measurements are not kept). Point ${variable} at a "
                      "writable folder to keep them", RuntimeWarning, stacklevel=3)
        os.environ[variable] = fallback


def _creatable(folder: str) -> bool:
    try:
        os.makedirs(folder, exist_ok=True)
    except OSError:
        return False
    return os.access(folder, os.W_OK | os.X_OK)
