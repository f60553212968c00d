"""Coat and Yahoo! R3 loaders, and the estimators on Coat's real data."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from recoworld.datasets.coat import COAT_SHAPE, load_coat
from recoworld.datasets.yahoo_r3 import YAHOO_R3_FILES, load_yahoo_r3
from recoworld.errors import DataError, DatasetNotFoundError
from recoworld.estimators.rating_error import estimate_rating_error, naive_error

FIXTURES = Path(__file__).parent / "fixtures"


def test_coat_loads_with_documented_counts(shared_data):
    coat = load_coat(shared_data)
    assert coat.train.shape == coat.test.shape == COAT_SHAPE
    assert int((coat.train > 0).sum()) == 6960
    assert int((coat.test > 0).sum()) == 4640
    assert np.all((coat.train > 0).sum(axis=1) == 24)
    assert np.all((coat.test > 0).sum(axis=1) == 16)
    assert coat.user_features.shape == (290, 14) and coat.item_features.shape == (300, 33)
    assert len(coat.user_feature_names) == 14 and coat.user_feature_names[0] == "gender:men"
    assert 0 < coat.propensities.min() and coat.propensities.max() <= 1


def test_coat_ips_moves_naive_error_towards_mcar_error(shared_data):
    # Self-selected ratings are higher than random ones, so the naive MSE of "always 3" and of the
    # item-mean predictor understates their MCAR-test MSE; IPS and SNIPS with the shipped
    # propensities must move the estimate towards it.
    coat = load_coat(shared_data)
    observed = coat.train > 0
    item_mean = (coat.train * observed).sum(axis=0) / np.maximum(observed.sum(axis=0), 1)
    for pred in (np.full(COAT_SHAPE, 3.0), np.tile(item_mean, (COAT_SHAPE[0], 1))):
        for metric in ("mse", "mae"):
            est = estimate_rating_error(pred, coat.train, coat.propensities, metric)
            mcar = naive_error(pred, coat.test, metric)
            assert est.naive < mcar
            assert abs(est.snips - mcar) < abs(est.naive - mcar)
            assert abs(est.ips - mcar) < abs(est.naive - mcar)


def test_coat_missing_and_corrupt_files(tmp_path):
    with pytest.raises(DatasetNotFoundError, match="Coat not found at"):
        load_coat(tmp_path)
    (tmp_path / "coat").mkdir()
    np.savetxt(tmp_path / "coat" / "train.ascii", np.zeros((5, 300)), fmt="%d")
    with pytest.raises(DataError, match=r"must hold a 290 x 300 matrix, got 5 x 300"):
        load_coat(tmp_path)


def test_yahoo_r3_fixture_in_release_format():
    data = load_yahoo_r3(FIXTURES)
    assert data.train.user.tolist() == [0, 0, 0, 1, 1, 15399]
    assert data.train.item.tolist() == [13, 34, 45, 2, 999, 6]
    assert data.train.rating.tolist() == [5, 1, 1, 4, 2, 3]
    assert data.test.rating.tolist() == [1, 3, 5, 1]
    csr = data.train.to_csr()
    assert csr.shape == (15400, 1000) and csr[0, 13] == 5


def test_yahoo_r3_errors(tmp_path):
    with pytest.raises(DatasetNotFoundError, match="request the release from Yahoo! Webscope"):
        load_yahoo_r3(tmp_path)
    base = tmp_path / "yahoo_r3"
    base.mkdir()
    (base / YAHOO_R3_FILES["train"]).write_text("1\t1001\t5\n")
    (base / YAHOO_R3_FILES["test"]).write_text("1\t1\t5\n")
    with pytest.raises(DataError, match=r"song ids must be in 1\.\.1000, got 1001\.\.1001"):
        load_yahoo_r3(tmp_path)
    (base / YAHOO_R3_FILES["train"]).write_text("1\t1\t6\n")
    with pytest.raises(DataError, match=r"ratings must be 1\.\.5, got 6\.\.6"):
        load_yahoo_r3(tmp_path)
