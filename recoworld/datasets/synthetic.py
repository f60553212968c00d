"""Synthetic attribute-graph worlds with realistic structure, and the bundled default world.

Structure: users and items belong to latent taste clusters; each cluster favours a few attributes,
so an item's attributes (and a user's liked attributes) predict who interacts with it. Item
popularity is Zipf-skewed, users' activity is log-normal, and friends share clusters. Each user's
interactions are split 70 / 15 / 15 into train / valid / test sessions.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp

from recoworld._validate import require_range
from recoworld.datasets.world import AttributeGraphWorld, QuestionMode

__all__ = ["SyntheticWorldConfig", "default_world", "make_synthetic_world"]


@dataclass(frozen=True)
class SyntheticWorldConfig:
    """Sizes and shape of a synthetic world.

    Attributes:
        n_users: Number of users.
        n_items: Number of items.
        n_attributes: Number of attributes (ignored by :func:`make_taxonomy_world`).
        n_clusters: Number of latent taste clusters.
        attributes_per_item: Mean number of attributes an item holds (at least 1).
        interactions_per_user: Mean number of interactions per user (at least 3).
        in_cluster_prob: Probability that an interaction or attribute comes from the user's or
            item's own cluster rather than from the whole catalogue.
        popularity_exponent: Zipf exponent of item popularity.
        friends_per_user: Mean number of friends (drawn within the user's cluster).

    """

    n_users: int = 400
    n_items: int = 1500
    n_attributes: int = 40
    n_clusters: int = 8
    attributes_per_item: float = 4.0
    interactions_per_user: float = 20.0
    in_cluster_prob: float = 0.8
    popularity_exponent: float = 0.8
    friends_per_user: float = 5.0

    def __post_init__(self) -> None:
        for name in ("n_users", "n_items", "n_attributes", "n_clusters", "attributes_per_item"):
            require_range(name, getattr(self, name), 1)
        require_range("interactions_per_user", self.interactions_per_user, 3)
        require_range("in_cluster_prob", self.in_cluster_prob, 0, 1)


def _cluster_attribute_probs(
    rng: np.random.Generator, n_clusters: int, allowed: npt.NDArray[np.int64], n_attr: int
) -> npt.NDArray[np.float64]:
    """Each cluster favours a small random subset of the allowed attributes."""
    probs = np.zeros((n_clusters, n_attr))
    focus = max(2, allowed.size // max(n_clusters, 1))
    for c in range(n_clusters):
        favoured = rng.choice(allowed, size=min(focus, allowed.size), replace=False)
        probs[c, allowed] = 0.2 / allowed.size
        probs[c, favoured] += 0.8 / favoured.size
    out: npt.NDArray[np.float64] = probs / probs.sum(axis=1, keepdims=True)
    return out


def _draw_items_attributes(
    rng: np.random.Generator,
    item_cluster: npt.NDArray[np.int64],
    cluster_probs: npt.NDArray[np.float64],
    mean_attrs: float,
) -> sp.csr_matrix:
    n_items = item_cluster.size
    n_attr = cluster_probs.shape[1]
    k = 1 + rng.poisson(mean_attrs - 1.0, size=n_items)
    rows = np.repeat(np.arange(n_items), k)
    # Inverse-CDF sampling per row of the item's cluster distribution, vectorised.
    cdf = np.cumsum(cluster_probs, axis=1)
    u = rng.random(rows.size)
    cols = (u[:, None] > cdf[item_cluster[rows]]).sum(axis=1)
    cols = np.minimum(cols, n_attr - 1)
    m = sp.csr_matrix((np.ones(rows.size, dtype=np.bool_), (rows, cols)), shape=(n_items, n_attr))
    m.sum_duplicates()
    return m


def _draw_interactions(
    rng: np.random.Generator,
    cfg: SyntheticWorldConfig,
    user_cluster: npt.NDArray[np.int64],
    item_cluster: npt.NDArray[np.int64],
) -> list[npt.NDArray[np.int64]]:
    n_items = item_cluster.size
    pop = (1.0 + rng.permutation(n_items)) ** -cfg.popularity_exponent
    n_per_user = np.maximum(
        3, rng.lognormal(np.log(cfg.interactions_per_user) - 0.125, 0.5, size=cfg.n_users)
    ).astype(np.int64)
    n_per_user = np.minimum(n_per_user, n_items // 2)
    by_cluster = [np.flatnonzero(item_cluster == c) for c in range(cfg.n_clusters)]
    global_p = pop / pop.sum()
    out: list[npt.NDArray[np.int64]] = []
    for u in range(cfg.n_users):
        members = by_cluster[user_cluster[u]]
        p = (1.0 - cfg.in_cluster_prob) * global_p
        if members.size:
            p[members] += cfg.in_cluster_prob * pop[members] / pop[members].sum()
        else:
            p = global_p
        out.append(rng.choice(n_items, size=int(n_per_user[u]), replace=False, p=p / p.sum()))
    return out


def _assemble(
    name: str,
    rng: np.random.Generator,
    cfg: SyntheticWorldConfig,
    item_attributes: sp.csr_matrix,
    user_cluster: npt.NDArray[np.int64],
    item_cluster: npt.NDArray[np.int64],
    attribute_names: tuple[str, ...],
    question_mode: QuestionMode,
    parent_children: sp.csr_matrix | None,
    parent_names: tuple[str, ...],
) -> AttributeGraphWorld:
    n_users, n_items = cfg.n_users, item_cluster.size
    per_user = _draw_interactions(rng, cfg, user_cluster, item_cluster)
    splits: dict[str, list[tuple[int, int]]] = {"train": [], "valid": [], "test": []}
    rows, cols = [], []
    for u, items in enumerate(per_user):
        n = items.size
        n_valid = max(1, round(0.15 * n))
        n_test = max(1, round(0.15 * n))
        n_train = n - n_valid - n_test
        splits["train"].extend((u, int(v)) for v in items[:n_train])
        splits["valid"].extend((u, int(v)) for v in items[n_train : n_train + n_valid])
        splits["test"].extend((u, int(v)) for v in items[n_train + n_valid :])
        rows.extend([u] * n)
        cols.extend(items.tolist())
    ones = np.ones(len(rows), dtype=np.bool_)
    user_items = sp.csr_matrix((ones, (rows, cols)), shape=(n_users, n_items))
    tr = np.asarray(splits["train"], dtype=np.int64)
    user_items_train = sp.csr_matrix(
        (np.ones(len(tr), dtype=np.bool_), (tr[:, 0], tr[:, 1])), shape=(n_users, n_items)
    )
    # Liked attributes: the attributes held by at least two of the user's training items.
    counts = (user_items_train.astype(np.int32) @ item_attributes.astype(np.int32)).tocsr()
    counts.data = (counts.data >= 2).astype(np.int32)
    counts.eliminate_zeros()
    user_attributes = counts.astype(np.bool_)
    # Friends: a few random users of the same cluster, symmetric.
    f_rows, f_cols = [], []
    by_cluster = [np.flatnonzero(user_cluster == c) for c in range(cfg.n_clusters)]
    k = rng.poisson(cfg.friends_per_user, size=n_users)
    for u in range(n_users):
        pool = by_cluster[user_cluster[u]]
        pool = pool[pool != u]
        if pool.size and k[u]:
            fr = rng.choice(pool, size=min(int(k[u]), pool.size), replace=False)
            f_rows.extend([u] * fr.size)
            f_cols.extend(fr.tolist())
    friends = sp.csr_matrix(
        (np.ones(len(f_rows), dtype=np.bool_), (f_rows, f_cols)), shape=(n_users, n_users)
    )
    friends = (friends + friends.T).tocsr()
    return AttributeGraphWorld(
        name=name,
        item_attributes=item_attributes,
        user_items=user_items,
        user_items_train=user_items_train,
        friends=friends,
        user_attributes=user_attributes,
        sessions={s: np.asarray(p, dtype=np.int64) for s, p in splits.items()},
        attribute_names=attribute_names,
        question_mode=question_mode,
        parent_children=parent_children,
        parent_names=parent_names,
        synthetic=True,
    )


def make_synthetic_world(
    config: SyntheticWorldConfig | None = None, seed: int = 0, name: str = "synthetic"
) -> AttributeGraphWorld:
    """Generate a binary-question world from ``config``, deterministically from ``seed``."""
    cfg = config or SyntheticWorldConfig()
    rng = np.random.default_rng(seed)
    n_attr = cfg.n_attributes
    user_cluster = rng.integers(cfg.n_clusters, size=cfg.n_users)
    item_cluster = rng.integers(cfg.n_clusters, size=cfg.n_items)
    cluster_probs = _cluster_attribute_probs(rng, cfg.n_clusters, np.arange(n_attr), n_attr)
    item_attributes = _draw_items_attributes(
        rng, item_cluster, cluster_probs, cfg.attributes_per_item
    )
    names = tuple(f"attribute_{a}" for a in range(n_attr))
    return _assemble(
        name, rng, cfg, item_attributes, user_cluster, item_cluster, names, "binary", None, ()
    )


@functools.lru_cache(maxsize=1)
def default_world() -> AttributeGraphWorld:
    """The bundled default world: synthetic, built deterministically, no external file needed."""
    return make_synthetic_world(SyntheticWorldConfig(), seed=0, name="synthetic")
