"""The small interface between the feed environments and a user model (statistical or LLM).

The environments simulate ``n_slots`` users side by side (1 for a single environment, N for the
vector environment) and talk to the user model in batches: every array argument holds one row per
addressed slot. A user model owns all per-user mutable state (interest, patience, ...); the
environment owns the candidate pools, the history window and the random stream.

Randomness: the environment hands the model uniforms in ``[0, 1)`` drawn from each slot's
``numpy.random.Generator`` (``u`` arrays, ``n_uniforms`` columns per call). A model must take all
its randomness from them (an LLM-backed model can turn them into a request seed); this is what makes
a vector environment reproduce N single environments exactly.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import numpy as np
from numpy.typing import NDArray

from recoworld.datasets.feed_world import FeedWorld

__all__ = ["ExpectedOutcome", "FeedResponse", "FeedUserModel", "Slots"]

#: Addressed slots: an index array, or ``slice(None)`` meaning every slot in order (the fast path
#: the environments take when every simulated user steps; arrays indexed with it are views).
Slots = NDArray[np.intp] | slice


@dataclass(frozen=True)
class FeedResponse:
    """What each addressed user did with the video shown (arrays of shape ``(n,)``).

    Attributes:
        watch_ratio: seconds watched / video duration (may exceed 1: replays).
        watch_time: seconds watched.
        like: whether the user liked the video.
        skip: whether the user swiped away almost at once.
        leave: whether the user ends the session after this video.
        return_days: where ``leave``: days until the next session (>= 1); 0 elsewhere.
        info: optional extra per-user arrays, merged into the environment's step ``info``.

    """

    watch_ratio: NDArray[np.float32]
    watch_time: NDArray[np.float32]
    like: NDArray[np.bool_]
    skip: NDArray[np.bool_]
    leave: NDArray[np.bool_]
    return_days: NDArray[np.int64]
    info: Mapping[str, NDArray[np.generic]] | None = None


@dataclass(frozen=True)
class ExpectedOutcome:
    """True expected outcome of each candidate for each user (arrays of shape ``(n, K)``)."""

    watch_ratio: NDArray[np.float32]
    watch_time: NDArray[np.float32]
    patience_cost: NDArray[np.float32]


@runtime_checkable
class FeedUserModel(Protocol):
    """A user model the feed environments can drive.

    Call order: ``bind`` once; then per slot ``reset`` (a new person), ``respond`` once per video,
    and ``start_session`` when a returning user opens the app again (multi-session episodes).
    """

    #: Uniforms one ``respond`` call consumes per user (fixed).
    n_uniforms: int

    def bind(self, world: FeedWorld, n_slots: int) -> None:
        """Attach the model to a world and allocate state for ``n_slots`` simultaneous users."""

    def reset(self, slots: Slots, users: NDArray[np.intp]) -> None:
        """Start fresh users: slot ``slots[i]`` becomes population row ``users[i]``."""

    def start_session(self, slots: Slots, days_away: NDArray[np.int64]) -> None:
        """The users in ``slots`` come back after ``days_away`` days for a new session."""

    def respond(
        self, slots: Slots, items: NDArray[np.intp], u: NDArray[np.float64]
    ) -> FeedResponse:
        """Show catalogue row ``items[i]`` to slot ``slots[i]``; ``u`` is ``(n, n_uniforms)``."""

    def expected(self, slots: Slots, candidates: NDArray[np.intp]) -> ExpectedOutcome:
        """True expected outcome of each candidate (``(n, K)`` catalogue rows); for oracles."""
