"""Agreement of agent rankings under two user simulators (Kendall's tau of their SR@15).

A benchmark built on a simulated user is only as good as the order in which it ranks recommenders:
an LLM user that answers 80 % of questions right but reorders the agents misleads whoever reads the
benchmark. :func:`ranking_agreement` evaluates every agent on the same sessions under a reference
user (the statistical oracle, which answers from the ground truth) and under a candidate user (an
LLM user), and reports each agent's SR@15 under both and Kendall's tau-b between the two orders
(1: same order, -1: reversed; ties count as tau-b counts them).
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

from recoworld.datasets.world import AttributeGraphWorld
from recoworld.envs.conversational import ConversationalRecEnv
from recoworld.errors import ConfigError
from recoworld.evaluation import CRSAgent, evaluate
from recoworld.users.conversational import ConversationalUser

__all__ = ["RankingAgreement", "kendall_tau", "ranking_agreement"]


@dataclass(frozen=True)
class RankingAgreement:
    """SR@15 of each agent under both users and the rank correlation between them."""

    agents: tuple[str, ...]
    sr15_reference: tuple[float, ...]
    sr15_candidate: tuple[float, ...]
    kendall_tau: float
    sessions: int

    def to_json(self) -> dict[str, Any]:
        """Return the result as a JSON-ready dict."""
        return asdict(self)


def kendall_tau(x: tuple[float, ...], y: tuple[float, ...]) -> float:
    """Kendall's tau-b of two equally long score lists (nan when either is constant)."""
    if len(x) != len(y) or len(x) < 2:
        raise ConfigError(f"need two score lists of equal length >= 2, got {len(x)} and {len(y)}")
    concordant = discordant = ties_x = ties_y = 0
    for i in range(len(x)):
        for j in range(i + 1, len(x)):
            dx, dy = x[i] - x[j], y[i] - y[j]
            if dx == 0 and dy == 0:
                continue
            if dx == 0:
                ties_x += 1
            elif dy == 0:
                ties_y += 1
            elif (dx > 0) == (dy > 0):
                concordant += 1
            else:
                discordant += 1
    denom = ((concordant + discordant + ties_x) * (concordant + discordant + ties_y)) ** 0.5
    return (concordant - discordant) / denom if denom > 0 else float("nan")


def ranking_agreement(
    world: AttributeGraphWorld,
    agents: Mapping[str, CRSAgent],
    reference: ConversationalUser,
    candidate: ConversationalUser,
    sessions: int,
    split: str = "test",
    seed: int = 0,
    max_turns: int = 15,
) -> RankingAgreement:
    """Evaluate each agent on the first ``sessions`` of ``split`` under both users; compare.

    Each evaluation runs on a deep copy of the agent, so that both users meet the same agent
    (same random state) on the same seeded sessions.
    """
    if len(agents) < 2:
        raise ConfigError(f"`agents` must name at least 2 agents to rank, got {list(agents)}")
    ref: list[float] = []
    cand: list[float] = []
    for agent in agents.values():
        for user, out in ((reference, ref), (candidate, cand)):
            env = ConversationalRecEnv(world, user=user, split=split, max_turns=max_turns)
            # a copy per user: an agent's own random state must not differ between the two
            fresh = copy.deepcopy(agent, {id(world): world})  # the world is shared, immutable
            metrics, _ = evaluate(env, fresh, split=split, sessions=sessions, seed=seed)
            out.append(metrics.sr15)
    return RankingAgreement(
        agents=tuple(agents),
        sr15_reference=tuple(ref),
        sr15_candidate=tuple(cand),
        kendall_tau=kendall_tau(tuple(ref), tuple(cand)),
        sessions=sessions,
    )
