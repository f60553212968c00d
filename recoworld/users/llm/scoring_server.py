"""A lean OpenAI-protocol ``/v1/completions`` server for answer scoring (``--engine scoring``).

llama-cpp-python's own server computes, for every request that asks log-probabilities, the logits
of *every* prompt token and their log-softmax over the whole vocabulary, then sorts the vocabulary
in Python; on two shared cores that costs seconds per call, far more than the few new tokens a
scored decision evaluates. This server keeps only what scoring needs: it evaluates the prompt
(reusing the longest prefix already in the model's KV cache, so a question that differs from the
previous one in its last words costs those words), reads the logits of the last position, and
answers with the top log-probabilities of each greedily generated token, in the OpenAI
completions format. It serves ``GET /v1/models`` and ``POST /v1/completions``; any other route is
refused with HTTP 404 and a message naming the engine that serves chat.

Run it through :class:`~recoworld.users.llm.serve.LocalLLMServer` (``engine="scoring"``) or
``recoworld llm serve --engine scoring``.
"""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import numpy as np
import numpy.typing as npt

__all__ = ["ScoringEngine", "make_server"]

_MAX_TOP = 50


class ScoringEngine:
    """One llama.cpp model evaluated for greedy completions with last-position log-probabilities.

    Args:
        model_path: The GGUF file.
        n_ctx: Context length in tokens.
        n_threads: CPU threads (``None``: llama.cpp's default).
        n_batch: Prompt tokens evaluated per step (1 evaluates them one at a time, which the
            Q4_1 SmolLM2 file runs about 3x faster than in batches on this project's CPU build).

    """

    def __init__(
        self,
        model_path: str,
        n_ctx: int = 2048,
        n_threads: int | None = None,
        n_batch: int = 512,
    ) -> None:
        from llama_cpp import Llama

        self.llm = Llama(
            model_path=model_path,
            n_ctx=n_ctx,
            n_threads=n_threads,
            n_batch=n_batch,
            n_ubatch=n_batch,
            logits_all=False,
            verbose=False,
        )
        self.n_ctx = n_ctx
        self.lock = threading.Lock()

    def _prefill(self, tokens: list[int]) -> int:
        """Evaluate ``tokens``, reusing the cached prefix; return how many were evaluated."""
        llm = self.llm
        cached = llm.input_ids[: llm.n_tokens].tolist()
        prefix = 0
        for a, b in zip(cached, tokens, strict=False):
            if a != b:
                break
            prefix += 1
        prefix = min(prefix, len(tokens) - 1)  # the last token is always evaluated: fresh logits
        llm.n_tokens = prefix
        llm.eval(tokens[prefix:])
        return len(tokens) - prefix

    def _last_logprobs(self) -> npt.NDArray[np.float64]:
        n_vocab = self.llm.n_vocab()
        logits = np.ctypeslib.as_array(self.llm._ctx.get_logits_ith(-1), shape=(n_vocab,))
        x = logits.astype(np.float64)
        x -= x.max()
        return x - float(np.log(np.exp(x).sum()))

    def complete(self, prompt: str, max_tokens: int, top_k: int) -> dict[str, Any]:
        """Greedy completion of ``prompt``: text, tokens, their log-probs and the top ``top_k``."""
        import llama_cpp

        llm = self.llm
        tokens = llm.tokenize(prompt.encode("utf-8"), add_bos=True, special=True)
        if not tokens:
            raise ValueError("`prompt` must not be empty")
        if len(tokens) + max_tokens > self.n_ctx:
            raise ValueError(
                f"prompt of {len(tokens)} tokens + max_tokens {max_tokens} exceeds the context "
                f"of {self.n_ctx} tokens; shorten the prompt or raise --n_ctx"
            )
        out_tokens: list[str] = []
        out_logprobs: list[float] = []
        tops: list[dict[str, float]] = []
        generated: list[int] = []
        finish = "length"
        with self.lock:
            evaluated = self._prefill(tokens)
            for step in range(max_tokens):
                lp = self._last_logprobs()
                k = min(top_k, lp.size)
                idx = np.argpartition(-lp, k - 1)[:k]
                idx = idx[np.argsort(-lp[idx], kind="stable")]
                context = tokens + generated
                top: dict[str, float] = {}
                for i in idx:
                    text = llm.detokenize([int(i)], prev_tokens=context).decode("utf-8", "ignore")
                    top.setdefault(text, float(lp[i]))
                best = int(idx[0])
                if llama_cpp.llama_vocab_is_eog(llm._model.vocab, best):
                    finish = "stop"
                    break
                generated.append(best)
                out_tokens.append(
                    llm.detokenize([best], prev_tokens=context).decode("utf-8", "ignore")
                )
                out_logprobs.append(float(lp[best]))
                tops.append(top)
                if step + 1 < max_tokens:
                    llm.eval([best])
        return {
            "text": "".join(out_tokens),
            "tokens": out_tokens,
            "token_logprobs": out_logprobs,
            "top_logprobs": tops,
            "finish_reason": finish,
            "prompt_tokens": len(tokens),
            "evaluated_tokens": evaluated,
        }


def _completion_body(engine: ScoringEngine, body: dict[str, Any], alias: str) -> dict[str, Any]:
    prompt = body.get("prompt")
    if isinstance(prompt, list) and len(prompt) == 1:
        prompt = prompt[0]
    if not isinstance(prompt, str):
        raise ValueError(f"`prompt` must be one string, got {type(prompt).__name__}")
    max_tokens = body.get("max_tokens", 16)
    top_k = body.get("logprobs") or 0
    if not isinstance(max_tokens, int) or not 1 <= max_tokens <= 256:
        raise ValueError(f"`max_tokens` must be an integer in [1, 256], got {max_tokens!r}")
    if not isinstance(top_k, int) or not 0 <= top_k <= _MAX_TOP:
        raise ValueError(f"`logprobs` must be an integer in [0, {_MAX_TOP}], got {top_k!r}")
    if body.get("echo"):
        raise ValueError("`echo` is not supported by the scoring engine")
    out = engine.complete(prompt, max_tokens, max(top_k, 1))
    offsets, pos = [], len(prompt)
    for t in out["tokens"]:
        offsets.append(pos)
        pos += len(t)
    logprobs = None
    if top_k:
        logprobs = {
            "tokens": out["tokens"],
            "token_logprobs": out["token_logprobs"],
            "top_logprobs": out["top_logprobs"],
            "text_offset": offsets,
        }
    return {
        "id": f"cmpl-{time.monotonic_ns()}",
        "object": "text_completion",
        "created": int(time.time()),
        "model": alias,
        "choices": [
            {
                "text": out["text"],
                "index": 0,
                "logprobs": logprobs,
                "finish_reason": out["finish_reason"],
            }
        ],
        "usage": {
            "prompt_tokens": out["prompt_tokens"],
            "completion_tokens": len(out["tokens"]),
            "total_tokens": out["prompt_tokens"] + len(out["tokens"]),
            "evaluated_prompt_tokens": out["evaluated_tokens"],
        },
    }


def make_server(engine: ScoringEngine, host: str, port: int, alias: str) -> ThreadingHTTPServer:
    """The HTTP server answering the OpenAI routes above with ``engine``."""

    class Handler(BaseHTTPRequestHandler):
        def _send(self, status: int, payload: dict[str, Any]) -> None:
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _error(self, status: int, message: str) -> None:
            self._send(status, {"error": {"message": message, "type": "invalid_request_error"}})

        def do_GET(self) -> None:
            if self.path.rstrip("/") == "/v1/models":
                self._send(200, {"object": "list", "data": [{"id": alias, "object": "model"}]})
            else:
                self._error(404, f"no route {self.path}; the scoring engine serves /v1/completions")

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            if self.path.rstrip("/") != "/v1/completions":
                self._error(
                    404,
                    f"no route {self.path}: the scoring engine serves /v1/completions only; "
                    "start `recoworld llm serve --engine llama-cpp` for chat completions",
                )
                return
            try:
                body = json.loads(self.rfile.read(length) or b"{}")
                if not isinstance(body, dict):
                    raise ValueError("the request body must be a JSON object")
                self._send(200, _completion_body(engine, body, alias))
            except ValueError as exc:
                self._error(400, str(exc))

        def log_message(self, *args: Any) -> None:
            pass

    return ThreadingHTTPServer((host, port), Handler)
