"""The statistical feed user: preference, biases, response, transition, leave and return composed."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

from recoworld.datasets.feed_world import FeedWorld
from recoworld.errors import ConfigError
from recoworld.users.feed._kernels import N_PARAMS, P, respond_kernel
from recoworld.users.feed.duration_bias import DurationBias, DurationBiasParams
from recoworld.users.feed.interface import ExpectedOutcome, FeedResponse, Slots
from recoworld.users.feed.leave import Leave, LeaveParams
from recoworld.users.feed.position_bias import PositionBias, PositionBiasParams
from recoworld.users.feed.preference import Preference, PreferenceParams
from recoworld.users.feed.response import Response, ResponseParams, ResponseSample
from recoworld.users.feed.returning import NEVER_DAYS, Return, ReturnParams
from recoworld.users.feed.transition import Transition, TransitionParams

__all__ = ["FeedUserParams", "StatisticalFeedUser"]


def _rows(slots: Slots, n: int) -> NDArray[np.intp] | slice:
    """Row index usable beside a column index array: ``arange(n)`` for every slot."""
    return np.arange(n) if isinstance(slots, slice) else slots


@dataclass(frozen=True)
class FeedUserParams:
    """All parameters of a statistical feed user, one frozen dataclass per part."""

    preference: PreferenceParams = field(default_factory=PreferenceParams)
    response: ResponseParams = field(default_factory=ResponseParams)
    duration_bias: DurationBiasParams = field(default_factory=DurationBiasParams)
    position_bias: PositionBiasParams = field(default_factory=PositionBiasParams)
    transition: TransitionParams = field(default_factory=TransitionParams)
    leave: LeaveParams = field(default_factory=LeaveParams)
    returning: ReturnParams = field(default_factory=ReturnParams)


class StatisticalFeedUser:
    """A population of statistical feed users simulated side by side (KuaiSim-style).

    Engagement logit of user ``u`` for video ``v`` at depth ``t``::

        base_logit + affinity(u, v) + duration_shift(v) + position_shift(t) - satiation(u, cat(v))

    The watch ratio is ``max_watch_ratio * sigmoid(logit + logistic noise)``; the patience budget
    falls by ``Leave.cost(ratio)`` per video and the user leaves at the threshold; on leaving, the
    gap until the next session is drawn from the session's mean watch ratio. Implements
    :class:`recoworld.users.feed.interface.FeedUserModel`.
    """

    #: Uniforms per response: watch noise, like coin, return-gap draw.
    n_uniforms = 3

    def __init__(self, params: FeedUserParams | None = None) -> None:
        self.params = params if params is not None else FeedUserParams()
        p = self.params
        self.preference = Preference(p.preference)
        self.response = Response(p.response)
        self.duration_bias = DurationBias(p.duration_bias)
        self.position_bias = PositionBias(p.position_bias)
        self.transition = Transition(p.transition)
        self.leave_model = Leave(p.leave)
        self.return_model = Return(p.returning)
        self._world: FeedWorld | None = None

    # -- lifecycle -------------------------------------------------------------------------------

    def bind(self, world: FeedWorld, n_slots: int) -> None:
        """Attach to ``world`` and allocate state for ``n_slots`` users."""
        if n_slots < 1:
            raise ConfigError(f"`n_slots` must be >= 1, got {n_slots}")
        self._world = world
        cat, pop = world.catalogue, world.population
        self._embedding = cat.embedding
        self._duration = cat.duration_s
        self._category = cat.category
        self._quality = cat.quality
        # What never changes per video: base logit, quality term and duration shift.
        self._static_logit = (
            self.params.response.base_logit
            + self.params.preference.quality_weight * cat.quality
            + self.duration_bias.logit_shift(cat.duration_s)
        ).astype(np.float32)
        self._pop_interest = pop.interest
        self._patience = pop.patience
        self._propensity = pop.return_propensity
        self.user = np.zeros(n_slots, dtype=np.intp)
        self.interest = np.zeros((n_slots, cat.dim), dtype=np.float32)
        self.satiation = np.zeros((n_slots, cat.n_categories), dtype=np.float32)
        self.budget = np.zeros(n_slots, dtype=np.float32)
        self.depth = np.zeros(n_slots, dtype=np.int64)
        self.ratio_sum = np.zeros(n_slots, dtype=np.float32)
        self._all = np.arange(n_slots, dtype=np.intp)
        self._state = (
            self.user, self.interest, self.satiation, self.budget, self.depth, self.ratio_sum
        )
        self._world_arrays = (
            cat.embedding, self._static_logit, cat.category, cat.duration_s, pop.return_propensity
        )
        self._packed = self._pack_params()

    def _pack_params(self) -> NDArray[np.float64]:
        p = self.params
        packed = np.zeros(N_PARAMS, dtype=np.float64)
        packed[P.TASTE_W] = p.preference.taste_weight
        packed[P.POS_ON] = float(p.position_bias.enabled)
        packed[P.POS_STRENGTH] = p.position_bias.strength
        packed[P.POS_SCALE] = p.position_bias.scale
        packed[P.SAT_ON] = float(p.transition.satiation_enabled)
        packed[P.SAT_W] = p.transition.satiation_weight
        packed[P.SAT_DECAY] = p.transition.satiation_decay
        packed[P.DRIFT_ON] = float(p.transition.drift_enabled)
        packed[P.DRIFT_RATE] = p.transition.drift_rate
        packed[P.NOISE] = p.response.noise_scale
        packed[P.MAX_RATIO] = p.response.max_watch_ratio
        packed[P.LIKE_BIAS] = p.response.like_bias
        packed[P.LIKE_W] = p.response.like_weight
        packed[P.SKIP_RATIO] = p.response.skip_ratio
        packed[P.STEP_COST] = p.leave.step_cost
        packed[P.POOR_PENALTY] = p.leave.poor_penalty
        packed[P.GOOD_RATIO] = p.leave.good_ratio
        packed[P.THRESHOLD] = p.leave.threshold
        packed[P.RET_BASE] = p.returning.base_rate
        packed[P.RET_SAT_W] = p.returning.satisfaction_weight
        packed[P.RET_REF] = p.returning.reference_satisfaction
        packed[P.RET_NEVER] = float(NEVER_DAYS)
        return packed

    def reset(self, slots: Slots, users: NDArray[np.intp]) -> None:
        """Slot ``slots[i]`` becomes population row ``users[i]`` at the start of a session."""
        self.user[slots] = users
        self.interest[slots] = self._pop_interest[users]
        self.start_session(slots, np.zeros(len(users), dtype=np.int64))

    def start_session(self, slots: Slots, days_away: NDArray[np.int64]) -> None:
        """Fresh patience and no satiation at the start of a session; interest carries over."""
        self.budget[slots] = self._patience[self.user[slots]]
        self.satiation[slots] = 0.0
        self.depth[slots] = 0
        self.ratio_sum[slots] = 0.0

    # -- dynamics --------------------------------------------------------------------------------

    def logit(self, slots: Slots, items: NDArray[np.intp]) -> NDArray[np.float32]:
        """Noise-free engagement logit of ``items`` (``(n,)`` or ``(n, K)``) for ``slots``.

        ``slots`` is an index array or ``slice(None)`` (every slot, in order).
        """
        interest = self.interest[slots]
        weights = self.params.preference
        pos = self.position_bias.logit_shift(self.depth[slots])
        if items.ndim == 1:
            rows = _rows(slots, items.shape[0])
            taste = np.einsum("nd,nd->n", interest, self._embedding[items])
            sat = self.satiation[rows, self._category[items]]
        else:
            taste = np.einsum("nd,nkd->nk", interest, self._embedding[items])
            sat = np.take_along_axis(self.satiation[slots], self._category[items], axis=1)
            pos = pos[:, None]
        # base + quality + duration shift never change: one precomputed column per video.
        logit = self._static_logit[items] + weights.taste_weight * taste
        logit += pos
        if self.params.transition.satiation_enabled:
            logit -= self.params.transition.satiation_weight * sat
        return np.asarray(logit, dtype=np.float32)

    def _sample(
        self, slots: Slots, items: NDArray[np.intp], u: NDArray[np.float64]
    ) -> tuple[ResponseSample, dict[str, NDArray[np.generic]] | None]:
        logit = self.logit(slots, items)
        return self.response.from_uniforms(logit, self._duration[items], u), None

    def respond(self, slots: Slots, items: NDArray[np.intp], u: NDArray[np.float64]) -> FeedResponse:
        """Show ``items[i]`` to ``slots[i]``: sample the response and advance the user's state.

        Runs the compiled kernel (:mod:`recoworld.users.feed._kernels`); a subclass that changes
        the sampled response (``_sample``) runs :meth:`respond_numpy` instead.
        """
        if type(self)._sample is not StatisticalFeedUser._sample:
            return self.respond_numpy(slots, items, u)
        rows = self._all if isinstance(slots, slice) else np.asarray(slots, dtype=np.intp)
        ratio, seconds, like, skip, leave, days = respond_kernel(
            rows, np.asarray(items, dtype=np.intp), u, self._state, self._world_arrays, self._packed
        )
        return FeedResponse(
            watch_ratio=ratio,
            watch_time=seconds,
            like=like,
            skip=skip,
            leave=leave,
            return_days=days,
        )

    def respond_numpy(
        self, slots: Slots, items: NDArray[np.intp], u: NDArray[np.float64]
    ) -> FeedResponse:
        """:meth:`respond` as array operations composed from the parts (the reference)."""
        sample, info = self._sample(slots, items, u)
        ratio = sample.watch_ratio
        every = isinstance(slots, slice)
        sat = self.satiation[slots]  # a view when every slot steps: updated in place
        interest = self.interest[slots]
        self.transition.update(sat, interest, self._category[items], self._embedding[items], ratio)
        if not every:
            self.satiation[slots] = sat
            self.interest[slots] = interest
        budget = self.budget[slots]
        budget -= self.leave_model.cost(ratio)
        depth = self.depth[slots]
        depth += 1
        ratio_sum = self.ratio_sum[slots]
        ratio_sum += ratio
        if not every:
            self.budget[slots] = budget
            self.depth[slots] = depth
            self.ratio_sum[slots] = ratio_sum
        leave = self.leave_model.leaves(budget)
        days = np.zeros(items.shape[0], dtype=np.int64)
        if leave.any():  # the return draw is used only by leavers (its uniform is consumed anyway)
            who = np.flatnonzero(leave)
            satisfaction = np.minimum(
                ratio_sum[who] / depth[who], self.params.response.max_watch_ratio
            ).astype(np.float32)
            days[who] = self.return_model.days_from_uniform(
                satisfaction, self._propensity[self.user[slots][who]], u[who, 2]
            )
        return FeedResponse(
            watch_ratio=ratio,
            watch_time=sample.watch_time,
            like=sample.like,
            skip=sample.skip,
            leave=leave,
            return_days=days,
            info=info,
        )

    def expected(self, slots: Slots, candidates: NDArray[np.intp]) -> ExpectedOutcome:
        """True expected watch ratio, watch time and patience cost of each candidate."""
        ratio = self.response.expected_watch_ratio(self.logit(slots, candidates))
        return ExpectedOutcome(
            watch_ratio=ratio,
            watch_time=(ratio * self._duration[candidates]).astype(np.float32),
            patience_cost=self.leave_model.cost(ratio),
        )
