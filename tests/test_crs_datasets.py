"""Loaders of the released CRS layout (real data and corrupt fixtures), pickles, registry, synthetic."""

from __future__ import annotations

import json
import pickle
import shutil
from pathlib import Path

import numpy as np
import pytest

from recoworld.datasets.crs_loader import load_crs_release
from recoworld.datasets.registry import dataset_status, load_world
from recoworld.datasets.safe_pickle import load_fm_embeddings, load_pickle
from recoworld.datasets.synthetic import SyntheticWorldConfig, default_world, make_synthetic_world
from recoworld.datasets.yelp_synthetic import YelpWorldConfig, make_yelp_world
from recoworld.errors import ConfigError, DataError, DatasetNotFoundError, UnsafePickleError


@pytest.mark.parametrize(("name", "n_attr"), [("lastfm", 33), ("lastfm_star", 8438)])
def test_real_lastfm_counts(shared_data, name, n_attr):
    w = load_crs_release(shared_data / "crs" / name, name)
    assert (w.n_users, w.n_items, w.n_attributes) == (1801, 7432, n_attr)
    assert w.n_interactions == 76693
    assert [len(w.split(s)) for s in ("train", "valid", "test")] == [52910, 11891, 11892]
    # The training graph holds no valid/test pair (no leak), and the splits cover user_item.
    test = w.split("test")
    assert not w.user_items_train[test[:, 0], test[:, 1]].any()
    assert w.user_items_train.nnz == 52910
    # Every item holds at least one attribute, so every session has an opening.
    assert np.diff(w.item_attributes.indptr).min() >= 1


def test_real_lastfm_names_and_graph(shared_data):
    w = load_world("lastfm", shared_data)
    assert w.attribute_names[:3] == ("chillout", "electronic", "rock")
    assert w.item_attributes.nnz == 30290 and w.friends.nnz == 23958
    assert w.user_attributes.nnz == 7276


def test_yelp_world_on_the_real_taxonomy_at_the_published_scale(shared_data):
    """The full-size synthetic Yelp (built once per process, shared by both Yelp ids)."""
    w = load_world("yelp", shared_data)
    assert w.synthetic and w.question_mode == "enumerated"
    assert (w.n_users, w.n_items, w.n_attributes, w.n_parents) == (27_675, 70_311, 590, 29)
    assert w.parent_names[:3] == ("Nightlife", "alcohol", "Inter")
    assert w.parent_children.nnz == 565
    assert abs(w.n_interactions - 1_368_606) < 0.001 * 1_368_606
    for split in ("valid", "test"):
        assert abs(len(w.split(split)) - 211_319) < 0.005 * 211_319
    assert len(w.split("train")) + 2 * len(w.split("test")) == w.n_interactions
    # what the taxonomy tells about an item: one city, one star level, at most one price level,
    # at least one category (some outside the taxonomy, as in the release)
    ia = w.item_attributes
    held = {}
    for parent in ("city", "stars", "price"):
        p = w.parent_names.index(parent)
        held[parent] = np.asarray(ia[:, w.children_of(p)].sum(axis=1)).ravel()
    assert (held["city"] == 1).all() and (held["stars"] == 1).all() and (held["price"] <= 1).all()
    assert 0.8 < held["price"].mean() < 0.9
    n_cat = np.diff(ia.indptr) - held["city"] - held["stars"] - held["price"]
    assert n_cat.min() >= 1 and 3.3 < n_cat.mean() < 3.9
    in_tax = np.asarray(w.parent_children.sum(axis=0)).ravel() > 0
    assert ia[:, ~in_tax].nnz > 0
    # users interact mostly in one city
    cities = w.children_of(w.parent_names.index("city"))
    city_of_item = np.asarray(ia[:, cities].argmax(axis=1)).ravel()
    ui = w.user_items.tocoo()
    top_share = np.mean([
        np.bincount(city_of_item[ui.col[ui.row == u]]).max() / np.sum(ui.row == u) for u in range(50)
    ])
    assert top_share > 0.8
    ws = load_world("yelp_star", shared_data)
    assert ws.synthetic and ws.question_mode == "binary" and ws.n_questions == 590
    assert ws.item_attributes.data is w.item_attributes.data or (ws.item_attributes != ia).nnz == 0


def test_small_yelp_world_is_deterministic_and_validated(shared_data):
    cfg = YelpWorldConfig(n_users=300, n_items=900, n_interactions=9_000, n_clusters=6)
    base = shared_data / "crs" / "yelp"
    a = make_yelp_world(base, config=cfg, seed=3)
    b = make_yelp_world(base, config=cfg, seed=3)
    c = make_yelp_world(base, config=cfg, seed=4)
    assert (a.item_attributes != b.item_attributes).nnz == 0
    assert all(np.array_equal(a.split(s), b.split(s)) for s in ("train", "valid", "test"))
    assert (a.item_attributes != c.item_attributes).nnz > 0
    assert (a.n_users, a.n_items) == (300, 900) and abs(a.n_interactions - 9_000) <= 10
    assert all(len(np.unique(a.split(s)[:, 0])) == 300 for s in ("train", "valid", "test"))
    # a train pair never repeats in valid or test
    keys = {s: set(map(tuple, a.split(s).tolist())) for s in ("train", "valid", "test")}
    assert not (keys["train"] & keys["test"]) and not (keys["valid"] & keys["test"])
    assert load_world("yelp", shared_data, config=cfg, seed=3).summary() == a.summary()
    with pytest.raises(ConfigError, match=r"`n_interactions` must be >= 3 x n_users = 900"):
        YelpWorldConfig(n_users=300, n_items=900, n_interactions=800)
    with pytest.raises(ConfigError, match="`star_probs` must be 5 non-negative numbers"):
        YelpWorldConfig(star_probs=(0.5, 0.5, 0.5, 0.0, 0.0))


def _copy_release(shared_data: Path, tmp_path: Path) -> Path:
    dst = tmp_path / "lastfm"
    shutil.copytree(shared_data / "crs" / "lastfm", dst)
    for p in dst.rglob("*"):
        p.chmod(0o755 if p.is_dir() else 0o644)
    dst.chmod(0o755)
    return dst


def _small_release(tmp_path: Path) -> Path:
    """A 3-user, 4-item, 3-attribute release in the authors' layout."""
    root = tmp_path / "small"
    g, u, m = root / "Graph_generate_data", root / "UI_Interaction_data", root / "ID_map_info"
    for d in (g, u, m):
        d.mkdir(parents=True)
    items = {str(i): {"feature_index": f} for i, f in enumerate([[0], [0, 1], [2], [1, 2]])}
    (g / "item_dict.json").write_text(json.dumps(items))
    ui = {"0": [0, 1], "1": [2, 3], "2": [1, 3]}
    (g / "user_item.json").write_text(json.dumps(ui))
    (g / "user_dict.json").write_text(json.dumps({"0": {"friends": [1], "like": [0]}}))
    (u / "review_dict_train.json").write_text(json.dumps({"0": [0], "1": [2], "2": [1]}))
    (u / "review_dict_valid.json").write_text(json.dumps({"0": [1], "1": [3]}))
    (u / "review_dict_test.json").write_text(json.dumps({"2": [3]}))
    (m / "tag_reverse_map.json").write_text(
        json.dumps({str(i): {"real_name": [n]} for i, n in enumerate(["x", "y", "z"])})
    )
    return root


def test_small_release_loads(tmp_path):
    w = load_crs_release(_small_release(tmp_path), "small")
    assert w.summary() == {
        "users": 3,
        "items": 4,
        "attributes": 3,
        "parents": 0,
        "interactions": 6,
        "train_pairs": 3,
        "valid_pairs": 2,
        "test_pairs": 1,
    }
    assert w.attribute_names == ("x", "y", "z")
    assert w.user_items_train.nnz == 3  # built from review_dict_train when the file is absent


@pytest.mark.parametrize(
    ("mutate", "error", "message"),
    [
        (
            lambda r: (r / "Graph_generate_data/item_dict.json").unlink(),
            DatasetNotFoundError,
            r"missing file .*item_dict\.json",
        ),
        (
            lambda r: (r / "Graph_generate_data/user_item.json").write_text('{"0": [0, 1'),
            DataError,
            r"user_item\.json is not valid JSON",
        ),
        (
            lambda r: (r / "UI_Interaction_data/review_dict_test.json").write_text('{"2": [9]}'),
            DataError,
            r"review_dict_test\.json: key '2': item id 9 out of range \[0, 4\)",
        ),
        (
            lambda r: (r / "UI_Interaction_data/review_dict_valid.json").write_text("{}"),
            DataError,
            r"review_dict_valid\.json: the split is empty",
        ),
        (
            lambda r: (r / "Graph_generate_data/user_dict.json").write_text(
                '{"7": {"friends": []}}'
            ),
            DataError,
            r"user_dict\.json: user id 7 \(key '7'\) out of range \[0, 3\)",
        ),
        (
            lambda r: (r / "Graph_generate_data/item_dict.json").write_text(
                '{"0": {"feature_index": [5]}, "1": {"feature_index": [0]}, "2": {"feature_index": [0]}, "3": {"feature_index": [0]}}'
            ),
            DataError,
            r"item_dict\.json: key '0': attribute id 5 out of range \[0, 3\)",
        ),
        (
            lambda r: (r / "Graph_generate_data/item_dict.json").write_text(
                '{"0": {"feature_index": [0]}, "2": {"feature_index": [0]}}'
            ),
            DataError,
            r"item ids must be 0\.\.1 without gaps",
        ),
    ],
)
def test_corrupt_release_errors(tmp_path, mutate, error, message):
    root = _small_release(tmp_path)
    mutate(root)
    with pytest.raises(error, match=message):
        load_crs_release(root, "small")


def test_truncated_real_file(shared_data, tmp_path):
    root = _copy_release(shared_data, tmp_path)
    p = root / "Graph_generate_data" / "item_dict.json"
    p.write_bytes(p.read_bytes()[:5000])
    with pytest.raises(DataError, match=r"item_dict\.json is not valid JSON"):
        load_crs_release(root, "lastfm")


def test_registry_errors_say_where_to_put_data(tmp_path, monkeypatch):
    monkeypatch.delenv("RECOWORLD_DATA", raising=False)
    with pytest.raises(DatasetNotFoundError, match="set RECOWORLD_DATA"):
        load_world("lastfm")
    with pytest.raises(DatasetNotFoundError, match=r"not found at .*crs/lastfm"):
        load_world("lastfm", tmp_path)
    with pytest.raises(ConfigError, match="unknown dataset 'movielens'"):
        load_world("movielens")
    rows = {r["name"]: r for r in dataset_status(tmp_path)}
    assert rows["synthetic"]["present"] and not rows["lastfm"]["present"]


def test_dataset_status_with_shared_data(shared_data):
    rows = {r["name"]: r for r in dataset_status(shared_data)}
    assert all(
        rows[n]["present"]
        for n in ("lastfm", "lastfm_star", "yelp", "yelp_star", "coat", "kuairand_pure")
    )
    assert "taxonomy only" in rows["yelp"]["description"]
    assert rows["yelp"]["synthetic"] and not rows["lastfm"]["synthetic"]
    assert "rakanWen/Adacrs" in rows["yelp"]["where"] and "read" in rows["yelp"]["where"]


def test_fm_embeddings_and_tuples_load_safely(shared_data):
    emb = load_fm_embeddings(shared_data / "crs/lastfm/FM_embeds/embeds-epoch-0.pkl")
    assert emb["ui_emb"].shape == (9234, 64) and emb["feature_emb"].shape == (34, 64)
    tuples = load_pickle(shared_data / "crs/lastfm/FM_sample_data/sample_fm_data_train.pk1")
    assert len(tuples) == 5 and len(tuples[0]) == 52864


class _Evil:
    def __reduce__(self):
        return (print, ("owned",))


def test_restricted_unpickler_refuses_code(tmp_path):
    p = tmp_path / "evil.pkl"
    p.write_bytes(pickle.dumps({"x": _Evil()}))
    with pytest.raises(UnsafePickleError, match=r"builtins\.print, which is not allowed"):
        load_pickle(p)
    q = tmp_path / "trunc.pkl"
    q.write_bytes(pickle.dumps({"a": np.arange(10)})[:20])
    with pytest.raises(DataError, match="corrupt or truncated"):
        load_pickle(q)


@pytest.mark.parametrize(
    ("ui_emb", "says"),
    [
        (np.full((4, 2), np.nan), r"'ui_emb' holds 8 NaN or infinite values"),
        (np.array([[1.0, np.inf], [0.0, 1.0]]), r"'ui_emb' holds 1 NaN or infinite values"),
        ([["a", "b"], ["c", "d"]], r"'ui_emb' must hold numbers, got list"),
        ([[1.0, 2.0], [3.0]], r"'ui_emb' must hold numbers"),
        (np.zeros(3), r"'ui_emb' must be a non-empty 2-D array, got shape \(3,\)"),
    ],
    ids=["nan", "inf", "strings", "ragged", "1-d"],
)
def test_fm_embeddings_reject_bad_values(tmp_path, ui_emb, says):
    p = tmp_path / "embeds.pkl"
    p.write_bytes(pickle.dumps({"ui_emb": ui_emb, "feature_emb": np.ones((3, 2))}))
    with pytest.raises(DataError, match=says) as info:
        load_fm_embeddings(p)
    assert str(p) in str(info.value)


def test_unsafe_pickle_error_names_the_file(tmp_path):
    p = tmp_path / "evil.pkl"
    p.write_bytes(pickle.dumps({"x": _Evil()}))
    with pytest.raises(UnsafePickleError, match=rf"pickle file {p} asks for global builtins\.print"):
        load_fm_embeddings(p)


def test_synthetic_world_is_deterministic_and_structured():
    a = make_synthetic_world(seed=5)
    b = make_synthetic_world(seed=5)
    assert (a.item_attributes != b.item_attributes).nnz == 0
    assert all(np.array_equal(a.split(s), b.split(s)) for s in ("train", "valid", "test"))
    c = make_synthetic_world(seed=6)
    assert (a.item_attributes != c.item_attributes).nnz > 0
    # Skewed popularity: the top 10% of items draw far more than 10% of interactions.
    pop = np.sort(np.asarray(a.user_items.sum(axis=0)).ravel())[::-1]
    assert pop[: len(pop) // 10].sum() > 0.25 * pop.sum()
    # Attributes predict interactions: a test item's attributes carry more of the user's training
    # attribute mass than a random item's do.
    rng = np.random.default_rng(0)
    test = a.split("test")
    ia = a.item_attributes.astype(np.float64)
    mass = (a.user_items_train.astype(np.float64) @ ia).toarray()
    mass /= np.maximum(mass.sum(axis=1, keepdims=True), 1.0)

    def affinity(items):
        return float(np.mean(np.asarray(ia[items].multiply(mass[test[:, 0]]).sum(axis=1))))

    assert affinity(test[:, 1]) > 1.5 * affinity(rng.integers(a.n_items, size=len(test)))
    assert default_world() is default_world()


def test_synthetic_config_validation():
    with pytest.raises(ConfigError, match="`n_items` must be >= 1, got 0"):
        SyntheticWorldConfig(n_items=0)


def test_yelp_without_release_or_taxonomy_says_where_the_release_is(tmp_path):
    with pytest.raises(DatasetNotFoundError, match=r"2-layer taxonomy\.json"):
        make_yelp_world(tmp_path)
    (tmp_path / "crs" / "yelp").mkdir(parents=True)
    with pytest.raises(DatasetNotFoundError, match=r"neither the Yelp release nor its taxonomy.*"
                       r"item_dict-original_tag\.json.*the loader reads them unchanged"):
        load_world("yelp", tmp_path)
    with pytest.raises(DatasetNotFoundError, match=r"not found at .*rakanWen/Adacrs"):
        load_world("yelp_star", tmp_path / "elsewhere")


def test_yelp_release_layout_enumerated(tmp_path):
    """The full Yelp release (item_dict-original_tag.json + taxonomy) loads in enumerated mode."""
    root = _small_release(tmp_path)
    g = root / "Graph_generate_data"
    (g / "item_dict.json").rename(g / "item_dict-original_tag.json")
    (g / "2-layer taxonomy.json").write_text(json.dumps({"food": [0, 1], "city": [2]}))
    (g / "first-layer_merged_tag_map.json").write_text(json.dumps({"city": 0, "food": 1}))
    w = load_crs_release(root, "yelp", question_mode="enumerated")
    assert w.parent_names == ("city", "food") and w.n_questions == 2
    assert w.children_of(1).tolist() == [0, 1]
    (g / "2-layer taxonomy.json").write_text(json.dumps({"food": [0, 7]}))
    with pytest.raises(DataError, match=r"key 'food': attribute id 7 out of range \[0, 3\)"):
        load_crs_release(root, "yelp", question_mode="enumerated")
