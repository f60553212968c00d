"""Conversational users by name, with their settings: what ``--user`` and ``--user-config`` build.

* ``statistical``: :class:`~recoworld.users.TargetItemUser` with exact answers (the published
  protocol); settings: ``leave_prob``.
* ``noisy``: the same user flipping each answer with ``answer_flip_prob`` (default 0.1);
  settings: ``answer_flip_prob``, ``leave_prob``.
* ``llm``: :class:`~recoworld.users.llm.LLMConversationalUser` behind any OpenAI-protocol
  endpoint; settings: the :class:`~recoworld.users.llm.LLMClientConfig` fields but the API key
  (``base_url``, ``model``, ``timeout_s``, ``max_retries``, ``backoff_s``, ``max_concurrency``,
  ``temperature``, ``max_tokens``, ``decoding``), the
  :class:`~recoworld.users.llm.LLMConversationalUserConfig` fields (``item_noun``,
  ``max_item_attributes``, ``judge_mode``, ``on_invalid``, ``utterance_chars``), and ``cache`` /
  ``cache_mode`` (a SQLite record / replay file). The key comes from ``OPENAI_API_KEY`` only, so
  that it never lands in a run's ``config.json``.

:func:`user_spec` checks a kind and its settings (an unknown key raises
:class:`~recoworld.errors.ConfigError` with a suggestion) and resolves every default, so that
:meth:`UserSpec.to_json` names the user completely; :func:`open_conversational_user` builds it and
releases the LLM client's connections at the end.
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from recoworld.datasets.world import AttributeGraphWorld
from recoworld.errors import ConfigError
from recoworld.users.conversational import ConversationalUser
from recoworld.users.target_item import TargetItemUser, TargetItemUserConfig

__all__ = ["USER_KINDS", "UserSpec", "open_conversational_user", "read_user_config", "user_spec"]

USER_KINDS: tuple[str, ...] = ("statistical", "noisy", "llm")
_CLIENT_KEYS = ("base_url", "model", "timeout_s", "max_retries", "backoff_s", "max_concurrency",
                "temperature", "max_tokens", "decoding")
_LLM_USER_KEYS = ("item_noun", "max_item_attributes", "judge_mode", "on_invalid",
                  "utterance_chars")
_CACHE_KEYS = ("cache", "cache_mode")


@dataclass(frozen=True)
class UserSpec:
    """A conversational user: its kind and every setting, defaults resolved.

    Attributes:
        kind: One of :data:`USER_KINDS`.
        settings: The resolved settings (JSON values).

    """

    kind: str
    settings: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        """``{"kind": ..., **settings}``: what a run's JSON and ``config.json`` record."""
        return {"kind": self.kind, **self.settings}


def _check_keys(kind: str, values: Mapping[str, Any], known: tuple[str, ...]) -> None:
    for key in values:
        if key not in known:
            close = difflib.get_close_matches(key, known, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise ConfigError(
                f"unknown setting {key!r} for --user {kind}{hint} (known: {sorted(known)})"
            )


def user_spec(
    kind: str, settings: Mapping[str, Any] | None = None, base_url: str | None = None
) -> UserSpec:
    """Check ``kind`` and ``settings`` and resolve every default.

    ``base_url`` (the ``--base-url`` flag) sets the LLM endpoint; it is an error for the other
    kinds, as is an LLM setting for them.
    """
    values = dict(settings or {})
    if kind not in USER_KINDS:
        raise ConfigError(f"`--user` must be one of {list(USER_KINDS)}, got {kind!r}")
    if base_url is not None:
        if kind != "llm":
            raise ConfigError(f"--base-url is the LLM user's endpoint; --user {kind} takes none")
        values["base_url"] = base_url
    try:
        return _resolve(kind, values)
    except TypeError as exc:  # a value of the wrong type reached a settings dataclass
        raise ConfigError(f"a --user {kind} setting has the wrong type: {exc}") from exc


def _resolve(kind: str, values: dict[str, Any]) -> UserSpec:
    if kind == "statistical":
        if "answer_flip_prob" in values:
            raise ConfigError(
                "the statistical user answers exactly; for answer noise use --user noisy with "
                "`answer_flip_prob` in --user-config"
            )
        _check_keys(kind, values, ("leave_prob",))
        return UserSpec(kind, asdict(TargetItemUserConfig(**values)))
    if kind == "noisy":
        _check_keys(kind, values, ("answer_flip_prob", "leave_prob"))
        values.setdefault("answer_flip_prob", 0.1)
        return UserSpec(kind, asdict(TargetItemUserConfig(**values)))
    from recoworld.users.llm import LLMClientConfig, LLMConversationalUserConfig

    _check_keys(kind, values, (*_CLIENT_KEYS, *_LLM_USER_KEYS, *_CACHE_KEYS))
    client_values = {k: v for k, v in values.items() if k in _CLIENT_KEYS}
    if "decoding" in client_values:
        client_values["decoding"] = tuple(client_values["decoding"])
    client = LLMClientConfig(**client_values)
    user = LLMConversationalUserConfig(**{k: v for k, v in values.items() if k in _LLM_USER_KEYS})
    resolved: dict[str, Any] = {
        f.name: getattr(client, f.name) for f in fields(client) if f.name != "api_key"
    }
    resolved["base_url"] = client.resolved_base_url()
    resolved["model"] = client.resolved_model()
    resolved["decoding"] = list(client.decoding)
    resolved.update(asdict(user))
    resolved["cache"] = None if values.get("cache") is None else str(values["cache"])
    resolved["cache_mode"] = str(values.get("cache_mode", "record"))
    if resolved["cache_mode"] not in ("record", "replay", "off"):
        raise ConfigError(
            f"`cache_mode` must be 'record', 'replay' or 'off', got {resolved['cache_mode']!r}"
        )
    if resolved["base_url"] is None and resolved["cache_mode"] != "replay":
        raise ConfigError(
            "--user llm needs an endpoint: pass --base-url URL (e.g. the one `recoworld llm "
            "serve` prints), set OPENAI_BASE_URL, or replay a cache (`cache_mode`: 'replay')"
        )
    return UserSpec(kind, resolved)


def read_user_config(path: str | Path | None) -> dict[str, Any]:
    """The settings of ``--user-config FILE.json`` (an empty dict when no file is given)."""
    if path is None:
        return {}
    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"`--user-config` file {p} does not exist")
    try:
        values = json.loads(p.read_text())
    except json.JSONDecodeError as exc:
        raise ConfigError(f"`--user-config` file {p} is not valid JSON: {exc}") from exc
    if not isinstance(values, dict):
        raise ConfigError(f"`--user-config` file {p} must hold a JSON object")
    return values


@contextmanager
def open_conversational_user(
    spec: UserSpec, world: AttributeGraphWorld
) -> Iterator[ConversationalUser]:
    """Build the user ``spec`` names for ``world``; an LLM user's client is closed at the end."""
    if spec.kind in ("statistical", "noisy"):
        yield TargetItemUser(world, TargetItemUserConfig(**spec.settings))
        return
    from recoworld.users.llm import (
        LLMClient,
        LLMClientConfig,
        LLMConversationalUser,
        LLMConversationalUserConfig,
        ResponseCache,
    )

    s = spec.settings
    client_values: dict[str, Any] = {k: s[k] for k in _CLIENT_KEYS}
    client_values["decoding"] = tuple(s["decoding"])
    client_cfg = LLMClientConfig(**client_values)
    cache = None
    if s["cache"] is not None and s["cache_mode"] != "off":
        cache = ResponseCache(s["cache"], s["cache_mode"])
    with LLMClient(client_cfg, cache) as client:
        yield LLMConversationalUser(
            world, client, LLMConversationalUserConfig(**{k: s[k] for k in _LLM_USER_KEYS})
        )
