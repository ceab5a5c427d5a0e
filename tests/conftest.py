"""Test configuration: the PoCL CPU device by default, hypothesis profiles, device fixtures."""
from __future__ import annotations

import os

import numpy as np
import pytest
from hypothesis import settings

# Tests run on the CPU OpenCL device (PoCL) unless GRAPHC_DEVICE names another.
os.environ.setdefault("GRAPHC_DEVICE", "cpu")

settings.register_profile("ci", max_examples=25, deadline=None, derandomize=True,
                          print_blob=True)
settings.register_profile("nightly", max_examples=1000, deadline=None)
settings.load_profile(os.environ.get("GRAPHC_HYPOTHESIS_PROFILE", "ci"))


@pytest.fixture(scope="session")
def device():
    """The OpenCL device the tests compile for."""
    from graphc import runtime
    return runtime.select_device()


@pytest.fixture(scope="session")
def has_fp64(device):
    return bool(device.double_fp_config)


@pytest.fixture(params=["float32", "float64"])
def dtype(request, has_fp64):
    """Both float dtypes; float64 is skipped on devices without fp64."""
    if request.param == "float64" and not has_fp64:
        pytest.skip("device has no float64 support")
    return np.dtype(request.param)
