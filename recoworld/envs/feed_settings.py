"""Settings shared by every feed environment, and the construction of their simulator."""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from recoworld.datasets.feed_world import FeedWorld, default_synthetic_world
from recoworld.envs.feed_core import FeedSimulator, RewardWeights
from recoworld.envs.feed_retriever import RetrieverConfig
from recoworld.errors import ConfigError, DatasetNotFoundError
from recoworld.users.feed.interface import FeedUserModel
from recoworld.users.feed.replay import ReplayFeedUser
from recoworld.users.feed.statistical import FeedUserParams, StatisticalFeedUser

__all__ = ["FEED_SOURCES", "FeedSettings", "build_simulator", "load_feed_world"]

#: World sources a feed environment can run on.
FEED_SOURCES = ("synthetic", "kuairand", "kuairec")


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
    """Everything that defines a feed environment besides its seed.

    Attributes:
        source: world source, one of :data:`FEED_SOURCES` (ignored when ``world`` is given).
        world: a ready world; overrides ``source``.
        user_params: parameters of the default statistical user (biases, leave, return).
        retriever: composition of the candidate pool.
        history_length: videos in the observed history window.
        sessions: sessions per episode (1: the episode ends when the user leaves).
        return_window_days: a user who comes back within this many days has returned.
        reward: reward preset name or weights.
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
    data_dir: str | None = None
    kuairec_path: str | None = None
    world_seed: int = 0

    def resolved_world(self) -> FeedWorld:
        """The world these settings run on."""
        if self.world is not None:
            return self.world
        return load_feed_world(self.source, self.data_dir, self.kuairec_path, self.world_seed)


def build_simulator(
    settings: FeedSettings, n_slots: int, user_model: FeedUserModel | None = None
) -> FeedSimulator:
    """A simulator of ``n_slots`` users for ``settings`` (default user model per source)."""
    world = settings.resolved_world()
    if user_model is None:
        replay = world.recorded_watch_ratio is not None
        cls = ReplayFeedUser if replay else StatisticalFeedUser
        user_model = cls(settings.user_params)
    reward = settings.reward
    weights = RewardWeights.preset(reward) if isinstance(reward, str) else reward
    return FeedSimulator(
        world=world,
        user_model=user_model,
        n_slots=n_slots,
        retriever=settings.retriever or RetrieverConfig(),
        history_length=settings.history_length,
        sessions=settings.sessions,
        return_window_days=settings.return_window_days,
        reward=weights,
    )
