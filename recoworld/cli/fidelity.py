"""``recoworld fidelity``: score a conversational user simulator against the ground truth."""

from __future__ import annotations

import argparse
from typing import Any

from recoworld.cli._common import Runner, SubParsers, print_json

__all__ = ["add"]


def add(sub: SubParsers) -> Runner:
    """Declare ``fidelity``."""
    p = sub.add_parser(
        "fidelity", help="score a conversational user simulator against the ground truth"
    )
    p.add_argument("--env", required=True, help="conversational env id, e.g. recoworld/LastFM-CRS-v0")
    p.add_argument("--user", choices=("llm", "statistical"), default="llm", help="simulator")
    p.add_argument("--sessions", type=int, default=20, help="sessions to play (first N of the split)")
    p.add_argument("--split", default="test", help="session split")
    p.add_argument("--questions", type=int, default=4, help="questions per session")
    p.add_argument("--base-url", default=None, help="OpenAI-protocol endpoint ($OPENAI_BASE_URL)")
    p.add_argument("--model", default=None, help="model name ($RECOWORLD_LLM_MODEL)")
    p.add_argument("--cache", default=None, help="SQLite response cache file (none by default)")
    p.add_argument(
        "--cache-mode", choices=("record", "replay", "off"), default="record", help="cache mode"
    )
    p.add_argument("--seed", type=int, default=0, help="seed of every random draw")
    p.add_argument("--data-dir", default=None, help="dataset root (default: $RECOWORLD_DATA)")
    p.add_argument("--json", action="store_true", help="print one JSON object as the last line")
    return run


def run(args: argparse.Namespace) -> int:
    """Run ``recoworld fidelity``."""
    from recoworld.bench.fidelity import measure_fidelity
    from recoworld.datasets.registry import load_world
    from recoworld.errors import ConfigError
    from recoworld.registration import CONVERSATIONAL_IDS
    from recoworld.users.target_item import TargetItemUser

    if args.env not in CONVERSATIONAL_IDS:
        raise ConfigError(
            f"`--env` must be a conversational environment id, one of "
            f"{sorted(CONVERSATIONAL_IDS)}, got {args.env!r}"
        )
    world = load_world(CONVERSATIONAL_IDS[args.env], args.data_dir)
    extra: dict[str, Any] = {"env": args.env, "user": args.user, "split": args.split}
    if args.user == "statistical":
        report = measure_fidelity(
            world, TargetItemUser(world), args.sessions, args.split, args.questions, seed=args.seed
        )
    elif args.user == "llm":
        from recoworld.users.llm.cache import ResponseCache
        from recoworld.users.llm.client import LLMClient, LLMClientConfig
        from recoworld.users.llm.conversational import LLMConversationalUser

        cache = ResponseCache(args.cache, args.cache_mode) if args.cache else None
        config = LLMClientConfig(base_url=args.base_url, model=args.model)
        with LLMClient(config, cache) as client:
            user = LLMConversationalUser(world, client)
            report = measure_fidelity(
                world, user, args.sessions, args.split, args.questions, seed=args.seed
            )
            extra.update(
                model=client.model, base_url=client.base_url, server_calls=client.server_calls,
                cache_hits=client.cache_hits,
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
