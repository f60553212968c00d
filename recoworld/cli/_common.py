"""Helpers shared by the sub-command modules: the parser, argument types, JSON output."""

from __future__ import annotations

import argparse
import sys
import textwrap
from collections.abc import Callable, Sequence
from typing import Any, NoReturn, TypeAlias

__all__ = [
    "HelpFormatter",
    "Parser",
    "Runner",
    "SubParsers",
    "add_server_flags",
    "add_user_arguments",
    "agent_help",
    "data_kwargs",
    "env_help",
    "nonnegative_int",
    "positive_float",
    "positive_int",
    "print_json",
    "wrap_block",
]

Runner: TypeAlias = Callable[[argparse.Namespace], int]
SubParsers: TypeAlias = "argparse._SubParsersAction[argparse.ArgumentParser]"


class HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """Keeps the descriptions' line breaks and appends each option's default when it has one.

    Help texts wrap between words only, never inside an id such as ``recoworld/LastFM-CRS-v0``.
    """

    def _split_lines(self, text: str, width: int) -> list[str]:
        return textwrap.wrap(
            " ".join(text.split()), width, break_on_hyphens=False, break_long_words=False
        )

    def _get_help_string(self, action: argparse.Action) -> str | None:
        text = action.help or ""
        default = action.default
        if (
            "%(default)" in text
            or default is None
            or default is False
            or default is argparse.SUPPRESS
            or not action.option_strings
        ):
            return text
        return text + " (default: %(default)s)"


class Parser(argparse.ArgumentParser):
    """An argument parser whose mistakes end in one line on stderr and exit code 2."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("formatter_class", HelpFormatter)
        super().__init__(*args, **kwargs)

    def error(self, message: str) -> NoReturn:
        """Print ``prog: error: message (see prog --help)`` on one line and exit with status 2."""
        one_line = " ".join(message.split())
        self.exit(2, f"{self.prog}: error: {one_line} (see `{self.prog} --help`)\n")


def _int(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None


def positive_int(text: str) -> int:
    """An ``int`` >= 1 (argparse type)."""
    value = _int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {value}")
    return value


def nonnegative_int(text: str) -> int:
    """An ``int`` >= 0 (argparse type; seeds)."""
    value = _int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {value}")
    return value


def positive_float(text: str) -> float:
    """A finite ``float`` > 0 (argparse type; seconds)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not (value > 0 and value != float("inf")):
        raise argparse.ArgumentTypeError(f"must be a number > 0, got {text}")
    return value


def print_json(obj: dict[str, Any]) -> None:
    """Print ``obj`` as one strict JSON line on stdout (the ``--json`` contract; NaN -> null)."""
    from recoworld.outputs import dumps_json

    sys.stdout.write(dumps_json(obj) + "\n")
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


def _listing(names: Sequence[str]) -> str:
    return ", ".join(names)


def wrap_block(title: str, lines: Sequence[str], width: int = 100) -> str:
    """``title:`` then each line wrapped between words and indented (for epilogs)."""
    out = [f"{title}:"]
    for line in lines:
        out += textwrap.wrap(
            line, width, initial_indent="  ", subsequent_indent="    ",
            break_on_hyphens=False, break_long_words=False,
        )
    return "\n".join(out)


def env_help(family: str = "all") -> str:
    """The environment ids of ``family`` (``conversational``, ``feed`` or ``all``) for a help text."""
    from recoworld.registration import CONVERSATIONAL_IDS, FEED_IDS

    conv = f"conversational: {_listing(list(CONVERSATIONAL_IDS))}"
    feed = f"feed: {_listing(list(FEED_IDS))}"
    return {"conversational": conv, "feed": feed}.get(family, f"{conv}; {feed}")


def agent_help(family: str = "all") -> str:
    """The agent names of ``family`` (``conversational``, ``feed`` or ``all``) for a help text."""
    from recoworld.registration import CRS_RULE_AGENTS, CRS_TRAINABLE_AGENTS, FEED_AGENTS

    conv = (
        f"conversational rule agents: {_listing(CRS_RULE_AGENTS)}; learned (need --checkpoint): "
        f"{_listing(CRS_TRAINABLE_AGENTS)}"
    )
    feed = f"feed: {_listing(FEED_AGENTS)} (ppo needs --checkpoint)"
    return {"conversational": conv, "feed": feed}.get(family, f"{conv}; {feed}")


def add_server_flags(p: argparse.ArgumentParser) -> None:
    """``--base-url``, ``--model`` and ``--timeout``: how a command reaches an LLM server."""
    p.add_argument(
        "--base-url", default=None,
        help="OpenAI-protocol endpoint, e.g. the URL `recoworld llm serve` prints "
             "(default: $OPENAI_BASE_URL)",
    )
    p.add_argument(
        "--model", default=None,
        help="model name sent to the server (default: $RECOWORLD_LLM_MODEL, else SmolLM2-135M-Instruct)",
    )
    p.add_argument(
        "--timeout", type=positive_float, default=60.0, metavar="SECONDS",
        help="deadline of one LLM call, retries included",
    )
