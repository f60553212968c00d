"""The short-video feed world: a video catalogue and a user population, and the synthetic default.

A :class:`FeedWorld` is immutable and holds everything the feed simulator needs about items and
people; the simulator keeps all mutable state (patience, satiation, drifting interests) itself.

Representation. Items and users share one ``dim``-dimensional taste space: an item's
``embedding`` is unit-norm, a user's latent ``interest`` is a vector whose dot product with an
embedding is the user-item affinity. Agents never see ``interest``; they see the user's
observable ``features`` and ``profile`` (a noisy estimate of the interest, what a production
retrieval model would hold), the items' observable columns and the session history.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np
from numpy.typing import NDArray

from recoworld._validate import require_range
from recoworld.errors import DataError

__all__ = [
    "FeedWorld",
    "UserPopulation",
    "VideoCatalogue",
    "default_synthetic_world",
    "popularity_from_appeal",
    "synthetic_feed_world",
    "traits_from_activity",
    "unit_rows",
]

F32 = NDArray[np.float32]
I64 = NDArray[np.int64]


def _check_shape(name: str, arr: NDArray[np.generic], shape: tuple[int, ...]) -> None:
    if arr.shape != shape:
        raise DataError(f"`{name}` must have shape {shape}, got {arr.shape}")


def _check_finite(name: str, arr: NDArray[np.generic]) -> None:
    if not np.all(np.isfinite(arr)):
        bad = int(np.size(arr) - np.count_nonzero(np.isfinite(arr)))
        raise DataError(f"`{name}` must be finite, got {bad} non-finite values; clean the source")


@dataclass(frozen=True)
class VideoCatalogue:
    """The videos a feed can show, one row per video.

    Attributes:
        video_ids: original id of each video in its source dataset, shape ``(n_items,)``.
        duration_s: duration in seconds, > 0.
        category: primary category index in ``[0, n_categories)``.
        category_names: name of each category (``len == n_categories``).
        quality: intrinsic appeal shared by every user (standardised, mean about 0).
        upload_day: day the video appeared (0 = oldest); videos of the last day are cold-start.
        embedding: unit-norm vector in the shared taste space, shape ``(n_items, dim)``.
        popularity: observable prior popularity (log exposure, standardised); 0 for cold items,
            which have no history.

    """

    video_ids: I64
    duration_s: F32
    category: I64
    category_names: tuple[str, ...]
    quality: F32
    upload_day: I64
    embedding: F32
    popularity: F32

    def __post_init__(self) -> None:
        n = int(self.video_ids.shape[0])
        if n < 1:
            raise DataError("the video catalogue must hold at least 1 video, got 0")
        for name in ("duration_s", "category", "quality", "upload_day", "popularity"):
            _check_shape(name, getattr(self, name), (n,))
        if self.embedding.ndim != 2 or self.embedding.shape[0] != n:
            raise DataError(
                f"`embedding` must have shape ({n}, dim), got {self.embedding.shape}"
            )
        for name in ("duration_s", "quality", "embedding", "popularity"):
            _check_finite(name, getattr(self, name))
        if float(self.duration_s.min()) <= 0.0:
            raise DataError(
                f"`duration_s` must be > 0 s, got min={float(self.duration_s.min())}"
            )
        nc = len(self.category_names)
        if int(self.category.min()) < 0 or int(self.category.max()) >= nc:
            raise DataError(
                f"`category` must lie in [0, {nc}), got range "
                f"[{int(self.category.min())}, {int(self.category.max())}]"
            )

    @property
    def n_items(self) -> int:
        """Number of videos."""
        return int(self.video_ids.shape[0])

    @property
    def n_categories(self) -> int:
        """Number of categories."""
        return len(self.category_names)

    @property
    def dim(self) -> int:
        """Dimension of the taste space."""
        return int(self.embedding.shape[1])

    @property
    def is_new(self) -> NDArray[np.bool_]:
        """Cold-start videos: uploaded on the most recent day (if uploads span several days)."""
        last = self.upload_day.max()
        return np.asarray((self.upload_day == last) & (last > self.upload_day.min()))


@dataclass(frozen=True)
class UserPopulation:
    """The people who use the feed, one row per user.

    Attributes:
        user_ids: original id of each user in its source dataset, shape ``(n_users,)``.
        interest: latent taste vector (hidden from agents), shape ``(n_users, dim)``.
        profile: observable noisy estimate of ``interest`` (what a retrieval model knows).
        activity: activity level in ``(0, 1]`` (observable).
        patience: initial patience budget of a session, > 0 (hidden).
        return_propensity: multiplier of the daily return rate, > 0 (hidden).
        features: observable per-user feature vector, shape ``(n_users, n_features)``.
        feature_names: name of each column of ``features``.

    """

    user_ids: I64
    interest: F32
    profile: F32
    activity: F32
    patience: F32
    return_propensity: F32
    features: F32
    feature_names: tuple[str, ...]

    def __post_init__(self) -> None:
        n = int(self.user_ids.shape[0])
        if n < 1:
            raise DataError("the user population must hold at least 1 user, got 0")
        if self.interest.ndim != 2 or self.interest.shape[0] != n:
            raise DataError(f"`interest` must have shape ({n}, dim), got {self.interest.shape}")
        _check_shape("profile", self.profile, self.interest.shape)
        for name in ("activity", "patience", "return_propensity"):
            _check_shape(name, getattr(self, name), (n,))
        _check_shape("features", self.features, (n, len(self.feature_names)))
        for name in ("interest", "profile", "activity", "patience", "return_propensity", "features"):
            _check_finite(name, getattr(self, name))
        if float(self.activity.min()) <= 0.0 or float(self.activity.max()) > 1.0:
            raise DataError(
                f"`activity` must lie in (0, 1], got range [{float(self.activity.min())}, "
                f"{float(self.activity.max())}]"
            )
        for name in ("patience", "return_propensity"):
            low = float(getattr(self, name).min())
            if low <= 0.0:
                raise DataError(f"`{name}` must be > 0, got min={low}")

    @property
    def n_users(self) -> int:
        """Number of users."""
        return int(self.user_ids.shape[0])


@dataclass(frozen=True)
class FeedWorld:
    """A catalogue and a population that share one taste space.

    Attributes:
        name: short name of the source (``"synthetic"``, ``"kuairand_pure"``, ``"kuairec"``).
        catalogue: the videos.
        population: the users.
        recorded_watch_ratio: for replay worlds, the recorded watch ratio of each (user, video)
            pair, NaN where unobserved, shape ``(n_users, n_items)``; ``None`` otherwise.
        notes: what the loader did to the source (rows excluded and why), for the record.
        synthetic: whether the videos and users were generated rather than read from a released
            dataset (every evaluation output carries this flag).

    """

    name: str
    catalogue: VideoCatalogue
    population: UserPopulation
    recorded_watch_ratio: F32 | None = None
    notes: tuple[str, ...] = field(default_factory=tuple)
    synthetic: bool = False

    def __post_init__(self) -> None:
        if self.catalogue.dim != self.population.interest.shape[1]:
            raise DataError(
                f"catalogue embedding dim {self.catalogue.dim} must equal population interest "
                f"dim {self.population.interest.shape[1]}"
            )
        if self.recorded_watch_ratio is not None:
            _check_shape(
                "recorded_watch_ratio",
                self.recorded_watch_ratio,
                (self.population.n_users, self.catalogue.n_items),
            )


def _unit_rows(x: NDArray[np.float64]) -> NDArray[np.float64]:
    norm = np.linalg.norm(x, axis=1, keepdims=True)
    return np.asarray(x / np.maximum(norm, 1e-12))


def popularity_from_appeal(
    appeal: NDArray[np.float64], is_new: NDArray[np.bool_], rng: np.random.Generator
) -> NDArray[np.float32]:
    """Observable popularity: a noisy log-exposure driven by true appeal; 0 for cold items.

    Real platforms expose appealing videos more, so the logged popularity correlates with appeal,
    imperfectly (noise of half a standard deviation). Cold items have no log: their value is 0.
    """
    z = (appeal - appeal.mean()) / max(float(appeal.std()), 1e-12)
    pop = z + 0.5 * rng.standard_normal(appeal.shape[0])
    pop = (pop - pop.mean()) / max(float(pop.std()), 1e-12)
    pop[is_new] = 0.0
    return np.asarray(pop, dtype=np.float32)


def traits_from_activity(
    activity: NDArray[np.float64], rng: np.random.Generator
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Hidden patience and return propensity of users, higher for more active users.

    Patience (the session's budget) is log-normal around ``8 * (0.5 + activity)``; the return
    propensity (multiplier of the daily return hazard) is log-normal around ``0.5 + activity``.
    """
    n = activity.shape[0]
    patience = 8.0 * np.exp(0.3 * rng.standard_normal(n)) * (0.5 + activity)
    propensity = np.exp(0.4 * rng.standard_normal(n)) * (0.5 + activity)
    return patience, propensity


def unit_rows(x: NDArray[np.float64]) -> NDArray[np.float64]:
    """Rows of ``x`` scaled to unit Euclidean norm (zero rows stay zero)."""
    return _unit_rows(x)


def synthetic_feed_world(
    n_users: int = 2000,
    n_items: int = 3000,
    n_categories: int = 20,
    dim: int = 16,
    seed: int = 0,
) -> FeedWorld:
    """Generate the bundled synthetic feed world (deterministic in ``seed``).

    Durations follow a split log-normal through KuaiRand-Pure's 10th, 50th and 90th percentiles
    (14.6, 81.2, 237.8 s; clipped to [5, 1200] s);
    each category has a centroid in taste space and its videos scatter around it; each user's
    interest mixes a few categories (Dirichlet weights); a tenth of the videos are cold-start.
    """
    for name, value, low in (
        ("n_users", n_users, 1),
        ("n_items", n_items, 1),
        ("n_categories", n_categories, 1),
        ("dim", dim, 2),
    ):
        require_range(name, value, low, error=DataError)
    rng = np.random.default_rng(seed)
    centroids = _unit_rows(rng.standard_normal((n_categories, dim)))
    category = rng.integers(0, n_categories, size=n_items)
    noise = rng.standard_normal((n_items, dim)) / np.sqrt(dim)
    embedding = _unit_rows(centroids[category] + 0.8 * noise)
    # Split normal in log-duration through KuaiRand-Pure's p10 / p50 / p90 (14.6 / 81.2 / 237.8 s).
    z = rng.standard_normal(n_items)
    below, above = np.log(81.2 / 14.6) / 1.2816, np.log(237.8 / 81.2) / 1.2816
    spread = np.where(z < 0.0, below, above)
    duration = np.clip(np.exp(np.log(81.2) + spread * z), 5.0, 1200.0)
    quality = rng.standard_normal(n_items)
    upload_day = rng.choice(np.arange(3), size=n_items, p=[0.45, 0.45, 0.10])

    mix = rng.dirichlet(np.full(n_categories, 0.3), size=n_users)
    taste_noise = rng.standard_normal((n_users, dim)) / np.sqrt(dim)
    interest = 1.5 * _unit_rows(mix @ centroids + 0.3 * taste_noise)
    profile = interest + 0.5 * rng.standard_normal((n_users, dim)) / np.sqrt(dim)
    activity = rng.beta(4.0, 2.0, size=n_users) * 0.95 + 0.05
    patience, return_propensity = traits_from_activity(activity, rng)

    cat = np.asarray(category, dtype=np.int64)
    is_new = np.asarray(upload_day == upload_day.max())  # three upload days: the last is cold
    appeal = quality + (interest @ embedding.T).mean(axis=0)
    popularity = popularity_from_appeal(appeal, is_new, rng)
    catalogue = VideoCatalogue(
        video_ids=np.arange(n_items, dtype=np.int64),
        duration_s=duration.astype(np.float32),
        category=cat,
        category_names=tuple(f"category_{c}" for c in range(n_categories)),
        quality=quality.astype(np.float32),
        upload_day=np.asarray(upload_day, dtype=np.int64),
        embedding=embedding.astype(np.float32),
        popularity=popularity,
    )
    population = UserPopulation(
        user_ids=np.arange(n_users, dtype=np.int64),
        interest=interest.astype(np.float32),
        profile=profile.astype(np.float32),
        activity=activity.astype(np.float32),
        patience=patience.astype(np.float32),
        return_propensity=return_propensity.astype(np.float32),
        features=activity.astype(np.float32)[:, None],
        feature_names=("activity",),
    )
    return FeedWorld(
        name="synthetic", catalogue=catalogue, population=population, synthetic=True
    )


@lru_cache(maxsize=4)
def default_synthetic_world(seed: int = 0) -> FeedWorld:
    """The bundled default world of ``recoworld/ShortVideo-v0`` (cached; it is immutable)."""
    return synthetic_feed_world(seed=seed)
