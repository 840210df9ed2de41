"""Configs: JSON round trip, the shipped configs load, overrides are type-checked, unknown keys rejected."""

import json
from pathlib import Path

import pytest

from tranx.config import Config, load_config
from tranx.errors import TranxError

CONFIGS = sorted(p for p in (Path(__file__).resolve().parents[1] / "configs").glob("*.json")
                 if not p.name.startswith("rl-"))
RL_CONFIGS = sorted((Path(__file__).resolve().parents[1] / "configs").glob("rl-*.json"))


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.name)
def test_shipped_configs_load(path):
    config = load_config(path)
    assert Config.from_json(json.loads(json.dumps(config.to_json()))) == config
    from preprocess.tasks import TASKS
    assert config.train.dataset in TASKS


@pytest.mark.parametrize("path", RL_CONFIGS, ids=lambda p: p.name)
def test_shipped_rl_configs_load(path):
    from tranx.rl.config import RLConfig, load_rl_config
    config = load_rl_config(path)
    assert RLConfig.from_json(json.loads(json.dumps(config.to_json()))) == config


def test_overrides_known_answers():
    config = Config().override(["train.lr=3e-4", "copy=false", "encoder=lstm", "train.train_limit=null",
                                "model.dropout=0"])
    assert config.train.lr == 3e-4 and config.model.copy is False and config.model.encoder == "lstm"
    assert config.train.train_limit is None and config.model.dropout == 0.0


@pytest.mark.parametrize("assignment, message", [
    ("train.lr=abc", "'train.lr' must be float, got 'abc'"),
    ("model.copy=1", "'model.copy' must be bool, got 1"),
    ("train.batch_size=1.5", "'train.batch_size' must be int"),
    ("nope=1", "unknown config key 'nope'"),
    ("model.nope=1", "unknown config key 'model.nope'"),
    ("train.lr", "is not KEY=VALUE"),
])
def test_bad_overrides(assignment, message):
    with pytest.raises(TranxError, match=message):
        Config().override([assignment])


def test_bad_config_files(tmp_path):
    path = tmp_path / "c.json"
    path.write_text('{"model": {"hidden": 3}}')
    with pytest.raises(TranxError, match="unknown config key 'model.hidden'"):
        load_config(path)
    path.write_text('{"version": 7}')
    with pytest.raises(TranxError, match="config version 7 is not supported"):
        load_config(path)
    path.write_text("{oops")
    with pytest.raises(TranxError, match="not valid JSON"):
        load_config(path)
    with pytest.raises(TranxError, match="config file not found"):
        load_config(tmp_path / "missing.json")
