"""Structured decisions: a small schema of enum, enum-list and short-text fields.

A :class:`DecisionSchema` renders itself three ways so that any OpenAI-protocol server can be
constrained: as a JSON schema (``response_format={"type": "json_object", "schema": ...}``), as a
GBNF grammar (llama.cpp's ``grammar`` extension) and as a validator that parses a reply and rejects
anything outside the schema. Decision fields are enums, never free integers (llama.cpp does not
enforce integer bounds), so a reply that parses is a legal decision by construction.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Literal

from recoworld._validate import require_range
from recoworld.errors import ConfigError, LLMResponseError

__all__ = ["DecisionField", "DecisionSchema", "letter_grammar"]

FieldKind = Literal["enum", "enum_list", "text"]


@dataclass(frozen=True)
class DecisionField:
    """One field of a decision.

    Attributes:
        name: JSON key (letters, digits and underscores).
        kind: ``"enum"`` (exactly one of ``options``), ``"enum_list"`` (a list of distinct
            ``options``, possibly empty) or ``"text"`` (a short free sentence, e.g. an utterance).
        options: The legal values of an enum field (at least one; none for text).
        max_chars: Longest text accepted by the grammar (text fields only).

    """

    name: str
    kind: FieldKind
    options: tuple[str, ...] = ()
    max_chars: int = 160

    def __post_init__(self) -> None:
        if not self.name or not self.name.replace("_", "").isalnum():
            raise ConfigError(f"field `name` must be alphanumeric/underscore, got {self.name!r}")
        if self.kind not in ("enum", "enum_list", "text"):
            raise ConfigError(
                f"field `kind` must be 'enum', 'enum_list' or 'text', got {self.kind!r}"
            )
        if self.kind != "text" and not self.options:
            raise ConfigError(f"enum field {self.name!r} needs at least one option, got none")
        if self.kind != "text" and len(set(self.options)) != len(self.options):
            raise ConfigError(f"enum field {self.name!r} has duplicate options: {self.options}")
        require_range("max_chars", self.max_chars, 1)


def _gbnf_literal(text: str) -> str:
    """Return a GBNF string literal matching ``text`` exactly."""
    escaped = text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return f'"{escaped}"'


def letter_grammar(letters: tuple[str, ...]) -> str:
    """Return a GBNF grammar whose only sentences are the single tokens in ``letters``."""
    if not letters:
        raise ConfigError("`letters` must name at least one choice, got none")
    return "root ::= " + " | ".join(_gbnf_literal(x) for x in letters) + "\n"


@dataclass(frozen=True)
class DecisionSchema:
    """An ordered set of :class:`DecisionField` forming one JSON object.

    Put the decision fields first: a model then commits to its decision before it writes the
    utterance, and a reply cut short by ``max_tokens`` still fails loudly instead of half-parsing.
    """

    fields: tuple[DecisionField, ...]

    def __post_init__(self) -> None:
        names = [f.name for f in self.fields]
        if not names:
            raise ConfigError("a DecisionSchema needs at least one field, got none")
        if len(set(names)) != len(names):
            raise ConfigError(f"DecisionSchema field names must be distinct, got {names}")

    def json_schema(self) -> dict[str, Any]:
        """Return the JSON schema of a reply (enums for every decision, bounded strings)."""
        props: dict[str, Any] = {}
        for f in self.fields:
            if f.kind == "enum":
                props[f.name] = {"type": "string", "enum": list(f.options)}
            elif f.kind == "enum_list":
                props[f.name] = {
                    "type": "array",
                    "items": {"type": "string", "enum": list(f.options)},
                    "uniqueItems": True,
                    "maxItems": len(f.options),
                }
            else:
                props[f.name] = {"type": "string", "maxLength": f.max_chars}
        return {
            "type": "object",
            "properties": props,
            "required": [f.name for f in self.fields],
            "additionalProperties": False,
        }

    def response_format(self) -> dict[str, Any]:
        """Return the ``response_format`` argument asking for a schema-shaped object."""
        return {"type": "json_object", "schema": self.json_schema()}

    def gbnf(self) -> str:
        """Return a GBNF grammar generating exactly the JSON objects of this schema."""
        rules: list[str] = []
        body: list[str] = []
        for i, f in enumerate(self.fields):
            key = _gbnf_literal(json.dumps(f.name))
            sep = "" if i == 0 else '"," ws '
            body.append(f"{sep}{key} ws \":\" ws f{i}")
            if f.kind == "text":
                rules.append(f'f{i} ::= "\\"" char{{0,{f.max_chars}}} "\\""')
                continue
            opts = " | ".join(_gbnf_literal(json.dumps(o)) for o in f.options)
            if f.kind == "enum":
                rules.append(f"f{i} ::= {opts}")
            else:
                rules.append(f"o{i} ::= {opts}")
                rules.append(f'f{i} ::= "[" ws ( o{i} ( "," ws o{i} )* )? ws "]"')
        root = 'root ::= "{" ws ' + " ws ".join(body) + ' ws "}"'
        rules.append('char ::= [^"\\\\\\n]')
        rules.append("ws ::= [ ]?")
        return "\n".join([root, *rules]) + "\n"

    def parse(self, text: str) -> dict[str, Any]:
        """Parse and validate a reply; raise :class:`LLMResponseError` if it breaks the schema.

        Enum values match case-insensitively (mapped to the canonical option); an enum list is
        read as a set (order and repeats do not matter). Text fields may be absent (read as "").
        """
        obj = _first_json_object(text)
        out: dict[str, Any] = {}
        for f in self.fields:
            value = obj.get(f.name)
            if f.kind == "text":
                out[f.name] = value.strip() if isinstance(value, str) else ""
                continue
            canon = {o.casefold(): o for o in f.options}
            if f.kind == "enum":
                if not isinstance(value, str) or value.strip().casefold() not in canon:
                    raise LLMResponseError(
                        f"field {f.name!r} must be one of {list(f.options)}, got {value!r} "
                        f"in reply {_clip(text)!r}"
                    )
                out[f.name] = canon[value.strip().casefold()]
            else:
                if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                    raise LLMResponseError(
                        f"field {f.name!r} must be a list of options from {list(f.options)}, "
                        f"got {value!r} in reply {_clip(text)!r}"
                    )
                bad = [v for v in value if v.strip().casefold() not in canon]
                if bad:
                    raise LLMResponseError(
                        f"field {f.name!r} holds values outside {list(f.options)}: {bad} "
                        f"in reply {_clip(text)!r}"
                    )
                chosen = {canon[v.strip().casefold()] for v in value}
                out[f.name] = [o for o in f.options if o in chosen]
        return out


def _clip(text: str, n: int = 200) -> str:
    return text if len(text) <= n else text[:n] + "..."


def _first_json_object(text: str) -> dict[str, Any]:
    """Return the first JSON object in ``text`` (models may wrap it in prose)."""
    decoder = json.JSONDecoder()
    start = text.find("{")
    while start != -1:
        try:
            obj, _ = decoder.raw_decode(text, start)
        except json.JSONDecodeError:
            start = text.find("{", start + 1)
            continue
        if isinstance(obj, dict):
            return obj
        start = text.find("{", start + 1)
    raise LLMResponseError(f"reply holds no JSON object: {_clip(text)!r}")
