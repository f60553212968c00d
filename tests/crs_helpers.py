"""Helpers for conversational tests: fake user parts."""

from __future__ import annotations

from recoworld.users.target_item import TargetItemUser


class FixedOpeningUser(TargetItemUser):
    """A TargetItemUser whose opening attribute is chosen by the test."""

    def __init__(self, world, opening: int, config=None) -> None:
        super().__init__(world, config)
        self.opening = opening

    def start(self, user, target, rng):
        super().start(user, target, rng)
        return self.opening
