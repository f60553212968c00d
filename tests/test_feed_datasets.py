"""Feed worlds: the synthetic default, KuaiRand-Pure's real features, KuaiRec's matrix format."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from feed_helpers import tiny_feed_world, write_kuairec_fixture

from recoworld.datasets.feed_world import synthetic_feed_world
from recoworld.datasets.kuairand import load_kuairand_world
from recoworld.datasets.kuairec import kuairec_world, load_kuairec_matrix
from recoworld.errors import DataError, DatasetNotFoundError


def test_synthetic_world_is_deterministic_and_calibrated():
    a = synthetic_feed_world(n_users=200, n_items=3000, seed=4)
    b = synthetic_feed_world(n_users=200, n_items=3000, seed=4)
    np.testing.assert_array_equal(a.catalogue.embedding, b.catalogue.embedding)
    np.testing.assert_array_equal(a.population.interest, b.population.interest)
    med = float(np.median(a.catalogue.duration_s))
    assert 65.0 < med < 100.0  # KuaiRand-Pure's median is 81 s
    np.testing.assert_allclose(np.linalg.norm(a.catalogue.embedding, axis=1), 1.0, rtol=1e-5)
    assert 0.05 < a.catalogue.is_new.mean() < 0.15
    assert np.all(a.catalogue.popularity[a.catalogue.is_new] == 0.0)


def test_world_validation_names_the_field():
    world = tiny_feed_world()
    cat = world.catalogue
    with pytest.raises(DataError, match=r"`duration_s` must be > 0 s, got min=0.0"):
        dataclasses.replace(cat, duration_s=np.zeros(cat.n_items, dtype=np.float32))
    with pytest.raises(DataError, match=r"`category` must lie in \[0, 3\)"):
        dataclasses.replace(cat, category=np.full(cat.n_items, 5, dtype=np.int64))
    pop = world.population
    with pytest.raises(DataError, match=r"`activity` must lie in \(0, 1\]"):
        dataclasses.replace(pop, activity=np.zeros(pop.n_users, dtype=np.float32))
    with pytest.raises(DataError, match="must be >= 2"):
        synthetic_feed_world(dim=1)


def test_kuairand_world_keeps_the_real_features(shared_data):
    world = load_kuairand_world(shared_data, seed=0)
    cat, pop = world.catalogue, world.population
    assert pop.n_users == 27285
    assert cat.n_items == 7583 - 239  # videos without a duration are excluded ...
    assert any("excluded 239" in note for note in world.notes)  # ... and the count is recorded
    p10, p50, p90 = np.percentile(cat.duration_s, [10, 50, 90])
    assert p50 == pytest.approx(81.2, abs=0.5)
    assert p10 == pytest.approx(14.6, abs=0.5) and p90 == pytest.approx(237.8, abs=1.0)
    assert cat.n_categories >= 40  # 46 tags (those of kept videos) + untagged
    # Activity follows user_active_degree: full_active users are the most active.
    assert np.isclose(pop.activity, 1.0).sum() == 17959
    assert cat.is_new.sum() > 0 and np.all(cat.popularity[cat.is_new] == 0)


def test_kuairand_missing_files_error(tmp_path):
    (tmp_path / "kuairand_pure").mkdir()
    with pytest.raises(DatasetNotFoundError, match=r"video_features_basic_pure.csv"):
        load_kuairand_world(tmp_path)


def test_kuairand_bad_columns_error(tmp_path):
    folder = tmp_path / "kuairand_pure"
    folder.mkdir()
    (folder / "video_features_basic_pure.csv").write_text("video_id,tag\n1,2\n")
    (folder / "user_features_pure.csv").write_text("user_id\n1\n")
    with pytest.raises(DataError, match=r"lacks columns \['video_type', 'upload_dt'"):
        load_kuairand_world(tmp_path)


def test_kuairand_wrong_column_types_are_a_data_error(tmp_path, shared_data):
    folder = tmp_path / "kuairand_pure"
    folder.mkdir()
    src = shared_data / "kuairand_pure"
    lines = (src / "video_features_basic_pure.csv").read_text().splitlines()[:50]
    head = lines[0].split(",")
    col = head.index("video_duration")
    row = lines[3].split(",")
    row[col] = "long"
    lines[3] = ",".join(row)
    (folder / "video_features_basic_pure.csv").write_text("\n".join(lines) + "\n")
    (folder / "user_features_pure.csv").write_text(
        "\n".join((src / "user_features_pure.csv").read_text().splitlines()[:50]) + "\n"
    )
    with pytest.raises(DataError, match=r"KuaiRand-Pure files in .* hold a column of the wrong type"):
        load_kuairand_world(tmp_path)


def test_kuairec_matrix_in_the_real_format(tmp_path):
    path = tmp_path / "small_matrix.csv"
    truth = write_kuairec_fixture(path, n_users=12, n_items=20, drop=3, duplicate=2)
    m = load_kuairec_matrix(path)
    assert m.watch_ratio.shape == (12, 20)
    np.testing.assert_allclose(m.watch_ratio, truth, rtol=1e-6)  # NaN where dropped
    assert np.isnan(m.watch_ratio).sum() == np.isnan(truth).sum()
    assert m.video_ids.tolist() == list(range(1000, 1020))
    assert any("averaged" in n and "2 (user, video)" in n for n in m.notes)
    world = kuairec_world(m, dim=4, seed=0)
    assert world.recorded_watch_ratio is m.watch_ratio
    assert world.catalogue.n_categories == 8 and world.catalogue.is_new.sum() == 0


def test_kuairec_world_does_not_depend_on_the_svd_signs(tmp_path, monkeypatch):
    """LAPACK builds may return any sign per SVD component; the world must come out the same."""
    path = tmp_path / "small_matrix.csv"
    write_kuairec_fixture(path, n_users=12, n_items=20)
    m = load_kuairec_matrix(path)
    before = kuairec_world(m, dim=4, seed=0)
    svd = np.linalg.svd

    def flipped_svd(a, full_matrices=True):
        u, s, vt = svd(a, full_matrices=full_matrices)
        signs = np.where(np.arange(s.size) % 2 == 0, -1.0, 1.0)  # flip every other component
        return u * signs[None, :], s, vt * signs[:, None]

    monkeypatch.setattr(np.linalg, "svd", flipped_svd)
    after = kuairec_world(m, dim=4, seed=0)
    np.testing.assert_array_equal(after.catalogue.category, before.catalogue.category)
    np.testing.assert_allclose(after.catalogue.embedding, before.catalogue.embedding, atol=1e-9)


def test_kuairec_errors(tmp_path):
    with pytest.raises(DatasetNotFoundError, match=r"small_matrix\.csv"):
        load_kuairec_matrix(tmp_path / "small_matrix.csv")
    bad = tmp_path / "bad.csv"
    bad.write_text("user_id,video_id,play_duration,video_duration,time,date,timestamp,watch_ratio\n"
                   "0,1,100,1000,t,20200705,1.0,-0.5\n")
    with pytest.raises(DataError, match=r"watch_ratio must be finite and >= 0, got 1 bad rows"):
        load_kuairec_matrix(bad)
    cols = tmp_path / "cols.csv"
    cols.write_text("user_id,video_id\n0,1\n")
    with pytest.raises(DataError, match=r"lacks columns \['video_duration', 'watch_ratio'\]"):
        load_kuairec_matrix(cols)
