"""OpenCL skeletons from ``kernels/*.cl``, filled by strict ``string.Template`` substitution.

Installed, the templates live in ``graphc/kernels/`` (setup.cfg maps the top-level
``kernels/`` folder there); in a source checkout they are found in ``<repo>/kernels/``.
"""
from __future__ import annotations

import functools
import string
from pathlib import Path

from .errors import CodegenError

_HERE = Path(__file__).resolve().parent
_SEARCH = (_HERE / "kernels", _HERE.parent / "kernels")


def template_dir() -> Path:
    """The folder the ``.cl`` templates are read from."""
    for folder in _SEARCH:
        if folder.is_dir() and any(folder.glob("*.cl")):
            return folder
    raise CodegenError(
        "graphc's OpenCL templates (kernels/*.cl) were not found in "
        + " or ".join(str(f) for f in _SEARCH)
        + "; reinstall graphc with `pip install .` from a full checkout")


def names() -> list[str]:
    """Names (file stems) of every template shipped with graphc."""
    return sorted(p.stem for p in template_dir().glob("*.cl"))


@functools.lru_cache(maxsize=None)
def load(name: str) -> string.Template:
    """The template ``kernels/<name>.cl``."""
    path = template_dir() / f"{name}.cl"
    if not path.is_file():
        raise CodegenError(f"no OpenCL template named {name!r} in {template_dir()}")
    return string.Template(path.read_text())


def render(template: str, /, **fields: object) -> str:
    """Fill template ``template``; a missing field is an error, never a silent ``$gap``."""
    try:
        return load(template).substitute({k: str(v) for k, v in fields.items()})
    except KeyError as e:
        raise CodegenError(f"template {template!r} needs field {e.args[0]!r}") from None
