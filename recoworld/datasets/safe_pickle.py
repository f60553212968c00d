"""A restricted unpickler for third-party pickles (the released FM embeddings and tuples).

Only plain containers, numbers, strings and numpy arrays/scalars/dtypes may be built; any other
global in the stream raises :class:`~recoworld.errors.UnsafePickleError` before it is imported.
"""

from __future__ import annotations

import importlib
import pickle
from collections import OrderedDict
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from recoworld.errors import DataError, DatasetNotFoundError, UnsafePickleError

__all__ = ["load_fm_embeddings", "load_pickle"]

_BUILTINS = {
    "dict",
    "list",
    "tuple",
    "set",
    "frozenset",
    "int",
    "float",
    "complex",
    "str",
    "bytes",
    "bytearray",
    "bool",
    "slice",
    "range",
}
_NUMPY = {
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy.core.multiarray", "scalar"),
    ("numpy._core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "scalar"),
    ("numpy.core.numeric", "_frombuffer"),
    ("numpy._core.numeric", "_frombuffer"),
}


# numpy 2 renamed numpy.core to numpy._core; pickles made with numpy 1 name the old module.
_NUMPY_CORE = "numpy._core" if hasattr(np, "_core") else "numpy.core"


class _RestrictedUnpickler(pickle.Unpickler):
    def __init__(self, fh: Any, path: Path) -> None:
        super().__init__(fh, encoding="latin1")
        self.path = path

    def find_class(self, module: str, name: str) -> Any:
        if module == "builtins" and name in _BUILTINS:
            return getattr(__import__("builtins"), name)
        if module == "collections" and name == "OrderedDict":
            return OrderedDict
        if (module, name) in _NUMPY:
            # numpy.core was renamed numpy._core in numpy 2; map both to what is installed.
            if name in ("_reconstruct", "scalar"):
                return getattr(importlib.import_module(_NUMPY_CORE + ".multiarray"), name)
            if name == "_frombuffer":
                return importlib.import_module(_NUMPY_CORE + ".numeric")._frombuffer
            return getattr(np, name)
        raise UnsafePickleError(
            f"pickle file {self.path} asks for global {module}.{name}, which is not allowed (only "
            "plain containers and numpy arrays are); refusing to load untrusted code"
        )


def load_pickle(path: str | Path) -> Any:
    """Load a pickle from ``path`` admitting only plain containers and numpy objects."""
    p = Path(path)
    if not p.is_file():
        raise DatasetNotFoundError(f"pickle file {p} does not exist")
    try:
        with p.open("rb") as fh:
            return _RestrictedUnpickler(fh, p).load()
    except UnsafePickleError:
        raise
    except OSError as exc:
        raise DataError(f"pickle file {p} cannot be read: {exc}") from exc
    except Exception as exc:  # a damaged stream fails in many ways inside pickle and numpy
        raise DataError(
            f"pickle file {p} is corrupt or truncated ({type(exc).__name__}: {exc})"
        ) from exc


def load_fm_embeddings(path: str | Path) -> dict[str, npt.NDArray[np.float32]]:
    """Load SCPR's released FM embeddings (a dict with ``ui_emb`` and ``feature_emb``)."""
    obj = load_pickle(path)
    if not isinstance(obj, dict):
        raise DataError(
            f"{path}: expected a dict with 'ui_emb' and 'feature_emb', got {type(obj).__name__}"
        )
    out: dict[str, npt.NDArray[np.float32]] = {}
    for key in ("ui_emb", "feature_emb"):
        if key not in obj:
            raise DataError(f"{path}: key {key!r} missing; found {sorted(map(str, obj))}")
        try:
            arr = np.asarray(obj[key], dtype=np.float32)
        except (ValueError, TypeError, OverflowError) as exc:
            raise DataError(
                f"{path}: {key!r} must hold numbers, got {type(obj[key]).__name__} that does not "
                f"convert to float32 ({exc})"
            ) from exc
        if arr.ndim != 2 or 0 in arr.shape:
            raise DataError(f"{path}: {key!r} must be a non-empty 2-D array, got shape {arr.shape}")
        bad = int(arr.size - np.count_nonzero(np.isfinite(arr)))
        if bad:
            raise DataError(
                f"{path}: {key!r} holds {bad} NaN or infinite values; the embeddings are corrupt "
                "(retrain them, or let recoworld train FM itself)"
            )
        out[key] = arr
    return out
