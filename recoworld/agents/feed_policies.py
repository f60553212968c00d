"""Feed policies with known probabilities: biased logging policies and learned recommenders.

Logging policies for learning from missing-not-at-random feedback need a bias one can turn and
propensities one can trust. Every policy here returns its exact distribution over the candidates
from ``action_dist(obs)``; a collector that draws from that distribution logs the exact propensity
(:func:`recoworld.estimators.collect_feed_log`).

- :class:`PopularitySoftmaxFeedAgent`: ``softmax(beta * popularity)`` over the candidates
  (``beta = 0`` is uniform; the larger ``beta``, the stronger the popularity bias);
- :class:`EpsilonGreedyPopularityFeedAgent`: the most popular candidate with probability
  ``1 - epsilon``, a uniform one otherwise (bias strength ``1 - epsilon``);
- :class:`PositionBiasedSlateAgent`: slates for ``recoworld/ShortVideo-Slate-v0`` whose positions
  are drawn independently, the top positions more popularity-biased than the lower ones;
- :class:`ScoredFeedAgent`: a learned recommender, greedy (or softmax) over any scorer's scores.

``popularity`` is the observable ``obs["candidates"]`` column (standardised log exposure; 0 for
cold-start videos), so every policy acts on what it observes.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
from numpy.typing import NDArray

from recoworld._validate import require_range
from recoworld.agents.feed import FeedAgent, Obs, _batched, _one_hot
from recoworld.envs.feed_core import CANDIDATE_COLUMNS
from recoworld.errors import ConfigError

__all__ = [
    "EpsilonGreedyPopularityFeedAgent",
    "PopularitySoftmaxFeedAgent",
    "PositionBiasedSlateAgent",
    "ScoredFeedAgent",
    "make_logging_policy",
]

_POPULARITY = CANDIDATE_COLUMNS.index("popularity")

CandidateScorer = Callable[[Obs], NDArray[np.float64]]
"""``obs -> (N, K)`` scores of every candidate of a batched observation (higher is better)."""


def _softmax(z: NDArray[np.float64], axis: int = 1) -> NDArray[np.float64]:
    e = np.exp(z - z.max(axis=axis, keepdims=True))
    return np.asarray(e / e.sum(axis=axis, keepdims=True))


class PopularitySoftmaxFeedAgent(FeedAgent):
    """``softmax(beta * popularity)`` over the candidates: a tunable popularity bias.

    ``beta = 0`` is the uniform policy (the simulator's analogue of a randomly exposed test set);
    every candidate keeps a positive probability for any finite ``beta``.
    """

    def __init__(self, beta: float, seed: int | None = 0) -> None:
        super().__init__(seed)
        require_range("beta", beta)
        self.beta = float(beta)

    def _dist(self, obs: Obs, cand: NDArray[np.float32]) -> NDArray[np.float64]:
        return _softmax(self.beta * cand[:, :, _POPULARITY].astype(np.float64))


class EpsilonGreedyPopularityFeedAgent(FeedAgent):
    """``epsilon / K`` on every candidate plus ``1 - epsilon`` on the most popular (first on ties)."""

    def __init__(self, epsilon: float, seed: int | None = 0) -> None:
        super().__init__(seed)
        require_range("epsilon", epsilon, 0, 1, low_open=True, hint="0 would never explore")
        self.epsilon = float(epsilon)

    def _dist(self, obs: Obs, cand: NDArray[np.float32]) -> NDArray[np.float64]:
        k = cand.shape[1]
        greedy = _one_hot(np.argmax(cand[:, :, _POPULARITY], axis=1), k)
        return np.asarray(self.epsilon / k + (1.0 - self.epsilon) * greedy)


class ScoredFeedAgent(FeedAgent):
    """A recommender over a scorer: the best-scored candidate, or ``softmax(scores / temperature)``.

    With ``temperature = 0`` (default) the policy is deterministic: all mass on the highest score
    (the first such candidate on ties).
    """

    def __init__(self, scorer: CandidateScorer, temperature: float = 0.0,
                 seed: int | None = 0) -> None:
        super().__init__(seed)
        require_range("temperature", temperature, 0)
        self.scorer = scorer
        self.temperature = float(temperature)

    def _dist(self, obs: Obs, cand: NDArray[np.float32]) -> NDArray[np.float64]:
        batch = obs if np.asarray(obs["candidates"]).ndim == 3 else {
            k: np.asarray(v)[None] for k, v in obs.items()}
        scores = np.asarray(self.scorer(batch), dtype=np.float64)
        if scores.shape != cand.shape[:2]:
            raise ConfigError(f"the scorer must return (N, K) = {cand.shape[:2]} scores, "
                              f"got shape {scores.shape}")
        if self.temperature == 0.0:
            return _one_hot(np.argmax(scores, axis=1), cand.shape[1])
        return _softmax(scores / self.temperature)


class PositionBiasedSlateAgent:
    """Slates for the slate feed: position ``k`` drawn from ``softmax(beta * decay**k * popularity)``.

    Positions are drawn independently (with replacement; the slate env shows a repeated candidate
    once), so the slate's probability is the product of its positions' probabilities and every
    marginal is known exactly. The top position is the most popularity-biased, lower ones are
    closer to uniform (``decay < 1``): the position bias of a logged ranking.
    """

    def __init__(self, slate_size: int, beta: float, decay: float = 0.5,
                 seed: int | None = 0) -> None:
        require_range("slate_size", slate_size, 1)
        require_range("beta", beta)
        require_range("decay", decay, 0, 1)
        self.slate_size = int(slate_size)
        self.beta = float(beta)
        self.decay = float(decay)
        self.rng = np.random.default_rng(seed)

    def slate_marginals(self, obs: Obs) -> NDArray[np.float64]:
        """``P(candidate j at position k)``, shape ``(K, L)`` (or ``(N, K, L)`` for a batch)."""
        cand, single = _batched(obs)
        pop = cand[:, :, _POPULARITY].astype(np.float64)
        scale = self.beta * self.decay ** np.arange(self.slate_size, dtype=np.float64)
        dist = _softmax(pop[:, :, None] * scale[None, None, :])
        return dist[0] if single else dist

    def predict(self, obs: Obs) -> Any:
        """A slate of ``slate_size`` candidate indices (``(L,)``, or ``(N, L)`` for a batch)."""
        dist = self.slate_marginals(obs)
        batch = dist if dist.ndim == 3 else dist[None]
        cum = np.cumsum(batch, axis=1)
        u = self.rng.random((batch.shape[0], 1, batch.shape[2])) * cum[:, -1:, :]
        slate = np.minimum((cum <= u).sum(axis=1), batch.shape[1] - 1).astype(np.int64)
        return slate[0] if dist.ndim == 2 else slate


def make_logging_policy(spec: str, seed: int | None = 0) -> FeedAgent:
    """A feed logging policy from a short spec: ``uniform``, ``softmax:BETA``, ``epsilon:EPS``."""
    name, _, arg = spec.partition(":")
    try:
        if name == "uniform" and not arg:
            return PopularitySoftmaxFeedAgent(0.0, seed)
        if name == "softmax" and arg:
            return PopularitySoftmaxFeedAgent(float(arg), seed)
        if name == "epsilon" and arg:
            return EpsilonGreedyPopularityFeedAgent(float(arg), seed)
    except ValueError as exc:
        if isinstance(exc, ConfigError):
            raise
        raise ConfigError(f"logging policy {spec!r}: {arg!r} is not a number") from exc
    raise ConfigError(f"logging policy must be uniform, softmax:BETA or epsilon:EPSILON, got {spec!r}")
