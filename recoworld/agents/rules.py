"""Rule baselines for conversational recommendation: random, max-entropy, abs-greedy.

They offer the :class:`~recoworld.agents.base.Agent` surface: ``predict(obs)``, ``action_dist(obs)``
(probabilities over the flat action set: one entry per question, then one for "recommend"),
``to_action``, ``save`` / ``load``, and a ``learn(env)`` that checks the environment and learns
nothing. They read the candidates from the observation, so they follow whichever candidate
protocol the environment runs (``reject_filter``).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any, ClassVar, TypeVar

import gymnasium
import numpy as np
import numpy.typing as npt

from recoworld.agents.base import conversational_env
from recoworld.agents.crs_base import check_world, load_checkpoint, save_checkpoint
from recoworld.datasets.world import AttributeGraphWorld
from recoworld.envs.conversational import ASK, RECOMMEND
from recoworld.envs.crs_stats import reachable_entropy, reachable_questions
from recoworld.errors import ConfigError
from recoworld.scoring import ItemScorer, PopularityScorer, top_items

__all__ = ["AbsGreedyAgent", "MaxEntropyAgent", "RandomAgent", "RuleAgent", "make_rule_agent"]


_R = TypeVar("_R", bound="RuleAgent")


def _candidates(obs: dict[str, Any]) -> npt.NDArray[np.int64]:
    return np.flatnonzero(np.asarray(obs["candidates"]).view(np.bool_)).astype(np.int64)


class RuleAgent(ABC):
    """Shared plumbing of the rule agents: candidate extraction, item ranking, actions."""

    name: ClassVar[str] = ""

    def __init__(
        self,
        world: AttributeGraphWorld,
        scorer: ItemScorer | None = None,
        rec_size: int = 10,
        seed: int = 0,
    ) -> None:
        self.world = world
        self.scorer = scorer or PopularityScorer(world)
        self.rec_size = rec_size
        self.seed = seed
        self.rng = np.random.default_rng(seed)

    @property
    def n_actions(self) -> int:
        """Size of the flat action set: every question plus "recommend"."""
        return self.world.n_questions + 1

    def ranked_items(self, obs: dict[str, Any]) -> npt.NDArray[np.int64]:
        """The ``rec_size`` best candidates under the agent's scorer."""
        cand = _candidates(obs)
        s = self.scorer.scores(int(obs["user"]), obs["accepted"], obs["rejected"], cand)
        return top_items(cand, s, self.rec_size)

    def _reachable(self, obs: dict[str, Any]) -> npt.NDArray[np.bool_]:
        cand = _candidates(obs)
        return reachable_questions(self.world, cand, obs["asked"], obs["accepted"])

    def to_action(self, flat: int, obs: dict[str, Any]) -> dict[str, Any]:
        """Turn a flat action (question id, or ``n_questions`` = recommend) into an env action."""
        if flat == self.world.n_questions:
            items = self.ranked_items(obs)
            padded = np.full(self.rec_size, items[-1] if items.size else 0, dtype=np.int64)
            padded[: items.size] = items
            return {"kind": RECOMMEND, "question": 0, "items": padded}
        return {"kind": ASK, "question": int(flat), "items": np.zeros(self.rec_size, np.int64)}

    @abstractmethod
    def action_dist(self, obs: dict[str, Any]) -> npt.NDArray[np.float64]:
        """Probabilities over the flat action set."""

    def learn(
        self: _R, env: gymnasium.Env[Any, Any] | None = None, episodes: int | None = None
    ) -> _R:
        """Check that ``env`` fits the agent and return: a rule has nothing to learn."""
        if env is not None:
            conversational_env(env, self.world, self.rec_size, None)
        return self

    def save(self, path: str | Path) -> None:
        """Write the rule's name, settings and world to ``path`` (popularity-ranked rules only)."""
        if not isinstance(self.scorer, PopularityScorer):
            raise ConfigError(
                f"{type(self).__name__} ranks items with a {type(self.scorer).__name__}, which a "
                "checkpoint cannot hold; only the default popularity ranking is saved"
            )
        save_checkpoint(path, {
            "agent": self.name,
            "config": {"rec_size": self.rec_size},
            "seed": self.seed,
            "world": self.world.summary(),
        })

    @classmethod
    def load(cls: type[_R], path: str | Path, world: AttributeGraphWorld) -> _R:
        """Rebuild a rule agent saved by :meth:`save`."""
        payload = load_checkpoint(path, cls.name)
        check_world(payload, world, path)
        return cls(world, rec_size=int(payload["config"]["rec_size"]), seed=int(payload["seed"]))

    def predict(self, obs: dict[str, Any]) -> dict[str, Any]:
        """The env action to take (drawn from :meth:`action_dist`)."""
        p = self.action_dist(obs)
        support = np.flatnonzero(p)
        flat = int(support[0]) if support.size == 1 else int(self.rng.choice(p.size, p=p))
        return self.to_action(flat, obs)


class RandomAgent(RuleAgent):
    """Uniform over the reachable questions and "recommend" (items ranked by the scorer)."""

    name = "random"

    def action_dist(self, obs: dict[str, Any]) -> npt.NDArray[np.float64]:
        """Uniform over reachable questions plus recommend."""
        p = np.zeros(self.n_actions)
        p[:-1] = self._reachable(obs)
        p[-1] = 1.0
        p /= p.sum()
        return p


class MaxEntropyAgent(RuleAgent):
    """Ask the reachable question of maximum entropy until at most ``rec_size`` candidates remain.

    Then recommend. A question of zero entropy (every candidate holds the attribute, so the answer
    is known) is never asked: with no reachable question of positive entropy left it recommends the
    scorer's top items. Ties between questions go to the smallest id.
    """

    name = "max-entropy"

    def choose(self, obs: dict[str, Any]) -> int:
        """The flat action this deterministic agent takes."""
        cand = _candidates(obs)
        if cand.size <= self.rec_size:
            return self.world.n_questions
        h = reachable_entropy(self.world, cand, obs["asked"], obs["accepted"])
        best = int(np.argmax(h))
        return self.world.n_questions if h[best] <= 0.0 else best

    def action_dist(self, obs: dict[str, Any]) -> npt.NDArray[np.float64]:
        """One-hot on :meth:`choose`."""
        p = np.zeros(self.n_actions)
        p[self.choose(obs)] = 1.0
        return p

    def predict(self, obs: dict[str, Any]) -> dict[str, Any]:
        """Deterministic: the max-entropy question, or recommend."""
        return self.to_action(self.choose(obs), obs)


class AbsGreedyAgent(RuleAgent):
    """Always recommend the scorer's top ``rec_size`` candidates."""

    name = "abs-greedy"

    def action_dist(self, obs: dict[str, Any]) -> npt.NDArray[np.float64]:
        """One-hot on "recommend"."""
        p = np.zeros(self.n_actions)
        p[-1] = 1.0
        return p

    def predict(self, obs: dict[str, Any]) -> dict[str, Any]:
        """Recommend the top items."""
        return self.to_action(self.world.n_questions, obs)


_RULES: dict[str, type[RuleAgent]] = {
    "random": RandomAgent,
    "max-entropy": MaxEntropyAgent,
    "abs-greedy": AbsGreedyAgent,
}


def make_rule_agent(name: str, world: AttributeGraphWorld, seed: int = 0) -> RuleAgent:
    """Build the rule agent ``name`` (``random``, ``max-entropy``, ``abs-greedy``)."""
    if name not in _RULES:
        raise ConfigError(f"unknown rule agent {name!r}; known: {sorted(_RULES)}")
    return _RULES[name](world, seed=seed)
