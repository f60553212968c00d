"""Benchmark suites: typed configs, a resumable runner with local and Ray backends, records.

``recoworld bench SUITE`` runs them from the command line; :func:`run_suite` from Python. The
fidelity of user simulators (``recoworld fidelity``): :func:`measure_fidelity` (accuracy by
attribute type, consistency, leakage via :func:`find_leaks`) and :func:`ranking_agreement`
(Kendall's tau of agent rankings under two users).
"""

from recoworld.bench.agreement import RankingAgreement, kendall_tau, ranking_agreement
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
from recoworld.bench.fidelity import FidelityReport, measure_fidelity
from recoworld.bench.leakage import Leak, find_leaks
from recoworld.bench.runner import RunSummary, run_suite

__all__ = [
    "SUITES",
    "BenchConfig",
    "CRSSuiteConfig",
    "FeedSuiteConfig",
    "FidelityReport",
    "LLMSuiteConfig",
    "Leak",
    "OPESuiteConfig",
    "RankingAgreement",
    "RunSummary",
    "default_config",
    "describe",
    "find_leaks",
    "kendall_tau",
    "load_config",
    "measure_fidelity",
    "ranking_agreement",
    "run_suite",
]
