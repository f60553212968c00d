"""Benchmark suites: typed configs, a resumable runner with local and Ray backends, records.

``recoworld bench SUITE`` runs them from the command line; :func:`run_suite` from Python.
"""

from recoworld.bench.config import (
    SUITES,
    BenchConfig,
    CRSSuiteConfig,
    FeedSuiteConfig,
    LLMSuiteConfig,
    OPESuiteConfig,
    default_config,
    describe,
    load_config,
)
from recoworld.bench.runner import RunSummary, run_suite

__all__ = [
    "SUITES",
    "BenchConfig",
    "CRSSuiteConfig",
    "FeedSuiteConfig",
    "LLMSuiteConfig",
    "OPESuiteConfig",
    "RunSummary",
    "default_config",
    "describe",
    "load_config",
    "run_suite",
]
