"""OpenCL drivers installed by pip that no ``.icd`` file announces: Intel's CPU runtime.

The ``intel`` extra (``pip install 'graphc[intel]'``: ``intel-opencl-rt`` with
``intel-cmplr-lib-rt``) puts ``libintelocl.so`` in ``<prefix>/lib``, but its ``.icd`` file
names a path from the build machine. Before pyopencl loads the ICD loader, graphc writes a
vendors folder holding the system's ``.icd`` files and one for that library, and points
``OCL_ICD_VENDORS`` at it: the loader then lists Intel's CPU device beside the others.
"""
from __future__ import annotations

import glob
import os
import sys
import tempfile
from typing import Optional

SYSTEM_VENDORS = "/etc/OpenCL/vendors"


def intel_library(prefix: str = sys.prefix) -> Optional[str]:
    """The path of pip's ``libintelocl.so`` under ``prefix``, or None."""
    path = os.path.join(prefix, "lib", "libintelocl.so")
    return path if os.path.isfile(path) else None


def _vendors_dir() -> str:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "graphc", "icd")


def register_intel(environ: Optional[dict] = None, prefix: str = sys.prefix,
                   system: str = SYSTEM_VENDORS) -> Optional[str]:
    """Point ``OCL_ICD_VENDORS`` at a folder with ``system``'s ``.icd`` files and one for
    pip's Intel CPU runtime; returns the folder, or None where there is nothing to do (no
    runtime installed, ``OCL_ICD_VENDORS`` already set, or ``GRAPHC_INTEL=0``). Must run
    before pyopencl is imported."""
    env = os.environ if environ is None else environ
    library = intel_library(prefix)
    if library is None or "OCL_ICD_VENDORS" in env or env.get("GRAPHC_INTEL") == "0":
        return None
    folder = _vendors_dir()
    try:
        os.makedirs(folder, exist_ok=True)
        icds = {os.path.basename(p): open(p).read()
                for p in sorted(glob.glob(os.path.join(system, "*.icd")))}
        icds["graphc-intel-cpu.icd"] = library + "\n"
        for name, text in icds.items():
            fd, tmp = tempfile.mkstemp(dir=folder, suffix=".tmp")
            with os.fdopen(fd, "w") as f:
                f.write(text)
            os.replace(tmp, os.path.join(folder, name))   # other processes may read it
        for stale in set(map(os.path.basename, glob.glob(os.path.join(folder, "*.icd")))) \
                - set(icds):
            os.remove(os.path.join(folder, stale))
    except OSError:
        return None
    env["OCL_ICD_VENDORS"] = folder
    return folder
