"""Compiled per-user loop of the statistical feed user with stock parts (numba).

One call handles every addressed user; inside, the per-user arithmetic is scalar, which at one user
(a single environment) avoids the fixed cost of ~40 tiny numpy operations and at 1,024 users is
faster than the same work as array operations. The math is exactly that of the stock parts
(:class:`~recoworld.users.feed.preference.Preference`, the duration and position biases,
:class:`~recoworld.users.feed.response.Response`, :class:`~recoworld.users.feed.transition.Transition`,
:class:`~recoworld.users.feed.leave.Leave`, :class:`~recoworld.users.feed.returning.Return`), fused;
:class:`~recoworld.users.feed.statistical.StatisticalFeedUser` runs it only when every part is a
stock one, and ``tests/test_feed_users.py`` checks it against the parts' own composition.
"""

from __future__ import annotations

import math
from enum import IntEnum
from typing import Any

import numba
import numpy as np
from numpy.typing import NDArray

from recoworld.users.feed.leave import Leave
from recoworld.users.feed.position_bias import PositionBias
from recoworld.users.feed.preference import Preference
from recoworld.users.feed.response import Response
from recoworld.users.feed.returning import NEVER_DAYS, Return
from recoworld.users.feed.transition import Transition

__all__ = ["Param", "pack_params", "respond_kernel", "respond_rows"]


class Param(IntEnum):
    """Slots of the packed parameter vector the kernel reads (``p[Param.TASTE_WEIGHT]``).

    numba folds the members to constants, so a named slot costs nothing over a bare index.
    """

    TASTE_WEIGHT = 0
    POSITION_ON = 1
    POSITION_STRENGTH = 2
    POSITION_SCALE = 3
    SATIATION_ON = 4
    SATIATION_WEIGHT = 5
    SATIATION_DECAY = 6
    DRIFT_ON = 7
    DRIFT_RATE = 8
    NOISE_SCALE = 9
    MAX_WATCH_RATIO = 10
    LIKE_BIAS = 11
    LIKE_WEIGHT = 12
    SKIP_RATIO = 13
    STEP_COST = 14
    POOR_PENALTY = 15
    GOOD_RATIO = 16
    LEAVE_THRESHOLD = 17
    RETURN_BASE_RATE = 18
    RETURN_SATISFACTION_WEIGHT = 19
    RETURN_REFERENCE = 20


def pack_params(
    preference: Preference,
    response: Response,
    position_bias: PositionBias,
    transition: Transition,
    leave: Leave,
    returning: Return,
) -> NDArray[np.float64]:
    """The stock parts' parameters as the kernel's float vector, one :class:`Param` slot each.

    The duration bias, the base logit and the quality term never change per video; the caller
    folds them into one static logit column instead.
    """
    pos, tr, resp = position_bias.params, transition.params, response.params
    lv, ret = leave.params, returning.params
    slots = {
        Param.TASTE_WEIGHT: preference.params.taste_weight,
        Param.POSITION_ON: float(pos.enabled),
        Param.POSITION_STRENGTH: pos.strength,
        Param.POSITION_SCALE: pos.scale,
        Param.SATIATION_ON: float(tr.satiation_enabled),
        Param.SATIATION_WEIGHT: tr.satiation_weight,
        Param.SATIATION_DECAY: tr.satiation_decay,
        Param.DRIFT_ON: float(tr.drift_enabled),
        Param.DRIFT_RATE: tr.drift_rate,
        Param.NOISE_SCALE: resp.noise_scale,
        Param.MAX_WATCH_RATIO: resp.max_watch_ratio,
        Param.LIKE_BIAS: resp.like_bias,
        Param.LIKE_WEIGHT: resp.like_weight,
        Param.SKIP_RATIO: resp.skip_ratio,
        Param.STEP_COST: lv.step_cost,
        Param.POOR_PENALTY: lv.poor_penalty,
        Param.GOOD_RATIO: lv.good_ratio,
        Param.LEAVE_THRESHOLD: lv.threshold,
        Param.RETURN_BASE_RATE: ret.base_rate,
        Param.RETURN_SATISFACTION_WEIGHT: ret.satisfaction_weight,
        Param.RETURN_REFERENCE: ret.reference_satisfaction,
    }
    assert len(slots) == len(Param)
    packed = np.zeros(len(Param), dtype=np.float64)
    for slot, value in slots.items():
        packed[slot] = value
    return packed


_NEVER = float(NEVER_DAYS)


@numba.njit(cache=True, nogil=True)  # type: ignore[misc]
def respond_rows(
    rows: Any, items: Any, u: Any, user: Any, interest: Any, satiation: Any, budget: Any,
    depth: Any, ratio_sum: Any, embedding: Any, static_logit: Any, category: Any,
    duration: Any, propensity: Any, p: Any, out_ratio: Any, out_time: Any, out_like: Any,
    out_skip: Any, out_leave: Any, out_days: Any,
) -> None:  # pragma: no cover - compiled
    """Slot ``rows[i]`` is shown ``items[i]`` with uniforms ``u[i]``: its response goes to row ``i``.

    The arguments from ``user`` to ``p`` are ``StatisticalFeedUser.kernel_arguments``; the
    simulator's fused step (:func:`recoworld.envs._feed_kernels.respond_step_kernel`) calls this
    same function inside its own compiled call.
    """
    dim = interest.shape[1]
    n_cat = satiation.shape[1]
    for i in range(rows.shape[0]):
        s = rows[i]
        it = items[i]
        # Preference, biases and satiation: the noise-free engagement logit.
        taste = 0.0
        for j in range(dim):
            taste += interest[s, j] * embedding[it, j]
        c = category[it]
        logit = static_logit[it] + p[Param.TASTE_WEIGHT] * taste
        if p[Param.POSITION_ON] > 0.0:
            logit -= p[Param.POSITION_STRENGTH] * math.log1p(depth[s] / p[Param.POSITION_SCALE])
        if p[Param.SATIATION_ON] > 0.0:
            logit -= p[Param.SATIATION_WEIGHT] * satiation[s, c]
        # Response: logistic noise from u[:, 0], the like coin from u[:, 1].
        u0 = max(u[i, 0], 1e-12)
        noisy = logit + p[Param.NOISE_SCALE] * math.log(u0 / (1.0 - u0))
        ratio = p[Param.MAX_WATCH_RATIO] / (1.0 + math.exp(-noisy))
        like = u[i, 1] * (1.0 + math.exp(-(p[Param.LIKE_BIAS] + p[Param.LIKE_WEIGHT] * noisy))) < 1.0
        # Transition: satiation decays everywhere and grows for this category; drift to the video.
        for k in range(n_cat):
            satiation[s, k] *= p[Param.SATIATION_DECAY]
        satiation[s, c] += 1.0
        if p[Param.DRIFT_ON] > 0.0 and p[Param.DRIFT_RATE] > 0.0:
            step = p[Param.DRIFT_RATE] * min(ratio, 1.0)
            for j in range(dim):
                interest[s, j] += step * (embedding[it, j] - interest[s, j])
        # Leave: patience falls by the step cost plus the shortfall penalty.
        shortfall = max(0.0, 1.0 - ratio / p[Param.GOOD_RATIO])
        budget[s] -= p[Param.STEP_COST] + p[Param.POOR_PENALTY] * shortfall
        depth[s] += 1
        ratio_sum[s] += ratio
        leave = budget[s] <= p[Param.LEAVE_THRESHOLD]
        # Return: an exponential wait from u[:, 2], its hazard set by the session's satisfaction.
        days = 0
        if leave:
            sat = min(ratio_sum[s] / depth[s], p[Param.MAX_WATCH_RATIO])
            shift = p[Param.RETURN_SATISFACTION_WEIGHT] * (sat - p[Param.RETURN_REFERENCE])
            rate = p[Param.RETURN_BASE_RATE] * propensity[user[s]] * math.exp(min(shift, 30.0))
            wait = -math.log1p(-min(u[i, 2], 1.0 - 1e-12)) / rate
            days = int(min(1.0 + math.floor(wait), _NEVER))
        out_ratio[i] = ratio
        out_time[i] = ratio * duration[it]
        out_like[i] = like
        out_skip[i] = ratio < p[Param.SKIP_RATIO]
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
    kernel: Any = respond_rows
    kernel(rows, items, u, *state, *world, p, ratio, seconds, like, skip, leave, days)
    return ratio, seconds, like, skip, leave, days
