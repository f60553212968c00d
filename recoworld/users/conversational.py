"""The interface every conversational user simulator implements (statistical or LLM-driven)."""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt

from recoworld.datasets.world import AttributeGraphWorld
from recoworld.errors import InvalidActionError

__all__ = ["ConversationalUser", "target_attributes"]


@runtime_checkable
class ConversationalUser(Protocol):
    """A simulated person seeking one target item in a multi-round conversation.

    The environment calls :meth:`start` once per session, then one of :meth:`answer_binary`,
    :meth:`answer_enumerated` or :meth:`judge` per agent action, then :meth:`wants_to_leave`.
    Every method draws only from the generator it is handed. :meth:`step_info` returns what the
    user wants reported in the step's ``info`` (e.g. an utterance or ``invalid_response``); it is
    read after each call and may be empty.
    """

    def start(self, user: int, target: int, rng: np.random.Generator) -> int:
        """Begin a session for ``user`` seeking ``target``; return the opening attribute."""
        ...

    def answer_binary(self, attribute: int, rng: np.random.Generator) -> bool:
        """Answer "do you want ``attribute``?"."""
        ...

    def answer_enumerated(self, parent: int, rng: np.random.Generator) -> npt.NDArray[np.int64]:
        """Answer "which of ``parent``'s children do you want?" with child attribute ids."""
        ...

    def judge(self, items: npt.NDArray[np.int64], rng: np.random.Generator) -> bool:
        """Whether the user accepts the recommended list ``items``."""
        ...

    def wants_to_leave(self, rng: np.random.Generator) -> bool:
        """Whether the user leaves now, after the agent's latest action was rejected."""
        ...

    def step_info(self) -> dict[str, Any]:
        """Extra ``info`` entries about the latest call (may be empty)."""
        ...


def target_attributes(world: AttributeGraphWorld, user: int, target: int) -> npt.NDArray[np.int32]:
    """Validate a session's ids and return the target's attributes (what the user wants).

    Raises:
        InvalidActionError: ``user`` or ``target`` is out of range, or the target holds no
            attribute (the user would have nothing to open the conversation with).

    """
    if not 0 <= user < world.n_users:
        raise InvalidActionError(f"`user` must be in [0, {world.n_users}), got {user}")
    if not 0 <= target < world.n_items:
        raise InvalidActionError(f"`target` must be in [0, {world.n_items}), got {target}")
    attrs = world.attributes_of(target)
    if attrs.size == 0:
        raise InvalidActionError(
            f"item {target} of world {world.name!r} has no attribute, so the user has "
            "nothing to open the conversation with; pick another target"
        )
    return attrs
