"""Helpers shared by the sub-command modules."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from typing import Any, TypeAlias

__all__ = ["Runner", "SubParsers", "add_user_arguments", "data_kwargs", "print_json"]

Runner: TypeAlias = Callable[[argparse.Namespace], int]
SubParsers: TypeAlias = "argparse._SubParsersAction[argparse.ArgumentParser]"


def print_json(obj: dict[str, Any]) -> None:
    """Print ``obj`` as one JSON line on stdout (the ``--json`` contract)."""
    sys.stdout.write(json.dumps(obj, sort_keys=True) + "\n")
    sys.stdout.flush()


def data_kwargs(args: argparse.Namespace) -> dict[str, Any]:
    """The ``gymnasium.make`` keyword arguments the ``--data-dir`` flag asks for."""
    return {} if getattr(args, "data_dir", None) is None else {"data_dir": args.data_dir}


def add_user_arguments(p: argparse.ArgumentParser) -> None:
    """Declare ``--user``, ``--user-config``, ``--base-url`` and ``--reject-filter``."""
    from recoworld.users.registry import USER_KINDS

    p.add_argument(
        "--user", choices=USER_KINDS, default="statistical",
        help="simulated user of the conversational env (default: statistical, exact answers)",
    )
    p.add_argument(
        "--user-config", default=None,
        help="JSON file of the user's settings (noisy: answer_flip_prob, leave_prob; llm: "
        "model, cache, cache_mode, timeout_s, ...)",
    )
    p.add_argument("--base-url", default=None, help="OpenAI-protocol endpoint of --user llm")
    p.add_argument(
        "--reject-filter", action="store_true",
        help="env protocol option: declined attributes also remove candidates (default: off, "
        "the published protocol)",
    )
