"""Evaluation of conversational agents: SR@k, average turns, hDCG@(15,10), success by turn."""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from dataclasses import dataclass
from typing import Any, Protocol

import gymnasium
import numpy as np

__all__ = [
    "CRSAgent",
    "CRSMetrics",
    "SessionOutcome",
    "evaluate",
    "hdcg",
    "metrics_from_outcomes",
    "run_evaluate_command",
]


class CRSAgent(Protocol):
    """What the evaluator needs from a conversational agent."""

    def predict(self, obs: dict[str, Any]) -> dict[str, Any]:
        """The base-env action for ``obs``."""
        ...


@dataclass(frozen=True)
class SessionOutcome:
    """How one session ended.

    ``turn`` is the session turn of success (opening = 1), 0 if failed;
    ``rank`` the 1-based rank of the target in the accepted list (0 if failed).
    """

    user: int
    target: int
    turn: int
    rank: int
    steps: int


@dataclass(frozen=True)
class CRSMetrics:
    """Aggregate metrics over sessions (the published protocol's counting)."""

    sr5: float
    sr10: float
    sr15: float
    avg_turns: float
    hdcg: float
    sessions: int
    steps: int
    success_by_turn: tuple[float, ...]

    def to_json(self) -> dict[str, Any]:
        """The CLI's JSON keys."""
        return {
            "sr@5": self.sr5,
            "sr@10": self.sr10,
            "sr@15": self.sr15,
            "avg_turns": self.avg_turns,
            "hdcg": self.hdcg,
            "sessions": self.sessions,
            "steps": self.steps,
            "success_by_turn": list(self.success_by_turn),
        }


def hdcg(success_turn: int, rank: int, max_turns: int = 15) -> float:
    """hDCG@(T,K) of one session.

    ``success_turn`` is the session turn of success (the opening is turn 1, so the agent's first
    action is turn 2) and ``rank`` the 1-based rank of the target; 0 for a failed session. With
    t = ``success_turn`` - 1 (t = 1 at the agent's first action):
    1/log2(t+2) + (1/log2(t+1) - 1/log2(t+2)) / log2(rank+1).
    """
    if success_turn <= 0 or success_turn > max_turns:
        return 0.0
    t = success_turn - 1
    return 1.0 / math.log2(t + 2) + (1.0 / math.log2(t + 1) - 1.0 / math.log2(t + 2)) / math.log2(
        rank + 1
    )


def metrics_from_outcomes(outcomes: list[SessionOutcome], max_turns: int = 15) -> CRSMetrics:
    """SR@5/10/15, AT (failures count ``max_turns``), hDCG and the success-by-turn curve."""
    if not outcomes:
        raise ValueError("no session to aggregate")
    turns = np.asarray([o.turn for o in outcomes])
    ok = turns > 0
    n = len(outcomes)
    by_turn = tuple(float(np.mean(ok & (turns <= t))) for t in range(1, max_turns + 1))
    at = float(np.where(ok, turns, max_turns).mean())
    return CRSMetrics(
        sr5=float(np.mean(ok & (turns <= 5))),
        sr10=float(np.mean(ok & (turns <= 10))),
        sr15=float(np.mean(ok & (turns <= 15))),
        avg_turns=at,
        hdcg=float(np.mean([hdcg(o.turn, o.rank, max_turns) for o in outcomes])),
        sessions=n,
        steps=int(sum(o.steps for o in outcomes)),
        success_by_turn=by_turn,
    )


def run_session(
    env: gymnasium.Env[Any, Any], agent: CRSAgent, options: dict[str, Any], seed: int | None = None
) -> SessionOutcome:
    """Play one session to its end."""
    obs, info = env.reset(seed=seed, options=options)
    steps = 0
    while True:
        obs, _, terminated, truncated, info = env.step(agent.predict(obs))
        steps += 1
        if terminated or truncated:
            break
    turn = int(info["turn"]) if info["success"] else 0
    return SessionOutcome(int(info["user"]), int(info["target"]), turn, int(info["rank"]), steps)


def evaluate(
    env: gymnasium.Env[Any, Any],
    agent: CRSAgent,
    split: str = "test",
    sessions: int | None = None,
    seed: int = 0,
    progress: bool = False,
) -> tuple[CRSMetrics, list[SessionOutcome]]:
    """Run every session of ``split`` in file order (or the first ``sessions``) and aggregate.

    The environment is seeded once, at the first session, so the whole evaluation is one
    reproducible random stream.
    """
    world = env.unwrapped.world  # type: ignore[attr-defined]
    n_total = len(world.split(split))
    n = n_total if sessions is None else min(sessions, n_total)
    iterator: Any = range(n)
    if progress:
        from tqdm import tqdm

        iterator = tqdm(iterator, desc=f"evaluate {split}", unit="session", file=sys.stderr)
    outcomes = [
        run_session(env, agent, {"split": split, "index": i}, seed if i == 0 else None)
        for i in iterator
    ]
    max_turns = int(env.unwrapped.max_turns)  # type: ignore[attr-defined]
    return metrics_from_outcomes(outcomes, max_turns), outcomes


def _format_table(env_id: str, agent: str, m: CRSMetrics, seconds: float) -> str:
    rows = [
        ("env", env_id),
        ("agent", agent),
        ("sessions", str(m.sessions)),
        ("SR@5", f"{m.sr5:.4f}"),
        ("SR@10", f"{m.sr10:.4f}"),
        ("SR@15", f"{m.sr15:.4f}"),
        ("AT", f"{m.avg_turns:.3f}"),
        ("hDCG@(15,10)", f"{m.hdcg:.4f}"),
        ("env steps/s", f"{m.steps / max(seconds, 1e-9):,.0f}"),
        ("seconds", f"{seconds:.1f}"),
    ]
    width = max(len(k) for k, _ in rows)
    return "\n".join(f"{k:<{width}}  {v}" for k, v in rows)


def make_agent(
    name: str, env: gymnasium.Env[Any, Any], seed: int, checkpoint: str | None = None
) -> CRSAgent:
    """Build a conversational agent by name (rule agents; trained agents from ``checkpoint``)."""
    from recoworld.agents.rules import _RULES, make_rule_agent
    from recoworld.errors import ConfigError

    world = env.unwrapped.world  # type: ignore[attr-defined]
    if name in _RULES:
        if checkpoint is not None:
            raise ConfigError(f"rule agent {name!r} takes no --checkpoint")
        return make_rule_agent(name, world, seed=seed)
    from recoworld.agents.training import TRAINABLE_AGENTS, load_trained_agent

    if name in TRAINABLE_AGENTS:
        if checkpoint is None:
            raise ConfigError(
                f"agent {name!r} is learned: pass --checkpoint PATH (the agent.pt written by "
                f"`recoworld train --agent {name}`)"
            )
        return load_trained_agent(name, checkpoint, world)
    raise ConfigError(
        f"unknown agent {name!r} for {env.spec.id if env.spec else 'env'}; known: {sorted(_RULES)}"
    )


def run_evaluate_command(args: argparse.Namespace) -> int:
    """``recoworld evaluate`` for conversational ids."""
    kwargs: dict[str, Any] = {}
    if args.data_dir is not None:
        kwargs["data_dir"] = args.data_dir
    env = gymnasium.make(args.env, **kwargs)
    agent = make_agent(args.agent, env, args.seed, args.checkpoint)
    start = time.perf_counter()
    metrics, _ = evaluate(env, agent, args.split, args.sessions, args.seed, progress=True)
    seconds = time.perf_counter() - start
    print(_format_table(args.env, args.agent, metrics, seconds))
    if args.json:
        out = metrics.to_json()
        out.update(
            {
                "env": args.env,
                "agent": args.agent,
                "split": args.split,
                "seed": args.seed,
                "seconds": seconds,
            }
        )
        sys.stdout.write(json.dumps(out, sort_keys=True) + "\n")
    return 0
