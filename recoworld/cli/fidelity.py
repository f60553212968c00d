"""``recoworld fidelity``: score a conversational user simulator against the ground truth."""

from __future__ import annotations

import argparse
from typing import Any

from recoworld.cli._common import (
    Runner,
    SubParsers,
    add_server_flags,
    env_help,
    nonnegative_int,
    positive_int,
    print_json,
)

__all__ = ["add"]

_DESCRIPTION = """\
Play a user simulator against the statistical oracle's ground truth (the target's attributes) and
report answer, acceptance and opening accuracy and the rate of unusable replies. Exits with code 2
when no reply of the LLM was usable.

example:
  recoworld llm serve &          # prints the URL to pass as --base-url
  recoworld fidelity --env recoworld/Synthetic-CRS-v0 --sessions 5 --base-url URL --json"""


def add(sub: SubParsers) -> Runner:
    """Declare ``fidelity``."""
    from recoworld.registration import CONVERSATIONAL_IDS

    p = sub.add_parser(
        "fidelity",
        help="score a conversational user simulator against the ground truth",
        description=_DESCRIPTION,
    )
    p.add_argument(
        "--env", required=True, choices=tuple(CONVERSATIONAL_IDS), metavar="ID",
        help=f"environment id; {env_help('conversational')}",
    )
    p.add_argument("--user", choices=("llm", "statistical"), default="llm", help="simulator")
    p.add_argument(
        "--sessions", type=positive_int, default=20, metavar="N",
        help="sessions to play (the first N of the split, from --first)",
    )
    p.add_argument("--split", default="test", choices=("train", "valid", "test"), help="session split")
    p.add_argument(
        "--first", type=nonnegative_int, default=0, help="index of the first session played"
    )
    p.add_argument(
        "--indices", default=None,
        help="play exactly these sessions instead: comma-separated indices or ranges (0-9,20)",
    )
    p.add_argument(
        "--questions", type=positive_int, default=4, metavar="N", help="questions per session"
    )
    p.add_argument(
        "--method", choices=("structured", "scored"), default="structured",
        help="LLM decisions: structured (chat + JSON schema / grammar) or scored (yes/no "
        "log-probabilities of raw completions, few-shot)",
    )
    p.add_argument(
        "--calibration", choices=("contextual", "fitted", "none"), default="contextual",
        help="scored method: contextual calibration, a fitted threshold, or none",
    )
    p.add_argument(
        "--shots", type=nonnegative_int, default=4, help="scored method: solved examples per prompt"
    )
    p.add_argument("--item-noun", default="item", help="what items are called in prompts")
    p.add_argument(
        "--rank-agents", default=None,
        help="comma-separated agents ranked by SR@15 under this user and the statistical one "
        "(Kendall's tau), e.g. random,max-entropy,abs-greedy,scpr,ear,crm",
    )
    p.add_argument(
        "--rank-sessions", type=positive_int, default=20, help="sessions per agent and user"
    )
    p.add_argument(
        "--agent-dir", default="runs/agents",
        help="trained agents (<world>-<agent>-seed0.pt); missing ones are trained there first",
    )
    add_server_flags(p)
    p.add_argument("--cache", default=None, help="SQLite response cache file (none by default)")
    p.add_argument(
        "--cache-mode", choices=("record", "replay", "off"), default="record", help="cache mode"
    )
    p.add_argument("--seed", type=nonnegative_int, default=0, help="seed of every random draw")
    p.add_argument("--data-dir", default=None, help="dataset root (default: $RECOWORLD_DATA)")
    p.add_argument("--json", action="store_true", help="print one JSON object as the last line")
    return run


def run(args: argparse.Namespace) -> int:
    """Run ``recoworld fidelity``."""
    from recoworld.bench.fidelity import measure_fidelity
    from recoworld.datasets.registry import load_world
    from recoworld.errors import ConfigError, LLMResponseError
    from recoworld.registration import CONVERSATIONAL_IDS
    from recoworld.users.target_item import TargetItemUser

    if args.env not in CONVERSATIONAL_IDS:
        raise ConfigError(
            f"`--env` must be a conversational environment id, one of "
            f"{sorted(CONVERSATIONAL_IDS)}, got {args.env!r}"
        )
    world = load_world(CONVERSATIONAL_IDS[args.env], args.data_dir)
    indices = _indices(args.indices) if args.indices else None
    if indices is not None:
        args.sessions = len(indices)
    extra: dict[str, Any] = {
        "env": args.env, "user": args.user, "split": args.split, "first": args.first,
        "synthetic": bool(world.synthetic),
    }
    if args.user == "statistical":
        report = measure_fidelity(
            world, TargetItemUser(world), args.sessions, args.split, args.questions,
            seed=args.seed, first=args.first, indices=indices,
        )
        if args.rank_agents:
            extra["ranking"] = _ranking(args, world, TargetItemUser(world)).to_json()
    elif args.user == "llm":
        from recoworld.users.llm.cache import ResponseCache
        from recoworld.users.llm.client import LLMClient, LLMClientConfig
        from recoworld.users.llm.conversational import (
            LLMConversationalUser,
            LLMConversationalUserConfig,
        )
        from recoworld.users.llm.scored import ScoredConversationalUser, ScoredUserConfig

        cache = ResponseCache(args.cache, args.cache_mode) if args.cache else None
        config = LLMClientConfig(base_url=args.base_url, model=args.model, timeout_s=args.timeout)
        with LLMClient(config, cache) as client:
            user: Any
            if args.method == "scored":
                user = ScoredConversationalUser(
                    world,
                    client,
                    ScoredUserConfig(
                        item_noun=args.item_noun, calibration=args.calibration, shots=args.shots
                    ),
                )
                extra.update(calibration=args.calibration, shots=args.shots)
            else:
                user = LLMConversationalUser(
                    world, client, LLMConversationalUserConfig(item_noun=args.item_noun)
                )
            report = measure_fidelity(
                world, user, args.sessions, args.split, args.questions, seed=args.seed,
                first=args.first, indices=indices,
            )
            if args.rank_agents:
                extra["ranking"] = _ranking(args, world, user).to_json()
            extra.update(
                method=args.method, model=client.model, base_url=client.base_url,
                server_calls=client.server_calls, cache_hits=client.cache_hits,
            )
        if report.turns and report.invalid_responses == report.turns:
            raise LLMResponseError(
                f"no reply of the LLM at {extra['base_url']} (model {extra['model']!r}) was "
                f"usable: all {report.turns} replies were invalid, so no fidelity can be "
                "measured; check that the server follows JSON-schema or grammar constraints, "
                "or try a larger model"
            )
    else:
        raise ConfigError(f"`--user` must be 'llm' or 'statistical', got {args.user!r}")
    out = {**report.to_json(), **extra}
    if args.json:
        print_json(out)
    else:
        for key in sorted(out):
            value = out[key]
            print(f"{key:>26}: {value:.3f}" if isinstance(value, float) else f"{key:>26}: {value}")
    return 0


def _ranking(args: argparse.Namespace, world: Any, user: Any) -> Any:
    """Rank ``--rank-agents`` under ``user`` and under the statistical user."""
    from recoworld.agents.registry import RULE_AGENTS, TRAINABLE_AGENTS, make_agent, train_or_load
    from recoworld.bench.agreement import ranking_agreement
    from recoworld.errors import ConfigError
    from recoworld.users.target_item import TargetItemUser

    names = [n.strip() for n in str(args.rank_agents).split(",") if n.strip()]
    agents: dict[str, Any] = {}
    for name in names:
        if name in RULE_AGENTS:
            agents[name] = make_agent(name, world, seed=args.seed)
        elif name in TRAINABLE_AGENTS:
            agents[name] = train_or_load(name, world, 0, args.agent_dir)
        else:
            raise ConfigError(
                f"`--rank-agents` names unknown agent {name!r}; known: "
                f"{[*RULE_AGENTS, *TRAINABLE_AGENTS]}"
            )
    return ranking_agreement(
        world, agents, TargetItemUser(world), user, args.rank_sessions, args.split, args.seed
    )


def _indices(text: str) -> list[int]:
    """Parse ``--indices`` ("0-9,20"): comma-separated indices and inclusive ranges."""
    from recoworld.errors import ConfigError

    out: list[int] = []
    for part in text.split(","):
        lo, _, hi = part.strip().partition("-")
        try:
            a = int(lo)
            b = int(hi) if hi else a
        except ValueError:
            raise ConfigError(
                f"`--indices` must be comma-separated integers or ranges like 0-9, got {text!r}"
            ) from None
        out.extend(range(a, b + 1))
    return out
