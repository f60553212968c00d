"""FM estimation: tuple sampling invariants, score formula, determinism, persistence, errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from recoworld.agents.fm import FMConfig, FMEmbeddings, FMScorer, sample_fm_tuples, train_fm
from recoworld.datasets.synthetic import SyntheticWorldConfig, make_synthetic_world
from recoworld.datasets.world import AttributeGraphWorld
from recoworld.errors import ConfigError, DataError, DatasetNotFoundError

FAST = FMConfig(epochs=8, dim=16, lr=0.02)


@pytest.fixture(scope="module")
def world() -> AttributeGraphWorld:
    cfg = SyntheticWorldConfig(n_users=120, n_items=400, n_attributes=16, n_clusters=4)
    return make_synthetic_world(cfg, seed=3)


def test_tuples_follow_the_released_scheme(world: AttributeGraphWorld) -> None:
    s = sample_fm_tuples(world, np.random.default_rng(0), max_preferred=3)
    ia, ui = world.item_attributes, world.user_items_train
    n = s.user.size
    assert n == len(world.split("train"))
    sizes = np.diff(s.preferred.indptr)
    assert sizes.min() >= 1 and sizes.max() <= 3
    # P is a subset of the positive's attributes.
    held = np.asarray(s.preferred.multiply(ia[s.positive]).sum(axis=1)).ravel()
    np.testing.assert_array_equal(held, sizes)
    # Negatives are items the user never interacted with in training.
    assert not np.asarray(ui[s.user, s.negative]).ravel().any()
    assert not np.asarray(ui[s.user, s.candidate_negative]).ravel().any()
    # A candidate negative differing from the random one holds every preferred attribute.
    diff = s.candidate_negative != s.negative
    assert diff.mean() > 0.5
    cand_held = np.asarray(s.preferred[diff].multiply(ia[s.candidate_negative[diff]]).sum(1))
    np.testing.assert_array_equal(cand_held.ravel(), sizes[diff])
    # Attribute task: a positive held outside P, a negative not held.
    ok = s.attribute_positive >= 0
    assert np.asarray(ia[s.positive[ok], s.attribute_positive[ok]]).ravel().all()
    assert not np.asarray(s.preferred[np.flatnonzero(ok), s.attribute_positive[ok]]).ravel().any()
    okn = s.attribute_negative >= 0
    assert not np.asarray(ia[s.positive[okn], s.attribute_negative[okn]]).ravel().any()


def test_score_is_user_plus_accepted_attributes_dot_item() -> None:
    emb = FMEmbeddings(
        user=np.array([[1.0, 0.0], [0.0, 1.0]], np.float32),
        item=np.array([[1.0, 2.0], [3.0, -1.0], [0.5, 0.5]], np.float32),
        attribute=np.array([[0.0, 1.0], [2.0, 0.0]], np.float32),
    )
    # user 0 with attributes {0, 1}: query = (1,0)+(0,1)+(2,0) = (3,1)
    np.testing.assert_allclose(emb.item_scores(0, [0, 1], [0, 1, 2]), [5.0, 8.0, 2.0])
    scorer = FMScorer(emb, rejected_weight=1.0)
    acc = np.array([1, 0], np.int8)
    rej = np.array([0, 1], np.int8)
    # query = (1,0)+(0,1)-(2,0) = (-1,1)
    np.testing.assert_allclose(scorer.scores(0, acc, rej, np.array([0, 1, 2])), [1.0, -4.0, 0.0])


def test_training_is_deterministic_and_ranks_interactions_first(
    world: AttributeGraphWorld,
) -> None:
    a = train_fm(world, FAST, seed=7)
    b = train_fm(world, FAST, seed=7)
    np.testing.assert_array_equal(a.item, b.item)
    np.testing.assert_array_equal(a.user, b.user)
    c = train_fm(world, FAST, seed=8)
    assert not np.array_equal(a.item, c.item)
    # Held-out valid targets outrank random items for most pairs (AUC well above 0.5).
    pairs = world.split("valid")
    rng = np.random.default_rng(0)
    rand = rng.integers(world.n_items, size=len(pairs))
    s_t = np.einsum("ij,ij->i", a.user[pairs[:, 0]], a.item[pairs[:, 1]])
    s_r = np.einsum("ij,ij->i", a.user[pairs[:, 0]], a.item[rand])
    assert (s_t > s_r).mean() > 0.68


def test_embeddings_round_trip_and_errors(world: AttributeGraphWorld, tmp_path: Path) -> None:
    emb = train_fm(world, FMConfig(epochs=1, dim=8), seed=0)
    emb.save(tmp_path / "e.npz")
    back = FMEmbeddings.load(tmp_path / "e.npz")
    np.testing.assert_array_equal(back.attribute, emb.attribute)
    with pytest.raises(DatasetNotFoundError, match="does not exist"):
        FMEmbeddings.load(tmp_path / "missing.npz")
    other = make_synthetic_world(SyntheticWorldConfig(n_users=50, n_items=100, n_attributes=8))
    with pytest.raises(DataError, match=r"embeddings have \(users, items, attributes\)"):
        emb.check_world(other)
    with pytest.raises(ConfigError, match="`dim` must be >= 1, got 0"):
        FMConfig(dim=0)
    with pytest.raises(ConfigError, match="`rejected_weight` must be >= 0"):
        FMScorer(emb, rejected_weight=-1.0)


def test_scpr_released_embeddings_load_for_lastfm(shared_data: Path) -> None:
    from recoworld.datasets.registry import load_world

    world = load_world("lastfm", shared_data)
    emb = FMEmbeddings.from_scpr_release(
        shared_data / "crs" / "lastfm" / "FM_embeds" / "embeds-epoch-0.pkl", world
    )
    assert emb.user.shape == (1801, 64)
    assert emb.item.shape == (7432, 64)
    assert emb.attribute.shape == (33, 64)
    tiny = make_synthetic_world(
        SyntheticWorldConfig(n_users=5000, n_items=9000, n_attributes=8, interactions_per_user=3)
    )
    with pytest.raises(DataError, match="belongs to another dataset"):
        FMEmbeddings.from_scpr_release(
            shared_data / "crs" / "lastfm" / "FM_embeds" / "embeds-epoch-0.pkl", tiny
        )
