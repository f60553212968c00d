"""Compiled per-user loops of the statistical feed user (numba).

One call handles every addressed user; inside, the per-user arithmetic is scalar, which at one user
(a single environment) avoids the fixed cost of ~40 tiny numpy operations and at 1,024 users is
faster than the same work as array operations. The math is exactly that of the parts
(preference, duration and position bias, response, transition, leave, return);
``tests/test_feed_users.py`` checks the kernel against the parts' numpy methods.
"""

from __future__ import annotations

import math
from typing import Any

import numba
import numpy as np

__all__ = ["N_PARAMS", "P", "respond_kernel"]


class P:
    """Indices of the packed parameter vector."""

    TASTE_W = 0
    POS_ON = 1
    POS_STRENGTH = 2
    POS_SCALE = 3
    SAT_ON = 4
    SAT_W = 5
    SAT_DECAY = 6
    DRIFT_ON = 7
    DRIFT_RATE = 8
    NOISE = 9
    MAX_RATIO = 10
    LIKE_BIAS = 11
    LIKE_W = 12
    SKIP_RATIO = 13
    STEP_COST = 14
    POOR_PENALTY = 15
    GOOD_RATIO = 16
    THRESHOLD = 17
    RET_BASE = 18
    RET_SAT_W = 19
    RET_REF = 20
    RET_NEVER = 21


N_PARAMS = 22


@numba.njit(cache=True, nogil=True)  # type: ignore[misc]
def _respond(
    rows: Any, items: Any, u: Any, user: Any, interest: Any, satiation: Any, budget: Any,
    depth: Any, ratio_sum: Any, embedding: Any, static_logit: Any, category: Any,
    duration: Any, propensity: Any, p: Any, out_ratio: Any, out_time: Any, out_like: Any,
    out_skip: Any, out_leave: Any, out_days: Any,
) -> None:  # pragma: no cover - compiled
    dim = interest.shape[1]
    n_cat = satiation.shape[1]
    for i in range(rows.shape[0]):
        s = rows[i]
        it = items[i]
        taste = 0.0
        for j in range(dim):
            taste += interest[s, j] * embedding[it, j]
        c = category[it]
        logit = static_logit[it] + p[0] * taste
        if p[1] > 0.0:
            logit -= p[2] * math.log1p(depth[s] / p[3])
        if p[4] > 0.0:
            logit -= p[5] * satiation[s, c]
        u0 = max(u[i, 0], 1e-12)
        noisy = logit + p[9] * math.log(u0 / (1.0 - u0))
        ratio = p[10] / (1.0 + math.exp(-noisy))
        like = u[i, 1] * (1.0 + math.exp(-(p[11] + p[12] * noisy))) < 1.0
        # Transition: satiation decays everywhere and grows for this category; drift to the video.
        for k in range(n_cat):
            satiation[s, k] *= p[6]
        satiation[s, c] += 1.0
        if p[7] > 0.0 and p[8] > 0.0:
            step = p[8] * min(ratio, 1.0)
            for j in range(dim):
                interest[s, j] += step * (embedding[it, j] - interest[s, j])
        # Leave: patience falls by the step cost plus the shortfall penalty.
        shortfall = max(0.0, 1.0 - ratio / p[16])
        budget[s] -= p[14] + p[15] * shortfall
        depth[s] += 1
        ratio_sum[s] += ratio
        leave = budget[s] <= p[17]
        days = 0
        if leave:
            sat = min(ratio_sum[s] / depth[s], p[10])
            rate = p[18] * propensity[user[s]] * math.exp(min(p[19] * (sat - p[20]), 30.0))
            wait = -math.log1p(-min(u[i, 2], 1.0 - 1e-12)) / rate
            days = int(min(1.0 + math.floor(wait), p[21]))
        out_ratio[i] = ratio
        out_time[i] = ratio * duration[it]
        out_like[i] = like
        out_skip[i] = ratio < p[13]
        out_leave[i] = leave
        out_days[i] = days


def respond_kernel(
    rows: Any, items: Any, u: Any, state: tuple[Any, ...], world: tuple[Any, ...], p: Any
) -> tuple[Any, Any, Any, Any, Any, Any]:
    """Run the compiled response for ``rows``; returns (ratio, time, like, skip, leave, days)."""
    n = rows.shape[0]
    ratio = np.empty(n, dtype=np.float32)
    seconds = np.empty(n, dtype=np.float32)
    like = np.empty(n, dtype=np.bool_)
    skip = np.empty(n, dtype=np.bool_)
    leave = np.empty(n, dtype=np.bool_)
    days = np.empty(n, dtype=np.int64)
    kernel: Any = _respond
    kernel(rows, items, u, *state, *world, p, ratio, seconds, like, skip, leave, days)
    return ratio, seconds, like, skip, leave, days
