"""Recipes, --set overrides and their validation."""

import pytest

from asl_edge.runtime.errors import ConfigError
from asl_edge.training import config as cfg


@pytest.mark.parametrize("name", cfg.list_recipes())
def test_every_recipe_resolves_and_round_trips(name):
    config = cfg.resolve(name)
    assert cfg.from_dict(config.to_dict()) == config
    import yaml

    assert cfg.from_dict(yaml.safe_load(cfg.to_yaml(config))) == config


def test_recipes_include_fast_and_accurate():
    assert {"fast", "accurate"} <= set(cfg.list_recipes())


def test_set_overrides_are_typed():
    config = cfg.resolve("fast", ["train.epochs=3", "model.dropout=0.5", "augment.flip=true", "data.groups_file=g.csv"])
    assert config.train.epochs == 3
    assert config.model.dropout == 0.5
    assert config.augment.flip is True
    assert config.data.groups_file == "g.csv"


def test_numbers_for_floats_are_accepted():
    assert cfg.resolve("fast", ["train.learning_rate=1"]).train.learning_rate == 1.0
    assert cfg.resolve("fast", ["train.learning_rate=1e-4"]).train.learning_rate == 1e-4


@pytest.mark.parametrize("item, message", [
    ("train.epoch=3", "unknown config key 'train.epoch'"),
    ("trian.epochs=3", "unknown config section 'trian'"),
    ("epochs=3", "section.key"),
    ("train.epochs", "key=value"),
    ("train.epochs=three", "must be an integer"),
    ("augment.flip=maybe", "must be true or false"),
    ("train.schedule=linear", "must be one of"),
    ("model.stem_blocks=-1", "model.stem_blocks counts blocks"),
    ("model.pooling=median", "model.pooling must be one of: avg, max, avgmax"),
    ("augment.scale_prob=1.5", r"augment.scale_prob is a share of the images: it must lie in \[0, 1\]"),
    ("augment.blur_prob=-0.1", r"augment.blur_prob is a share"),
    ("augment.scale_min=0", "0 < scale_min <= scale_max"),
    ("augment.scale_min=2", "0 < scale_min <= scale_max"),
    ("train.swa_epochs=500", r"train.swa_epochs averages the last epochs of the last phase"),
    ("data.upright=true", "data.upright turns the found hand upright: it needs data.localise=true"),
])
def test_bad_set_is_a_clear_error(item, message):
    with pytest.raises(ConfigError, match=message):
        cfg.resolve("fast", [item])


@pytest.mark.parametrize("sets, message", [
    (["train.swa_epochs=5", "train.swa_lr_factor=0"], r"train.swa_lr_factor is a share of the peak rate"),
    (["train.swa_epochs=5", "train.distribute=mirrored"], "train.swa_epochs runs on one device"),
])
def test_bad_weight_averaging_is_a_clear_error(sets, message):
    with pytest.raises(ConfigError, match=message):
        cfg.resolve("fast", sets)


def test_unknown_recipe_lists_choices():
    with pytest.raises(ConfigError, match="Unknown recipe 'turbo'; choose one of: accurate, camera, fast"):
        cfg.resolve("turbo")


def test_recipe_file(tmp_path):
    f = tmp_path / "mine.yaml"
    f.write_text("model: {name: custom_cnn, depth: 2}\ntrain: {epochs: 2}\n")
    config = cfg.resolve(str(f))
    assert (config.model.name, config.model.depth, config.train.epochs) == ("custom_cnn", 2, 2)
    f.write_text("model: [1, 2\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        cfg.resolve(str(f))
