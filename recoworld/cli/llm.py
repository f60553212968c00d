"""``recoworld llm serve``: a local OpenAI-protocol model server for the LLM users."""

from __future__ import annotations

import argparse
import signal

from recoworld.cli._common import Runner, SubParsers, positive_int

__all__ = ["add"]


def add(sub: SubParsers) -> Runner:
    """Declare ``llm`` and its ``serve`` sub-command."""
    p = sub.add_parser(
        "llm",
        help="LLM-user tools: `llm serve` starts a local model server",
        description="Tools for the LLM-driven users. `recoworld llm serve` serves "
        "SmolLM2-135M-Instruct (llama.cpp, the llm extra) on 127.0.0.1 and prints the base URL "
        "to pass as --base-url or OPENAI_BASE_URL.",
    )
    llm_sub = p.add_subparsers(dest="llm_command", required=True)
    serve = llm_sub.add_parser(
        "serve", help="serve SmolLM2-135M-Instruct (llama.cpp) on 127.0.0.1; prints the base URL"
    )
    serve.add_argument(
        "--port", type=positive_int, default=None, help="TCP port (default: a free one)"
    )
    serve.add_argument(
        "--threads", type=positive_int, default=None,
        help="CPU threads of the model (default: llama.cpp's choice)",
    )
    return run


def run(args: argparse.Namespace) -> int:
    """Run ``recoworld llm serve``: start, print the base URL, serve until interrupted."""
    from recoworld.users.llm.serve import LocalLLMServer

    server = LocalLLMServer(port=args.port, n_threads=args.threads)

    def _stop(signum: int, frame: object) -> None:
        raise KeyboardInterrupt  # run the finally clause: the model server must not outlive us

    previous = signal.signal(signal.SIGTERM, _stop)
    try:
        url = server.start()
        print(f"LLM server (SmolLM2-135M-Instruct, llama.cpp) answering at {url}", flush=True)
        print(f"export OPENAI_BASE_URL={url}", flush=True)
        assert server.process is not None
        server.process.wait()
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
        signal.signal(signal.SIGTERM, previous)
    return 0
