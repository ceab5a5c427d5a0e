"""``pip install .`` ships the whole package, and the ``kernels/*.cl`` templates inside it.

setup.cfg maps the top-level ``kernels/`` folder to the package ``graphc.kernels``; this test
installs a copy of the checkout into a temporary folder and imports it from elsewhere.
"""
from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
# What a build reads from the checkout (those that exist are copied).
BUILD_INPUTS = ["setup.cfg", "setup.py", "pyproject.toml", "MANIFEST.in", "README.md",
                "graphc", "kernels"]

PROBE = """
import json, graphc, graphc.templates as t
for name in t.names():
    t.load(name)
print(json.dumps({"package": graphc.__file__, "template_dir": str(t.template_dir()),
                  "names": t.names()}))
"""


def _can_build_without_isolation() -> bool:
    """setuptools >= 70.1 has bdist_wheel; older ones need the ``wheel`` package."""
    return (importlib.util.find_spec("setuptools") is not None
            and (importlib.util.find_spec("wheel") is not None
                 or importlib.util.find_spec("setuptools.command.bdist_wheel") is not None))


def _run(cmd: list[str], **kwargs) -> str:
    """Run ``cmd``; on failure, fail the test with its output."""
    done = subprocess.run(cmd, capture_output=True, text=True, **kwargs)
    if done.returncode != 0:
        pytest.fail(f"{' '.join(cmd[:4])} ... exited {done.returncode}:\n"
                    f"{done.stdout}{done.stderr}")
    return done.stdout


def _copy_checkout(dest: Path) -> None:
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "build", "*.egg-info")
    for name in BUILD_INPUTS:
        src = REPO / name
        if src.is_dir():
            shutil.copytree(src, dest / name, ignore=ignore)
        elif src.is_file():
            shutil.copy2(src, dest / name)


@pytest.mark.slow
def test_install_ships_package_and_templates(tmp_path):
    src, target, elsewhere = tmp_path / "src", tmp_path / "target", tmp_path / "elsewhere"
    src.mkdir()
    elsewhere.mkdir()
    _copy_checkout(src)

    # Offline when this environment can build the wheel itself; otherwise pip's build
    # isolation fetches setuptools (needs the package index).
    isolation = ["--no-build-isolation"] if _can_build_without_isolation() else []
    _run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps",
          "--disable-pip-version-check", *isolation, "--target", str(target), str(src)],
         timeout=180, cwd=elsewhere)

    env = dict(os.environ, PYTHONPATH=str(target), POCL_CACHE_DIR=str(tmp_path / "pocl"))
    probe = _run([sys.executable, "-c", PROBE], timeout=120, cwd=elsewhere, env=env)
    found = json.loads(probe.strip().splitlines()[-1])

    installed = target / "graphc"
    assert Path(found["package"]).resolve().parent == installed.resolve()
    assert Path(found["template_dir"]).resolve() == (installed / "kernels").resolve()
    shipped = sorted(p.stem for p in (REPO / "kernels").glob("*.cl"))
    assert shipped, "the checkout has no kernels/*.cl templates"
    assert found["names"] == shipped

    # Every module of the package is installed (a subpackage missing from setup.cfg's
    # `packages` list would be left out silently).
    modules = sorted(p.relative_to(REPO).as_posix() for p in (REPO / "graphc").rglob("*.py"))
    missing = [m for m in modules if not (target / m).is_file()]
    assert not missing, f"not installed by pip: {missing}"
