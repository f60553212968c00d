"""Loader for Yahoo! R3 (Yahoo! Music ratings, Webscope R3), in its released layout.

The files may not be redistributed (Yahoo! Webscope data-sharing agreement), so RecoWorld ships
only this loader: put your own copy under ``<data root>/yahoo_r3``::

    ydata-ymusic-rating-study-v1_0-train.txt   user<TAB>song<TAB>rating, self-selected (MNAR),
                                               311,704 ratings of 15,400 users on 1,000 songs
    ydata-ymusic-rating-study-v1_0-test.txt    same format, 10 randomly exposed songs for each of
                                               the first 5,400 users (MCAR), 54,000 ratings

Ids are 1-based in the files and 0-based in the returned arrays; ratings are 1..5.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp

from recoworld.datasets.registry import ENV_VAR, data_root
from recoworld.errors import DataError, DatasetNotFoundError

__all__ = ["YAHOO_R3_FILES", "YAHOO_R3_SHAPE", "RatingTriples", "YahooR3Data", "load_yahoo_r3"]

YAHOO_R3_SHAPE = (15_400, 1_000)
"""(users, songs) of the release."""
YAHOO_R3_FILES = {
    "train": "ydata-ymusic-rating-study-v1_0-train.txt",
    "test": "ydata-ymusic-rating-study-v1_0-test.txt",
}
"""File name of each split."""


@dataclass(frozen=True)
class RatingTriples:
    """One split as parallel arrays: 0-based user and item ids, ratings 1..5."""

    user: npt.NDArray[np.int64]
    """0-based user ids."""
    item: npt.NDArray[np.int64]
    """0-based item (song) ids."""
    rating: npt.NDArray[np.int8]
    """Ratings 1..5."""

    def to_csr(self, shape: tuple[int, int] = YAHOO_R3_SHAPE) -> sp.csr_matrix:
        """The split as a sparse ``(n_users, n_items)`` matrix (0 = unobserved)."""
        return sp.csr_matrix((self.rating.astype(np.float64), (self.user, self.item)), shape=shape)


@dataclass(frozen=True)
class YahooR3Data:
    """Both splits of Yahoo! R3."""

    train: RatingTriples
    """Self-selected (MNAR) ratings."""
    test: RatingTriples
    """Randomly exposed (MCAR) ratings."""


def _read_split(path: Path, shape: tuple[int, int]) -> RatingTriples:
    if not path.is_file():
        raise DatasetNotFoundError(f"missing Yahoo! R3 file {path}; the release cannot be "
                                   "redistributed, request it from Yahoo! Webscope (dataset R3) "
                                   "and put its two .txt files there")
    try:
        raw = np.loadtxt(path, dtype=np.int64, delimiter="\t", ndmin=2)
    except ValueError as exc:
        raise DataError(f"{path}: expected tab-separated integer lines 'user<TAB>song<TAB>rating'"
                        f": {exc}") from exc
    if raw.shape[0] == 0:
        raise DataError(f"{path} holds no ratings")
    if raw.shape[1] != 3:
        raise DataError(f"{path}: expected 3 columns (user, song, rating), got {raw.shape[1]}")
    user, item, rating = raw[:, 0] - 1, raw[:, 1] - 1, raw[:, 2]
    for name, ids, bound in (("user", user, shape[0]), ("song", item, shape[1])):
        if int(ids.min()) < 0 or int(ids.max()) >= bound:
            raise DataError(f"{path}: {name} ids must be in 1..{bound}, got "
                            f"{int(ids.min()) + 1}..{int(ids.max()) + 1}")
    if int(rating.min()) < 1 or int(rating.max()) > 5:
        raise DataError(f"{path}: ratings must be 1..5, got {int(rating.min())}..{int(rating.max())}")
    pair = user * shape[1] + item
    if np.unique(pair).size != pair.size:
        raise DataError(f"{path}: a (user, song) pair is rated more than once")
    return RatingTriples(user, item, rating.astype(np.int8))


def load_yahoo_r3(data_dir: str | Path | None = None,
                  shape: tuple[int, int] = YAHOO_R3_SHAPE) -> YahooR3Data:
    """Load Yahoo! R3 from ``<data_dir or $RECOWORLD_DATA>/yahoo_r3`` and validate it.

    ``shape`` bounds the ids (the release's 15,400 users x 1,000 songs by default).
    """
    root = data_root(data_dir)
    if root is None:
        raise DatasetNotFoundError(f"Yahoo! R3 needs its files: pass `data_dir=` or set {ENV_VAR} "
                                   "to a folder holding yahoo_r3/")
    base = root / "yahoo_r3"
    if not base.is_dir():
        raise DatasetNotFoundError(f"Yahoo! R3 not found at {base}; request the release from "
                                   "Yahoo! Webscope (R3) and put its files there")
    return YahooR3Data(_read_split(base / YAHOO_R3_FILES["train"], shape),
                       _read_split(base / YAHOO_R3_FILES["test"], shape))
