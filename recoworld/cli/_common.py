"""Helpers shared by the sub-command modules."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from typing import Any, TypeAlias

__all__ = ["Runner", "SubParsers", "data_kwargs", "print_json"]

Runner: TypeAlias = Callable[[argparse.Namespace], int]
SubParsers: TypeAlias = "argparse._SubParsersAction[argparse.ArgumentParser]"


def print_json(obj: dict[str, Any]) -> None:
    """Print ``obj`` as one JSON line on stdout (the ``--json`` contract)."""
    sys.stdout.write(json.dumps(obj, sort_keys=True) + "\n")
    sys.stdout.flush()


def data_kwargs(args: argparse.Namespace) -> dict[str, Any]:
    """The ``gymnasium.make`` keyword arguments the ``--data-dir`` flag asks for."""
    return {} if getattr(args, "data_dir", None) is None else {"data_dir": args.data_dir}
