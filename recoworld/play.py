"""Play one conversation with a person in a seat: ``recoworld play``.

:func:`play_conversation` runs a session of a conversational environment whose agent or user is a
person (:class:`~recoworld.agents.human.HumanAgent`, :class:`~recoworld.users.human.
HumanConversationalUser`), prints the transcript as it grows, and ends with the session's metrics.
Ctrl-C or end of input stops the session cleanly; the metrics then cover the turns played.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from recoworld.envs.conversational import ConversationalRecEnv
from recoworld.envs.transcript import format_conversation
from recoworld.evaluation import hdcg
from recoworld.users.human import Console

__all__ = ["PlayResult", "play_conversation"]


@dataclass(frozen=True)
class PlayResult:
    """How a played session ended.

    Attributes:
        success: Whether a recommendation was accepted.
        turn: Turns played, the user's opening counted as turn 1.
        rank: 1-based rank of the target in the accepted list (0 without success).
        hdcg: hDCG@(T,10) of the session (0 without success).
        total_reward: Sum of the rewards.
        stopped: Whether the person stopped the session before it ended.

    """

    success: bool
    turn: int
    rank: int
    hdcg: float
    total_reward: float
    stopped: bool

    def summary(self) -> str:
        """One line for the end of the session."""
        head = "stopped" if self.stopped else ("success" if self.success else "no success")
        return (
            f"{head}: {self.turn} turns, rank {self.rank or '-'}, hDCG {self.hdcg:.3f}, "
            f"total reward {self.total_reward:+.2f}"
        )


def play_conversation(
    env: Any,
    agent: Any,
    console: Console,
    options: dict[str, Any],
    seed: int | None = None,
    show_target: bool = True,
) -> PlayResult:
    """Play one session of ``env`` (made with ``render_mode="ansi"``) with ``agent``.

    Args:
        env: A conversational environment (or a wrapper of one) in ``render_mode="ansi"``.
        agent: Anything with ``predict(obs)``: a person (:class:`~recoworld.agents.human.
            HumanAgent`) or any conversational agent facing a person in the user's seat.
        console: Where the transcript is written.
        options: ``reset`` options (the session).
        seed: Seed of the session's random draws.
        show_target: Name the target in the transcript (off when a person is the agent).

    """
    base: ConversationalRecEnv = env.unwrapped
    obs, info = env.reset(seed=seed, options=options)
    printed = 0
    total, success, rank, stopped = 0.0, False, 0, False

    def flush() -> None:
        nonlocal printed
        text = format_conversation(
            base.world, base.user_id, base.target, base.transcript, show_target
        ).splitlines()
        for line in text[printed:]:
            console.write(line)
        printed = len(text)

    try:
        while True:
            flush()
            obs, reward, terminated, truncated, info = env.step(agent.predict(obs))
            total += float(reward)
            if terminated or truncated:
                success, rank = bool(info["success"]), int(info["rank"])
                break
    except (EOFError, KeyboardInterrupt):
        stopped = True
        console.write("")  # end the prompt's line
    flush()
    turn = int(base.turn)
    return PlayResult(
        success=success,
        turn=turn,
        rank=rank,
        hdcg=hdcg(turn, rank, base.max_turns) if success else 0.0,
        total_reward=total,
        stopped=stopped,
    )
