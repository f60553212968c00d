"""``ConversationalVectorEnv``: many conversations advanced together in arrays (Gymnasium's vector API)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from gymnasium.utils import seeding
from gymnasium.vector import AutoresetMode, VectorEnv
from gymnasium.vector.utils import batch_space

from recoworld.datasets.world import AttributeGraphWorld
from recoworld.envs import _crs_kernels as K
from recoworld.envs.conversational import ASK, RewardConfig, _check_settings, _spaces
from recoworld.envs.transcript import (
    ConversationTurn,
    Ending,
    check_render_mode,
    format_conversation,
)
from recoworld.errors import ConfigError, InvalidActionError
from recoworld.users.conversational import ConversationalUser
from recoworld.users.conversational_batch import ConversationalBatchUser, as_batch_user
from recoworld.users.target_item import TargetItemBatchUser, TargetItemUserConfig

__all__ = ["ConversationalVectorEnv", "make_conversational_vector_env", "vector_env_like"]

Obs = dict[str, npt.NDArray[Any]]
_MODES = (AutoresetMode.NEXT_STEP, AutoresetMode.DISABLED)
_MAX_BIT_ROWS_BYTES = 1 << 28  # attribute bit rows (n_attributes x n_items bits) up to 256 MiB
_BAD_ACTION = {
    K.BAD_KIND: "`kind` must be 0 (ask) or 1 (recommend)",
    K.BAD_QUESTION: "`question` must be a question id in [0, {n_q})",
    K.BAD_ITEM: "`items` must be item ids in [0, {n_i})",
}


class ConversationalVectorEnv(VectorEnv[Obs, dict[str, npt.NDArray[Any]], npt.NDArray[Any]]):
    """``num_envs`` conversations of :class:`ConversationalRecEnv`, advanced together in arrays.

    ## Description
    The multi-round conversational recommendation of :class:`ConversationalRecEnv` (EAR / SCPR /
    UNICORN's protocol), natively batched: every sub-environment holds its own session (its own
    user, target and random generator), and one ``step`` advances all of them with compiled loops
    over candidate lists and CSR rows instead of one Python call per conversation. Sub-environment
    ``i`` of an env reset with ``seed=s`` follows exactly the trajectory of a single
    :class:`ConversationalRecEnv` reset with ``seed=s+i`` and given the same actions, across
    episode ends, with any user (tested: binary and enumerated worlds, noisy and impatient users,
    the LLM user).

    ## Action Space
    The single env's ``Dict`` batched: ``kind`` ``(num_envs,)`` (0 = ask, 1 = recommend),
    ``question`` ``(num_envs,)``, ``items`` ``(num_envs, k)`` with ``1 <= k <= rec_size`` (repeats in a
    row count once, as in the single env). Only the field that ``kind`` selects is read.

    ## Observation Space
    The single env's ``Dict`` with a leading axis of length ``num_envs``:

    | key | space | dtype | meaning |
    |---|---|---|---|
    | ``user`` | ``MultiDiscrete([n_users] * num_envs)`` | int64 | each session's user |
    | ``turn`` | ``MultiDiscrete([max_turns + 1] * num_envs)`` | int64 | turns played (1 after the opening) |
    | ``accepted`` | ``MultiBinary((num_envs, n_attributes))`` | int8 | attributes the user confirmed |
    | ``rejected`` | ``MultiBinary((num_envs, n_attributes))`` | int8 | attributes the user declined |
    | ``asked`` | ``MultiBinary((num_envs, n_questions))`` | int8 | questions already asked |
    | ``candidates`` | ``MultiBinary((num_envs, n_items))`` | int8 | each session's candidate items |

    The arrays are read-only views of the environment's state (about 33 KB per conversation on
    LastFM*), overwritten by the next ``step`` or ``reset``: copy what you keep, or pass
    ``copy=True`` to receive copies.

    ## Rewards
    Those of :class:`ConversationalRecEnv` (:class:`RewardConfig`, SCPR's by default), as a
    ``float64`` array.

    ## Starting State
    ``reset`` starts a session in every sub-environment (or in those of ``options["reset_mask"]``):
    a random session of ``split``, or the ones ``options`` name (``split``; ``index``, ``user`` and
    ``target`` as one int for all or an array of ``num_envs``, one per sub-environment).

    ## Episode End
    Per sub-environment, as in :class:`ConversationalRecEnv`. Termination: an accepted
    recommendation, an empty candidate set, or the user leaving. Truncation: ``max_turns`` turns.
    Autoreset: ``AutoresetMode.NEXT_STEP`` by default, Gymnasium 1.x's default mode (the step after
    a sub-environment ends resets it: its action is ignored, its reward is 0, and it returns the new
    session's first observation). With ``autoreset_mode=AutoresetMode.DISABLED`` nothing resets by
    itself: a sub-environment that ended is skipped (action ignored, reward 0, not terminated or
    truncated again, info masks off) until ``reset(options={"reset_mask": mask})`` starts it
    again; :func:`recoworld.evaluation.evaluate` runs sessions this way. ``SAME_STEP`` is not
    offered (it would copy each ended conversation's final observation into ``info``).

    ## Information
    Each key ``k`` is an array over sub-environments with its mask ``_k`` (the sub-environments
    stepped or reset this call):

    | key | meaning |
    |---|---|
    | ``turn`` | turns played, the opening counted as turn 1 |
    | ``candidate_count`` | number of candidate items |
    | ``success`` | whether a recommendation was accepted |
    | ``rank`` | 1-based rank of the target in the accepted list (0 otherwise) |
    | ``user`` / ``target`` | ids of the sessions (``target`` is for evaluation; agents must not read it) |
    | ``user_info`` | present when the user reports something (the LLM user: utterances, invalid responses): a dict of per-key arrays with masks |

    The single env's ``accepted`` / ``rejected`` lists are not repeated in ``info`` (the masks are
    in the observation; :meth:`accepted` and :meth:`rejected` give one sub-environment's in the
    order the user gave them).

    ## Arguments
    ```python
    import gymnasium, recoworld
    vec = gymnasium.make_vec("recoworld/LastFMStar-CRS-v0", num_envs=1024,
                             vectorization_mode="vector_entry_point", data_dir="../shared/data")
    obs, info = vec.reset(seed=0)
    ```
    Those of :class:`ConversationalRecEnv` (``world``, ``dataset``/``data_dir``, ``user_config``,
    ``rewards``, ``split``, ``max_turns``, ``rec_size``), plus ``num_envs``; ``user`` a
    :class:`~recoworld.users.conversational_batch.ConversationalBatchUser`, a single user with a
    batched form (:class:`~recoworld.users.TargetItemUser`, the LLM user), or a list of one
    single user per sub-environment; ``autoreset_mode``; ``copy``; ``render_mode`` (``"ansi"``)
    and ``render_slot``: :meth:`render` returns that sub-environment's dialogue as text.

    ## References
    As :class:`ConversationalRecEnv`: Lei et al., WSDM 2020 (EAR); Lei et al., KDD 2020 (SCPR);
    Deng et al., SIGIR 2021 (UNICORN); LastFM from HetRec 2011 as released by the EAR/SCPR
    authors. Gymnasium's vector API and autoreset modes: https://farama.org/Vector-Autoreset-Mode.

    ## Version History
    - v0: first release (the dynamics of ``ConversationalRecEnv`` v0).
    """

    def __init__(
        self,
        num_envs: int = 1,
        *,
        world: AttributeGraphWorld,
        user: ConversationalUser | ConversationalBatchUser | Sequence[ConversationalUser] | None = None,
        user_config: TargetItemUserConfig | None = None,
        rewards: RewardConfig | None = None,
        split: str = "train",
        max_turns: int = 15,
        rec_size: int = 10,
        autoreset_mode: AutoresetMode | str = AutoresetMode.NEXT_STEP,
        copy: bool = False,
        render_mode: str | None = None,
        render_slot: int = 0,
    ) -> None:
        if num_envs < 1:
            raise ConfigError(f"`num_envs` must be >= 1, got {num_envs}")
        _check_settings(world, user, user_config, split, max_turns, rec_size)
        mode = AutoresetMode(autoreset_mode)
        if mode not in _MODES:
            raise ConfigError(
                f"`autoreset_mode` must be one of {[m.value for m in _MODES]}, got {mode.value!r}"
            )
        self.world = world
        self.user: ConversationalBatchUser = as_batch_user(
            TargetItemBatchUser(world, user_config) if user is None else user, num_envs
        )
        self.rewards = rewards or RewardConfig()
        self.split = split
        self.max_turns = max_turns
        self.rec_size = rec_size
        self.autoreset_mode = mode
        self.copy = copy
        self.render_mode = check_render_mode(render_mode)
        if not 0 <= render_slot < num_envs:
            raise ConfigError(f"`render_slot` must be in [0, {num_envs}), got {render_slot}")
        self.render_slot = render_slot
        self._turns: list[ConversationTurn] = []
        self.metadata = {"autoreset_mode": mode, "render_modes": ["ansi"], "render_fps": 4}
        self.num_envs = num_envs
        self.single_action_space, self.single_observation_space = _spaces(world, max_turns, rec_size)
        self.action_space = batch_space(self.single_action_space, num_envs)
        self.observation_space = batch_space(self.single_observation_space, num_envs)

        n, n_q, n_a, n_i = num_envs, world.n_questions, world.n_attributes, world.n_items
        csc = world.item_attributes.tocsc()
        self._attr_indptr = csc.indptr.astype(np.int64)
        self._attr_items = csc.indices.astype(np.int32)
        indptr, indices = world._item_attr_sets
        self._item_indptr = indptr.astype(np.int64)
        self._item_attrs = indices
        words = (n_i + 63) // 64
        if n_a * words * 8 <= _MAX_BIT_ROWS_BYTES:
            self._attr_bits = K.attribute_bits(self._attr_indptr, self._attr_items, n_i)
        else:  # too large to hold: candidates are tested by binary search instead
            self._attr_bits = np.zeros((0, words), dtype=np.uint64)
        self._enumerated = world.question_mode == "enumerated"
        if self._enumerated:
            assert world.parent_children is not None
            pc = world.parent_children
            self._pc_indptr = pc.indptr.astype(np.int64)
            self._pc_children = pc.indices.astype(np.int32)
            list_cap = n_a  # a pick may accept (and a question reject) many children
        else:
            self._pc_indptr = np.zeros(1, dtype=np.int64)
            self._pc_children = np.zeros(0, dtype=np.int32)
            list_cap = max_turns
        cand_cap = int(np.diff(self._attr_indptr).max(initial=0))
        self._cand = np.zeros((n, max(cand_cap, 1)), dtype=np.int32)
        self._n_cand = np.zeros(n, dtype=np.int64)
        self._cmask = np.zeros((n, n_i), dtype=np.int8)
        self._acc = np.zeros((n, n_a), dtype=np.int8)
        self._acc_list = np.zeros((n, list_cap), dtype=np.int32)
        self._n_acc = np.zeros(n, dtype=np.int64)
        self._rej = np.zeros((n, n_a), dtype=np.int8)
        self._rej_list = np.zeros((n, list_cap), dtype=np.int32)
        self._n_rej = np.zeros(n, dtype=np.int64)
        self._asked = np.zeros((n, n_q), dtype=np.int8)
        self._asked_list = np.zeros((n, max_turns), dtype=np.int32)
        self._n_asked = np.zeros(n, dtype=np.int64)
        self._turn = np.zeros(n, dtype=np.int64)
        self._user = np.zeros(n, dtype=np.int64)
        self._target = np.full(n, -1, dtype=np.int64)
        self._waiting = np.ones(n, dtype=np.bool_)  # ended (or never started): no step until reset
        self._rngs: list[np.random.Generator] = []
        self._obs: Obs = {}
        for key, arr in (
            ("user", self._user),
            ("turn", self._turn),
            ("accepted", self._acc),
            ("rejected", self._rej),
            ("asked", self._asked),
            ("candidates", self._cmask),
        ):
            view = arr.view()
            view.flags.writeable = False
            self._obs[key] = view
        self._cand_view = self._cand.view()
        self._cand_view.flags.writeable = False
        self._n_cand_view = self._n_cand.view()
        self._n_cand_view.flags.writeable = False
        self._all = np.arange(n, dtype=np.int64)

    # ---- generators --------------------------------------------------------------------------
    @property
    def slot_generators(self) -> tuple[np.random.Generator, ...]:
        """The random generator of each sub-environment (every draw of slot ``i`` comes from it)."""
        return tuple(self._rngs)

    def set_generators(self, rngs: Sequence[np.random.Generator]) -> None:
        """Give sub-environment ``i`` the generator ``rngs[i]``.

        Passing one generator ``num_envs`` times makes every session draw from one stream, in the
        order the sessions draw; :func:`~recoworld.evaluation.evaluate` does this to reproduce one
        environment playing the sessions in turn.
        """
        if len(rngs) != self.num_envs:
            raise ConfigError(f"`rngs` must hold num_envs={self.num_envs} generators, got {len(rngs)}")
        self._rngs = list(rngs)

    # ---- state of one sub-environment ---------------------------------------------------------
    def candidate_items(self, i: int) -> npt.NDArray[np.int64]:
        """Sorted ids of sub-environment ``i``'s candidate items (a copy)."""
        return self._cand[i, : self._n_cand[i]].astype(np.int64)

    def candidate_lists(self) -> tuple[npt.NDArray[np.int32], npt.NDArray[np.int64]]:
        """Every sub-environment's candidates: ``(lists, counts)``, read-only views of the state.

        Sub-environment ``i``'s sorted candidate ids are ``lists[i, :counts[i]]`` (the same set as
        the observation's ``candidates`` mask, without reading the mask); valid until the next
        ``step`` or ``reset``. Batched agents take them as ``predict_batch(..., candidates=)``.
        """
        return self._cand_view, self._n_cand_view

    def accepted(self, i: int) -> list[int]:
        """Sub-environment ``i``'s accepted attributes, in the order the user gave them."""
        return self._acc_list[i, : self._n_acc[i]].tolist()  # type: ignore[no-any-return]

    def rejected(self, i: int) -> list[int]:
        """Sub-environment ``i``'s rejected attributes, in the order the user gave them."""
        return self._rej_list[i, : self._n_rej[i]].tolist()  # type: ignore[no-any-return]

    # ---- gymnasium API -------------------------------------------------------------------------
    def _observation(self) -> Obs:
        if self.copy:
            return {k: v.copy() for k, v in self._obs.items()}
        return dict(self._obs)

    def _seed(self, slots: npt.NDArray[np.int64], seed: int | Sequence[int | None] | None) -> None:
        if seed is None or isinstance(seed, (int, np.integer)):
            seeds: list[int | None] = (
                [None] * self.num_envs if seed is None else [int(seed) + i for i in range(self.num_envs)]
            )
        else:
            seeds = list(seed)
            if len(seeds) != self.num_envs:
                raise ConfigError(
                    f"`seed` list must have num_envs={self.num_envs} entries, got {len(seeds)}"
                )
        if not self._rngs:
            self._rngs = [seeding.np_random(s)[0] for s in seeds]
            return
        for s in slots.tolist():
            if seeds[s] is not None:
                self._rngs[s] = seeding.np_random(seeds[s])[0]

    def _per_slot(self, opts: Mapping[str, Any], key: str, slots: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
        value = np.asarray(opts[key])
        if value.ndim == 0:
            return np.full(slots.size, int(value), dtype=np.int64)
        if value.shape != (self.num_envs,):
            raise ConfigError(
                f"reset option {key!r} must be an int or an array of num_envs={self.num_envs} "
                f"entries, got shape {value.shape}"
            )
        return value[slots].astype(np.int64)

    def _pick_sessions(
        self, slots: npt.NDArray[np.int64], opts: Mapping[str, Any]
    ) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
        unknown = set(opts) - {"split", "index", "user", "target"}
        if unknown:
            raise ConfigError(
                f"unknown reset option(s) {sorted(unknown)}; use 'split' (+ 'index'), "
                "'user' + 'target', or 'reset_mask'"
            )
        if "user" in opts or "target" in opts:
            if "user" not in opts or "target" not in opts:
                raise ConfigError("a pinned session needs both 'user' and 'target' options")
            return self._per_slot(opts, "user", slots), self._per_slot(opts, "target", slots)
        pairs = self.world.split(str(opts.get("split", self.split)))
        if "index" in opts:
            idx = self._per_slot(opts, "index", slots)
            if idx.size and (idx.min() < 0 or idx.max() >= len(pairs)):
                bad = idx[(idx < 0) | (idx >= len(pairs))]
                raise ConfigError(f"session `index` must be in [0, {len(pairs)}), got {bad[:5].tolist()}")
        else:
            idx = np.array([self._rngs[s].integers(len(pairs)) for s in slots.tolist()], dtype=np.int64)
        return pairs[idx, 0], pairs[idx, 1]

    def _start(
        self, slots: npt.NDArray[np.int64], users: npt.NDArray[np.int64], targets: npt.NDArray[np.int64]
    ) -> None:
        openings = np.asarray(self.user.start(slots, users, targets, self._rngs), dtype=np.int64)
        if openings.size and (openings.min() < 0 or openings.max() >= self.world.n_attributes):
            raise InvalidActionError(
                f"the user opened with attribute ids {openings.tolist()[:5]}, outside "
                f"[0, {self.world.n_attributes})"
            )
        self._user[slots] = users
        self._target[slots] = targets
        K.reset_slots(
            slots, openings, self._attr_indptr, self._attr_items,
            self._cand, self._n_cand, self._cmask,
            self._acc, self._acc_list, self._n_acc,
            self._rej, self._rej_list, self._n_rej,
            self._asked, self._asked_list, self._n_asked, self._turn,
        )  # fmt: skip
        self._waiting[slots] = False

    def reset(
        self,
        *,
        seed: int | Sequence[int | None] | None = None,
        options: dict[str, Any] | None = None,
    ) -> tuple[Obs, dict[str, Any]]:
        """Start a session in every sub-environment (or in those of ``options['reset_mask']``).

        ``seed`` int ``s`` seeds sub-environment ``i`` with ``s + i``; a list gives one seed (or
        ``None``: keep the generator) per sub-environment.
        """
        opts = dict(options or {})
        mask = opts.pop("reset_mask", None)
        if mask is None:
            slots = self._all
        else:
            mask = np.asarray(mask)
            if mask.shape != (self.num_envs,) or mask.dtype != np.bool_:
                raise ConfigError(
                    f"`reset_mask` must be a bool array of shape ({self.num_envs},), got "
                    f"{mask.dtype} {mask.shape}"
                )
            slots = np.flatnonzero(mask).astype(np.int64)
        self._seed(slots, seed)
        users, targets = self._pick_sessions(slots, opts)
        self._start(slots, users, targets)
        touched = np.zeros(self.num_envs, dtype=np.bool_)
        touched[slots] = True
        zeros = np.zeros(self.num_envs, dtype=np.int64)
        info = self._info(touched, touched & False, zeros)
        if self.render_mode is not None and touched[self.render_slot]:
            self._record_opening(info)
        return self._observation(), info

    def _parse(
        self, actions: Mapping[str, Any]
    ) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64], npt.NDArray[np.int64]]:
        if not isinstance(actions, Mapping) or not {"kind", "question", "items"} <= set(actions):
            raise InvalidActionError(
                "actions must be a dict of arrays with 'kind', 'question' and 'items', got "
                f"{actions!r:.80}"
            )
        n = self.num_envs
        try:
            kind = np.asarray(actions["kind"])
            question = np.asarray(actions["question"])
            items = np.asarray(actions["items"])
        except (ValueError, TypeError) as exc:  # ragged nesting and the like
            raise InvalidActionError(f"actions must be arrays of integers: {exc}") from None
        if kind.shape != (n,) or question.shape != (n,):
            raise InvalidActionError(
                f"`kind` and `question` must have shape ({n},), got {kind.shape} and {question.shape}"
            )
        if items.ndim != 2 or items.shape[0] != n or not 1 <= items.shape[1] <= self.rec_size:
            raise InvalidActionError(
                f"`items` must have shape ({n}, k) with 1 <= k <= {self.rec_size}, got {items.shape}"
            )
        for name, arr in (("kind", kind), ("question", question), ("items", items)):
            if not np.issubdtype(arr.dtype, np.integer):
                raise InvalidActionError(f"`{name}` must hold integers, got dtype {arr.dtype}")
        kind = kind.astype(np.int64, copy=False)
        items = items.astype(np.int64, copy=False)
        row = K.first_repeat(items, kind)
        if row >= 0:  # each item once, as in the single env; rows that ask are not read
            raise InvalidActionError(
                f"sub-environment {row}: `items` lists an item more than once ({items[row].tolist()}); "
                "list each item once (a shorter list may be padded at its end by repeating its last "
                "item)"
            )
        return kind, question.astype(np.int64, copy=False), items

    def step(
        self, actions: dict[str, npt.NDArray[Any]]
    ) -> tuple[Obs, npt.NDArray[np.float64], npt.NDArray[np.bool_], npt.NDArray[np.bool_], dict[str, Any]]:
        """Advance every running sub-environment one agent turn (see the class docstring)."""
        kind, question, items = self._parse(actions)
        if not self._rngs:
            raise InvalidActionError("step() called before reset()")
        n, r, rngs = self.num_envs, self.rewards, self._rngs
        waiting = self._waiting.copy()
        rs = self.render_slot
        known = (int(self._n_acc[rs]), int(self._n_rej[rs]))
        rows = np.flatnonzero(~waiting).astype(np.int64)
        code, bad = K.validate(rows, kind, question, items, self.world.n_questions, self.world.n_items)
        if code != K.OK:
            msg = _BAD_ACTION[code].format(n_q=self.world.n_questions, n_i=self.world.n_items)
            raise InvalidActionError(
                f"sub-environment {bad}: {msg}; got kind={kind[bad]}, question={question[bad]}, "
                f"items={items[bad].tolist()}"
            )
        reward = np.zeros(n, dtype=np.float64)
        terminated = np.zeros(n, dtype=np.bool_)
        truncated = np.zeros(n, dtype=np.bool_)
        success = np.zeros(n, dtype=np.bool_)
        rank = np.zeros(n, dtype=np.int64)
        is_ask = kind[rows] == ASK
        asking, recommending = rows[is_ask], rows[~is_ask]
        if asking.size:
            q = question[asking]
            if self._enumerated:
                ptr, picks = self.user.answer_enumerated(asking, q, rngs)
                yes = ptr[1:] > ptr[:-1]
            else:
                yes = np.asarray(self.user.answer_binary(asking, q, rngs), dtype=np.bool_)
                ptr = np.zeros(asking.size + 1, dtype=np.int64)
                np.cumsum(yes, out=ptr[1:])
                picks = q[yes]
            K.apply_asks(
                asking, q, ptr.astype(np.int64), picks.astype(np.int64), self._enumerated, False,
                self._pc_indptr, self._pc_children,
                self._cand, self._n_cand, self._cmask,
                self._acc, self._acc_list, self._n_acc,
                self._rej, self._rej_list, self._n_rej,
                self._asked, self._asked_list, self._n_asked,
                self._attr_bits, self._item_indptr, self._item_attrs,
            )  # fmt: skip
            reward[asking] = np.where(yes, r.ask_success, r.ask_fail)
        if recommending.size:
            listed, lengths = K.distinct_items(recommending, items)
            ok = np.asarray(self.user.judge(recommending, listed, lengths, rngs), dtype=np.bool_)
            rank[recommending] = K.apply_recommendations(
                recommending, listed, lengths, ok, self._target, self._cand, self._n_cand, self._cmask
            )
            success[recommending] = ok
            reward[recommending] = np.where(ok, r.rec_success, r.rec_fail)
        self._turn[rows] += 1
        terminated[rows] = success[rows]
        going = rows[~success[rows]]
        empty = self._n_cand[going] == 0
        reward[going[empty]] = r.candidates_empty
        terminated[going[empty]] = True
        going = going[~empty]
        if going.size:
            leave = np.asarray(self.user.wants_to_leave(going, rngs), dtype=np.bool_)
            terminated[going[leave]] = True
            going = going[~leave]
            horizon = going[self._turn[going] >= self.max_turns]
            reward[horizon] = r.until_horizon
            truncated[horizon] = True
        touched = ~waiting
        ended = terminated | truncated
        if self.autoreset_mode is AutoresetMode.NEXT_STEP:
            back = np.flatnonzero(waiting).astype(np.int64)
            if back.size:
                self._start(back, *self._pick_sessions(back, {}))
            touched[:] = True
            self._waiting = ended
        else:
            self._waiting |= ended
        info = self._info(touched, success, rank)
        if self.render_mode is not None:
            if waiting[rs] and touched[rs]:
                self._record_opening(info)
            elif not waiting[rs]:
                ending: Ending = ""
                if success[rs]:
                    ending = "success"
                elif truncated[rs]:
                    ending = "horizon"
                elif terminated[rs]:
                    ending = "empty" if self._n_cand[rs] == 0 else "left"
                asked = int(kind[rs]) == ASK
                self._turns.append(
                    ConversationTurn(
                        int(self._turn[rs]),
                        "ask" if asked else "recommend",
                        question=int(question[rs]) if asked else -1,
                        accepted=tuple(self._acc_list[rs, known[0] : self._n_acc[rs]].tolist()),
                        rejected=tuple(self._rej_list[rs, known[1] : self._n_rej[rs]].tolist()),
                        items=() if asked else tuple(dict.fromkeys(items[rs].tolist())),
                        rank=int(rank[rs]),
                        candidates=int(self._n_cand[rs]),
                        reward=float(reward[rs]),
                        utterance=self._said(info, "utterance"),
                        invalid=bool(self._said(info, "invalid_response")),
                        ending=ending,
                    )
                )
        return self._observation(), reward, terminated, truncated, info

    # ---- rendering -----------------------------------------------------------------------------
    def _said(self, info: Mapping[str, Any], key: str) -> Any:
        """What the user of the render slot reported under ``key`` this call ("" when nothing)."""
        reports = info.get("user_info", {})
        rs = self.render_slot
        if key in reports and reports["_" + key][rs]:
            return reports[key][rs]
        return ""

    def _record_opening(self, info: Mapping[str, Any]) -> None:
        rs = self.render_slot
        self._turns = [
            ConversationTurn(
                1,
                "open",
                accepted=(int(self._acc_list[rs, 0]),),
                candidates=int(self._n_cand[rs]),
                utterance=str(self._said(info, "utterance")),
                invalid=bool(self._said(info, "invalid_response")),
            )
        ]

    @property
    def transcript(self) -> tuple[ConversationTurn, ...]:
        """The turns of sub-environment ``render_slot``'s current session (``render_mode="ansi"``)."""
        return tuple(self._turns)

    def render(self) -> str | None:  # type: ignore[override]
        """Sub-environment ``render_slot``'s dialogue so far as text (``render_mode="ansi"``).

        One chosen slot, not a tuple of every slot's text: a thousand conversations are not read
        at once. ``None`` without a render mode.
        """
        if self.render_mode is None:
            return None
        rs = self.render_slot
        return format_conversation(
            self.world, int(self._user[rs]), int(self._target[rs]), self._turns
        )

    def _info(
        self,
        touched: npt.NDArray[np.bool_],
        success: npt.NDArray[np.bool_],
        rank: npt.NDArray[np.int64],
    ) -> dict[str, Any]:
        info: dict[str, Any] = {
            "turn": self._turn.copy(),
            "candidate_count": self._n_cand.copy(),
            "success": success,
            "rank": rank,
            "user": self._user.copy(),
            "target": self._target.copy(),
        }
        for key in list(info):
            info["_" + key] = touched
        slots = np.flatnonzero(touched)
        reports = self.user.step_info(slots)
        if reports is not None:
            info["user_info"] = _batch_reports(self.num_envs, slots, reports)
            info["_user_info"] = touched
        return info


def _batch_reports(
    num_envs: int, slots: npt.NDArray[np.intp], reports: Sequence[Mapping[str, Any]]
) -> dict[str, npt.NDArray[Any]]:
    keys: dict[str, None] = {}
    for rep in reports:
        keys.update(dict.fromkeys(rep))
    out: dict[str, npt.NDArray[Any]] = {}
    for key in keys:
        values = np.empty(num_envs, dtype=object)
        present = np.zeros(num_envs, dtype=np.bool_)
        for s, rep in zip(slots.tolist(), reports, strict=True):
            if key in rep:
                values[s] = rep[key]
                present[s] = True
        out[key] = values
        out["_" + key] = present
    return out


def vector_env_like(
    env: Any,
    num_envs: int,
    *,
    split: str | None = None,
    autoreset_mode: AutoresetMode | str = AutoresetMode.DISABLED,
) -> ConversationalVectorEnv:
    """A :class:`ConversationalVectorEnv` of ``num_envs`` conversations with ``env``'s settings.

    ``env`` is a :class:`~recoworld.envs.ConversationalRecEnv`, possibly under Gymnasium's
    checking wrappers (``OrderEnforcing``, ``PassiveEnvChecker``, which change nothing an agent
    sees). The vector env gets its world, rewards, split (or ``split``), horizon, list size and
    the batched form of its user (:func:`~recoworld.users.conversational_batch.as_batch_user`).

    Raises:
        ConfigError: ``env`` is not such an env; another wrapper sits on it (it may change what
            an agent sees or does); it runs the ``reject_filter`` protocol (the vector env runs
            the published one only); or its user has no batched form.

    """
    from gymnasium import Wrapper
    from gymnasium.wrappers import OrderEnforcing, PassiveEnvChecker

    from recoworld.envs.conversational import ConversationalRecEnv

    base = env
    while isinstance(base, Wrapper):
        if type(base) not in (OrderEnforcing, PassiveEnvChecker):
            raise ConfigError(
                f"cannot batch an env under a {type(base).__name__} wrapper (it may change what "
                "the agent sees or does); hand over the ConversationalRecEnv itself, or play one "
                "conversation at a time (num_envs=1)"
            )
        base = base.env
    if type(base) is not ConversationalRecEnv:  # a subclass may change the dynamics
        raise ConfigError(
            f"a batched copy needs a ConversationalRecEnv, got {type(base).__name__}"
        )
    if base.reject_filter:
        raise ConfigError(
            "the vector env runs the published candidate protocol only, and this env has "
            "reject_filter=True; play one conversation at a time (num_envs=1)"
        )
    return ConversationalVectorEnv(
        num_envs,
        world=base.world,
        user=as_batch_user(base.user_model, num_envs),
        rewards=base.rewards,
        split=base.split if split is None else split,
        max_turns=base.max_turns,
        rec_size=base.rec_size,
        autoreset_mode=autoreset_mode,
    )


def make_conversational_vector_env(
    num_envs: int = 1,
    dataset: str = "synthetic",
    data_dir: str | Path | None = None,
    world: AttributeGraphWorld | None = None,
    **kwargs: Any,
) -> ConversationalVectorEnv:
    """Vector entry point of the registered ids: ``num_envs`` conversations on ``dataset``'s world."""
    from recoworld.datasets.registry import load_world

    return ConversationalVectorEnv(
        num_envs, world=world if world is not None else load_world(dataset, data_dir), **kwargs
    )
