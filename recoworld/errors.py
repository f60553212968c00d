"""Exception hierarchy of RecoWorld.

Every user mistake (bad data, wrong ids, invalid actions, bad configs, an unreachable or
misbehaving LLM server) raises a subclass of :class:`RecoWorldError` whose message names the
thing at fault, what was expected, and what to do. ``assert`` is kept for internal invariants.
"""

from __future__ import annotations

__all__ = [
    "ConfigError",
    "DataError",
    "DatasetNotFoundError",
    "EstimatorInputError",
    "InvalidActionError",
    "LLMCacheMissError",
    "LLMError",
    "LLMResponseError",
    "LLMServerError",
    "OutputError",
    "RecoWorldError",
    "UnknownKeywordError",
    "UnsafePickleError",
]


class RecoWorldError(Exception):
    """Base class of every error RecoWorld raises on purpose."""


class DataError(RecoWorldError, ValueError):
    """A data file is corrupt, truncated, or holds an id out of range or an empty split."""


class DatasetNotFoundError(RecoWorldError, FileNotFoundError):
    """A dataset directory or one of its files is absent; the message says where to put it."""


class UnsafePickleError(DataError):
    """A pickle asked for a global outside the allowed set (plain containers and numpy)."""


class InvalidActionError(RecoWorldError, ValueError):
    """An action lies outside the action space or breaks the protocol (e.g. an unknown item id)."""


class ConfigError(RecoWorldError, ValueError):
    """A configuration key or value does not exist or is out of range."""


class UnknownKeywordError(ConfigError, TypeError):
    """A keyword argument that a factory does not know.

    Also a ``TypeError``, as Python's own is, so that callers which probe optional keywords (like
    stable-baselines3's ``make_vec_env`` trying ``render_mode``) keep working.
    """


class OutputError(RecoWorldError, OSError):
    """An output folder or file cannot be created or written (checked before any work starts)."""


class EstimatorInputError(RecoWorldError, ValueError):
    """Input to an estimator is invalid (propensity outside (0, 1], mismatched lengths, no overlap)."""


class LLMError(RecoWorldError):
    """Base class of errors from the LLM user backend."""


class LLMServerError(LLMError, ConnectionError):
    """The LLM server is down, too slow, or answered an HTTP error or an unreadable body.

    Raised after bounded retries; the message names the URL and what came back.
    """


class LLMResponseError(LLMError, ValueError):
    """The LLM answered something that does not conform to the requested schema."""


class LLMCacheMissError(LLMError, KeyError):
    """A replay-only cache has no answer for a request (record the session with a server first)."""

    def __str__(self) -> str:  # KeyError would quote the whole message
        return str(self.args[0]) if self.args else ""
