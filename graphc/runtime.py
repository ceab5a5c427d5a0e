"""pyopencl underneath: device choice, one context and queue per device, program builds.

The runtime knows buffers, programs and kernels, not graph nodes.
"""
from __future__ import annotations

import collections
import functools
import json
import os
import string
import threading
import tempfile
import weakref
from typing import TYPE_CHECKING, Any, Optional, Union

import numpy as np

from . import caches, distributed, icd
from .errors import BuildError, CodegenError, DeviceError

if TYPE_CHECKING:
    from .target import Target


PROGRAMS_KEPT = 32     # built programs a device keeps after every function using them is gone


def _pin_pocl_threads() -> bool:
    """Ask PoCL to pin its CPU worker threads, one to each core (``POCL_AFFINITY=1``),
    unless the environment already says; only where this process may run on every core
    (cores 0..n-1 are the ones PoCL pins to). Must run before PoCL starts, so at import.

    Unpinned, the two worker threads of the 2-core VM these figures come from often
    shared one core for a stretch of many calls: the seed's x @ w1 then took 62 us
    instead of 40 us (the one-thread time), in runs that flipped between the two at
    random. Pinned, it took 39-42 us in every run, and the seed step (then 4 launches)
    went from 0.98-1.0x numpy's time to 0.93-0.95x, interleaved with numpy. Fewer launches
    pay off more once pinned: each wakes the worker on the other core.

    Ranks of an MPI run sharing a node are not pinned (PoCL would pin each rank's threads
    to the same first cores). Set ``POCL_AFFINITY=0`` to keep PoCL's default, for
    instance where other processes share the machine's cores."""
    if "POCL_AFFINITY" in os.environ or not hasattr(os, "sched_getaffinity"):
        return False
    if distributed.local_size > 1:      # each rank's threads would be pinned to core 0..
        return False
    if os.sched_getaffinity(0) != set(range(os.cpu_count() or 0)):
        return False
    os.environ["POCL_AFFINITY"] = "1"
    return True


PINNED = _pin_pocl_threads()
icd.register_intel()        # pip's Intel CPU runtime, if installed: before pyopencl loads

try:
    import pyopencl as cl
except ImportError as e:   # pragma: no cover - pyopencl is a dependency
    raise ImportError("graphc needs pyopencl: pip install 'graphc[pocl]'") from e

# {{{ buffers released by hand

# pyopencl knows whether a buffer was released but does not say, and any OpenCL call on a
# released buffer aborts PoCL: buffers released through ``release()`` are remembered (held,
# so that their ids stay theirs; the OpenCL memory itself is gone) and refused as inputs
_released: dict[int, "cl.MemoryObject"] = {}


def _remember_releases() -> None:
    release = cl.MemoryObject.release
    if getattr(release, "remembered", False):
        return

    def remembered_release(self: "cl.MemoryObject") -> None:
        release(self)
        _released[id(self)] = self

    remembered_release.remembered = True       # type: ignore[attr-defined]
    cl.MemoryObject.release = remembered_release


def released(buffer: Any) -> bool:
    """Was ``buffer`` released (by ``buffer.release()``) since graphc was imported?"""
    return _released.get(id(buffer)) is buffer


_remember_releases()

# }}}

NO_PLATFORM = ("no OpenCL platform found. Install one: `pip install 'graphc[pocl]'` adds "
               "PoCL, an OpenCL driver for the CPU (or install your GPU vendor's OpenCL "
               "driver)")


def devices() -> list:
    """Every OpenCL device on every platform, platform by platform."""
    caches.ensure_usable()      # an uncreatable PoCL cache hides every platform
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


# OpenCL platforms that simulate a device to check kernels, 100-1000x slower than a real
# one: picked only by name (``GRAPHC_DEVICE=oclgrind``), never as the default nor as "cpu"
# or "gpu" (Oclgrind's device reports every device type, GPU included).
SIMULATORS = ("oclgrind",)


def simulated(device) -> bool:
    """Is ``device`` a simulator's (Oclgrind's), to be used only when named?"""
    return any(s in _describe(device).lower() for s in SIMULATORS)


def select_device(device: Union[None, str, "cl.Device"] = None) -> "cl.Device":
    """The device for ``device=``: a ``pyopencl.Device``, ``"cpu"``, ``"gpu"``, a name
    substring, or None for ``$GRAPHC_DEVICE``, else the first GPU, else the first CPU.
    A simulator (Oclgrind) is chosen only by a substring of its name."""
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
            match = [d for d in found if d.type & kinds[wanted] and not simulated(d)]
        else:
            match = [d for d in found if wanted in _describe(d).lower()]
        if not match:
            listed = "; ".join(_describe(d) for d in found)
            origin = "device=" if device is not None else "GRAPHC_DEVICE="
            raise DeviceError(f"{origin}{spec!r} matches no OpenCL device; available: "
                              f"{listed}. Use 'cpu', 'gpu' or part of a device name (a "
                              "simulator such as Oclgrind is chosen by name only)")
        return _first_working(match, f"{spec!r}")
    found = [d for d in found if not simulated(d)] or found
    gpus = [d for d in found if d.type & cl.device_type.GPU]
    if gpus and distributed.size > 1:   # ranks on a node share its GPUs round-robin
        gpus = gpus[distributed.local_rank % len(gpus):] + gpus[:distributed.local_rank % len(gpus)]
    ranked = gpus + [d for d in found if d.type & cl.device_type.CPU]
    return _first_working(ranked or found, "default")


def _first_working(candidates: list, what: str) -> "cl.Device":
    """The first device that compiles a trivial kernel: a driver may list a device that
    cannot compile for this machine (pip's PoCL 3.0 on CPUs its LLVM 14 does not know, such
    as a Zen 5). Which vector widths a working device compiles is the target's probe; a
    device whose verdict is on disk compiled and ran it, and is not built for again."""
    from . import target
    failures = []
    for device in candidates:
        if target.compiled_before(device):
            return device
        target.probe_early(device)      # its child process builds while _probe does
        error = _probe(device)
        if error is None:
            return device
        failures.append(f"{_describe(device)}: {error}")
    raise DeviceError(f"no {what} OpenCL device could compile a kernel:\n  "
                      + "\n  ".join(failures) + "\nIf pip's PoCL cannot compile for this CPU "
                      "(\"unknown target CPU\": its LLVM 14 does not know it), install your "
                      "distribution's PoCL, e.g. `apt-get update && apt-get install "
                      "pocl-opencl-icd`, or Intel's CPU runtime: `pip install 'graphc[intel]'`")


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
        # programs by source: the last few built, and any a function still holds
        self.programs: collections.OrderedDict[str, "cl.Program"] = collections.OrderedDict()
        self.live: weakref.WeakValueDictionary[str, "cl.Program"] = \
            weakref.WeakValueDictionary()
        self._cache_lock = threading.Lock()
        # one call at a time on this queue: functions sharing parameters and buffers
        # never interleave their kernels
        self.lock = threading.RLock()

    @functools.cached_property
    def target(self) -> "Target":
        """The kernel-shaping facts of this device (see ``graphc.target``): what it
        reports, the widest vectors it compiles (probed once, kept on disk) and its peaks
        if measured."""
        from . import target
        return target.from_device(self.device, peaks=known_peaks(self.device))

    @property
    def has_fp64(self) -> bool:
        return bool(self.device.double_fp_config)

    def alloc(self, nbytes: int) -> "cl.Buffer":
        self.check_size(nbytes, "a device buffer")
        return cl.Buffer(self.context, cl.mem_flags.READ_WRITE, max(int(nbytes), 1))

    def upload(self, array: np.ndarray) -> "cl.Buffer":
        array = np.ascontiguousarray(array)
        self.check_size(array.nbytes, f"an array of shape {array.shape} ({array.dtype})")
        return cl.Buffer(self.context, cl.mem_flags.READ_WRITE | cl.mem_flags.COPY_HOST_PTR,
                         hostbuf=array) if array.nbytes else self.alloc(1)

    def check_size(self, nbytes: int, what: str) -> None:
        """A ``DeviceError`` naming ``what``, its size and the limit where ``nbytes`` is
        over the device's largest buffer (OpenCL's bare INVALID_BUFFER_SIZE else)."""
        limit = int(self.device.max_mem_alloc_size)
        if nbytes > limit:
            raise DeviceError(f"{what} needs {nbytes} bytes ({nbytes / 2**20:.1f} MiB) in one "
                              f"buffer, over {_describe(self.device)}'s limit of {limit} "
                              f"bytes ({limit / 2**20:.1f} MiB, max_mem_alloc_size): split "
                              "the work into smaller calls, or use a device with more "
                              "memory")
    def wait_produced(self, a: Any) -> None:
        """Wait for the commands producing pyopencl array ``a`` that may not have finished
        before the kernels enqueued next on this queue read it: those of another queue
        (all of them, whether ``a`` records their events or not), and those its events
        name. This in-order queue runs its own commands first anyway."""
        if a.queue is not self.queue and a.queue is not None and a.queue != self.queue:
            a.queue.finish()
        if a.events:
            cl.wait_for_events(a.events)

    def check_group_sizes(self, program: "cl.Program", specs: list) -> None:
        """A device can run a kernel in smaller work-groups than its maximum (registers
        and local memory limit it): say so before a launch fails with
        CL_INVALID_WORK_GROUP_SIZE."""
        for spec in specs:
            wanted = int(np.prod(spec.local_size))
            if wanted <= 1:
                continue
            most = cl.Kernel(program, spec.name).get_work_group_info(
                cl.kernel_work_group_info.WORK_GROUP_SIZE, self.device)
            if wanted > most:
                raise CodegenError(
                    f"kernel {spec.name} ({spec.kind}) needs work-groups of {wanted} "
                    f"work-items but {self.device.name.strip()} runs it in at most {most}; "
                    "please report this with the output of `python -m graphc devices`, and "
                    "compile for another device meanwhile")

    def write(self, buffer: "cl.Buffer", array: np.ndarray) -> None:
        """Copy ``array`` into ``buffer`` (done when this returns)."""
        cl.enqueue_copy(self.queue, buffer, np.ascontiguousarray(array))

    def read(self, buffer: "cl.Buffer", like: np.ndarray) -> np.ndarray:
        """A new host array shaped as ``like``, read from ``buffer``."""
        host = np.empty(like.shape, like.dtype)
        cl.enqueue_copy(self.queue, host, buffer)
        return host

    def build(self, source: str) -> "cl.Program":
        """Build ``source`` once per device while a function holds it, and keep the
        ``PROGRAMS_KEPT`` last built (a program holds megabytes of host memory: a cache of
        every program ever built grows without bound)."""
        with self._cache_lock:
            program = self.programs.get(source)
            if program is None:
                program = self.live.get(source)
            if program is not None:
                self._keep(source, program)
                return program
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
        with self._cache_lock:
            self.live[source] = program
            self._keep(source, program)
        return program

    def _keep(self, source: str, program: "cl.Program") -> None:
        self.programs[source] = program
        self.programs.move_to_end(source)
        while len(self.programs) > PROGRAMS_KEPT:
            self.programs.popitem(last=False)


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


# {{{ peak rates: a small probe, measured once per device and kept on disk

_PROBE = """
__kernel void fma_peak(__global float* out, const float seed)
{
    // 8 independent chains of $W-wide FMAs: enough to fill two FMA ports
    $V a0 = seed, a1 = seed + 1, a2 = seed + 2, a3 = seed + 3;
    $V a4 = seed + 4, a5 = seed + 5, a6 = seed + 6, a7 = seed + 7;
    const $V m = 0.999f, c = 0.001f;
    for (int k = 0; k < 4096; k++) {
        a0 = a0 * m + c; a1 = a1 * m + c; a2 = a2 * m + c; a3 = a3 * m + c;
        a4 = a4 * m + c; a5 = a5 * m + c; a6 = a6 * m + c; a7 = a7 * m + c;
    }
    // every lane reaches the output: a compiler drops the lanes nothing reads (NVIDIA's
    // did, and the probe read 4x the peak)
    $V s = a0 + a1 + a2 + a3 + a4 + a5 + a6 + a7;
$fold
}

__kernel void copy_peak(__global const float4* restrict src, __global float4* restrict dst)
{
    const int i = get_global_id(0);
    dst[i] = src[i];
}
"""


def _probe_source(width: int) -> str:
    """The peak probe with ``width``-wide float vectors (16, 8, 4, 2 or 1), folded by
    halves into one output."""
    def vector(w: int) -> str:
        return f"float{w}" if w > 1 else "float"
    fold, name, w = [], "s", width
    while w > 1:
        w //= 2
        fold.append(f"    {vector(w)} {name}h = {name}.lo + {name}.hi;")
        name += "h"
    fold.append(f"    out[get_global_id(0)] = {name};")
    return string.Template(_PROBE).substitute(W=width, V=vector(width), fold="\n".join(fold))


def _peaks_path() -> str:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "graphc", "peaks.json")


_PROBE_VERSION = 2      # bumped when the probe changes, so older measurements are ignored


def _device_key(device: "cl.Device") -> str:
    return (f"{device.platform.name.strip()} | {device.name.strip()} | "
            f"{device.driver_version} | probe {_PROBE_VERSION}")


def known_peaks(device: "cl.Device") -> Optional[dict]:
    """Peak rates measured earlier for ``device`` (``gflops``, ``gbps``), or None."""
    try:
        with open(_peaks_path()) as f:
            found = json.load(f)
    except (OSError, ValueError):
        return None
    found = found.get(_device_key(device)) if isinstance(found, dict) else None
    if not (isinstance(found, dict) and all(isinstance(found.get(k), (int, float))
                                            and found[k] > 0 for k in ("gflops", "gbps"))):
        return None             # [], null or an edited entry: measured again
    return {k: float(found[k]) for k in ("gflops", "gbps")}


# a peak measured while the machine's load average was at least this share of its cores
# is used by this process only, not kept: a probe shared with other work reads low (one
# such probe, kept, read 248 GFLOP/s on a CPU that reaches 485 alone)
BUSY_LOAD = 0.75


def busy() -> bool:
    """Is this machine busy with other work (by its 1-minute load average)?"""
    try:
        return os.getloadavg()[0] >= BUSY_LOAD * (os.cpu_count() or 1)
    except OSError:          # pragma: no cover - no load average on this system
        return False


def peak_rates(ctx: DeviceContext, fresh: bool = False) -> dict:
    """float32 FMA GFLOP/s and copy GB/s of the device, measured once and kept on disk
    (``fresh``: measured again, and kept whatever the load). A measurement taken on a
    busy machine (``busy``) is not kept unless ``fresh``: the next process measures
    again. A kept rate is only ever raised (``_keep_peaks``)."""
    found = None if fresh else known_peaks(ctx.device)
    if found is not None:
        return found
    if fresh or not busy():
        return _keep_peaks(ctx.device, _measure_peaks(ctx))
    return _measure_peaks(ctx)


def _measure_peaks(ctx: DeviceContext) -> dict:
    """The FMA and copy probes, each the best of 8 timed launches after an untimed one."""
    width = min(16, ctx.target.widest(np.float32))    # a width the device compiles
    program = ctx.build(_probe_source(width))
    queue = ctx.queue
    per_unit, local = ctx.target.peak_probe_shape()
    items = per_unit * max(1, ctx.device.max_compute_units)   # ms, not us
    out = ctx.alloc(items * 4)
    fma = cl.Kernel(program, "fma_peak")
    fma.set_args(out, np.float32(0.5))
    n = 8 << 20                                   # 32 MiB each way
    src, dst = ctx.alloc(n * 4), ctx.alloc(n * 4)
    copy = cl.Kernel(program, "copy_peak")
    copy.set_args(src, dst)

    def best(kernel, size, local) -> float:
        times = []
        for _ in range(9):
            event = cl.enqueue_nd_range_kernel(queue, kernel, (size,), local)
            event.wait()
            times.append((event.profile.end - event.profile.start) * 1e-9)
        return min(times[1:])

    flops = items * 4096 * 8 * width * 2 / best(fma, items, local)
    bandwidth = 2 * n * 4 / best(copy, n // 4, None)
    return {"gflops": flops / 1e9, "gbps": bandwidth / 1e9}


def _keep_peaks(device: "cl.Device", peaks: dict) -> dict:
    """Write ``peaks`` into the table on disk under ``device``'s key (best effort), each
    rate the higher of it and the one kept: other work only ever slows a probe down (on the
    2-core VM quiet probes read 418-485 GFLOP/s and 54-105 GB/s from run to run). Returns
    the rates kept."""
    path = _peaks_path()
    try:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        try:
            with open(path) as f:
                table = json.load(f)
        except (OSError, ValueError):
            table = {}
        table = table if isinstance(table, dict) else {}
        key = _device_key(device)
        kept = table.get(key)
        if isinstance(kept, dict):     # a rate measured is one the device reaches
            peaks = {k: max(v, kept[k]) if isinstance(kept.get(k), (int, float)) else v
                     for k, v in peaks.items()}
        table[key] = peaks
        with open(path, "w") as f:
            json.dump(table, f, indent=1)
    except OSError:
        pass
    return peaks

# }}}
