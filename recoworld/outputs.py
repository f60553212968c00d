"""Writing results safely: output folders checked before work starts, atomic files, strict JSON.

Every JSON line the command line prints and every JSON file RecoWorld writes goes through
:func:`dumps_json`: strict JSON that any parser reads, where an undefined number (NaN) or an
infinite one is written ``null``, never the bare ``NaN`` / ``Infinity`` that strict parsers
reject. Files are written to a temporary name in the same folder and renamed into place, so a
reader (or a run killed half-way) never sees a partial file that looks complete.
"""

from __future__ import annotations

import json
import math
import os
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from recoworld.errors import OutputError

__all__ = [
    "atomic_write_bytes",
    "atomic_write_json",
    "atomic_write_text",
    "dumps_json",
    "prepare_output_dir",
    "strict_json_value",
]


def strict_json_value(obj: Any) -> Any:
    """``obj`` with every non-finite float (NaN, +-inf, numpy ones too) replaced by ``None``.

    Numpy scalars become Python numbers and numpy arrays lists; tuples become lists.
    """
    if isinstance(obj, bool) or obj is None or isinstance(obj, str):
        return obj
    if isinstance(obj, int):
        return obj
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, Mapping):
        return {str(k) if not isinstance(k, str) else k: strict_json_value(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [strict_json_value(v) for v in obj]
    tolist = getattr(obj, "tolist", None)  # numpy scalars and arrays
    if callable(tolist):
        return strict_json_value(tolist())
    return obj


def dumps_json(obj: Any, *, indent: int | None = None, sort_keys: bool = True) -> str:
    """Strict JSON text of ``obj`` (non-finite numbers written ``null``)."""
    return json.dumps(strict_json_value(obj), indent=indent, sort_keys=sort_keys, allow_nan=False)


def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    """Write ``data`` to ``path`` so that a reader (or a killed writer) never sees a partial file."""
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as exc:
        raise OutputError(f"cannot write {path}: {exc.strerror or exc}; choose another folder") from exc
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException as exc:
        if os.path.exists(tmp):
            os.unlink(tmp)
        if isinstance(exc, OSError):
            raise OutputError(
                f"cannot write {path}: {exc.strerror or exc}; choose another folder"
            ) from exc
        raise


def atomic_write_text(path: str | Path, text: str) -> None:
    """:func:`atomic_write_bytes` for UTF-8 text."""
    atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path: str | Path, obj: Any, indent: int | None = 2) -> None:
    """Write ``obj`` as strict JSON (see :func:`dumps_json`) atomically, ending with a newline."""
    atomic_write_text(path, dumps_json(obj, indent=indent) + "\n")


def prepare_output_dir(path: str | Path, flag: str = "--out") -> Path:
    """Create the folder ``path`` (and its parents) and check that files can be written in it.

    Called before any computation, so that a mistyped or read-only destination fails at once
    instead of after minutes of work. Raises :class:`OutputError` naming ``flag`` and the path.
    """
    folder = Path(path)
    if folder.exists() and not folder.is_dir():
        raise OutputError(f"`{flag}` {folder} is a file, not a folder; pass a folder path")
    for parent in folder.parents:
        if parent.exists() and not parent.is_dir():
            raise OutputError(
                f"`{flag}` {folder} cannot be created: {parent} is a file, not a folder"
            )
        if parent.exists():
            break
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(
            f"`{flag}` {folder} cannot be created ({exc.strerror or exc}); pass a writable folder"
        ) from exc
    try:
        fd, probe = tempfile.mkstemp(prefix=".recoworld-write-check.", dir=folder)
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise OutputError(
            f"`{flag}` {folder} is not writable ({exc.strerror or exc}); pass a writable folder"
        ) from exc
    return folder
