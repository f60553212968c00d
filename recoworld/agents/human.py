"""A person in the agent's seat of a conversation: ``recoworld play --as agent``.

Each turn the person types a command at a prompt that shows the turn and the candidate count:

- ``find TEXT``: questions (attributes, or parents in enumerated worlds) whose name holds TEXT,
  with how many candidates hold each;
- ``ask NAME`` (or ``ask ID``): ask that question;
- ``items [TEXT]``: the best candidates by popularity (those whose name holds TEXT);
- ``rec ID ...``: recommend these items, best first; ``rec top``: the best candidates;
- ``help``; ``quit`` (or Ctrl-C, or end of input) stops the session.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from recoworld.datasets.world import AttributeGraphWorld
from recoworld.envs.conversational import ASK, RECOMMEND
from recoworld.envs.crs_stats import attribute_counts
from recoworld.scoring import PopularityScorer, top_items
from recoworld.users.human import Console, TerminalConsole

__all__ = ["HumanAgent"]

_HELP = """commands:
  find TEXT      questions whose name holds TEXT (with how many candidates hold each)
  ask NAME|ID    ask that question
  items [TEXT]   best candidates by popularity (whose name holds TEXT)
  rec ID ...     recommend these items, best first;  rec top: the best candidates
  help           this list;  quit (or Ctrl-C, or end of input) stops"""


class HumanAgent:
    """A conversational agent whose actions a person types (see the module docstring).

    ``predict(obs)`` reads commands until one of them is an action. Mistyped commands and unknown
    names are answered at the prompt and never reach the environment.
    """

    def __init__(
        self,
        world: AttributeGraphWorld,
        console: Console | None = None,
        rec_size: int = 10,
        shown: int = 15,
    ) -> None:
        self.world = world
        self.console: Console = console or TerminalConsole()
        self.rec_size = rec_size
        self.shown = shown
        self._scorer = PopularityScorer(world)
        names = world.parent_names if world.question_mode == "enumerated" else world.attribute_names
        self._names = tuple(names)
        self._lower = tuple(n.lower() for n in names)

    # ---- lookups -------------------------------------------------------------------------------
    def _candidates(self, obs: dict[str, Any]) -> npt.NDArray[np.int64]:
        return np.flatnonzero(np.asarray(obs["candidates"])).astype(np.int64)

    def _ranked(self, obs: dict[str, Any], cand: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
        s = self._scorer.scores(int(obs["user"]), obs["accepted"], obs["rejected"], cand)
        return top_items(cand, s, cand.size)

    def _holders(self, cand: npt.NDArray[np.int64]) -> npt.NDArray[np.float64]:
        counts = attribute_counts(self.world, cand)
        if self.world.question_mode == "enumerated":
            assert self.world.parent_children is not None
            return np.asarray(self.world.parent_children.astype(np.float64) @ counts).ravel()
        return counts

    def _resolve(self, text: str) -> int | None:
        """The question named (or numbered) ``text``; lists the matches when it is ambiguous."""
        if text.isdigit() and int(text) < len(self._names):
            return int(text)
        key = text.lower()
        if key in self._lower:
            return self._lower.index(key)
        matches = [q for q, n in enumerate(self._lower) if key in n]
        if len(matches) == 1:
            return matches[0]
        if not matches:
            self.console.write(f'no question is called "{text}"; try `find {text}`')
        else:
            listed = ", ".join(f"{self._names[q]} ({q})" for q in matches[: self.shown])
            self.console.write(f'"{text}" matches several: {listed}')
        return None

    # ---- commands ------------------------------------------------------------------------------
    def _find(self, obs: dict[str, Any], text: str) -> None:
        cand = self._candidates(obs)
        holders = self._holders(cand)
        asked = np.asarray(obs["asked"], dtype=bool)
        key = text.lower()
        hits = [q for q, n in enumerate(self._lower) if key in n and not asked[q]]
        hits.sort(key=lambda q: -holders[q])
        if not hits:
            self.console.write(f'no unasked question holds "{text}"')
        for q in hits[: self.shown]:
            self.console.write(
                f"  {q:>5}  {self._names[q]}  (held by {int(holders[q]):,} of {cand.size:,})"
            )

    def _items(self, obs: dict[str, Any], text: str) -> None:
        ranked = self._ranked(obs, self._candidates(obs))
        key = text.lower()
        shown = [v for v in ranked.tolist() if key in self.world.item_name(v).lower()]
        for k, v in enumerate(shown[: self.shown], 1):
            self.console.write(f"  {k:>3}. item {v}: {self.world.item_name(v)}")
        if not shown:
            self.console.write("no candidate matches")

    def _recommend(self, obs: dict[str, Any], args: list[str]) -> dict[str, Any] | None:
        if args == ["top"]:
            items = self._ranked(obs, self._candidates(obs))[: self.rec_size]
        elif args and all(a.isdigit() and int(a) < self.world.n_items for a in args):
            items = np.asarray([int(a) for a in args], dtype=np.int64)
        else:
            self.console.write(f"`rec` takes item ids in [0, {self.world.n_items}) or `top`")
            return None
        if items.size == 0 or items.size > self.rec_size:
            self.console.write(f"recommend 1 to {self.rec_size} items")
            return None
        padded = np.full(self.rec_size, items[-1], dtype=np.int64)
        padded[: items.size] = items
        return {"kind": RECOMMEND, "question": 0, "items": padded}

    # ---- agent surface -------------------------------------------------------------------------
    def predict(self, obs: dict[str, Any]) -> dict[str, Any]:
        """Read commands until the person asks a question or recommends items.

        Raises:
            EOFError: end of input, or the person typed ``quit``.

        """
        n = int(np.count_nonzero(obs["candidates"]))
        while True:
            line = self.console.read(f"turn {int(obs['turn']) + 1} | {n:,} candidates > ").strip()
            verb, _, rest = line.partition(" ")
            rest = rest.strip()
            if verb == "quit":
                raise EOFError("the person quit")
            if verb == "help" or not verb:
                self.console.write(_HELP)
            elif verb == "find":
                self._find(obs, rest)
            elif verb == "items":
                self._items(obs, rest)
            elif verb == "ask":
                q = self._resolve(rest) if rest else None
                if q is not None:
                    return {"kind": ASK, "question": q, "items": np.zeros(self.rec_size, np.int64)}
            elif verb == "rec":
                action = self._recommend(obs, rest.split())
                if action is not None:
                    return action
            else:
                self.console.write(f"unknown command {verb!r}; type `help`")
