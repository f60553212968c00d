"""Rule baselines for conversational recommendation: random, max-entropy, abs-greedy.

They offer the :class:`~recoworld.agents.base.Agent` surface: ``predict(obs)``, ``action_dist(obs)``
(probabilities over the flat action set: one entry per question, then one for "recommend"),
``to_action``, ``save`` / ``load``, and a ``learn(env)`` that checks the environment and learns
nothing. They read the candidates from the observation, so they follow whichever candidate
protocol the environment runs (``reject_filter``).
The rules also act on a batch: ``predict_batch(obs)`` takes the observation of a
:class:`~recoworld.envs.ConversationalVectorEnv` and returns its batched action, equal row by row
to ``predict`` on each row (the random rule draws in row order from the same generator).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar, TypeVar

import gymnasium
import numpy as np
import numpy.typing as npt

from recoworld.agents import _rules_kernels as K
from recoworld.agents.base import conversational_env
from recoworld.agents.crs_base import check_world, load_checkpoint, save_checkpoint
from recoworld.datasets.world import AttributeGraphWorld
from recoworld.envs.conversational import ASK, RECOMMEND
from recoworld.envs.crs_stats import binary_entropy, reachable_entropy, reachable_questions
from recoworld.errors import ConfigError
from recoworld.scoring import ItemScorer, PopularityScorer, top_items

__all__ = ["AbsGreedyAgent", "MaxEntropyAgent", "RandomAgent", "RuleAgent", "make_rule_agent"]


_R = TypeVar("_R", bound="RuleAgent")


def _candidates(obs: dict[str, Any]) -> npt.NDArray[np.int64]:
    return np.flatnonzero(np.asarray(obs["candidates"]).view(np.bool_)).astype(np.int64)


BatchObs = Mapping[str, npt.NDArray[Any]]
_RANKED = 64  # attributes a cached ranking holds per batch row


class RuleAgent(ABC):
    """Shared plumbing of the rule agents: candidate extraction, item ranking, actions.

    ``deterministic`` says whether the rule draws random numbers (the batched evaluator needs
    rules that do not: see :func:`recoworld.evaluation.evaluate`).
    """

    deterministic = False

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
        indptr, indices = world._item_attr_sets
        self._item_indptr = indptr.astype(np.int64)
        self._item_attrs = indices
        if world.parent_children is not None and world.question_mode == "enumerated":
            self._pc_indptr = world.parent_children.indptr.astype(np.int64)
            self._pc_children = world.parent_children.indices.astype(np.int32)
        else:
            self._pc_indptr = np.zeros(1, dtype=np.int64)
            self._pc_children = np.zeros(0, dtype=np.int32)
        self._cand_buffer = np.empty(0, dtype=np.int64)

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

    # ---- batches --------------------------------------------------------------------------------
    def predict_batch(
        self,
        obs: BatchObs,
        active: npt.NDArray[np.bool_] | None = None,
        candidates: tuple[npt.NDArray[np.int32], npt.NDArray[np.int64]] | None = None,
    ) -> dict[str, npt.NDArray[np.int64]]:
        """The batched env action for a batch of observations (a vector env's ``obs``).

        Row ``i`` equals ``predict`` on row ``i``'s observation. Only the rows of ``active`` (all
        by default) are decided, in order; the others get a placeholder (ask question 0), which a
        vector env ignores for sub-environments it is not stepping. ``candidates`` may hand over
        the candidate lists the env keeps (``ConversationalVectorEnv.candidate_lists()``: row
        ``i``'s sorted ids are ``lists[i, :counts[i]]``), which saves reading them off the masks.
        """
        n = len(obs["user"])
        rows = np.arange(n, dtype=np.int64) if active is None else np.flatnonzero(active).astype(np.int64)
        kind = np.zeros(n, dtype=np.int64)
        question = np.zeros(n, dtype=np.int64)
        items = np.zeros((n, self.rec_size), dtype=np.int64)
        if type(self.scorer) is not PopularityScorer:
            for r in rows.tolist():  # a scorer without a batched form: one row at a time
                a = self.predict({k: v[r] for k, v in obs.items()})
                kind[r], question[r], items[r] = a["kind"], a["question"], a["items"]
            return {"kind": kind, "question": question, "items": items}
        if candidates is None:
            indptr, cand = self._batch_candidates(obs["candidates"], rows)
        else:
            lists, counts = candidates
            indptr, cand = K.gather_lists(lists, np.asarray(counts, dtype=np.int64), rows)
        flat = self._choose_batch(obs, rows, indptr, cand)
        recommend = flat == self.world.n_questions
        kind[rows] = np.where(recommend, RECOMMEND, ASK)
        question[rows] = np.where(recommend, 0, flat)
        sel = np.flatnonzero(recommend).astype(np.int64)
        if sel.size:
            items[rows[sel]] = K.top_by_score(
                indptr, cand, sel, self.scorer.popularity, self.rec_size
            )
        return {"kind": kind, "question": question, "items": items}

    def _batch_candidates(
        self, mask: npt.NDArray[Any], rows: npt.NDArray[np.int64]
    ) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
        """Each row's candidate ids, increasing, as CSR ``(indptr, ids)``."""
        m = np.asarray(mask)
        if m.dtype != np.int8:
            m = m.astype(np.int8)
        if m.flags.c_contiguous and m.shape[1] % 8 == 0:
            indptr, buf = K.candidates_from_words(m.view(np.uint64), rows, self._cand_buffer)
        else:
            indptr, buf = K.candidates_from_bytes(m, rows, self._cand_buffer)
        self._cand_buffer = buf
        return indptr, buf[: indptr[-1]]

    def _counts(
        self, indptr: npt.NDArray[np.int64], cand: npt.NDArray[np.int64], at_most: int
    ) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64], npt.NDArray[np.int64]]:
        out: tuple[npt.NDArray[np.int64], npt.NDArray[np.int64], npt.NDArray[np.int64]] = (
            K.attribute_counts(
                indptr, cand, self._item_indptr, self._item_attrs, self.world.n_attributes, at_most
            )
        )
        return out

    def _choose_batch(
        self,
        obs: BatchObs,
        rows: npt.NDArray[np.int64],
        indptr: npt.NDArray[np.int64],
        cand: npt.NDArray[np.int64],
    ) -> npt.NDArray[np.int64]:
        """The flat action of each row (``n_questions`` = recommend); rows drawn in order."""
        ptr, attrs, _ = self._counts(indptr, cand, -1)
        qptr, questions = K.reachable_questions(
            rows, ptr, attrs, np.asarray(obs["accepted"]), np.asarray(obs["asked"]),
            self._pc_indptr, self._pc_children,
            self.world.question_mode == "enumerated", self.world.n_attributes,
        )  # fmt: skip
        draws = self.rng.random(int(np.count_nonzero(np.diff(qptr))))
        out: npt.NDArray[np.int64] = K.uniform_pick(qptr, questions, draws, self.world.n_questions)
        return out


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

    On a batch, one pass counts every row's attributes and one numpy call computes the entropies
    that decide, for all rows at once.
    """

    name = "max-entropy"

    deterministic = True

    def __init__(
        self,
        world: AttributeGraphWorld,
        scorer: ItemScorer | None = None,
        rec_size: int = 10,
        seed: int = 0,
    ) -> None:
        super().__init__(world, scorer, rec_size, seed)
        # Per batch row: the last candidate list counted and its attributes ranked by entropy, so
        # a declined question (same candidates) costs a lookup instead of a recount.
        self._cache_n = np.zeros(0, dtype=np.int64)
        self._cache_cand = np.zeros((0, 0), dtype=np.int64)
        self._cache_rank = np.zeros((0, _RANKED), dtype=np.int64)
        self._cache_len = np.zeros(0, dtype=np.int64)
        self._cache_complete = np.zeros(0, dtype=np.bool_)

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

    def _choose_batch(
        self,
        obs: BatchObs,
        rows: npt.NDArray[np.int64],
        indptr: npt.NDArray[np.int64],
        cand: npt.NDArray[np.int64],
    ) -> npt.NDArray[np.int64]:
        n_q = self.world.n_questions
        accepted, asked = np.asarray(obs["accepted"]), np.asarray(obs["asked"])
        sizes = np.diff(indptr)
        flat = np.full(rows.size, n_q, dtype=np.int64)
        if self.world.question_mode == "enumerated":
            ptr, attrs, held = self._counts(indptr, cand, self.rec_size)
            total = np.repeat(sizes, np.diff(ptr)).astype(np.float64)
            h = binary_entropy(held.astype(np.float64) / total)
            best = K.max_entropy_parents(
                rows, ptr, attrs, h, accepted, asked,
                self._pc_indptr, self._pc_children, self.world.n_attributes,
            )  # fmt: skip
            return np.where(best >= 0, best, flat)
        self._size_cache(len(obs["user"]), int(sizes.max(initial=0)))
        flag, best, low, high, recounted, rptr, rattr, rcount = K.max_entropy_cached(
            indptr, cand, rows, self._item_indptr, self._item_attrs, accepted, asked,
            self.world.n_attributes, self.rec_size, self._cache_n, self._cache_cand,
            self._cache_rank, self._cache_len, self._cache_complete,
        )  # fmt: skip
        decide = np.flatnonzero(flag == K.DECIDE_FLAG)
        n = sizes[decide].astype(np.float64)
        m = best[decide].astype(np.float64)
        ranked_n = np.repeat(sizes.astype(np.float64), np.diff(rptr))
        # H(m/n) and H((n-m)/n) are equal in exact arithmetic; as floats either may win. One
        # numpy call gives every entropy of the batch (the decisions and the new rankings).
        h = binary_entropy(np.concatenate([m / n, (n - m) / n, rcount / ranked_n]))
        h_low, h_high = h[: decide.size], h[decide.size : 2 * decide.size]
        K.store_ranking(
            rows, recounted, rptr, rattr, h[2 * decide.size :], self._cache_rank, self._cache_len
        )
        lo, hi = low[decide], high[decide]
        take_low = (hi < 0) | ((lo >= 0) & ((h_low > h_high) | ((h_low == h_high) & (lo < hi))))
        flat = np.where(flag >= 0, flag, n_q)
        flat[decide] = np.where(take_low, lo, hi)
        return flat

    def _size_cache(self, n_rows: int, max_candidates: int) -> None:
        """(Re)allocate the per-row ranking cache (emptied when its shape must change)."""
        if self._cache_n.size != n_rows or self._cache_cand.shape[1] < max_candidates:
            self._cache_n = np.full(n_rows, -1, dtype=np.int64)
            width = max(max_candidates, 2 * self._cache_cand.shape[1])
            self._cache_cand = np.zeros((n_rows, width), dtype=np.int64)
            self._cache_rank = np.zeros((n_rows, _RANKED), dtype=np.int64)
            self._cache_len = np.zeros(n_rows, dtype=np.int64)
            self._cache_complete = np.zeros(n_rows, dtype=np.bool_)


class AbsGreedyAgent(RuleAgent):
    """Always recommend the scorer's top ``rec_size`` candidates."""

    name = "abs-greedy"

    deterministic = True

    def action_dist(self, obs: dict[str, Any]) -> npt.NDArray[np.float64]:
        """One-hot on "recommend"."""
        p = np.zeros(self.n_actions)
        p[-1] = 1.0
        return p

    def predict(self, obs: dict[str, Any]) -> dict[str, Any]:
        """Recommend the top items."""
        return self.to_action(self.world.n_questions, obs)

    def _choose_batch(
        self,
        obs: BatchObs,
        rows: npt.NDArray[np.int64],
        indptr: npt.NDArray[np.int64],
        cand: npt.NDArray[np.int64],
    ) -> npt.NDArray[np.int64]:
        return np.full(rows.size, self.world.n_questions, dtype=np.int64)


_RULES: dict[str, type[RuleAgent]] = {
    "random": RandomAgent,
    "max-entropy": MaxEntropyAgent,
    "abs-greedy": AbsGreedyAgent,
}


def make_rule_agent(name: str, world: AttributeGraphWorld, seed: int = 0) -> RuleAgent:
    """Build the rule agent ``name`` (``random``, ``max-entropy``, ``abs-greedy``)."""
    from recoworld.registration import canonical_agent_name

    name = canonical_agent_name(name)
    if name not in _RULES:
        raise ConfigError(f"unknown rule agent {name!r}; known: {sorted(_RULES)}")
    return _RULES[name](world, seed=seed)
