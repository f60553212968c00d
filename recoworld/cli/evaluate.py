"""``recoworld evaluate``: score an agent on an environment (conversational or feed)."""

from __future__ import annotations

import argparse
import time
from dataclasses import asdict
from typing import Any

from recoworld.cli._common import (
    Runner,
    SubParsers,
    add_user_arguments,
    agent_help,
    data_kwargs,
    env_help,
    nonnegative_int,
    positive_int,
    print_json,
)

__all__ = ["add"]

_DESCRIPTION = """\
Score an agent on an environment and print a table (with --json, also one JSON line).

Conversational ids report SR@5/10/15, average turns (AT) and hDCG@(15,10) over the sessions of a
split; feed ids report watch time, depth, likes, returns, coverage and diversity over episodes.
Every output says whether the world was synthetic ("synthetic": true) or read from the real data.

examples:
  recoworld evaluate --env recoworld/Synthetic-CRS-v0 --agent max-entropy
  recoworld evaluate --env recoworld/LastFM-CRS-v0 --agent scpr --checkpoint runs/scpr --json
  recoworld evaluate --env recoworld/ShortVideo-v0 --agent most-popular --episodes 256"""


def add(sub: SubParsers) -> Runner:
    """Declare ``evaluate``."""
    from recoworld.registration import all_ids

    p = sub.add_parser(
        "evaluate", help="score an agent on an environment", description=_DESCRIPTION
    )
    p.add_argument(
        "--env", required=True, choices=all_ids(), metavar="ID",
        help=f"environment id; {env_help()}",
    )
    p.add_argument("--agent", required=True, metavar="NAME", help=f"agent name; {agent_help()}")
    p.add_argument(
        "--split", default="test", choices=("train", "valid", "test"),
        help="session split (conversational envs)",
    )
    p.add_argument(
        "--sessions", type=positive_int, default=None, metavar="N",
        help="evaluate only the first N sessions of the split (default: every session)",
    )
    p.add_argument(
        "--num-envs", type=positive_int, default=1024, metavar="N",
        help="conversations played at once where the agent allows it (1: one at a time; same "
             "results)",
    )
    p.add_argument(
        "--episodes", type=positive_int, default=None, metavar="N",
        help="episodes (feed envs; default: 100)",
    )
    p.add_argument(
        "--checkpoint", default=None, metavar="PATH",
        help="a learned agent: the folder `recoworld train --out` wrote, or the agent.pt in it "
             "(feed ppo: the .zip FeedPPOAgent.save wrote)",
    )
    p.add_argument("--seed", type=nonnegative_int, default=0, help="seed of every random draw")
    p.add_argument("--data-dir", default=None, help="dataset root (default: $RECOWORLD_DATA)")
    add_user_arguments(p)
    p.add_argument("--json", action="store_true", help="print one JSON object as the last line")
    return run


def run(args: argparse.Namespace) -> int:
    """Run ``evaluate`` on a conversational or a feed id."""
    from recoworld.errors import ConfigError
    from recoworld.registration import canonical_agent_name, is_conversational, is_feed

    args.agent = canonical_agent_name(args.agent)
    if is_conversational(args.env):
        return _run_conversational(args)
    if is_feed(args.env):
        if (args.user != "statistical" or args.user_config is not None
                or args.base_url is not None or args.reject_filter):
            raise ConfigError(
                "--user, --user-config, --base-url and --reject-filter apply to conversational "
                f"envs; {args.env!r} is a feed env"
            )
        return _run_feed(args)
    raise ConfigError(f"`--env` {args.env!r} is not a known RecoWorld environment id")


def _format_table(rows: list[tuple[str, str]]) -> str:
    width = max(len(k) for k, _ in rows)
    return "\n".join(f"{k:<{width}}  {v}" for k, v in rows)


def _run_conversational(args: argparse.Namespace) -> int:
    import gymnasium

    from recoworld.agents.registry import make_agent
    from recoworld.errors import ConfigError
    from recoworld.evaluation import evaluate
    from recoworld.registration import FEED_AGENTS
    from recoworld.users.registry import open_conversational_user, read_user_config, user_spec

    if args.episodes is not None:
        raise ConfigError("`--episodes` is for feed envs; conversational envs take `--sessions N`")
    if args.agent in FEED_AGENTS and args.agent != "random":
        raise ConfigError(
            f"agent {args.agent!r} is a feed agent; {args.env} is conversational "
            f"({agent_help('conversational')})"
        )
    probe = gymnasium.make(args.env, **data_kwargs(args))
    world = probe.unwrapped.world  # type: ignore[attr-defined]
    spec = user_spec(args.user, read_user_config(args.user_config), args.base_url)
    agent = make_agent(args.agent, world, args.seed, args.checkpoint)
    start = time.perf_counter()
    with open_conversational_user(spec, world) as user:
        env = gymnasium.make(args.env, world=world, user=user, reject_filter=args.reject_filter)
        m, _ = evaluate(
            env, agent, args.split, args.sessions, args.seed, progress=True,
            num_envs=args.num_envs,
        )
    seconds = time.perf_counter() - start
    print(
        _format_table(
            [
                ("env", args.env),
                ("world", f"{world.name} ({'synthetic' if world.synthetic else 'real data'})"),
                ("agent", args.agent),
                ("user", args.user),
                ("protocol", "reject-filter" if args.reject_filter else "published"),
                ("sessions", str(m.sessions)),
                ("SR@5", f"{m.sr5:.4f}"),
                ("SR@10", f"{m.sr10:.4f}"),
                ("SR@15", f"{m.sr15:.4f}"),
                ("AT", f"{m.avg_turns:.3f}"),
                ("hDCG@(15,10)", f"{m.hdcg:.4f}"),
                ("env steps/s", f"{m.steps / max(seconds, 1e-9):,.0f}"),
                ("seconds", f"{seconds:.1f}"),
            ]
        )
    )
    if args.json:
        out: dict[str, Any] = m.to_json()
        out.update(
            env=args.env, agent=args.agent, split=args.split, seed=args.seed, seconds=seconds,
            user=spec.to_json(), protocol="reject-filter" if args.reject_filter else "published",
            synthetic=bool(world.synthetic), world=world.name,
        )
        print_json(out)
    return 0


def _run_feed(args: argparse.Namespace) -> int:
    import gymnasium

    from recoworld.agents.feed import make_feed_agent
    from recoworld.errors import ConfigError
    from recoworld.evaluation import evaluate_feed, evaluate_feed_slates, make_feed_vector_env
    from recoworld.registration import FEED_AGENTS

    if args.sessions is not None:
        raise ConfigError("`--sessions` is for conversational envs; feed envs take `--episodes N`")
    if args.agent not in FEED_AGENTS:
        raise ConfigError(
            f"unknown agent {args.agent!r} for feed envs; known: {', '.join(FEED_AGENTS)}"
        )
    episodes = 100 if args.episodes is None else int(args.episodes)
    kwargs = data_kwargs(args)
    slates = gymnasium.spec(args.env).vector_entry_point is None
    env: Any = (
        gymnasium.make(args.env, **kwargs)
        if slates
        else make_feed_vector_env(args.env, num_envs=min(episodes, 128), **kwargs)
    )
    if args.agent == "ppo":
        from recoworld.agents.feed_sb3 import FeedPPOAgent

        if args.checkpoint is None:
            raise ConfigError(
                "`--agent ppo` needs `--checkpoint PATH` (a model saved by FeedPPOAgent)"
            )
        agent: Any = FeedPPOAgent.load(args.checkpoint)
    else:
        if args.checkpoint is not None:
            raise ConfigError(f"feed agent {args.agent!r} takes no `--checkpoint`")
        agent = make_feed_agent(args.agent, env, seed=args.seed)
    if slates:
        metrics = evaluate_feed_slates(env, agent, episodes, seed=args.seed)
    else:
        metrics = evaluate_feed(env, agent, episodes, seed=args.seed)
    world = getattr(env, "unwrapped", env).world
    row = {
        "env": args.env, "agent": args.agent, "seed": args.seed,
        "synthetic": bool(world.synthetic), **asdict(metrics),
    }
    if args.json:
        print_json(row)
    else:
        for key, value in row.items():
            print(f"{key:>12}: {value}")
    return 0
