"""A client for the OpenAI chat-completions protocol, with structured decisions and a cache.

Any server that speaks the protocol works (llama.cpp / llama-cpp-python, vLLM, Ollama, hosted
APIs). The endpoint, model and key come from the arguments or the environment:
``OPENAI_BASE_URL``, ``RECOWORLD_LLM_MODEL`` and ``OPENAI_API_KEY``. The endpoint may be a
comma-separated list of base URLs of servers that serve the same model: requests go to them in
turn, and a failed attempt is retried on the next one.

Reliability: every call has an overall deadline (``timeout_s``, retries included); connection
errors, timeouts, HTTP 429 and 5xx, and HTTP 200 bodies that are not a chat completion (not JSON,
broken JSON, no choice) are retried a bounded number of times with exponential backoff, then raise
:class:`LLMServerError` naming the URL and what came back. At most ``max_concurrency`` requests are in flight; ``*_many`` methods send a
batch concurrently (one event loop per client), which is how a vectorised environment asks many
users at once.

Structured decisions (:meth:`LLMClient.decide`): the reply must parse against a
:class:`DecisionSchema`. Each decoding mode in ``config.decoding`` is tried in turn -- by default
the server's JSON-schema mode, then a GBNF grammar -- and a reply that still does not parse gives a
:class:`Decision` with ``valid=False``: the caller marks the turn ``invalid_response``; nothing is
silently turned into a decision. :meth:`LLMClient.choose` reads a one-token letter choice and the
log-probabilities of the allowed letters where the server returns them (UserMirrorer's scheme).
:meth:`LLMClient.complete` sends a raw prompt to ``/v1/completions`` and returns the first token's
top log-probabilities, which :mod:`~recoworld.users.llm.logprob` turns into answer scores.
"""

from __future__ import annotations

import asyncio
import json
import math
import os
from collections.abc import Awaitable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, TypeVar

from recoworld._validate import require_range
from recoworld.errors import ConfigError, LLMResponseError, LLMServerError
from recoworld.users.llm.cache import ResponseCache, request_key
from recoworld.users.llm.decision import DecisionSchema, letter_grammar

__all__ = [
    "DEFAULT_MODEL",
    "ChatResponse",
    "Decision",
    "DecodingMode",
    "LLMClient",
    "LLMClientConfig",
    "Message",
]

DEFAULT_MODEL = "SmolLM2-135M-Instruct"
DecodingMode = Literal["plain", "json_schema", "grammar"]
_DECODING_MODES = ("plain", "json_schema", "grammar")
Message = dict[str, str]
_T = TypeVar("_T")
_EXTENSIONS = ("response_format", "grammar", "top_logprobs")


@dataclass(frozen=True)
class LLMClientConfig:
    """Settings of :class:`LLMClient`.

    Attributes:
        base_url: Endpoint such as ``http://127.0.0.1:8080/v1``, or several separated by commas
            (``http://a:8000/v1,http://b:8000/v1``: one model behind several servers, used in
            turn); ``None`` reads ``OPENAI_BASE_URL``. Not needed when every answer comes from a
            replay cache.
        model: Model name sent to the server; ``None`` reads ``RECOWORLD_LLM_MODEL``, else
            :data:`DEFAULT_MODEL` (llama-cpp-python serves its one model under any name).
        api_key: ``None`` reads ``OPENAI_API_KEY``, else a placeholder local servers ignore.
        timeout_s: Deadline of one call in seconds: every attempt, retry and backoff pause of
            one request fits in it (what a caller waits at most before :class:`LLMServerError`).
        max_retries: Retries after a failed request (so at most ``max_retries + 1`` attempts).
        backoff_s: First retry delay; each further retry doubles it.
        max_concurrency: Requests in flight at once in the ``*_many`` methods, per endpoint.
        temperature: Sampling temperature (the per-call seed makes sampling reproducible).
        max_tokens: Token budget of a structured reply.
        decoding: Decoding modes tried in order until a reply parses: ``"plain"`` (no constraint),
            ``"json_schema"`` (``response_format`` with the schema) and ``"grammar"`` (a GBNF
            grammar through ``extra_body``; llama.cpp servers only).

    """

    base_url: str | None = None
    model: str | None = None
    api_key: str | None = None
    timeout_s: float = 60.0
    max_retries: int = 2
    backoff_s: float = 0.5
    max_concurrency: int = 4
    temperature: float = 0.7
    max_tokens: int = 128
    decoding: tuple[DecodingMode, ...] = ("json_schema", "grammar")

    def __post_init__(self) -> None:
        require_range("timeout_s", self.timeout_s, 0, low_open=True, allow_inf=True)
        require_range("max_retries", self.max_retries, 0)
        require_range("backoff_s", self.backoff_s, 0)
        require_range("max_concurrency", self.max_concurrency, 1)
        require_range("max_tokens", self.max_tokens, 1)
        if not self.decoding or any(m not in _DECODING_MODES for m in self.decoding):
            raise ConfigError(
                f"`decoding` must be a non-empty sequence of {_DECODING_MODES}, got {self.decoding}"
            )

    def resolved_base_url(self) -> str | None:
        """Return the endpoint: ``base_url``, else ``$OPENAI_BASE_URL``, else ``None``."""
        return self.base_url or os.environ.get("OPENAI_BASE_URL") or None

    def resolved_model(self) -> str:
        """Return the model name: ``model``, else ``$RECOWORLD_LLM_MODEL``, else the default."""
        return self.model or os.environ.get("RECOWORLD_LLM_MODEL") or DEFAULT_MODEL

    def resolved_api_key(self) -> str:
        """Return the API key: ``api_key``, else ``$OPENAI_API_KEY``, else a placeholder."""
        return self.api_key or os.environ.get("OPENAI_API_KEY") or "sk-no-key-required"


@dataclass(frozen=True)
class ChatResponse:
    """One chat completion.

    Attributes:
        text: The reply's content ("" when the server sent none).
        top_logprobs: Log-probabilities of the first generated token's top alternatives
            (token -> logprob), when requested and returned; else ``None``.
        finish_reason: The server's finish reason (``"stop"``, ``"length"``, ...).
        cached: Whether the answer came from the cache.

    """

    text: str
    top_logprobs: dict[str, float] | None = None
    finish_reason: str | None = None
    cached: bool = False

    def to_json(self) -> dict[str, Any]:
        """Return the cacheable form."""
        return {
            "text": self.text,
            "top_logprobs": self.top_logprobs,
            "finish_reason": self.finish_reason,
        }

    @staticmethod
    def from_json(obj: dict[str, Any], cached: bool) -> ChatResponse:
        """Rebuild from :meth:`to_json`."""
        top = obj.get("top_logprobs")
        return ChatResponse(
            text=str(obj.get("text", "")),
            top_logprobs=None if top is None else {str(k): float(v) for k, v in top.items()},
            finish_reason=obj.get("finish_reason"),
            cached=cached,
        )


@dataclass(frozen=True)
class Decision:
    """The outcome of one structured decision.

    Attributes:
        values: The parsed fields (``None`` when no reply parsed).
        valid: Whether a reply parsed against the schema.
        attempts: How many replies were requested (one per decoding mode tried).
        replies: The raw reply texts, in order.
        error: Why the last reply was rejected ("" when valid).
        cached: Whether every reply came from the cache.
        probabilities: For letter choices, the renormalised probability of each allowed letter
            read from the log-probabilities (``None`` when the server returned none).

    """

    values: dict[str, Any] | None
    valid: bool
    attempts: int
    replies: tuple[str, ...]
    error: str = ""
    cached: bool = False
    probabilities: dict[str, float] | None = field(default=None)


def _retriable_status(status: int) -> bool:
    """Whether an HTTP error status is worth retrying (429 and 5xx)."""
    return status == 429 or status >= 500


class LLMClient:
    """OpenAI-protocol chat client with retries, a concurrency limit, batching and a cache.

    Args:
        config: Endpoint and decoding settings (defaults read the environment).
        cache: A :class:`ResponseCache`; ``None`` caches nothing.

    Use as a context manager, or call :meth:`close`, to release the connection pool.

    """

    def __init__(
        self, config: LLMClientConfig | None = None, cache: ResponseCache | None = None
    ) -> None:
        self.config = config or LLMClientConfig()
        self.cache = cache
        self.model = self.config.resolved_model()
        self.base_url = self.config.resolved_base_url()
        self.base_urls = [u.strip() for u in (self.base_url or "").split(",") if u.strip()]
        self._next_endpoint = 0
        self.server_calls = 0
        self.cache_hits = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._client: list[Any] | None = None
        self._sem: asyncio.Semaphore | None = None

    # ---- lifecycle -------------------------------------------------------------------------
    def __enter__(self) -> LLMClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the HTTP connection pool and the private event loop."""
        if self._loop is not None and not self._loop.is_closed():
            for endpoint in self._client or []:
                self._loop.run_until_complete(endpoint.close())
            self._loop.close()
        self._client = None
        self._loop = None
        self._sem = None

    def _run(self, coro: Awaitable[_T]) -> _T:
        if self._loop is None or self._loop.is_closed():
            self._loop = asyncio.new_event_loop()
            self._client = None
            self._sem = None
        return self._loop.run_until_complete(coro)

    def _openai(self) -> list[Any]:
        if not self.base_urls:
            raise LLMServerError(
                "no LLM endpoint configured: pass `base_url` (CLI: --base-url) or set "
                "OPENAI_BASE_URL, e.g. to the URL that `recoworld llm serve` prints"
            )
        if self._client is None:
            try:
                import openai
            except ImportError as exc:  # pragma: no cover - depends on the install
                raise LLMServerError(
                    "the `openai` package is not installed; install the extra: "
                    "pip install 'recoworld[llm]'"
                ) from exc
            self._client = [
                openai.AsyncOpenAI(
                    base_url=url,
                    api_key=self.config.resolved_api_key(),
                    timeout=self.config.timeout_s,
                    max_retries=0,
                )
                for url in self.base_urls
            ]
        return self._client

    # ---- raw chat --------------------------------------------------------------------------
    def _params(
        self,
        seed: int,
        response_format: dict[str, Any] | None,
        grammar: str | None,
        top_logprobs: int | None,
        max_tokens: int | None,
        temperature: float | None,
    ) -> dict[str, Any]:
        params: dict[str, Any] = {
            "seed": int(seed),
            "temperature": self.config.temperature if temperature is None else temperature,
            "max_tokens": self.config.max_tokens if max_tokens is None else max_tokens,
        }
        if response_format is not None:
            params["response_format"] = response_format
        if grammar is not None:
            params["grammar"] = grammar
        if top_logprobs is not None:
            params["top_logprobs"] = int(top_logprobs)
        return params

    async def achat(
        self,
        messages: Sequence[Message],
        *,
        seed: int,
        response_format: dict[str, Any] | None = None,
        grammar: str | None = None,
        top_logprobs: int | None = None,
        max_tokens: int | None = None,
        temperature: float | None = None,
    ) -> ChatResponse:
        """One chat completion (from the cache when it holds the request)."""
        msgs = [{"role": m["role"], "content": m["content"]} for m in messages]
        params = self._params(seed, response_format, grammar, top_logprobs, max_tokens, temperature)
        return await self._cached_send(msgs, params, f"model {self.model!r}, seed {seed}")

    async def _cached_send(
        self, msgs: list[Message], params: dict[str, Any], describe: str
    ) -> ChatResponse:
        """The cached response to this request, or the server's (then recorded in the cache)."""
        key = request_key(self.model, msgs, params)
        if self.cache is not None:
            hit = self.cache.get(key, describe=describe)
            if hit is not None:
                self.cache_hits += 1
                return ChatResponse.from_json(hit, cached=True)
        response = await self._send(msgs, params)
        if self.cache is not None:
            self.cache.put(
                key, self.model, {"model": self.model, "messages": msgs, "params": params},
                response.to_json(),
            )
        return response

    def chat(
        self,
        messages: Sequence[Message],
        *,
        seed: int,
        response_format: dict[str, Any] | None = None,
        grammar: str | None = None,
        top_logprobs: int | None = None,
        max_tokens: int | None = None,
        temperature: float | None = None,
    ) -> ChatResponse:
        """Blocking :meth:`achat`."""
        return self._run(
            self.achat(
                messages,
                seed=seed,
                response_format=response_format,
                grammar=grammar,
                top_logprobs=top_logprobs,
                max_tokens=max_tokens,
                temperature=temperature,
            )
        )

    async def acomplete(
        self, prompt: str, *, top_logprobs: int = 20, max_tokens: int = 1
    ) -> ChatResponse:
        """One raw text completion (``/v1/completions``, no chat template), cached.

        Made for scoring: greedy (temperature 0) with the log-probabilities of the first
        generated token's ``top_logprobs`` most likely alternatives. No seed is sent, so the same
        prompt is one cache entry wherever it is asked (log-probabilities do not depend on it).
        """
        msgs = [{"role": "prompt", "content": prompt}]
        params: dict[str, Any] = {
            "endpoint": "completions",
            "temperature": 0.0,
            "max_tokens": int(max_tokens),
            "top_logprobs": int(top_logprobs),
        }
        return await self._cached_send(msgs, params, f"model {self.model!r}, text completion")

    def complete(self, prompt: str, *, top_logprobs: int = 20, max_tokens: int = 1) -> ChatResponse:
        """Blocking :meth:`acomplete`."""
        return self._run(self.acomplete(prompt, top_logprobs=top_logprobs, max_tokens=max_tokens))

    async def _send(self, msgs: list[Message], params: dict[str, Any]) -> ChatResponse:
        endpoints = self._openai()
        if self._sem is None:
            self._sem = asyncio.Semaphore(self.config.max_concurrency * len(endpoints))
        completion = params.get("endpoint") == "completions"
        kwargs: dict[str, Any] = {
            "model": self.model,
            "temperature": params["temperature"],
            "max_tokens": params["max_tokens"],
        }
        if completion:
            kwargs["prompt"] = msgs[0]["content"]
            kwargs["logprobs"] = params["top_logprobs"]
        else:
            kwargs["messages"] = msgs
            kwargs["seed"] = params["seed"]
        if "response_format" in params:
            kwargs["response_format"] = params["response_format"]
        if "grammar" in params:
            kwargs["extra_body"] = {"grammar": params["grammar"]}
        if "top_logprobs" in params and not completion:
            kwargs["logprobs"] = True
            kwargs["top_logprobs"] = params["top_logprobs"]
        import openai

        max_attempts = self.config.max_retries + 1
        attempts = 0
        last: BaseException | None = None
        url = self.base_urls[0]
        loop = asyncio.get_running_loop()
        async with self._sem:  # the deadline runs from the moment the call may send
            deadline = loop.time() + self.config.timeout_s
            while attempts < max_attempts:
                remaining = deadline - loop.time()
                if remaining <= 0:
                    break
                attempts += 1
                self.server_calls += 1
                turn = self._next_endpoint  # in turn across endpoints, retries included
                self._next_endpoint = (turn + 1) % len(endpoints)
                url = self.base_urls[turn]
                try:
                    api = endpoints[turn].completions if completion else endpoints[turn].chat.completions
                    raw = await asyncio.wait_for(
                        api.with_raw_response.create(**kwargs, timeout=remaining),
                        timeout=remaining,
                    )
                    parse = _parse_text_completion if completion else _parse_completion
                    return parse(raw.http_response.text, url)
                except openai.APIStatusError as exc:
                    if not _retriable_status(exc.status_code):
                        raise LLMServerError(
                            f"LLM server at {url} refused the request with HTTP "
                            f"{exc.status_code}: {exc.message}; check the model name "
                            f"({self.model!r}) and that the server supports "
                            f"{sorted(k for k in params if k in _EXTENSIONS)}"
                        ) from exc
                    last = exc
                except (openai.OpenAIError, asyncio.TimeoutError, _UnreadableReply) as exc:
                    last = exc
                pause = min(self.config.backoff_s * 2 ** (attempts - 1), deadline - loop.time())
                if attempts < max_attempts and pause > 0:
                    await asyncio.sleep(pause)
        tried = f"{attempts} attempt{'s' if attempts != 1 else ''}"
        if isinstance(last, _UnreadableReply):
            raise LLMServerError(
                f"LLM server at {url} answered HTTP 200 with {last} ({tried}); is it an "
                "OpenAI-compatible chat-completions endpoint (the base URL usually ends in /v1)?"
            ) from last
        if last is None or isinstance(last, (asyncio.TimeoutError, openai.APITimeoutError)):
            what = "the request timed out"
        else:
            what = f"{type(last).__name__}: {last}"
        raise LLMServerError(
            f"LLM server at {self.base_url} did not answer after {tried} within the "
            f"{self.config.timeout_s:g} s deadline of one call (last error: {what}); start one "
            "with `recoworld llm serve`, point `base_url` / OPENAI_BASE_URL (CLI: --base-url) at "
            "a running OpenAI-compatible server, or raise `timeout_s` (CLI: --timeout) for a "
            "slow one"
        ) from last

    def _gather(self, coros: Sequence[Awaitable[_T]]) -> list[_T]:
        async def _all() -> list[_T]:
            return list(await asyncio.gather(*coros))

        return self._run(_all())

    # ---- structured decisions --------------------------------------------------------------
    async def adecide(
        self, messages: Sequence[Message], schema: DecisionSchema, *, seed: int
    ) -> Decision:
        """Ask for a reply shaped by ``schema``, trying each decoding mode until one parses."""
        replies: list[str] = []
        error = ""
        cached = True
        for mode in self.config.decoding:
            response = await self.achat(
                messages,
                seed=seed,
                response_format=schema.response_format() if mode == "json_schema" else None,
                grammar=schema.gbnf() if mode == "grammar" else None,
            )
            cached = cached and response.cached
            replies.append(response.text)
            try:
                values = schema.parse(response.text)
            except LLMResponseError as exc:
                error = str(exc)
                continue
            return Decision(values, True, len(replies), tuple(replies), "", cached)
        return Decision(None, False, len(replies), tuple(replies), error, cached)

    def decide(self, messages: Sequence[Message], schema: DecisionSchema, *, seed: int) -> Decision:
        """Blocking :meth:`adecide`."""
        return self._run(self.adecide(messages, schema, seed=seed))

    def decide_many(
        self, requests: Sequence[tuple[Sequence[Message], DecisionSchema, int]]
    ) -> list[Decision]:
        """Many ``(messages, schema, seed)`` decisions sent concurrently; results in order."""
        return self._gather([self.adecide(m, s, seed=seed) for m, s, seed in requests])

    async def achoose(
        self, messages: Sequence[Message], letters: Sequence[str], *, seed: int
    ) -> Decision:
        """Ask for a one-token letter choice among ``letters``, grammar-constrained, with log-probs.

        The chosen letter is the most probable allowed letter among the returned top
        log-probabilities when any is there, else the generated token. ``values`` is
        ``{"choice": letter}``; an answer outside ``letters`` gives ``valid=False``.
        """
        allowed = tuple(letters)
        response = await self.achat(
            messages,
            seed=seed,
            grammar=letter_grammar(allowed),
            top_logprobs=min(20, max(5, len(allowed))),
            max_tokens=1,
        )
        probs: dict[str, float] | None = None
        if response.top_logprobs:
            best: dict[str, float] = {}
            for token, lp in response.top_logprobs.items():
                t = token.strip()
                if t in allowed and lp > best.get(t, -math.inf):
                    best[t] = lp
            if best:
                peak = max(best.values())
                weights = {k: math.exp(v - peak) for k, v in best.items()}
                total = sum(weights.values())
                probs = {k: weights[k] / total for k in allowed if k in weights}
        text = response.text.strip()
        if probs:
            choice = max(probs, key=lambda k: probs[k] if probs else 0.0)
        elif text in allowed:
            choice = text
        else:
            return Decision(
                None, False, 1, (response.text,),
                f"choice must be one of {list(allowed)}, got {response.text!r}",
                response.cached,
            )
        return Decision({"choice": choice}, True, 1, (response.text,), "", response.cached, probs)

    def choose(self, messages: Sequence[Message], letters: Sequence[str], *, seed: int) -> Decision:
        """Blocking :meth:`achoose`."""
        return self._run(self.achoose(messages, letters, seed=seed))

    def choose_many(
        self, requests: Sequence[tuple[Sequence[Message], Sequence[str], int]]
    ) -> list[Decision]:
        """Many ``(messages, letters, seed)`` letter choices sent concurrently; results in order."""
        return self._gather([self.achoose(m, ls, seed=seed) for m, ls, seed in requests])


class _UnreadableReply(Exception):
    """An HTTP 200 whose body is not a chat completion (retried like a server fault)."""


def _snippet(text: str, limit: int = 120) -> str:
    return repr(text if len(text) <= limit else text[:limit] + "...")


def _parse_completion(body: str, base_url: str | None) -> ChatResponse:
    """Read content, finish reason and first-token log-probs from a chat-completion body.

    Raises :class:`_UnreadableReply` (naming what came back) when ``body`` is not JSON or not
    shaped like a chat completion.
    """
    try:
        data = json.loads(body)
    except ValueError as exc:
        raise _UnreadableReply(f"a body that is not valid JSON ({exc}): {_snippet(body)}") from None
    choices = data.get("choices") if isinstance(data, dict) else None
    if not isinstance(choices, list) or not choices:
        raise _UnreadableReply(f"JSON without any choice: {_snippet(body)}")
    choice = choices[0]
    message = choice.get("message") if isinstance(choice, dict) else None
    if not isinstance(message, dict):
        raise _UnreadableReply(f"a choice without a message object: {_snippet(body)}")
    text = message.get("content")
    if text is not None and not isinstance(text, str):
        raise _UnreadableReply(f"a message whose content is not text: {_snippet(body)}")
    top: dict[str, float] | None = None
    logprobs = choice.get("logprobs")
    content_lp = logprobs.get("content") if isinstance(logprobs, dict) else None
    if isinstance(content_lp, list) and content_lp and isinstance(content_lp[0], dict):
        first = content_lp[0]
        top = {}
        try:
            for alt in first.get("top_logprobs") or []:
                token = str(alt.get("token", ""))
                lp = float(alt.get("logprob", -math.inf))
                if lp > top.get(token, -math.inf):
                    top[token] = lp
            if "token" in first and str(first["token"]) not in top:
                top[str(first["token"])] = float(first.get("logprob", -math.inf))
        except (AttributeError, TypeError, ValueError):
            raise _UnreadableReply(f"malformed log-probabilities: {_snippet(body)}") from None
    finish = choice.get("finish_reason")
    return ChatResponse(
        text=text or "",
        top_logprobs=top,
        finish_reason=finish if isinstance(finish, str) else None,
        cached=False,
    )


def _parse_text_completion(body: str, base_url: str | None) -> ChatResponse:
    """Read text, finish reason and first-token log-probs from a ``/v1/completions`` body.

    Raises :class:`_UnreadableReply` (naming what came back) when ``body`` is not JSON or not
    shaped like a text completion.
    """
    try:
        data = json.loads(body)
    except ValueError as exc:
        raise _UnreadableReply(f"a body that is not valid JSON ({exc}): {_snippet(body)}") from None
    choices = data.get("choices") if isinstance(data, dict) else None
    if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
        raise _UnreadableReply(f"JSON without any choice: {_snippet(body)}")
    choice = choices[0]
    top: dict[str, float] | None = None
    logprobs = choice.get("logprobs")
    first = (logprobs.get("top_logprobs") or [None])[0] if isinstance(logprobs, dict) else None
    if first:
        try:
            top = {str(t): float(lp) for t, lp in first.items()}
        except (AttributeError, TypeError, ValueError):
            raise _UnreadableReply(f"malformed log-probabilities: {_snippet(body)}") from None
    text = choice.get("text")
    finish = choice.get("finish_reason")
    return ChatResponse(
        text=text if isinstance(text, str) else "",
        top_logprobs=top,
        finish_reason=finish if isinstance(finish, str) else None,
        cached=False,
    )
