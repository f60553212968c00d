"""A synthetic Yelp world at the published scale, on the real 29-parent / 590-child taxonomy.

When only the taxonomy of the authors' Yelp release is present (the item and interaction files are
not), ``recoworld/Yelp-CRS-v0`` and ``recoworld/YelpStar-CRS-v0`` run on this world, and every
evaluation output says ``"synthetic": true``. It is built to the published statistics of the
release (SCPR / UNICORN): 27,675 users, 70,311 items, about 1,368,606 interactions (valid and test
211,319 pairs each, the rest train), 590 attributes under 29 parents.

Attributes per item follow what the taxonomy and its id maps tell about the real items: each item
holds exactly one ``city_*`` child (214 cities, Zipf-skewed as businesses concentrate in a few
metros), exactly one ``star_*`` level, at most one ``price_*`` level, and one or more categories
(the 367 category ids of ``ID_map_info/category_map.json``, 73 of them outside the taxonomy, as in
the release). Category ids are numbered in order of first appearance in the real data, so their
popularity is Zipf over the id order; each item's taste cluster favours the children of a few
category parents. The mean number of categories and the price and star frequencies are set from
the first items of the published ``item_dict-original_tag.json`` (see :class:`YelpWorldConfig`).

Users live in a home city and belong to a taste cluster; most of a user's interactions fall in the
home city and, within it, in the user's cluster, by Zipf item popularity. Generation is vectorised
(no Python loop over users or items): the full-size world takes about 19 s and 200 MB on this
project's 2-core machine at load average 17 (a few seconds when quiet).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp

from recoworld.datasets.crs_loader import _names, load_taxonomy
from recoworld.datasets.world import AttributeGraphWorld, QuestionMode
from recoworld.errors import ConfigError, DataError

__all__ = ["YelpWorldConfig", "make_yelp_world"]

_I64 = npt.NDArray[np.int64]
_F64 = npt.NDArray[np.float64]


@dataclass(frozen=True)
class YelpWorldConfig:
    """Sizes and shape of the synthetic Yelp world (defaults: the published Yelp statistics).

    Attributes:
        n_users: Users (published: 27,675).
        n_items: Items (published: 70,311).
        n_interactions: Target number of user-item interactions (published: 1,368,606); the
            generated count is within a fraction of a percent of it.
        eval_fraction: Share of each user's interactions in valid, and again in test (published:
            211,319 / 1,368,606 each); every user keeps at least one of each and one to train on.
        n_clusters: Taste clusters of users and items.
        home_city_prob: Share of a user's interactions drawn from the home city.
        in_cluster_prob: Share of an item's categories, and of a user's home-city interactions,
            drawn from the own cluster.
        mean_categories: Mean number of category attributes per item (at least 1). Published
            sample: 3.6 over the first 42 items of the release (6.5 attributes with city, star and
            price).
        price_prob: Probability that an item holds a price level (sample: 36 of 42).
        star_probs: Probabilities of star levels 1..5 (sample: 3, 10, 11, 18, 0 of 42; level 5
            is kept rare, not impossible).
        city_exponent: Zipf exponent of the number of items per city.
        popularity_exponent: Zipf exponent of item popularity.
        category_exponent: Zipf exponent of category popularity over the category id order.

    """

    n_users: int = 27_675
    n_items: int = 70_311
    n_interactions: int = 1_368_606
    eval_fraction: float = 211_319 / 1_368_606
    n_clusters: int = 12
    home_city_prob: float = 0.9
    in_cluster_prob: float = 0.6
    mean_categories: float = 3.6
    price_prob: float = 36 / 42
    star_probs: tuple[float, float, float, float, float] = (0.07, 0.24, 0.26, 0.40, 0.03)
    city_exponent: float = 1.0
    popularity_exponent: float = 0.8
    category_exponent: float = 1.0

    def __post_init__(self) -> None:
        for name in ("n_users", "n_items", "n_clusters"):
            if getattr(self, name) < 1:
                raise ConfigError(f"`{name}` must be >= 1, got {getattr(self, name)}")
        if self.n_interactions < 3 * self.n_users:
            raise ConfigError(
                f"`n_interactions` must be >= 3 x n_users = {3 * self.n_users} (train, valid and "
                f"test need one each), got {self.n_interactions}"
            )
        if self.n_interactions > self.n_users * self.n_items // 2:
            raise ConfigError(
                f"`n_interactions` must be <= n_users x n_items / 2, got {self.n_interactions}"
            )
        if not 0.0 < self.eval_fraction < 0.5:
            raise ConfigError(f"`eval_fraction` must be in (0, 0.5), got {self.eval_fraction}")
        for name in ("home_city_prob", "in_cluster_prob", "price_prob"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ConfigError(f"`{name}` must be in [0, 1], got {getattr(self, name)}")
        if self.mean_categories < 1.0:
            raise ConfigError(f"`mean_categories` must be >= 1, got {self.mean_categories}")
        probs = np.asarray(self.star_probs, dtype=np.float64)
        if probs.shape != (5,) or (probs < 0).any() or not np.isclose(probs.sum(), 1.0):
            raise ConfigError(f"`star_probs` must be 5 non-negative numbers summing to 1, got {self.star_probs}")
        for name in ("city_exponent", "popularity_exponent", "category_exponent"):
            if not getattr(self, name) >= 0.0:
                raise ConfigError(f"`{name}` must be >= 0, got {getattr(self, name)}")


def _zipf(n: int, exponent: float) -> _F64:
    w: _F64 = (1.0 + np.arange(n, dtype=np.float64)) ** -exponent
    out: _F64 = w / w.sum()
    return out


def _children(parent_children: sp.csr_matrix, names: tuple[str, ...], parent: str) -> _I64:
    if parent not in names:
        raise DataError(f"the Yelp taxonomy has no parent {parent!r}; parents: {list(names)}")
    p = names.index(parent)
    out: _I64 = parent_children.indices[
        parent_children.indptr[p] : parent_children.indptr[p + 1]
    ].astype(np.int64)
    return np.sort(out)


def _grouped_sampler(keys: _I64, weights: _F64, n_groups: int) -> tuple[_I64, _I64, _I64, _F64]:
    """Items sorted by group key, each group's [start, end) and cumulative weights."""
    order = np.argsort(keys, kind="stable").astype(np.int64)
    counts = np.bincount(keys, minlength=n_groups).astype(np.int64)
    end: _I64 = np.cumsum(counts).astype(np.int64)
    start: _I64 = end - counts
    before: _F64 = np.concatenate([[0.0], np.cumsum(weights[order])]).astype(np.float64)
    return order, start, end, before


def _draw_in_groups(
    rng: np.random.Generator,
    groups: _I64,
    sampler: tuple[_I64, _I64, _I64, _F64],
) -> _I64:
    """One item per entry of ``groups``, by weight within the group (groups must be non-empty)."""
    order, start, end, before = sampler
    lo = before[start[groups]]
    hi = before[end[groups]]
    target = lo + rng.random(groups.size) * (hi - lo)
    pos = np.searchsorted(before[1:], target, side="right")
    pos = np.clip(pos, start[groups], end[groups] - 1)
    out: _I64 = order[pos]
    return out


def _item_attributes(
    rng: np.random.Generator,
    cfg: YelpWorldConfig,
    item_city: _I64,
    item_cluster: _I64,
    parent_children: sp.csr_matrix,
    parent_names: tuple[str, ...],
    categories: _I64,
    n_attr: int,
) -> sp.csr_matrix:
    n = cfg.n_items
    stars = _children(parent_children, parent_names, "stars")
    prices = _children(parent_children, parent_names, "price")
    if stars.size != 5:
        raise DataError(f"the Yelp taxonomy's 'stars' parent must hold 5 levels, got {stars.size}")
    rows = [np.arange(n), np.arange(n)]
    cols = [item_city, stars[rng.choice(5, size=n, p=np.asarray(cfg.star_probs))]]
    has_price = rng.random(n) < cfg.price_prob
    rows.append(np.flatnonzero(has_price))
    cols.append(prices[rng.integers(prices.size, size=int(has_price.sum()))])
    # Categories: a global Zipf over the category id order, and per cluster a few favoured
    # category parents whose children the cluster's items hold more often.
    global_p = _zipf(categories.size, cfg.category_exponent)
    fixed = {"city", "stars", "price"}
    category_parents = [i for i, p in enumerate(parent_names) if p not in fixed]
    in_parent = [
        np.intersect1d(
            parent_children.indices[parent_children.indptr[p] : parent_children.indptr[p + 1]],
            categories,
        )
        for p in category_parents
    ]
    position = np.full(n_attr, -1, dtype=np.int64)
    position[categories] = np.arange(categories.size)
    cluster_p = np.zeros((cfg.n_clusters, categories.size))
    for c in range(cfg.n_clusters):
        chosen = rng.choice(len(category_parents), size=min(2, len(category_parents)), replace=False)
        favoured = np.unique(np.concatenate([in_parent[i] for i in chosen]))
        if favoured.size:
            w = _zipf(favoured.size, cfg.category_exponent)
            cluster_p[c, position[favoured]] += cfg.in_cluster_prob * w
        cluster_p[c] += (1.0 - cfg.in_cluster_prob if favoured.size else 1.0) * global_p
    k = 1 + rng.poisson(cfg.mean_categories - 1.0, size=n)
    slot_item = np.repeat(np.arange(n), k)
    slot_cluster = item_cluster[slot_item]
    slot_cat = np.empty(slot_item.size, dtype=np.int64)
    for c in range(cfg.n_clusters):  # one inverse-CDF draw per cluster (not per item)
        idx = np.flatnonzero(slot_cluster == c)
        if idx.size:
            cdf = np.cumsum(cluster_p[c])
            u = rng.random(idx.size) * cdf[-1]
            slot_cat[idx] = np.minimum(np.searchsorted(cdf, u, side="right"), categories.size - 1)
    rows.append(slot_item)
    cols.append(categories[slot_cat])
    r = np.concatenate(rows)
    c_ = np.concatenate(cols)
    m = sp.csr_matrix((np.ones(r.size, dtype=np.bool_), (r, c_)), shape=(n, n_attr))
    m.sum_duplicates()
    return m


def _first_occurrences(key: _I64) -> _I64:
    """Positions of the first occurrence of each distinct value of ``key``, in position order.

    (Sort-based: numpy's hash-based ``unique`` is far slower on these int64 keys.)
    """
    order = np.argsort(key, kind="stable")
    sorted_key = key[order]
    new = np.ones(key.size, dtype=np.bool_)
    new[1:] = sorted_key[1:] != sorted_key[:-1]
    first: _I64 = np.sort(order[new])
    return first


def _sorted_contains(haystack: _I64, needles: _I64) -> npt.NDArray[np.bool_]:
    """Whether each needle is in the sorted array ``haystack``."""
    if haystack.size == 0:
        return np.zeros(needles.size, dtype=np.bool_)
    pos = np.minimum(np.searchsorted(haystack, needles), haystack.size - 1)
    out: npt.NDArray[np.bool_] = haystack[pos] == needles
    return out


def _interactions(
    rng: np.random.Generator, cfg: YelpWorldConfig, item_city: _I64, item_cluster: _I64, n_cities: int
) -> tuple[_I64, _I64, _I64]:
    """``(user, item, rank within the user)`` of every interaction, users in order."""
    n_users, n_items, n_clusters = cfg.n_users, cfg.n_items, cfg.n_clusters
    pop = np.empty(n_items)
    pop[rng.permutation(n_items)] = _zipf(n_items, cfg.popularity_exponent)
    city_items = np.bincount(item_city, minlength=n_cities).astype(np.float64)
    user_city = rng.choice(n_cities, size=n_users, p=city_items / city_items.sum())
    user_cluster = rng.integers(n_clusters, size=n_users)
    # Activity: log-normal; at least 3 each (train, valid, test), the rest shared to the total.
    activity = rng.lognormal(0.0, 0.9, size=n_users)
    extra = cfg.n_interactions - 3 * n_users
    share = activity / activity.sum() * extra
    want = np.floor(share).astype(np.int64)
    short = extra - int(want.sum())
    want[np.argsort(-(share - want), kind="stable")[:short]] += 1
    want = np.minimum(want + 3, n_items // 2)
    city_cluster = item_city * n_clusters + item_cluster
    by_cc = _grouped_sampler(city_cluster, pop, n_cities * n_clusters)
    by_city = _grouped_sampler(item_city, pop, n_cities)
    everywhere = _grouped_sampler(np.zeros(n_items, dtype=np.int64), pop, 1)
    uniform = _grouped_sampler(np.zeros(n_items, dtype=np.int64), np.ones(n_items), 1)
    user_cc = user_city * n_clusters + user_cluster
    cc_has_items = by_cc[2][user_cc] > by_cc[1][user_cc]
    users_all: list[_I64] = []
    items_all: list[_I64] = []
    have = np.zeros(n_users, dtype=np.int64)
    key_seen = np.zeros(0, dtype=np.int64)
    # Round 0 draws every interaction from the model; later rounds top up the users whose draws
    # repeated items (small cities, heavy popularity head): from the home city or anywhere by
    # popularity, and from round 10 on uniformly among all items (a tiny share).
    round_ = 0
    while (want > have).any():
        need = want - have
        draws = np.where(need > 0, np.ceil(need * 1.2 + 2), 0).astype(np.int64)
        slot_user = np.repeat(np.arange(n_users), draws)
        items = np.empty(slot_user.size, dtype=np.int64)
        zero = np.zeros(slot_user.size, dtype=np.int64)
        if round_ >= 10:
            items[:] = _draw_in_groups(rng, zero, uniform)
        elif round_ >= 3:
            items[:] = _draw_in_groups(rng, zero, everywhere)
        else:
            source = rng.random(slot_user.size)
            home = source < cfg.home_city_prob
            in_cluster = home & (source < cfg.home_city_prob * cfg.in_cluster_prob)
            in_cluster &= cc_has_items[slot_user] & (round_ == 0)
            home &= ~in_cluster
            sel = np.flatnonzero(in_cluster)
            items[sel] = _draw_in_groups(rng, user_cc[slot_user[sel]], by_cc)
            sel = np.flatnonzero(home)
            items[sel] = _draw_in_groups(rng, user_city[slot_user[sel]], by_city)
            sel = np.flatnonzero(~in_cluster & ~home)
            items[sel] = _draw_in_groups(rng, zero[sel], everywhere)
        round_ += 1
        key = slot_user * n_items + items
        first = _first_occurrences(key)
        fresh = first[~_sorted_contains(key_seen, key[first])]
        slot_user, items = slot_user[fresh], items[fresh]
        starts = np.searchsorted(slot_user, np.arange(n_users))
        rank = np.arange(slot_user.size) - starts[slot_user] + have[slot_user]
        keep = rank < want[slot_user]
        slot_user, items = slot_user[keep], items[keep]
        users_all.append(slot_user)
        items_all.append(items)
        key_seen = np.sort(np.concatenate([key_seen, slot_user * n_items + items]))
        have += np.bincount(slot_user, minlength=n_users)
    user = np.concatenate(users_all)
    item = np.concatenate(items_all)
    order = np.argsort(user, kind="stable")  # users in order, each user's items in draw order
    user, item = user[order], item[order]
    rank = np.arange(user.size) - np.searchsorted(user, np.arange(n_users))[user]
    return user, item, rank


def make_yelp_world(
    taxonomy_dir: str | Path,
    question_mode: QuestionMode = "enumerated",
    config: YelpWorldConfig | None = None,
    seed: int = 0,
    name: str = "yelp",
) -> AttributeGraphWorld:
    """The synthetic Yelp world on the real taxonomy (see the module docstring).

    Args:
        taxonomy_dir: Directory of the Yelp release holding ``Graph_generate_data/2-layer
            taxonomy.json`` (and, for attribute names and the category list,
            ``ID_map_info/second-layer_tag_reverse_map.json``).
        question_mode: ``"enumerated"`` (Yelp: 29 parents) or ``"binary"`` (Yelp*: 590 children).
        config: Sizes and shape (default: the published Yelp statistics).
        seed: Seed of every random draw.
        name: The world's name.

    """
    cfg = config or YelpWorldConfig()
    base = Path(taxonomy_dir)
    name_path = base / "ID_map_info" / "second-layer_tag_reverse_map.json"
    n_attr = len(json.loads(name_path.read_bytes())) if name_path.is_file() else 590
    parent_children, parent_names = load_taxonomy(base, n_attr)
    cities = _children(parent_children, parent_names, "city")
    stars = _children(parent_children, parent_names, "stars")
    prices = _children(parent_children, parent_names, "price")
    non_category = np.concatenate([cities, stars, prices])
    categories = np.setdiff1d(np.arange(n_attr), non_category).astype(np.int64)
    if categories.size == 0:
        raise DataError(f"the Yelp taxonomy under {base} leaves no category attribute")
    rng = np.random.default_rng(seed)
    n_cities = cities.size
    city_rank = rng.permutation(n_cities)
    item_city_idx = rng.choice(n_cities, size=cfg.n_items, p=_zipf(n_cities, cfg.city_exponent)[city_rank])
    item_city = cities[item_city_idx]
    item_cluster = rng.integers(cfg.n_clusters, size=cfg.n_items)
    item_attributes = _item_attributes(
        rng, cfg, item_city, item_cluster, parent_children, parent_names, categories, n_attr
    )
    user, item, rank = _interactions(rng, cfg, item_city_idx, item_cluster, n_cities)
    n_of = np.bincount(user, minlength=cfg.n_users)
    n_eval = np.maximum(1, np.round(cfg.eval_fraction * n_of)).astype(np.int64)
    n_train = n_of - 2 * n_eval
    split = np.where(rank < n_train[user], 0, np.where(rank < (n_train + n_eval)[user], 1, 2))
    ones = np.ones(user.size, dtype=np.bool_)
    shape = (cfg.n_users, cfg.n_items)
    user_items = sp.csr_matrix((ones, (user, item)), shape=shape)
    tr = split == 0
    user_items_train = sp.csr_matrix((ones[tr], (user[tr], item[tr])), shape=shape)
    # Liked attributes: those held by at least two of the user's training items.
    counts = (user_items_train.astype(np.int32) @ item_attributes.astype(np.int32)).tocsr()
    counts.data = (counts.data >= 2).astype(np.int32)
    counts.eliminate_zeros()
    sessions = {
        s: np.column_stack([user[split == k], item[split == k]]).astype(np.int64)
        for k, s in enumerate(("train", "valid", "test"))
    }
    enumerated = question_mode == "enumerated"
    return AttributeGraphWorld(
        name=name,
        item_attributes=item_attributes,
        user_items=user_items,
        user_items_train=user_items_train,
        friends=sp.csr_matrix((cfg.n_users, cfg.n_users), dtype=np.bool_),
        user_attributes=counts.astype(np.bool_),
        sessions=sessions,
        attribute_names=_names(name_path if name_path.is_file() else None, n_attr, "attribute"),
        question_mode=question_mode,
        parent_children=parent_children if enumerated else None,
        parent_names=parent_names if enumerated else (),
        synthetic=True,
    )
