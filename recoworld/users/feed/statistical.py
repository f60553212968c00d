"""The statistical feed user: preference, biases, response, transition, leave and return composed."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

from recoworld._validate import require_range
from recoworld.datasets.feed_world import FeedWorld
from recoworld.errors import ConfigError
from recoworld.users.feed._kernels import pack_params, respond_kernel
from recoworld.users.feed.duration_bias import DurationBias, DurationBiasModel, DurationBiasParams
from recoworld.users.feed.interface import ExpectedOutcome, FeedResponse, Slots
from recoworld.users.feed.leave import Leave, LeaveModel, LeaveParams
from recoworld.users.feed.position_bias import PositionBias, PositionBiasModel, PositionBiasParams
from recoworld.users.feed.preference import Preference, PreferenceModel, PreferenceParams
from recoworld.users.feed.response import Response, ResponseModel, ResponseParams, ResponseSample
from recoworld.users.feed.returning import Return, ReturnModel, ReturnParams
from recoworld.users.feed.transition import Transition, TransitionModel, TransitionParams

__all__ = ["FeedUserParams", "StatisticalFeedUser"]


def _rows(slots: Slots, n: int) -> NDArray[np.intp] | slice:
    """Row index usable beside a column index array: ``arange(n)`` for every slot."""
    return np.arange(n) if isinstance(slots, slice) else slots


@dataclass(frozen=True)
class FeedUserParams:
    """Parameters of the stock parts of a statistical feed user, one frozen dataclass per part."""

    preference: PreferenceParams = field(default_factory=PreferenceParams)
    response: ResponseParams = field(default_factory=ResponseParams)
    duration_bias: DurationBiasParams = field(default_factory=DurationBiasParams)
    position_bias: PositionBiasParams = field(default_factory=PositionBiasParams)
    transition: TransitionParams = field(default_factory=TransitionParams)
    leave: LeaveParams = field(default_factory=LeaveParams)
    returning: ReturnParams = field(default_factory=ReturnParams)


#: Each part: its keyword, the protocol it must follow, and its stock class (built from params).
_PARTS: tuple[tuple[str, type, type], ...] = (
    ("preference", PreferenceModel, Preference),
    ("response", ResponseModel, Response),
    ("duration_bias", DurationBiasModel, DurationBias),
    ("position_bias", PositionBiasModel, PositionBias),
    ("transition", TransitionModel, Transition),
    ("leave", LeaveModel, Leave),
    ("returning", ReturnModel, Return),
)


def _members(protocol: type) -> list[str]:
    """Public attributes and methods a part protocol asks for."""
    names = set(getattr(protocol, "__annotations__", {})) | set(vars(protocol))
    return sorted(n for n in names if not n.startswith("_"))


class StatisticalFeedUser:
    """A population of statistical feed users simulated side by side (KuaiSim-style).

    The user is composed of seven parts (RecSim's decomposition, batched over users), each a
    small object with its own protocol in its own module:

    | part | protocol | stock part | decides |
    |---|---|---|---|
    | ``preference`` | ``PreferenceModel`` | :class:`Preference` | affinity of a user's interest for a video |
    | ``response`` | ``ResponseModel`` | :class:`Response` | watch ratio, like and skip from the engagement logit |
    | ``duration_bias`` | ``DurationBiasModel`` | :class:`DurationBias` | logit shift by video length |
    | ``position_bias`` | ``PositionBiasModel`` | :class:`PositionBias` | logit shift by depth in the session |
    | ``transition`` | ``TransitionModel`` | :class:`Transition` | satiation penalty; satiation and interest after a video |
    | ``leave`` | ``LeaveModel`` | :class:`Leave` | patience each video costs; when the user leaves |
    | ``returning`` | ``ReturnModel`` | :class:`Return` | days until the next session |

    Engagement logit of user ``u`` for video ``v`` at depth ``t``::

        base_logit + affinity(u, v) + duration_shift(v) + position_shift(t) - penalty(satiation(u, cat(v)))

    With the stock parts, the watch ratio is ``max_watch_ratio * sigmoid(logit + logistic
    noise)``; the patience budget falls by ``Leave.cost(ratio)`` per video and the user leaves at
    the threshold; on leaving, the gap until the next session is drawn from the session's mean
    watch ratio.

    Each part keyword takes an object that follows that part's protocol and replaces the stock
    part; a part given this way and a non-default entry for it in ``params`` is a
    :class:`ConfigError`.

    Args:
        params: parameters of the stock parts (switch biases off here).
        preference: replaces :class:`Preference`.
        response: replaces :class:`Response`.
        duration_bias: replaces :class:`DurationBias`.
        position_bias: replaces :class:`PositionBias`.
        transition: replaces :class:`Transition`.
        leave: replaces :class:`Leave`.
        returning: replaces :class:`Return`.

    When every part is a stock one, :meth:`respond` runs one compiled kernel (the parts' math
    fused, :mod:`recoworld.users.feed._kernels`); otherwise it composes the parts' own methods
    (:meth:`respond_composed`), so a replaced part is always the one that acts. Implements
    :class:`recoworld.users.feed.interface.FeedUserModel`.

    """

    def __init__(
        self,
        params: FeedUserParams | None = None,
        *,
        preference: PreferenceModel | None = None,
        response: ResponseModel | None = None,
        duration_bias: DurationBiasModel | None = None,
        position_bias: PositionBiasModel | None = None,
        transition: TransitionModel | None = None,
        leave: LeaveModel | None = None,
        returning: ReturnModel | None = None,
    ) -> None:
        given: dict[str, Any] = {
            "preference": preference,
            "response": response,
            "duration_bias": duration_bias,
            "position_bias": position_bias,
            "transition": transition,
            "leave": leave,
            "returning": returning,
        }
        stock_params = FeedUserParams()
        p = params if params is not None else stock_params
        parts: dict[str, Any] = {}
        for name, protocol, stock in _PARTS:
            part = given[name]
            if part is None:
                parts[name] = stock(getattr(p, name))
                continue
            if getattr(p, name) != getattr(stock_params, name):
                raise ConfigError(
                    f"the {name} part is given twice: as `{name}=` and as `params.{name}`; "
                    f"set its parameters on the part you pass, or pass params only"
                )
            if not isinstance(part, protocol):
                missing = [m for m in _members(protocol) if not hasattr(part, m)]
                raise ConfigError(
                    f"`{name}` must follow {protocol.__name__} (missing {missing}), "
                    f"got {type(part).__name__}"
                )
            parts[name] = part
        self.preference: PreferenceModel = parts["preference"]
        self.response: ResponseModel = parts["response"]
        self.duration_bias: DurationBiasModel = parts["duration_bias"]
        self.position_bias: PositionBiasModel = parts["position_bias"]
        self.transition: TransitionModel = parts["transition"]
        self.leave: LeaveModel = parts["leave"]
        self.returning: ReturnModel = parts["returning"]
        r, ret, lv = self.response.n_uniforms, self.returning.n_uniforms, self.leave.n_uniforms
        #: Uniforms per response: the response's, then the return draw's, then the leave rule's.
        self.n_uniforms = r + ret + lv
        self._u_response = slice(0, r)
        self._u_return = slice(r, r + ret)
        self._u_leave = slice(r + ret, r + ret + lv)
        self._world: FeedWorld | None = None
        self._kernel_args: tuple[Any, ...] | None = None

    @property
    def fused(self) -> bool:
        """Whether :meth:`respond` runs the compiled kernel: every part is a stock one.

        A subclass that changes the sampled response (``_sample``) composes the parts as well.
        """
        stock = all(type(getattr(self, name)) is cls for name, _, cls in _PARTS)
        return stock and type(self)._sample is StatisticalFeedUser._sample

    # -- lifecycle -------------------------------------------------------------------------------

    def bind(self, world: FeedWorld, n_slots: int) -> None:
        """Attach to ``world`` and allocate state for ``n_slots`` users."""
        require_range("n_slots", n_slots, 1)
        self._world = world
        cat, pop = world.catalogue, world.population
        self._embedding = cat.embedding
        self._duration = cat.duration_s
        self._category = cat.category
        self._quality = cat.quality
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
        self._fused = self.fused
        if self._fused:
            self._bind_kernel(world)

    def _bind_kernel(self, world: FeedWorld) -> None:
        """Pack the stock parts for the kernel; what never changes per video is one column."""
        cat, pop = world.catalogue, world.population
        preference, response = self.preference, self.response
        duration_bias = self.duration_bias
        assert isinstance(preference, Preference) and isinstance(response, Response)
        assert isinstance(duration_bias, DurationBias)
        assert isinstance(self.position_bias, PositionBias)
        assert isinstance(self.transition, Transition)
        assert isinstance(self.leave, Leave) and isinstance(self.returning, Return)
        static_logit = (
            response.params.base_logit
            + preference.params.quality_weight * cat.quality
            + duration_bias.logit_shift(cat.duration_s)
        ).astype(np.float32)
        self._state = (
            self.user, self.interest, self.satiation, self.budget, self.depth, self.ratio_sum
        )
        self._world_arrays = (
            cat.embedding, static_logit, cat.category, cat.duration_s, pop.return_propensity
        )
        self._packed = pack_params(
            preference, response, self.position_bias, self.transition, self.leave, self.returning
        )
        self._kernel_args = (*self._state, *self._world_arrays, self._packed)

    @property
    def kernel_arguments(self) -> tuple[Any, ...] | None:
        """When :attr:`fused` (and bound): the compiled response's arguments after its uniforms.

        State, world columns and packed parameters of
        :func:`recoworld.users.feed._kernels.respond_rows`, for a caller that runs the response
        inside its own compiled call (the feed simulator's step); ``None`` otherwise. The same
        tuple object until the next :meth:`bind`.
        """
        return self._kernel_args

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

        ``slots`` is an index array or ``slice(None)`` (every slot, in order). Composed from the
        parts: ``base_logit + affinity + duration shift + position shift - satiation penalty``.
        """
        interest = self.interest[slots]
        pos = self.position_bias.logit_shift(self.depth[slots])
        if items.ndim == 1:
            rows = _rows(slots, items.shape[0])
            sat = self.satiation[rows, self._category[items]]
        else:
            sat = np.take_along_axis(self.satiation[slots], self._category[items], axis=1)
            pos = pos[:, None]
        logit = self.preference.affinity(interest, self._embedding[items], self._quality[items])
        logit = logit + np.float32(self.response.base_logit)
        logit += self.duration_bias.logit_shift(self._duration[items])
        logit += pos
        logit -= self.transition.penalty(sat)
        return np.asarray(logit, dtype=np.float32)

    def _sample(
        self, slots: Slots, items: NDArray[np.intp], u: NDArray[np.float64]
    ) -> tuple[ResponseSample, dict[str, NDArray[np.generic]] | None]:
        """The response part's sample for ``items``; ``u`` holds the response's uniforms."""
        logit = self.logit(slots, items)
        return self.response.from_uniforms(logit, self._duration[items], u), None

    def respond(self, slots: Slots, items: NDArray[np.intp], u: NDArray[np.float64]) -> FeedResponse:
        """Show ``items[i]`` to ``slots[i]``: sample the response and advance the user's state.

        Runs the compiled kernel when every part is a stock one (:attr:`fused`), else
        :meth:`respond_composed`.
        """
        if not self._fused:
            return self.respond_composed(slots, items, u)
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

    def respond_composed(
        self, slots: Slots, items: NDArray[np.intp], u: NDArray[np.float64]
    ) -> FeedResponse:
        """:meth:`respond` as array operations composed from the parts' own methods."""
        sample, info = self._sample(slots, items, u[:, self._u_response])
        ratio = sample.watch_ratio
        every = isinstance(slots, slice)
        sat = self.satiation[slots]  # a view when every slot steps: updated in place
        interest = self.interest[slots]
        self.transition.update(sat, interest, self._category[items], self._embedding[items], ratio)
        if not every:
            self.satiation[slots] = sat
            self.interest[slots] = interest
        budget = self.budget[slots]
        budget -= self.leave.cost(ratio)
        depth = self.depth[slots]
        depth += 1
        ratio_sum = self.ratio_sum[slots]
        ratio_sum += ratio
        if not every:
            self.budget[slots] = budget
            self.depth[slots] = depth
            self.ratio_sum[slots] = ratio_sum
        leave = np.asarray(self.leave.leaves(budget, depth, u[:, self._u_leave]), dtype=np.bool_)
        days = np.zeros(items.shape[0], dtype=np.int64)
        if leave.any():  # the return draw is used only by leavers (its uniforms are consumed anyway)
            who = np.flatnonzero(leave)
            satisfaction = np.minimum(
                ratio_sum[who] / depth[who], self.response.max_watch_ratio
            ).astype(np.float32)
            days[who] = self.returning.days(
                satisfaction, self._propensity[self.user[slots][who]], u[who][:, self._u_return]
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
            patience_cost=self.leave.cost(ratio),
        )
