"""``recoworld llm check``: set-up's check that the llama.cpp build answers a chat completion.

The real check runs against the bundled SmolLM2 server. The failure it exists for -- a
llama-cpp-python wheel that loads, answers ``/v1/models`` and then dies on the first chat request
(seen as a general protection fault in ``libggml-cpu.so`` from a wheel built for another CPU) -- is
reproduced by a stand-in server process that does exactly that.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from recoworld.errors import LLMServerError
from recoworld.users.llm.serve import LocalLLMServer, check_local_server

RECOWORLD = Path(sys.executable).with_name("recoworld")

# A stand-in for a broken build: serves the model list, then crashes (SIGSEGV) or answers no text
# on the first chat request. argv: port, mode.
_FAKE_SERVER = r"""
import json, os, signal, sys
from http.server import BaseHTTPRequestHandler, HTTPServer

port, mode = int(sys.argv[1]), sys.argv[2]

class H(BaseHTTPRequestHandler):
    def _send(self, obj):
        body = json.dumps(obj).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        self._send({"object": "list", "data": [{"id": "SmolLM2-135M-Instruct"}]})

    def do_POST(self):
        if mode == "crash":
            print("ggml: illegal instruction in libggml-cpu.so", flush=True)
            os.kill(os.getpid(), signal.SIGSEGV)
        self._send({"id": "x", "object": "chat.completion", "created": 0, "model": "m",
                    "choices": [{"index": 0, "finish_reason": "stop",
                                 "message": {"role": "assistant", "content": ""}}]})

    def log_message(self, *a):
        pass

HTTPServer(("127.0.0.1", port), H).serve_forever()
"""


class _BrokenBuild(LocalLLMServer):
    def __init__(self, mode: str) -> None:
        super().__init__(model_path=__file__, startup_timeout_s=30)
        self.mode = mode

    def command(self) -> list[str]:
        return [sys.executable, "-c", _FAKE_SERVER, str(self.port), self.mode]


def test_check_passes_on_the_bundled_server_from_the_command_line() -> None:
    proc = subprocess.run(
        [str(RECOWORLD), "llm", "check"], capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("LLM server check passed: the model answered '")
    assert proc.stdout.count("\n") == 1


def test_check_names_the_crash_of_a_server_that_dies_on_the_first_chat_request() -> None:
    server = _BrokenBuild("crash")
    with pytest.raises(LLMServerError) as err:
        check_local_server(server, timeout_s=20)
    msg = str(err.value)
    assert "started but gave no chat completion" in msg
    assert "the server process died (killed by SIGSEGV)" in msg
    assert "illegal instruction in libggml-cpu.so" in msg  # the server's own last words
    assert "CMAKE_ARGS=-DGGML_NATIVE=OFF" in msg and "--no-binary llama-cpp-python" in msg
    assert server.process is None and server.log is None  # stopped, and handed back clean


def test_check_refuses_a_server_that_answers_no_text() -> None:
    with pytest.raises(LLMServerError, match="answered a chat completion with no text"):
        check_local_server(_BrokenBuild("empty"), timeout_s=20)


def test_check_command_fails_with_one_line_and_exit_2_when_the_model_does_not_load(
    tmp_path: Path,
) -> None:
    bad = tmp_path / "broken.gguf"
    bad.write_bytes(b"not a gguf file")
    proc = subprocess.run(
        [str(RECOWORLD), "llm", "check", "--model", str(bad)],
        capture_output=True, text=True, timeout=300,
    )
    assert proc.returncode == 2
    assert proc.stdout == ""
    lines = proc.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("recoworld llm: error: the llama.cpp server exited")
    assert "Failed to load model" in lines[0]
