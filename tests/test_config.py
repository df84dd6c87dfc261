from pathlib import Path

import pytest

from genlab.config import TrainConfig, from_dict, parse_overrides, to_dict
from genlab.errors import ConfigError
from genlab.runs import make_config

CONFIGS = sorted((Path(__file__).parents[1] / "configs").glob("*.yaml"))


def test_overrides_are_typed():
    cfg = make_config(
        "pixelwise",
        overrides={
            "train.lr": "3e-3",
            "train.steps": "10",
            "train.bf16": "true",
            "data.classes": "0,1,2",
            "data.image_size": "none",
            "model.prior": "0.5",
            "train.select": "last",
        },
    )
    assert cfg.train.lr == 3e-3 and isinstance(cfg.train.lr, float)
    assert cfg.train.steps == 10 and cfg.train.bf16 is True
    assert cfg.data.classes == (0, 1, 2) and cfg.data.image_size is None
    assert cfg.model.prior == 0.5 and cfg.train.select == "last"


def test_layering_family_defaults_then_yaml_then_overrides(tmp_path):
    f = tmp_path / "c.yaml"
    f.write_text("train:\n  steps: 77\n  lr: 0.2\nmodel:\n  prior: 2.0\n")
    cfg = make_config("pixelwise", config_file=f, overrides={"train.lr": "0.3"})
    assert cfg.train.steps == 77  # YAML beats the family default (1500)
    assert cfg.train.lr == 0.3  # command line beats YAML
    assert cfg.model.prior == 2.0
    assert cfg.train.val_fraction == 0.0  # pixelwise default beats the dataclass default
    assert make_config("pixelwise").train.steps == 1500


def test_unknown_key_suggests_closest_and_lists_valid_keys():
    with pytest.raises(ConfigError) as err:
        make_config("pixelwise", overrides={"train.lrr": "1"})
    msg = str(err.value)
    assert "'train.lrr'" in msg and "did you mean 'train.lr'" in msg
    assert "train.batch_size" in msg and "\n" not in msg


def test_unknown_section_and_model_key():
    with pytest.raises(ConfigError, match="unknown config section 'trian'"):
        make_config("pixelwise", overrides={"trian.lr": "1"})
    with pytest.raises(ConfigError, match="valid keys: model.prior"):
        make_config("pixelwise", overrides={"model.depth": "3"})


@pytest.mark.parametrize(
    ("key", "value", "expect"),
    [
        ("train.steps", "abc", "expected an integer"),
        ("train.steps", "1.5", "expected an integer"),
        ("train.bf16", "maybe", "expected true/false"),
        ("train.select", "worst", "one of best|last"),
        ("data.classes", "a,b", "comma-separated list"),
    ],
)
def test_wrong_type_is_one_clear_error(key, value, expect):
    with pytest.raises(ConfigError, match=expect):
        make_config("pixelwise", overrides={key: value})


def test_round_trip_through_dict():
    cfg = make_config("pixelwise", overrides={"data.classes": "3,4"})
    again = from_dict(type(cfg.train), to_dict(cfg.train))
    assert again == cfg.train
    assert to_dict(cfg.data)["classes"] == [3, 4]


def test_parse_overrides_rejects_missing_equals():
    assert parse_overrides(["a.b=1", "c.d= x "]) == {"a.b": "1", "c.d": "x"}
    with pytest.raises(ConfigError, match="key=value"):
        parse_overrides(["train.lr"])


def test_bad_yaml_file(tmp_path):
    f = tmp_path / "bad.yaml"
    f.write_text("train: [unclosed\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        make_config("pixelwise", config_file=f)
    with pytest.raises(ConfigError, match="does not exist"):
        make_config("pixelwise", config_file=tmp_path / "none.yaml")


def test_train_config_defaults_are_sane():
    cfg = TrainConfig()
    assert 0 < cfg.lr < 1 and cfg.warmup < cfg.steps and 0 <= cfg.ema < 1


@pytest.mark.parametrize("path", CONFIGS, ids=[p.name for p in CONFIGS])
def test_shipped_configs_load(path):
    from genlab.config import load_yaml

    data = load_yaml(path)
    cfg = make_config(data["family"], config_file=path)
    assert cfg.family == data["family"]


def test_configs_folder_is_not_empty():
    assert CONFIGS, "configs/ should ship at least one YAML per family"
