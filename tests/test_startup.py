"""What ``import graphc`` loads: nothing a graph does not need before it is compiled.

The time to a first loss starts with the import (numpy and sympy, ~0.25 s of it); the
OpenCL driver, MPI, torch, and the standard library's archive, secret and futures modules
wait for the first function that needs them.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

DEFERRED = ["pyopencl", "mpi4py", "torch", "zipfile", "secrets", "concurrent.futures",
            "numpy.random"]


def _run(script: str) -> str:
    done = subprocess.run([sys.executable, "-c", textwrap.dedent(script)],
                          capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip().splitlines()[-1]


def test_import_graphc_loads_no_driver_mpi_torch_or_unneeded_modules():
    loaded = json.loads(_run(f"""
        import json, sys
        import graphc as gc
        x = gc.placeholder((4, 3), name="x")
        gc.grad((x.exp() - 1).sum(), [x])       # building and differentiating needs none
        print(json.dumps([m for m in {DEFERRED!r} if m in sys.modules]))
    """))
    assert loaded == []


def test_nn_init_draws_from_a_generator_seeded_0_made_at_first_use():
    """The module's generator, made at the first draw, draws what it drew when it was made
    at import: numpy's ``default_rng(0)``, and again after ``seed(0)``."""
    drawn = json.loads(_run("""
        import json
        import numpy as np
        import graphc as gc
        p = gc.parameter(np.zeros((3, 4), np.float32), name="p")
        first = gc.nn.init.normal_(p).value.tolist()
        gc.nn.init.seed(0)
        again = gc.nn.init.normal_(p).value.tolist()
        want = np.random.default_rng(0).normal(0.0, 1.0, (3, 4)).astype(np.float32).tolist()
        print(json.dumps([first, again, want]))
    """))
    assert drawn[0] == drawn[1] == drawn[2]
