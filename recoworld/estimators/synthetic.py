"""A synthetic contextual bandit whose every policy value is known exactly.

Contexts are drawn uniformly from a fixed finite set, so the value of a policy given as a table
``(n_contexts, n_actions)`` of probabilities is an exact finite sum, not a Monte-Carlo estimate.
It is the ground truth for the unbiasedness tests and one setting of ``recoworld ope-bench``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from recoworld.errors import EstimatorInputError
from recoworld.estimators.logged_data import BanditLog, check_action_dist

__all__ = ["SyntheticBandit"]

_Array = npt.NDArray[np.float64]


@dataclass(frozen=True)
class SyntheticBandit:
    """Finite-context bandit with Bernoulli rewards of known means.

    Build one with :meth:`generate`. Policies are ``(n_contexts, n_actions)`` probability tables.
    """

    contexts: _Array
    """Context features, shape ``(n_contexts, dim)``."""
    expected_reward: _Array
    """Mean reward of each (context, action), in (0, 1), shape ``(n_contexts, n_actions)``."""

    @classmethod
    def generate(cls, n_contexts: int = 50, n_actions: int = 10, dim: int = 5,
                 seed: int = 0) -> SyntheticBandit:
        """Random contexts and a logistic-linear reward model with per-action parameters."""
        if n_contexts < 1 or n_actions < 2 or dim < 1:
            raise EstimatorInputError(f"need n_contexts >= 1, n_actions >= 2, dim >= 1, got "
                                      f"{n_contexts}, {n_actions}, {dim}")
        rng = np.random.default_rng(seed)
        contexts = rng.normal(size=(n_contexts, dim))
        theta = rng.normal(size=(dim, n_actions))
        bias = rng.normal(scale=0.5, size=n_actions)
        logits = contexts @ theta / np.sqrt(dim) + bias
        return cls(contexts, 1.0 / (1.0 + np.exp(-logits)))

    @property
    def n_contexts(self) -> int:
        """Number of distinct contexts."""
        return int(self.contexts.shape[0])

    @property
    def n_actions(self) -> int:
        """Number of actions."""
        return int(self.expected_reward.shape[1])

    def softmax_policy(self, beta: float) -> _Array:
        """``softmax(beta * expected_reward)`` per context: beta > 0 good, < 0 bad, 0 uniform."""
        z = beta * self.expected_reward
        z = np.exp(z - z.max(axis=1, keepdims=True))
        return z / z.sum(axis=1, keepdims=True)  # type: ignore[no-any-return]

    def policy_value(self, policy: _Array) -> float:
        """Exact expected reward per round of ``policy`` (contexts uniform)."""
        check_action_dist(np.asarray(policy, dtype=np.float64), self.n_contexts, self.n_actions,
                          name="policy")
        return float(np.mean(np.sum(policy * self.expected_reward, axis=1)))

    def sample(self, n_rounds: int, logging_policy: _Array,
               rng: np.random.Generator) -> tuple[BanditLog, npt.NDArray[np.int64]]:
        """Log ``n_rounds`` rounds of ``logging_policy``; returns the log and each round's context.

        Index a policy table with the returned context ids to get an ``action_dist`` for the log.
        """
        check_action_dist(np.asarray(logging_policy, dtype=np.float64), self.n_contexts,
                          self.n_actions, name="logging_policy")
        ctx = rng.integers(0, self.n_contexts, n_rounds)
        probs = logging_policy[ctx]
        u = rng.random(n_rounds)
        action = np.minimum((probs.cumsum(axis=1) < u[:, None]).sum(axis=1), self.n_actions - 1)
        reward = (rng.random(n_rounds) < self.expected_reward[ctx, action]).astype(np.float64)
        log = BanditLog.from_arrays(action, reward, probs[np.arange(n_rounds), action],
                                    self.n_actions, context=self.contexts[ctx])
        return log, ctx
