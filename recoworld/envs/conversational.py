"""``ConversationalRecEnv``: multi-round conversational recommendation (EAR / SCPR / UNICORN)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, SupportsFloat

import gymnasium
import numpy as np
import numpy.typing as npt
from gymnasium import spaces

from recoworld._validate import require_range
from recoworld.datasets.world import AttributeGraphWorld
from recoworld.envs.transcript import (
    ConversationTurn,
    Ending,
    check_render_mode,
    format_conversation,
)
from recoworld.errors import ConfigError, InvalidActionError
from recoworld.users.conversational import ConversationalUser
from recoworld.users.target_item import TargetItemUser, TargetItemUserConfig

__all__ = [
    "ASK",
    "RECOMMEND",
    "ConversationalRecEnv",
    "RewardConfig",
    "make_conversational_env",
]

ASK = 0
RECOMMEND = 1


@dataclass(frozen=True)
class RewardConfig:
    """Rewards of the MCR protocol; the defaults are SCPR's / UNICORN's.

    EAR's paper used ``rec_success=1, ask_success=0.1, ask_fail=-0.1, rec_fail=-0.1,
    until_horizon=-0.3``; see :meth:`ear`.

    Attributes:
        rec_success: The user accepts a recommendation.
        rec_fail: The user rejects a recommendation.
        ask_success: The user accepts the asked attribute (or picks children of the parent).
        ask_fail: The user rejects the asked attribute (or picks no child).
        until_horizon: The last turn passes without success; replaces that step's reward.
        candidates_empty: No candidate item is left; replaces the step's reward.

    """

    rec_success: float = 1.0
    rec_fail: float = -0.1
    ask_success: float = 0.01
    ask_fail: float = -0.1
    until_horizon: float = -0.3
    candidates_empty: float = -0.1

    @classmethod
    def ear(cls) -> RewardConfig:
        """The reward set of the EAR paper."""
        return cls(ask_success=0.1)


def _readonly_mask(n: int) -> npt.NDArray[np.int8]:
    return np.zeros(n, dtype=np.int8)


def _short_repr(value: Any, limit: int = 80) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[:limit] + "..."


def _integer(value: Any, name: str) -> int:
    """``value`` as an int if it is one (Python or numpy integer, or a 0-d integer array)."""
    if isinstance(value, (bool, np.bool_)):
        raise InvalidActionError(f"`{name}` must be an integer, got the boolean {value!r}")
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, np.ndarray) and value.shape == () and value.dtype.kind in "iu":
        return int(value)
    raise InvalidActionError(
        f"`{name}` must be an integer, got {_short_repr(value)} ({type(value).__name__})"
    )


def _check_settings(
    world: AttributeGraphWorld,
    user: object,
    user_config: TargetItemUserConfig | None,
    split: str,
    max_turns: int,
    rec_size: int,
) -> None:
    """The checks every conversational env (single or batched) makes on its settings."""
    require_range("max_turns", max_turns, 2, hint="the opening is turn 1")
    require_range("rec_size", rec_size, 1)
    if user is not None and user_config is not None:
        raise ConfigError("pass either `user` or `user_config`, not both")
    world.split(split)  # validates the split name


class ItemListSpace(spaces.MultiDiscrete):
    """``rec_size`` item ids, each in ``[0, n_items)``, whose ``sample()`` repeats no item.

    The environment refuses a recommendation that lists an item twice (but for end padding), which
    a ``MultiDiscrete`` cannot express; its plain samples would sometimes be refused (Gymnasium's
    ``check_env`` steps them). This space samples distinct ids, padded by repeating the last one
    when the catalogue is smaller than the list. Masked or weighted sampling is ``MultiDiscrete``'s
    and may repeat items.
    """

    def __init__(self, n_items: int, rec_size: int, seed: int | np.random.Generator | None = None):
        super().__init__(np.full(rec_size, n_items, dtype=np.int64), seed=seed)

    def sample(
        self, mask: Any = None, probability: Any = None
    ) -> npt.NDArray[np.int64]:
        """Distinct item ids (unless a mask or probabilities are given)."""
        if mask is not None or probability is not None:
            out: npt.NDArray[np.int64] = super().sample(mask=mask, probability=probability)
            return out
        n_items, k = int(self.nvec[0]), int(self.nvec.size)
        ids = self.np_random.choice(n_items, size=min(k, n_items), replace=False)
        items = np.full(k, ids[-1], dtype=np.int64)
        items[: ids.size] = ids
        return items


def _spaces(
    world: AttributeGraphWorld, max_turns: int, rec_size: int
) -> tuple[spaces.Dict, spaces.Dict]:
    """Action and observation space of one conversation."""
    n_q, n_a, n_i = world.n_questions, world.n_attributes, world.n_items
    action_space = spaces.Dict(
        {
            "kind": spaces.Discrete(2),
            "question": spaces.Discrete(n_q),
            "items": ItemListSpace(n_i, rec_size),
        }
    )
    observation_space = spaces.Dict(
        {
            "user": spaces.Discrete(world.n_users),
            "turn": spaces.Discrete(max_turns + 1),
            "accepted": spaces.MultiBinary(n_a),
            "rejected": spaces.MultiBinary(n_a),
            "asked": spaces.MultiBinary(n_q),
            "candidates": spaces.MultiBinary(n_i),
        }
    )
    return action_space, observation_space


class ConversationalRecEnv(gymnasium.Env[dict[str, Any], dict[str, Any]]):
    """Multi-round conversational recommendation over an attribute graph.

    ## Description
    One session per observed (user, target item) pair. The simulated user wants the target and
    opens the conversation by naming one of its attributes (turn 1). The agent then asks about
    attributes or recommends lists of items until the user accepts, leaves, or the horizon passes.
    This is the MCR setting of EAR (WSDM 2020), SCPR (KDD 2020) and UNICORN (SIGIR 2021).

    ## Action Space
    ``Dict``:

    | key | space | meaning |
    |---|---|---|
    | ``kind`` | ``Discrete(2)`` | 0 = ask a question, 1 = recommend |
    | ``question`` | ``Discrete(n_questions)`` | attribute (binary) or parent (enumerated) to ask |
    | ``items`` | ``MultiDiscrete([n_items] * rec_size)`` | items to recommend, in rank order |

    Only the field that ``kind`` selects is read. ``kind``, ``question`` and the ids in ``items``
    must be integers (a float id is an :class:`~recoworld.errors.InvalidActionError`, never
    truncated). Each item appears once, except that a list shorter than ``rec_size`` is padded at
    its end by repeating its last item (what :meth:`recommend` writes); any other repeat raises.
    :meth:`ask` and :meth:`recommend` build actions.

    ## Observation Space
    ``Dict``:

    | key | space | dtype | meaning |
    |---|---|---|---|
    | ``user`` | ``Discrete(n_users)`` | int64 | the user of the session |
    | ``turn`` | ``Discrete(max_turns + 1)`` | int64 | turns played (1 after the opening) |
    | ``accepted`` | ``MultiBinary(n_attributes)`` | int8 | attributes the user confirmed |
    | ``rejected`` | ``MultiBinary(n_attributes)`` | int8 | attributes the user declined |
    | ``asked`` | ``MultiBinary(n_questions)`` | int8 | questions already asked |
    | ``candidates`` | ``MultiBinary(n_items)`` | int8 | items holding every accepted attribute, minus rejected recommendations (and, with ``reject_filter``, minus items holding a declined attribute) |

    ## Rewards
    :class:`RewardConfig`, SCPR's by default: +1 accepted recommendation, -0.1 rejected one,
    +0.01 accepted question, -0.1 rejected question; the last turn without success gives -0.3 and
    an emptied candidate set -0.1 (each replacing the step's reward).

    The rewards follow the user's answers, not the target: an LLM-driven user who accepts a list
    without the target gives the acceptance reward (the agent cannot know better), while
    ``info["success"]`` stays the ground truth the metrics count.

    ## Starting State
    A session is drawn from ``split`` (or the ``options`` of :meth:`reset`); the user's opening
    attribute is accepted and the candidates are the items that hold it.

    ## Episode End
    Termination: the user accepts a recommendation, no candidate is left, or the user leaves
    (impatience, off by default). Truncation: the horizon, ``max_turns`` = 15 turns with the opening
    counted as turn 1 (14 agent actions), with the horizon reward on the last one. The env counts
    the horizon itself (registered ids add no ``TimeLimit``), so ``gymnasium.make(id, max_turns=20)``
    gives 19 agent actions.

    ## Information
    | key | meaning |
    |---|---|
    | ``turn`` | turns played, the opening counted as turn 1 |
    | ``candidate_count`` | number of candidate items |
    | ``accepted`` / ``rejected`` | lists of accepted / rejected attribute ids |
    | ``success`` | whether the user accepted a recommendation holding the target (what SR counts) |
    | ``recommendation_accepted`` | whether the user accepted the recommendation (with the statistical user, the same as ``success``; an LLM user may accept a list without the target) |
    | ``rank`` | 1-based rank of the target in the accepted list (0 otherwise) |
    | ``user`` / ``target`` | ids of the session (``target`` is for evaluation; agents must not read it) |
    | ``user_info`` | what the user model reported (utterances, invalid responses) |

    ## Arguments
    ```python
    import gymnasium, recoworld
    env = gymnasium.make("recoworld/Synthetic-CRS-v0")
    env = gymnasium.make("recoworld/LastFM-CRS-v0", data_dir="../shared/data")
    obs, info = env.reset(seed=0, options={"split": "test", "index": 0})
    ```
    ``world``, ``dataset``/``data_dir``, ``user`` (a :class:`ConversationalUser`), ``user_config``,
    ``rewards``, ``split`` (default session source), ``max_turns``, ``rec_size``, ``reject_filter``.

    ``reject_filter`` chooses the candidate protocol. Off (the default) is the published one: a
    declined attribute removes no candidate. On, every candidate holding an attribute the user
    declined leaves the candidate set too (the target never holds one when answers are exact, so
    this only helps; with answer noise it can remove the target). Compare agents only under the
    same protocol: with exact answers the filter alone lifts a popularity rule far above the
    published learned agents.

    ## References
    Lei et al., Estimation-Action-Reflection, WSDM 2020; Lei et al., Interactive Path Reasoning on
    Graph for Conversational Recommendation, KDD 2020; Deng et al., Unified Conversational
    Recommendation Policy Learning via Graph-based Reinforcement Learning, SIGIR 2021. LastFM from
    HetRec 2011 as released by the EAR/SCPR authors.

    ## Version History
    - v0: first release. The registered ids no longer add a ``TimeLimit`` of 14 steps: the
      horizon is ``max_turns`` alone (the default protocol is unchanged). Actions are validated
      strictly (integer ids, no repeated item but the end padding, missing keys named); valid
      actions behave as before. ``reject_filter`` added as an option, off by default (the default
      protocol is unchanged).
    """

    metadata: dict[str, Any] = {"render_modes": ["ansi"], "render_fps": 4}  # noqa: RUF012

    def __init__(
        self,
        world: AttributeGraphWorld,
        user: ConversationalUser | None = None,
        user_config: TargetItemUserConfig | None = None,
        rewards: RewardConfig | None = None,
        split: str = "train",
        max_turns: int = 15,
        rec_size: int = 10,
        reject_filter: bool = False,
        render_mode: str | None = None,
    ) -> None:
        _check_settings(world, user, user_config, split, max_turns, rec_size)
        self.world = world
        self.user_model: ConversationalUser = user or TargetItemUser(world, user_config)
        self.rewards = rewards or RewardConfig()
        self.split = split
        self.render_mode = check_render_mode(render_mode)
        self._turns: list[ConversationTurn] = []
        self.max_turns = max_turns
        self.rec_size = rec_size
        self.reject_filter = bool(reject_filter)
        n_q, n_a, n_i = world.n_questions, world.n_attributes, world.n_items
        self.action_space, self.observation_space = _spaces(world, max_turns, rec_size)
        csc = world.item_attributes.tocsc()
        self._attr_items = (csc.indptr, csc.indices)
        self._accepted = _readonly_mask(n_a)
        self._rejected = _readonly_mask(n_a)
        self._asked = _readonly_mask(n_q)
        self._cand_mask = _readonly_mask(n_i)
        self._cand: npt.NDArray[np.int64] = np.empty(0, dtype=np.int64)
        self._scratch = np.zeros(n_i, dtype=np.bool_)
        self._accepted_list: list[int] = []
        self._rejected_list: list[int] = []
        self.user_id = -1
        self.target = -1
        self.turn = 0
        self._done = True

    # ---- action helpers ------------------------------------------------------------------------
    def ask(self, question: int) -> dict[str, Any]:
        """The action that asks ``question`` (an attribute, or a parent in enumerated mode)."""
        q = _integer(question, "question")
        return {"kind": ASK, "question": q, "items": np.zeros(self.rec_size, np.int64)}

    def recommend(self, items: npt.ArrayLike) -> dict[str, Any]:
        """The action that recommends ``items`` (1 to ``rec_size`` ids, padded by repeating)."""
        arr = self._check_items(items)
        padded = np.full(self.rec_size, arr[-1], dtype=np.int64)
        padded[: arr.size] = arr
        return {"kind": RECOMMEND, "question": 0, "items": padded}

    # ---- state ---------------------------------------------------------------------------------
    def candidate_items(self) -> npt.NDArray[np.int64]:
        """Sorted ids of the current candidate items (a copy)."""
        return self._cand.copy()

    @property
    def accepted(self) -> list[int]:
        """Accepted attribute ids, in the order the user gave them."""
        return list(self._accepted_list)

    @property
    def rejected(self) -> list[int]:
        """Rejected attribute ids, in the order the user gave them."""
        return list(self._rejected_list)

    @property
    def asked_questions(self) -> list[int]:
        """Questions asked so far."""
        return np.flatnonzero(self._asked).tolist()

    def _obs(self) -> dict[str, Any]:
        return {
            "user": self.user_id,
            "turn": self.turn,
            "accepted": self._accepted.copy(),
            "rejected": self._rejected.copy(),
            "asked": self._asked.copy(),
            "candidates": self._cand_mask.copy(),
        }

    def _info(self, success: bool = False, rank: int = 0, accepted: bool = False) -> dict[str, Any]:
        return {
            "turn": self.turn,
            "candidate_count": int(self._cand.size),
            "accepted": self.accepted,
            "rejected": self.rejected,
            "success": success,
            "recommendation_accepted": accepted,
            "rank": rank,
            "user": self.user_id,
            "target": self.target,
            "user_info": self.user_model.step_info(),
        }

    def _items_with(self, attribute: int) -> npt.NDArray[np.int32]:
        indptr, indices = self._attr_items
        out: npt.NDArray[np.int32] = indices[indptr[attribute] : indptr[attribute + 1]]
        return out

    def _filter_candidates(self, attribute: int, holding: bool = True) -> None:
        """Keep the candidates holding ``attribute`` (or, ``holding=False``, those lacking it)."""
        mask = self._scratch
        holders = self._items_with(attribute)
        mask[holders] = True
        keep = mask[self._cand]
        mask[holders] = False
        if not holding:
            keep = ~keep
        dropped = self._cand[~keep]
        self._cand_mask[dropped] = 0
        self._cand = self._cand[keep]

    def _accept(self, attribute: int) -> None:
        if not self._accepted[attribute]:
            self._accepted[attribute] = 1
            self._accepted_list.append(attribute)
            self._filter_candidates(attribute)

    def _reject(self, attribute: int) -> None:
        if not self._rejected[attribute] and not self._accepted[attribute]:
            self._rejected[attribute] = 1
            self._rejected_list.append(attribute)
            if self.reject_filter:
                self._filter_candidates(attribute, holding=False)

    # ---- gymnasium API -------------------------------------------------------------------------
    def _pick_session(self, options: dict[str, Any] | None) -> tuple[int, int]:
        opts = dict(options or {})
        unknown = set(opts) - {"split", "index", "user", "target"}
        if unknown:
            raise ConfigError(
                f"unknown reset option(s) {sorted(unknown)}; use 'split' (+ 'index') or 'user' + 'target'"
            )
        if "user" in opts or "target" in opts:
            if "user" not in opts or "target" not in opts:
                raise ConfigError("a pinned session needs both 'user' and 'target' options")
            return int(opts["user"]), int(opts["target"])
        pairs = self.world.split(str(opts.get("split", self.split)))
        if "index" in opts:
            i = int(opts["index"])
            if not 0 <= i < len(pairs):
                raise ConfigError(f"session `index` must be in [0, {len(pairs)}), got {i}")
        else:
            i = int(self.np_random.integers(len(pairs)))
        return int(pairs[i, 0]), int(pairs[i, 1])

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        """Start a session.

        The session comes from ``options['split']`` (random, or ``options['index']``), or is pinned
        with ``options['user']`` and ``options['target']``.
        """
        super().reset(seed=seed)
        user, target = self._pick_session(options)
        opening = self.user_model.start(user, target, self.np_random)
        self.user_id, self.target = user, target
        self._accepted.fill(0)
        self._rejected.fill(0)
        self._asked.fill(0)
        self._cand_mask.fill(0)
        self._accepted[opening] = 1
        self._accepted_list = [opening]
        self._rejected_list = []
        self._cand = self._items_with(opening).astype(np.int64)
        self._cand_mask[self._cand] = 1
        self.turn = 1
        self._done = False
        info = self._info()
        if self.render_mode is not None:
            self._turns = [
                ConversationTurn(
                    1, "open", accepted=(int(opening),), candidates=int(self._cand.size),
                    utterance=str(info["user_info"].get("utterance", "")),
                    invalid=bool(info["user_info"].get("invalid_response", False)),
                )
            ]
        return self._obs(), info

    def _check_action(self, action: dict[str, Any]) -> tuple[int, Any]:
        if not isinstance(action, Mapping) or "kind" not in action:
            raise InvalidActionError(
                f"an action must be a dict with 'kind', 'question' and 'items' (build one with "
                f"env.unwrapped.ask(q) or .recommend(items)), got {_short_repr(action)}"
            )
        kind = _integer(action["kind"], "kind")
        if kind == ASK:
            if "question" not in action:
                raise InvalidActionError("an ask action (kind 0) needs a 'question' key")
            q = _integer(action["question"], "question")
            if not 0 <= q < self.world.n_questions:
                raise InvalidActionError(
                    f"`question` must be in [0, {self.world.n_questions}), got {q}"
                )
            return kind, q
        if kind == RECOMMEND:
            if "items" not in action:
                raise InvalidActionError("a recommend action (kind 1) needs an 'items' key")
            return kind, self._check_items(action["items"])
        raise InvalidActionError(f"`kind` must be 0 (ask) or 1 (recommend), got {kind}")

    def _check_items(self, value: Any) -> npt.NDArray[np.int64]:
        """The recommended ids in rank order, trailing padding (repeats of the last id) removed."""
        try:
            raw = np.asarray(value)
        except (ValueError, TypeError) as exc:
            raise InvalidActionError(f"`items` must be a list of item ids, got {_short_repr(value)} ({exc})") from None
        if raw.ndim != 1 or not 1 <= raw.size <= self.rec_size:
            raise InvalidActionError(
                f"`items` must list 1 to {self.rec_size} item ids, got shape {raw.shape}"
            )
        if raw.dtype.kind not in "iu":
            raise InvalidActionError(
                f"`items` must hold integer item ids, got dtype {raw.dtype}: {_short_repr(value)}"
            )
        if raw.min() < 0 or raw.max() >= self.world.n_items:
            raise InvalidActionError(
                f"`items` must be ids in [0, {self.world.n_items}), got min={raw.min()} "
                f"max={raw.max()}"
            )
        items = raw.astype(np.int64)
        # A shorter list is padded by repeating its last id (what recommend() writes); any other
        # repeat is a mistake in the agent, not a shorter list.
        differs = np.flatnonzero(items != items[-1])
        head = items[: (differs[-1] + 2) if differs.size else 1]
        values, counts = np.unique(head, return_counts=True)
        if (counts > 1).any():
            raise InvalidActionError(
                f"`items` lists item {int(values[counts > 1][0])} more than once; list each item "
                "once (a shorter list may be padded at its end by repeating its last item, as "
                "recommend() does)"
            )
        return head

    def step(
        self, action: dict[str, Any]
    ) -> tuple[dict[str, Any], SupportsFloat, bool, bool, dict[str, Any]]:
        """Play one agent turn (see the class docstring)."""
        if self._done:
            raise InvalidActionError("the session is over; call reset() before step()")
        kind, arg = self._check_action(action)
        rng = self.np_random
        r = self.rewards
        accepted = False
        rank = 0
        if kind == ASK:
            q = int(arg)
            self._asked[q] = 1
            if self.world.question_mode == "enumerated":
                picked = self.user_model.answer_enumerated(q, rng)
                children = self.world.children_of(q)
                for a in picked.tolist():
                    self._accept(int(a))
                for a in children[~np.isin(children, picked)].tolist():
                    self._reject(int(a))
                yes = picked.size > 0
            else:
                yes = self.user_model.answer_binary(q, rng)
                if yes:
                    self._accept(q)
                else:
                    self._reject(q)
            reward = r.ask_success if yes else r.ask_fail
        else:
            items = arg
            accepted = self.user_model.judge(items, rng)
            if accepted:
                hit = np.flatnonzero(items == self.target)
                rank = int(hit[0]) + 1 if hit.size else 0
                reward = r.rec_success
            else:
                drop = items[self._cand_mask[items] == 1]
                if drop.size:
                    self._cand_mask[drop] = 0
                    self._cand = self._cand[self._cand_mask[self._cand] == 1]
                reward = r.rec_fail
        self.turn += 1
        success = rank > 0
        terminated = accepted
        truncated = False
        if not accepted:
            if self._cand.size == 0:
                reward, terminated = r.candidates_empty, True
            elif self.user_model.wants_to_leave(rng):
                terminated = True
            elif self.turn >= self.max_turns:
                reward, truncated = r.until_horizon, True
        self._done = terminated or truncated
        info = self._info(success, rank, accepted)
        if self.render_mode is not None:
            self._record(kind, arg, success, rank, float(reward), terminated, truncated, info)
        return self._obs(), float(reward), terminated, truncated, info

    # ---- rendering -----------------------------------------------------------------------------
    def _record(
        self, kind: int, arg: Any, success: bool, rank: int, reward: float, terminated: bool,
        truncated: bool, info: dict[str, Any],
    ) -> None:
        known = {a for t in self._turns for a in (*t.accepted, *t.rejected)}
        new_acc = tuple(a for a in self._accepted_list if a not in known)
        new_rej = tuple(a for a in self._rejected_list if a not in known)
        ending: Ending = ""
        if success:
            ending = "success"
        elif info["recommendation_accepted"]:
            ending = "accepted"
        elif truncated:
            ending = "horizon"
        elif terminated:
            ending = "empty" if self._cand.size == 0 else "left"
        user_info = info["user_info"]
        self._turns.append(
            ConversationTurn(
                self.turn,
                "ask" if kind == ASK else "recommend",
                question=int(arg) if kind == ASK else -1,
                accepted=new_acc,
                rejected=new_rej,
                items=tuple(int(v) for v in arg) if kind == RECOMMEND else (),
                rank=rank,
                candidates=int(self._cand.size),
                reward=reward,
                utterance=str(user_info.get("utterance", "")),
                invalid=bool(user_info.get("invalid_response", False)),
                ending=ending,
            )
        )

    @property
    def transcript(self) -> tuple[ConversationTurn, ...]:
        """The turns of the current session (recorded only with ``render_mode="ansi"``)."""
        return tuple(self._turns)

    def render(self) -> str | None:
        """The dialogue so far as text (``render_mode="ansi"``); ``None`` without a render mode."""
        if self.render_mode is None:
            return None
        return format_conversation(self.world, self.user_id, self.target, self._turns)


def make_conversational_env(
    dataset: str = "synthetic",
    data_dir: str | Path | None = None,
    world: AttributeGraphWorld | None = None,
    **kwargs: Any,
) -> ConversationalRecEnv:
    """Entry point of the registered ids: the world of ``dataset`` (or ``world``) wrapped."""
    from recoworld.datasets.registry import load_world

    return ConversationalRecEnv(
        world if world is not None else load_world(dataset, data_dir), **kwargs
    )
