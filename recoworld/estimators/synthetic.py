"""Synthetic bandits whose every policy value is known exactly: one action, or a slate.

Contexts are drawn uniformly from a fixed finite set, so the value of a policy given as a table of
probabilities is an exact finite sum, not a Monte-Carlo estimate. They are the ground truth for the
unbiasedness tests and settings of ``recoworld ope-bench``:

- :class:`SyntheticBandit`: one action per round; optionally each action has a category (its
  embedding) and the reward depends on the action only through it (MIPS's assumption) or also
  directly (``direct_effect`` > 0: the assumption broken);
- :class:`SyntheticSlateBandit`: ``L``-position slates with per-position rewards following one of
  three click models, each the assumption of some slate estimators and not of others.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Literal

import numpy as np
import numpy.typing as npt

from recoworld.errors import EstimatorInputError
from recoworld.estimators.feed_logs import SlateLog
from recoworld.estimators.logged_data import BanditLog, check_action_dist

__all__ = ["SlateClickModel", "SyntheticBandit", "SyntheticSlateBandit"]

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
    action_category: npt.NDArray[np.int64] | None = None
    """Each action's category (its embedding), or ``None``; see :meth:`generate_with_categories`."""

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

    @classmethod
    def generate_with_categories(cls, n_contexts: int = 50, n_actions: int = 100,
                                 n_categories: int = 10, direct_effect: float = 0.0, dim: int = 5,
                                 seed: int = 0) -> SyntheticBandit:
        """Actions in categories; the reward logit is ``g(x, category(a)) + direct_effect * h(x, a)``.

        With ``direct_effect = 0`` the reward depends on the action only through its category
        (MIPS is unbiased); otherwise actions of one category differ (MIPS is biased).
        """
        if n_categories < 1 or n_categories > n_actions:
            raise EstimatorInputError(f"need 1 <= n_categories <= n_actions, got {n_categories} "
                                      f"and {n_actions}")
        if not direct_effect >= 0.0:
            raise EstimatorInputError(f"`direct_effect` must be >= 0, got {direct_effect}")
        base = cls.generate(n_contexts, n_categories, dim, seed) if n_categories > 1 else None
        rng = np.random.default_rng([seed, 1])
        category = np.concatenate([np.arange(n_categories),
                                   rng.integers(0, n_categories, n_actions - n_categories)])
        category = rng.permutation(category).astype(np.int64)
        contexts = (base.contexts if base is not None
                    else np.random.default_rng(seed).normal(size=(n_contexts, dim)))
        logit_cat = (np.log(base.expected_reward / (1.0 - base.expected_reward))
                     if base is not None else np.zeros((n_contexts, 1)))
        direct = rng.normal(size=(n_contexts, n_actions))
        logits = logit_cat[:, category] + direct_effect * direct
        return cls(contexts, 1.0 / (1.0 + np.exp(-logits)), category)

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


SlateClickModel = Literal["independent", "cascade", "global"]
"""How a slate's position rewards arise (``a`` = attractiveness, ``v_k`` = examination of ``k``).

- ``independent``: ``r_k ~ Bernoulli(v_k a(s_k))``: the reward of a position depends on its own
  item only (every slate estimator's assumption holds);
- ``cascade``: the user scans down, clicking ``s_k`` with probability ``v_k a(s_k)``, and stops
  after the first click, so ``r_k`` depends on ``s_1..s_k`` (independent IPS and PseudoInverse
  break; reward-interaction IPS and cascade-DR hold);
- ``global``: the user looks at the whole slate first: ``r_k ~ Bernoulli(v_k a(s_k) (1 - m/2))``
  with ``m`` the largest attractiveness *below* ``k``, so a position's reward depends on the
  items after it (only standard IPS holds).
"""


@dataclass(frozen=True)
class SyntheticSlateBandit:
    """Finite-context slate bandit with known per-position reward means.

    Policies are ``(n_contexts, n_actions, slate_size)`` tables whose column ``k`` is the
    distribution of position ``k`` (positions drawn independently); their exact values sum over
    all ``n_actions ** slate_size`` slates.
    """

    contexts: _Array
    """Context features, ``(n_contexts, dim)``."""
    attractiveness: _Array
    """``a(x, a)`` in (0, 1), ``(n_contexts, n_actions)``."""
    examination: _Array
    """``v_k`` in (0, 1], ``(slate_size,)``."""
    click_model: SlateClickModel = "independent"
    """See :data:`SlateClickModel`."""

    def __post_init__(self) -> None:
        if self.click_model not in ("independent", "cascade", "global"):
            raise EstimatorInputError(f"`click_model` must be independent, cascade or global, "
                                      f"got {self.click_model!r}")

    @classmethod
    def generate(cls, n_contexts: int = 20, n_actions: int = 5, slate_size: int = 3,
                 click_model: SlateClickModel = "independent", dim: int = 3,
                 seed: int = 0) -> SyntheticSlateBandit:
        """Random contexts, logistic attractiveness, examination ``1 / (k + 1) ** 0.5``."""
        if n_actions < 2 or slate_size < 1 or n_actions**slate_size > 200_000:
            raise EstimatorInputError(f"need n_actions >= 2, slate_size >= 1 and at most 200,000 "
                                      f"slates, got {n_actions} ** {slate_size}")
        world = SyntheticBandit.generate(n_contexts, n_actions, dim, seed)
        exam = 1.0 / np.sqrt(np.arange(1, slate_size + 1, dtype=np.float64))
        return cls(world.contexts, world.expected_reward, exam, click_model)

    @property
    def n_contexts(self) -> int:
        """Number of distinct contexts."""
        return int(self.contexts.shape[0])

    @property
    def n_actions(self) -> int:
        """Number of actions (candidates)."""
        return int(self.attractiveness.shape[1])

    @property
    def slate_size(self) -> int:
        """Positions per slate."""
        return int(self.examination.shape[0])

    def position_means(self, ctx: npt.ArrayLike, slates: npt.ArrayLike) -> _Array:
        """Expected reward of each position of ``slates`` (``(n, L)``) in contexts ``ctx``."""
        c = np.asarray(ctx, dtype=np.int64)
        s = np.asarray(slates, dtype=np.int64)
        p = self.attractiveness[c[:, None], s] * self.examination[None, :]
        if self.click_model == "independent":
            return p  # type: ignore[no-any-return]
        if self.click_model == "cascade":
            survive = np.cumprod(np.hstack([np.ones((p.shape[0], 1)), 1.0 - p[:, :-1]]), axis=1)
            return p * survive  # type: ignore[no-any-return]
        a = self.attractiveness[c[:, None], s]
        below = np.maximum.accumulate(a[:, ::-1], axis=1)[:, ::-1]
        later = np.hstack([below[:, 1:], np.zeros((a.shape[0], 1))])
        return p * (1.0 - 0.5 * later)  # type: ignore[no-any-return]

    def _check_policy(self, policy: npt.ArrayLike, name: str) -> _Array:
        pol = np.asarray(policy, dtype=np.float64)
        if pol.shape != (self.n_contexts, self.n_actions, self.slate_size):
            raise EstimatorInputError(f"`{name}` must have shape (n_contexts, n_actions, "
                                      f"slate_size) = {(self.n_contexts, self.n_actions, self.slate_size)}, "
                                      f"got {pol.shape}")
        return check_action_dist(pol, self.n_contexts, self.n_actions, name=name)

    def softmax_policy(self, beta: float, position_decay: float = 1.0) -> _Array:
        """Position ``k`` from ``softmax(beta * decay**k * attractiveness)``."""
        scale = beta * position_decay ** np.arange(self.slate_size, dtype=np.float64)
        z = self.attractiveness[:, :, None] * scale[None, None, :]
        z = np.exp(z - z.max(axis=1, keepdims=True))
        return z / z.sum(axis=1, keepdims=True)  # type: ignore[no-any-return]

    def policy_value(self, policy: npt.ArrayLike) -> float:
        """Exact expected slate reward (sum over positions) of ``policy``, contexts uniform."""
        pol = self._check_policy(policy, "policy")
        slates = np.asarray(list(itertools.product(range(self.n_actions),
                                                   repeat=self.slate_size)), dtype=np.int64)
        total = 0.0
        for c in range(self.n_contexts):  # contexts are few; each is one array expression
            prob = np.prod(pol[c, slates, np.arange(self.slate_size)], axis=1)
            means = self.position_means(np.full(len(slates), c), slates).sum(axis=1)
            total += float(prob @ means)
        return total / self.n_contexts

    def sample(self, n_rounds: int, logging_policy: npt.ArrayLike,
               rng: np.random.Generator) -> tuple[SlateLog, npt.NDArray[np.int64]]:
        """Log ``n_rounds`` slates of ``logging_policy``; returns the log and each round's context.

        Index a policy table with the returned context ids for a target's marginals.
        """
        pol = self._check_policy(logging_policy, "logging_policy")
        if n_rounds < 1:
            raise EstimatorInputError(f"`n_rounds` must be >= 1, got {n_rounds}")
        ctx = rng.integers(0, self.n_contexts, n_rounds)
        marg = pol[ctx]
        cum = np.cumsum(marg, axis=1)
        u = rng.random((n_rounds, 1, self.slate_size)) * cum[:, -1:, :]
        slates = np.minimum((cum <= u).sum(axis=1), self.n_actions - 1).astype(np.int64)
        draws = rng.random((n_rounds, self.slate_size))
        if self.click_model == "cascade":
            clicks = draws < (self.attractiveness[ctx[:, None], slates] * self.examination)
            before = np.cumsum(clicks, axis=1) - clicks
            reward = (clicks & (before == 0)).astype(np.float64)
        else:
            reward = (draws < self.position_means(ctx, slates)).astype(np.float64)
        n = n_rounds
        log = SlateLog(
            episode=np.arange(n, dtype=np.int64), step=np.zeros(n, dtype=np.int64),
            user=ctx.astype(np.int64), features=self.contexts[ctx],
            candidates=np.tile(np.arange(self.n_actions, dtype=np.int64), (n, 1)), slate=slates,
            reward=reward, shown=np.ones_like(slates, dtype=bool), logging_marginals=marg,
            n_items=self.n_actions, env_id="synthetic-slate-bandit",
            policy="softmax table",
        )
        return log, ctx.astype(np.int64)
