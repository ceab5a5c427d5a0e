"""What kernel shapes depend on, read from the device: a ``Target``.

A target holds the numbers a device reports (compute units, work-group and local memory
limits, preferred and native vector widths, fp64, extensions), the widest vectors it
really compiles (a probe, below) and its measured peaks where known. ``CPUTarget`` and
``GPUTarget`` own the heuristics: code generation asks the target, never a device kind.

Targets need no device: ``CPUTarget.describe()`` and ``GPUTarget.describe()`` give a
2-core AVX-512 CPU and an H200-like GPU, for generating code where there is no driver.
This module does not import pyopencl; the probe's child process does.
"""
from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
import tempfile
import threading
from typing import Any, Callable, Optional

import numpy as np

TINY_REDUCTION = 4096           # elements in all, below which a CPU reduces serially
SCAN_ROWS = 32                  # rows a CPU work-item scans at once along an outer axis

# The vector widths to try, widest first, per dtype: 512, 256 and 128 bits.
WIDTHS = {"float32": (16, 8, 4), "float64": (8, 4, 2)}


def _dtype_name(dtype: Any) -> str:
    return np.dtype(dtype).name


@dataclasses.dataclass(frozen=True)
class Target:
    """The kernel-shaping facts of one device.

    ``Target(kind, ...)`` makes a ``CPUTarget`` or a ``GPUTarget`` by ``kind`` (``"cpu"``
    or ``"gpu"``). Widths are in elements; ``compiled`` maps a dtype name to the widest
    vector the device compiled in the probe (None: not probed, the reported widths are
    trusted). ``peak_gflops`` and ``peak_gbps`` are graphc's measurements, if made.
    """

    kind: str = "cpu"
    compute_units: int = 2
    max_group: int = 1024
    name: str = ""
    local_memory: int = 32 << 10
    global_memory: int = 0
    preferred: tuple = (("float32", 16), ("float64", 8))
    native: tuple = (("float32", 16), ("float64", 8))
    fp64: bool = True
    extensions: frozenset = dataclasses.field(default=frozenset(), repr=False)
    compiled: Optional[tuple] = None
    peak_gflops: Optional[float] = None
    peak_gbps: Optional[float] = None

    def __new__(cls, kind: str = "cpu", *args: Any, **kwargs: Any) -> "Target":
        if cls is Target:
            cls = GPUTarget if kind == "gpu" else CPUTarget
        return object.__new__(cls)

    def group_size(self, wanted: int) -> int:
        """``wanted`` work-items, capped at the device's largest work-group."""
        return max(1, min(wanted, self.max_group))

    def widest(self, dtype: Any) -> int:
        """The widest vector of ``dtype`` the device compiles: the probe's verdict where
        there is one, else the native width the device reports (at least 1)."""
        name = _dtype_name(dtype)
        if name == "float64" and not self.fp64:
            return 1
        reported = dict(self.native).get(name, 1)
        if self.compiled is None:
            return max(1, reported)
        return max(1, dict(self.compiled).get(name, 1))

    def lanes(self, dtype: Any) -> int:
        """Elements of ``dtype`` one work-item computes as one vector (1: scalar)."""
        raise NotImplementedError

    # The decisions below are the CPU's; GPUTarget overrides each.
    shares_launches = True      # independent kernels of one-item work-groups share a launch
    chains_rows = True          # matmuls over the same rows run as one chain of blocks
    packs_transposed = True     # transposed matmul operands are first copied into rows
    vector_epilogues = True     # matmul epilogues run once per accumulator vector
    planes = True               # scalar elementwise kernels run a plane (2 axes) an item
    matmul_model = "registers"  # "registers": a work-item a register tile; "workgroups"
    scatter_rows = True         # a scatter's work-item sums a bucket's whole row of columns

    def elementwise_group(self, items: int, lanes: int) -> int:
        """Work-group size of an elementwise kernel of ``items`` work-items."""
        raise NotImplementedError

    def reduction(self, outs: int, reduced: int, inner_kept: bool) -> tuple:
        """How to reduce ``reduced`` elements into each of ``outs`` outputs (the innermost
        axis is kept: ``inner_kept``): ``("items", W, local)``, W outputs a work-item in
        work-groups of ``local``, or ``("group", 1, local)``, a work-group an output."""
        raise NotImplementedError

    def search(self, outs: int, reduced: int, inner_kept: bool) -> tuple:
        """How an argmax or argmin folds: as ``reduction`` answers, by default."""
        return self.reduction(outs, reduced, inner_kept)

    def maxmask_group(self, outs: int) -> int:
        """Work-group size of a max-mask kernel (one work-item per output)."""
        raise NotImplementedError

    def scan(self, rows: int, inner_kept: bool) -> tuple:
        """``(W, local)``: W rows a work-item of a scan kernel, in work-groups of
        ``local`` (the innermost axis is kept, not scanned: ``inner_kept``)."""
        raise NotImplementedError

    def peak_probe_shape(self) -> tuple:
        """(work-items per compute unit, local size) of the FMA peak probe."""
        raise NotImplementedError


def _pow2_at_least(limit: int) -> int:
    """The smallest power of two at least ``limit`` (1 for ``limit <= 1``)."""
    local = 1
    while local < limit:
        local *= 2
    return local


def _divisor_near(size: int, wanted: int, most: int) -> int:
    """The divisor of ``size`` nearest ``wanted`` from 16 up to ``most`` (preferring the
    larger on ties), else ``wanted``."""
    best = None
    for d in range(16, min(size, most) + 1):
        if size % d == 0 and (best is None or abs(d - wanted) <= abs(best - wanted)):
            best = d
    return best if best is not None else wanted


@dataclasses.dataclass(frozen=True)
class CPUTarget(Target):
    """A CPU: a work-item is a loop over one core's SIMD lanes, so kernels give each
    work-item a vector or a register tile, in work-groups of one where they can."""

    kind: str = "cpu"

    @classmethod
    def describe(cls, compute_units: int = 2, vector_bits: int = 512, **fields: Any
                 ) -> "CPUTarget":
        """A CPU of ``compute_units`` cores with ``vector_bits``-wide SIMD, as PoCL
        reports one (work-groups up to 4096, fp64); ``fields`` override the rest."""
        widths = (("float32", vector_bits // 32), ("float64", vector_bits // 64))
        base = dict(compute_units=compute_units, max_group=4096, name="a described CPU",
                    local_memory=4 << 20, preferred=widths, native=widths)
        return cls(**dict(base, **fields))

    def lanes(self, dtype: Any) -> int:
        # the SIMD width, where the device compiles it (else the widest that does); not
        # the preferred width: Intel's CPU runtime prefers 1, as it vectorises across
        # work-items, while PoCL calls builtins one lane at a time on scalars
        native = max(1, dict(self.native).get(_dtype_name(dtype), 1))
        return min(native, self.widest(dtype))

    def vector_registers(self, dtype: Any) -> int:
        """Vector registers of the widest width: 32 with 512-bit vectors (AVX-512),
        16 below (AVX2's ymm registers)."""
        return 32 if self.lanes(dtype) * np.dtype(dtype).itemsize >= 64 else 16

    def elementwise_group(self, items: int, lanes: int) -> int:
        # PoCL runs a work-group's work-items as one vectorised loop, but not past an
        # early return: a guard halved a*x+y's bandwidth. A work-group size that divides
        # the work-items needs no guard.
        if items <= 16:
            return items
        wanted = 16 if lanes > 1 else min(items, self.group_size(64))
        return _divisor_near(items, wanted, self.group_size(256))

    def reduction(self, outs: int, reduced: int, inner_kept: bool) -> tuple:
        # A small reduction: one work-item per output, no barriers, so that it can share a
        # launch with other kernels; the seed's loss sums 640 elements in 0.5 us this way,
        # against 1.2 us for a work-group's tree. Many outputs with the innermost axis
        # kept: 32 outputs a work-item, so a step reads along a row (summing 4096 x 2048
        # over its rows one output at a time walked a column 10x slower than numpy; 16
        # outputs were 2.4x slower, 32 are 2.2x faster). Else a work-group per output:
        # 16 lanes when the outputs alone fill the cores.
        if outs * reduced <= TINY_REDUCTION:
            return "items", 1, 1
        if inner_kept and outs >= 64 * self.compute_units:
            return "items", 32, 1
        cap = 16 if outs >= 8 * self.compute_units else 128
        return "group", 1, _pow2_at_least(min(reduced, self.group_size(cap)))

    def search(self, outs: int, reduced: int, inner_kept: bool) -> tuple:
        # Never a work-group's tree: PoCL runs the tree of (value, index) pairs slowly.
        # An argmax of 4M elements took 27 ms by a tree of 128, 2.1 ms in one work-item;
        # 4096 rows of 1000, 8.2 ms by trees of 16, 4.1 ms a work-item a row
        kind, W, local = self.reduction(outs, reduced, inner_kept)
        return (kind, W, local) if kind == "items" else ("items", 1, 1)

    def maxmask_group(self, outs: int) -> int:
        return 1

    def scan(self, rows: int, inner_kept: bool) -> tuple:
        # One-item work-groups share launches with other small kernels. With the inner
        # axis kept, SCAN_ROWS neighbouring rows a work-item read a line at each step:
        # cumsum over the 4096 rows of 4096 x 1024 took 86 ms a row a work-item, 21 ms
        # by 8, 11 ms by 16, 8 ms by 32 (numpy: 147 ms, torch on 2 threads: 114 ms)
        if inner_kept and rows >= SCAN_ROWS * 4 * self.compute_units:
            return SCAN_ROWS, 1
        return 1, 1

    def peak_probe_shape(self) -> tuple:
        return 1024, (1,)


@dataclasses.dataclass(frozen=True)
class GPUTarget(Target):
    """A GPU: a work-item is one lane, so tiles are small and work-groups many lanes
    wide; every kernel is launched on its own."""

    kind: str = "gpu"
    shares_launches = False
    scatter_rows = False
    chains_rows = False
    packs_transposed = False
    vector_epilogues = False
    planes = False
    matmul_model = "workgroups"

    @classmethod
    def describe(cls, compute_units: int = 132, max_group: int = 1024, **fields: Any
                 ) -> "GPUTarget":
        """A GPU like an NVIDIA H200 through NVIDIA's OpenCL driver (132 compute units,
        work-groups up to 1024, 48 KiB of local memory); ``fields`` override the rest."""
        widths = (("float32", 1), ("float64", 1))
        base = dict(compute_units=compute_units, max_group=max_group,
                    name="a described GPU", local_memory=48 << 10, global_memory=140 << 30,
                    preferred=widths, native=widths)
        return cls(**dict(base, **fields))

    def widest(self, dtype: Any) -> int:
        # OpenCL C has vectors up to 16 on every device; GPUs report 1 as preferred
        if _dtype_name(dtype) == "float64" and not self.fp64:
            return 1
        return 16 if self.compiled is None else dict(self.compiled).get(_dtype_name(dtype), 1)

    def lanes(self, dtype: Any) -> int:
        return 1

    def elementwise_group(self, items: int, lanes: int) -> int:
        return min(items, self.group_size(256))

    def reduction(self, outs: int, reduced: int, inner_kept: bool) -> tuple:
        if inner_kept and outs >= 2048:      # a lane an output, neighbours coalesced
            return "items", 1, min(self.group_size(128), outs)
        return "group", 1, _pow2_at_least(min(reduced, self.group_size(256)))

    def maxmask_group(self, outs: int) -> int:
        return min(outs, self.group_size(64))

    def scan(self, rows: int, inner_kept: bool) -> tuple:
        return 1, min(rows, self.group_size(64))

    def peak_probe_shape(self) -> tuple:
        return 2048, (min(256, self.max_group),)


CPU = CPUTarget.describe()
GPU = GPUTarget.describe()


# {{{ from a device, and the vector-width probe

CL_DEVICE_TYPE_GPU = 1 << 2


def from_device(device: Any, probe: bool = True, peaks: Optional[dict] = None,
                child: Optional[Callable[[list], dict]] = None) -> Target:
    """The target of ``device`` (a ``pyopencl.Device``, or anything with its attributes)
    from what it reports. On a CPU, ``probe`` adds the widest vectors it really compiles
    (``compiled_widths``, which runs ``child``); ``peaks`` are measured rates."""
    kind = "gpu" if device.type & CL_DEVICE_TYPE_GPU else "cpu"
    fp64 = bool(device.double_fp_config)
    preferred = (("float32", int(device.preferred_vector_width_float)),
                 ("float64", int(device.preferred_vector_width_double)))
    native = (("float32", int(device.native_vector_width_float)),
              ("float64", int(device.native_vector_width_double)))
    compiled = None
    if probe and kind == "cpu":
        compiled = tuple(sorted(compiled_widths(device, fp64, child).items()))
    peaks = peaks or {}
    return Target(kind, compute_units=max(1, int(device.max_compute_units)),
                  max_group=max(1, int(device.max_work_group_size)),
                  name=device.name.strip(), local_memory=int(device.local_mem_size),
                  global_memory=int(device.global_mem_size), preferred=preferred,
                  native=native, fp64=fp64, extensions=frozenset(device.extensions.split()),
                  compiled=compiled, peak_gflops=peaks.get("gflops"),
                  peak_gbps=peaks.get("gbps"))


_PROBE_VERSION = 1      # bumped when the probed kernel changes: older verdicts are ignored

# Kernel builds take ~0.4 s on PoCL, Python and pyopencl start in ~0.3 s; a failing
# width hangs (40-160 s) or crashes. 20 s leaves room for a loaded machine.
PROBE_TIMEOUT = float(os.environ.get("GRAPHC_PROBE_TIMEOUT", "20"))

# The constructs graphc's kernels use on vectors: vload/vstore, arithmetic, exp, tanh,
# fmax, a comparison feeding select, conversions. Run, and checked against numpy in the
# child: a broken vector ABI may also give wrong numbers.
_KERNEL = """
$pragma
__kernel void probe(__global $T* a)
{
    const int i = get_global_id(0);
    const $V x = vload$W(i, a);
    const $V y = exp(x) * ($T)0.5 + fmax(x, ($V)(0)) * tanh(x);
    const $V z = select(y, x, isgreater(x, ($V)(0.25)));
    vstore$W(z + convert_$V(convert_int$W(x * ($T)4)), i, a);
}
"""

_CHILD = r"""
import string, sys
import numpy as np
import pyopencl as cl
platform, device, kernel = sys.argv[1], sys.argv[2], sys.argv[3]
found = [d for p in cl.get_platforms() if p.name.strip() == platform
         for d in p.get_devices() if d.name.strip() == device]
ctx = cl.Context(found[:1])
queue = cl.CommandQueue(ctx)
for pair in sys.argv[4:]:
    dtype, width = pair.split(":")
    T, W = {"float32": "float", "float64": "double"}[dtype], int(width)
    pragma = "#pragma OPENCL EXTENSION cl_khr_fp64 : enable" if T == "double" else ""
    src = string.Template(kernel).substitute(T=T, W=W, V=f"{T}{W}", pragma=pragma)
    x = np.linspace(-1, 1, 4 * W).astype(dtype)
    buf = cl.Buffer(ctx, cl.mem_flags.READ_WRITE | cl.mem_flags.COPY_HOST_PTR, hostbuf=x)
    program = cl.Program(ctx, src).build()
    kern = cl.Kernel(program, "probe")
    kern.set_args(buf)
    cl.enqueue_nd_range_kernel(queue, kern, (4,), (1,))
    got = np.empty_like(x)
    cl.enqueue_copy(queue, got, buf)
    queue.finish()
    y = np.exp(x) * 0.5 + np.maximum(x, 0) * np.tanh(x)
    want = np.where(x > 0.25, x, y) + np.trunc(x * 4)
    ok = np.allclose(got, want, rtol=1e-4, atol=1e-5)
    print(f"{dtype}:{W}:{'ok' if ok else 'wrong'}", flush=True)
"""


def _widths_path() -> str:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "graphc", "widths.json")


def device_key(platform: str, device: str, driver: str) -> str:
    """The key of a device's verdicts on disk: platform, device, driver, probe version."""
    return f"{platform} | {device} | {driver} | widths {_PROBE_VERSION}"


WIDTH_CHILD = os.path.join(os.path.dirname(os.path.abspath(__file__)), "width_child.py")


def opencl_library() -> Optional[str]:
    """The OpenCL library (the ICD loader) this process has loaded, pyopencl's: read from
    ``/proc/self/maps`` (Linux), else None (then the child imports pyopencl, ``_CHILD``)."""
    try:
        with open("/proc/self/maps") as f:
            for line in f:
                parts = line.split(None, 5)
                if len(parts) == 6 and os.path.basename(parts[5]).startswith("libOpenCL"):
                    return parts[5].strip()
    except OSError:
        pass
    return None


def run_child(platform: str, device: str, pairs: list,
              timeout: float = PROBE_TIMEOUT) -> dict:
    """Build and run the probe kernel for each ``"dtype:width"`` of ``pairs`` in one
    child process, in order, and return {pair: passed}. A crash or a hang (killed after
    ``timeout`` seconds) fails the pair it stopped at and leaves the rest unknown
    (absent). The child inherits the environment but has its own PoCL cache, so that a
    half-written kernel never reaches the real cache, nor a stale one the verdict. It
    calls the OpenCL library this process loaded through ctypes (``width_child.py``)
    where that library is known: a child importing numpy and pyopencl took ~1 s more of
    the 2 CPU cores on the path to a first loss with cold caches."""
    with tempfile.TemporaryDirectory(prefix="graphc-probe-") as cache:
        env = dict(os.environ, POCL_CACHE_DIR=cache)
        library = opencl_library()
        if library is None:
            args = [sys.executable, "-c", _CHILD, platform, device, _KERNEL]
        else:       # the same loader through ctypes: no numpy or pyopencl to import
            args = [sys.executable, "-S", WIDTH_CHILD, library, platform, device, _KERNEL]
            # pyopencl's wheel ships drivers beside its loader, which the loader finds
            # there only when pyopencl loaded it: the child looks there last
            env["LD_LIBRARY_PATH"] = os.pathsep.join(
                [p for p in [env.get("LD_LIBRARY_PATH")] if p] + [os.path.dirname(library)])
        args += list(pairs)
        try:
            done = subprocess.run(args, env=env, capture_output=True, text=True,
                                  timeout=timeout)
            out = done.stdout
        except subprocess.TimeoutExpired as e:
            out = e.stdout.decode() if isinstance(e.stdout, bytes) else (e.stdout or "")
    verdict = {}
    for line in out.splitlines():
        dtype, width, result = line.strip().rsplit(":", 2)
        verdict[f"{dtype}:{width}"] = result == "ok"
    for pair in pairs:
        if pair not in verdict:
            verdict[pair] = False
            break
    return verdict


def widest_compiling(dtypes: list, child: Callable[[list], dict]) -> dict:
    """{dtype: widest width of WIDTHS[dtype] that ``child`` passes, else 1}. ``child``
    runs a list of ``"dtype:width"`` pairs (``run_child``); each round tries the widest
    untried width of every dtype still undecided, so a device that compiles them all
    takes one child process."""
    tried = {d: list(WIDTHS[d]) for d in dtypes}
    found: dict = {}
    while any(tried.values()):
        pairs = [f"{d}:{w[0]}" for d, w in tried.items() if w]
        verdict = child(pairs)
        for d in list(tried):
            if not tried[d]:
                continue
            pair = f"{d}:{tried[d][0]}"
            if verdict.get(pair):
                found[d] = tried[d][0]
                tried[d] = []
            elif pair in verdict:
                tried[d].pop(0)
    return {d: found.get(d, 1) for d in dtypes}


def compiled_widths(device: Any, fp64: bool = True,
                    child: Optional[Callable[[list], dict]] = None) -> dict:
    """{dtype: widest vector width ``device`` compiles and runs correctly}, probed once
    per platform, device and driver version, and kept in
    ``$XDG_CACHE_HOME/graphc/widths.json``. pip's PoCL 3.0 reports 16 floats on CPUs
    whose AVX-512 builtins its LLVM 14 then calls with a broken ABI: only a real build
    and run tells."""
    key, dtypes = _device_key(device), (["float32", "float64"] if fp64 else ["float32"])
    kept = _kept_widths(key, dtypes)
    if kept is not None:
        return kept
    with _EARLY_LOCK:
        early = _EARLY.get((key, fp64)) if child is None else None
    if early is not None:
        return early.result()
    return _probe_and_keep(device, key, dtypes, child)


def compiled_before(device: Any) -> bool:
    """Has ``device``, with this driver, built and run the probe's vector kernel correctly
    in an earlier process (a verdict on disk, wider than scalar)? Then it compiles
    kernels, and ``runtime`` skips the trivial build that checks a device before use:
    ~40 ms even with PoCL's cache warm, the first build of a process."""
    if device.type & CL_DEVICE_TYPE_GPU:
        return False
    fp64 = bool(device.double_fp_config)
    kept = _kept_widths(_device_key(device), ["float32", "float64"] if fp64 else ["float32"])
    return kept is not None and kept["float32"] > 1


def _device_key(device: Any) -> str:
    return device_key(device.platform.name.strip(), device.name.strip(),
                      device.driver_version.strip())


def _probe_and_keep(device: Any, key: str, dtypes: list,
                    child: Optional[Callable[[list], dict]]) -> dict:
    platform, name = device.platform.name.strip(), device.name.strip()
    widths = widest_compiling(dtypes, child or (lambda p: run_child(platform, name, p)))
    table = _load(_widths_path())
    table[key] = widths
    _save(_widths_path(), table)
    return widths


def _kept_widths(key: str, dtypes: list) -> Optional[dict]:
    """The verdict kept on disk for ``key``, if it has every one of ``dtypes``."""
    kept = _load(_widths_path()).get(key)
    if isinstance(kept, dict) and all(kept.get(d) in (1, *WIDTHS[d]) for d in dtypes):
        return {d: int(kept[d]) for d in dtypes}      # an edited width is probed again
    return None


# the probes started by ``probe_early``, by (device key, fp64)
_EARLY: dict = {}
_EARLY_LOCK = threading.Lock()


def probe_early(device: Any) -> None:
    """Start probing a CPU device's widths (``compiled_widths``) in a thread, unless its
    verdict is on disk, so that the child process builds its kernels while this process
    checks the device and lowers the graph; ``compiled_widths`` then waits for it. With
    cold caches the two builds had run one after the other (~1 s each on PoCL)."""
    if device.type & CL_DEVICE_TYPE_GPU:
        return
    fp64 = bool(device.double_fp_config)
    key, dtypes = _device_key(device), (["float32", "float64"] if fp64 else ["float32"])
    if _kept_widths(key, dtypes) is not None:
        return
    with _EARLY_LOCK:
        if (key, fp64) in _EARLY:
            return
        import concurrent.futures     # with logging, ~3 ms: not at ``import graphc``
        _EARLY[(key, fp64)] = future = concurrent.futures.Future()

    def run() -> None:
        try:
            future.set_result(_probe_and_keep(device, key, dtypes, None))
        except BaseException as e:  # noqa: BLE001 - handed to whoever waits for it
            future.set_exception(e)
    threading.Thread(target=run, name="graphc-width-probe").start()


def _load(path: str) -> dict:
    try:
        with open(path) as f:
            table = json.load(f)
        return table if isinstance(table, dict) else {}
    except (OSError, ValueError):
        return {}


def _save(path: str, table: dict) -> None:
    try:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=os.path.dirname(path), suffix=".tmp")
        with os.fdopen(fd, "w") as f:
            json.dump(table, f, indent=1)
        os.replace(tmp, path)       # whole or not at all: other processes read it too
    except OSError:
        pass

# }}}
