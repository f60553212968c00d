"""``recoworld datasets``: which datasets are present, and where."""

from __future__ import annotations

import argparse

from recoworld.cli._common import Runner, SubParsers, print_json

__all__ = ["add"]


def add(sub: SubParsers) -> Runner:
    """Declare ``datasets``."""
    p = sub.add_parser(
        "datasets",
        help="list the datasets, whether each is present, and where",
        description="List every dataset RecoWorld reads, whether it is present under the data "
        "root, where, and where to get it. Nothing is downloaded: loaders read the authors' "
        "released files as they are.",
    )
    p.add_argument("--data-dir", default=None, help="dataset root (default: $RECOWORLD_DATA)")
    p.add_argument("--json", action="store_true", help="print one JSON object as the last line")
    return run


def run(args: argparse.Namespace) -> int:
    """Print each dataset's presence, path and description."""
    from recoworld.datasets.registry import dataset_status

    rows = dataset_status(args.data_dir)
    if args.json:
        print_json({r["name"]: r for r in rows})
        return 0
    width = max(len(r["name"]) for r in rows)
    notes: dict[str, list[str]] = {}
    for r in rows:
        mark = "present" if r["present"] else "absent "
        print(f"{r['name']:<{width}}  {mark}  {r['path']}  {r['description']}")
        if r["where"] and (not r["present"] or r["synthetic"]):
            notes.setdefault(r["where"], []).append(r["name"])
    for where, names in notes.items():
        print(f"\n{' and '.join(names)}: {where}.")
    return 0
