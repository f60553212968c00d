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
        help="sessions to play (the first N of the split)",
    )
    p.add_argument("--split", default="test", choices=("train", "valid", "test"), help="session split")
    p.add_argument(
        "--questions", type=positive_int, default=4, metavar="N", help="questions per session"
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
    extra: dict[str, Any] = {
        "env": args.env, "user": args.user, "split": args.split,
        "synthetic": bool(world.synthetic),
    }
    if args.user == "statistical":
        report = measure_fidelity(
            world, TargetItemUser(world), args.sessions, args.split, args.questions, seed=args.seed
        )
    elif args.user == "llm":
        from recoworld.users.llm.cache import ResponseCache
        from recoworld.users.llm.client import LLMClient, LLMClientConfig
        from recoworld.users.llm.conversational import LLMConversationalUser

        cache = ResponseCache(args.cache, args.cache_mode) if args.cache else None
        config = LLMClientConfig(base_url=args.base_url, model=args.model, timeout_s=args.timeout)
        with LLMClient(config, cache) as client:
            user = LLMConversationalUser(world, client)
            report = measure_fidelity(
                world, user, args.sessions, args.split, args.questions, seed=args.seed
            )
            extra.update(
                model=client.model, base_url=client.base_url, server_calls=client.server_calls,
                cache_hits=client.cache_hits,
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
