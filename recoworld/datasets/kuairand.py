"""KuaiRand-Pure as a feed world: real video and user features, latent tastes sampled around them.

Files (CC BY-SA 4.0, Gao et al., CIKM 2022), in ``<root>/kuairand_pure/``:
``video_features_basic_pure.csv`` and ``user_features_pure.csv``. ``<root>`` is the ``data_dir``
argument or ``$RECOWORLD_DATA``. The interaction logs are not needed.

What is real: every video's duration, tags (the first tag is the category), upload day and type;
every user's activity degree, author/streamer flags, follow/fan/friend counts, registration age and
the 18 anonymised categorical features. What is sampled (seeded): tag vectors of the taste space,
user tastes (users sharing categorical feature values share taste components), intrinsic quality,
hidden patience and return propensity (both grow with the real activity degree), and the logged
popularity (no logs ship with the features). Videos without a duration (239 of 7,583) are
excluded and the count is recorded in :attr:`FeedWorld.notes`.
"""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

import numpy as np
import polars as pl
from numpy.typing import NDArray

from recoworld._validate import require_range
from recoworld.datasets.feed_world import (
    FeedWorld,
    UserPopulation,
    VideoCatalogue,
    popularity_from_appeal,
    traits_from_activity,
    unit_rows,
)
from recoworld.errors import DataError, DatasetNotFoundError

__all__ = ["KUAIRAND_DIR", "kuairand_dir", "load_kuairand_world"]

#: Folder name under the data root.
KUAIRAND_DIR = "kuairand_pure"
_VIDEO_FILE = "video_features_basic_pure.csv"
_USER_FILE = "user_features_pure.csv"
_VIDEO_COLUMNS = ("video_id", "video_type", "upload_dt", "video_duration", "tag")
_ONEHOT = tuple(f"onehot_feat{i}" for i in range(18))
_USER_COLUMNS = (
    "user_id",
    "user_active_degree",
    "is_live_streamer",
    "is_video_author",
    "follow_user_num",
    "fans_user_num",
    "friend_user_num",
    "register_days",
    *_ONEHOT,
)
#: Activity level per ``user_active_degree`` value (ordinal, in (0, 1]).
_ACTIVITY = {
    "full_active": 1.0,
    "high_active": 0.75,
    "middle_active": 0.5,
    "30day_retention": 0.4,
    "2_14_day_new": 0.35,
    "low_active": 0.25,
    "single_low_active": 0.15,
    "day_new": 0.15,
    "UNKNOWN": 0.3,
}


def kuairand_dir(data_dir: str | os.PathLike[str] | None = None) -> Path:
    """The KuaiRand-Pure folder under ``data_dir`` or ``$RECOWORLD_DATA``; raises if absent."""
    root = data_dir if data_dir is not None else os.environ.get("RECOWORLD_DATA")
    if root is None:
        raise DatasetNotFoundError(
            "KuaiRand-Pure needs a data root: pass data_dir=... or set $RECOWORLD_DATA to the "
            f"folder that contains {KUAIRAND_DIR}/ (with {_VIDEO_FILE} and {_USER_FILE})"
        )
    base = Path(root)
    folder = base if (base / _VIDEO_FILE).is_file() else base / KUAIRAND_DIR
    missing = [f for f in (_VIDEO_FILE, _USER_FILE) if not (folder / f).is_file()]
    if missing:
        raise DatasetNotFoundError(
            f"KuaiRand-Pure files {missing} not found in {folder}; put {_VIDEO_FILE} and "
            f"{_USER_FILE} in <root>/{KUAIRAND_DIR}/ and pass data_dir=<root> or set "
            "$RECOWORLD_DATA=<root>"
        )
    return folder


def _read(path: Path, columns: tuple[str, ...]) -> pl.DataFrame:
    try:
        frame = pl.read_csv(path, infer_schema_length=10000)
    except pl.exceptions.PolarsError as exc:
        raise DataError(f"{path} is not a readable CSV file: {exc}") from exc
    absent = [c for c in columns if c not in frame.columns]
    if absent:
        raise DataError(f"{path} lacks columns {absent}; expected at least {list(columns)}")
    return frame


def load_kuairand_world(
    data_dir: str | os.PathLike[str] | None = None, dim: int = 16, seed: int = 0
) -> FeedWorld:
    """Load KuaiRand-Pure's features into a :class:`FeedWorld` (deterministic in ``seed``)."""
    require_range("dim", dim, 2, error=DataError)
    folder = kuairand_dir(data_dir)
    try:
        return _build_world(folder, dim, seed)
    except (pl.exceptions.PolarsError, ValueError, TypeError) as exc:
        if isinstance(exc, DataError):
            raise
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise DataError(
            f"KuaiRand-Pure files in {folder} hold a column of the wrong type or an unreadable "
            f"value ({first}); restore the released {_VIDEO_FILE} and {_USER_FILE}"
        ) from exc


def _build_world(folder: Path, dim: int, seed: int) -> FeedWorld:
    rng = np.random.default_rng(seed)
    notes: list[str] = []

    videos = _read(folder / _VIDEO_FILE, _VIDEO_COLUMNS)
    n_raw = videos.height
    videos = videos.filter(pl.col("video_duration").is_not_null() & (pl.col("video_duration") > 0))
    if videos.height < n_raw:
        notes.append(f"excluded {n_raw - videos.height} of {n_raw} videos without video_duration")
    if videos.height == 0:
        raise DataError(f"{folder / _VIDEO_FILE} holds no video with a positive video_duration")
    tags = videos["tag"].cast(pl.Utf8).fill_null("")
    tag_lists = [[t for t in s.split(",") if t] for s in tags.to_list()]
    distinct = sorted({t for ts in tag_lists for t in ts}, key=int)
    names = (*(f"tag_{t}" for t in distinct), "untagged")
    tag_index = {t: i for i, t in enumerate(distinct)}
    category = np.array(
        [tag_index[ts[0]] if ts else len(distinct) for ts in tag_lists], dtype=np.int64
    )
    untagged = int(np.count_nonzero(category == len(distinct)))
    if untagged:
        notes.append(f"{untagged} videos without a tag form the category 'untagged'")
    tag_vec = unit_rows(rng.standard_normal((len(names), dim)))
    # Multi-hot tag sums: one pass over the (short) tag lists, vectorised with add.at.
    rows = np.repeat(np.arange(len(tag_lists)), [max(len(ts), 1) for ts in tag_lists])
    cols = np.concatenate(
        [[tag_index[t] for t in ts] if ts else [len(distinct)] for ts in tag_lists]
    ).astype(np.int64)
    multi = np.zeros((len(tag_lists), dim))
    np.add.at(multi, rows, tag_vec[cols])
    embedding = unit_rows(multi + 0.5 * rng.standard_normal(multi.shape) / np.sqrt(dim))
    duration = videos["video_duration"].cast(pl.Float64).to_numpy() / 1000.0
    days = [dt.date.fromisoformat(str(d)) for d in videos["upload_dt"].to_list()]
    first = min(days)
    upload_day = np.array([(d - first).days for d in days], dtype=np.int64)
    is_ad = (videos["video_type"] == "AD").to_numpy()
    quality = rng.standard_normal(videos.height) - 1.0 * is_ad  # ads are less appealing

    users = _read(folder / _USER_FILE, _USER_COLUMNS)
    degree = users["user_active_degree"].cast(pl.Utf8).fill_null("UNKNOWN").to_list()
    unknown = sorted({d for d in degree if d not in _ACTIVITY})
    if unknown:
        raise DataError(
            f"{folder / _USER_FILE}: unknown user_active_degree values {unknown}; expected "
            f"{sorted(_ACTIVITY)}"
        )
    activity = np.array([_ACTIVITY[d] for d in degree])
    n_users = users.height
    # Users who share a value of an anonymised categorical feature share a taste component.
    taste = np.zeros((n_users, dim))
    for col in _ONEHOT:  # 18 columns, each vectorised over all users
        codes = users[col].cast(pl.Float64).fill_null(-1.0).to_numpy()
        _, inverse = np.unique(codes, return_inverse=True)
        comp = rng.standard_normal((int(inverse.max()) + 1, dim)) / np.sqrt(dim)
        taste += comp[inverse]
    # Tastes point toward a few tags, as people follow a few topics.
    anchor = tag_vec[rng.integers(0, len(names), size=(n_users, 2))].sum(axis=1)
    interest = 1.5 * unit_rows(anchor + 0.4 * taste / np.sqrt(len(_ONEHOT)))
    profile = interest + 0.5 * rng.standard_normal((n_users, dim)) / np.sqrt(dim)
    patience, propensity = traits_from_activity(activity, rng)
    register = users["register_days"].cast(pl.Float64).to_numpy()
    propensity = propensity * np.exp(0.1 * np.log(np.maximum(register, 1.0) / np.median(register)))

    def _std(x: NDArray[np.float64]) -> NDArray[np.float64]:
        return np.asarray((x - x.mean()) / max(float(x.std()), 1e-12))

    feature_cols = {
        "activity": activity,
        "is_live_streamer": (users["is_live_streamer"].to_numpy() == 1).astype(np.float64),
        "is_video_author": users["is_video_author"].cast(pl.Float64).to_numpy(),
        "log_follow": _std(np.log1p(users["follow_user_num"].cast(pl.Float64).to_numpy())),
        "log_fans": _std(np.log1p(users["fans_user_num"].cast(pl.Float64).to_numpy())),
        "log_friends": _std(np.log1p(users["friend_user_num"].cast(pl.Float64).to_numpy())),
        "register_days": _std(register),
    }
    features = np.stack(list(feature_cols.values()), axis=1)

    is_new = (upload_day == upload_day.max()) & (upload_day.max() > upload_day.min())
    appeal = quality + (interest[:: max(1, n_users // 2000)] @ embedding.T).mean(axis=0)
    catalogue = VideoCatalogue(
        video_ids=videos["video_id"].cast(pl.Int64).to_numpy(),
        duration_s=duration.astype(np.float32),
        category=category,
        category_names=names,
        quality=quality.astype(np.float32),
        upload_day=upload_day,
        embedding=embedding.astype(np.float32),
        popularity=popularity_from_appeal(appeal, is_new, rng),
    )
    population = UserPopulation(
        user_ids=users["user_id"].cast(pl.Int64).to_numpy(),
        interest=interest.astype(np.float32),
        profile=profile.astype(np.float32),
        activity=activity.astype(np.float32),
        patience=patience.astype(np.float32),
        return_propensity=propensity.astype(np.float32),
        features=features.astype(np.float32),
        feature_names=tuple(feature_cols),
    )
    return FeedWorld(
        name="kuairand_pure", catalogue=catalogue, population=population, notes=tuple(notes)
    )
