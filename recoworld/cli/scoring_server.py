"""The scoring server's process entry point: ``python -m recoworld.cli.scoring_server ...``.

:class:`~recoworld.users.llm.LocalLLMServer` starts it (``recoworld llm serve --engine scoring``);
the server itself is :mod:`recoworld.users.llm.scoring_server`. Its flags follow llama-cpp-python's
server (``--model``, ``--model_alias``, ``--n_ctx``, ...), so both engines start alike.
"""

from __future__ import annotations

import argparse

from recoworld.users.llm.scoring_server import ScoringEngine, make_server

__all__ = ["main"]


def main(argv: list[str] | None = None) -> None:
    """Serve a GGUF model for scoring until interrupted."""
    p = argparse.ArgumentParser(description="Serve a GGUF model for yes/no scoring (text completions with log-probabilities).")
    p.add_argument("--model", required=True, help="GGUF file")
    p.add_argument("--model_alias", default="local", help="model name in answers")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--n_ctx", type=int, default=2048)
    p.add_argument("--n_threads", type=int, default=None)
    p.add_argument("--n_batch", type=int, default=512)
    args = p.parse_args(argv)
    engine = ScoringEngine(args.model, args.n_ctx, args.n_threads, args.n_batch)
    server = make_server(engine, args.host, args.port, args.model_alias)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


if __name__ == "__main__":
    main()
