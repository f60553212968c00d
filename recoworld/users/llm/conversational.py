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
"""

from __future__ import annotations

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

__all__ = ["LLMConversationalUser", "LLMConversationalUserConfig"]

_SEED_HIGH = 2**31 - 1


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

    def _decide(self, prompt: str, schema: DecisionSchema, rng: np.random.Generator) -> Decision:
        seed = int(rng.integers(_SEED_HIGH))
        decision = self.client.decide(self._messages(prompt), schema, seed=seed)
        return self._account(decision)

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

    # ---- ConversationalUser protocol ------------------------------------------------------
    def start(self, user: int, target: int, rng: np.random.Generator) -> int:
        """Begin a session; the LLM names one of the target's attributes as its opening."""
        attrs = target_attributes(self.world, user, target)
        self._target = int(target)
        self._target_attrs = attrs
        self.stats = {"turns": 0, "invalid_responses": 0, "llm_attempts": 0}
        self.prompts = []
        labels = self._names(attrs)
        self._wanted = ", ".join(labels)
        self._system = render_prompt(
            "conversational_system", item_noun=self.config.item_noun, wanted=self._wanted
        )
        opening = DecisionField("attribute", "enum", tuple(labels))
        schema = DecisionSchema((opening, self._text_field()))
        decision = self._decide(
            render_prompt("conversational_opening", wanted=self._wanted), schema, rng
        )
        if decision.valid and decision.values is not None:
            return int(attrs[labels.index(decision.values["attribute"])])
        return int(attrs[rng.integers(attrs.size)])

    def answer_binary(self, attribute: int, rng: np.random.Generator) -> bool:
        """Yes/no from the LLM; an invalid reply counts as "no" (flagged in ``step_info``)."""
        if not 0 <= attribute < self.world.n_attributes:
            raise InvalidActionError(
                f"`attribute` must be in [0, {self.world.n_attributes}), got {attribute}"
            )
        name = self.world.attribute_names[attribute]
        answer = DecisionField("answer", "enum", ("yes", "no"))
        schema = DecisionSchema((answer, self._text_field()))
        prompt = render_prompt("conversational_binary", attribute=name, wanted=self._wanted)
        decision = self._decide(prompt, schema, rng)
        return bool(decision.valid and decision.values and decision.values["answer"] == "yes")

    def answer_enumerated(self, parent: int, rng: np.random.Generator) -> npt.NDArray[np.int64]:
        """Return the children the LLM picks; an invalid reply picks none (flagged)."""
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
        decision = self._decide(prompt, schema, rng)
        if not (decision.valid and decision.values):
            return np.empty(0, dtype=np.int64)
        chosen = set(decision.values["chosen"])
        picked = [c for c, lab in zip(children, labels, strict=True) if lab in chosen]
        return np.array(picked, dtype=np.int64)

    def judge(self, items: npt.NDArray[np.int64], rng: np.random.Generator) -> bool:
        """Whether the LLM recognises its item among ``items`` (shown by attributes only)."""
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
            decision = self._account(self.client.choose(self._messages(prompt), allowed, seed=seed))
        else:
            schema = DecisionSchema((DecisionField("choice", "enum", allowed), self._text_field()))
            decision = self._account(self.client.decide(self._messages(prompt), schema, seed=seed))
        if not (decision.valid and decision.values):
            return False
        choice = decision.values["choice"]
        accepted = bool(choice != none_letter)
        if not self._info["utterance"]:
            self._info["utterance"] = (
                f"I'll take {choice}." if accepted else "None of these is what I want."
            )
        if decision.probabilities is not None:
            self._info["choice_probabilities"] = decision.probabilities
        return accepted

    def wants_to_leave(self, rng: np.random.Generator) -> bool:
        """Never: as in the published protocol, the user stays until the horizon."""
        return False

    def step_info(self) -> dict[str, Any]:
        """Report the latest call: utterance, validity, attempts, cache use.

        Keys: ``utterance``, ``invalid_response``, ``invalid_responses`` (session count so far),
        ``llm_attempts``, ``cached``, and ``invalid_reply`` (the rejected text) when invalid.
        """
        return dict(self._info)
