"""``TargetItemUser``: the statistical user of the EAR / SCPR / UNICORN protocol."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from recoworld._validate import require_range
from recoworld.datasets.world import AttributeGraphWorld
from recoworld.users.conversational import target_attributes

__all__ = ["TargetItemUser", "TargetItemUserConfig"]


@dataclass(frozen=True)
class TargetItemUserConfig:
    """Parameters of :class:`TargetItemUser`; the defaults reproduce the published protocol.

    Attributes:
        answer_flip_prob: Probability that a binary answer is flipped, or that each child's
            membership in an enumerated answer is flipped (answer noise). 0 = exact answers.
        leave_prob: Per-turn probability that the user leaves after a rejected question or
            recommendation (impatience). 0 = the user always stays until the horizon.

    """

    answer_flip_prob: float = 0.0
    leave_prob: float = 0.0

    def __post_init__(self) -> None:
        for name in ("answer_flip_prob", "leave_prob"):
            require_range(name, getattr(self, name), 0, 1)


class TargetItemUser:
    """A user who wants one target item and answers from its attributes.

    Turn 1, the user names one attribute of the target drawn uniformly. A binary question is
    answered yes iff the target holds the attribute; an enumerated question (a parent) is answered
    with every child of that parent the target holds (possibly none). A recommendation is accepted
    iff the target is in the list. Noise and impatience are off by default.
    """

    def __init__(
        self, world: AttributeGraphWorld, config: TargetItemUserConfig | None = None
    ) -> None:
        self.world = world
        self.config = config or TargetItemUserConfig()
        self._target = -1
        self._target_attrs: npt.NDArray[np.int32] = np.empty(0, dtype=np.int32)
        self._rejected_last = False

    @property
    def target(self) -> int:
        """The target item of the current session (-1 before :meth:`start`)."""
        return self._target

    def start(self, user: int, target: int, rng: np.random.Generator) -> int:
        """Begin a session; return the opening attribute, drawn uniformly from the target's."""
        attrs = target_attributes(self.world, user, target)
        self._target = int(target)
        self._target_attrs = attrs
        self._rejected_last = False
        return int(attrs[rng.integers(attrs.size)])

    def _holds(self, attribute: int) -> bool:
        i = np.searchsorted(self._target_attrs, attribute)
        return bool(i < self._target_attrs.size and self._target_attrs[i] == attribute)

    def answer_binary(self, attribute: int, rng: np.random.Generator) -> bool:
        """Yes iff the target holds ``attribute`` (flipped with ``answer_flip_prob``)."""
        yes = self._holds(attribute)
        p = self.config.answer_flip_prob
        if p > 0.0 and rng.random() < p:
            yes = not yes
        self._rejected_last = not yes
        return yes

    def answer_enumerated(self, parent: int, rng: np.random.Generator) -> npt.NDArray[np.int64]:
        """The children of ``parent`` that the target holds (each flipped with the noise rate)."""
        children = self.world.children_of(parent)
        held = np.isin(children, self._target_attrs, assume_unique=True)
        p = self.config.answer_flip_prob
        if p > 0.0:
            held ^= rng.random(children.size) < p
        picked = children[held].astype(np.int64)
        self._rejected_last = picked.size == 0
        return picked

    def judge(self, items: npt.NDArray[np.int64], rng: np.random.Generator) -> bool:
        """Accept iff the target is among ``items``."""
        accepted = bool(np.any(items == self._target))
        self._rejected_last = not accepted
        return accepted

    def wants_to_leave(self, rng: np.random.Generator) -> bool:
        """With impatience on, leave with ``leave_prob`` after a rejection."""
        p = self.config.leave_prob
        return p > 0.0 and self._rejected_last and bool(rng.random() < p)

    def step_info(self) -> dict[str, Any]:
        """The statistical user adds nothing to ``info``."""
        return {}
