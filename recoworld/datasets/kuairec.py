"""KuaiRec's fully observed ``small_matrix.csv`` as a replay feed world.

KuaiRec (Gao et al., CIKM 2022) ships ``small_matrix.csv``: 1,411 users x 3,327 videos, 99.6 %
of pairs observed, columns ``user_id, video_id, play_duration, video_duration, time, date,
timestamp, watch_ratio``. Users bring the file themselves (it is not redistributed here). In the
replay world every user answers with the recorded watch ratio of the pair; a taste space is
fitted to the matrix (truncated SVD) so that retrieval, observations and oracles have embeddings.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import polars as pl
from numpy.typing import NDArray

from recoworld.datasets.feed_world import (
    FeedWorld,
    UserPopulation,
    VideoCatalogue,
    popularity_from_appeal,
    traits_from_activity,
    unit_rows,
)
from recoworld.errors import DataError, DatasetNotFoundError

__all__ = ["KUAIREC_COLUMNS", "KuaiRecMatrix", "kuairec_world", "load_kuairec_matrix"]

#: The columns of KuaiRec's ``small_matrix.csv`` / ``big_matrix.csv``, in file order.
KUAIREC_COLUMNS = (
    "user_id",
    "video_id",
    "play_duration",
    "video_duration",
    "time",
    "date",
    "timestamp",
    "watch_ratio",
)


@dataclass(frozen=True)
class KuaiRecMatrix:
    """A dense user x video watch-ratio matrix.

    Attributes:
        user_ids: original user ids, one per row.
        video_ids: original video ids, one per column.
        watch_ratio: recorded ratios, NaN where the pair was not observed.
        duration_s: video durations in seconds.
        notes: what the loader did (duplicates averaged, rows excluded).

    """

    user_ids: NDArray[np.int64]
    video_ids: NDArray[np.int64]
    watch_ratio: NDArray[np.float32]
    duration_s: NDArray[np.float32]
    notes: tuple[str, ...]

    @property
    def density(self) -> float:
        """Fraction of observed pairs."""
        return float(np.isfinite(self.watch_ratio).mean())


def load_kuairec_matrix(path: str | os.PathLike[str]) -> KuaiRecMatrix:
    """Read ``small_matrix.csv`` (or any file in its column format) into a dense matrix."""
    file = Path(path)
    if not file.is_file():
        raise DatasetNotFoundError(
            f"KuaiRec matrix {file} not found; download KuaiRec "
            "(https://kuairec.com) and pass the path of data/small_matrix.csv"
        )
    try:
        frame = pl.read_csv(file, infer_schema_length=10000)
    except pl.exceptions.PolarsError as exc:
        raise DataError(f"{file} is not a readable CSV file: {exc}") from exc
    absent = [c for c in ("user_id", "video_id", "video_duration", "watch_ratio") if c not in frame.columns]
    if absent:
        raise DataError(f"{file} lacks columns {absent}; expected {list(KUAIREC_COLUMNS)}")
    if frame.height == 0:
        raise DataError(f"{file} holds no rows")
    notes: list[str] = []
    try:
        frame = frame.select(
            pl.col("user_id").cast(pl.Int64),
            pl.col("video_id").cast(pl.Int64),
            pl.col("video_duration").cast(pl.Float64),
            pl.col("watch_ratio").cast(pl.Float64),
        )
    except pl.exceptions.PolarsError as exc:
        first = str(exc).splitlines()[0]
        raise DataError(
            f"{file}: user_id and video_id must be integers and video_duration and watch_ratio "
            f"numbers ({first})"
        ) from exc
    bad = frame.filter(~pl.col("watch_ratio").is_finite() | (pl.col("watch_ratio") < 0))
    if bad.height:
        raise DataError(
            f"{file}: watch_ratio must be finite and >= 0, got {bad.height} bad rows "
            f"(first: {bad.row(0)})"
        )
    durations = frame.group_by("video_id").agg(pl.col("video_duration").drop_nulls().median())
    no_duration = durations.filter(
        pl.col("video_duration").is_null() | (pl.col("video_duration") <= 0)
    )["video_id"]
    if len(no_duration):
        frame = frame.filter(~pl.col("video_id").is_in(no_duration.implode()))
        notes.append(f"excluded {len(no_duration)} videos without a positive video_duration")
        durations = durations.filter(~pl.col("video_id").is_in(no_duration.implode()))
    pairs = frame.group_by(["user_id", "video_id"]).agg(
        pl.col("watch_ratio").mean(), pl.len().alias("n")
    )
    dup = int((pairs["n"] > 1).sum())
    if dup:
        notes.append(f"averaged the watch ratios of {dup} (user, video) pairs recorded twice or more")
    user_ids = np.unique(pairs["user_id"].to_numpy())
    durations = durations.sort("video_id")
    video_ids = durations["video_id"].to_numpy()
    rows = np.searchsorted(user_ids, pairs["user_id"].to_numpy())
    cols = np.searchsorted(video_ids, pairs["video_id"].to_numpy())
    matrix = np.full((len(user_ids), len(video_ids)), np.nan, dtype=np.float32)
    matrix[rows, cols] = pairs["watch_ratio"].to_numpy()
    return KuaiRecMatrix(
        user_ids=user_ids.astype(np.int64),
        video_ids=video_ids.astype(np.int64),
        watch_ratio=matrix,
        duration_s=(durations["video_duration"].to_numpy() / 1000.0).astype(np.float32),
        notes=tuple(notes),
    )


def kuairec_world(matrix: KuaiRecMatrix, dim: int = 16, seed: int = 0) -> FeedWorld:
    """A replay world on ``matrix``: SVD taste space, recorded ratios as ground truth.

    Embeddings come from a rank-``dim`` SVD of the log watch-ratio matrix (unobserved pairs filled
    with the user's mean); a video's category is its dominant SVD component and sign (at most
    ``2 * min(dim, 8)`` categories); quality is the standardised mean log ratio of the video.
    """
    n_users, n_items = matrix.watch_ratio.shape
    rank = min(dim, n_users, n_items)
    if rank < 2:
        raise DataError(
            f"a KuaiRec replay world needs >= 2 users and >= 2 videos, got {n_users} x {n_items}"
        )
    rng = np.random.default_rng(seed)
    logr = np.log1p(matrix.watch_ratio.astype(np.float64))
    seen = np.isfinite(logr)
    user_mean = np.nanmean(np.where(seen, logr, np.nan), axis=1)
    user_mean = np.where(np.isfinite(user_mean), user_mean, 0.0)
    filled = np.where(seen, logr, user_mean[:, None])
    item_mean = filled.mean(axis=0)
    u, s, vt = np.linalg.svd(filled - user_mean[:, None] - item_mean[None, :] + item_mean.mean(),
                             full_matrices=False)
    # An SVD fixes each component only up to its sign, and LAPACK builds differ in the sign they
    # return; the categories below read signs, so fix them: each item-side vector's entry of
    # largest magnitude is positive (the user side flips with it, so u s vt is unchanged).
    flip = np.sign(vt[np.arange(vt.shape[0]), np.abs(vt).argmax(axis=1)])
    flip[flip == 0] = 1.0
    u, vt = u * flip[None, :], vt * flip[:, None]
    basis = np.zeros((n_items, dim))
    basis[:, :rank] = vt[:rank].T
    embedding = unit_rows(basis + 1e-3 * rng.standard_normal(basis.shape))
    scale = np.zeros((n_users, dim))
    scale[:, :rank] = u[:, :rank] * s[:rank]
    interest = 1.5 * unit_rows(scale + 1e-3 * rng.standard_normal(scale.shape))
    n_comp = min(dim, 8, rank)
    comp = np.abs(embedding[:, :n_comp]).argmax(axis=1)
    sign = embedding[np.arange(n_items), comp] < 0
    category = (2 * comp + sign).astype(np.int64)
    quality = (item_mean - item_mean.mean()) / max(float(item_mean.std()), 1e-12)
    # Activity: the user's mean log ratio, ranked into (0, 1].
    order = np.argsort(np.argsort(user_mean, kind="stable"), kind="stable")
    activity = (order + 1) / n_users
    patience, propensity = traits_from_activity(activity, rng)
    profile = interest + 0.5 * rng.standard_normal(interest.shape) / np.sqrt(dim)
    is_new = np.zeros(n_items, dtype=bool)
    catalogue = VideoCatalogue(
        video_ids=matrix.video_ids,
        duration_s=matrix.duration_s,
        category=category,
        category_names=tuple(f"svd{c // 2}{'-' if c % 2 else '+'}" for c in range(2 * n_comp)),
        quality=quality.astype(np.float32),
        upload_day=np.zeros(n_items, dtype=np.int64),
        embedding=embedding.astype(np.float32),
        popularity=popularity_from_appeal(item_mean, is_new, rng),
    )
    population = UserPopulation(
        user_ids=matrix.user_ids,
        interest=interest.astype(np.float32),
        profile=profile.astype(np.float32),
        activity=activity.astype(np.float32),
        patience=patience.astype(np.float32),
        return_propensity=propensity.astype(np.float32),
        features=activity.astype(np.float32)[:, None],
        feature_names=("activity",),
    )
    return FeedWorld(
        name="kuairec",
        catalogue=catalogue,
        population=population,
        recorded_watch_ratio=matrix.watch_ratio,
        notes=matrix.notes,
    )
