"""``python -m graphc devices``: the OpenCL platforms and devices graphc sees.
``python -m graphc peaks [device]``: measure the default (or named) device's FMA and copy
peaks again and keep them (benchmarks and roofline tables read them)."""
from __future__ import annotations

import os
import sys
from typing import Optional

from . import runtime
from .errors import DeviceError


def devices() -> int:
    try:
        found = runtime.devices()
    except DeviceError as e:
        print(e, file=sys.stderr)
        return 1
    try:
        default = runtime.select_device()
    except DeviceError:
        default = None
    for d in found:
        works = runtime._probe(d) is None
        mark = "*" if default is not None and d.int_ptr == default.int_ptr else " "
        print(f"{mark} {d.platform.name.strip()} | {d.name.strip()}")
        print(f"    {d.platform.version.strip()}")
        print(f"    compute units {d.max_compute_units}, global memory "
              f"{d.global_mem_size / 2**30:.1f} GiB, local memory {d.local_mem_size // 1024} KiB, "
              f"fp64 {'yes' if d.double_fp_config else 'no'}, "
              f"compiles kernels: {'yes' if works else 'NO: ' + str(runtime._probe(d))}")
        if works:
            widths = runtime.context_for(d).target
            how = "probed" if widths.compiled is not None else "reported"
            print(f"    vectors it compiles ({how}): float32 {widths.widest('float32')}, "
                  f"float64 {widths.widest('float64')}; graphc uses float32 "
                  f"{widths.lanes('float32')}, float64 {widths.lanes('float64')}")
        peaks = runtime.known_peaks(d)
        if peaks:
            print(f"    measured peaks: {peaks['gflops']:.0f} GFLOP/s float32, "
                  f"{peaks['gbps']:.1f} GB/s copy")
    print("* = the default device (GRAPHC_DEVICE, else first GPU, else first CPU that compiles)")
    return 0 if default is not None else 1


def peaks(device: Optional[str]) -> int:
    try:
        ctx = runtime.device_context(device)
    except DeviceError as e:
        print(e, file=sys.stderr)
        return 1
    if runtime.busy():
        print("warning: this machine is busy (load average "
              f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs): the peaks may read low",
              file=sys.stderr)
    found = runtime.peak_rates(ctx, fresh=True)
    print(f"{ctx.device.name.strip()}: {found['gflops']:.0f} GFLOP/s float32 FMA, "
          f"{found['gbps']:.1f} GB/s copy (kept in {runtime._peaks_path()})")
    return 0


def main(argv: list[str]) -> int:
    if argv[:1] == ["devices"]:
        return devices()
    if argv[:1] == ["peaks"] and len(argv) <= 2:
        return peaks(argv[1] if len(argv) == 2 else None)
    print("usage: python -m graphc devices | python -m graphc peaks [device]",
          file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
