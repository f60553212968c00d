"""Item scorers: how conversational agents rank candidate items for a recommendation."""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt

from recoworld.datasets.world import AttributeGraphWorld

__all__ = ["ItemScorer", "PopularityScorer", "top_items"]


@runtime_checkable
class ItemScorer(Protocol):
    """Scores candidate items for a user given the conversation so far (higher is better)."""

    def scores(
        self,
        user: int,
        accepted: npt.NDArray[np.int8],
        rejected: npt.NDArray[np.int8],
        candidates: npt.NDArray[np.int64],
    ) -> npt.NDArray[np.float64]:
        """One score per candidate."""
        ...


class PopularityScorer:
    """Ranks items by their number of training interactions (the rule baselines' prior)."""

    def __init__(self, world: AttributeGraphWorld) -> None:
        self._popularity = world.item_popularity()
        self._popularity.flags.writeable = False

    @property
    def popularity(self) -> npt.NDArray[np.float64]:
        """Training popularity of every item (read-only): the score of each item id."""
        return self._popularity

    def scores(
        self,
        user: int,
        accepted: npt.NDArray[np.int8],
        rejected: npt.NDArray[np.int8],
        candidates: npt.NDArray[np.int64],
    ) -> npt.NDArray[np.float64]:
        """Training popularity of each candidate."""
        out: npt.NDArray[np.float64] = self._popularity[candidates]
        return out


def top_items(
    candidates: npt.NDArray[np.int64], scores: npt.NDArray[np.float64], k: int
) -> npt.NDArray[np.int64]:
    """The ``k`` best candidates by score, best first; ties broken by the smaller item id."""
    if candidates.size <= k:
        order = np.lexsort((candidates, -scores))
        return candidates[order]
    part = np.argpartition(-scores, k - 1)[:k]
    # Include every candidate tied with the k-th score so the tie-break by id is exact.
    kth = scores[part].min()
    pool = np.flatnonzero(scores >= kth)
    order = np.lexsort((candidates[pool], -scores[pool]))[:k]
    return candidates[pool[order]]
