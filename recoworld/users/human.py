"""A person in the user's seat of a conversation: ``recoworld play --as user``.

The person is shown the target item and its attributes, names the opening attribute, and answers
the agent's questions at a prompt. Input and output go through a :class:`Console` (the terminal by
default; tests hand in a scripted one). End of input raises ``EOFError``, so the session stops
cleanly wherever the person leaves it.
"""

from __future__ import annotations

import select
import sys
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

from recoworld.datasets.world import AttributeGraphWorld
from recoworld.users.conversational import target_attributes

__all__ = ["Console", "HumanConversationalUser", "TerminalConsole"]


class Console(Protocol):
    """Where a person reads prompts and types answers."""

    def read(self, prompt: str) -> str:
        """Show ``prompt`` and return the line the person typed (``EOFError`` at end of input)."""
        ...

    def write(self, text: str) -> None:
        """Show ``text``."""
        ...


class TerminalConsole:
    """The terminal: standard input and output.

    Reading polls standard input instead of blocking in :func:`input`: with the worker threads of
    numerical libraries running, Ctrl-C's signal may land on another thread, and a blocking read
    would then wait for the next line before the interrupt is seen.
    """

    def read(self, prompt: str) -> str:
        """Read one line from standard input (``EOFError`` at end of input)."""
        sys.stdout.write(prompt)
        sys.stdout.flush()
        while not select.select([sys.stdin], [], [], 0.1)[0]:
            pass
        line = sys.stdin.readline()
        if not line:
            raise EOFError("end of input")
        return line.rstrip("\n")

    def write(self, text: str) -> None:
        """Print to standard output."""
        print(text, flush=True)


def _yes_no(console: Console, prompt: str) -> bool:
    while True:
        answer = console.read(prompt).strip().lower()
        if answer in ("y", "yes"):
            return True
        if answer in ("n", "no"):
            return False
        console.write("please answer y or n")


class HumanConversationalUser:
    """A :class:`~recoworld.users.ConversationalUser` whose answers a person types.

    A recommendation counts as accepted only when the person says yes and the target is really in
    the list (the environment ranks the target in an accepted list); a "yes" to a list without the
    target is reported and counted as a rejection. The person never leaves on their own: end of
    input (or Ctrl-C) stops the session.
    """

    def __init__(self, world: AttributeGraphWorld, console: Console | None = None) -> None:
        self.world = world
        self.console: Console = console or TerminalConsole()
        self._target = -1
        self._attrs: npt.NDArray[np.int32] = np.empty(0, dtype=np.int32)

    def start(self, user: int, target: int, rng: np.random.Generator) -> int:
        """Show the target and its attributes; the person picks the opening one (Enter: random)."""
        attrs = target_attributes(self.world, user, target)
        self._target, self._attrs = int(target), attrs
        w, c = self.world, self.console
        c.write(f"You are user {user}. You want item {target}: {w.item_name(target)}.")
        c.write("It has these attributes:")
        for k, a in enumerate(attrs.tolist(), 1):
            c.write(f"  {k}. {w.attribute_names[a]}")
        while True:
            raw = c.read("Which one do you open with? (number, Enter = random) ").strip()
            if not raw:
                return int(attrs[rng.integers(attrs.size)])
            if raw.isdigit() and 1 <= int(raw) <= attrs.size:
                return int(attrs[int(raw) - 1])
            c.write(f"please type a number from 1 to {attrs.size}")

    def answer_binary(self, attribute: int, rng: np.random.Generator) -> bool:
        """Ask the person whether they want ``attribute``."""
        name = self.world.attribute_names[attribute]
        return _yes_no(self.console, f'Agent: do you want "{name}"? [y/n] ')

    def answer_enumerated(self, parent: int, rng: np.random.Generator) -> npt.NDArray[np.int64]:
        """Ask the person which children of ``parent`` they want (numbers, Enter = none)."""
        w, c = self.world, self.console
        children = w.children_of(parent)
        c.write(f'Agent: which "{w.parent_names[parent]}" do you want?')
        for k, a in enumerate(children.tolist(), 1):
            c.write(f"  {k}. {w.attribute_names[a]}")
        while True:
            raw = c.read("numbers separated by spaces (Enter = none of them) ").split()
            if all(x.isdigit() and 1 <= int(x) <= children.size for x in raw):
                picked = sorted({int(x) - 1 for x in raw})
                return children[picked].astype(np.int64)
            c.write(f"please type numbers from 1 to {children.size}")

    def judge(self, items: npt.NDArray[np.int64], rng: np.random.Generator) -> bool:
        """Show the list; accept when the person says yes and the target is in it."""
        w, c = self.world, self.console
        c.write("Agent recommends:")
        for k, v in enumerate(items.tolist(), 1):
            c.write(f"  {k}. {w.item_name(v)} (item {v})")
        yes = _yes_no(c, f"Is your item ({w.item_name(self._target)}) among them? [y/n] ")
        if yes and not bool(np.any(items == self._target)):
            c.write(f"item {self._target} is not in this list: counted as a rejection")
            return False
        return yes

    def wants_to_leave(self, rng: np.random.Generator) -> bool:
        """The person stops with Ctrl-C or end of input, never by this call."""
        return False

    def step_info(self) -> dict[str, Any]:
        """Nothing beyond the answers."""
        return {}
