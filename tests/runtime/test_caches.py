"""Cache folders that cannot be created, and cache files that hold nonsense (issue 16: 17)."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from graphc import runtime, target

_PROGRAM = ("import numpy as np, graphc as gc\n"
            "x = gc.placeholder((3,))\n"
            "print(gc.compile([x], x * 2)(np.ones(3, np.float32)).tolist())\n")


@pytest.mark.parametrize("variable, folder", [
    ("POCL_CACHE_DIR", "/proc/graphc-nope"),
    ("XDG_CACHE_HOME", "/proc/graphc-nope"),
    ("XDG_CACHE_HOME", "/dev/null/graphc"),
])
def test_an_uncreatable_cache_folder_falls_back_with_a_warning(variable, folder):
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    env = dict(os.environ, PYTHONPATH=root, **{variable: folder})
    done = subprocess.run([sys.executable, "-c", _PROGRAM], env=env, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[2.0, 2.0, 2.0]"
    assert f"the cache folder {folder!r} (${variable}) cannot be created" in done.stderr


@pytest.mark.parametrize("content", ["[]", "null", "3", '{"x": 1}', "{", "[1, 2]"])
def test_a_peaks_file_holding_nonsense_is_ignored(tmp_path, monkeypatch, content):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    (tmp_path / "graphc").mkdir()
    (tmp_path / "graphc" / "peaks.json").write_text(content)
    device = runtime.device_context().device
    assert runtime.known_peaks(device) is None


def test_peaks_measured_on_a_busy_machine_are_not_kept(tmp_path, monkeypatch):
    """Unless asked for afresh (``python -m graphc peaks``): then they are kept."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    ctx = runtime.device_context()
    monkeypatch.setattr(runtime, "busy", lambda: True)
    measured = runtime.peak_rates(ctx)
    assert measured["gflops"] > 0 and measured["gbps"] > 0
    assert runtime.known_peaks(ctx.device) is None
    again = runtime.peak_rates(ctx, fresh=True)
    assert runtime.known_peaks(ctx.device) == again
    monkeypatch.setattr(runtime, "busy", lambda: False)
    assert runtime.peak_rates(ctx) == again          # kept: not measured again


def test_a_kept_peak_is_only_ever_raised(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    ctx = runtime.device_context()
    (tmp_path / "graphc").mkdir()
    path = tmp_path / "graphc" / "peaks.json"
    key = runtime._device_key(ctx.device)
    path.write_text(json.dumps({key: {"gflops": 1e9, "gbps": 1e-3}}))
    kept = runtime.peak_rates(ctx, fresh=True)
    assert kept["gflops"] == 1e9 and kept["gbps"] > 1e-3       # the copy probe raised it
    assert runtime.known_peaks(ctx.device) == kept


def test_python_m_graphc_peaks_measures_and_keeps_them(tmp_path):
    env = dict(os.environ, XDG_CACHE_HOME=str(tmp_path))
    done = subprocess.run([sys.executable, "-m", "graphc", "peaks"], capture_output=True,
                          text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stderr
    assert "GFLOP/s float32 FMA" in done.stdout and "GB/s copy" in done.stdout
    table = json.loads((tmp_path / "graphc" / "peaks.json").read_text())
    assert [set(v) for v in table.values()] == [{"gflops", "gbps"}]


def test_an_edited_peaks_entry_is_ignored(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    device = runtime.device_context().device
    (tmp_path / "graphc").mkdir()
    path = tmp_path / "graphc" / "peaks.json"
    key = runtime._device_key(device)
    for entry in ([], None, {"gflops": "fast", "gbps": 1}, {"gflops": -1, "gbps": 1}):
        path.write_text(json.dumps({key: entry}))
        assert runtime.known_peaks(device) is None
    path.write_text(json.dumps({key: {"gflops": 10, "gbps": 2.5}}))
    assert runtime.known_peaks(device) == {"gflops": 10.0, "gbps": 2.5}


@pytest.mark.parametrize("entry", [[], None, {"float32": "wide"}, {"float32": 3}])
def test_an_edited_widths_entry_is_probed_again(tmp_path, monkeypatch, entry):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    device = runtime.device_context().device
    key = target.device_key(device.platform.name.strip(), device.name.strip(),
                            device.driver_version.strip())
    (tmp_path / "graphc").mkdir()
    (tmp_path / "graphc" / "widths.json").write_text(json.dumps({key: entry}))
    probed = []

    def child(pairs):
        probed.extend(pairs)
        return {p: True for p in pairs}

    assert target.compiled_widths(device, fp64=False, child=child) == {"float32": 16}
    assert probed == ["float32:16"]
