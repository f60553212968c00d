"""Candidate retrieval for the feed: fixed-size pools from precomputed per-segment lists.

A real feed ranks a few hundred candidates that a cheap retrieval stage picked from the catalogue.
:class:`SegmentRetriever` imitates it without per-step catalogue scans: at construction it ranks the
catalogue once per category (segment) by closeness to the category's centroid, once by popularity,
and lists the cold-start videos; each user reads its closest segments (from its observable
profile), the popular list and the fresh list through a window that slides every step from a
random start drawn at reset. Pools may repeat a video that sits in two lists; the agent sees both.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from recoworld._validate import require_range
from recoworld.datasets.feed_world import FeedWorld
from recoworld.envs._feed_kernels import pools_kernel, start_pools_kernel
from recoworld.errors import ConfigError
from recoworld.users.feed.interface import Slots

__all__ = ["RetrieverConfig", "SegmentRetriever"]


@dataclass(frozen=True)
class RetrieverConfig:
    """How a candidate pool is made up.

    Attributes:
        per_segment: videos taken from the user's closest, second closest, ... segment.
        n_popular: videos taken from the popularity list.
        n_fresh: videos taken from the cold-start list.
        list_length: length of each precomputed list (capped at the catalogue size).

    """

    per_segment: tuple[int, ...] = (8, 4)
    n_popular: int = 2
    n_fresh: int = 2
    list_length: int = 256

    def __post_init__(self) -> None:
        counts = (*self.per_segment, self.n_popular, self.n_fresh)
        if any(c < 0 for c in counts) or sum(counts) < 1:
            raise ConfigError(
                f"RetrieverConfig counts must be >= 0 and sum to >= 1, got per_segment="
                f"{self.per_segment}, n_popular={self.n_popular}, n_fresh={self.n_fresh}"
            )
        require_range("list_length", self.list_length, 1, owner="RetrieverConfig")

    @property
    def pool_size(self) -> int:
        """Number of candidates per step (K)."""
        return sum(self.per_segment) + self.n_popular + self.n_fresh


class SegmentRetriever:
    """Fixed-size candidate pools for ``n_slots`` users, all per-step work in arrays."""

    def __init__(self, world: FeedWorld, config: RetrieverConfig, n_slots: int) -> None:
        cat = world.catalogue
        n_items, n_cat = cat.n_items, cat.n_categories
        length = min(config.list_length, n_items)
        self.config = config
        self.pool_size = config.pool_size
        centroid = np.zeros((n_cat, cat.dim), dtype=np.float64)
        np.add.at(centroid, cat.category, cat.embedding.astype(np.float64))
        centroid /= np.maximum(np.linalg.norm(centroid, axis=1, keepdims=True), 1e-12)
        self.centroid = centroid.astype(np.float32)
        closeness = self.centroid @ cat.embedding.T  # (C, n_items), once
        seg_lists = np.argsort(-closeness, axis=1, kind="stable")[:, :length]
        is_new = cat.is_new
        old = np.flatnonzero(~is_new) if (~is_new).any() else np.arange(n_items)
        popular = old[np.argsort(-cat.popularity[old], kind="stable")]
        fresh = np.flatnonzero(is_new) if is_new.any() else np.arange(n_items)
        lists = [*seg_lists, np.resize(popular, length), np.resize(fresh, length)]
        #: All lists, padded to one length by cycling: rows 0..C-1 segments, C popular, C+1 fresh.
        self.lists = np.stack(lists).astype(np.intp)
        self.length = length
        n_seg = len(config.per_segment)
        if n_seg > n_cat:
            raise ConfigError(
                f"RetrieverConfig.per_segment has {n_seg} entries but the world has only {n_cat} "
                "categories; use at most that many"
            )
        # Each user's closest segments, from the observable profile (never the latent interest).
        affinity = world.population.profile @ self.centroid.T
        self.user_segments = np.argsort(-affinity, axis=1, kind="stable")[:, :n_seg].astype(np.intp)
        # Per pool position: which of the user's sources (segment j, popular, fresh), the count of
        # that source per step, and the rank within its block.
        counts = [*config.per_segment, config.n_popular, config.n_fresh]
        source = np.repeat(np.arange(len(counts)), counts)
        self._source = source.astype(np.intp)
        #: Per pool position: how far its window slides each step (its source's count per pool).
        self.count = np.asarray(counts, dtype=np.int64)[source]
        starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
        self._rank = (np.arange(self.pool_size) - starts[source]).astype(np.int64)
        self.n_sources = len(counts)
        self._fixed_lists = np.array([n_cat, n_cat + 1], dtype=np.intp)
        self.list_rows = np.zeros((n_slots, self.pool_size), dtype=np.intp)
        self.base_pos = np.zeros((n_slots, self.pool_size), dtype=np.int64)
        self._all = np.arange(n_slots, dtype=np.intp)
        #: What a reset reads (:func:`~recoworld.envs._feed_kernels.start_pools_kernel`): each
        #: user's segments, the fixed lists, per pool position its source and rank, list length.
        self.start_tables = (
            self.user_segments, self._fixed_lists, self._source, self._rank, self.length
        )

    #: Uniforms a reset consumes per user: one start offset per source.
    @property
    def n_uniforms(self) -> int:
        """Uniforms one reset consumes per user (one random start per source)."""
        return self.n_sources

    def reset(self, slots: Slots, users: NDArray[np.intp], u: NDArray[np.float64]) -> None:
        """Give slots their users' lists and random window starts (``u``: ``(n, n_uniforms)``)."""
        rows = self._all if isinstance(slots, slice) else np.asarray(slots, dtype=np.intp)
        start_pools_kernel(
            rows, np.asarray(users, dtype=np.intp), u, *self.start_tables, self.list_rows,
            self.base_pos,
        )

    def candidates(self, slots: Slots, step: NDArray[np.int64]) -> NDArray[np.intp]:
        """Catalogue rows of the ``(n, K)`` pools at the given per-slot step counters."""
        pos = (self.base_pos[slots] + step[:, None] * self.count) % self.length
        return np.asarray(self.lists[self.list_rows[slots], pos])

    def fill(
        self, slots: Slots, step: NDArray[np.int64], out: NDArray[np.intp], advance: int = 0
    ) -> None:
        """Add ``advance`` to ``step[slot]``, then write the pools at those steps into ``out[slot]``."""
        rows = self._all if isinstance(slots, slice) else np.asarray(slots, dtype=np.intp)
        pools_kernel(
            rows, step, self.base_pos, self.list_rows, self.count, self.lists, self.length, out,
            advance,
        )
