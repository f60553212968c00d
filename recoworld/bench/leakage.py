"""Target leakage: a simulated user naming or describing its target before it is recommended.

"How Reliable is Your Simulator?" (2024) shows LLM user simulators leaking the target item into
the dialogue, which lets a recommender "succeed" by reading the answer off the user. RecoWorld's
LLM users are never told the target's id or title, but a user can still describe it: an opening
"I want rock, 80s and synthpop" hands a text-reading agent the attributes the protocol would make
it ask for one by one. :func:`find_leaks` flags, in one utterance of the user:

- ``"target_id"``: the target's item id as a whole number, or its name where the world has names;
- ``"attribute"``: the name of a target attribute that the protocol has not disclosed yet (the
  opening attribute and the attributes the agent asked about are disclosed).

Names match as whole words, case-insensitively ("pop" does not match "popular").
"""

from __future__ import annotations

import re
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Literal

from recoworld.datasets.world import AttributeGraphWorld

__all__ = ["Leak", "find_leaks"]


@dataclass(frozen=True)
class Leak:
    """One leak in an utterance: what kind, and the text that gave it away."""

    kind: Literal["target_id", "attribute"]
    evidence: str


def _mentions(text: str, phrase: str) -> bool:
    if not phrase:
        return False
    pattern = r"(?<![\w])" + re.escape(phrase.casefold()) + r"(?![\w])"
    return re.search(pattern, text.casefold()) is not None


def find_leaks(
    text: str,
    world: AttributeGraphWorld,
    target: int,
    disclosed: Collection[int] = (),
    item_names: Sequence[str] = (),
) -> list[Leak]:
    """The leaks of the target ``target`` in ``text`` given the ``disclosed`` attributes."""
    leaks: list[Leak] = []
    if _mentions(text, str(int(target))):
        leaks.append(Leak("target_id", str(int(target))))
    if item_names and 0 <= target < len(item_names) and _mentions(text, item_names[target]):
        leaks.append(Leak("target_id", item_names[target]))
    shown = set(int(a) for a in disclosed)
    for a in world.attributes_of(int(target)):
        name = world.attribute_names[int(a)]
        if int(a) not in shown and _mentions(text, name):
            leaks.append(Leak("attribute", name))
    return leaks
