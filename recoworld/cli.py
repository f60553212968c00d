"""The ``recoworld`` command line.

Each sub-command has an ``_add_<name>`` function that declares its arguments and a ``_run_<name>``
function that runs it; heavy imports happen inside the ``_run_`` functions so that ``--help`` is fast.
With ``--json`` a command prints exactly one JSON object as the last line of stdout.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence
from typing import Any

__all__ = ["main"]

_Runner = Callable[[argparse.Namespace], int]


def _print_json(obj: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(obj, sort_keys=True) + "\n")
    sys.stdout.flush()


# --- evaluate -------------------------------------------------------------------------------------


def _add_evaluate(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> _Runner:
    p = sub.add_parser("evaluate", help="evaluate an agent on an environment")
    p.add_argument("--env", required=True, help="environment id, e.g. recoworld/LastFM-CRS-v0")
    p.add_argument("--agent", required=True, help="agent name (see --help of the env family)")
    p.add_argument("--split", default="test", help="session split (conversational envs)")
    p.add_argument("--sessions", type=int, default=None, help="evaluate only the first N sessions")
    p.add_argument("--episodes", type=int, default=None, help="episodes (feed envs)")
    p.add_argument("--checkpoint", default=None, help="path of a trained agent's checkpoint")
    p.add_argument("--seed", type=int, default=0, help="seed of every random draw")
    p.add_argument("--data-dir", default=None, help="dataset root (default: $RECOWORLD_DATA)")
    p.add_argument("--json", action="store_true", help="print one JSON object as the last line")
    return _run_evaluate


def _run_evaluate(args: argparse.Namespace) -> int:
    from recoworld.envs.registration import is_conversational, is_feed

    if is_conversational(args.env):
        from recoworld.bench.crs_evaluation import run_evaluate_command

        return run_evaluate_command(args)
    if is_feed(args.env):
        from recoworld.bench.feed_evaluation import run_evaluate_command as run_feed_evaluation

        return run_feed_evaluation(args)
    from recoworld.errors import ConfigError

    raise ConfigError(f"`--env` {args.env!r} is not a known RecoWorld environment id")


# --- datasets -------------------------------------------------------------------------------------


def _add_datasets(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> _Runner:
    p = sub.add_parser("datasets", help="list the datasets, whether each is present, and where")
    p.add_argument("--data-dir", default=None, help="dataset root (default: $RECOWORLD_DATA)")
    p.add_argument("--json", action="store_true", help="print one JSON object as the last line")
    return _run_datasets


def _run_datasets(args: argparse.Namespace) -> int:
    from recoworld.datasets.registry import dataset_status

    rows = dataset_status(args.data_dir)
    if args.json:
        _print_json({r["name"]: r for r in rows})
        return 0
    width = max(len(r["name"]) for r in rows)
    for r in rows:
        mark = "present" if r["present"] else "absent "
        print(f"{r['name']:<{width}}  {mark}  {r['path']}  {r['description']}")
    return 0


# --- fidelity (LLM users) -------------------------------------------------------------------------


def _add_fidelity(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> _Runner:
    p = sub.add_parser(
        "fidelity", help="score a conversational user simulator against the ground truth"
    )
    p.add_argument("--env", required=True, help="conversational env id, e.g. recoworld/LastFM-CRS-v0")
    p.add_argument("--user", choices=("llm", "statistical"), default="llm", help="simulator")
    p.add_argument("--sessions", type=int, default=20, help="sessions to play (first N of the split)")
    p.add_argument("--split", default="test", help="session split")
    p.add_argument("--questions", type=int, default=4, help="questions per session")
    p.add_argument("--base-url", default=None, help="OpenAI-protocol endpoint ($OPENAI_BASE_URL)")
    p.add_argument("--model", default=None, help="model name ($RECOWORLD_LLM_MODEL)")
    p.add_argument("--cache", default=None, help="SQLite response cache file (none by default)")
    p.add_argument(
        "--cache-mode", choices=("record", "replay", "off"), default="record", help="cache mode"
    )
    p.add_argument("--seed", type=int, default=0, help="seed of every random draw")
    p.add_argument("--data-dir", default=None, help="dataset root (default: $RECOWORLD_DATA)")
    p.add_argument("--json", action="store_true", help="print one JSON object as the last line")
    return _run_fidelity


def _run_fidelity(args: argparse.Namespace) -> int:
    from recoworld.bench.fidelity import run_fidelity_command

    return run_fidelity_command(args)


# --- llm (local server) ---------------------------------------------------------------------------


def _add_llm(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> _Runner:
    p = sub.add_parser("llm", help="LLM-user tools: `llm serve` starts a local model server")
    llm_sub = p.add_subparsers(dest="llm_command", required=True)
    serve = llm_sub.add_parser(
        "serve", help="serve SmolLM2-135M-Instruct (llama.cpp) on 127.0.0.1; prints the base URL"
    )
    serve.add_argument("--port", type=int, default=None, help="TCP port (default: a free one)")
    serve.add_argument("--threads", type=int, default=None, help="CPU threads of the model")
    return _run_llm


def _run_llm(args: argparse.Namespace) -> int:
    from recoworld.users.llm.serve import run_serve_command

    return run_serve_command(args.port, args.threads)


# --- bench (benchmark suites) --------------------------------------------------------------------


def _add_bench(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> _Runner:
    from recoworld.bench.command import add_bench_arguments

    p = sub.add_parser(
        "bench", help="run a benchmark suite (crs, feed, ope, llm) over seeds; resumable"
    )
    add_bench_arguments(p)
    return _run_bench


def _run_bench(args: argparse.Namespace) -> int:
    from recoworld.bench.command import run_bench_command

    return run_bench_command(args)


# --- train (learned conversational agents) -------------------------------------------------------


def _add_train(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> _Runner:
    p = sub.add_parser(
        "train", help="train a conversational agent (ear, scpr, crm, sb3-ppo, sb3-dqn); resumable"
    )
    p.add_argument("--env", required=True, help="environment id, e.g. recoworld/LastFM-CRS-v0")
    p.add_argument(
        "--agent", required=True, choices=("ear", "scpr", "crm", "sb3-ppo", "sb3-dqn"),
        help="agent to train",
    )
    p.add_argument("--seed", type=int, default=0, help="seed of every random draw")
    p.add_argument("--out", required=True, help="output folder (checkpoints, config, logs)")
    p.add_argument("--episodes", type=int, default=None, help="override the training sessions")
    p.add_argument("--config", default=None, help="JSON file of agent settings")
    p.add_argument(
        "--fm-embeddings", default=None, help="SCPR's released FM pickle instead of training FM"
    )
    p.add_argument("--checkpoint-every", type=int, default=500, help="sessions between checkpoints")
    p.add_argument("--restart", action="store_true", help="ignore an existing checkpoint")
    p.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument("--data-dir", default=None, help="dataset root (default: $RECOWORLD_DATA)")
    p.add_argument("--json", action="store_true", help="print one JSON object as the last line")
    return _run_train


def _run_train(args: argparse.Namespace) -> int:
    from recoworld.agents.training import run_train_command

    return run_train_command(args)


# --- ope-bench (off-policy estimators against ground truth) ---------------------------------------


def _add_ope_bench(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> _Runner:
    p = sub.add_parser("ope-bench", help="off-policy estimators' bias/std/RMSE against the "
                       "simulators' true policy values")
    p.add_argument("--quick", action="store_true", help="fewer replications (a few minutes)")
    p.add_argument("--seed", type=int, default=0, help="seed of every random draw")
    p.add_argument("--out", default="runs/ope_bench", help="folder for table, JSON and PNG plot")
    p.add_argument("--json", action="store_true", help="print one JSON object as the last line")
    return _run_ope_bench


def _run_ope_bench(args: argparse.Namespace) -> int:
    from recoworld.bench.ope_bench import run_ope_bench_command

    return run_ope_bench_command(args.quick, args.json, args.seed, args.out)


# --- registry of sub-commands ---------------------------------------------------------------------

_COMMANDS: tuple[Callable[[argparse._SubParsersAction[argparse.ArgumentParser]], _Runner], ...] = (
    _add_evaluate,
    _add_datasets,
    _add_fidelity,
    _add_llm,
    _add_bench,
    _add_train,
    _add_ope_bench,
)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``recoworld`` command line; returns the process exit status."""
    from recoworld.errors import RecoWorldError

    parser = argparse.ArgumentParser(prog="recoworld", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    runners: dict[str, _Runner] = {}
    for add in _COMMANDS:
        before = set(sub.choices)
        runner = add(sub)
        for name in set(sub.choices) - before:
            runners[name] = runner
    args = parser.parse_args(argv)
    try:
        return runners[args.command](args)
    except RecoWorldError as exc:
        print(f"recoworld: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
