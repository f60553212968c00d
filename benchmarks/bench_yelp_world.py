"""Time and memory of building the synthetic Yelp world at the published scale.

    .venv/bin/python benchmarks/bench_yelp_world.py --data-dir ../shared/data [--repeats 3]

Prints one JSON object: the world's counts, the median wall time of ``make_yelp_world`` over the
repeats, the peak resident memory of the process, and the load average at the start and the end.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import time
from pathlib import Path

from recoworld.datasets.yelp_synthetic import make_yelp_world
from recoworld.outputs import dumps_json


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data-dir", default="../shared/data")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    base = Path(args.data_dir) / "crs" / "yelp"
    load_start = os.getloadavg()
    seconds = []
    world = None
    for _ in range(args.repeats):
        start = time.perf_counter()
        world = make_yelp_world(base)
        seconds.append(time.perf_counter() - start)
    assert world is not None
    out = {
        "summary": world.summary(),
        "seconds_median": statistics.median(seconds),
        "seconds": seconds,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "load_start": load_start,
        "load_end": os.getloadavg(),
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
    }
    print(dumps_json(out, indent=1, sort_keys=False))


if __name__ == "__main__":
    main()
