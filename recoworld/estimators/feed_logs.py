"""Biased logs from the feed environments: exposure, position, response and exact propensities.

:func:`collect_feed_log` runs a logging policy on a feed environment (``recoworld/ShortVideo-v0``,
``recoworld/KuaiRand-Feed-v0``) and records every video shown: which user, the candidate pool, the
policy's exact distribution over it, the candidate drawn (from that distribution, with the
collector's own seeded generator, so the logged propensity *is* the probability used), its
position in the session and the user's response. :func:`collect_slate_log` does the same for
slates on ``recoworld/ShortVideo-Slate-v0`` with a policy whose positions are drawn independently.

Both logs are written as parquet that :class:`TrajectoryLog` (feed) or :class:`BanditLog` (slates,
one row per position) read back; the extra columns (pool, distribution, responses) ride along and
come back with :meth:`FeedLog.load` / :meth:`SlateLog.load`.

Users: ``users=`` restricts the simulated people to some population rows (e.g. the users whose
logs a learner may see, keeping others held out for deployment); the environment is otherwise the
registered one.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Protocol

import gymnasium
import numpy as np
import numpy.typing as npt
import polars as pl

import recoworld  # noqa: F401  (registers the environment ids)
from recoworld._validate import require_range
from recoworld.datasets.feed_world import FeedWorld, UserPopulation
from recoworld.errors import ConfigError, DataError, EstimatorInputError
from recoworld.estimators.logged_data import (
    _META_KEY,
    BanditLog,
    TrajectoryLog,
    _column_matrix,
    _matrix_column,
    _read_meta,
    check_action_dist,
)

__all__ = [
    "FeedLog",
    "FeedPolicy",
    "SlateLog",
    "SlatePolicy",
    "collect_feed_log",
    "collect_slate_log",
    "feed_world",
    "split_users",
    "user_features",
    "world_with_users",
]

_F = npt.NDArray[np.float64]
_I = npt.NDArray[np.int64]
_B = npt.NDArray[np.bool_]


class FeedPolicy(Protocol):
    """A feed policy for logging: its distribution over the candidates of a batch."""

    def action_dist(self, obs: Any) -> _F:
        """``(N, K)`` probabilities for a batched observation."""
        ...


class SlatePolicy(Protocol):
    """A slate policy for logging: independent per-position distributions over the candidates."""

    slate_size: int

    def slate_marginals(self, obs: Any) -> _F:
        """``(K, L)``: column ``k`` is the distribution of position ``k``."""
        ...


# --- worlds and users --------------------------------------------------------------------------


def feed_world(env_id: str, env_kwargs: Mapping[str, Any] | None = None) -> FeedWorld:
    """The world a registered feed environment runs on (built once, cached by the loaders)."""
    env = gymnasium.make(env_id, **dict(env_kwargs or {}))
    try:
        world = getattr(env.unwrapped, "world", None)
        if not isinstance(world, FeedWorld):
            raise ConfigError(f"{env_id!r} is not a feed environment (it has no FeedWorld)")
        return world
    finally:
        env.close()


def world_with_users(world: FeedWorld, users: npt.ArrayLike) -> FeedWorld:
    """The same catalogue with only the population rows ``users`` (in that order)."""
    rows = np.asarray(users, dtype=np.int64)
    n = world.population.n_users
    if rows.ndim != 1 or rows.size == 0:
        raise ConfigError(f"`users` must be a non-empty list of population rows, got shape "
                          f"{rows.shape}")
    if int(rows.min()) < 0 or int(rows.max()) >= n:
        raise ConfigError(f"`users` must be population rows in [0, {n}), got "
                          f"[{int(rows.min())}, {int(rows.max())}]")
    p = world.population
    population = UserPopulation(
        user_ids=p.user_ids[rows], interest=p.interest[rows], profile=p.profile[rows],
        activity=p.activity[rows], patience=p.patience[rows],
        return_propensity=p.return_propensity[rows], features=p.features[rows],
        feature_names=p.feature_names,
    )
    return FeedWorld(name=world.name, catalogue=world.catalogue, population=population,
                     notes=(*world.notes, f"population restricted to {rows.size} of {n} users"))


def user_features(world: FeedWorld) -> _F:
    """What a policy observes of each user that never changes: ``[features, profile]``.

    These are the first columns of ``obs["user"]`` in the feed environments.
    """
    p = world.population
    return np.concatenate([p.features, p.profile], axis=1).astype(np.float64)


def split_users(n_users: int, fractions: tuple[float, ...], seed: int) -> tuple[_I, ...]:
    """Disjoint random groups of population rows, one per fraction (fractions sum to <= 1)."""
    f = np.asarray(fractions, dtype=np.float64)
    if f.size == 0 or np.any(f <= 0) or float(f.sum()) > 1.0 + 1e-9:
        raise ConfigError(f"`fractions` must be positive and sum to <= 1, got {list(fractions)}")
    perm = np.random.default_rng(seed).permutation(n_users)
    bounds = np.floor(np.cumsum(np.concatenate([[0.0], f])) * n_users + 1e-9).astype(np.int64)
    groups = tuple(np.sort(perm[bounds[i]:bounds[i + 1]]).astype(np.int64) for i in range(f.size))
    if any(g.size == 0 for g in groups):
        raise ConfigError(f"{n_users} users cannot be split into non-empty groups of "
                          f"{list(fractions)}")
    return groups


def _make_env(env_id: str, users: npt.ArrayLike | None, env_kwargs: Mapping[str, Any] | None,
              vector: int | None) -> tuple[Any, FeedWorld, _I]:
    kwargs = dict(env_kwargs or {})
    world = kwargs.get("world") or feed_world(env_id, kwargs)
    rows = (np.arange(world.population.n_users, dtype=np.int64) if users is None
            else np.asarray(users, dtype=np.int64))
    if users is not None:
        world = world_with_users(world, rows)
    kwargs["world"] = world
    if vector is None:
        return gymnasium.make(env_id, **kwargs), world, rows
    env = gymnasium.make_vec(env_id, num_envs=vector, vectorization_mode="vector_entry_point",
                             **kwargs)
    return env, world, rows


def _check_episodes(episodes: int, num_envs: int | None = None) -> None:
    require_range("episodes", episodes, 1)
    if num_envs is not None:
        require_range("num_envs", num_envs, 1)


def _draw(dist: _F, rng: np.random.Generator) -> _I:
    """One index per row of ``dist`` (last axis = choices) by inverse CDF; zero-mass never drawn."""
    cum = np.cumsum(dist, axis=-1)
    u = rng.random((*dist.shape[:-1], 1)) * cum[..., -1:]
    out: _I = np.minimum((cum <= u).sum(axis=-1), dist.shape[-1] - 1).astype(np.int64)
    return out


def _policy_dist(policy: FeedPolicy, obs: Any, n: int, k: int) -> _F:
    dist = np.asarray(policy.action_dist(obs), dtype=np.float64)
    if dist.shape != (n, k):
        raise EstimatorInputError(f"policy.action_dist(obs) must return ({n}, {k}) probabilities "
                                  f"for a batch of {n} users, got shape {dist.shape}")
    return check_action_dist(dist, n, k, name="policy.action_dist(obs)")


# --- the single-video feed ---------------------------------------------------------------------


@dataclass(frozen=True)
class FeedLog:
    """Logged feed decisions with the logging policy's exact propensities: one row per video.

    Rows are sorted by (episode, step). ``candidates[i]`` is the pool the policy saw,
    ``logging_dist[i]`` its exact distribution over that pool, ``action[i]`` the index drawn and
    ``item[i] = candidates[i, action[i]]`` the video shown (catalogue row). The propensity of
    the logged decision is ``pscore = logging_dist[i, action[i]]``. Use
    :meth:`trajectory_log` / :meth:`bandit_log` for the generic estimators.
    """

    episode: _I
    """Episode index (0, 1, ...; contiguous)."""
    step: _I
    """Step within the episode (0, 1, ...)."""
    position: _I
    """Position of the video in its session (0-based depth)."""
    user: _I
    """Population row of the environment's world."""
    features: _F
    """``(n, d)``: the user's static observable features (``obs["user"][:d]``)."""
    candidates: _I
    """``(n, K)`` catalogue rows of the pool."""
    logging_dist: _F
    """``(n, K)`` the logging policy's exact distribution over the pool."""
    action: _I
    """Index into the pool of the video shown."""
    item: _I
    """Catalogue row of the video shown."""
    reward: _F
    """The environment's reward for the video."""
    watch_ratio: _F
    """Seconds watched / duration."""
    watch_time: _F
    """Seconds watched."""
    like: _B
    """The user liked the video."""
    skip: _B
    """The user swiped away almost at once."""
    done: _B
    """Last row of its episode."""
    n_items: int
    """Catalogue size."""
    env_id: str = ""
    """Environment the log came from."""
    policy: str = ""
    """Description of the logging policy."""

    def __post_init__(self) -> None:
        n = self.action.shape[0]
        if n == 0:
            raise EstimatorInputError("a feed log must hold at least one row, got 0")
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, np.ndarray) and value.shape[0] != n:
                raise EstimatorInputError(f"every FeedLog array must have {n} rows, `{f.name}` "
                                          f"has {value.shape[0]}")
        k = self.candidates.shape[1]
        check_action_dist(self.logging_dist, n, k, name="logging_dist")
        if int(self.action.min()) < 0 or int(self.action.max()) >= k:
            raise EstimatorInputError(f"`action` must index the pool [0, {k}), got "
                                      f"[{int(self.action.min())}, {int(self.action.max())}]")
        if int(self.candidates.min()) < 0 or int(self.candidates.max()) >= self.n_items:
            raise EstimatorInputError(f"`candidates` must be catalogue rows in [0, "
                                      f"{self.n_items}), got [{int(self.candidates.min())}, "
                                      f"{int(self.candidates.max())}]")
        if not np.array_equal(self.item, self.candidates[np.arange(n), self.action]):
            raise EstimatorInputError("`item` must equal candidates[row, action] on every row")
        # The episode layout and the propensities are checked by the trajectory log.
        self.trajectory_log()

    @property
    def n_rows(self) -> int:
        """Number of logged videos."""
        return int(self.action.shape[0])

    @property
    def n_candidates(self) -> int:
        """Pool size ``K``."""
        return int(self.candidates.shape[1])

    @property
    def pscore(self) -> _F:
        """Logging propensity of each logged decision."""
        return self.logging_dist[np.arange(self.n_rows), self.action]  # type: ignore[no-any-return]

    def trajectory_log(self) -> TrajectoryLog:
        """The log as a :class:`TrajectoryLog` (observation = the user's static features)."""
        return TrajectoryLog.from_arrays(self.episode, self.step, self.action, self.reward,
                                         self.pscore, self.done, self.n_candidates,
                                         observation=self.features)

    def bandit_log(self) -> BanditLog:
        """Every decision as a contextual-bandit round (context = the user's static features)."""
        return BanditLog.from_arrays(self.action, self.reward, self.pscore, self.n_candidates,
                                     context=self.features)

    def select(self, rows: npt.NDArray[np.bool_]) -> FeedLog:
        """The rows of whole episodes where ``rows`` is true (episodes renumbered from 0)."""
        mask = np.asarray(rows, dtype=bool)
        if mask.shape != (self.n_rows,) or not mask.any():
            raise EstimatorInputError(f"`rows` must be a non-empty boolean mask of {self.n_rows} "
                                      "rows")
        kept = np.zeros(int(self.episode.max()) + 1, dtype=bool)
        kept[self.episode[mask]] = True
        if not np.array_equal(kept[self.episode], mask):
            raise EstimatorInputError("`rows` must keep or drop whole episodes")
        _, episode = np.unique(self.episode[mask], return_inverse=True)
        parts = {f.name: getattr(self, f.name) for f in fields(self)}
        out = {k: (v[mask] if isinstance(v, np.ndarray) else v) for k, v in parts.items()}
        out["episode"] = episode.astype(np.int64)
        return FeedLog(**out)

    def select_users(self, users: npt.ArrayLike) -> FeedLog:
        """The episodes of the given population rows."""
        return self.select(np.isin(self.user, np.asarray(users, dtype=np.int64)))

    def save(self, path: str | Path) -> None:
        """Write a parquet file that :meth:`TrajectoryLog.load` also reads (extra columns kept)."""
        frame = self.trajectory_log().frame.with_columns(
            pl.Series("position", self.position, dtype=pl.Int64),
            pl.Series("user", self.user, dtype=pl.Int64),
            _matrix_column(self.candidates.astype(np.float64)).alias("candidates"),
            _matrix_column(self.logging_dist).alias("logging_dist"),
            pl.Series("item", self.item, dtype=pl.Int64),
            pl.Series("watch_ratio", self.watch_ratio, dtype=pl.Float64),
            pl.Series("watch_time", self.watch_time, dtype=pl.Float64),
            pl.Series("like", self.like, dtype=pl.Boolean),
            pl.Series("skip", self.skip, dtype=pl.Boolean),
        )
        meta = {"kind": "trajectory", "n_actions": self.n_candidates,
                "feed": {"n_items": self.n_items, "env_id": self.env_id, "policy": self.policy}}
        frame.write_parquet(Path(path), metadata={_META_KEY: json.dumps(meta)})

    @classmethod
    def load(cls, path: str | Path) -> FeedLog:
        """Read and re-validate a log written by :meth:`save`."""
        meta = _read_meta(Path(path), "trajectory")
        feed = meta.get("feed")
        if not isinstance(feed, dict):
            raise DataError(f"{str(path)!r} is a trajectory log without the feed columns; write "
                            "it with FeedLog.save()")
        f = pl.read_parquet(Path(path))
        col = f.get_column

        def ints(name: str) -> _I:
            return col(name).to_numpy().astype(np.int64)

        return cls(
            episode=ints("episode"), step=ints("step"), position=ints("position"),
            user=ints("user"), features=_column_matrix(f, "observation"),
            candidates=_column_matrix(f, "candidates").astype(np.int64),
            logging_dist=_column_matrix(f, "logging_dist"), action=ints("action"),
            item=ints("item"), reward=col("reward").to_numpy().astype(np.float64),
            watch_ratio=col("watch_ratio").to_numpy().astype(np.float64),
            watch_time=col("watch_time").to_numpy().astype(np.float64),
            like=col("like").to_numpy().astype(bool), skip=col("skip").to_numpy().astype(bool),
            done=col("done").to_numpy().astype(bool), n_items=int(feed["n_items"]),
            env_id=str(feed["env_id"]), policy=str(feed["policy"]),
        )


def collect_feed_log(
    env_id: str,
    policy: FeedPolicy,
    episodes: int,
    seed: int,
    *,
    users: npt.ArrayLike | None = None,
    num_envs: int = 64,
    env_kwargs: Mapping[str, Any] | None = None,
    policy_name: str = "",
) -> FeedLog:
    """Log ``episodes`` episodes of ``policy`` on a single-video feed environment.

    The environment is the natively vectorised one (``num_envs`` users side by side; slot ``i``
    seeded with ``seed + i``), so the log equals what ``num_envs`` single environments seeded
    that way produce. Each decision is drawn from ``policy.action_dist(obs)`` with a generator
    seeded by ``seed``; the drawn candidate's probability is logged as its propensity.
    ``users`` restricts the simulated people to these population rows (logged ``user`` values
    are rows of the full population).
    """
    _check_episodes(episodes, num_envs)
    n = min(num_envs, episodes)
    env, world, rows = _make_env(env_id, users, env_kwargs, vector=n)
    d = len(world.population.feature_names) + world.population.profile.shape[1]
    rng = np.random.default_rng(seed)
    quota = np.full(n, episodes // n) + (np.arange(n) < episodes % n)
    finished = np.zeros(n, dtype=np.int64)
    step = np.zeros(n, dtype=np.int64)
    cols: dict[str, list[npt.NDArray[Any]]] = {k: [] for k in (
        "slot", "slot_episode", "step", "position", "user", "features", "candidates", "dist",
        "action", "reward", "watch_ratio", "watch_time", "like", "skip", "done")}
    try:
        obs, _ = env.reset(seed=seed)
        k = int(obs["candidate_ids"].shape[1])
        while np.any(finished < quota):
            dist = _policy_dist(policy, obs, n, k)
            action = _draw(dist, rng)
            user = np.asarray(env.unwrapped.sim.user, dtype=np.int64).copy()
            nxt, reward, term, trunc, info = env.step(action)
            live = np.asarray(info.get("_watch_time", np.zeros(n, dtype=bool))) & (finished < quota)
            idx = np.flatnonzero(live)
            if idx.size:
                ended = (np.asarray(term) | np.asarray(trunc))[idx]
                for key, value in (
                    ("slot", idx), ("slot_episode", finished[idx]), ("step", step[idx]),
                    ("position", np.asarray(info["depth"])[idx] - 1), ("user", rows[user[idx]]),
                    ("features", np.asarray(obs["user"])[idx, :d]),
                    ("candidates", np.asarray(obs["candidate_ids"])[idx]), ("dist", dist[idx]),
                    ("action", action[idx]), ("reward", np.asarray(reward)[idx]),
                    ("watch_ratio", np.asarray(info["watch_ratio"])[idx]),
                    ("watch_time", np.asarray(info["watch_time"])[idx]),
                    ("like", np.asarray(info["like"])[idx]),
                    ("skip", np.asarray(info["skip"])[idx]), ("done", ended),
                ):
                    cols[key].append(np.asarray(value))
                step[idx] += 1
                done_slots = idx[ended]
                step[done_slots] = 0
                finished[done_slots] += 1
            obs = nxt
    finally:
        env.close()
    arr = {key: np.concatenate(v) for key, v in cols.items()}
    order = np.lexsort((arr["step"], arr["slot_episode"], arr["slot"]))
    arr = {key: v[order] for key, v in arr.items()}
    new_episode = np.ones(order.size, dtype=bool)
    new_episode[1:] = (arr["slot"][1:] != arr["slot"][:-1]) | (
        arr["slot_episode"][1:] != arr["slot_episode"][:-1])
    episode = np.cumsum(new_episode) - 1
    candidates = arr["candidates"].astype(np.int64)
    action = arr["action"].astype(np.int64)
    return FeedLog(
        episode=episode.astype(np.int64), step=arr["step"].astype(np.int64),
        position=arr["position"].astype(np.int64), user=arr["user"].astype(np.int64),
        features=arr["features"].astype(np.float64), candidates=candidates,
        logging_dist=arr["dist"], action=action,
        item=candidates[np.arange(action.size), action],
        reward=arr["reward"].astype(np.float64), watch_ratio=arr["watch_ratio"].astype(np.float64),
        watch_time=arr["watch_time"].astype(np.float64), like=arr["like"].astype(bool),
        skip=arr["skip"].astype(bool), done=arr["done"].astype(bool),
        n_items=world.catalogue.n_items, env_id=env_id,
        policy=policy_name or type(policy).__name__,
    )


# --- slates ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SlateLog:
    """Logged slates with exact per-position propensities: one row per slate.

    The logging policy drew position ``k`` of slate ``i`` from ``logging_marginals[i, :, k]``,
    independently of the other positions, so the probability of the logged slate's first ``k``
    positions is the product of their marginals (:attr:`pscore_cascade`) and of the whole slate
    :attr:`pscore_slate`. ``reward[i, k]`` is the reward of the video at position ``k`` (0 if the
    user left before it, or if it repeats an earlier position).
    """

    episode: _I
    """Episode index."""
    step: _I
    """Slate index within the episode."""
    user: _I
    """Population row of the environment's world."""
    features: _F
    """``(n, d)`` static user features."""
    candidates: _I
    """``(n, K)`` catalogue rows of the pool."""
    slate: _I
    """``(n, L)`` pool indices shown at each position."""
    reward: _F
    """``(n, L)`` per-position rewards."""
    shown: _B
    """``(n, L)`` whether the position was shown."""
    logging_marginals: _F
    """``(n, K, L)`` the logging policy's distribution of each position."""
    n_items: int
    """Catalogue size."""
    env_id: str = ""
    """Environment the log came from."""
    policy: str = ""
    """Description of the logging policy."""
    _cache: dict[str, _F] = field(default_factory=dict, repr=False, compare=False)

    def __post_init__(self) -> None:
        n = self.slate.shape[0]
        if n == 0:
            raise EstimatorInputError("a slate log must hold at least one slate, got 0")
        k, length = self.logging_marginals.shape[1:]
        for name, shape in (("episode", (n,)), ("step", (n,)), ("user", (n,)),
                            ("candidates", (n, k)), ("slate", (n, length)),
                            ("reward", (n, length)), ("shown", (n, length))):
            if getattr(self, name).shape != shape:
                raise EstimatorInputError(f"`{name}` must have shape {shape}, got "
                                          f"{getattr(self, name).shape}")
        check_action_dist(self.logging_marginals, n, k, name="logging_marginals")
        if int(self.slate.min()) < 0 or int(self.slate.max()) >= k:
            raise EstimatorInputError(f"`slate` must index the pool [0, {k}), got "
                                      f"[{int(self.slate.min())}, {int(self.slate.max())}]")
        if float(self.pscore_item_position.min()) <= 0.0:
            raise EstimatorInputError("a logged slate position has logging probability 0")
        if not np.all(np.isfinite(self.reward)):
            raise EstimatorInputError("`reward` must be finite")

    @property
    def n_slates(self) -> int:
        """Number of logged slates."""
        return int(self.slate.shape[0])

    @property
    def n_candidates(self) -> int:
        """Pool size ``K``."""
        return int(self.candidates.shape[1])

    @property
    def slate_size(self) -> int:
        """Positions per slate ``L``."""
        return int(self.slate.shape[1])

    @property
    def pscore_item_position(self) -> _F:
        """``(n, L)``: the logging probability of the logged candidate at each position."""
        if "item_position" not in self._cache:
            n, length = self.slate.shape
            self._cache["item_position"] = self.logging_marginals[
                np.arange(n)[:, None], self.slate, np.arange(length)[None, :]]
        return self._cache["item_position"]

    @property
    def pscore_cascade(self) -> _F:
        """``(n, L)``: the logging probability of the slate's first ``k + 1`` positions."""
        return np.cumprod(self.pscore_item_position, axis=1).astype(np.float64)

    @property
    def pscore_slate(self) -> _F:
        """``(n,)``: the logging probability of the whole logged slate."""
        return np.prod(self.pscore_item_position, axis=1)  # type: ignore[no-any-return]

    @property
    def slate_reward(self) -> _F:
        """``(n,)``: each slate's total reward."""
        return self.reward.sum(axis=1)  # type: ignore[no-any-return]

    def bandit_log(self) -> BanditLog:
        """One round per (slate, position): action, position reward, position marginal."""
        n, length = self.slate.shape
        return BanditLog.from_arrays(self.slate.reshape(-1), self.reward.reshape(-1),
                                     self.pscore_item_position.reshape(-1), self.n_candidates,
                                     context=np.repeat(self.features, length, axis=0),
                                     position=np.tile(np.arange(length), n), len_list=length)

    def save(self, path: str | Path) -> None:
        """Write a parquet file that :meth:`BanditLog.load` also reads (one row per position)."""
        n, length = self.slate.shape
        frame = self.bandit_log().frame.with_columns(
            pl.Series("slate_id", np.repeat(np.arange(n), length), dtype=pl.Int64),
            pl.Series("episode", np.repeat(self.episode, length), dtype=pl.Int64),
            pl.Series("step", np.repeat(self.step, length), dtype=pl.Int64),
            pl.Series("user", np.repeat(self.user, length), dtype=pl.Int64),
            pl.Series("shown", self.shown.reshape(-1), dtype=pl.Boolean),
            pl.Series("pscore_cascade", self.pscore_cascade.reshape(-1), dtype=pl.Float64),
            pl.Series("pscore_slate", np.repeat(self.pscore_slate, length), dtype=pl.Float64),
            _matrix_column(np.repeat(self.candidates.astype(np.float64), length, axis=0))
            .alias("candidates"),
            _matrix_column(np.repeat(self.logging_marginals.reshape(n, -1), length, axis=0))
            .alias("logging_marginals"),
        )
        meta = {"kind": "bandit", "n_actions": self.n_candidates, "len_list": length,
                "slate": {"n_items": self.n_items, "env_id": self.env_id, "policy": self.policy}}
        frame.write_parquet(Path(path), metadata={_META_KEY: json.dumps(meta)})

    @classmethod
    def load(cls, path: str | Path) -> SlateLog:
        """Read and re-validate a log written by :meth:`save`."""
        meta = _read_meta(Path(path), "bandit")
        slate = meta.get("slate")
        if not isinstance(slate, dict):
            raise DataError(f"{str(path)!r} is a bandit log without the slate columns; write it "
                            "with SlateLog.save()")
        length, k = int(str(meta["len_list"])), int(str(meta["n_actions"]))
        f = pl.read_parquet(Path(path))
        first = f.filter(pl.col("position") == 0)

        def per_position(name: str) -> npt.NDArray[Any]:
            return f.get_column(name).to_numpy().reshape(-1, length)

        return cls(
            episode=first.get_column("episode").to_numpy().astype(np.int64),
            step=first.get_column("step").to_numpy().astype(np.int64),
            user=first.get_column("user").to_numpy().astype(np.int64),
            features=_column_matrix(first, "context"),
            candidates=_column_matrix(first, "candidates").astype(np.int64),
            slate=per_position("action").astype(np.int64),
            reward=per_position("reward").astype(np.float64),
            shown=per_position("shown").astype(bool),
            logging_marginals=_column_matrix(first, "logging_marginals").reshape(-1, k, length),
            n_items=int(slate["n_items"]), env_id=str(slate["env_id"]),
            policy=str(slate["policy"]),
        )


def collect_slate_log(
    env_id: str,
    policy: SlatePolicy,
    episodes: int,
    seed: int,
    *,
    users: npt.ArrayLike | None = None,
    max_slates: int | None = None,
    env_kwargs: Mapping[str, Any] | None = None,
    policy_name: str = "",
) -> SlateLog:
    """Log ``episodes`` episodes of a slate policy on ``recoworld/ShortVideo-Slate-v0``.

    Each position ``k`` is drawn from column ``k`` of ``policy.slate_marginals(obs)`` with a
    generator seeded by ``seed``, independently of the others. ``max_slates`` cuts every episode
    after that many slates (1: a slate bandit on the first decision).
    """
    _check_episodes(episodes)
    if max_slates is not None:
        require_range("max_slates", max_slates, 1)
    env, world, rows = _make_env(env_id, users, env_kwargs, vector=None)
    length = int(getattr(env.unwrapped, "slate_size", 0))
    if length != policy.slate_size:
        raise ConfigError(f"the policy builds slates of {policy.slate_size}, the env "
                          f"{env_id!r} takes {length}")
    d = len(world.population.feature_names) + world.population.profile.shape[1]
    rng = np.random.default_rng(seed)
    cols: dict[str, list[Any]] = {k: [] for k in (
        "episode", "step", "user", "features", "candidates", "slate", "reward", "shown",
        "marginals")}
    try:
        for ep in range(episodes):
            obs, info = env.reset(seed=seed if ep == 0 else None)
            user = int(rows[int(info["user"])])
            t = 0
            while True:
                marg = np.asarray(policy.slate_marginals(obs), dtype=np.float64)
                k = int(obs["candidate_ids"].shape[0])
                if marg.shape != (k, length):
                    raise EstimatorInputError(f"policy.slate_marginals(obs) must return ({k}, "
                                              f"{length}) probabilities, got {marg.shape}")
                slate = _draw(marg.T, rng)
                cols["features"].append(np.asarray(obs["user"])[:d])
                cols["candidates"].append(np.asarray(obs["candidate_ids"]))
                obs, _, term, trunc, info = env.step(slate)
                for key, value in (("episode", ep), ("step", t), ("user", user),
                                   ("slate", slate), ("marginals", marg),
                                   ("reward", np.asarray(info["reward"], dtype=np.float64)),
                                   ("shown", np.asarray(info["shown"]))):
                    cols[key].append(value)
                t += 1
                if term or trunc or (max_slates is not None and t >= max_slates):
                    break
    finally:
        env.close()
    return SlateLog(
        episode=np.asarray(cols["episode"], dtype=np.int64),
        step=np.asarray(cols["step"], dtype=np.int64),
        user=np.asarray(cols["user"], dtype=np.int64),
        features=np.vstack(cols["features"]).astype(np.float64),
        candidates=np.vstack(cols["candidates"]).astype(np.int64),
        slate=np.vstack(cols["slate"]).astype(np.int64),
        reward=np.vstack(cols["reward"]), shown=np.vstack(cols["shown"]).astype(bool),
        logging_marginals=np.stack(cols["marginals"]), n_items=world.catalogue.n_items,
        env_id=env_id, policy=policy_name or type(policy).__name__,
    )
