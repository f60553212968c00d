"""Tiny feed worlds and fixtures for the feed tests."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from recoworld.datasets.feed_world import FeedWorld, UserPopulation, VideoCatalogue
from recoworld.datasets.kuairec import KUAIREC_COLUMNS


def tiny_feed_world(
    durations: list[float] | None = None, categories: list[int] | None = None, n_users: int = 3
) -> FeedWorld:
    """Items with identical embeddings and quality unless told otherwise: only what a test varies
    (duration, category) differs between them."""
    durations = durations or [10.0, 30.0, 60.0, 120.0, 300.0, 600.0]
    n = len(durations)
    categories = categories or [i % 3 for i in range(n)]
    emb = np.zeros((n, 4), dtype=np.float32)
    emb[:, 0] = 1.0
    interest = np.zeros((n_users, 4), dtype=np.float32)
    interest[:, 0] = 1.0
    catalogue = VideoCatalogue(
        video_ids=np.arange(100, 100 + n, dtype=np.int64),
        duration_s=np.asarray(durations, dtype=np.float32),
        category=np.asarray(categories, dtype=np.int64),
        category_names=tuple(f"c{i}" for i in range(max(categories) + 1)),
        quality=np.zeros(n, dtype=np.float32),
        upload_day=np.zeros(n, dtype=np.int64),
        embedding=emb,
        popularity=np.linspace(-1, 1, n).astype(np.float32),
    )
    population = UserPopulation(
        user_ids=np.arange(n_users, dtype=np.int64),
        interest=interest,
        profile=interest.copy(),
        activity=np.full(n_users, 0.5, dtype=np.float32),
        patience=np.full(n_users, 5.0, dtype=np.float32),
        return_propensity=np.ones(n_users, dtype=np.float32),
        features=np.full((n_users, 1), 0.5, dtype=np.float32),
        feature_names=("activity",),
    )
    return FeedWorld(name="tiny", catalogue=catalogue, population=population)


def write_kuairec_fixture(path: Path, n_users: int = 12, n_items: int = 20, seed: int = 0,
                          drop: int = 3, duplicate: int = 2) -> np.ndarray:
    """Write a KuaiRec-format matrix (real column order and types); returns the true ratios
    (n_users, n_items) with NaN where a pair was dropped."""
    rng = np.random.default_rng(seed)
    ratio = np.round(rng.gamma(2.0, 0.45, size=(n_users, n_items)), 4)
    duration_ms = rng.integers(5_000, 300_000, size=n_items)
    rows = []
    truth = ratio.astype(np.float64).copy()
    dropped = {(int(u), int(i)) for u, i in zip(rng.integers(0, n_users, drop),
                                                 rng.integers(0, n_items, drop), strict=True)}
    for u in range(n_users):
        for i in range(n_items):
            if (u, i) in dropped:
                truth[u, i] = np.nan
                continue
            play = int(ratio[u, i] * duration_ms[i])
            ts = 1593878400.0 + 3600 * u + i
            rows.append(f"{u},{1000 + i},{play},{duration_ms[i]},2020-07-05 00:00:{i:02d}.000,"
                        f"20200705,{ts},{ratio[u, i]}")
    # Pairs logged twice with the same ratio (real logs have repeated views).
    rows.extend(rows[:duplicate])
    path.write_text(",".join(KUAIREC_COLUMNS) + "\n" + "\n".join(rows) + "\n")
    return truth
