"""Write docs/environments.md from the environments' own docstrings.

Run after changing an environment's docstring: ``.venv/bin/python docs/build_env_reference.py``.
The test ``tests/test_docs.py`` checks that every registered id and every environment class is in
the page, so the reference cannot silently fall behind the registry.
"""

from __future__ import annotations

import importlib
import inspect
import re
import sys
from pathlib import Path

import gymnasium

import recoworld  # noqa: F401  (registers the ids)
from recoworld.registration import CONVERSATIONAL_IDS, FEED_IDS, all_ids

OUT = Path(__file__).resolve().parent / "environments.md"
# classes documented, in page order: the environments, then the wrappers agents train on
CLASSES = (
    "recoworld.envs.conversational:ConversationalRecEnv",
    "recoworld.envs.conversational_vector:ConversationalVectorEnv",
    "recoworld.envs.feed:FeedEnv",
    "recoworld.envs.feed:SlateFeedEnv",
    "recoworld.envs.feed_vector:FeedVectorEnv",
    "recoworld.envs.crs_wrappers:AskOrRecommendWrapper",
    "recoworld.envs.crs_wrappers:AttributeOrRecommendWrapper",
)


def _load(path: str) -> type:
    module, name = path.split(":")
    return getattr(importlib.import_module(module), name)  # type: ignore[no-any-return]


def _demote(doc: str) -> str:
    # the docstrings use "## Section"; on this page a class is "##", its sections "###"
    return re.sub(r"^(#+) ", lambda m: "#" + m.group(1) + " ", doc, flags=re.MULTILINE)


def _entry(env_id: str) -> str:
    spec = gymnasium.spec(env_id)
    entry = spec.entry_point if isinstance(spec.entry_point, str) else repr(spec.entry_point)
    return f"| `{env_id}` | `{entry}` | {spec.max_episode_steps} | `{spec.kwargs}` |"


def render() -> str:
    """The whole page as markdown."""
    lines = [
        "# Environment reference",
        "",
        "Generated from the docstrings by `docs/build_env_reference.py`; edit the docstrings, "
        "not this page.",
        "",
        "## Registered ids",
        "",
        "| id | entry point | max_episode_steps | kwargs |",
        "|---|---|---|---|",
    ]
    lines += [_entry(i) for i in all_ids()]
    lines += [
        "",
        f"Conversational ids: {len(CONVERSATIONAL_IDS)}; feed ids: {len(FEED_IDS)}. "
        "`gymnasium.make(id, data_dir=...)` reads real data from a folder "
        "(default `$RECOWORLD_DATA`).",
        "",
    ]
    for path in CLASSES:
        cls = _load(path)
        doc = inspect.getdoc(cls) or "(no docstring)"
        lines += [f"## `{path.replace(':', '.')}`", "", _demote(doc), ""]
        init = inspect.signature(cls.__init__)
        lines += ["Constructor:", "", "```python", f"{cls.__name__}{init}".replace("(self, ", "("),
                  "```", ""]
    return "\n".join(lines)


if __name__ == "__main__":
    text = render()
    if "--check" in sys.argv:
        sys.exit(0 if OUT.read_text() == text else 1)
    OUT.write_text(text)
    print(f"wrote {OUT} ({len(text.splitlines())} lines)")
