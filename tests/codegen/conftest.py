"""Fixtures of the code generation tests."""
from __future__ import annotations

import pytest

from graphc import codegen, runtime


@pytest.fixture(scope="module")
def cpu():
    """A 2-core CPU target with the test device's vector widths (those it compiles), so
    that kernels are CPU-shaped whatever the test device is."""
    real = runtime.device_context().target
    return codegen.Target("cpu", compute_units=2, max_group=4096, native=real.native,
                          compiled=real.compiled or tuple((d, real.widest(d))
                                                          for d in ("float32", "float64")))
