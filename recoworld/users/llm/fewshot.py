"""Few-shot examples for scored decisions, drawn from a training split, never the session's target.

A raw completion with a few solved examples tells a small model the format and what the question
means far better than an instruction does (DESIGN.md section 4). The examples are real items of
the world, drawn from the items of a split that is not evaluated (``train`` by default) with a
seeded generator, once: every session then shares the same prompt prefix, which a server with a
prefix cache (llama.cpp) evaluates once. When the session's target is among the drawn items its
example is replaced by a spare one, so no example ever shows the target.

Binary examples alternate "yes" (an attribute the example item holds) and "no" (one it does not);
judge examples alternate "same" (the item against itself) and "different" (against another drawn
item with another attribute set).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from recoworld.datasets.world import AttributeGraphWorld
from recoworld.errors import ConfigError

__all__ = ["BinaryShot", "FewShotPool", "JudgeShot"]


@dataclass(frozen=True)
class BinaryShot:
    """One solved binary question: ``item`` holds ``attribute`` iff ``answer``."""

    item: int
    attribute: int
    answer: bool


@dataclass(frozen=True)
class JudgeShot:
    """One solved comparison: the wanted ``item`` against ``candidate``; same iff ``answer``."""

    item: int
    candidate: int
    answer: bool


class FewShotPool:
    """Seeded few-shot examples from the items of one split.

    Args:
        world: The world the examples come from.
        shots: Examples per prompt (0 for none).
        split: The split whose targets are drawn (never the evaluated one).
        seed: Seed of the draw.
        max_attributes: Examples use items with at most this many attributes where the split has
            enough of them.

    """

    def __init__(
        self,
        world: AttributeGraphWorld,
        shots: int = 4,
        split: str = "train",
        seed: int = 0,
        max_attributes: int = 5,
    ) -> None:
        if shots < 0:
            raise ConfigError(f"`shots` must be >= 0, got {shots}")
        self.world = world
        self.shots = shots
        self.split = split
        items = np.unique(world.split(split)[:, 1])
        sizes = np.diff(world.item_attributes.indptr)[items]
        # short examples: typical items (LastFM's median is 3 attributes) and short prompts
        short = items[(sizes > 0) & (sizes <= max_attributes)]
        items = short if short.size >= 2 * shots + 4 else items[sizes > 0]
        spare = 2
        if items.size < 2 * shots + 2 * spare:
            raise ConfigError(
                f"split {split!r} has {items.size} items with attributes, too few for "
                f"{shots} shots; lower `shots`"
            )
        self._seed = seed
        rng = np.random.default_rng([seed, 15])
        drawn = rng.choice(items, 2 * shots + 2 * spare, replace=False)
        self._items: npt.NDArray[np.int64] = drawn.astype(np.int64)
        n_attr = world.n_attributes
        self._binary: list[BinaryShot] = []
        for j, item in enumerate(self._items):
            attrs = world.attributes_of(int(item))
            r = np.random.default_rng([seed, 16, j])
            if j % 2 == 0:
                self._binary.append(BinaryShot(int(item), int(r.choice(attrs)), True))
            else:
                others = np.setdiff1d(np.arange(n_attr), attrs)
                self._binary.append(BinaryShot(int(item), int(r.choice(others)), False))
        self._judge: list[JudgeShot] = []
        for j, item in enumerate(self._items):
            if j % 2 == 0:
                self._judge.append(JudgeShot(int(item), int(item), True))
            else:
                own = set(world.attributes_of(int(item)).tolist())
                other = next(
                    int(c)
                    for c in np.roll(self._items, -j)
                    if set(world.attributes_of(int(c)).tolist()) != own
                )
                self._judge.append(JudgeShot(int(item), other, False))

    def fitting(self, n: int) -> tuple[list[BinaryShot], list[JudgeShot]]:
        """``n`` labelled binary questions and ``n`` comparisons on other items of the split.

        They serve to fit a decision threshold; half of each are yes (a comparison of two drawn
        items is yes only if their attribute sets are equal). Deterministic in the seed.
        """
        w = self.world
        items = np.unique(w.split(self.split)[:, 1])
        items = items[np.diff(w.item_attributes.indptr)[items] > 0]
        rng = np.random.default_rng([self._seed, 17])
        unused = np.setdiff1d(items, self._items)
        source = unused if unused.size >= 2 * n else items
        pool = rng.choice(source, 2 * n, replace=source.size < 2 * n)
        binary: list[BinaryShot] = []
        judge: list[JudgeShot] = []
        for j in range(n):
            item = int(pool[j])
            attrs = w.attributes_of(item)
            if j % 2 == 0:
                binary.append(BinaryShot(item, int(rng.choice(attrs)), True))
            else:
                others = np.setdiff1d(np.arange(w.n_attributes), attrs)
                binary.append(BinaryShot(item, int(rng.choice(others)), False))
            other = int(pool[n + j])
            same = set(attrs.tolist()) == set(w.attributes_of(other).tolist())
            judge.append(JudgeShot(item, item, True) if j % 2 == 0 else JudgeShot(item, other, same))
        return binary, judge

    def _pick(self, shots: list[BinaryShot] | list[JudgeShot], target: int) -> list[int]:
        """Indices of the first ``shots`` examples not involving ``target``, parity kept."""
        chosen: list[int] = []
        for want in range(self.shots):
            parity = want % 2
            for j in range(parity, len(shots), 2):
                s = shots[j]
                ids = (s.item, s.candidate) if isinstance(s, JudgeShot) else (s.item,)
                if j not in chosen and target not in ids:
                    chosen.append(j)
                    break
        return chosen

    def binary(self, target: int) -> list[BinaryShot]:
        """The binary examples of a session whose target is ``target`` (never shown)."""
        return [self._binary[j] for j in self._pick(self._binary, target)]

    def judge(self, target: int) -> list[JudgeShot]:
        """The comparison examples of a session whose target is ``target`` (never shown)."""
        return [self._judge[j] for j in self._pick(self._judge, target)]
