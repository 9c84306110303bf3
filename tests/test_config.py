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
    ("augment.scale_min=0", r"augment.scale_min must lie in \(0, 4\], got 0.0"),
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


# -- ranges: every numeric setting declares one, beside its type and default ------------------------
def _ranged():
    """(key, range) of every setting with a declared range, over every section of the table."""
    import dataclasses

    return [(f"{section}.{f.name}", f.metadata["range"]) for section, kind in cfg._SECTION_TYPES.items()
            for f in dataclasses.fields(kind) if "range" in f.metadata]


def test_every_numeric_setting_declares_a_range_that_holds_its_default():
    import dataclasses

    config = cfg.Config()
    for section, kind in cfg._SECTION_TYPES.items():
        for f in dataclasses.fields(kind):
            if str(f.type).split(" |")[0] in ("int", "float"):
                assert "range" in f.metadata, f"{section}.{f.name} declares no range"
                default = getattr(getattr(config, section), f.name)
                if default is None:  # an optional setting left unset: only an optional one may be
                    assert "None" in str(f.type), f"{section}.{f.name}"
                    continue
                assert default in f.metadata["range"], f"{section}.{f.name}"


def _outside(rng):
    """Values just outside each bounded end of ``rng``, and NaN."""
    out = [float("nan")]
    if rng.lo is not None:
        out.append(rng.lo if rng.lo_open else rng.lo - 1)
    if rng.hi is not None:
        out.append(rng.hi if rng.hi_open else rng.hi + 1)
    return out


@pytest.mark.parametrize("key, rng", _ranged(), ids=[k for k, _ in _ranged()])
def test_a_setting_outside_its_range_is_one_line_naming_key_and_range(key, rng):
    import re

    for value in _outside(rng):
        if isinstance(rng.lo, int) and isinstance(value, float) and value == value:
            value = int(value)
        elif value != value and isinstance(rng.lo, int) and not isinstance(rng.hi, float):
            continue  # an integer setting refuses NaN by type, not by range
        with pytest.raises(ConfigError, match=rf"^{re.escape(key)} .*must lie in {re.escape(str(rng))}, got ") as e:
            cfg.resolve("fast", [f"{key}={value}"])
        assert "\n" not in str(e.value)


@pytest.mark.parametrize("item", ["train.epochs=0", "train.epochs=-1", "train.learning_rate=-1",
                                  "train.label_smoothing=5", "train.batch_size=0", "train.seed=-1",
                                  "model.width=0", "model.dropout=1.5", "train.learning_rate=.nan",
                                  "train.learning_rate=.inf"])
def test_the_issue_settings_are_refused(item):
    key = item.split("=")[0]
    with pytest.raises(ConfigError, match=f"^{key} .*must lie in"):
        cfg.resolve("fast", [item])


def test_a_recipe_file_and_direct_options_are_range_checked_too(tmp_path):
    f = tmp_path / "mine.yaml"
    f.write_text("train: {epochs: 0}\n")
    with pytest.raises(ConfigError, match=r"train.epochs \(--epochs\) must lie in \[1, 100000\], got 0"):
        cfg.resolve(str(f))
    with pytest.raises(ConfigError, match=r"data.image_size \(--image-size\) must lie in \[8, 1024\]"):
        cfg.resolve("fast", data__image_size=4)


def test_a_config_built_in_python_is_range_checked():
    import dataclasses

    bad = dataclasses.replace(cfg.Config(), train=dataclasses.replace(cfg.TrainSection(), batch_size=0))
    with pytest.raises(ConfigError, match=r"train.batch_size must lie in \[1, 65536\], got 0"):
        cfg.check(bad)
