"""pyopencl underneath: device choice, one context and queue per device, program builds.

The runtime knows buffers, programs and kernels, not graph nodes.
"""
from __future__ import annotations

import functools
import os
import tempfile
from typing import Optional, Union

import numpy as np

from . import distributed
from .errors import BuildError, DeviceError

try:
    import pyopencl as cl
except ImportError as e:   # pragma: no cover - pyopencl is a dependency
    raise ImportError("graphc needs pyopencl: pip install 'graphc[pocl]'") from e

NO_PLATFORM = ("no OpenCL platform found. Install one: `pip install 'graphc[pocl]'` adds "
               "PoCL, an OpenCL driver for the CPU (or install your GPU vendor's OpenCL "
               "driver)")


def devices() -> list:
    """Every OpenCL device on every platform, platform by platform."""
    try:
        platforms = cl.get_platforms()
    except cl.Error:
        platforms = []
    found = [d for p in platforms for d in _platform_devices(p)]
    if not found:
        raise DeviceError(NO_PLATFORM)
    return found


def _platform_devices(platform) -> list:
    try:
        return platform.get_devices()
    except cl.Error:
        return []


def _describe(device) -> str:
    return f"{device.platform.name.strip()}: {device.name.strip()}"


def select_device(device: Union[None, str, "cl.Device"] = None) -> "cl.Device":
    """The device for ``device=``: a ``pyopencl.Device``, ``"cpu"``, ``"gpu"``, a name
    substring, or None for ``$GRAPHC_DEVICE``, else the first GPU, else the first CPU."""
    if isinstance(device, cl.Device):
        return device
    if device is not None and not isinstance(device, str):
        raise TypeError(f"device= takes a pyopencl.Device or a string, got "
                        f"{type(device).__name__}")
    spec = device if device is not None else os.environ.get("GRAPHC_DEVICE", "")
    found = devices()
    if spec:
        wanted = spec.strip().lower()
        kinds = {"cpu": cl.device_type.CPU, "gpu": cl.device_type.GPU}
        if wanted in kinds:
            match = [d for d in found if d.type & kinds[wanted]]
        else:
            match = [d for d in found if wanted in _describe(d).lower()]
        if not match:
            listed = "; ".join(_describe(d) for d in found)
            origin = "device=" if device is not None else "GRAPHC_DEVICE="
            raise DeviceError(f"{origin}{spec!r} matches no OpenCL device; available: "
                              f"{listed}. Use 'cpu', 'gpu' or part of a device name")
        return _first_working(match, f"{spec!r}")
    gpus = [d for d in found if d.type & cl.device_type.GPU]
    if gpus and distributed.size > 1:   # ranks on a node share its GPUs round-robin
        gpus = gpus[distributed.local_rank % len(gpus):] + gpus[:distributed.local_rank % len(gpus)]
    ranked = gpus + [d for d in found if d.type & cl.device_type.CPU]
    return _first_working(ranked or found, "default")


def _first_working(candidates: list, what: str) -> "cl.Device":
    """The first device that compiles a trivial kernel: a driver may list a device that
    cannot compile for this machine (pip's PoCL 3.0 on CPUs its LLVM 14 does not know)."""
    failures = []
    for device in candidates:
        error = _probe(device)
        if error is None:
            return device
        failures.append(f"{_describe(device)}: {error}")
    raise DeviceError(f"no {what} OpenCL device could compile a kernel:\n  "
                      + "\n  ".join(failures) + "\nIf pip's PoCL cannot compile for this CPU "
                      "(\"unknown target CPU\"), install your distribution's PoCL, e.g. "
                      "`apt-get install pocl-opencl-icd`")


@functools.lru_cache(maxsize=None)
def _probe_cached(int_ptr: int, device: "cl.Device") -> Optional[str]:
    try:
        cl.Program(context_for(device).context,
                   "__kernel void probe(__global float* a) { a[0] = 1.0f; }").build()
    except cl.Error as e:
        lines = [line for line in str(e).splitlines() if "error" in line.lower()]
        return lines[-1].strip() if lines else str(e).splitlines()[0]
    return None


def _probe(device: "cl.Device") -> Optional[str]:
    return _probe_cached(device.int_ptr, device)


class DeviceContext:
    """The context and in-order queue graphc uses on one device, shared by all functions."""

    def __init__(self, device: "cl.Device"):
        self.device = device
        self.context = cl.Context([device])
        self.queue = cl.CommandQueue(
            self.context, properties=cl.command_queue_properties.PROFILING_ENABLE)
        self.programs: dict[str, "cl.Program"] = {}

    @property
    def has_fp64(self) -> bool:
        return bool(self.device.double_fp_config)

    def alloc(self, nbytes: int) -> "cl.Buffer":
        return cl.Buffer(self.context, cl.mem_flags.READ_WRITE, max(int(nbytes), 1))

    def upload(self, array: np.ndarray) -> "cl.Buffer":
        array = np.ascontiguousarray(array)
        return cl.Buffer(self.context, cl.mem_flags.READ_WRITE | cl.mem_flags.COPY_HOST_PTR,
                         hostbuf=array) if array.nbytes else self.alloc(1)

    def build(self, source: str) -> "cl.Program":
        """Build ``source`` once per device (pyopencl keeps binaries on disk as well)."""
        program = self.programs.get(source)
        if program is None:
            options: list[str] = []
            try:
                program = cl.Program(self.context, source).build(options=options)
            except cl.RuntimeError as e:
                path = _save_source(source)
                raise BuildError(
                    f"the OpenCL compiler rejected a generated program for "
                    f"{_describe(self.device)} (source saved to {path}, options "
                    f"{options}):\n{e}", log=str(e), options=tuple(options),
                    source_path=path) from None
            self.programs[source] = program
        return program


def _save_source(source: str) -> str:
    fd, path = tempfile.mkstemp(prefix="graphc-", suffix=".cl")
    with os.fdopen(fd, "w") as f:
        f.write(source)
    return path


@functools.lru_cache(maxsize=None)
def _context_for(int_ptr: int, device: "cl.Device") -> DeviceContext:
    return DeviceContext(device)


def context_for(device: "cl.Device") -> DeviceContext:
    """The one ``DeviceContext`` of ``device`` (made on first use)."""
    return _context_for(device.int_ptr, device)


def device_context(device: Union[None, str, "cl.Device"] = None) -> DeviceContext:
    return context_for(select_device(device))
