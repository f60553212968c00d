"""Prompt templates of the LLM users, stored as package data files under ``prompts/``.

Templates use :class:`string.Template` placeholders (``$name``) so that the JSON examples they
contain need no escaping. A placeholder left unfilled is an error, never an empty string.
"""

from __future__ import annotations

import string
from functools import cache
from importlib import resources

from recoworld.errors import ConfigError

__all__ = ["prompt_names", "render_prompt"]


@cache
def _template(name: str) -> string.Template:
    path = resources.files("recoworld.users.llm").joinpath("prompts", f"{name}.txt")
    if not path.is_file():
        raise ConfigError(
            f"prompt template {name!r} does not exist; available: {prompt_names()}"
        )
    return string.Template(path.read_text(encoding="utf-8").strip())


def prompt_names() -> list[str]:
    """Return the names of every bundled prompt template."""
    folder = resources.files("recoworld.users.llm").joinpath("prompts")
    return sorted(p.name[:-4] for p in folder.iterdir() if p.name.endswith(".txt"))


def render_prompt(name: str, **values: str) -> str:
    """Fill template ``name`` with ``values``; a missing placeholder raises :class:`ConfigError`."""
    try:
        return _template(name).substitute(values)
    except KeyError as exc:
        raise ConfigError(
            f"prompt template {name!r} needs a value for {exc.args[0]!r}; got {sorted(values)}"
        ) from exc
