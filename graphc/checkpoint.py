"""``save`` and ``load``: parameters (and optimizer state) to a file and back, by name.

The file is a numpy ``.npz`` archive, one ``.npy`` member per parameter named by the
parameter's name, so ``numpy.load`` reads it too; values come back bit for bit, in their
dtypes. A save never leaves a half-written checkpoint where the old one was: it writes a
temporary file in the same directory, flushes it to the disk, then renames it over the
old one (``os.replace`` is atomic on POSIX and Windows). A process killed mid-save leaves
the previous checkpoint whole (and perhaps a ``.<name>.*.tmp`` file beside it). A load
checks every name, shape and dtype before it sets any value, so a bad checkpoint changes
nothing.
"""
from __future__ import annotations

import os
from typing import Mapping, Sequence, Union

import numpy as np

from .errors import DTypeError, ShapeError
from .graph import Op, Tensor

Tensors = Union[Sequence[Tensor], Mapping[str, Tensor]]
PathLike = Union[str, "os.PathLike[str]"]


def _named(tensors: Tensors, op: str) -> dict:
    """{name: parameter}: a mapping as given, a sequence by each parameter's name."""
    if isinstance(tensors, Tensor):
        raise TypeError(f"{op}: tensors must be a list of parameters or a dict name -> "
                        f"parameter, got one Tensor; write [{tensors.name or 'w'}]")
    if isinstance(tensors, Mapping):
        pairs = [(str(name), t) for name, t in tensors.items()]
    else:
        pairs = [(getattr(t, "name", None), t) for t in tensors]
    named: dict[str, Tensor] = {}
    for i, (name, t) in enumerate(pairs):
        if not isinstance(t, Tensor) or t.op is not Op.PARAMETER:
            raise TypeError(f"{op}: {name if isinstance(tensors, Mapping) else i!r} must be "
                            f"a graphc parameter (gc.parameter), got {t!r}")
        if name in named:
            if named[name] is t:
                continue
            raise ValueError(f"{op}: two parameters are named {name!r}; give them distinct "
                             "names (gc.parameter(..., name=...)), or pass a dict "
                             "name -> parameter")
        named[name] = t
    return named


def save(path: PathLike, tensors: Tensors) -> None:
    """Write the current values of ``tensors`` to ``path``, atomically.

    Parameters
    ----------
    path : str or os.PathLike
        The checkpoint file (an ``.npz`` archive; the name is used as given).
    tensors : list of parameters, or dict name -> parameter
        A list is saved under each parameter's name; include an optimizer's
        ``state_tensors()`` to resume training where it stopped.
    """
    named = _named(tensors, "save")
    if not named:
        raise ValueError("save: no parameters to save")
    import zipfile      # here, not at ``import graphc``: most programs never save
    values = {name: t.value for name, t in named.items()}    # read before the file opens
    path = os.fspath(path)
    folder, base = os.path.split(os.path.abspath(path))
    fd, temp = _temporary(folder, base)
    try:
        with os.fdopen(fd, "wb") as f:
            with zipfile.ZipFile(f, "w", zipfile.ZIP_STORED, allowZip64=True) as archive:
                for name, value in values.items():
                    with archive.open(f"{name}.npy", "w", force_zip64=True) as member:
                        np.lib.format.write_array(member, value, allow_pickle=False)
            f.flush()
            os.fsync(f.fileno())
        os.replace(temp, path)
    except BaseException:
        if os.path.exists(temp):
            os.unlink(temp)
        raise
    _sync_folder(folder)


def _temporary(folder: str, base: str) -> tuple[int, str]:
    """A new file beside the checkpoint, made with the permissions a plain ``open`` would
    give (``tempfile.mkstemp`` makes it readable by its owner only)."""
    import secrets
    while True:
        temp = os.path.join(folder, f".{base}.{secrets.token_hex(4)}.tmp")
        try:
            return os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL
                           | getattr(os, "O_BINARY", 0), 0o666), temp
        except FileExistsError:
            continue


def _sync_folder(folder: str) -> None:
    """Flush the rename to the disk too (POSIX; elsewhere a folder cannot be opened)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def load(path: PathLike, tensors: Tensors) -> None:
    """Set ``tensors`` to the values saved in ``path`` under their names.

    Every parameter given must be in the file with its shape and dtype; the file may hold
    more (load a model's weights from a checkpoint that has its optimizer's state too).
    Everything is read and checked first: on any error no parameter changes.

    Raises
    ------
    KeyError
        A name is not in the checkpoint.
    ShapeError, DTypeError
        A saved value's shape or dtype differs from its parameter's.
    """
    named = _named(tensors, "load")
    path = os.fspath(path)
    with np.load(path, allow_pickle=False) as archive:
        missing = [name for name in named if name not in archive.files]
        if missing:
            raise KeyError(f"load: {path!r} has no {', '.join(map(repr, missing))} (it "
                           f"holds {', '.join(map(repr, archive.files)) or 'nothing'}); "
                           "nothing was loaded")
        values = {name: archive[name] for name in named}
    for name, t in named.items():
        value = values[name]
        if value.shape != t.shape:
            raise ShapeError(f"load: {name!r} is saved with shape {value.shape}, the "
                             f"parameter has shape {t.shape}; nothing was loaded")
        if value.dtype != t.dtype:
            raise DTypeError(f"load: {name!r} is saved as {value.dtype}, the parameter is "
                             f"{t.dtype}; nothing was loaded (convert the parameter, or "
                             "save it in that dtype)")
    for name, t in named.items():
        t.set_value(values[name])
