"""mkdocs hooks: render the docstrings' Sphinx roles (``:class:`X```) as plain code names.

The docstrings are read as text (``help()``) and by mkdocstrings; mkdocstrings leaves Sphinx roles
as they are, so ``:class:`~recoworld.envs.FeedEnv``` would print its role. This drops the role and,
for a ``~`` target, keeps the last dotted part, as Sphinx does.
"""

from __future__ import annotations

import re
from typing import Any

_ROLE = re.compile(r":(?:class|mod|func|meth|attr|data|exc|obj):<code>(~?)([^<]+)</code>")


def _name(match: re.Match[str]) -> str:
    tilde, target = match.groups()
    return f"<code>{target.rsplit('.', 1)[-1] if tilde else target}</code>"


def on_page_content(html: str, **kwargs: Any) -> str:
    """Replace every rendered role with its code name."""
    return _ROLE.sub(_name, html)
