"""Text transcripts of sessions: what the environments' ``render_mode="ansi"`` shows.

A conversation is a list of :class:`ConversationTurn` (the user's opening, then one per agent
action) and a feed session a list of :class:`FeedView` (one per video shown). The records hold ids
and numbers only; :func:`format_conversation` and :func:`format_feed_session` turn them into the
text a person reads, with the world's names for attributes and items where it has them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from recoworld.datasets.world import AttributeGraphWorld

__all__ = [
    "ConversationTurn",
    "Ending",
    "FeedView",
    "format_conversation",
    "format_feed_session",
]

TurnKind = Literal["open", "ask", "recommend"]
Ending = Literal["", "success", "accepted", "horizon", "empty", "left"]


@dataclass(frozen=True)
class ConversationTurn:
    """One turn of a conversation, as the environment saw it.

    Attributes:
        turn: Session turn (the user's opening is turn 1).
        kind: ``"open"`` (the user names an attribute), ``"ask"`` or ``"recommend"``.
        question: The question asked (attribute, or parent in enumerated worlds); -1 otherwise.
        accepted: Attributes the user confirmed this turn (the opening attribute at turn 1).
        rejected: Attributes the user declined this turn.
        items: The recommended items, in rank order.
        rank: 1-based rank of the target in an accepted list; 0 otherwise.
        candidates: Number of candidate items after the turn.
        reward: The step's reward (``None`` for the opening).
        utterance: What the user said, when the user model produced text (LLM users).
        invalid: Whether the user model's reply was unusable (LLM users).
        ending: Why the session ended at this turn (``""`` while it goes on).

    """

    turn: int
    kind: TurnKind
    question: int = -1
    accepted: tuple[int, ...] = ()
    rejected: tuple[int, ...] = ()
    items: tuple[int, ...] = ()
    rank: int = 0
    candidates: int = 0
    reward: float | None = None
    utterance: str = ""
    invalid: bool = False
    ending: Ending = ""


_ENDINGS = {
    "success": "the user accepted a recommendation",
    "accepted": "the user accepted a recommendation without the target",
    "horizon": "the horizon passed without success",
    "empty": "no candidate item is left",
    "left": "the user left",
}


def _quoted(names: Sequence[str]) -> str:
    return ", ".join(f'"{n}"' for n in names)


def format_conversation(
    world: AttributeGraphWorld,
    user: int,
    target: int,
    turns: Sequence[ConversationTurn],
    show_target: bool = True,
) -> str:
    """The dialogue so far as text: one block per turn, then how the session ended.

    Args:
        world: The world (names of attributes, parents and items).
        user: The session's user id.
        target: The session's target item id.
        turns: The turns so far (the opening first).
        show_target: Name the target in the header (off when a person plays the agent).

    """
    head = f"[{world.name}] user {user}"
    if show_target:
        named = f" ({world.item_name(target)})" if world.item_names else ""
        head += f", looking for item {target}{named}"
    lines = [head]
    attr = world.attribute_names
    for t in turns:
        prefix = f"turn {t.turn:>2} | "
        pad = " " * len(prefix)
        if t.kind == "open":
            what = f"user opens with {_quoted([attr[a] for a in t.accepted])}"
        elif t.kind == "ask":
            what = f"agent asks {_quoted([world.question_name(t.question)])}?"
            if world.question_mode == "enumerated":
                picked = _quoted([attr[a] for a in t.accepted]) if t.accepted else "none of them"
                what += f" | user picks {picked}"
            else:
                what += f" | user: {'yes' if t.accepted else 'no'}"
        else:
            what = f"agent recommends {len(t.items)} items"
            what += f" | user: yes, #{t.rank}" if t.rank else " | user: no"
        tail = f" | candidates {t.candidates:,}"
        if t.reward is not None:
            tail += f" | reward {t.reward:+.2f}"
        lines.append(prefix + what + tail)
        if t.kind == "recommend":
            listed = "; ".join(f"{k}. {world.item_name(v)}" for k, v in enumerate(t.items, 1))
            lines.append(pad + listed)
        if t.utterance:
            lines.append(pad + f'user says: "{t.utterance}"')
        if t.invalid:
            lines.append(pad + "(the user model's reply was unusable; the fallback answer was used)")
        if t.ending:
            lines.append(f"end: {_ENDINGS[t.ending]} (turn {t.turn})")
    return "\n".join(lines) + "\n"


@dataclass(frozen=True)
class FeedView:
    """One video shown in a feed session, and what the user did.

    Attributes:
        step: Position in the session (1 = the first video).
        item: Video id.
        category: The video's category id.
        duration: The video's length in seconds.
        watch_time: Seconds watched.
        liked: Whether the user liked it.
        left: Whether the user left the session after it.
        returned_after_days: Days until the user's next session when they left (-1 = never, or
            not yet known); 0 when they did not leave.
        reward: The step's reward.
        instruction: The user's reflective instruction, when the user model wrote one.

    """

    step: int
    item: int
    category: int
    duration: float
    watch_time: float
    liked: bool
    left: bool
    returned_after_days: float
    reward: float
    instruction: str = ""


def format_feed_session(user: int, views: Sequence[FeedView], session: int = 1) -> str:
    """The session so far as text: one line per video, the leave decision, the instructions."""
    lines = [f"[feed] user {user}, session {session}"]
    total = 0.0
    for v in views:
        total += v.watch_time
        ratio = v.watch_time / v.duration if v.duration > 0 else 0.0
        line = (
            f"video {v.step:>3} | item {v.item} (category {v.category}, {v.duration:.0f} s) | "
            f"watched {v.watch_time:.1f} s ({ratio:.0%})"
        )
        if v.liked:
            line += " | liked"
        line += f" | reward {v.reward:+.2f}"
        lines.append(line)
        if v.instruction:
            lines.append(f'          user writes: "{v.instruction}"')
        if v.left:
            if v.returned_after_days < 0:
                back = "does not come back within the window"
            else:
                back = f"comes back after {v.returned_after_days:.1f} days"
            lines.append(f"end: the user left after {v.step} videos, {total:.0f} s watched; {back}")
    return "\n".join(lines) + "\n"
