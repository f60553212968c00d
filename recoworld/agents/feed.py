"""Baseline agents of the short-video feed: random, most-popular, epsilon-greedy bandit, oracle.

Every agent accepts a single observation (``obs["candidates"]`` of shape ``(K, F)``) or a batch
from the vector environment (``(N, K, F)``). ``action_dist(obs)`` returns the probabilities over
the ``K`` candidates (shape ``(K,)`` or ``(N, K)``) that off-policy estimators need;
``predict(obs)`` returns the chosen index (int, or ``(N,)`` int64) drawn from that distribution
with the agent's own generator.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray

from recoworld._validate import require_range
from recoworld.envs.feed_core import CANDIDATE_COLUMNS
from recoworld.errors import ConfigError
from recoworld.registration import FEED_AGENTS, canonical_agent_name

__all__ = [
    "EpsilonGreedyFeedAgent",
    "FeedAgent",
    "MostPopularFeedAgent",
    "OracleFeedAgent",
    "RandomFeedAgent",
    "make_feed_agent",
]

Obs = dict[str, NDArray[Any]]
_POPULARITY = CANDIDATE_COLUMNS.index("popularity")


def _batched(obs: Obs) -> tuple[NDArray[np.float32], bool]:
    cand = np.asarray(obs["candidates"])
    if cand.ndim == 2:
        return cand[None], True
    if cand.ndim == 3:
        return cand, False
    raise ConfigError(
        f"`obs['candidates']` must have shape (K, F) or (N, K, F), got {cand.shape}"
    )


def _one_hot(index: NDArray[np.intp], k: int) -> NDArray[np.float64]:
    dist = np.zeros((index.shape[0], k))
    dist[np.arange(index.shape[0]), index] = 1.0
    return dist


class FeedAgent:
    """Base class: subclasses implement ``_dist`` on batched observations."""

    def __init__(self, seed: int | None = 0) -> None:
        self.rng = np.random.default_rng(seed)

    def _dist(self, obs: Obs, cand: NDArray[np.float32]) -> NDArray[np.float64]:
        raise NotImplementedError

    def action_dist(self, obs: Obs) -> NDArray[np.float64]:
        """Probability of each candidate, ``(K,)`` for one observation or ``(N, K)``."""
        cand, single = _batched(obs)
        dist = self._dist(obs, cand)
        return dist[0] if single else dist

    def predict(self, obs: Obs) -> Any:
        """The candidate index to show: an int, or ``(N,)`` int64 for a batch."""
        cand, single = _batched(obs)
        dist = self._dist(obs, cand)
        cum = np.cumsum(dist, axis=1)
        u = self.rng.random((dist.shape[0], 1)) * cum[:, -1:]
        action = np.minimum((cum <= u).sum(axis=1), dist.shape[1] - 1).astype(np.int64)
        return int(action[0]) if single else action

    def update(self, obs: Obs, action: Any, reward: Any) -> None:
        """Learn from the reward of ``action`` in ``obs`` (no-op for non-learning agents)."""


class RandomFeedAgent(FeedAgent):
    """Uniform over the candidates."""

    def _dist(self, obs: Obs, cand: NDArray[np.float32]) -> NDArray[np.float64]:
        n, k = cand.shape[:2]
        return np.full((n, k), 1.0 / k)


class MostPopularFeedAgent(FeedAgent):
    """The candidate with the highest logged popularity (first on ties); cold items score 0."""

    def _dist(self, obs: Obs, cand: NDArray[np.float32]) -> NDArray[np.float64]:
        return _one_hot(np.argmax(cand[:, :, _POPULARITY], axis=1), cand.shape[1])


class EpsilonGreedyFeedAgent(FeedAgent):
    """Epsilon-greedy bandit over videos: the best running mean reward, exploring with ``epsilon``.

    Unseen videos start at ``prior_mean`` worth ``prior_count`` pseudo-observations, so the
    first rewards do not swing the estimates; learning happens in :meth:`update`.
    """

    def __init__(
        self,
        n_items: int,
        epsilon: float = 0.1,
        prior_mean: float = 1.0,
        prior_count: float = 1.0,
        seed: int | None = 0,
    ) -> None:
        super().__init__(seed)
        require_range("n_items", n_items, 1)
        require_range("epsilon", epsilon, 0, 1)
        require_range("prior_count", prior_count, 0, low_open=True)
        self.epsilon = epsilon
        self.reward_sum = np.full(n_items, prior_mean * prior_count)
        self.count = np.full(n_items, prior_count)

    def _dist(self, obs: Obs, cand: NDArray[np.float32]) -> NDArray[np.float64]:
        ids = np.asarray(obs["candidate_ids"]).reshape(cand.shape[0], cand.shape[1])
        value = self.reward_sum[ids] / self.count[ids]
        k = cand.shape[1]
        greedy = _one_hot(np.argmax(value, axis=1), k)
        return np.asarray(self.epsilon / k + (1.0 - self.epsilon) * greedy)

    def update(self, obs: Obs, action: Any, reward: Any) -> None:
        """Add the rewards of the shown videos to their running means."""
        cand, _ = _batched(obs)
        ids = np.asarray(obs["candidate_ids"]).reshape(cand.shape[0], cand.shape[1])
        act = np.asarray(action).reshape(-1)
        items = ids[np.arange(ids.shape[0]), act]
        np.add.at(self.reward_sum, items, np.asarray(reward, dtype=np.float64).reshape(-1))
        np.add.at(self.count, items, 1.0)


class OracleFeedAgent(FeedAgent):
    """Knows the true expected response of each candidate (an upper bound, not a real policy).

    ``objective="watch_time_per_patience"`` (default) picks the candidate with the most expected
    seconds per unit of patience spent, which maximises the session's total watch time when the
    budget, not the pool, is the constraint; ``"watch_time"`` is greedy on expected seconds;
    ``"watch_ratio"`` on expected ratio. It reads the environment passed at construction (single
    or vector), so it must act on that environment's latest observation.
    """

    OBJECTIVES = ("watch_time_per_patience", "watch_time", "watch_ratio")

    def __init__(
        self, env: Any, objective: str = "watch_time_per_patience", seed: int | None = 0
    ) -> None:
        super().__init__(seed)
        if objective not in self.OBJECTIVES:
            raise ConfigError(f"`objective` must be one of {self.OBJECTIVES}, got {objective!r}")
        base = getattr(env, "unwrapped", env)
        if not hasattr(base, "expected_outcome"):
            raise ConfigError(
                f"OracleFeedAgent needs a RecoWorld feed env, got {type(base).__name__}"
            )
        self.env = base
        self.objective = objective

    def _dist(self, obs: Obs, cand: NDArray[np.float32]) -> NDArray[np.float64]:
        truth = self.env.expected_outcome()
        ids = np.asarray(obs["candidate_ids"]).reshape(cand.shape[0], cand.shape[1])
        if not np.array_equal(ids, self.env.sim.candidates[: ids.shape[0]]):
            raise ConfigError(
                "OracleFeedAgent got an observation that is not its environment's latest one; "
                "act with the oracle on the environment it was built with"
            )
        if self.objective == "watch_time":
            score = truth.watch_time
        elif self.objective == "watch_ratio":
            score = truth.watch_ratio
        else:
            score = truth.watch_time / truth.patience_cost
        return _one_hot(np.argmax(score, axis=1), cand.shape[1])


#: Names accepted by :func:`make_feed_agent` (``ppo`` lives in :mod:`recoworld.agents.feed_sb3`).


def make_feed_agent(name: str, env: Any, seed: int | None = 0) -> FeedAgent:
    """A baseline agent by name for ``env`` (a feed env, single or vector)."""
    base = getattr(env, "unwrapped", env)
    name = canonical_agent_name(name)
    if name == "random":
        return RandomFeedAgent(seed)
    if name == "most-popular":
        return MostPopularFeedAgent(seed)
    if name == "epsilon-greedy":
        return EpsilonGreedyFeedAgent(base.world.catalogue.n_items, seed=seed)
    if name == "oracle":
        return OracleFeedAgent(env, seed=seed)
    known = ", ".join(a for a in FEED_AGENTS if a != "ppo")
    raise ConfigError(
        f"unknown feed agent {name!r}; known: {known} (ppo: recoworld.agents.FeedPPOAgent)"
    )
