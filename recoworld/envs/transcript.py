"""Text transcripts of sessions: what the environments' ``render_mode="ansi"`` shows.

A conversation is a list of :class:`ConversationTurn` (the user's opening, then one per agent
action) and a feed episode a list of :class:`FeedView` (one per video shown). The records hold ids
and numbers only; :func:`format_conversation` and :func:`format_feed_session` turn them into the
text a person reads, with the world's names for attributes and items where it has them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from recoworld.datasets.feed_world import VideoCatalogue
from recoworld.datasets.world import AttributeGraphWorld
from recoworld.errors import UnknownKeywordError

__all__ = [
    "RENDER_MODES",
    "ConversationTurn",
    "Ending",
    "FeedView",
    "check_render_mode",
    "feed_view",
    "format_conversation",
    "format_feed_session",
]

RENDER_MODES = ("ansi",)
TurnKind = Literal["open", "ask", "recommend"]


def check_render_mode(render_mode: str | None) -> str | None:
    """Return ``render_mode`` when the environments support it (``None`` or ``"ansi"``).

    Raises:
        UnknownKeywordError: any other mode. It is also a ``TypeError``, so that callers probing
            for a mode (stable-baselines3's ``make_vec_env`` tries ``"rgb_array"``) fall back.

    """
    if render_mode is not None and render_mode not in RENDER_MODES:
        raise UnknownKeywordError(
            f"`render_mode` {render_mode!r} is not supported: RecoWorld environments render as "
            f"text, render_mode='ansi' (or None)"
        )
    return render_mode


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
        candidates: Number of candidate items after the turn (-1: not tracked, as in the fidelity
            harness, which plays no environment).
        reward: The step's reward (``None`` for the opening, and where no environment pays one).
        utterance: What the user said, when the user model produced text (LLM users).
        invalid: Whether the user model's reply was unusable (LLM users).
        ending: Why the session ended at this turn (``""`` while it goes on).
        off_target: The user accepted a recommended list that does not hold the target (an LLM
            user's mistake, shown by the fidelity harness).

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
    off_target: bool = False


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
            if t.rank:
                what += f" | user: yes, #{t.rank}"
            else:
                what += " | user: yes, but the target is not listed" if t.off_target else " | user: no"
        tail = f" | candidates {t.candidates:,}" if t.candidates >= 0 else ""
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
    """One video shown in a feed episode, and what the user did.

    Attributes:
        session: Session index in the episode (0 = the first).
        depth: Videos shown in the session so far, this one included.
        item: Catalogue row of the video.
        category: Its category name.
        duration: Its length in seconds.
        watch_time: Seconds watched.
        liked: Whether the user liked it.
        skipped: Whether the user skipped it.
        left: Whether the user left the session after it.
        return_days: Days until the user's next session, when they left.
        returned: Whether they came back within the return window, when they left.
        reward: The video's reward.
        instruction: The reflective instruction the user wrote at this video, if any.

    """

    session: int
    depth: int
    item: int
    category: str
    duration: float
    watch_time: float
    liked: bool
    skipped: bool
    left: bool
    return_days: float
    returned: bool
    reward: float
    instruction: str = ""


def feed_view(info: Mapping[str, Any], reward: float, catalogue: VideoCatalogue) -> FeedView:
    """The :class:`FeedView` of one shown video, from the step ``info`` of one user."""
    item = int(info["item"])
    new = bool(info.get("new_instruction", False))
    return FeedView(
        session=int(info["session_index"]),
        depth=int(info["depth"]),
        item=item,
        category=catalogue.category_names[int(catalogue.category[item])],
        duration=float(catalogue.duration_s[item]),
        watch_time=float(info["watch_time"]),
        liked=bool(info["like"]),
        skipped=bool(info["skip"]),
        left=bool(info["left"]),
        return_days=float(info["return_days"]),
        returned=bool(info["returned"]),
        reward=float(reward),
        instruction=str(info.get("instruction", "")) if new else "",
    )


def format_feed_session(user: int, views: Sequence[FeedView]) -> str:
    """The episode so far as text: one line per video, the leave decisions and the instructions."""
    lines = [f"[feed] user {user}"]
    session, watched = -1, 0.0
    for v in views:
        if v.session != session:
            session, watched = v.session, 0.0
            lines.append(f"session {v.session + 1}")
        watched += v.watch_time
        ratio = v.watch_time / v.duration if v.duration > 0 else 0.0
        line = (
            f"  video {v.depth:>3} | item {v.item} ({v.category}, {v.duration:.0f} s) | "
            f"watched {v.watch_time:.1f} s ({ratio:.0%})"
        )
        line += " | liked" if v.liked else ""
        line += " | skipped" if v.skipped else ""
        lines.append(line + f" | reward {v.reward:+.2f}")
        if v.instruction:
            lines.append(f'            user writes: "{v.instruction}"')
        if v.left:
            back = (
                f"comes back after {v.return_days:.1f} days"
                if v.returned
                else "does not come back within the window"
            )
            lines.append(f"  the user leaves after {v.depth} videos, {watched:.0f} s watched; {back}")
    return "\n".join(lines) + "\n"
