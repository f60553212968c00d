"""A persistent SQLite cache of chat completions, for reproducible LLM-user trajectories.

Each entry is keyed by the SHA-256 of the canonical JSON of (model, messages, parameters, seed).
Since every LLM user derives its per-call seed from the environment's generator, a rerun with the
same environment seed asks exactly the same questions and replays the same answers without a
server. Modes:

- ``"record"``: read hits, send misses to the server and store the answers;
- ``"replay"``: read hits, a miss raises :class:`LLMCacheMissError` (no server is contacted);
- ``"off"``: neither read nor write.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from pathlib import Path
from typing import Any, Literal

from recoworld.errors import ConfigError, LLMCacheMissError

__all__ = ["CacheMode", "LLMCacheMissError", "ResponseCache", "request_key"]

CacheMode = Literal["record", "replay", "off"]
_MODES = ("record", "replay", "off")


def request_key(model: str, messages: list[dict[str, str]], params: dict[str, Any]) -> str:
    """Return the cache key of one request: SHA-256 of its canonical JSON."""
    blob = json.dumps(
        {"model": model, "messages": messages, "params": params},
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
    )
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


class ResponseCache:
    """Chat-completion answers stored in one SQLite file.

    Args:
        path: The database file (created with its parent folder when absent, except in replay
            mode, where it must exist).
        mode: ``"record"``, ``"replay"`` or ``"off"`` (see the module docstring).

    """

    def __init__(self, path: str | Path, mode: CacheMode = "record") -> None:
        if mode not in _MODES:
            raise ConfigError(f"cache `mode` must be one of {_MODES}, got {mode!r}")
        self.path = Path(path)
        self.mode: CacheMode = mode
        self.hits = 0
        self.misses = 0
        self._db: sqlite3.Connection | None = None
        if mode == "off":
            return
        if mode == "replay" and not self.path.is_file():
            raise LLMCacheMissError(
                f"replay cache {str(self.path)!r} does not exist; record one first "
                "(mode='record') or pass the path of an existing cache"
            )
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(str(self.path))
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS responses ("
            "key TEXT PRIMARY KEY, model TEXT NOT NULL, request TEXT NOT NULL, "
            "response TEXT NOT NULL)"
        )
        self._db.commit()

    def get(self, key: str, describe: str = "") -> dict[str, Any] | None:
        """Return the stored answer of ``key``; ``None`` on a miss in record mode.

        In replay mode a miss raises :class:`LLMCacheMissError` naming ``describe``.
        """
        if self._db is None:
            return None
        row = self._db.execute("SELECT response FROM responses WHERE key = ?", (key,)).fetchone()
        if row is None:
            self.misses += 1
            if self.mode == "replay":
                raise LLMCacheMissError(
                    f"replay cache {str(self.path)!r} has no answer for request {key[:12]} "
                    f"({describe}); the run differs from the recorded one (other seed, model, "
                    "prompt or parameters) -- rerun it in mode='record' with a server"
                )
            return None
        self.hits += 1
        out: dict[str, Any] = json.loads(row[0])
        return out

    def put(self, key: str, model: str, request: dict[str, Any], response: dict[str, Any]) -> None:
        """Store an answer (record mode only; a no-op otherwise)."""
        if self._db is None or self.mode != "record":
            return
        self._db.execute(
            "INSERT OR REPLACE INTO responses (key, model, request, response) VALUES (?, ?, ?, ?)",
            (
                key,
                model,
                json.dumps(request, sort_keys=True, ensure_ascii=False),
                json.dumps(response, sort_keys=True, ensure_ascii=False),
            ),
        )
        self._db.commit()

    def requests(self) -> list[dict[str, Any]]:
        """Every stored request (model, messages, parameters), for audits such as leak checks."""
        if self._db is None:
            return []
        rows = self._db.execute("SELECT request FROM responses ORDER BY rowid").fetchall()
        return [json.loads(r[0]) for r in rows]

    def __len__(self) -> int:
        if self._db is None:
            return 0
        return int(self._db.execute("SELECT COUNT(*) FROM responses").fetchone()[0])

    def close(self) -> None:
        """Close the database."""
        if self._db is not None:
            self._db.close()
            self._db = None
