"""The statistical feed user: preference, biases, response, transition, leave and return composed."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

from recoworld.datasets.feed_world import FeedWorld
from recoworld.errors import ConfigError
from recoworld.users.feed.duration_bias import DurationBias, DurationBiasParams
from recoworld.users.feed.interface import ExpectedOutcome, FeedResponse
from recoworld.users.feed.leave import Leave, LeaveParams
from recoworld.users.feed.position_bias import PositionBias, PositionBiasParams
from recoworld.users.feed.preference import Preference, PreferenceParams
from recoworld.users.feed.response import Response, ResponseParams, ResponseSample
from recoworld.users.feed.returning import Return, ReturnParams
from recoworld.users.feed.transition import Transition, TransitionParams

__all__ = ["FeedUserParams", "StatisticalFeedUser"]


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
        # The duration shift never changes: precompute it per video.
        self._duration_shift = self.duration_bias.logit_shift(cat.duration_s)
        self._pop_interest = pop.interest
        self._patience = pop.patience
        self._propensity = pop.return_propensity
        self.user = np.zeros(n_slots, dtype=np.intp)
        self.interest = np.zeros((n_slots, cat.dim), dtype=np.float32)
        self.satiation = np.zeros((n_slots, cat.n_categories), dtype=np.float32)
        self.budget = np.zeros(n_slots, dtype=np.float32)
        self.depth = np.zeros(n_slots, dtype=np.int64)
        self.ratio_sum = np.zeros(n_slots, dtype=np.float32)

    def reset(self, slots: NDArray[np.intp], users: NDArray[np.intp]) -> None:
        """Slot ``slots[i]`` becomes population row ``users[i]`` at the start of a session."""
        self.user[slots] = users
        self.interest[slots] = self._pop_interest[users]
        self.start_session(slots, np.zeros(len(slots), dtype=np.int64))

    def start_session(self, slots: NDArray[np.intp], days_away: NDArray[np.int64]) -> None:
        """Fresh patience and no satiation at the start of a session; interest carries over."""
        self.budget[slots] = self._patience[self.user[slots]]
        self.satiation[slots] = 0.0
        self.depth[slots] = 0
        self.ratio_sum[slots] = 0.0

    # -- dynamics --------------------------------------------------------------------------------

    def logit(self, slots: NDArray[np.intp], items: NDArray[np.intp]) -> NDArray[np.float32]:
        """Noise-free engagement logit of ``items`` (``(n,)`` or ``(n, K)``) for ``slots``."""
        interest = self.interest[slots]
        aff = self.preference.affinity(interest, self._embedding[items], self._quality[items])
        depth = self.depth[slots]
        pos = self.position_bias.logit_shift(depth)
        sat_rows = self.satiation[slots]
        if items.ndim == 1:
            sat = sat_rows[np.arange(len(slots)), self._category[items]]
        else:
            sat = np.take_along_axis(sat_rows, self._category[items], axis=1)
            pos = pos[:, None]
        base = np.float32(self.params.response.base_logit)
        return (base + aff + self._duration_shift[items] + pos - self.transition.penalty(sat)).astype(
            np.float32
        )

    def _sample(
        self, slots: NDArray[np.intp], items: NDArray[np.intp], u: NDArray[np.float64]
    ) -> tuple[ResponseSample, dict[str, NDArray[np.generic]] | None]:
        logit = self.logit(slots, items)
        return self.response.from_uniforms(logit, self._duration[items], u[:, :2]), None

    def respond(
        self, slots: NDArray[np.intp], items: NDArray[np.intp], u: NDArray[np.float64]
    ) -> FeedResponse:
        """Show ``items[i]`` to ``slots[i]``: sample the response and advance the user's state."""
        sample, info = self._sample(slots, items, u)
        ratio = sample.watch_ratio
        sat = self.satiation[slots]
        interest = self.interest[slots]
        self.transition.update(sat, interest, self._category[items], self._embedding[items], ratio)
        self.satiation[slots] = sat
        self.interest[slots] = interest
        budget = self.budget[slots] - self.leave_model.cost(ratio)
        self.budget[slots] = budget
        depth = self.depth[slots] + 1
        self.depth[slots] = depth
        ratio_sum = self.ratio_sum[slots] + ratio
        self.ratio_sum[slots] = ratio_sum
        leave = self.leave_model.leaves(budget)
        satisfaction = np.minimum(ratio_sum / depth, self.params.response.max_watch_ratio)
        days = self.return_model.days_from_uniform(
            satisfaction.astype(np.float32), self._propensity[self.user[slots]], u[:, 2]
        )
        days[~leave] = 0
        return FeedResponse(
            watch_ratio=ratio,
            watch_time=sample.watch_time,
            like=sample.like,
            skip=sample.skip,
            leave=leave,
            return_days=days,
            info=info,
        )

    def expected(self, slots: NDArray[np.intp], candidates: NDArray[np.intp]) -> ExpectedOutcome:
        """True expected watch ratio, watch time and patience cost of each candidate."""
        ratio = self.response.expected_watch_ratio(self.logit(slots, candidates))
        return ExpectedOutcome(
            watch_ratio=ratio,
            watch_time=(ratio * self._duration[candidates]).astype(np.float32),
            patience_cost=self.leave_model.cost(ratio),
        )
