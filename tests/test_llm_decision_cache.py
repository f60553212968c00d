"""Decision schemas (JSON schema, GBNF, validation) and the SQLite record/replay cache."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from recoworld.errors import ConfigError, LLMResponseError
from recoworld.users.llm.cache import LLMCacheMissError, ResponseCache, request_key
from recoworld.users.llm.decision import DecisionField, DecisionSchema, letter_grammar
from recoworld.users.llm.prompts import prompt_names, render_prompt

SCHEMA = DecisionSchema(
    (
        DecisionField("answer", "enum", ("yes", "no")),
        DecisionField("chosen", "enum_list", ("rock", "jazz", 'say "hi"')),
        DecisionField("utterance", "text", max_chars=40),
    )
)


def test_json_schema_uses_enums_and_bounds() -> None:
    js = SCHEMA.json_schema()
    assert js["required"] == ["answer", "chosen", "utterance"]
    assert js["properties"]["answer"] == {"type": "string", "enum": ["yes", "no"]}
    assert js["properties"]["chosen"]["items"]["enum"] == ["rock", "jazz", 'say "hi"']
    assert js["properties"]["utterance"]["maxLength"] == 40
    assert SCHEMA.response_format() == {"type": "json_object", "schema": js}


def test_gbnf_names_every_option_escaped() -> None:
    g = SCHEMA.gbnf()
    assert g.startswith('root ::= "{" ws')
    assert '"\\"yes\\""' in g and '"\\"no\\""' in g
    assert '"\\"say \\\\\\"hi\\\\\\"\\""' in g  # JSON-escaped, then GBNF-escaped
    assert "char{0,40}" in g
    assert letter_grammar(("A", "B")) == 'root ::= "A" | "B"\n'


def test_parse_accepts_valid_and_canonicalises() -> None:
    out = SCHEMA.parse('Sure! {"answer": "Yes", "chosen": ["jazz", "rock", "jazz"], "utterance": " ok "}')
    assert out == {"answer": "yes", "chosen": ["rock", "jazz"], "utterance": "ok"}
    assert SCHEMA.parse('{"answer": "no", "chosen": []}')["utterance"] == ""


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("banana", "no JSON object"),
        ('{"answer": "maybe", "chosen": []}', r"'answer' must be one of \['yes', 'no'\], got 'maybe'"),
        ('{"answer": "yes", "chosen": ["metal"]}', r"values outside .* \['metal'\]"),
        ('{"answer": "yes", "chosen": "rock"}', "must be a list of options"),
        ('{"chosen": []}', "got None"),
    ],
)
def test_parse_rejects_out_of_schema(text: str, match: str) -> None:
    with pytest.raises(LLMResponseError, match=match):
        SCHEMA.parse(text)


def test_schema_config_errors() -> None:
    with pytest.raises(ConfigError, match="needs at least one option"):
        DecisionField("x", "enum")
    with pytest.raises(ConfigError, match="duplicate options"):
        DecisionField("x", "enum", ("a", "a"))
    with pytest.raises(ConfigError, match="must be distinct"):
        DecisionSchema((DecisionField("x", "text"), DecisionField("x", "text")))
    with pytest.raises(ConfigError, match="kind"):
        DecisionField("x", "number")  # type: ignore[arg-type]


def test_prompts_are_package_data_and_complete() -> None:
    names = prompt_names()
    assert {"conversational_system", "conversational_binary", "conversational_judge"} <= set(names)
    text = render_prompt("conversational_binary", attribute="jazz", wanted="rock, jazz")
    assert "'jazz'" in text and "$" not in text
    with pytest.raises(ConfigError, match="needs a value for 'wanted'"):
        render_prompt("conversational_binary", attribute="jazz")
    with pytest.raises(ConfigError, match="does not exist"):
        render_prompt("no_such_prompt")


def test_request_key_depends_on_every_part() -> None:
    msgs = [{"role": "user", "content": "hi"}]
    base = request_key("m", msgs, {"seed": 1})
    assert base == request_key("m", [{"content": "hi", "role": "user"}], {"seed": 1})
    assert base != request_key("m2", msgs, {"seed": 1})
    assert base != request_key("m", msgs, {"seed": 2})
    assert base != request_key("m", [{"role": "user", "content": "hi!"}], {"seed": 1})


def test_cache_record_replay_off(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "c.sqlite"
    rec = ResponseCache(path, "record")
    assert rec.get("k1") is None and rec.misses == 1
    rec.put("k1", "m", {"messages": []}, {"text": "hello"})
    assert rec.get("k1") == {"text": "hello"} and rec.hits == 1
    assert len(rec) == 1 and rec.requests() == [{"messages": []}]
    rec.close()
    rep = ResponseCache(path, "replay")
    assert rep.get("k1") == {"text": "hello"}
    with pytest.raises(LLMCacheMissError, match=r"has no answer for request k2.*mode='record'"):
        rep.get("k2", describe="seed 3")
    rep.put("k2", "m", {}, {"text": "x"})  # replay never writes
    assert len(rep) == 1
    off = ResponseCache(tmp_path / "never.sqlite", "off")
    assert off.get("k1") is None and len(off) == 0
    assert not (tmp_path / "never.sqlite").exists()
    with pytest.raises(LLMCacheMissError, match="does not exist"):
        ResponseCache(tmp_path / "missing.sqlite", "replay")
    with pytest.raises(ConfigError, match="mode"):
        ResponseCache(path, "sometimes")  # type: ignore[arg-type]
    assert json.loads(json.dumps(rep.requests()))  # stored requests are plain JSON
