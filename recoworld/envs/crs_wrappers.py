"""Wrappers that make the conversational environment trainable with flat action spaces.

* :class:`AskOrRecommendWrapper` — SCPR's decision: ``Discrete(2)``, ask or recommend. The question
  is the reachable one of maximum (weighted) entropy; the items come from a pluggable scorer.
* :class:`AttributeOrRecommendWrapper` — EAR's decision: ``Discrete(n_questions + 1)``, one action
  per question plus "recommend", with EAR's state vector.

Both observe a ``Box`` (stable-baselines3 ready) and put ``action_mask`` in ``info``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, SupportsFloat

import gymnasium
import numpy as np
import numpy.typing as npt
from gymnasium import spaces

from recoworld.envs.conversational import ASK, RECOMMEND, ConversationalRecEnv
from recoworld.envs.crs_stats import reachable_entropy
from recoworld.errors import InvalidActionError
from recoworld.scoring import ItemScorer, PopularityScorer, top_items

__all__ = [
    "CANDIDATE_BUCKETS",
    "AskOrRecommendWrapper",
    "AttributeOrRecommendWrapper",
    "AttributePreference",
    "ConversationState",
]

# EAR's candidate-count buckets: the state holds a one-hot of the bucket the count falls in.
CANDIDATE_BUCKETS = (10, 50, 100, 200, 300, 500, 1000)

# History codes, one per agent turn (0 = not played yet).
_ASK_ACCEPTED, _ASK_REJECTED, _REC_REJECTED = 1.0, -1.0, -0.5

AttributePreference = Callable[[int, npt.NDArray[np.int8]], npt.NDArray[np.float64]]
"""``(user, accepted mask) -> preference per attribute``, e.g. FM scores."""


class ConversationState:
    """The conversation features both wrappers share: turn history and candidate-count bucket."""

    def __init__(self, max_turns: int) -> None:
        self.history = np.zeros(max_turns - 1, dtype=np.float32)
        self._t = 0

    @property
    def size(self) -> int:
        """Length of :meth:`vector`."""
        return self.history.size + len(CANDIDATE_BUCKETS) + 1

    def reset(self) -> None:
        """Forget the previous session."""
        self.history.fill(0.0)
        self._t = 0

    def record(self, code: float) -> None:
        """Append the outcome of the agent's latest turn."""
        if self._t < self.history.size:
            self.history[self._t] = code
        self._t += 1

    def vector(self, candidate_count: int) -> npt.NDArray[np.float32]:
        """History followed by the one-hot candidate-count bucket."""
        bucket = np.zeros(len(CANDIDATE_BUCKETS) + 1, dtype=np.float32)
        bucket[int(np.searchsorted(CANDIDATE_BUCKETS, candidate_count))] = 1.0
        return np.concatenate([self.history, bucket])


def _base(env: gymnasium.Env[Any, Any]) -> ConversationalRecEnv:
    base = env.unwrapped
    if not isinstance(base, ConversationalRecEnv):
        raise TypeError(f"expected a ConversationalRecEnv underneath, got {type(base).__name__}")
    return base


class _FlatConversationWrapper(
    gymnasium.Wrapper[npt.NDArray[np.float32], int, dict[str, Any], dict[str, Any]]
):
    """Shared plumbing: keeps the raw observation, history, scorer-ranked recommendations."""

    def __init__(self, env: gymnasium.Env[Any, Any], scorer: ItemScorer | None) -> None:
        super().__init__(env)
        # gymnasium annotates the wrapped env with the wrapper's own types; keep a typed handle.
        self._inner: gymnasium.Env[dict[str, Any], dict[str, Any]] = env
        self.base = _base(env)
        self.world = self.base.world
        self.scorer = scorer or PopularityScorer(self.world)
        self.state = ConversationState(self.base.max_turns)
        self._raw: dict[str, Any] = {}
        self._cand: npt.NDArray[np.int64] = np.empty(0, dtype=np.int64)

    def _refresh(self, raw: dict[str, Any]) -> None:
        self._raw = raw
        self._cand = np.flatnonzero(np.asarray(raw["candidates"]).view(np.bool_)).astype(np.int64)

    def _scores(self) -> npt.NDArray[np.float64]:
        raw = self._raw
        return self.scorer.scores(int(raw["user"]), raw["accepted"], raw["rejected"], self._cand)

    def _recommend_action(self) -> dict[str, Any]:
        items = top_items(self._cand, self._scores(), self.base.rec_size)
        return self.base.recommend(items)

    def _play(
        self, action: dict[str, Any]
    ) -> tuple[dict[str, Any], SupportsFloat, bool, bool, dict[str, Any]]:
        n_accepted = int(np.count_nonzero(self._raw["accepted"]))
        raw, reward, terminated, truncated, info = self._inner.step(action)
        if action["kind"] == RECOMMEND:
            self.state.record(_REC_REJECTED)
        else:
            grew = int(np.count_nonzero(raw["accepted"])) > n_accepted
            self.state.record(_ASK_ACCEPTED if grew else _ASK_REJECTED)
        self._refresh(raw)
        return raw, reward, terminated, truncated, info


class AskOrRecommendWrapper(_FlatConversationWrapper):
    """SCPR's action space: ``Discrete(2)`` (0 = ask, 1 = recommend).

    Asking picks the reachable question of maximum entropy over the candidates — weighted by the
    sigmoid of the scorer's item scores when ``weighted_entropy`` is on (SCPR's stronger variant).
    When no question is reachable, "ask" is masked and acts as "recommend".

    Observation: ``Box(float32)`` = turn history (``max_turns - 1`` codes: +1 accepted question,
    -1 rejected question, -0.5 rejected recommendation, 0 not played) + one-hot candidate-count
    bucket (EAR's thresholds 10, 50, 100, 200, 300, 500, 1000) + the max entropy available.
    """

    def __init__(
        self,
        env: gymnasium.Env[Any, Any],
        scorer: ItemScorer | None = None,
        weighted_entropy: bool = False,
    ) -> None:
        super().__init__(env, scorer)
        self.weighted_entropy = weighted_entropy
        self.action_space: spaces.Discrete = spaces.Discrete(2)  # type: ignore[assignment]
        self.observation_space = spaces.Box(
            -1.0, np.inf, shape=(self.state.size + 1,), dtype=np.float32
        )
        self._entropy = np.zeros(0)

    def _features(self) -> npt.NDArray[np.float32]:
        raw = self._raw
        weights = None
        if self.weighted_entropy and self._cand.size:
            weights = 1.0 / (1.0 + np.exp(-self._scores()))
        self._entropy = reachable_entropy(
            self.world, self._cand, raw["asked"], raw["accepted"], weights
        )
        best = float(self._entropy.max()) if self._entropy.size else -np.inf
        vec = self.state.vector(int(self._cand.size))
        return np.append(vec, np.float32(max(best, 0.0)))

    def action_mask(self) -> npt.NDArray[np.bool_]:
        """Which of (ask, recommend) is available now."""
        return np.array([bool(np.isfinite(self._entropy).any()), True])

    def chosen_question(self) -> int:
        """The question "ask" would ask now (-1 if none is reachable)."""
        best = int(np.argmax(self._entropy)) if self._entropy.size else -1
        return best if best >= 0 and np.isfinite(self._entropy[best]) else -1

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[npt.NDArray[np.float32], dict[str, Any]]:
        """Reset the base env and the conversation state."""
        raw, info = self._inner.reset(seed=seed, options=options)
        self.state.reset()
        self._refresh(raw)
        obs = self._features()
        info["action_mask"] = self.action_mask()
        return obs, info

    def step(
        self, action: int
    ) -> tuple[npt.NDArray[np.float32], SupportsFloat, bool, bool, dict[str, Any]]:
        """0 = ask the max-entropy reachable question, 1 = recommend the scorer's top items."""
        a = int(action)
        if a not in (0, 1):
            raise InvalidActionError(f"action must be 0 (ask) or 1 (recommend), got {action}")
        q = self.chosen_question()
        env_action = self.base.ask(q) if a == ASK and q >= 0 else self._recommend_action()
        _, reward, terminated, truncated, info = self._play(env_action)
        obs = self._features()
        info["action_mask"] = self.action_mask()
        return obs, reward, terminated, truncated, info


class AttributeOrRecommendWrapper(_FlatConversationWrapper):
    """EAR's action space: ``Discrete(n_questions + 1)``; the last action recommends.

    Observation: ``Box(float32)`` = [entropy of each question over the candidates, preference
    for each question, turn history, one-hot candidate-count bucket]. The preference defaults to
    the user's declared liked attributes (1/0); pass ``attribute_preference`` (e.g. FM scores
    e_u.e_a + sum over accepted a' of e_a'.e_a) for EAR's estimator-based state. In enumerated
    mode a parent's entropy and preference sum its children's.

    ``info["action_mask"]`` marks the questions not asked yet, and "recommend".
    """

    def __init__(
        self,
        env: gymnasium.Env[Any, Any],
        scorer: ItemScorer | None = None,
        attribute_preference: AttributePreference | None = None,
    ) -> None:
        super().__init__(env, scorer)
        self.attribute_preference = attribute_preference
        n_q = self.world.n_questions
        self.action_space: spaces.Discrete = spaces.Discrete(n_q + 1)  # type: ignore[assignment]
        self.observation_space = spaces.Box(
            -np.inf, np.inf, shape=(2 * n_q + self.state.size,), dtype=np.float32
        )
        self._liked = self.world.user_attributes

    def _preference(self) -> npt.NDArray[np.float64]:
        user = int(self._raw["user"])
        if self.attribute_preference is not None:
            pref = np.asarray(self.attribute_preference(user, self._raw["accepted"]), np.float64)
        else:
            row = self._liked
            pref = np.zeros(self.world.n_attributes)
            pref[row.indices[row.indptr[user] : row.indptr[user + 1]]] = 1.0
        if self.world.question_mode == "enumerated":
            assert self.world.parent_children is not None
            pref = np.asarray(self.world.parent_children.astype(np.float64) @ pref).ravel()
        return pref

    def _features(self) -> npt.NDArray[np.float32]:
        raw = self._raw
        h = reachable_entropy(self.world, self._cand, np.zeros_like(raw["asked"]), raw["accepted"])
        h[~np.isfinite(h)] = 0.0
        return np.concatenate(
            [h, self._preference(), self.state.vector(int(self._cand.size))]
        ).astype(np.float32)

    def action_mask(self) -> npt.NDArray[np.bool_]:
        """Questions not asked yet, then "recommend" (always available)."""
        return np.append(np.asarray(self._raw["asked"]) == 0, True)

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[npt.NDArray[np.float32], dict[str, Any]]:
        """Reset the base env and the conversation state."""
        raw, info = self._inner.reset(seed=seed, options=options)
        self.state.reset()
        self._refresh(raw)
        info["action_mask"] = self.action_mask()
        return self._features(), info

    def step(
        self, action: int
    ) -> tuple[npt.NDArray[np.float32], SupportsFloat, bool, bool, dict[str, Any]]:
        """Ask question ``action`` or, for ``n_questions``, recommend the scorer's top items."""
        a = int(action)
        n_q = self.world.n_questions
        if not 0 <= a <= n_q:
            raise InvalidActionError(f"action must be in [0, {n_q}], got {action}")
        env_action = self._recommend_action() if a == n_q else self.base.ask(a)
        _, reward, terminated, truncated, info = self._play(env_action)
        info["action_mask"] = self.action_mask()
        return self._features(), reward, terminated, truncated, info
