"""Compiled per-slot loops of the feed simulator (numba): history bookkeeping, pools, observations.

Each kernel handles every addressed slot in one call. The same kernels serve the single
environment (one slot) and the vector environment (N slots), which is what keeps their
trajectories identical; their outputs are checked against plain numpy in ``tests/test_feed_env.py``.
"""

from __future__ import annotations

from typing import Any

import numba

__all__ = ["observe_kernel", "pools_kernel", "record_kernel", "take_kernel"]


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
    rows: Any, items: Any, ratio: Any, seconds: Any, like: Any, skip: Any, leave: Any,
    return_days: Any, hist_items: Any, hist_feedback: Any, session_depth: Any,
    session_ratio: Any, last_ratio: Any, session_index: Any, video_ids: Any, category: Any,
    weights: Any, return_window: int, ratio_cap: float, out_depth: Any, out_reward: Any,
    out_returned: Any, out_session: Any, out_video: Any, out_category: Any,
) -> None:  # pragma: no cover - compiled
    """Push each shown video into its slot's history and session counters; compute its reward.

    ``weights`` = (per minute watched, per unit of watch ratio, per like, per return).
    """
    h = hist_items.shape[1]
    for i in range(rows.shape[0]):
        s = rows[i]
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
        out_depth[i] = session_depth[s]
        out_returned[i] = returned
        out_session[i] = session_index[s]
        out_video[i] = video_ids[it]
        out_category[i] = category[it]
        out_reward[i] = (
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
    for i in range(rows.shape[0]):
        s = rows[i]
        us = user[s]
        for f in range(n_static):
            out_user[i, f] = user_static[us, f]
        d = session_depth[s]
        out_user[i, n_static] = min(d, depth_cap) / 50.0
        out_user[i, n_static + 1] = session_index[s] * inv_sessions
        out_user[i, n_static + 2] = min(session_ratio[s] / max(d, 1), ratio_cap)
        out_user[i, n_static + 3] = min(last_ratio[s], ratio_cap)
        for k in range(k_size):
            it = candidates[s, k]
            out_ids[i, k] = it
            score = 0.0
            for j in range(dim):
                score += profile[us, j] * embedding[it, j]
            out_cand[i, k, 0] = score
            same = 0
            c = category[it]
            for j in range(h):
                hi = hist_items[s, j]
                if hi >= 0 and category[hi] == c:
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
