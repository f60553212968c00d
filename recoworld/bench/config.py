"""Typed benchmark configurations: frozen dataclasses loaded from TOML, written back resolved.

A config file names its suite, the seeds, and one table of suite settings named after the suite::

    suite = "crs"
    title = "Conversational recommendation, rule baselines"
    seeds = [0, 1, 2]

    [crs]
    envs = ["recoworld/LastFM-CRS-v0", "recoworld/LastFMStar-CRS-v0"]
    agents = ["random", "max-entropy", "abs-greedy"]

Every field carries its documentation in ``metadata["doc"]`` (see :func:`describe`). Unknown keys
are rejected with a "did you mean" suggestion; values are checked against the field types. The
default configs ship as package data (``recoworld/bench/configs/<suite>[-quick].toml``).
"""

from __future__ import annotations

import difflib
import json
import sys
import typing
from dataclasses import MISSING, dataclass, field, fields, is_dataclass, replace
from importlib import resources
from pathlib import Path
from typing import Any, Union

from recoworld._validate import require_range
from recoworld.errors import ConfigError
from recoworld.registration import canonical_agent_name

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

__all__ = [
    "SUITES",
    "BenchConfig",
    "CRSSuiteConfig",
    "FeedSuiteConfig",
    "LLMSuiteConfig",
    "MNARSuiteConfig",
    "OPESuiteConfig",
    "SuiteSettings",
    "config_from_dict",
    "config_to_dict",
    "config_to_toml",
    "default_config",
    "describe",
    "load_config",
    "parse_toml",
    "resolve_config",
]

SUITES = ("crs", "feed", "ope", "llm", "mnar")


def _doc(text: str) -> dict[str, str]:
    return {"doc": text}


@dataclass(frozen=True)
class CRSSuiteConfig:
    """Settings of the ``crs`` suite: conversational agents evaluated on MCR environments."""

    envs: tuple[str, ...] = field(
        default=("recoworld/Synthetic-CRS-v0",),
        metadata=_doc("Conversational environment ids to evaluate on, e.g. recoworld/LastFM-CRS-v0."),
    )
    agents: tuple[str, ...] = field(
        default=("random", "max-entropy", "abs-greedy"),
        metadata=_doc(
            "Agent names: rule agents (random, max-entropy, abs-greedy) and learned agents "
            "(scpr, ear, crm, unicorn, sb3-ppo, sb3-dqn), trained inside the run on the valid split "
            "(one training unit per seed and env), then evaluated."
        ),
    )
    split: str = field(default="test", metadata=_doc("Session split evaluated (train, valid, test)."))
    sessions: int = field(
        default=0, metadata=_doc("Evaluate the first N sessions of the split; 0 = every session.")
    )
    shard_sessions: int = field(
        default=0,
        metadata=_doc(
            "Sessions per unit of work (the grain of resuming and of Ray scheduling); 0 = one "
            "unit per (seed, env, agent). A shard starting at session 0 uses the seed itself, so "
            "an unsharded unit equals `recoworld evaluate --seed S`."
        ),
    )
    train_episodes: int = field(
        default=0,
        metadata=_doc(
            "Training sessions of each learned agent (recoworld.agents.registry); 0 = the "
            "agent's own default. When set, model selection also evaluates every quarter of it "
            "(at most as often as the agent's default), so the learning curve has >= 4 points."
        ),
    )
    data_dir: str = field(
        default="", metadata=_doc("Dataset root for real worlds; empty = $RECOWORLD_DATA.")
    )

    def __post_init__(self) -> None:
        object.__setattr__(self, "agents", tuple(canonical_agent_name(a) for a in self.agents))
        _nonempty("crs.envs", self.envs)
        _nonempty("crs.agents", self.agents)
        _unique("crs.envs", self.envs)
        _unique("crs.agents", self.agents)
        require_range("crs.sessions", self.sessions, 0)
        require_range("crs.shard_sessions", self.shard_sessions, 0)
        require_range("crs.train_episodes", self.train_episodes, 0)
        if self.split not in ("train", "valid", "test"):
            raise ConfigError(
                f"`crs.split` must be one of train, valid, test, got {self.split!r}"
            )


@dataclass(frozen=True)
class FeedSuiteConfig:
    """Settings of the ``feed`` suite: feed agents on the short-video environments."""

    envs: tuple[str, ...] = field(
        default=("recoworld/ShortVideo-v0",),
        metadata=_doc("Feed environment ids, e.g. recoworld/ShortVideo-v0, recoworld/KuaiRand-Feed-v0."),
    )
    agents: tuple[str, ...] = field(
        default=("random", "most-popular", "epsilon-greedy", "oracle"),
        metadata=_doc(
            "Agent names: random, most-popular, epsilon-greedy, oracle, and ppo (trained inside "
            "the run for ppo_timesteps steps)."
        ),
    )
    episodes: int = field(default=256, metadata=_doc("Evaluation episodes per (seed, env, agent)."))
    num_envs: int = field(
        default=64, metadata=_doc("Users simulated together by the vectorised environment.")
    )
    ppo_timesteps: int = field(
        default=20_000, metadata=_doc("PPO training budget in environment steps (agent ppo only).")
    )
    curve_points: int = field(
        default=8, metadata=_doc("Points of the PPO learning curve (evaluations during training).")
    )
    curve_episodes: int = field(
        default=64, metadata=_doc("Evaluation episodes behind each learning-curve point.")
    )
    data_dir: str = field(
        default="", metadata=_doc("Dataset root for real worlds; empty = $RECOWORLD_DATA.")
    )

    def __post_init__(self) -> None:
        object.__setattr__(self, "agents", tuple(canonical_agent_name(a) for a in self.agents))
        _nonempty("feed.envs", self.envs)
        _nonempty("feed.agents", self.agents)
        _unique("feed.envs", self.envs)
        _unique("feed.agents", self.agents)
        require_range("feed.episodes", self.episodes, 1)
        require_range("feed.num_envs", self.num_envs, 1)
        require_range("feed.ppo_timesteps", self.ppo_timesteps, 1)
        require_range("feed.curve_points", self.curve_points, 1)
        require_range("feed.curve_episodes", self.curve_episodes, 1)


@dataclass(frozen=True)
class OPESuiteConfig:
    """Settings of the ``ope`` suite: off-policy estimators against simulator ground truth."""

    scale: str = field(
        default="full",
        metadata=_doc(
            "Work per setting of recoworld.bench.ope_bench: quick (a few minutes per seed) or "
            "full (replications, logged data and on-policy truth episodes all larger)."
        ),
    )

    def __post_init__(self) -> None:
        if self.scale not in ("quick", "full"):
            raise ConfigError(
                f"`ope.scale` must be quick or full, got {self.scale!r}"
                + _suggest(self.scale, ("quick", "full"))
            )


@dataclass(frozen=True)
class LLMSuiteConfig:
    """Settings of the ``llm`` suite: LLM-user fidelity against the statistical ground truth."""

    envs: tuple[str, ...] = field(
        default=("recoworld/Synthetic-CRS-v0",),
        metadata=_doc("Conversational environment ids the user simulators are measured on."),
    )
    users: tuple[str, ...] = field(
        default=("llm", "statistical"),
        metadata=_doc(
            "Simulators to score: llm (the LLM user) and statistical (the oracle itself, which "
            "must score 1 everywhere: a check of the harness)."
        ),
    )
    split: str = field(default="test", metadata=_doc("Session split played (first N sessions)."))
    sessions: int = field(default=20, metadata=_doc("Sessions per (seed, env, user)."))
    questions: int = field(default=4, metadata=_doc("Attribute questions per session."))
    base_url: str = field(
        default="serve",
        metadata=_doc(
            "OpenAI-protocol endpoint, or several separated by commas (one model behind several "
            "servers, used in turn); empty = $OPENAI_BASE_URL; \"serve\" = every unit starts "
            "its own local SmolLM2 server (llm extra), so units fan out across Ray workers."
        ),
    )
    model: str = field(
        default="", metadata=_doc("Model name sent to the server; empty = the client's default.")
    )
    cache_dir: str = field(
        default="",
        metadata=_doc(
            "Directory of SQLite response caches (one file per unit, so workers never share a "
            "writer); empty = no cache."
        ),
    )
    cache_mode: str = field(
        default="record",
        metadata=_doc("record (miss -> server, then stored), replay (miss is an error), off."),
    )
    server_threads: int = field(
        default=2, metadata=_doc("CPU threads of a server started with base_url = \"serve\".")
    )
    timeout_s: float = field(
        default=60.0,
        metadata=_doc("Deadline of one LLM call in seconds, retries included (CLI: --timeout)."),
    )
    data_dir: str = field(
        default="", metadata=_doc("Dataset root for real worlds; empty = $RECOWORLD_DATA.")
    )

    def __post_init__(self) -> None:
        _nonempty("llm.envs", self.envs)
        _unique("llm.envs", self.envs)
        _nonempty("llm.users", self.users)
        _unique("llm.users", self.users)
        for u in self.users:
            if u not in ("llm", "statistical"):
                raise ConfigError(
                    f"`llm.users` must hold llm or statistical, got {u!r}"
                    + _suggest(u, ("llm", "statistical"))
                )
        if self.cache_mode not in ("record", "replay", "off"):
            raise ConfigError(
                f"`llm.cache_mode` must be one of record, replay, off, got {self.cache_mode!r}"
            )
        require_range("llm.sessions", self.sessions, 1)
        require_range("llm.questions", self.questions, 1)
        require_range("llm.server_threads", self.server_threads, 1)
        require_range("llm.timeout_s", self.timeout_s, 0, low_open=True)


@dataclass(frozen=True)
class MNARSuiteConfig:
    """Settings of the ``mnar`` suite: debiased learners on the feeds' own biased logs, deployed."""

    envs: tuple[str, ...] = field(
        default=("recoworld/ShortVideo-v0",),
        metadata=_doc("Single-video feed ids, e.g. recoworld/ShortVideo-v0, recoworld/KuaiRand-Feed-v0."),
    )
    loggings: tuple[str, ...] = field(
        default=("uniform", "softmax:1", "softmax:2", "softmax:4"),
        metadata=_doc(
            "Logging policies: uniform (the analogue of a random test set), softmax:BETA "
            "(softmax of BETA x popularity over the pool) or epsilon:EPS (the most popular "
            "candidate with probability 1 - EPS)."
        ),
    )
    learners: tuple[str, ...] = field(
        default=("naive", "ips", "snips", "dr", "naive-implicit", "rel-mf"),
        metadata=_doc(
            "Learners (recoworld.estimators.feed_learners); naive is required (it is also the "
            "reward model of DR and switch-DR)."
        ),
    )
    log_episodes: int = field(default=3000, metadata=_doc("Logged episodes per unit."))
    online_episodes: int = field(
        default=1000, metadata=_doc("Episodes each deployed policy runs on held-out users.")
    )
    online_fraction: float = field(
        default=0.3,
        metadata=_doc("Share of the population held out for deployment (never logged)."),
    )
    dims: tuple[int, ...] = field(default=(16,), metadata=_doc("Latent dimensions tried."))
    l2s: tuple[float, ...] = field(default=(1e-4, 1e-2), metadata=_doc("Penalty weights tried."))
    clips: tuple[float, ...] = field(
        default=(0.0,),
        metadata=_doc("Propensity clips tried by the weighted learners (0 = none)."),
    )
    epochs: int = field(default=10, metadata=_doc("Training epochs of every fit."))
    batch_size: int = field(default=1024, metadata=_doc("Observed cells per training step."))
    k: int = field(default=5, metadata=_doc("Cut-off of the logged DCG@k / Recall@k."))
    switch_tau: float = field(
        default=16.0, metadata=_doc("Switch-DR's threshold on the importance weight.")
    )
    num_envs: int = field(default=64, metadata=_doc("Users simulated side by side."))
    save_logs: bool = field(
        default=False,
        metadata=_doc("Write each unit's log as parquet under logs/ in the run directory."),
    )
    data_dir: str = field(
        default="", metadata=_doc("Dataset root for real worlds; empty = $RECOWORLD_DATA.")
    )

    def __post_init__(self) -> None:
        for name in ("envs", "loggings", "learners", "dims", "l2s", "clips"):
            _nonempty(f"mnar.{name}", getattr(self, name))
            _unique(f"mnar.{name}", getattr(self, name))
        known = ("naive", "ips", "snips", "dr", "naive-implicit", "rel-mf")
        for learner in self.learners:
            if learner not in known:
                raise ConfigError(
                    f"`mnar.learners` holds {learner!r}; known: {', '.join(known)}"
                    + _suggest(learner, known)
                )
        if "naive" not in self.learners:
            raise ConfigError("`mnar.learners` must include naive (the reward model of DR)")
        for spec in self.loggings:
            name, _, arg = spec.partition(":")
            ok = (name == "uniform" and not arg) or (name in ("softmax", "epsilon") and arg != "")
            if ok and arg:
                try:
                    float(arg)
                except ValueError:
                    ok = False
            if not ok:
                raise ConfigError(
                    f"`mnar.loggings` holds {spec!r}; use uniform, softmax:BETA or epsilon:EPS"
                )
        for name in ("log_episodes", "online_episodes", "epochs", "batch_size", "k", "num_envs"):
            require_range(f"mnar.{name}", getattr(self, name), 1)
        for d in self.dims:
            require_range("mnar.dims[i]", d, 1)
        require_range(
            "mnar.online_fraction", self.online_fraction, 0, 1, low_open=True, high_open=True
        )
        for v in self.l2s:
            require_range("mnar.l2s[i]", v, 0)
        for v in self.clips:
            require_range("mnar.clips[i]", v, 0, 1)
        require_range("mnar.switch_tau", self.switch_tau, 0)

SuiteSettings = Union[
    CRSSuiteConfig, FeedSuiteConfig, OPESuiteConfig, LLMSuiteConfig, MNARSuiteConfig
]
_SETTINGS: dict[str, type[Any]] = {
    "crs": CRSSuiteConfig,
    "feed": FeedSuiteConfig,
    "ope": OPESuiteConfig,
    "llm": LLMSuiteConfig,
    "mnar": MNARSuiteConfig,
}


@dataclass(frozen=True)
class BenchConfig:
    """A benchmark run: which suite, over which seeds, with which suite settings."""

    suite: str = field(metadata=_doc("Suite name: crs, feed, ope, llm or mnar."))
    seeds: tuple[int, ...] = field(
        metadata=_doc("Seeds; each seed's results are independent units of work.")
    )
    settings: SuiteSettings = field(
        metadata=_doc("The suite's own settings: the TOML table named after the suite.")
    )
    title: str = field(default="", metadata=_doc("Title of the report."))

    def __post_init__(self) -> None:
        if self.suite not in SUITES:
            raise ConfigError(
                f"`suite` must be one of {', '.join(SUITES)}, got {self.suite!r}"
                + _suggest(self.suite, SUITES)
            )
        _nonempty("seeds", self.seeds)
        _unique("seeds", self.seeds)
        for s in self.seeds:
            require_range("seeds", s, 0)
        expected = _SETTINGS[self.suite]
        if not isinstance(self.settings, expected):
            raise ConfigError(
                f"suite {self.suite!r} needs settings of type {expected.__name__}, "
                f"got {type(self.settings).__name__}"
            )

    def with_seeds(self, seeds: tuple[int, ...]) -> BenchConfig:
        """The same config over other seeds."""
        return replace(self, seeds=tuple(seeds))


# --- validation helpers ---------------------------------------------------------------------------


def _nonempty(name: str, values: tuple[Any, ...]) -> None:
    if len(values) == 0:
        raise ConfigError(f"`{name}` must list at least one value, got an empty list")


def _unique(name: str, values: tuple[Any, ...]) -> None:
    dup = sorted({str(v) for v in values if values.count(v) > 1})
    if dup:
        raise ConfigError(f"`{name}` must not repeat values, got {', '.join(dup)} more than once")


def _suggest(key: str, known: typing.Iterable[str]) -> str:
    close = difflib.get_close_matches(key, list(known), n=1, cutoff=0.6)
    return f"; did you mean {close[0]!r}?" if close else ""


# --- loading --------------------------------------------------------------------------------------


def _coerce(value: Any, tp: Any, where: str) -> Any:
    """Check ``value`` (parsed TOML/JSON) against the field type ``tp``; lists become tuples."""
    origin = typing.get_origin(tp)
    if origin is tuple:
        (item_tp, _ellipsis) = typing.get_args(tp)
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"`{where}` must be a list of {item_tp.__name__}, got {value!r}")
        return tuple(_coerce(v, item_tp, where) for v in value)
    if tp is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"`{where}` must be true or false, got {value!r}")
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"`{where}` must be an integer, got {value!r}")
        return value
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"`{where}` must be a number, got {value!r}")
        return float(value)
    if tp is str:
        if not isinstance(value, str):
            raise ConfigError(f"`{where}` must be a string, got {value!r}")
        return value
    raise TypeError(f"unsupported config field type {tp!r} at {where}")  # internal invariant


def _settings_from_dict(cls: type[Any], data: Any, prefix: str) -> Any:
    if not isinstance(data, dict):
        raise ConfigError(f"`[{prefix}]` must be a table, got {data!r}")
    hints = typing.get_type_hints(cls)
    known = [f.name for f in fields(cls)]
    for key in data:
        if key not in known:
            raise ConfigError(
                f"unknown key `{prefix}.{key}`; known keys: {', '.join(known)}"
                + _suggest(key, known)
            )
    kwargs = {k: _coerce(v, hints[k], f"{prefix}.{k}") for k, v in data.items()}
    return cls(**kwargs)


def config_from_dict(data: dict[str, Any]) -> BenchConfig:
    """Build a :class:`BenchConfig` from a parsed TOML/JSON mapping, rejecting unknown keys."""
    suite = data.get("suite")
    if not isinstance(suite, str):
        raise ConfigError(f"the config must set `suite` to one of {', '.join(SUITES)}")
    if suite not in SUITES:
        raise ConfigError(
            f"`suite` must be one of {', '.join(SUITES)}, got {suite!r}" + _suggest(suite, SUITES)
        )
    top = ["suite", "seeds", "title", suite]
    for key in data:
        if key not in top:
            raise ConfigError(
                f"unknown top-level key `{key}`; known keys: {', '.join(top)}" + _suggest(key, top)
            )
    if "seeds" not in data:
        raise ConfigError("the config must set `seeds`, e.g. seeds = [0, 1, 2]")
    settings = _settings_from_dict(_SETTINGS[suite], data.get(suite, {}), suite)
    return BenchConfig(
        suite=suite,
        seeds=_coerce(data["seeds"], tuple[int, ...], "seeds"),
        settings=settings,
        title=_coerce(data.get("title", ""), str, "title"),
    )


def parse_toml(text: str, where: str) -> dict[str, Any]:
    """Parse TOML text; a syntax error becomes a :class:`ConfigError` naming ``where``."""
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{where} is not valid TOML: {exc}") from exc


def load_config(path: str | Path) -> BenchConfig:
    """Read a TOML config file."""
    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"config file {str(p)!r} does not exist; pass an existing TOML file")
    data = parse_toml(p.read_text(encoding="utf-8"), f"config file {str(p)!r}")
    try:
        return config_from_dict(data)
    except ConfigError as exc:
        raise ConfigError(f"{p}: {exc}") from exc


def default_config(suite: str, quick: bool = False) -> BenchConfig:
    """The shipped config of ``suite`` (its small version with ``quick``)."""
    if suite not in SUITES:
        raise ConfigError(
            f"unknown suite {suite!r}; known: {', '.join(SUITES)}" + _suggest(suite, SUITES)
        )
    name = f"{suite}-quick.toml" if quick else f"{suite}.toml"
    text = resources.files("recoworld.bench").joinpath("configs", name).read_text(encoding="utf-8")
    return config_from_dict(parse_toml(text, f"shipped config {name}"))


# --- writing --------------------------------------------------------------------------------------


def config_to_dict(config: BenchConfig) -> dict[str, Any]:
    """The resolved config as plain JSON-ready values (tuples become lists)."""

    def plain(obj: Any) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for f in fields(obj):
            v = getattr(obj, f.name)
            out[f.name] = list(v) if isinstance(v, tuple) else v
        return out

    return {
        "suite": config.suite,
        "title": config.title,
        "seeds": list(config.seeds),
        config.suite: plain(config.settings),
    }


def _toml_value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return repr(v)
    if isinstance(v, str):
        return json.dumps(v)  # TOML basic strings share JSON's escapes
    if isinstance(v, list):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    raise TypeError(f"cannot write {v!r} as TOML")  # internal invariant


def config_to_toml(config: BenchConfig) -> str:
    """The resolved config as TOML that :func:`load_config` reads back to an equal config."""
    d = config_to_dict(config)
    lines = [f"{k} = {_toml_value(d[k])}" for k in ("suite", "title", "seeds")]
    lines += ["", f"[{config.suite}]"]
    for k, v in d[config.suite].items():
        lines.append(f"{k} = {_toml_value(v)}")
    return "\n".join(lines) + "\n"


def describe(cls: type[Any]) -> list[tuple[str, str, str]]:
    """``(name, default, doc)`` of every field of a config dataclass, for docs and ``--help``."""
    if not is_dataclass(cls):
        raise TypeError(f"{cls!r} is not a config dataclass")
    out = []
    for f in fields(cls):
        if f.default is not MISSING:
            default = json.dumps(list(f.default) if isinstance(f.default, tuple) else f.default)
        else:
            default = "(required)"
        out.append((f.name, default, str(f.metadata.get("doc", ""))))
    return out


def resolve_config(
    suite: str,
    config: str | None,
    quick: bool,
    seeds: list[int] | None,
    timeout_s: float | None = None,
) -> BenchConfig:
    """The config a command line asks for: a file, or the shipped default; seeds overridden.

    ``timeout_s`` overrides the ``llm`` suite's per-call deadline (an error for other suites).
    """
    if config is not None:
        if quick:
            raise ConfigError("`--quick` picks the shipped quick config; it cannot go with --config")
        cfg = load_config(config)
        if cfg.suite != suite:
            raise ConfigError(
                f"config {config!r} is for suite {cfg.suite!r}, but the command asked for {suite!r}"
            )
    else:
        cfg = default_config(suite, quick=quick)
    if seeds is not None:
        cfg = cfg.with_seeds(tuple(seeds))
    if timeout_s is not None:
        if not isinstance(cfg.settings, LLMSuiteConfig):
            raise ConfigError(f"`--timeout` is for the llm suite (it talks to a server), not {suite!r}")
        cfg = replace(cfg, settings=replace(cfg.settings, timeout_s=float(timeout_s)))
    return cfg
