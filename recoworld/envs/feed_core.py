"""The batched feed simulation shared by the single, slate and vector feed environments.

:class:`FeedSimulator` advances ``n_slots`` users side by side; every per-step computation runs
once for all addressed slots, in compiled kernels (:mod:`recoworld.envs._feed_kernels`) or array
operations, never in a Python loop over users or items. Each slot draws its
randomness from its own ``numpy.random.Generator`` in blocks of :data:`BLOCK` rows of uniforms;
a reset and a shown video each consume exactly one row. Slot ``i`` of a vector environment seeded
with ``s + i`` therefore consumes the same stream in the same order as a single environment seeded
with ``s + i``, and the two produce the same trajectory.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from gymnasium import spaces
from numpy.typing import NDArray

from recoworld._validate import require_range
from recoworld.envs._feed_kernels import (
    observe_kernel,
    record_kernel,
    reset_kernel,
    respond_step_kernel,
    step_kernel,
    take_kernel,
)
from recoworld.envs.feed_retriever import RetrieverConfig, SegmentRetriever
from recoworld.envs.feed_settings import FeedSettings
from recoworld.errors import ConfigError
from recoworld.users.feed.interface import ExpectedOutcome, FeedUserModel, Slots
from recoworld.users.feed.replay import ReplayFeedUser
from recoworld.users.feed.statistical import StatisticalFeedUser

__all__ = ["BLOCK", "CANDIDATE_COLUMNS", "RATIO_CAP", "FeedSimulator", "StepOutcome"]

#: Rows of uniforms drawn from a slot's generator at a time.
BLOCK = 64
#: Watch ratios in observations are clipped to this (replayed real ratios reach tens).
RATIO_CAP = 10.0
#: Depth in observations is clipped to this many videos.
_DEPTH_CAP = 1000

#: Names of the first columns of ``obs["candidates"]``; the embedding follows.
CANDIDATE_COLUMNS = (
    "retrieval_score",
    "history_category_share",
    "log_duration",
    "popularity",
    "is_new",
)

@dataclass(frozen=True)
class StepOutcome:
    """What showing one video to each addressed slot did (arrays of shape ``(n,)``)."""

    reward: NDArray[np.float32]
    terminated: NDArray[np.bool_]
    info: dict[str, NDArray[np.generic]]


class FeedSimulator:
    """``n_slots`` feed users, their candidate pools, history windows and random streams."""

    def __init__(
        self, settings: FeedSettings, n_slots: int, user_model: FeedUserModel | None = None
    ) -> None:
        require_range("n_slots", n_slots, 1)
        if user_model is not None and settings.user_params is not None:
            raise ConfigError(
                "`user_params` and `user_model` are both given: `user_params` configures the "
                "default statistical user, which `user_model` replaces; pass one of them (build "
                "StatisticalFeedUser(user_params) yourself to combine them)"
            )
        world = settings.resolved_world()
        if user_model is None:
            replay = world.recorded_watch_ratio is not None
            user_model = (ReplayFeedUser if replay else StatisticalFeedUser)(settings.user_params)
        reward = settings.reward_weights()
        history_length = settings.history_length
        self.settings = settings
        self.world = world
        self.user_model = user_model
        self.n_slots = n_slots
        self.sessions = settings.sessions
        self.return_window_days = settings.return_window_days
        self.reward_weights = reward
        self._weights = np.array(
            [reward.watch_time, reward.watch_ratio, reward.like, reward.retention], dtype=np.float64
        )
        user_model.bind(world, n_slots)
        self.retriever = SegmentRetriever(world, settings.retriever or RetrieverConfig(), n_slots)
        self.pool_size = self.retriever.pool_size
        self.history_length = history_length
        cat, pop = world.catalogue, world.population
        self._n_users = pop.n_users
        self._category = cat.category
        self._video_ids = cat.video_ids
        # Observable static item columns: standardised log-duration, popularity, cold flag, embedding.
        logd = np.log(cat.duration_s)
        logd = (logd - logd.mean()) / max(float(logd.std()), 1e-6)
        self._item_table = np.concatenate(
            [logd[:, None], cat.popularity[:, None], cat.is_new[:, None], cat.embedding], axis=1
        ).astype(np.float32)
        self._embedding = cat.embedding
        self._all = np.arange(n_slots, dtype=np.intp)
        self._action = np.zeros(1, dtype=np.intp)  # step_single's action, as a one-slot array
        self._profile = pop.profile
        self._user_static = np.concatenate([pop.features, pop.profile], axis=1).astype(np.float32)
        # Uniform rows: [user pick, one start per retrieval source, the user model's draws].
        self._n_u = 1 + self.retriever.n_uniforms + user_model.n_uniforms
        self._user_u = slice(1 + self.retriever.n_uniforms, self._n_u)
        self._gens: list[np.random.Generator | None] = [None] * n_slots
        self._buf = np.zeros((n_slots, BLOCK, self._n_u), dtype=np.float64)
        self._ptr = np.full(n_slots, BLOCK, dtype=np.int64)
        # Per-slot episode state.
        self.user = np.zeros(n_slots, dtype=np.intp)
        self.step_count = np.zeros(n_slots, dtype=np.int64)
        self.session_index = np.zeros(n_slots, dtype=np.int64)
        self.session_depth = np.zeros(n_slots, dtype=np.int64)
        self.session_ratio = np.zeros(n_slots, dtype=np.float32)
        self.last_ratio = np.zeros(n_slots, dtype=np.float32)
        self.hist_items = np.full((n_slots, history_length), -1, dtype=np.intp)
        self.hist_feedback = np.zeros((n_slots, history_length, 3), dtype=np.float32)
        self.candidates = np.zeros((n_slots, self.pool_size), dtype=np.intp)
        self.user_dim = self._user_static.shape[1] + 4
        self.item_dim = self._item_table.shape[1] + 2
        self.history_dim = self._item_table.shape[1] + 4
        r = self.retriever
        # The step kernels' arguments that are the same every step (arrays updated in place;
        # the settings are fixed at construction).
        self._step_args = (
            self.candidates, self.user, self.step_count, r.base_pos, r.list_rows, r.count,
            r.lists, r.length, self.hist_items, self.hist_feedback, self.session_depth,
            self.session_ratio, self.last_ratio, self.session_index, self._video_ids,
            self._category, self._weights, self.return_window_days, RATIO_CAP, self.sessions,
            self._user_static, self._item_table, self._profile, self._embedding,
            1.0 / self.sessions, float(_DEPTH_CAP),
        )
        # The stock statistical user responds inside the step's one compiled call (the same
        # compiled response its ``respond`` runs); any other user model through ``respond``.
        self._stock = user_model if isinstance(user_model, StatisticalFeedUser) else None
        self._user_args: tuple[Any, ...] | None = None
        self._fused_args: tuple[Any, ...] | None = None
        if self._stock is not None:
            self._bind_fused(self._stock.kernel_arguments)

    def _bind_fused(self, user_args: tuple[Any, ...] | None) -> None:
        """The fused step's fixed arguments, with the user's compiled-response arguments."""
        self._user_args = user_args
        self._fused_args = None if user_args is None else (
            self._ptr, self._buf, self._user_u.start, *user_args, *self._step_args
        )

    # -- spaces ----------------------------------------------------------------------------------

    def observation_space(self) -> spaces.Dict:
        """The observation space of one slot (per-column bounds computed from the world)."""
        k, h = self.pool_size, self.history_length
        t_lo = np.minimum(self._item_table.min(axis=0), 0.0)
        t_hi = np.maximum(self._item_table.max(axis=0), 0.0)
        s_lo, s_hi = self._user_static.min(axis=0), self._user_static.max(axis=0)
        # A constant column (no cold items, one activity level) still gets a non-empty range.
        t_hi = np.where(t_hi > t_lo, t_hi, t_lo + 1.0)
        s_hi = np.where(s_hi > s_lo, s_hi, s_lo + 1.0)
        # |profile . embedding| <= |profile| (unit embeddings); 1 % slack for float32 rounding.
        reach = 1.01 * float(np.linalg.norm(self._profile, axis=1).max())
        u_lo = np.concatenate([s_lo, [0.0, 0.0, 0.0, 0.0]])
        u_hi = np.concatenate([s_hi, [_DEPTH_CAP / 50.0, 1.0, RATIO_CAP, RATIO_CAP]])
        c_lo = np.concatenate([[-reach, 0.0], t_lo])
        c_hi = np.concatenate([[reach, 1.0], t_hi])
        h_lo = np.concatenate([[0.0, 0.0, 0.0, 0.0], t_lo])
        h_hi = np.concatenate([[1.0, RATIO_CAP, 1.0, 1.0], t_hi])

        def box(lo: NDArray[np.float64], hi: NDArray[np.float64], rows: int) -> spaces.Box:
            shape = (rows, lo.shape[0]) if rows else (lo.shape[0],)
            low = np.broadcast_to(lo, shape).astype(np.float32)
            high = np.broadcast_to(hi, shape).astype(np.float32)
            return spaces.Box(low, high, shape, np.float32)

        return spaces.Dict(
            {
                "user": box(u_lo, u_hi, 0),
                "candidates": box(c_lo, c_hi, k),
                "history": box(h_lo, h_hi, h),
                "candidate_ids": spaces.Box(0, self.world.catalogue.n_items - 1, (k,), np.int64),
            }
        )

    # -- randomness ------------------------------------------------------------------------------

    def set_generator(self, slot: int, generator: np.random.Generator) -> None:
        """Make ``generator`` the random stream of ``slot``; drops any uniforms already drawn."""
        self._gens[slot] = generator
        self._ptr[slot] = BLOCK

    def _take(self, slots: Slots) -> NDArray[np.float64]:
        rows = self._all if isinstance(slots, slice) else np.asarray(slots, dtype=np.intp)
        out = np.empty((rows.shape[0], self._n_u), dtype=np.float64)
        if take_kernel(rows, self._ptr, self._buf, out):
            return out
        self._refill(rows)
        taken = take_kernel(rows, self._ptr, self._buf, out)
        assert taken
        return out

    def _refill(self, rows: NDArray[np.intp]) -> None:
        """Draw the next block of uniforms of each of ``rows`` whose block is used up."""
        for s in rows[self._ptr[rows] >= BLOCK]:  # one generator call per slot every BLOCK rows
            gen = self._gens[s]
            if gen is None:
                raise ConfigError(f"slot {int(s)} has no generator; reset the env with a seed")
            gen.random(out=self._buf[s])  # the same draws as gen.random((BLOCK, n_u)), in place
            self._ptr[s] = 0

    # -- episode ---------------------------------------------------------------------------------

    def reset_slots(self, slots: Slots, users: NDArray[np.intp] | None = None) -> None:
        """Start a new episode in ``slots`` with random users (or the population rows ``users``)."""
        u = self._take(slots)
        if users is None:
            users = np.minimum((u[:, 0] * self._n_users).astype(np.intp), self._n_users - 1)
        elif np.any((users < 0) | (users >= self._n_users)):
            raise ConfigError(
                f"`user` must be a population row in [0, {self._n_users}), got {users.tolist()}"
            )
        r = self.retriever
        rows = self._all if isinstance(slots, slice) else np.asarray(slots, dtype=np.intp)
        reset_kernel(
            rows, users, u[:, 1 : 1 + r.n_uniforms], *r.start_tables, r.list_rows, r.base_pos,
            r.count, r.lists, self.user, self.step_count, self.session_index,
            self.session_depth, self.session_ratio, self.last_ratio, self.hist_items,
            self.hist_feedback, self.candidates,
        )
        self.user_model.reset(slots, users)

    def show(self, slots: Slots, items: NDArray[np.intp]) -> StepOutcome:
        """Show catalogue rows ``items`` to ``slots``; update history, sessions and rewards.

        ``slots`` is an index array or ``slice(None)`` (every slot; the fast path). The pools
        are not refreshed (:meth:`refresh`); :meth:`step` does all of a one-video step at once.
        """
        every = isinstance(slots, slice)
        u = self._take(slots)
        resp = self.user_model.respond(slots, items, u[:, self._user_u])
        rows = self._all if every else np.asarray(slots, dtype=np.intp)
        n = rows.shape[0]
        out_int = np.empty((5, n), dtype=np.int64)
        reward = np.empty(n, dtype=np.float32)
        flags = np.empty((2, n), dtype=np.bool_)
        record_kernel(
            rows, self._all[:n], items, resp.watch_ratio, resp.watch_time, resp.like, resp.skip, resp.leave,
            resp.return_days, self.hist_items, self.hist_feedback, self.session_depth,
            self.session_ratio, self.last_ratio, self.session_index, self._video_ids,
            self._category, self._weights, self.return_window_days, RATIO_CAP,
            out_int, reward, flags,
        )
        returned, session = flags[0], out_int[3]
        info = self._info(out_int, resp.watch_ratio, resp.watch_time, resp.like, resp.skip,
                          resp.leave, resp.return_days, returned)
        if resp.info:
            info.update(resp.info)
        terminated = resp.leave
        if returned.any():
            again = returned & (session + 1 < self.sessions)
            if again.any():
                back = rows[again]
                self.user_model.start_session(back, resp.return_days[again])
                self.session_depth[back] = 0
                self.session_ratio[back] = 0.0
                self.session_index[back] += 1
                terminated = resp.leave & ~again
        return StepOutcome(reward=reward, terminated=terminated, info=info)

    @staticmethod
    def _info(
        out_int: NDArray[np.int64], ratio: NDArray[np.generic], seconds: NDArray[np.generic],
        like: NDArray[np.generic], skip: NDArray[np.generic], leave: NDArray[np.generic],
        days: NDArray[np.generic], returned: NDArray[np.bool_],
    ) -> dict[str, NDArray[np.generic]]:
        """The step info of :class:`StepOutcome` (its keys in their documented order)."""
        return {
            "item": out_int[0],
            "video_id": out_int[1],
            "category": out_int[2],
            "watch_ratio": ratio,
            "watch_time": seconds,
            "like": like,
            "skip": skip,
            "left": leave,
            "return_days": days,
            "returned": returned,
            "session_index": out_int[3],
            "depth": out_int[4],
        }

    def step(
        self,
        slots: Slots,
        actions: NDArray[np.intp],
        copy_response: bool = True,
    ) -> tuple[StepOutcome, dict[str, NDArray[np.generic]]]:
        """One one-video step: show, restart returning sessions, refresh the pools, observe.

        ``slots`` (an increasing index array, or ``slice(None)`` for every slot) step; slot
        ``slots[i]`` is shown its candidate ``actions[i]``. Returns the outcome and the
        observation of *every* slot (the slots not stepping are observed as they are). The
        outcome's arrays have one entry per slot, zero where not stepping. The same numbers as
        :meth:`show`, :meth:`refresh` and :meth:`observe` in turn: with the stock statistical
        user in one compiled call (:func:`~recoworld.envs._feed_kernels.respond_step_kernel`),
        with any other user model in one after its ``respond``. ``copy_response=False`` (only
        where every slot steps, as in the single environment) leaves the outputs of slots not
        stepping unwritten (there are none) and hands a user model's response arrays on as they
        are instead of copying them into fresh per-slot arrays.
        """
        rows = self._all if isinstance(slots, slice) else slots
        if self._fused_args is not None:
            return self._step_fused(rows, actions, copy_response)
        items = self.candidates[rows, actions]
        u = self._take(slots)
        resp = self.user_model.respond(slots, items, u[:, self._user_u])
        n = self.n_slots
        ratio: NDArray[Any] = resp.watch_ratio
        seconds: NDArray[Any] = resp.watch_time
        like: NDArray[Any] = resp.like
        skip: NDArray[Any] = resp.skip
        leave: NDArray[Any] = resp.leave
        days: NDArray[Any] = resp.return_days
        if not copy_response:  # every slot steps: the response arrays are already per slot
            out_int = np.empty((5, n), dtype=np.int64)
            reward = np.empty(n, dtype=np.float32)
            flags = np.empty((2, n), dtype=np.bool_)
        else:  # fresh per-slot arrays (zeros where not stepping), filled by the kernel
            ratio, seconds = np.zeros(n, ratio.dtype), np.zeros(n, seconds.dtype)
            like, skip = np.zeros(n, like.dtype), np.zeros(n, skip.dtype)
            leave, days = np.zeros(n, leave.dtype), np.zeros(n, days.dtype)
            out_int = np.zeros((5, n), dtype=np.int64)
            reward = np.zeros(n, dtype=np.float32)
            flags = np.zeros((2, n), dtype=np.bool_)
        obs = self._empty_observation(n)
        restarts = step_kernel(
            rows, self._all, items, resp.watch_ratio, resp.watch_time, resp.like, resp.skip,
            resp.leave, resp.return_days, *self._step_args, ratio, seconds, like, skip, leave,
            days, out_int, reward, flags, *obs,
        )
        returned, terminated = flags[0], flags[1]
        info = self._info(out_int, ratio, seconds, like, skip, leave, days, returned)
        if resp.info:
            for key, value in resp.info.items():
                if not copy_response:
                    info[key] = value
                else:
                    info[key] = np.zeros((n, *value.shape[1:]), dtype=value.dtype)
                    info[key][rows] = value
        if restarts:
            again = returned & ~terminated
            self.user_model.start_session(np.flatnonzero(again), days[again])
        return StepOutcome(reward=reward, terminated=terminated, info=info), self._obs_dict(obs)

    def _step_fused(
        self, rows: NDArray[np.intp], actions: NDArray[np.intp], zero: bool
    ) -> tuple[StepOutcome, dict[str, NDArray[np.generic]]]:
        """:meth:`step` with the stock user (:meth:`_run_fused`), as arrays."""
        out_float, out_int, out_flags, obs = self._run_fused(rows, actions, zero)
        info = self._info(out_int[:5], out_float[0], out_float[1], out_flags[2], out_flags[3],
                          out_flags[4], out_int[5], out_flags[0])
        outcome = StepOutcome(reward=out_float[2], terminated=out_flags[1], info=info)
        return outcome, self._obs_dict(obs)

    def _run_fused(
        self, rows: NDArray[np.intp], actions: NDArray[np.intp], zero: bool
    ) -> tuple[NDArray[np.float32], NDArray[np.int64], NDArray[np.bool_],
               tuple[NDArray[np.generic], ...]]:
        """One step with the stock user in one compiled call; the output blocks, observations.

        The blocks are those of :func:`~recoworld.envs._feed_kernels.respond_step_kernel`
        (zeros where not stepping when ``zero``); the user's side of a session restart follows.
        """
        assert self._stock is not None
        user_args = self._stock.kernel_arguments
        if user_args is not self._user_args:  # the user model was bound again (another env)
            self._bind_fused(user_args)
        assert self._fused_args is not None
        n = self.n_slots
        alloc = np.zeros if zero else np.empty
        out_float = alloc((3, n), dtype=np.float32)
        out_int = alloc((6, n), dtype=np.int64)
        out_flags = alloc((5, n), dtype=np.bool_)
        obs = self._empty_observation(n)
        args = (rows, self._all, actions, *self._fused_args, out_float, out_int, out_flags, *obs)
        restarts = respond_step_kernel(*args)
        if restarts < 0:  # a slot's uniforms are used up: nothing was done; draw and step
            self._refill(rows)
            restarts = respond_step_kernel(*args)
        if restarts:
            again = out_flags[0] & ~out_flags[1]
            self.user_model.start_session(np.flatnonzero(again), out_int[5][again])
        return out_float, out_int, out_flags, obs

    def step_single(
        self, action: int
    ) -> tuple[dict[str, NDArray[np.generic]], float, bool, dict[str, Any]]:
        """:meth:`step` of a one-slot simulator: slot 0 is shown its candidate ``action``.

        Returns the observation (no leading slot axis), the reward, whether the episode
        terminated and the info with one scalar per key (numpy scalars of the arrays' dtypes,
        the keys of :class:`StepOutcome` in order).
        """
        self._action[0] = action
        if self._fused_args is None:
            out, batch = self.step(slice(None), self._action, copy_response=False)
            info: dict[str, Any] = {k: v[0] for k, v in out.info.items()}
            obs = {k: v[0] for k, v in batch.items()}
            return obs, float(out.reward[0]), bool(out.terminated[0]), info
        out_float, out_int, out_flags, arrays = self._run_fused(self._all, self._action, False)
        info = {
            "item": out_int[0, 0],
            "video_id": out_int[1, 0],
            "category": out_int[2, 0],
            "watch_ratio": out_float[0, 0],
            "watch_time": out_float[1, 0],
            "like": out_flags[2, 0],
            "skip": out_flags[3, 0],
            "left": out_flags[4, 0],
            "return_days": out_int[5, 0],
            "returned": out_flags[0, 0],
            "session_index": out_int[3, 0],
            "depth": out_int[4, 0],
        }
        user, candidates, history, ids = arrays
        obs = {"user": user[0], "candidates": candidates[0], "history": history[0],
               "candidate_ids": ids[0]}
        return obs, float(out_float[2, 0]), bool(out_flags[1, 0]), info

    def _empty_observation(self, n: int) -> tuple[NDArray[np.generic], ...]:
        """Fresh arrays for ``n`` slots' observations: user, candidates, history, candidate ids."""
        return (
            np.empty((n, self.user_dim), dtype=np.float32),
            np.empty((n, self.pool_size, self.item_dim), dtype=np.float32),
            np.empty((n, self.history_length, self.history_dim), dtype=np.float32),
            np.empty((n, self.pool_size), dtype=np.int64),
        )

    @staticmethod
    def _obs_dict(obs: tuple[NDArray[np.generic], ...]) -> dict[str, NDArray[np.generic]]:
        user, candidates, history, ids = obs
        return {"user": user, "candidates": candidates, "history": history, "candidate_ids": ids}

    def refresh(self, slots: Slots) -> None:
        """Advance the slots' step counters and retrieve their next candidate pools."""
        self.retriever.fill(slots, self.step_count, self.candidates, advance=1)

    def expected(self, slots: Slots) -> ExpectedOutcome:
        """True expected outcome of each current candidate (for oracle agents)."""
        return self.user_model.expected(slots, self.candidates[slots])

    # -- observation -----------------------------------------------------------------------------

    def observe(self, slots: Slots) -> dict[str, NDArray[np.generic]]:
        """Observations of ``slots`` (a leading axis of one row per addressed slot on every key)."""
        rows = self._all if isinstance(slots, slice) else np.asarray(slots, dtype=np.intp)
        obs = self._empty_observation(rows.shape[0])
        observe_kernel(
            rows, self.candidates, self.user, self.session_depth, self.session_index,
            self.session_ratio, self.last_ratio, self.hist_items, self.hist_feedback,
            self._user_static, self._item_table, self._profile, self._embedding, self._category,
            1.0 / self.sessions, float(_DEPTH_CAP), RATIO_CAP, *obs,
        )
        return self._obs_dict(obs)
