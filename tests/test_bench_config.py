from __future__ import annotations

import typing
from dataclasses import fields

import pytest

from recoworld.bench.config import (
    SUITES,
    BenchConfig,
    CRSSuiteConfig,
    FeedSuiteConfig,
    LLMSuiteConfig,
    OPESuiteConfig,
    config_from_dict,
    config_to_toml,
    default_config,
    describe,
    load_config,
    resolve_config,
)
from recoworld.errors import ConfigError

SETTINGS = (CRSSuiteConfig, FeedSuiteConfig, OPESuiteConfig, LLMSuiteConfig)


def _crs(**crs):
    return {"suite": "crs", "seeds": [0], "crs": crs}


@pytest.mark.parametrize("cls", [*SETTINGS, BenchConfig])
def test_every_field_is_documented(cls):
    for f in fields(cls):
        assert len(f.metadata.get("doc", "")) > 10, f"{cls.__name__}.{f.name} has no doc"
    assert [name for name, _, _ in describe(cls)] == [f.name for f in fields(cls)]


def test_unknown_settings_key_suggests_the_close_one():
    with pytest.raises(ConfigError, match=r"unknown key `crs.agent`.*did you mean 'agents'\?"):
        config_from_dict(_crs(agent=["random"]))


def test_unknown_top_level_key_suggests_the_close_one():
    with pytest.raises(ConfigError, match=r"unknown top-level key `seed`.*did you mean 'seeds'\?"):
        config_from_dict({"suite": "crs", "seed": [0], "crs": {}})


def test_misspelt_suite_suggests_the_close_one():
    with pytest.raises(ConfigError, match=r"got 'cr'; did you mean 'crs'\?"):
        config_from_dict({"suite": "cr", "seeds": [0]})


def test_a_table_of_another_suite_is_an_unknown_key():
    with pytest.raises(ConfigError, match=r"unknown top-level key `feed`"):
        config_from_dict({"suite": "crs", "seeds": [0], "feed": {}})


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (_crs(sessions="10"), r"`crs.sessions` must be an integer, got '10'"),
        (_crs(sessions=True), r"`crs.sessions` must be an integer, got True"),
        (_crs(envs="recoworld/Synthetic-CRS-v0"), r"`crs.envs` must be a list of str"),
        (_crs(sessions=-1), r"`crs.sessions` must be >= 0, got -1"),
        (_crs(split="dev"), r"`crs.split` must be one of train, valid, test, got 'dev'"),
        (_crs(agents=[]), r"`crs.agents` must list at least one value"),
        (_crs(agents=["random", "random"]), r"`crs.agents` must not repeat values, got random"),
        ({"suite": "crs", "seeds": [], "crs": {}}, r"`seeds` must list at least one value"),
        ({"suite": "crs", "seeds": [1, 1], "crs": {}}, r"`seeds` must not repeat values"),
        ({"suite": "crs", "seeds": [-3], "crs": {}}, r"`seeds` must be >= 0, got -3"),
        ({"suite": "crs", "crs": {}}, r"must set `seeds`"),
        ({"seeds": [0]}, r"must set `suite`"),
    ],
)
def test_bad_values_are_rejected_with_the_argument_named(data, message):
    with pytest.raises(ConfigError, match=message):
        config_from_dict(data)


@pytest.mark.parametrize("suite", SUITES)
@pytest.mark.parametrize("quick", [False, True])
def test_shipped_configs_load_and_round_trip_through_toml(tmp_path, suite, quick):
    cfg = default_config(suite, quick=quick)
    assert cfg.suite == suite
    path = tmp_path / "c.toml"
    path.write_text(config_to_toml(cfg))
    assert load_config(path) == cfg


def test_toml_round_trip_keeps_every_type(tmp_path):
    cfg = config_from_dict(
        {"suite": "crs", "title": 'a "quoted" title', "seeds": [3, 1],
         "crs": {"envs": ["recoworld/Synthetic-CRS-v0"], "sessions": 7, "data_dir": "/x y"}}
    )
    path = tmp_path / "c.toml"
    path.write_text(config_to_toml(cfg))
    back = load_config(path)
    assert back == cfg
    assert back.seeds == (3, 1) and isinstance(back.settings.envs, tuple)


def test_load_config_errors_name_the_file(tmp_path):
    missing = tmp_path / "nope.toml"
    with pytest.raises(ConfigError, match=r"nope.toml' does not exist"):
        load_config(missing)
    bad = tmp_path / "bad.toml"
    bad.write_text("suite = \n")
    with pytest.raises(ConfigError, match=r"bad.toml' is not valid TOML"):
        load_config(bad)
    typo = tmp_path / "typo.toml"
    typo.write_text('suite = "crs"\nseeds = [0]\n[crs]\nshard_session = 3\n')
    with pytest.raises(ConfigError, match=r"typo.toml: unknown key `crs.shard_session`.*'shard_sessions'"):
        load_config(typo)


def test_resolve_config_overrides_seeds_and_checks_the_suite(tmp_path):
    cfg = resolve_config("crs", None, True, [5, 6])
    assert cfg.seeds == (5, 6)
    assert cfg.settings == default_config("crs", quick=True).settings
    path = tmp_path / "c.toml"
    path.write_text(config_to_toml(cfg))
    with pytest.raises(ConfigError, match=r"is for suite 'crs', but the command asked for 'feed'"):
        resolve_config("feed", str(path), False, None)
    with pytest.raises(ConfigError, match=r"`--quick` .* cannot go with --config"):
        resolve_config("crs", str(path), True, None)


def test_settings_of_the_wrong_suite_are_refused():
    with pytest.raises(ConfigError, match=r"suite 'feed' needs settings of type FeedSuiteConfig"):
        BenchConfig(suite="feed", seeds=(0,), settings=CRSSuiteConfig())


def test_config_field_types_are_all_loadable():
    # every annotated field type is one the loader can check (no silent pass-through)
    for cls in SETTINGS:
        for name, tp in typing.get_type_hints(cls).items():
            origin = typing.get_origin(tp)
            assert tp in (int, float, str, bool) or (origin is tuple), (cls.__name__, name, tp)
