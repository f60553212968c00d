"""``LLMConversationalUser``: a conversational-recommendation user played by a language model.

The model is told the target's attribute NAMES -- never the target's title or id, which would leak
the answer into the dialogue and inflate results ("How Reliable is Your Simulator?", 2024) -- and
answers the agent's questions with structured decisions: yes/no for a binary question, a list of
children for an enumerated one, a letter for a recommended list. Every call's seed is drawn from
the generator the environment hands over, so a rerun with the same environment seed sends the same
requests and replays from a :class:`~recoworld.users.llm.cache.ResponseCache` without a server.

A reply that does not parse after every decoding mode is marked ``invalid_response`` in
:meth:`LLMConversationalUser.step_info` and counted in :attr:`LLMConversationalUser.stats`; the
environment still needs an answer, so the turn falls back to the documented rejection (no / no
children / none of these / a uniformly drawn opening attribute) -- or raises
:class:`~recoworld.errors.LLMResponseError` with ``on_invalid="raise"``.

:class:`LLMConversationalBatchUser` plays many conversations for a vector environment: each turn's
requests (one per conversation) go to the server concurrently, and every conversation draws the
same seeds from its own generator as a single user would, so the answers are the same.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from recoworld._validate import require_range
from recoworld.datasets.world import AttributeGraphWorld
from recoworld.errors import ConfigError, InvalidActionError, LLMResponseError
from recoworld.users.conversational import target_attributes
from recoworld.users.llm.client import Decision, LLMClient, Message
from recoworld.users.llm.decision import DecisionField, DecisionSchema
from recoworld.users.llm.prompts import render_prompt

__all__ = ["LLMConversationalBatchUser", "LLMConversationalUser", "LLMConversationalUserConfig"]

_SEED_HIGH = 2**31 - 1


@dataclass(frozen=True)
class _Request:
    """One request to the model: a structured decision (``schema``) or a letter choice."""

    messages: list[Message]
    seed: int
    schema: DecisionSchema | None = None
    letters: tuple[str, ...] = ()


@dataclass(frozen=True)
class LLMConversationalUserConfig:
    """Settings of :class:`LLMConversationalUser`.

    Attributes:
        item_noun: What the items are called in prompts ("song", "business", "item").
        max_item_attributes: Attributes shown per recommended item (the rest are elided).
        judge_mode: ``"letter"`` (one grammar-constrained token plus log-probabilities, for
            llama.cpp servers) or ``"json"`` (a JSON enum; works with any server).
        on_invalid: ``"reject"`` (the turn falls back to a rejection, flagged
            ``invalid_response``) or ``"raise"`` (:class:`LLMResponseError`).
        utterance_chars: Longest utterance the grammar admits.

    """

    item_noun: str = "item"
    max_item_attributes: int = 12
    judge_mode: Literal["letter", "json"] = "letter"
    on_invalid: Literal["reject", "raise"] = "reject"
    utterance_chars: int = 120

    def __post_init__(self) -> None:
        require_range("max_item_attributes", self.max_item_attributes, 1)
        if self.judge_mode not in ("letter", "json"):
            raise ConfigError(f"`judge_mode` must be 'letter' or 'json', got {self.judge_mode!r}")
        if self.on_invalid not in ("reject", "raise"):
            raise ConfigError(f"`on_invalid` must be 'reject' or 'raise', got {self.on_invalid!r}")


class LLMConversationalUser:
    """A :class:`~recoworld.users.conversational.ConversationalUser` answering through an LLM.

    Args:
        world: The attribute-graph world (names of attributes and parents come from it).
        client: The chat client (endpoint, decoding modes, cache).
        config: Prompting and failure settings.

    Example:
        >>> client = LLMClient(LLMClientConfig(base_url="http://127.0.0.1:8080/v1"))
        >>> user = LLMConversationalUser(world, client)
        >>> env = gymnasium.make("recoworld/Synthetic-CRS-v0", user=user)  # doctest: +SKIP

    """

    def __init__(
        self,
        world: AttributeGraphWorld,
        client: LLMClient,
        config: LLMConversationalUserConfig | None = None,
    ) -> None:
        self.world = world
        self.client = client
        self.config = config or LLMConversationalUserConfig()
        self._target = -1
        self._target_attrs: npt.NDArray[np.int32] = np.empty(0, dtype=np.int32)
        self._system = ""
        self._wanted = ""
        self._labels: list[str] = []
        self._info: dict[str, Any] = {}
        self.stats: dict[str, int] = {"turns": 0, "invalid_responses": 0, "llm_attempts": 0}
        self.prompts: list[list[Message]] = []
        """Every prompt sent this session (kept for audits such as the no-leak test)."""

    @property
    def target(self) -> int:
        """The current session's target (the environment's secret; never put in a prompt)."""
        return self._target

    # ---- helpers ----------------------------------------------------------------------------
    def _names(self, attrs: npt.NDArray[np.integer[Any]]) -> list[str]:
        """Display labels of ``attrs``, made distinct when the world repeats a name."""
        names = [self.world.attribute_names[int(a)] for a in attrs]
        seen: dict[str, int] = {}
        out = []
        for n in names:
            seen[n] = seen.get(n, 0) + 1
            out.append(n if seen[n] == 1 else f"{n} ({seen[n]})")
        return out

    def _messages(self, prompt: str) -> list[Message]:
        msgs = [{"role": "system", "content": self._system}, {"role": "user", "content": prompt}]
        self.prompts.append(msgs)
        return msgs

    def _request(
        self, prompt: str, schema: DecisionSchema, rng: np.random.Generator
    ) -> _Request:
        return _Request(self._messages(prompt), int(rng.integers(_SEED_HIGH)), schema)

    def _send(self, request: _Request) -> Decision:
        if request.schema is None:
            return self.client.choose(request.messages, request.letters, seed=request.seed)
        return self.client.decide(request.messages, request.schema, seed=request.seed)

    def _account(self, decision: Decision) -> Decision:
        self.stats["turns"] += 1
        self.stats["llm_attempts"] += decision.attempts
        if not decision.valid:
            self.stats["invalid_responses"] += 1
            if self.config.on_invalid == "raise":
                raise LLMResponseError(
                    f"the LLM user's reply did not parse after {decision.attempts} attempt(s): "
                    f"{decision.error}; use a stronger model or on_invalid='reject'"
                )
        values = decision.values or {}
        self._info = {
            "utterance": str(values.get("utterance", "")),
            "invalid_response": not decision.valid,
            "invalid_responses": self.stats["invalid_responses"],
            "llm_attempts": decision.attempts,
            "cached": decision.cached,
        }
        if not decision.valid:
            self._info["invalid_reply"] = decision.replies[-1] if decision.replies else ""
        return decision

    def _text_field(self) -> DecisionField:
        return DecisionField("utterance", "text", max_chars=self.config.utterance_chars)

    # ---- each call in two halves: the request, then reading the decision ---------------------
    # (a batch user sends the requests of many conversations at once between the two halves)
    def _start_request(self, user: int, target: int, rng: np.random.Generator) -> _Request:
        attrs = target_attributes(self.world, user, target)
        self._target = int(target)
        self._target_attrs = attrs
        self.stats = {"turns": 0, "invalid_responses": 0, "llm_attempts": 0}
        self.prompts = []
        self._labels = self._names(attrs)
        self._wanted = ", ".join(self._labels)
        self._system = render_prompt(
            "conversational_system", item_noun=self.config.item_noun, wanted=self._wanted
        )
        opening = DecisionField("attribute", "enum", tuple(self._labels))
        schema = DecisionSchema((opening, self._text_field()))
        return self._request(
            render_prompt("conversational_opening", wanted=self._wanted), schema, rng
        )

    def _start_answer(self, decision: Decision, rng: np.random.Generator) -> int:
        decision = self._account(decision)
        attrs = self._target_attrs
        if decision.valid and decision.values is not None:
            return int(attrs[self._labels.index(decision.values["attribute"])])
        return int(attrs[rng.integers(attrs.size)])

    def _binary_request(self, attribute: int, rng: np.random.Generator) -> _Request:
        if not 0 <= attribute < self.world.n_attributes:
            raise InvalidActionError(
                f"`attribute` must be in [0, {self.world.n_attributes}), got {attribute}"
            )
        name = self.world.attribute_names[attribute]
        answer = DecisionField("answer", "enum", ("yes", "no"))
        schema = DecisionSchema((answer, self._text_field()))
        prompt = render_prompt("conversational_binary", attribute=name, wanted=self._wanted)
        return self._request(prompt, schema, rng)

    def _binary_answer(self, decision: Decision) -> bool:
        decision = self._account(decision)
        return bool(decision.valid and decision.values and decision.values["answer"] == "yes")

    def _enumerated_request(self, parent: int, rng: np.random.Generator) -> _Request:
        if not 0 <= parent < self.world.n_parents:
            raise InvalidActionError(
                f"`parent` must be in [0, {self.world.n_parents}), got {parent}"
            )
        children = self.world.children_of(parent)
        labels = self._names(children)
        schema = DecisionSchema(
            (DecisionField("chosen", "enum_list", tuple(labels)), self._text_field())
        )
        prompt = render_prompt(
            "conversational_enumerated",
            parent=self.world.parent_names[parent],
            children=", ".join(labels),
            wanted=self._wanted,
        )
        return self._request(prompt, schema, rng)

    def _enumerated_answer(self, decision: Decision, parent: int) -> npt.NDArray[np.int64]:
        decision = self._account(decision)
        if not (decision.valid and decision.values):
            return np.empty(0, dtype=np.int64)
        children = self.world.children_of(parent)
        chosen = set(decision.values["chosen"])
        picked = [c for c, lab in zip(children, self._names(children), strict=True) if lab in chosen]
        return np.array(picked, dtype=np.int64)

    def _judge_request(self, items: npt.NDArray[np.int64], rng: np.random.Generator) -> _Request:
        items = np.asarray(items, dtype=np.int64).ravel()
        if items.size == 0 or items.size > 25:
            raise InvalidActionError(
                f"`items` must hold 1 to 25 recommended items, got {items.size}"
            )
        if items.min() < 0 or items.max() >= self.world.n_items:
            raise InvalidActionError(
                f"`items` must be item ids in [0, {self.world.n_items}), got {items.tolist()}"
            )
        letters = [chr(ord("A") + i) for i in range(items.size)]
        none_letter = chr(ord("A") + items.size)
        cap = self.config.max_item_attributes
        lines = []
        for letter, item in zip(letters, items, strict=True):
            names = self._names(self.world.attributes_of(int(item)))
            shown = ", ".join(names[:cap]) + (", ..." if len(names) > cap else "")
            lines.append(f"{letter}: {shown or '(no listed features)'}")
        prompt = render_prompt(
            "conversational_judge",
            item_noun=self.config.item_noun,
            options="\n".join(lines),
            wanted=self._wanted,
            none_letter=none_letter,
        )
        allowed = (*letters, none_letter)
        seed = int(rng.integers(_SEED_HIGH))
        if self.config.judge_mode == "letter":
            return _Request(self._messages(prompt), seed, None, allowed)
        schema = DecisionSchema((DecisionField("choice", "enum", allowed), self._text_field()))
        return _Request(self._messages(prompt), seed, schema, allowed)

    def _judge_answer(self, decision: Decision, request: _Request) -> bool:
        decision = self._account(decision)
        if not (decision.valid and decision.values):
            return False
        choice = decision.values["choice"]
        accepted = bool(choice != request.letters[-1])
        if not self._info["utterance"]:
            self._info["utterance"] = (
                f"I'll take {choice}." if accepted else "None of these is what I want."
            )
        if decision.probabilities is not None:
            self._info["choice_probabilities"] = decision.probabilities
        return accepted

    # ---- ConversationalUser protocol ------------------------------------------------------
    def start(self, user: int, target: int, rng: np.random.Generator) -> int:
        """Begin a session; the LLM names one of the target's attributes as its opening."""
        return self._start_answer(self._send(self._start_request(user, target, rng)), rng)

    def answer_binary(self, attribute: int, rng: np.random.Generator) -> bool:
        """Yes/no from the LLM; an invalid reply counts as "no" (flagged in ``step_info``)."""
        return self._binary_answer(self._send(self._binary_request(attribute, rng)))

    def answer_enumerated(self, parent: int, rng: np.random.Generator) -> npt.NDArray[np.int64]:
        """Return the children the LLM picks; an invalid reply picks none (flagged)."""
        return self._enumerated_answer(self._send(self._enumerated_request(parent, rng)), parent)

    def judge(self, items: npt.NDArray[np.int64], rng: np.random.Generator) -> bool:
        """Whether the LLM recognises its item among ``items`` (shown by attributes only)."""
        request = self._judge_request(items, rng)
        return self._judge_answer(self._send(request), request)

    def wants_to_leave(self, rng: np.random.Generator) -> bool:
        """Never: as in the published protocol, the user stays until the horizon."""
        return False

    def step_info(self) -> dict[str, Any]:
        """Report the latest call: utterance, validity, attempts, cache use.

        Keys: ``utterance``, ``invalid_response``, ``invalid_responses`` (session count so far),
        ``llm_attempts``, ``cached``, and ``invalid_reply`` (the rejected text) when invalid.
        """
        return dict(self._info)

    def batched(self, num_envs: int) -> LLMConversationalBatchUser:
        """The same user for ``num_envs`` conversations at once, sharing the client."""
        return LLMConversationalBatchUser(self.world, self.client, self.config)


class LLMConversationalBatchUser:
    """:class:`LLMConversationalUser` for the conversations of a vector environment.

    One :class:`LLMConversationalUser` per slot holds that conversation's prompts, stats and
    ``info``; each call sends the requests of all the slots it concerns concurrently
    (:meth:`LLMClient.decide_many` / :meth:`LLMClient.choose_many`, at most
    ``client.config.max_concurrency`` in flight). Slot ``s`` draws its request seeds (and its
    fallback opening) from ``rngs[s]`` in the order a single user would, so a vector environment
    sends the same requests as single environments and gets the same answers (or replays them
    from the same cache).
    """

    def __init__(
        self,
        world: AttributeGraphWorld,
        client: LLMClient,
        config: LLMConversationalUserConfig | None = None,
    ) -> None:
        self.world = world
        self.client = client
        self.config = config or LLMConversationalUserConfig()
        self.draws_only_at_start = False  # every call draws a request seed
        self.users: list[LLMConversationalUser] = []

    def bind(self, num_envs: int) -> None:
        """One conversation state per slot."""
        self.users = [
            LLMConversationalUser(self.world, self.client, self.config) for _ in range(num_envs)
        ]

    def _send_many(self, requests: Sequence[_Request]) -> list[Decision]:
        """Every request at once, decisions and letter choices each in one concurrent batch."""
        decisions: list[Decision | None] = [None] * len(requests)
        schema_idx = [i for i, r in enumerate(requests) if r.schema is not None]
        letter_idx = [i for i, r in enumerate(requests) if r.schema is None]
        if schema_idx:
            batch = [(requests[i].messages, requests[i].schema, requests[i].seed) for i in schema_idx]
            for i, d in zip(schema_idx, self.client.decide_many(batch), strict=True):  # type: ignore[arg-type]
                decisions[i] = d
        if letter_idx:
            letters = [(requests[i].messages, requests[i].letters, requests[i].seed) for i in letter_idx]
            for i, d in zip(letter_idx, self.client.choose_many(letters), strict=True):
                decisions[i] = d
        return decisions  # type: ignore[return-value]

    def start(
        self,
        slots: npt.NDArray[np.intp],
        users: npt.NDArray[np.int64],
        targets: npt.NDArray[np.int64],
        rngs: Sequence[np.random.Generator],
    ) -> npt.NDArray[np.int64]:
        """Each slot's LLM names its opening attribute."""
        ss = slots.tolist()
        reqs = [
            self.users[s]._start_request(int(users[j]), int(targets[j]), rngs[s])
            for j, s in enumerate(ss)
        ]
        decisions = self._send_many(reqs)
        return np.array(
            [self.users[s]._start_answer(d, rngs[s]) for s, d in zip(ss, decisions, strict=True)],
            dtype=np.int64,
        )

    def answer_binary(
        self,
        slots: npt.NDArray[np.intp],
        attributes: npt.NDArray[np.int64],
        rngs: Sequence[np.random.Generator],
    ) -> npt.NDArray[np.bool_]:
        """Each slot's LLM answers yes or no."""
        ss = slots.tolist()
        reqs = [self.users[s]._binary_request(int(attributes[j]), rngs[s]) for j, s in enumerate(ss)]
        decisions = self._send_many(reqs)
        return np.array(
            [self.users[s]._binary_answer(d) for s, d in zip(ss, decisions, strict=True)],
            dtype=np.bool_,
        )

    def answer_enumerated(
        self,
        slots: npt.NDArray[np.intp],
        parents: npt.NDArray[np.int64],
        rngs: Sequence[np.random.Generator],
    ) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
        """Each slot's LLM picks children of its parent, as ``(indptr, children)``."""
        ss = slots.tolist()
        reqs = [self.users[s]._enumerated_request(int(parents[j]), rngs[s]) for j, s in enumerate(ss)]
        decisions = self._send_many(reqs)
        picks = [
            self.users[s]._enumerated_answer(d, int(parents[j]))
            for j, (s, d) in enumerate(zip(ss, decisions, strict=True))
        ]
        indptr = np.zeros(len(picks) + 1, dtype=np.int64)
        indptr[1:] = np.cumsum([p.size for p in picks])
        flat = np.concatenate(picks) if picks else np.empty(0, dtype=np.int64)
        return indptr, flat.astype(np.int64)

    def judge(
        self,
        slots: npt.NDArray[np.intp],
        items: npt.NDArray[np.int64],
        lengths: npt.NDArray[np.int64],
        rngs: Sequence[np.random.Generator],
    ) -> npt.NDArray[np.bool_]:
        """Each slot's LLM looks for its item in its list."""
        ss = slots.tolist()
        reqs = [
            self.users[s]._judge_request(items[j, : lengths[j]], rngs[s]) for j, s in enumerate(ss)
        ]
        decisions = self._send_many(reqs)
        return np.array(
            [
                self.users[s]._judge_answer(d, r)
                for s, d, r in zip(ss, decisions, reqs, strict=True)
            ],
            dtype=np.bool_,
        )

    def wants_to_leave(
        self, slots: npt.NDArray[np.intp], rngs: Sequence[np.random.Generator]
    ) -> npt.NDArray[np.bool_]:
        """Never, as a single LLM user."""
        return np.zeros(len(slots), dtype=np.bool_)

    def step_info(self, slots: npt.NDArray[np.intp]) -> list[dict[str, Any]] | None:
        """Each slot's latest report (utterance, validity, attempts, cache use)."""
        return [self.users[s].step_info() for s in slots.tolist()]
