"""Shared fixtures: the real data root and tiny hand-built worlds."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp

from recoworld.datasets.world import AttributeGraphWorld

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


@pytest.fixture(scope="session", autouse=True)
def _recoworld_data_env() -> None:
    """Point RECOWORLD_DATA at ../shared/data (CI has it beside the checkout)."""
    if "RECOWORLD_DATA" not in os.environ and SHARED_DATA.is_dir():
        os.environ["RECOWORLD_DATA"] = str(SHARED_DATA)


@pytest.fixture(scope="session")
def shared_data() -> Path:
    if not SHARED_DATA.is_dir():
        pytest.fail(f"the real datasets are expected at {SHARED_DATA} (../shared/data)")
    return SHARED_DATA


def _csr(rows: list[list[int]], n_cols: int) -> sp.csr_matrix:
    r = [i for i, row in enumerate(rows) for _ in row]
    c = [j for row in rows for j in row]
    return sp.csr_matrix((np.ones(len(r), dtype=bool), (r, c)), shape=(len(rows), n_cols))


def make_tiny_world(enumerated: bool = False) -> AttributeGraphWorld:
    """6 attributes, 12 items, 3 users. Items 0..11 hold hand-picked attribute sets.

    Attribute 0 is held by items 0-7; attribute 1 by 0-3; attribute 2 by 0,1,4,5; attribute 3 by
    0,2,4,6; attribute 4 by 8-11; attribute 5 by 9 only. In enumerated mode parent 0 has children
    {0, 1}, parent 1 has {2, 3}, parent 2 has {4, 5}.
    """
    items = [
        [0, 1, 2, 3],
        [0, 1, 2],
        [0, 1, 3],
        [0, 1],
        [0, 2, 3],
        [0, 2],
        [0, 3],
        [0],
        [4],
        [4, 5],
        [4],
        [4],
    ]
    ui = [[0, 1, 2, 8], [3, 4, 5, 9], [6, 7, 10, 11]]
    return AttributeGraphWorld(
        name="tiny",
        item_attributes=_csr(items, 6),
        user_items=_csr(ui, 12),
        user_items_train=_csr([[0, 1], [3, 4], [6, 7]], 12),
        friends=_csr([[1], [0], []], 3),
        user_attributes=_csr([[0, 1], [2], []], 6),
        sessions={
            "train": np.array([[0, 0], [1, 3], [2, 6]]),
            "valid": np.array([[0, 2], [1, 5]]),
            "test": np.array([[0, 8], [1, 9], [2, 7]]),
        },
        attribute_names=tuple(f"a{i}" for i in range(6)),
        question_mode="enumerated" if enumerated else "binary",
        parent_children=_csr([[0, 1], [2, 3], [4, 5]], 6) if enumerated else None,
        parent_names=("p0", "p1", "p2") if enumerated else (),
    )


@pytest.fixture
def tiny_world() -> AttributeGraphWorld:
    return make_tiny_world()


@pytest.fixture
def tiny_enum_world() -> AttributeGraphWorld:
    return make_tiny_world(enumerated=True)
