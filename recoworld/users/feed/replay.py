"""The replay feed user: answers with real recorded watch ratios (KuaiRec's fully observed matrix)."""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from recoworld.datasets.feed_world import FeedWorld
from recoworld.errors import ConfigError
from recoworld.users.feed.interface import ExpectedOutcome, Slots
from recoworld.users.feed.response import Response, ResponseSample
from recoworld.users.feed.statistical import StatisticalFeedUser

__all__ = ["ReplayFeedUser"]


class ReplayFeedUser(StatisticalFeedUser):
    """A statistical user whose watch ratio is the recorded one wherever the pair was observed.

    The recorded ratio replaces the modelled one (it already carries every real bias); likes, leave
    and return follow the statistical parts driven by that ratio. Where the pair was not observed
    (KuaiRec's small matrix is 99.6 % dense) the modelled ratio is used and
    ``info["recorded"]`` is False, so nothing is filled in silently. Takes the arguments of
    :class:`StatisticalFeedUser`; its response part must be a :class:`Response` (stock or a
    subclass), whose ``skip_ratio`` classifies the recorded ratios.
    """

    _recorded: NDArray[np.float32] | None = None

    def bind(self, world: FeedWorld, n_slots: int) -> None:
        """Attach to a replay world (one with ``recorded_watch_ratio``)."""
        if not isinstance(self.response, Response):
            raise ConfigError(
                f"ReplayFeedUser needs a Response (or a subclass) as its response part, to read "
                f"its skip_ratio; got {type(self.response).__name__}"
            )
        if world.recorded_watch_ratio is None:
            raise ConfigError(
                f"ReplayFeedUser needs a world with recorded_watch_ratio, got world "
                f"{world.name!r} without one; load it with recoworld.datasets.kuairec"
            )
        super().bind(world, n_slots)
        self._recorded = world.recorded_watch_ratio
        self._skip_ratio = self.response.params.skip_ratio

    def _lookup(self, slots: Slots, items: NDArray[np.intp]) -> NDArray[np.float32]:
        assert self._recorded is not None
        users = self.user[slots]
        if items.ndim == 2:
            return self._recorded[users[:, None], items]
        return self._recorded[users, items]

    def _sample(
        self, slots: Slots, items: NDArray[np.intp], u: NDArray[np.float64]
    ) -> tuple[ResponseSample, dict[str, NDArray[np.generic]] | None]:
        model, _ = super()._sample(slots, items, u)
        rec = self._lookup(slots, items)
        seen = np.isfinite(rec)
        ratio = np.where(seen, rec, model.watch_ratio).astype(np.float32)
        sample = ResponseSample(
            watch_ratio=ratio,
            watch_time=(ratio * self._duration[items]).astype(np.float32),
            like=model.like,
            skip=np.asarray(ratio < self._skip_ratio),
        )
        return sample, {"recorded": seen}

    def expected(self, slots: Slots, candidates: NDArray[np.intp]) -> ExpectedOutcome:
        """Recorded ratios where observed (the replay is deterministic), modelled elsewhere."""
        model = super().expected(slots, candidates)
        rec = self._lookup(slots, candidates)
        ratio = np.where(np.isfinite(rec), rec, model.watch_ratio).astype(np.float32)
        return ExpectedOutcome(
            watch_ratio=ratio,
            watch_time=(ratio * self._duration[candidates]).astype(np.float32),
            patience_cost=self.leave.cost(ratio),
        )
