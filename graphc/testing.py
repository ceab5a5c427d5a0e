"""graphc's pytest plugin: test your own models on PoCL (or any OpenCL device) in three lines.

Installed with graphc (entry point ``pytest11``), it gives:

- the ``graphc_device`` fixture, parametrised over the device ``GRAPHC_DEVICE`` names, else
  every OpenCL device that compiles kernels (PoCL's CPU device on a machine without GPU);
- ``assert_compiled_matches_reference(outputs, feed)``: compile on that device and compare
  with ``gc.evaluate``, the numpy reference;
- ``assert_grad_close(cost, wrt, values)``: ``gc.check_grad`` (central differences in
  float64) as an assertion.

Example::

    from graphc.testing import assert_compiled_matches_reference, assert_grad_close

    def test_my_layer(graphc_device):
        x = gc.placeholder((8, 4), name="x")
        out = gc.tanh(x @ w + b)
        assert_compiled_matches_reference(out, {x: data}, device=graphc_device)
"""
from __future__ import annotations

import os
from typing import Any, Mapping, Optional, Sequence, Union

import numpy as np
import pytest

from . import runtime
from .compiler import compile as compile_function
from .evaluate import evaluate
from .gradcheck import check_grad
from .graph import Op, Tensor

TOLERANCE = {np.dtype(np.float32): dict(rtol=1e-4, atol=1e-5),
             np.dtype(np.float64): dict(rtol=1e-10, atol=1e-12)}


def devices_under_test() -> list:
    """The device ``GRAPHC_DEVICE`` names, else every device that compiles a kernel but a
    simulator's (Oclgrind's: named, it is tested as any other)."""
    if os.environ.get("GRAPHC_DEVICE"):
        return [runtime.select_device()]
    return [d for d in runtime.devices()
            if not runtime.simulated(d) and runtime._probe(d) is None]


def pytest_generate_tests(metafunc: Any) -> None:
    if "graphc_device" in metafunc.fixturenames:
        found = devices_under_test()
        metafunc.parametrize("graphc_device", found,
                             ids=[d.name.strip().replace(" ", "_") for d in found])


def assert_compiled_matches_reference(outputs: Union[Tensor, Sequence[Tensor]],
                                      feed: Mapping[Tensor, Any], *, device: Any = None,
                                      rtol: Optional[float] = None,
                                      atol: Optional[float] = None) -> list:
    """Compile ``outputs`` (inputs: the placeholders in ``feed``), run it on ``feed`` and
    assert it equals ``gc.evaluate``; returns the compiled results."""
    targets = [outputs] if isinstance(outputs, Tensor) else list(outputs)
    inputs = [t for t in feed if t.op is Op.PLACEHOLDER]
    fn = compile_function(inputs, targets, device=device)
    got = fn(*(np.asarray(feed[p], p.dtype) for p in inputs))
    expected = evaluate(targets, {k: np.asarray(v, k.dtype) for k, v in feed.items()})
    for i, (t, a, e) in enumerate(zip(targets, got, expected)):
        tol = dict(TOLERANCE.get(t.dtype, dict(rtol=0, atol=0)))     # integers: exact
        tol.update({k: v for k, v in (("rtol", rtol), ("atol", atol)) if v is not None})
        np.testing.assert_allclose(a, e, err_msg=f"output {i} ({t.name or t.op.value}) of "
                                   "the compiled function differs from gc.evaluate", **tol)
    return got


def assert_grad_close(cost: Tensor, wrt: Union[Tensor, Sequence[Tensor]],
                      values: Optional[Mapping[Tensor, Any]] = None, **options: Any) -> None:
    """``gc.check_grad`` as an assertion: fails with its report (a ``GradientError``)."""
    __tracebackhide__ = True
    check_grad(cost, wrt, values, **options)


@pytest.fixture
def graphc_device(request: Any) -> Any:   # parametrised by pytest_generate_tests
    return request.param
