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
    data_kwargs,
    print_json,
)

__all__ = ["add"]


def add(sub: SubParsers) -> Runner:
    """Declare ``evaluate``."""
    p = sub.add_parser("evaluate", help="evaluate an agent on an environment")
    p.add_argument("--env", required=True, help="environment id, e.g. recoworld/LastFM-CRS-v0")
    p.add_argument("--agent", required=True, help="agent name (see --help of the env family)")
    p.add_argument("--split", default="test", help="session split (conversational envs)")
    p.add_argument("--sessions", type=int, default=None, help="evaluate only the first N sessions")
    p.add_argument("--episodes", type=int, default=None, help="episodes (feed envs)")
    p.add_argument("--checkpoint", default=None, help="path of a trained agent's checkpoint")
    p.add_argument("--seed", type=int, default=0, help="seed of every random draw")
    p.add_argument("--data-dir", default=None, help="dataset root (default: $RECOWORLD_DATA)")
    add_user_arguments(p)
    p.add_argument("--json", action="store_true", help="print one JSON object as the last line")
    return run


def run(args: argparse.Namespace) -> int:
    """Run ``evaluate`` on a conversational or a feed id."""
    from recoworld.errors import ConfigError
    from recoworld.registration import is_conversational, is_feed

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
    from recoworld.evaluation import evaluate
    from recoworld.users.registry import open_conversational_user, read_user_config, user_spec

    probe = gymnasium.make(args.env, **data_kwargs(args))
    world = probe.unwrapped.world  # type: ignore[attr-defined]
    spec = user_spec(args.user, read_user_config(args.user_config), args.base_url)
    agent = make_agent(args.agent, world, args.seed, args.checkpoint)
    start = time.perf_counter()
    with open_conversational_user(spec, world) as user:
        env = gymnasium.make(args.env, world=world, user=user, reject_filter=args.reject_filter)
        m, _ = evaluate(env, agent, args.split, args.sessions, args.seed, progress=True)
    seconds = time.perf_counter() - start
    print(
        _format_table(
            [
                ("env", args.env),
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
        )
        print_json(out)
    return 0


def _run_feed(args: argparse.Namespace) -> int:
    import gymnasium

    from recoworld.agents.feed import make_feed_agent
    from recoworld.errors import ConfigError
    from recoworld.evaluation import evaluate_feed, evaluate_feed_slates, make_feed_vector_env

    episodes = 100 if args.episodes is None else int(args.episodes)
    if episodes < 1:
        raise ConfigError(f"`--episodes` must be >= 1, got {episodes}")
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
        agent = make_feed_agent(args.agent, env, seed=args.seed)
    if slates:
        metrics = evaluate_feed_slates(env, agent, episodes, seed=args.seed)
    else:
        metrics = evaluate_feed(env, agent, episodes, seed=args.seed)
    row = {"env": args.env, "agent": args.agent, "seed": args.seed, **asdict(metrics)}
    if args.json:
        print_json(row)
    else:
        for key, value in row.items():
            print(f"{key:>12}: {value}")
    return 0
