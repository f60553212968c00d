"""Loader for the Coat shopping dataset (Schnabel et al., ICML 2016), in its released layout.

Layout under ``<data root>/coat`` (the root is ``data_dir`` or ``$RECOWORLD_DATA``)::

    train.ascii          290 x 300 ratings 1..5 (0 = missing), self-selected: missing not at random
    test.ascii           290 x 300 ratings, 16 random items per user: missing completely at random
    propensities.ascii   290 x 300 learned observation propensities of the training matrix
    user_item_features/user_features.ascii   290 x 14 one-hot user covariates
    user_item_features/item_features.ascii   300 x 33 one-hot item covariates
    user_item_features/{user,item}_features_map.txt   names of those columns

The dataset ships without a licence file; its authors ask users to cite the paper. It is never
copied into this repository.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from recoworld.datasets.registry import ENV_VAR, data_root
from recoworld.errors import DataError, DatasetNotFoundError

__all__ = ["COAT_SHAPE", "CoatData", "load_coat"]

COAT_SHAPE = (290, 300)
"""(users, items) of Coat."""


@dataclass(frozen=True)
class CoatData:
    """The Coat matrices, validated. Ratings are ``int8`` with 0 meaning unobserved."""

    train: npt.NDArray[np.int8]
    """Self-selected (MNAR) ratings, ``(n_users, n_items)``."""
    test: npt.NDArray[np.int8]
    """Randomly exposed (MCAR) ratings, ``(n_users, n_items)``."""
    propensities: npt.NDArray[np.float64]
    """Shipped observation propensities of the training matrix, in (0, 1]."""
    user_features: npt.NDArray[np.float64]
    """One-hot user covariates, ``(n_users, 14)``."""
    item_features: npt.NDArray[np.float64]
    """One-hot item covariates, ``(n_items, 33)``."""
    user_feature_names: tuple[str, ...]
    """Names of the user covariate columns."""
    item_feature_names: tuple[str, ...]
    """Names of the item covariate columns."""

    @property
    def n_users(self) -> int:
        """Number of users (290)."""
        return int(self.train.shape[0])

    @property
    def n_items(self) -> int:
        """Number of items (300)."""
        return int(self.train.shape[1])


def _read_matrix(path: Path, shape: tuple[int, int] | None, dtype: type[np.generic]
                 ) -> npt.NDArray[np.generic]:
    if not path.is_file():
        raise DatasetNotFoundError(f"missing Coat file {path}; unpack coat.zip from "
                                   "https://www.cs.cornell.edu/~schnabts/mnar/ so that this "
                                   "file exists")
    try:
        mat = np.loadtxt(path, dtype=np.float64, ndmin=2)
    except ValueError as exc:
        raise DataError(f"{path} is not a whitespace-separated numeric matrix: {exc}") from exc
    if shape is not None and mat.shape != shape:
        raise DataError(f"{path} must hold a {shape[0]} x {shape[1]} matrix, got "
                        f"{mat.shape[0]} x {mat.shape[1]} (truncated file?)")
    if not np.all(np.isfinite(mat)):
        raise DataError(f"{path} holds NaN or inf values")
    return mat.astype(dtype)


def _read_ratings(path: Path) -> npt.NDArray[np.int8]:
    mat = np.asarray(_read_matrix(path, COAT_SHAPE, np.float64), dtype=np.float64)
    bad = (mat != np.round(mat)) | (mat < 0) | (mat > 5)
    if np.any(bad):
        r, c = np.argwhere(bad)[0]
        raise DataError(f"{path}: ratings must be integers 0..5 (0 = missing), got "
                        f"{mat[r, c]!r} at user {r}, item {c}")
    return mat.astype(np.int8)


def _read_names(path: Path) -> tuple[str, ...]:
    if not path.is_file():
        raise DatasetNotFoundError(f"missing Coat file {path}")
    return tuple(line.strip() for line in path.read_text().splitlines() if line.strip())


def load_coat(data_dir: str | Path | None = None) -> CoatData:
    """Load Coat from ``<data_dir or $RECOWORLD_DATA>/coat`` and validate every matrix."""
    root = data_root(data_dir)
    if root is None:
        raise DatasetNotFoundError(f"Coat needs its files: pass `data_dir=` (or --data-dir) or set "
                                   f"{ENV_VAR} to a folder holding coat/")
    base = root / "coat"
    if not base.is_dir():
        raise DatasetNotFoundError(f"Coat not found at {base}; unpack coat.zip there "
                                   "(https://www.cs.cornell.edu/~schnabts/mnar/)")
    train = _read_ratings(base / "train.ascii")
    test = _read_ratings(base / "test.ascii")
    prop = _read_matrix(base / "propensities.ascii", COAT_SHAPE, np.float64)
    lo, hi = float(prop.min()), float(prop.max())
    if lo <= 0.0 or hi > 1.0:
        raise DataError(f"{base / 'propensities.ascii'}: propensities must be in (0, 1], got "
                        f"min={lo:g}, max={hi:g}")
    feats = base / "user_item_features"
    user_x = _read_matrix(feats / "user_features.ascii", None, np.float64)
    item_x = _read_matrix(feats / "item_features.ascii", None, np.float64)
    if user_x.shape[0] != COAT_SHAPE[0] or item_x.shape[0] != COAT_SHAPE[1]:
        raise DataError(f"Coat feature files must have {COAT_SHAPE[0]} user rows and "
                        f"{COAT_SHAPE[1]} item rows, got {user_x.shape[0]} and {item_x.shape[0]}")
    user_names = _read_names(feats / "user_features_map.txt")
    item_names = _read_names(feats / "item_features_map.txt")
    return CoatData(train, test, prop.astype(np.float64),  # type: ignore[arg-type]
                    user_x.astype(np.float64), item_x.astype(np.float64),
                    user_names, item_names)
