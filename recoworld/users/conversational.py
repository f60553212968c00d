"""The interface every conversational user simulator implements (statistical or LLM-driven)."""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt

__all__ = ["ConversationalUser"]


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
