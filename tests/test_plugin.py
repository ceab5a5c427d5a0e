"""The pytest plugin, used as a user would: plain pytest on a test file outside the package."""
from __future__ import annotations

import importlib.metadata
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import graphc as gc
from graphc.testing import assert_compiled_matches_reference, assert_grad_close

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "test_my_model.py"


def _plugin_installed() -> bool:
    return any(ep.value == "graphc.testing"
               for ep in importlib.metadata.entry_points(group="pytest11"))


def test_user_test_file_runs_with_plain_pytest(tmp_path):
    target = tmp_path / "test_user_model.py"
    shutil.copy(EXAMPLE, target)
    options = [] if _plugin_installed() else ["-p", "graphc.testing"]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        [str(Path(gc.__file__).parent.parent), os.environ.get("PYTHONPATH", "")])}
    result = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                             *options, str(target)], cwd=tmp_path, capture_output=True,
                            text=True, env=env, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "passed" in result.stdout and "failed" not in result.stdout


def test_assertions_fail_on_wrong_results(monkeypatch):
    x = gc.placeholder((3,), dtype="float64", name="x")
    out = gc.exp(x)
    assert_compiled_matches_reference(out, {x: np.zeros(3)})
    wrong = lambda outputs, feed: [np.full(o.shape, 2.0) for o in outputs]  # noqa: E731
    monkeypatch.setattr(gc.testing, "evaluate", wrong)
    with pytest.raises(AssertionError, match="differs from gc.evaluate"):
        assert_compiled_matches_reference(out, {x: np.zeros(3)})
    monkeypatch.undo()
    with pytest.raises(AssertionError, match="disagrees with central differences"):
        # max at a tie: graphc sends the gradient to the first element, differences split it
        assert_grad_close(gc.max(x), x, {x: np.zeros(3)})
