"""Compiled per-slot loops of the feed simulator (numba): history bookkeeping, pools, observations.

Each kernel handles every addressed slot in one call. The same kernels serve the single
environment (one slot) and the vector environment (N slots), which is what keeps their
trajectories identical; their outputs are checked against plain numpy in ``tests/test_feed_env.py``.
With the stock statistical user, :func:`respond_step_kernel` is the whole one-video step in
one compiled call: :func:`take_kernel`, the user's own compiled response
(:func:`recoworld.users.feed._kernels.respond_rows`), then :func:`step_kernel`.
The fused :func:`step_kernel` (one call per step of the one-video environments) runs the same
record, pools and observe kernels the slate environment and resets run separately, so both
paths compute the same numbers. (It calls each once for all slots: a compiled call per slot
would pay reference counting on every array argument, a per-slot cost.)

Output arrays of several per-slot values are blocks with one row per value (``out_int[1]`` is
the video id of every addressed slot), so a block's rows are contiguous arrays.
"""

from __future__ import annotations

import math
from typing import Any

import numba
import numpy as np

from recoworld.users.feed._kernels import respond_rows

__all__ = [
    "observe_kernel",
    "pools_kernel",
    "record_kernel",
    "reset_kernel",
    "respond_step_kernel",
    "start_pools_kernel",
    "step_kernel",
    "take_kernel",
]


@numba.njit(cache=True, nogil=True)  # type: ignore[misc]
def take_kernel(rows: Any, ptr: Any, buf: Any, out: Any) -> bool:  # pragma: no cover - compiled
    """Copy each slot's next row of uniforms into ``out``; False (nothing taken) if one is used up."""
    block = buf.shape[1]
    for i in range(rows.shape[0]):
        if ptr[rows[i]] >= block:
            return False
    for i in range(rows.shape[0]):
        s = rows[i]
        for j in range(buf.shape[2]):
            out[i, j] = buf[s, ptr[s], j]
        ptr[s] += 1
    return True


@numba.njit(cache=True, nogil=True)  # type: ignore[misc]
def record_kernel(
    rows: Any, cols: Any, items: Any, ratio: Any, seconds: Any, like: Any, skip: Any,
    leave: Any, return_days: Any, hist_items: Any, hist_feedback: Any, session_depth: Any,
    session_ratio: Any, last_ratio: Any, session_index: Any, video_ids: Any, category: Any,
    weights: Any, return_window: int, ratio_cap: float, out_int: Any, out_reward: Any,
    out_flags: Any,
) -> None:  # pragma: no cover - compiled
    """Push each shown video into its slot's history and session counters; compute its reward.

    Response row ``i`` is slot ``rows[i]``'s; its outputs go to column ``cols[i]``: ``out_int``
    rows item, video id, category, session index, depth; ``out_reward`` (``weights`` = per
    minute watched, per unit of watch ratio, per like, per return); ``out_flags`` row 0,
    returned within the window.
    """
    h = hist_items.shape[1]
    for i in range(rows.shape[0]):
        s = rows[i]
        o = cols[i]
        it = items[i]
        for j in range(h - 1):
            hist_items[s, j] = hist_items[s, j + 1]
            for f in range(3):
                hist_feedback[s, j, f] = hist_feedback[s, j + 1, f]
        hist_items[s, h - 1] = it
        hist_feedback[s, h - 1, 0] = min(ratio[i], ratio_cap)
        hist_feedback[s, h - 1, 1] = 1.0 if like[i] else 0.0
        hist_feedback[s, h - 1, 2] = 1.0 if skip[i] else 0.0
        session_depth[s] += 1
        session_ratio[s] += ratio[i]
        last_ratio[s] = ratio[i]
        returned = leave[i] and return_days[i] <= return_window
        out_int[0, o] = it
        out_int[1, o] = video_ids[it]
        out_int[2, o] = category[it]
        out_int[3, o] = session_index[s]
        out_int[4, o] = session_depth[s]
        out_flags[0, o] = returned
        out_reward[o] = (
            weights[0] * seconds[i] / 60.0
            + weights[1] * ratio[i]
            + (weights[2] if like[i] else 0.0)
            + (weights[3] if returned else 0.0)
        )


@numba.njit(cache=True, nogil=True)  # type: ignore[misc]
def pools_kernel(
    rows: Any, step: Any, base_pos: Any, list_rows: Any, count: Any, lists: Any,
    length: int, out: Any, advance: int,
) -> None:  # pragma: no cover - compiled
    """Candidate ``k`` of slot ``s``: ``lists[list_rows[s,k], (base_pos[s,k] + step*count[k]) % L]``.

    ``step[s]`` is first increased by ``advance``.
    """
    k_size = base_pos.shape[1]
    for i in range(rows.shape[0]):
        s = rows[i]
        step[s] += advance
        for k in range(k_size):
            out[s, k] = lists[list_rows[s, k], (base_pos[s, k] + step[s] * count[k]) % length]


@numba.njit(cache=True, nogil=True)  # type: ignore[misc]
def start_pools_kernel(
    rows: Any, users: Any, u: Any, user_segments: Any, fixed_lists: Any, source: Any,
    rank: Any, length: int, list_rows: Any, base_pos: Any,
) -> None:  # pragma: no cover - compiled
    """Give slot ``rows[i]`` the lists of population row ``users[i]`` and random window starts.

    Pool position ``k`` reads source ``source[k]``: the user's segment of that rank
    (``user_segments``), else a fixed list (``fixed_lists``: popular, fresh); its start is
    ``floor(u[i, source[k]] * length) + rank[k]``.
    """
    n_seg = user_segments.shape[1]
    for i in range(rows.shape[0]):
        s = rows[i]
        for k in range(source.shape[0]):
            src = source[k]
            if src < n_seg:
                list_rows[s, k] = user_segments[users[i], src]
            else:
                list_rows[s, k] = fixed_lists[src - n_seg]
            base_pos[s, k] = np.int64(math.floor(u[i, src] * length)) + rank[k]


@numba.njit(cache=True, nogil=True)  # type: ignore[misc]
def reset_kernel(
    rows: Any, users: Any, u: Any, user_segments: Any, fixed_lists: Any, source: Any,
    rank: Any, length: int, list_rows: Any, base_pos: Any, count: Any, lists: Any, user: Any,
    step_count: Any, session_index: Any, session_depth: Any, session_ratio: Any,
    last_ratio: Any, hist_items: Any, hist_feedback: Any, candidates: Any,
) -> None:  # pragma: no cover - compiled
    """The simulator's side of a new episode in ``rows``: user, pools, cleared state, first pool.

    ``u`` holds each slot's retriever uniforms (:func:`start_pools_kernel`); then step counter,
    session and history are cleared and :func:`pools_kernel` retrieves the pools at step 0.
    """
    start_pools_kernel(rows, users, u, user_segments, fixed_lists, source, rank, length,
                       list_rows, base_pos)
    for i in range(rows.shape[0]):
        s = rows[i]
        user[s] = users[i]
        step_count[s] = 0
        session_index[s] = 0
        session_depth[s] = 0
        session_ratio[s] = 0.0
        last_ratio[s] = 0.0
        hist_items[s, :] = -1
        hist_feedback[s, :, :] = 0.0
    pools_kernel(rows, step_count, base_pos, list_rows, count, lists, length, candidates, 0)


@numba.njit(cache=True, nogil=True)  # type: ignore[misc]
def observe_kernel(
    rows: Any, candidates: Any, user: Any, session_depth: Any, session_index: Any,
    session_ratio: Any, last_ratio: Any, hist_items: Any, hist_feedback: Any,
    user_static: Any, item_table: Any, profile: Any, embedding: Any, category: Any,
    inv_sessions: float, depth_cap: float, ratio_cap: float,
    out_user: Any, out_cand: Any, out_hist: Any, out_ids: Any,
) -> None:  # pragma: no cover - compiled
    """Fill the observation arrays (row ``i`` describes slot ``rows[i]``); layout in FeedEnv."""
    n_static = user_static.shape[1]
    n_table = item_table.shape[1]
    dim = embedding.shape[1]
    k_size = candidates.shape[1]
    h = hist_items.shape[1]
    # Category of each history entry, -1 where empty (no category is negative).
    history_category = np.empty(h, dtype=np.int64)
    # The retrieval score's float32 products, formed first (a loop the compiler vectorises), then
    # summed in float64 in their order: the same sum as one multiply-add loop, fewer instructions.
    products = np.empty((k_size, dim), dtype=np.float64)
    for i in range(rows.shape[0]):
        s = rows[i]
        us = user[s]
        for j in range(h):
            hi = hist_items[s, j]
            history_category[j] = category[hi] if hi >= 0 else -1
        for f in range(n_static):
            out_user[i, f] = user_static[us, f]
        d = session_depth[s]
        out_user[i, n_static] = min(d, depth_cap) / 50.0
        out_user[i, n_static + 1] = session_index[s] * inv_sessions
        out_user[i, n_static + 2] = min(session_ratio[s] / max(d, 1), ratio_cap)
        out_user[i, n_static + 3] = min(last_ratio[s], ratio_cap)
        for k in range(k_size):
            it = candidates[s, k]
            for j in range(dim):
                products[k, j] = profile[us, j] * embedding[it, j]
        for k in range(k_size):
            it = candidates[s, k]
            out_ids[i, k] = it
            score = 0.0
            for j in range(dim):
                score += products[k, j]
            out_cand[i, k, 0] = score
            same = 0
            c = category[it]
            for j in range(h):
                if history_category[j] == c:
                    same += 1
            out_cand[i, k, 1] = same / h
            for f in range(n_table):
                out_cand[i, k, 2 + f] = item_table[it, f]
        for j in range(h):
            hi = hist_items[s, j]
            if hi >= 0:
                out_hist[i, j, 0] = 1.0
                for f in range(3):
                    out_hist[i, j, 1 + f] = hist_feedback[s, j, f]
                for f in range(n_table):
                    out_hist[i, j, 4 + f] = item_table[hi, f]
            else:
                for f in range(4 + n_table):
                    out_hist[i, j, f] = 0.0


@numba.njit(cache=True, nogil=True)  # type: ignore[misc]
def step_kernel(
    rows: Any, all_rows: Any, items: Any, ratio: Any, seconds: Any, like: Any, skip: Any,
    leave: Any, return_days: Any, candidates: Any, user: Any, step_count: Any, base_pos: Any,
    list_rows: Any, count: Any, lists: Any, length: int, hist_items: Any, hist_feedback: Any,
    session_depth: Any, session_ratio: Any, last_ratio: Any, session_index: Any,
    video_ids: Any, category: Any, weights: Any, return_window: int, ratio_cap: float,
    sessions: int, user_static: Any, item_table: Any, profile: Any, embedding: Any,
    inv_sessions: float, depth_cap: float, full_ratio: Any, full_seconds: Any, full_like: Any,
    full_skip: Any, full_leave: Any, full_days: Any, out_int: Any, out_reward: Any,
    out_flags: Any, out_user: Any, out_cand: Any, out_hist: Any, out_ids: Any,
) -> int:  # pragma: no cover - compiled
    """One step of the slots ``rows`` once the user model has responded; returns the restarts.

    Response row ``i`` is slot ``rows[i]``'s: :func:`record_kernel` with its outputs in column
    ``rows[i]``, the response scattered to the same column of ``full_*``, the simulator's side
    of a session restart (a user back within the window with sessions left: depth and mean ratio
    cleared, session index advanced; the user model's ``start_session`` is the caller's),
    ``out_flags[1]`` terminated (left, no restart), :func:`pools_kernel` with ``advance=1``;
    then :func:`observe_kernel` for every slot in ``all_rows`` (``0..n-1``). Outputs of slots
    not stepping are left as given (the caller passes zeros).
    """
    record_kernel(
        rows, rows, items, ratio, seconds, like, skip, leave, return_days, hist_items,
        hist_feedback, session_depth, session_ratio, last_ratio, session_index, video_ids,
        category, weights, return_window, ratio_cap, out_int, out_reward, out_flags,
    )
    restarts = 0
    for i in range(rows.shape[0]):
        s = rows[i]
        full_ratio[s] = ratio[i]
        full_seconds[s] = seconds[i]
        full_like[s] = like[i]
        full_skip[s] = skip[i]
        full_leave[s] = leave[i]
        full_days[s] = return_days[i]
        again = out_flags[0, s] and out_int[3, s] + 1 < sessions
        out_flags[1, s] = leave[i] and not again
        if again:
            session_depth[s] = 0
            session_ratio[s] = 0.0
            session_index[s] += 1
            restarts += 1
    pools_kernel(rows, step_count, base_pos, list_rows, count, lists, length, candidates, 1)
    observe_kernel(
        all_rows, candidates, user, session_depth, session_index, session_ratio, last_ratio,
        hist_items, hist_feedback, user_static, item_table, profile, embedding, category,
        inv_sessions, depth_cap, ratio_cap, out_user, out_cand, out_hist, out_ids,
    )
    return restarts


@numba.njit(cache=True, nogil=True)  # type: ignore[misc]
def respond_step_kernel(
    rows: Any, all_rows: Any, actions: Any, ptr: Any, buf: Any, u_first: int,
    user_user: Any, interest: Any, satiation: Any, budget: Any, depth: Any, ratio_sum: Any,
    user_embedding: Any, static_logit: Any, user_category: Any, duration: Any,
    propensity: Any, params: Any, candidates: Any, user: Any, step_count: Any, base_pos: Any,
    list_rows: Any, count: Any, lists: Any, length: int, hist_items: Any, hist_feedback: Any,
    session_depth: Any, session_ratio: Any, last_ratio: Any, session_index: Any,
    video_ids: Any, category: Any, weights: Any, return_window: int, ratio_cap: float,
    sessions: int, user_static: Any, item_table: Any, profile: Any, embedding: Any,
    inv_sessions: float, depth_cap: float, out_float: Any, out_int: Any, out_flags: Any,
    out_user: Any, out_cand: Any, out_hist: Any, out_ids: Any,
) -> int:  # pragma: no cover - compiled
    """A whole one-video step with the stock user; returns the restarts, or -1 (nothing done).

    Slot ``rows[i]`` is shown its candidate ``actions[i]``: :func:`take_kernel` takes each slot's
    next row of uniforms (-1, with no state touched, when a slot's block is used up: the caller
    refills it and calls again, so the draws are those of the separate calls), the user responds
    (:func:`~recoworld.users.feed._kernels.respond_rows` on the columns from ``u_first`` on; the
    arguments ``user_user`` to ``params`` are the user's ``kernel_arguments``), then
    :func:`step_kernel`. Per-slot outputs, one column per slot: ``out_float`` rows watch ratio,
    watch time, reward; ``out_int`` rows item, video id, category, session index, depth, return
    days; ``out_flags`` rows returned, terminated, like, skip, left.
    """
    n = rows.shape[0]
    drawn = np.empty((n, buf.shape[2]), dtype=np.float64)
    if not take_kernel(rows, ptr, buf, drawn):
        return -1
    items = np.empty(n, dtype=np.intp)
    for i in range(n):
        items[i] = candidates[rows[i], actions[i]]
    ratio = np.empty(n, dtype=np.float32)
    seconds = np.empty(n, dtype=np.float32)
    like = np.empty(n, dtype=np.bool_)
    skip = np.empty(n, dtype=np.bool_)
    leave = np.empty(n, dtype=np.bool_)
    days = np.empty(n, dtype=np.int64)
    respond_rows(
        rows, items, drawn[:, u_first:], user_user, interest, satiation, budget, depth,
        ratio_sum, user_embedding, static_logit, user_category, duration, propensity, params,
        ratio, seconds, like, skip, leave, days,
    )
    return step_kernel(
        rows, all_rows, items, ratio, seconds, like, skip, leave, days, candidates, user,
        step_count, base_pos, list_rows, count, lists, length, hist_items, hist_feedback,
        session_depth, session_ratio, last_ratio, session_index, video_ids, category, weights,
        return_window, ratio_cap, sessions, user_static, item_table, profile, embedding,
        inv_sessions, depth_cap, out_float[0], out_float[1], out_flags[2], out_flags[3],
        out_flags[4], out_int[5], out_int[:5], out_float[2], out_flags[:2], out_user, out_cand,
        out_hist, out_ids,
    )
