"""Feed users played by a language model (RecoWorld): persona, review, mindset, leave, instruction.

Two models implement :class:`recoworld.users.feed.FeedUserModel`, so they plug into
``recoworld/ShortVideo-v0`` (``user_model=...``) and its vector variant:

- :class:`LLMFeedUser`: the LLM decides everything. Each video gets a structured review --
  a watch bucket (skip ... watched twice), like, stay or leave -- and a short "mindset" that is fed
  back in the next prompt. One request per user per video; a vector environment's users are asked
  concurrently (:meth:`~recoworld.users.llm.client.LLMClient.decide_many`).
- :class:`HybridFeedUser` (the cheap default): a statistical user decides, and the LLM only writes
  the reflective instructions -- one request per disengagement episode instead of one per video.

Both write a reflective instruction ("fewer cooking clips, more football") when the user senses
its own disengagement: after ``disengaged_streak`` videos in a row watched below
``disengaged_ratio``, or when it leaves (at most one every ``instruction_every`` videos). The
instruction is reported in the step info (``instruction``, ``new_instruction``); the wrapper
:class:`recoworld.envs.feed_instruction.InstructionObservation` adds its embedding to the
observation.

Randomness: every request seed and every draw comes from the uniforms the environment hands over.
A review that does not parse after every decoding mode is flagged (``invalid_response``, counted
in ``invalid_responses``) and falls back to a skip without like that stays -- visible, never
silent -- or raises with ``on_invalid="raise"``.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
from numpy.typing import NDArray

from recoworld._validate import require_range
from recoworld.datasets.feed_world import FeedWorld
from recoworld.errors import ConfigError, LLMResponseError
from recoworld.users.feed.interface import ExpectedOutcome, FeedResponse
from recoworld.users.feed.statistical import StatisticalFeedUser
from recoworld.users.llm.client import Decision, LLMClient, Message
from recoworld.users.llm.decision import DecisionField, DecisionSchema
from recoworld.users.llm.prompts import render_prompt

__all__ = ["WATCH_BUCKETS", "HybridFeedUser", "LLMFeedUser", "LLMFeedUserConfig"]

#: Watch buckets of a review: name, lowest and highest watch ratio.
WATCH_BUCKETS: tuple[tuple[str, float, float], ...] = (
    ("skip", 0.0, 0.05),
    ("a few seconds", 0.05, 0.25),
    ("about half", 0.25, 0.6),
    ("most of it", 0.6, 0.9),
    ("all of it", 0.9, 1.0),
    ("watched twice", 1.0, 2.0),
)
_BUCKET_NAMES = tuple(b[0] for b in WATCH_BUCKETS)
_BUCKET_LO = np.array([b[1] for b in WATCH_BUCKETS], dtype=np.float64)
_BUCKET_HI = np.array([b[2] for b in WATCH_BUCKETS], dtype=np.float64)
_SEED_HIGH = 2**31 - 1
_FRESH_MINDSET = "You just opened the app."


@dataclass(frozen=True)
class LLMFeedUserConfig:
    """Settings shared by :class:`LLMFeedUser` and :class:`HybridFeedUser`.

    Attributes:
        history_length: Recent videos described in each prompt.
        disengaged_ratio: A watch ratio below this counts as a disengaged view.
        disengaged_streak: Disengaged views in a row that trigger an instruction.
        instruction_every: Fewest videos between two instructions of one user.
        mindset_chars: Longest mindset text the grammar admits.
        instruction_chars: Longest instruction the grammar admits.
        max_return_days: When the LLM user leaves, it returns after ``1 + floor(u *
            max_return_days)`` days (``u`` uniform; the hybrid user uses its statistical model).
        on_invalid: ``"skip"`` (an unparseable review counts as a flagged skip) or ``"raise"``.

    """

    history_length: int = 3
    disengaged_ratio: float = 0.3
    disengaged_streak: int = 2
    instruction_every: int = 3
    mindset_chars: int = 80
    instruction_chars: int = 120
    max_return_days: int = 7
    on_invalid: Literal["skip", "raise"] = "skip"

    def __post_init__(self) -> None:
        for name in ("history_length", "disengaged_streak", "instruction_every", "max_return_days"):
            require_range(name, getattr(self, name), 1)
        for name in ("mindset_chars", "instruction_chars"):
            require_range(name, getattr(self, name), 8)
        require_range("disengaged_ratio", self.disengaged_ratio, 0, 1, low_open=True)
        if self.on_invalid not in ("skip", "raise"):
            raise ConfigError(f"`on_invalid` must be 'skip' or 'raise', got {self.on_invalid!r}")


def _seeds(u: NDArray[np.float64]) -> NDArray[np.int64]:
    return (np.asarray(u, dtype=np.float64) * _SEED_HIGH).astype(np.int64)


class _FeedLLMBase:
    """Per-slot persona, history, mindset and instruction state shared by the two users."""

    def __init__(self, client: LLMClient, config: LLMFeedUserConfig | None = None) -> None:
        self.client = client
        self.config = config or LLMFeedUserConfig()
        self._world: FeedWorld | None = None
        self.prompts: list[list[Message]] = []
        """Every prompt sent (for audits); cleared by :meth:`bind`."""

    # -- state ------------------------------------------------------------------------------
    def _bind_state(self, world: FeedWorld, n_slots: int) -> None:
        require_range("n_slots", n_slots, 1)
        self._world = world
        cat = world.catalogue
        counts = np.bincount(cat.category, minlength=cat.n_categories).astype(np.float64)
        sums = np.zeros((cat.n_categories, cat.dim))
        np.add.at(sums, cat.category, cat.embedding.astype(np.float64))
        self._centroids = sums / np.maximum(counts, 1.0)[:, None]
        self._median_patience = float(np.median(world.population.patience))
        self.user = np.zeros(n_slots, dtype=np.intp)
        self.depth = np.zeros(n_slots, dtype=np.int64)
        self.streak = np.zeros(n_slots, dtype=np.int64)
        self.last_instruction = np.full(n_slots, -(10**9), dtype=np.int64)
        self.invalid_responses = np.zeros(n_slots, dtype=np.int64)
        self.persona = [""] * n_slots
        self.mindset = [_FRESH_MINDSET] * n_slots
        self.instruction = [""] * n_slots
        self.history: list[deque[str]] = [
            deque(maxlen=self.config.history_length) for _ in range(n_slots)
        ]
        self.prompts = []

    def _index(self, slots: NDArray[np.intp] | slice) -> NDArray[np.intp]:
        """Slot indices as an array (the vector env passes ``slice(None)`` for every slot)."""
        if isinstance(slots, slice):
            return np.arange(len(self.user), dtype=np.intp)[slots]
        return np.asarray(slots, dtype=np.intp)

    def _require_world(self) -> FeedWorld:
        if self._world is None:
            raise ConfigError("the feed user is not bound to a world: call bind(world, n_slots)")
        return self._world

    def _reset_state(self, slots: NDArray[np.intp], users: NDArray[np.intp]) -> None:
        world = self._require_world()
        pop, names = world.population, world.catalogue.category_names
        taste = pop.interest[users].astype(np.float64) @ self._centroids.T  # (n, C)
        order = np.argsort(-taste, axis=1, kind="stable")
        n_like = min(3, len(names))
        n_dislike = min(2, max(len(names) - n_like, 0))
        for i, s in enumerate(slots):
            likes = ", ".join(names[c] for c in order[i, :n_like])
            dislikes = ", ".join(names[c] for c in order[i, len(names) - n_dislike :]) or "nothing"
            act = float(pop.activity[users[i]])
            activity = "occasional" if act < 0.4 else "regular" if act < 0.75 else "heavy"
            patient = float(pop.patience[users[i]]) >= self._median_patience
            self.persona[s] = render_prompt(
                "feed_persona",
                activity=activity,
                likes=likes,
                dislikes=dislikes,
                patience="patient" if patient else "impatient",
            )
            self.instruction[s] = ""
            self.history[s].clear()
        self.user[slots] = users
        self.invalid_responses[slots] = 0
        self.last_instruction[slots] = -(10**9)
        self._new_session(slots)

    def _new_session(self, slots: NDArray[np.intp]) -> None:
        self.depth[slots] = 0
        self.streak[slots] = 0
        for s in slots:
            self.mindset[s] = _FRESH_MINDSET

    def _video_text(self, item: int) -> tuple[str, str, str]:
        cat = self._require_world().catalogue
        if bool(cat.is_new[item]):
            fresh = "brand new"
        elif float(cat.popularity[item]) > 0.5:
            fresh = "popular"
        else:
            fresh = "not very popular"
        return cat.category_names[int(cat.category[item])], f"{float(cat.duration_s[item]):.0f}", fresh

    def _history_text(self, slot: int) -> str:
        return "; ".join(self.history[slot]) or "nothing yet"

    def _record(
        self,
        slots: NDArray[np.intp],
        items: NDArray[np.intp],
        ratio: NDArray[np.float32],
        like: NDArray[np.bool_],
    ) -> None:
        cat = self._require_world().catalogue
        bucket = np.clip(np.searchsorted(_BUCKET_LO, ratio, side="right") - 1, 0, len(_BUCKET_NAMES) - 1)
        for i, s in enumerate(slots):
            liked = ", liked" if like[i] else ""
            name = cat.category_names[int(cat.category[items[i]])]
            self.history[s].append(f"{name} ({_BUCKET_NAMES[bucket[i]]}{liked})")
        self.depth[slots] += 1
        low = ratio < self.config.disengaged_ratio
        self.streak[slots] = np.where(low, self.streak[slots] + 1, 0)

    def _account(self, decision: Decision) -> None:
        if not decision.valid and self.config.on_invalid == "raise":
            raise LLMResponseError(
                f"the LLM feed user's reply did not parse after {decision.attempts} attempt(s): "
                f"{decision.error}; use a stronger model or on_invalid='skip'"
            )

    def _instructions(
        self, slots: NDArray[np.intp], leave: NDArray[np.bool_], seeds: NDArray[np.int64]
    ) -> tuple[NDArray[np.bool_], NDArray[np.bool_]]:
        """Ask disengaged users for an instruction; return (new_instruction, invalid) per slot."""
        cfg = self.config
        due = (self.streak[slots] >= cfg.disengaged_streak) | leave
        due &= self.depth[slots] - self.last_instruction[slots] >= cfg.instruction_every
        new = np.zeros(len(slots), dtype=np.bool_)
        invalid = np.zeros(len(slots), dtype=np.bool_)
        rows = np.flatnonzero(due)
        if rows.size == 0:
            return new, invalid
        schema = DecisionSchema((DecisionField("instruction", "text", max_chars=cfg.instruction_chars),))
        requests = []
        for r in rows:
            s = int(slots[r])
            prompt = render_prompt(
                "feed_instruction", mindset=self.mindset[s], history=self._history_text(s)
            )
            msgs = self._messages(s, prompt)
            requests.append((msgs, schema, int(seeds[r])))
        for r, decision in zip(rows, self.client.decide_many(requests), strict=True):
            self._account(decision)
            s = int(slots[r])
            text = (decision.values or {}).get("instruction", "") if decision.valid else ""
            if decision.valid and text:
                self.instruction[s] = text
                self.last_instruction[s] = self.depth[s]
                new[r] = True
            else:
                invalid[r] = True
        return new, invalid

    def _messages(self, slot: int, prompt: str) -> list[Message]:
        msgs = [
            {"role": "system", "content": self.persona[slot]},
            {"role": "user", "content": prompt},
        ]
        self.prompts.append(msgs)
        return msgs

    def _info(
        self, slots: NDArray[np.intp], new: NDArray[np.bool_], invalid: NDArray[np.bool_]
    ) -> dict[str, NDArray[np.generic]]:
        self.invalid_responses[slots] += invalid
        return {
            "instruction": np.array([self.instruction[s] for s in slots], dtype=object),
            "new_instruction": new,
            "mindset": np.array([self.mindset[s] for s in slots], dtype=object),
            "invalid_response": invalid,
            "invalid_responses": self.invalid_responses[slots].copy(),
        }


class LLMFeedUser(_FeedLLMBase):
    """A feed user whose every reaction is an LLM's structured review (RecoWorld).

    Args:
        client: The chat client (endpoint, decoding modes, cache).
        config: Prompting, instruction and failure settings.

    Step info keys (per video): ``instruction`` (the latest instruction, "" before the first),
    ``new_instruction``, ``mindset``, ``watch_bucket``, ``invalid_response`` (this video's review
    or instruction did not parse) and ``invalid_responses`` (count this episode).

    """

    #: Uniforms per response: request seed, position inside the watch bucket, return gap.
    n_uniforms = 3

    def bind(self, world: FeedWorld, n_slots: int) -> None:
        """Attach to ``world`` with room for ``n_slots`` simultaneous users."""
        self._bind_state(world, n_slots)

    def reset(self, slots: NDArray[np.intp], users: NDArray[np.intp]) -> None:
        """Start fresh users (persona from their features and tastes, empty history)."""
        self._reset_state(self._index(slots), np.asarray(users, dtype=np.intp))

    def start_session(self, slots: NDArray[np.intp], days_away: NDArray[np.int64]) -> None:
        """A returning user opens the app again: fresh mindset, the persona carries over."""
        self._new_session(self._index(slots))

    def _schema(self) -> DecisionSchema:
        return DecisionSchema(
            (
                DecisionField("watch", "enum", _BUCKET_NAMES),
                DecisionField("like", "enum", ("yes", "no")),
                DecisionField("leave", "enum", ("stay", "leave")),
                DecisionField("mindset", "text", max_chars=self.config.mindset_chars),
            )
        )

    def respond(
        self, slots: NDArray[np.intp], items: NDArray[np.intp], u: NDArray[np.float64]
    ) -> FeedResponse:
        """Ask each addressed user (concurrently) to review ``items[i]``; see the class doc."""
        slots = self._index(slots)
        items = np.asarray(items, dtype=np.intp)
        u = np.asarray(u, dtype=np.float64)
        world = self._require_world()
        seeds = _seeds(u[:, 0])
        schema = self._schema()
        requests = []
        for i, s in enumerate(slots):
            category, seconds, fresh = self._video_text(int(items[i]))
            prompt = render_prompt(
                "feed_review",
                mindset=self.mindset[s],
                history=self._history_text(int(s)),
                category=category,
                duration=seconds,
                freshness=fresh,
                buckets=", ".join(f'"{b}"' for b in _BUCKET_NAMES),
            )
            requests.append((self._messages(int(s), prompt), schema, int(seeds[i])))
        decisions = self.client.decide_many(requests)
        n = len(slots)
        bucket = np.zeros(n, dtype=np.intp)
        like = np.zeros(n, dtype=np.bool_)
        leave = np.zeros(n, dtype=np.bool_)
        invalid = np.zeros(n, dtype=np.bool_)
        for i, d in enumerate(decisions):
            self._account(d)
            if d.valid and d.values is not None:
                bucket[i] = _BUCKET_NAMES.index(d.values["watch"])
                like[i] = d.values["like"] == "yes"
                leave[i] = d.values["leave"] == "leave"
                if d.values["mindset"]:
                    self.mindset[slots[i]] = d.values["mindset"]
            else:
                invalid[i] = True  # documented fallback: a skip, no like, stays (flagged)
        ratio = (_BUCKET_LO[bucket] + (_BUCKET_HI[bucket] - _BUCKET_LO[bucket]) * u[:, 1]).astype(
            np.float32
        )
        duration = world.catalogue.duration_s[items]
        self._record(slots, items, ratio, like)
        new, bad_instruction = self._instructions(slots, leave, (seeds + 1) % _SEED_HIGH)
        days = np.where(leave, 1 + np.floor(u[:, 2] * self.config.max_return_days), 0).astype(
            np.int64
        )
        info = self._info(slots, new, invalid | bad_instruction)
        info["watch_bucket"] = np.array([_BUCKET_NAMES[b] for b in bucket], dtype=object)
        return FeedResponse(
            watch_ratio=ratio,
            watch_time=(ratio * duration).astype(np.float32),
            like=like,
            skip=bucket == 0,
            leave=leave,
            return_days=days,
            info=info,
        )

    def expected(self, slots: NDArray[np.intp], candidates: NDArray[np.intp]) -> ExpectedOutcome:
        """Not available: an LLM user has no closed-form expected outcome."""
        raise ConfigError(
            "LLMFeedUser has no true expected outcomes, so oracle agents cannot run against it; "
            "use HybridFeedUser (a statistical user decides) or the statistical user"
        )


class HybridFeedUser(_FeedLLMBase):
    """A statistical feed user that decides, plus an LLM that writes the reflective instructions.

    The cheap default: one LLM request per disengagement (not per video). Everything else --
    responses, leaving, returning, expected outcomes -- is the statistical user's.

    Args:
        client: The chat client.
        statistical: The deciding user (default: :class:`StatisticalFeedUser` with its defaults).
        config: Instruction settings (``on_invalid`` applies to instructions).

    """

    def __init__(
        self,
        client: LLMClient,
        statistical: StatisticalFeedUser | None = None,
        config: LLMFeedUserConfig | None = None,
    ) -> None:
        super().__init__(client, config)
        self.statistical = statistical if statistical is not None else StatisticalFeedUser()
        #: The statistical user's uniforms plus one for the instruction request's seed.
        self.n_uniforms = int(self.statistical.n_uniforms) + 1

    def bind(self, world: FeedWorld, n_slots: int) -> None:
        """Attach both the statistical user and the instruction writer to ``world``."""
        self.statistical.bind(world, n_slots)
        self._bind_state(world, n_slots)

    def reset(self, slots: NDArray[np.intp], users: NDArray[np.intp]) -> None:
        """Start fresh users in both parts."""
        users = np.asarray(users, dtype=np.intp)
        self.statistical.reset(slots, users)
        self._reset_state(self._index(slots), users)

    def start_session(self, slots: NDArray[np.intp], days_away: NDArray[np.int64]) -> None:
        """A returning user: the statistical user's new session, a fresh mindset."""
        self.statistical.start_session(slots, days_away)
        self._new_session(self._index(slots))

    def respond(
        self, slots: NDArray[np.intp], items: NDArray[np.intp], u: NDArray[np.float64]
    ) -> FeedResponse:
        """The statistical response; the LLM writes an instruction where the user disengages."""
        items = np.asarray(items, dtype=np.intp)
        u = np.asarray(u, dtype=np.float64)
        out = self.statistical.respond(slots, items, u[:, :-1])
        slots = self._index(slots)
        self._record(slots, items, out.watch_ratio, out.like)
        for s in slots:
            bored = self.streak[s] >= self.config.disengaged_streak
            self.mindset[s] = (
                "Getting bored: the last videos did not interest me."
                if bored
                else "Enjoying the feed."
            )
        new, invalid = self._instructions(slots, out.leave, _seeds(u[:, -1]))
        info: dict[str, Any] = dict(out.info or {})
        info.update(self._info(slots, new, invalid))
        return FeedResponse(
            watch_ratio=out.watch_ratio,
            watch_time=out.watch_time,
            like=out.like,
            skip=out.skip,
            leave=out.leave,
            return_days=out.return_days,
            info=info,
        )

    def expected(self, slots: NDArray[np.intp], candidates: NDArray[np.intp]) -> ExpectedOutcome:
        """The statistical user's true expected outcomes."""
        return self.statistical.expected(slots, candidates)
