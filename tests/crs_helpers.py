"""Helpers for conversational tests: fake user parts, a small enumerated world."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from recoworld.datasets.synthetic import default_world
from recoworld.datasets.world import AttributeGraphWorld
from recoworld.users.target_item import TargetItemUser


class FixedOpeningUser(TargetItemUser):
    """A TargetItemUser whose opening attribute is chosen by the test."""

    def __init__(self, world, opening: int, config=None) -> None:
        super().__init__(world, config)
        self.opening = opening

    def start(self, user, target, rng):
        super().start(user, target, rng)
        return self.opening


def enumerated_world() -> AttributeGraphWorld:
    """The synthetic world's 40 attributes under 9 parents (child 4 sits under two parents)."""
    base = default_world()
    rows = [p for p in range(8) for _ in range(5)] + [8, 8, 8]
    cols = [*range(40), 4, 17, 33]
    pc = sp.csr_matrix((np.ones(len(rows), bool), (rows, cols)), shape=(9, 40))
    return AttributeGraphWorld(
        name="synthetic-enumerated",
        item_attributes=base.item_attributes,
        user_items=base.user_items,
        user_items_train=base.user_items_train,
        friends=base.friends,
        user_attributes=base.user_attributes,
        sessions=dict(base.sessions),
        attribute_names=base.attribute_names,
        question_mode="enumerated",
        parent_children=pc,
        parent_names=tuple(f"parent_{p}" for p in range(9)),
    )
