"""The local model registry: names agree with the CLI's, chunks assemble and are verified."""

from __future__ import annotations

import hashlib
import sys
from pathlib import Path

import pytest

from recoworld.errors import ConfigError, LLMServerError
from recoworld.registration import LOCAL_LLM_MODELS
from recoworld.users.llm.models import LOCAL_MODELS, LocalModel, local_model


def test_registry_names_match_the_command_line() -> None:
    assert tuple(LOCAL_MODELS) == LOCAL_LLM_MODELS
    sizes = [LOCAL_MODELS[n].parameters for n in LOCAL_LLM_MODELS]
    assert sizes == sorted(sizes)  # smallest first: the order of the fidelity curve
    with pytest.raises(ConfigError, match="unknown local model 'gpt-5'; known: "):
        local_model("gpt-5")


def _chunk_package(root: Path, name: str, data: bytes) -> None:
    pkg = root / name
    (pkg / "data").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "data" / "chunk.bin").write_bytes(data)


def test_chunks_assemble_once_and_a_wrong_digest_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = tmp_path / "site"
    _chunk_package(root, "fake_chunk_a", b"GGUF" + b"a" * 100)
    _chunk_package(root, "fake_chunk_b", b"b" * 50)
    monkeypatch.syspath_prepend(str(root))
    whole = b"GGUF" + b"a" * 100 + b"b" * 50
    model = LocalModel(
        name="fake", title="fake", parameters=1, packages=("fake-a", "fake-b"),
        chunks=(("fake_chunk_a", "data/chunk.bin"), ("fake_chunk_b", "data/chunk.bin")),
        sha256=hashlib.sha256(whole).hexdigest(), file_name="fake.gguf",
    )  # fmt: skip
    path = model.path(tmp_path / "models")
    assert path.read_bytes() == whole and not path.with_name("fake.gguf.partial").exists()
    assert model.path(tmp_path / "models") == path  # already there: not rebuilt
    bad = LocalModel(
        name="bad", title="bad", parameters=1, packages=("fake-a", "fake-b"),
        chunks=model.chunks, sha256="0" * 64, file_name="bad.gguf",
    )  # fmt: skip
    with pytest.raises(LLMServerError, match=r"assemble to SHA-256 .* expected 0000"):
        bad.path(tmp_path / "models")
    assert not (tmp_path / "models" / "bad.gguf").exists()
    missing = LocalModel(
        name="gone", title="gone", parameters=1, packages=("fake-gone",),
        chunks=(("no_such_chunk_pkg", "data/x"),),
    )  # fmt: skip
    with pytest.raises(LLMServerError, match=r"recoworld\[llm-models\]"):
        missing.path(tmp_path)
    assert "no_such_chunk_pkg" not in sys.modules
