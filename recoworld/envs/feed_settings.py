"""What defines a feed environment besides its seed and its user model: :class:`FeedSettings`."""

from __future__ import annotations

import dataclasses
import difflib
import os
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from recoworld._validate import require_range
from recoworld.datasets.feed_world import FeedWorld, default_synthetic_world
from recoworld.envs.feed_retriever import RetrieverConfig
from recoworld.errors import ConfigError, DatasetNotFoundError, UnknownKeywordError
from recoworld.users.feed.statistical import FeedUserParams

__all__ = ["FEED_SOURCES", "FeedSettings", "RewardWeights", "load_feed_world"]

#: World sources a feed environment can run on.
FEED_SOURCES = ("synthetic", "kuairand", "kuairec")


_REWARD_PRESETS = {
    "watch_time": (1.0, 0.0, 0.0, 0.0),
    "watch_ratio": (0.0, 1.0, 0.0, 0.0),
    "likes": (0.0, 0.0, 1.0, 0.0),
    "retention": (1.0, 0.0, 0.0, 5.0),
}


@dataclass(frozen=True)
class RewardWeights:
    """Weights of the per-video reward.

    Attributes:
        watch_time: per minute watched.
        watch_ratio: per unit of watch ratio.
        like: per like.
        retention: bonus on the video after which the user leaves, if the user comes back within
            the return window.

    """

    watch_time: float = 1.0
    watch_ratio: float = 0.0
    like: float = 0.0
    retention: float = 0.0

    @classmethod
    def preset(cls, name: str) -> RewardWeights:
        """One of ``"watch_time"``, ``"watch_ratio"``, ``"likes"``, ``"retention"``."""
        if name not in _REWARD_PRESETS:
            raise ConfigError(
                f"`reward` must be one of {sorted(_REWARD_PRESETS)} or a RewardWeights, "
                f"got {name!r}"
            )
        return cls(*_REWARD_PRESETS[name])


@lru_cache(maxsize=4)
def _kuairand(folder: str, seed: int) -> FeedWorld:
    from recoworld.datasets.kuairand import load_kuairand_world

    return load_kuairand_world(folder, seed=seed)


@lru_cache(maxsize=2)
def _kuairec(path: str, seed: int) -> FeedWorld:
    from recoworld.datasets.kuairec import kuairec_world, load_kuairec_matrix

    return kuairec_world(load_kuairec_matrix(path), seed=seed)


def load_feed_world(
    source: str,
    data_dir: str | os.PathLike[str] | None = None,
    kuairec_path: str | os.PathLike[str] | None = None,
    world_seed: int = 0,
) -> FeedWorld:
    """The world of a source (cached; worlds are immutable).

    ``kuairand`` reads ``<data_dir or $RECOWORLD_DATA>/kuairand_pure``; ``kuairec`` reads
    ``kuairec_path`` (or ``<data_dir or $RECOWORLD_DATA>/kuairec/small_matrix.csv``).
    """
    if source == "synthetic":
        return default_synthetic_world(world_seed)
    if source == "kuairand":
        from recoworld.datasets.kuairand import kuairand_dir

        return _kuairand(str(kuairand_dir(data_dir).resolve()), world_seed)
    if source == "kuairec":
        if kuairec_path is None:
            root = data_dir if data_dir is not None else os.environ.get("RECOWORLD_DATA")
            if root is None:
                raise DatasetNotFoundError(
                    "KuaiRec-Replay needs KuaiRec's small_matrix.csv: pass kuairec_path=... "
                    "(or put it at <root>/kuairec/small_matrix.csv and set $RECOWORLD_DATA=<root>)"
                )
            kuairec_path = Path(root) / "kuairec" / "small_matrix.csv"
        return _kuairec(str(Path(kuairec_path).resolve()), world_seed)
    raise ConfigError(f"`source` must be one of {FEED_SOURCES}, got {source!r}")


@dataclass(frozen=True)
class FeedSettings:
    """Everything that defines a feed environment besides its seed and its user model.

    :class:`~recoworld.envs.FeedEnv`, :class:`~recoworld.envs.SlateFeedEnv` and
    :class:`~recoworld.envs.FeedVectorEnv` take one; ``gymnasium.make(id, **keywords)`` builds it
    from the keywords (:meth:`from_keywords`).

    Attributes:
        source: world source, one of :data:`FEED_SOURCES` (ignored when ``world`` is given).
        world: a ready world; overrides ``source``.
        user_params: parameters of the default statistical user (biases, leave, return); not
            together with an env's ``user_model``.
        retriever: composition of the candidate pool (default :class:`RetrieverConfig`).
        history_length: videos in the observed history window (>= 1).
        sessions: sessions per episode (1: the episode ends when the user leaves).
        return_window_days: a user who comes back within this many days has returned (>= 1).
        reward: reward preset name (``"watch_time"``, ``"watch_ratio"``, ``"likes"``,
            ``"retention"``) or :class:`RewardWeights`.
        data_dir: dataset root (default ``$RECOWORLD_DATA``).
        kuairec_path: path of KuaiRec's ``small_matrix.csv``.
        world_seed: seed of the sampled parts of the world.

    """

    source: str = "synthetic"
    world: FeedWorld | None = None
    user_params: FeedUserParams | None = None
    retriever: RetrieverConfig | None = None
    history_length: int = 8
    sessions: int = 1
    return_window_days: int = 7
    reward: str | RewardWeights = "watch_time"
    data_dir: str | os.PathLike[str] | None = None
    kuairec_path: str | os.PathLike[str] | None = None
    world_seed: int = 0

    def __post_init__(self) -> None:
        if self.source not in FEED_SOURCES:
            raise ConfigError(f"`source` must be one of {FEED_SOURCES}, got {self.source!r}")
        require_range("history_length", self.history_length, 1)
        require_range("sessions", self.sessions, 1)
        require_range("return_window_days", self.return_window_days, 1)
        self.reward_weights()  # an unknown preset fails here, not at the first step

    @classmethod
    def from_keywords(cls, keywords: Mapping[str, Any]) -> FeedSettings:
        """Settings from ``gymnasium.make`` keywords; an unknown one is an :class:`UnknownKeywordError`."""
        known = [f.name for f in dataclasses.fields(cls)]
        for key in keywords:
            if key not in known:
                close = difflib.get_close_matches(key, known, n=1, cutoff=0.6)
                hint = f"; did you mean {close[0]!r}?" if close else ""
                raise UnknownKeywordError(
                    f"unknown feed environment keyword {key!r}{hint} (known: {', '.join(known)}, "
                    f"and user_model)"
                )
        return cls(**keywords)

    def resolved_world(self) -> FeedWorld:
        """The world these settings run on."""
        if self.world is not None:
            return self.world
        return load_feed_world(self.source, self.data_dir, self.kuairec_path, self.world_seed)

    def reward_weights(self) -> RewardWeights:
        """The reward weights (a preset resolved)."""
        reward = self.reward
        return RewardWeights.preset(reward) if isinstance(reward, str) else reward
