"""``recoworld play``: play a conversation in the agent's or the user's seat, in the terminal."""

from __future__ import annotations

import argparse

from recoworld.cli._common import Runner, SubParsers, data_kwargs, nonnegative_int

__all__ = ["add"]


def add(sub: SubParsers) -> Runner:
    """Declare ``play``."""
    from recoworld.registration import (
        CONVERSATIONAL_IDS,
        CRS_RULE_AGENTS,
        CRS_TRAINABLE_AGENTS,
        canonical_agent_name,
    )

    p = sub.add_parser(
        "play",
        help="play a conversation yourself, as the agent or as the user",
        description=(
            "As the agent (--as agent), you ask questions and recommend items to a simulated user; "
            "type `help` at the prompt. As the user (--as user), you are shown a target item and "
            "answer an agent's questions. Ctrl-C or end of input stops; the session's metrics "
            "are printed at the end."
        ),
    )
    p.add_argument("--env", required=True, choices=sorted(CONVERSATIONAL_IDS), metavar="ID",
                   help=f"conversational env id: {', '.join(sorted(CONVERSATIONAL_IDS))}")
    p.add_argument("--as", dest="seat", required=True, choices=("agent", "user"),
                   help="your seat: agent (you ask and recommend) or user (you answer)")
    p.add_argument("--agent", default="max-entropy", type=canonical_agent_name,
                   choices=(*CRS_RULE_AGENTS, *CRS_TRAINABLE_AGENTS),
                   help="the agent you answer with --as user")
    p.add_argument("--checkpoint", default=None,
                   help="a learned agent's checkpoint (the folder `recoworld train` wrote, or its agent.pt)")
    p.add_argument("--split", default="test", choices=("train", "valid", "test"), help="session split")
    p.add_argument("--index", type=nonnegative_int, default=None,
                   help="session index in the split (default: drawn with --seed)")
    p.add_argument("--seed", type=nonnegative_int, default=0, help="seed of every random draw")
    p.add_argument("--data-dir", default=None, help="dataset root (default: $RECOWORLD_DATA)")
    return run


def run(args: argparse.Namespace) -> int:
    """Play one session and print its metrics."""
    import gymnasium
    import numpy as np

    from recoworld.agents.human import HumanAgent
    from recoworld.agents.registry import make_agent
    from recoworld.errors import ConfigError
    from recoworld.play import play_conversation
    from recoworld.users.human import HumanConversationalUser, TerminalConsole

    console = TerminalConsole()
    kwargs = data_kwargs(args)
    env = gymnasium.make(args.env, render_mode="ansi", **kwargs)
    world = env.unwrapped.world  # type: ignore[attr-defined]
    n = len(world.split(args.split))
    if args.index is not None and not 0 <= args.index < n:
        raise ConfigError(f"`--index` must be in [0, {n}) for split {args.split!r}, got {args.index}")
    index = args.index if args.index is not None else int(np.random.default_rng(args.seed).integers(n))
    if args.seat == "agent":
        agent: object = HumanAgent(world, console, rec_size=env.unwrapped.rec_size)  # type: ignore[attr-defined]
        console.write(f"You are the agent in {args.env}: find the item the user wants. Type `help`.")
    else:
        env = gymnasium.make(
            args.env, render_mode="ansi", user=HumanConversationalUser(world, console), **kwargs
        )
        agent = make_agent(args.agent, world, args.seed, args.checkpoint)
    result = play_conversation(
        env, agent, console, {"split": args.split, "index": index}, seed=args.seed,
        show_target=args.seat == "user",
    )
    console.write(result.summary())
    return 0
