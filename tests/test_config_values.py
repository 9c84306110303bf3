"""Values of the training config's text-to-setting path: ``_coerce``, ``parse_set``, ``_apply``,
``merge``, ``flag_sets`` and the combination checks of ``check``, each at its boundaries and with its
exact message (the mutation run of training/config.py reads these: a message or a bound that
changes must fail a test)."""

from __future__ import annotations

import dataclasses
import logging

import pytest

from asl_edge.runtime.errors import ConfigError
from asl_edge.training import config as cfg

FAST = cfg.resolve("fast")


def _with(config=None, **changes):
    """``config`` (default: the plain defaults) with ``section__key=value`` changes, unchecked."""
    config = config or cfg.Config()
    for compound, value in changes.items():
        section, key = compound.split("__")
        config = dataclasses.replace(config, **{section: dataclasses.replace(getattr(config, section), **{key: value})})
    return config


def _refused(config, message: str) -> None:
    with pytest.raises(ConfigError) as e:
        cfg.check(config)
    assert str(e.value) == message


# -- _coerce: a value against its field's annotation ------------------------------------------------
@pytest.mark.parametrize("value, annotation, expected", [
    (None, "int | None", None), (None, "str | None", None), (3, "int | None", 3), (3, "int", 3), (-2, "int", -2),
    (True, "bool", True), (False, "bool", False), (False, "bool | None", False),
    (2, "float", 2.0), (0.25, "float", 0.25), ("1e-4", "float", 1e-4), ("2", "float", 2.0), (" 3.5 ", "float", 3.5),
    (5, "str", "5"), ("x", "str", "x"), ("x", "str | None", "x"), (3, " int ", 3),
])
def test_coerce_accepts(value, annotation, expected):
    out = cfg._coerce("k", value, annotation)
    assert out == expected and type(out) is type(expected)


@pytest.mark.parametrize("value, annotation, message", [
    (None, "int", "k cannot be empty"),
    (None, "bool", "k cannot be empty"),
    (1, "bool", "k must be true or false, got 1"),
    ("true", "bool", "k must be true or false, got 'true'"),
    (True, "int", "k must be an integer, got True"),
    (3.0, "int", "k must be an integer, got 3.0"),
    ("3", "int", "k must be an integer, got '3'"),
    ("abc", "float", "k must be a number, got 'abc'"),
    (False, "float", "k must be a number, got False"),
    ([1], "float", "k must be a number, got [1]"),
    (1, "list", "k: unsupported type list"),
])
def test_coerce_refuses(value, annotation, message):
    with pytest.raises(ConfigError) as e:
        cfg._coerce("k", value, annotation)
    assert str(e.value) == message


# -- parse_set: "section.key=value" text to a nested mapping ------------------------------------------
@pytest.mark.parametrize("items, expected", [
    (["train.epochs=5"], {"train": {"epochs": 5}}),
    (["train.epochs=5", "train.seed=2", "model.dropout=0.5"], {"train": {"epochs": 5, "seed": 2},
                                                                "model": {"dropout": 0.5}}),
    (["train.epochs=5", "train.epochs=6"], {"train": {"epochs": 6}}),  # the last one wins
    (["augment.flip=false"], {"augment": {"flip": False}}),
    (["train.learning_rate=1e-4"], {"train": {"learning_rate": "1e-4"}}),  # YAML 1.1: a string, _coerce reads it
    (["train.learning_rate=0.001"], {"train": {"learning_rate": 0.001}}),
    (["train.teacher="], {"train": {"teacher": None}}),
    (["train.teacher=  "], {"train": {"teacher": None}}),
    ([" train.epochs =5"], {"train": {"epochs": 5}}),
    (["data.source=a=b"], {"data": {"source": "a=b"}}),  # only the first '=' splits
    (["train.epochs=[x"], {"train": {"epochs": "[x"}}),  # not YAML: the text, refused later by its type
    (["data.source=yes"], {"data": {"source": "yes"}}),
    (["data.source= 12 "], {"data": {"source": "12"}}),
    (["model.export_name=null"], {"model": {"export_name": None}}),
    (["nope.key=yes"], {"nope": {"key": True}}),  # unknown: left to _apply to name
    ([], {}),
])
def test_parse_set(items, expected):
    assert cfg.parse_set(items) == expected


@pytest.mark.parametrize("item, message", [
    ("train.epochs", "--set expects key=value, got 'train.epochs'"),
    ("epochs=3", "--set key must look like section.key (e.g. train.epochs), got 'epochs'"),
    ("a.b.c=3", "--set key must look like section.key (e.g. train.epochs), got 'a.b.c'"),
    (".epochs=3", "--set key must look like section.key (e.g. train.epochs), got '.epochs'"),
    ("train.=3", "--set key must look like section.key (e.g. train.epochs), got 'train.'"),
])
def test_parse_set_refuses(item, message):
    with pytest.raises(ConfigError) as e:
        cfg.parse_set([item])
    assert str(e.value) == message


def test_parse_set_refuses_a_yaml_bomb_rather_than_keeping_its_text():
    bomb = "a: &a [x,x,x,x,x,x,x,x,x]\n" + "".join(f"{c}: &{c} [*{p},*{p},*{p},*{p},*{p},*{p},*{p},*{p}]\n"
                                                  for p, c in zip("abcdefgh", "bcdefghi"))
    with pytest.raises(ConfigError, match="too large or too deeply nested"):
        cfg.parse_set([f"train.epochs={bomb}"])


@pytest.mark.parametrize("section, key, text", [("data", "source", True), ("train", "teacher", True),
                                                ("model", "export_name", True), ("train", "epochs", False),
                                                ("augment", "flip", False), ("data", "stream", False),
                                                ("nope", "source", False), ("data", "nope", False)])
def test_is_text(section, key, text):
    assert cfg._is_text(section, key) is text


# -- _apply / merge: one key set and checked --------------------------------------------------------
def test_apply_sets_only_its_key():
    config = cfg._apply(FAST, "train", "epochs", 7)
    assert config.train.epochs == 7 and config.train.batch_size == FAST.train.batch_size
    assert (config.model, config.data, config.augment) == (FAST.model, FAST.data, FAST.augment)
    assert FAST.train.epochs == 140  # the original is untouched


@pytest.mark.parametrize("section, key, value, message", [
    ("trian", "epochs", 1, "unknown config section 'trian'; choose one of: model, data, augment, train"),
    ("train", "schedule", "linear",
     "train.schedule must be one of: constant, cosine, step, exponential, plateau; got 'linear'"),
    ("data", "balance", "all", "data.balance must be one of: none, class_weight, oversample, undersample; got 'all'"),
    ("train", "epochs", 0, "train.epochs (--epochs) must lie in [1, 100000], got 0"),
    ("train", "epochs", 100_001, "train.epochs (--epochs) must lie in [1, 100000], got 100001"),
    ("train", "decay_rate", 0, "train.decay_rate must lie in (0, 1], got 0.0"),
    ("train", "epochs", "x", "train.epochs (--epochs) must be an integer, got 'x'"),
])
def test_apply_refuses(section, key, value, message):
    with pytest.raises(ConfigError) as e:
        cfg._apply(FAST, section, key, value)
    assert str(e.value) == message


def test_apply_names_the_keys_of_a_section_in_order():
    with pytest.raises(ConfigError) as e:
        cfg._apply(FAST, "train", "epoch", 1)
    head, keys = str(e.value).split("; train has: ")
    assert head == "unknown config key 'train.epoch'"
    assert keys.split(", ") == sorted(f.name for f in dataclasses.fields(cfg.TrainSection))


@pytest.mark.parametrize("key, edge", [("train.epochs", 1), ("train.epochs", 100_000), ("train.decay_rate", 1.0),
                                       ("train.fine_tune_layers", -1), ("augment.scale_prob", 0.0),
                                       ("augment.scale_prob", 1.0)])
def test_apply_accepts_the_edges_of_a_range(key, edge):
    section, name = key.split(".")
    assert getattr(getattr(cfg._apply(FAST, section, name, edge), section), name) == edge


def test_merge_applies_every_key_and_skips_empty_sections():
    config = cfg.merge(FAST, {"train": {"epochs": 3, "seed": 4}, "model": None, "data": {"image_size": 32}})
    assert (config.train.epochs, config.train.seed, config.data.image_size) == (3, 4, 32)
    assert config.model == FAST.model


@pytest.mark.parametrize("overrides, message", [
    ([1], "a recipe must be a mapping of sections (model, data, augment, train)"),
    ({"train": [1]}, "recipe section 'train' must be a mapping"),
    ({"train": 5}, "recipe section 'train' must be a mapping"),
])
def test_merge_refuses(overrides, message):
    with pytest.raises(ConfigError) as e:
        cfg.merge(FAST, overrides)
    assert str(e.value) == message


# -- flag_sets: the alias flags as --set items ------------------------------------------------------
def test_flag_sets_appends_the_flags_given_in_table_order():
    given = {"train__seed": "3", "data__source": "d/", "model__name": None, "train__epochs": "7"}
    assert cfg.flag_sets(given, ("augment.flip=false",)) == ["augment.flip=false", "data.source=d/",
                                                             "train.epochs=7", "train.seed=3"]
    assert cfg.flag_sets({}, ["train.epochs=2"]) == ["train.epochs=2"] and cfg.flag_sets({}) == []


def test_flag_sets_allows_the_same_value_twice_and_names_both_forms_of_different_ones():
    assert cfg.flag_sets({"train__epochs": "7"}, ["train.epochs=7"]) == ["train.epochs=7", "train.epochs=7"]
    assert cfg.flag_sets({"train__learning_rate": "0.5"}, ["train.learning_rate=.5"])[-1] == "train.learning_rate=0.5"
    assert cfg.flag_sets({"train__learning_rate": "1e-4"}, ["train.learning_rate=0.0001"])[-1] == \
        "train.learning_rate=1e-4"  # the same number once typed
    with pytest.raises(ConfigError, match="give train.epochs two values"):
        cfg.flag_sets({"train__epochs": "x"}, ["train.epochs=y"])  # neither a number: compared as typed
    assert cfg._same("train", "epochs", "x", "x") and not cfg._same("train", "epochs", 1, "1")
    with pytest.raises(ConfigError) as e:
        cfg.flag_sets({"train__epochs": "7"}, ["train.seed=1", " train.epochs=8", "train.epochs=9"])
    assert str(e.value) == ("--epochs 7 and --set train.epochs=9 give train.epochs two values; give one of them")
    with pytest.raises(ConfigError) as e:  # a value may hold "=": the key is what comes before the first
        cfg.flag_sets({"data__source": "photos"}, ["data.source=a=b"])
    assert str(e.value) == "--data photos and --set data.source=a=b give data.source two values; give one of them"


def test_a_set_value_refused_by_the_yaml_bounds_names_its_key():
    with pytest.raises(ConfigError, match=r"^--set model\.export_name is too large \("):
        cfg.parse_set(["model.export_name=" + "a" * (cfg.MAX_YAML_BYTES + 1)])


# -- check: combinations of keys each valid alone ---------------------------------------------------
def test_check_returns_the_config_it_accepts():
    assert cfg.check(FAST) is FAST


@pytest.mark.parametrize("changes, message", [
    ({"data__upright": True}, "data.upright turns the found hand upright: it needs data.localise=true"),
    ({"model__export_name": "a b"}, "model.export_name (--name) must be 1-64 letters, digits, '.', '_' or '-' "
                                    "(starting with a letter or digit), got 'a b'"),
    ({"augment__backgrounds": "flat,sky"}, "augment.backgrounds names kinds of background, comma-separated, "
                                           "from: flat, gradient, noise, stripes, photo, leaves, warm; got 'flat,sky'"),
    ({"augment__scale_min": 1.5, "augment__scale_max": 1.2},
     "augment needs 0 < scale_min <= scale_max, got 1.5 and 1.2"),
    ({"augment__grayscale_prob": 1.01}, "augment.grayscale_prob is a share of the images: it must lie in [0, 1], "
                                        "got 1.01"),
    ({"train__batch_size": 0}, "train.batch_size must lie in [1, 65536], got 0"),
    ({"train__schedule": "plateau", "train__warmup_epochs": 1},
     "train.schedule=plateau cannot follow a warm-up (it lowers a plain rate): set train.warmup_epochs=0 or "
     "another schedule"),
    ({"train__schedule": "plateau", "train__decay_rate": 1.0},
     "train.schedule=plateau needs 0 < train.decay_rate < 1 and train.plateau_patience >= 1"),
    ({"train__schedule": "plateau", "train__plateau_patience": 0},
     "train.schedule=plateau needs 0 < train.decay_rate < 1 and train.plateau_patience >= 1"),
    ({"train__epochs": 10, "train__swa_epochs": 10},
     "train.swa_epochs averages the last epochs of the last phase (10): it must lie in [0, 9], got 10"),
    ({"train__swa_epochs": 3, "train__distribute": "mirrored"},
     "train.swa_epochs runs on one device: set train.distribute=default (re-measuring the BatchNorm statistics "
     "is not written for a strategy)"),
    ({"model__name": "mobilenetv2", "train__epochs": 50, "train__fine_tune_epochs": 4, "train__swa_epochs": 4},
     "train.swa_epochs averages the last epochs of the last phase (4): it must lie in [0, 3], got 4"),
])
def test_check_refuses(changes, message):
    _refused(_with(**changes), message)


@pytest.mark.parametrize("changes", [
    {"augment__scale_min": 1.2, "augment__scale_max": 1.2},
    {"train__schedule": "plateau", "train__decay_rate": 0.99, "train__plateau_patience": 1},
    {"train__schedule": "step", "train__warmup_epochs": 2, "train__decay_rate": 1.0, "train__plateau_patience": 0},
    {"train__epochs": 10, "train__swa_epochs": 9},
    {"train__epochs": 10, "train__swa_epochs": 1},  # the shortest average: the last epoch alone
    {"train__swa_epochs": 0, "train__distribute": "mirrored"},
    # a transfer model's last phase is the fine-tuning, when it has one; else the first
    {"model__name": "mobilenetv2", "train__epochs": 5, "train__fine_tune_epochs": 12, "train__swa_epochs": 11},
    {"model__name": "mobilenetv2", "train__epochs": 12, "train__fine_tune_epochs": 0, "train__swa_epochs": 11},
    # only a transfer model has a second phase: fine_tune_epochs of a CNN leave its one phase the last
    {"train__epochs": 12, "train__fine_tune_epochs": 3, "train__swa_epochs": 11},
    {"data__localise": True, "data__upright": True},
    {"model__export_name": "asl-digits_2.0"},
])
def test_check_accepts(changes):
    config = _with(**changes)
    assert cfg.check(config) is config


@pytest.mark.parametrize("changes, message", [
    ({"data__landmarks": True, "model__name": "landmark_mlp"},
     "data.landmarks reads the found hand's landmarks: it needs data.localise=true"),
    ({"data__landmarks": True, "data__localise": True, "data__scene_copies": 2, "model__name": "landmark_mlp"},
     "data.scene_copies is not used by a landmark model (the landmarks carry no background): set data.scene_copies=0"),
    ({"data__landmarks": True, "data__localise": True},
     "model edge_cnn reads images; data.landmarks needs a landmark model (e.g. --set model.name=landmark_mlp)"),
    ({"model__name": "landmark_mlp"}, "model landmark_mlp reads hand landmarks: train it with the landmarks recipe "
                                      "(data.localise=true, data.landmarks=true)"),
])
def test_landmark_settings_go_together(changes, message):
    _refused(_with(**changes), message)


def test_a_landmark_model_with_its_settings_is_accepted():
    config = _with(data__landmarks=True, data__localise=True, model__name="landmark_mlp")
    assert cfg.check(config) is config


# -- image size: raised to what the model needs, never lowered, never over an explicit one ----------
def test_adapt_image_size(caplog):
    small = _with(model__name="inceptionv3", data__image_size=64)
    with caplog.at_level(logging.INFO, logger="asl_edge.training.config"):
        assert cfg.adapt_image_size(small).data.image_size == 75
    assert [r.getMessage() for r in caplog.records] == [
        "model inceptionv3 needs larger inputs: data.image_size 64 -> 75"]
    large = _with(model__name="inceptionv3", data__image_size=96)
    assert cfg.adapt_image_size(large) is large
    assert cfg.adapt_image_size(_with(data__image_size=8)).data.image_size == 8
    assert cfg.resolve("fast", ["model.name=inceptionv3"]).data.image_size == 75
    assert cfg.resolve("fast", ["model.name=inceptionv3", "data.image_size=200"]).data.image_size == 200
    assert cfg.resolve("fast", model__name="inceptionv3", data__image_size=80).data.image_size == 80
    # an explicit size below the model's own is the user's to keep, whichever way it was given
    assert cfg.resolve("fast", ["model.name=inceptionv3", "data.image_size=64"]).data.image_size == 64
    assert cfg.resolve("fast", ["model.name=inceptionv3"], data__image_size=64).data.image_size == 64


def test_resolve_applies_recipe_then_sets_then_direct_options():
    config = cfg.resolve("fast", ["train.epochs=3", "train.seed=5"], train__epochs=4, train__batch_size=None)
    assert (config.train.epochs, config.train.seed, config.train.batch_size) == (4, 5, FAST.train.batch_size)
    assert config.model.width == 14 and cfg.Config().model.width != 14  # the recipe's, over the default


def test_a_saved_config_round_trips():
    changed = cfg.resolve("fast", ["train.teacher=runs/x", "data.groups_file=g.csv", "model.export_name=m"])
    assert cfg.from_dict(changed.to_dict()) == changed
    import yaml

    assert cfg.from_dict(yaml.safe_load(cfg.to_yaml(changed))) == changed
    assert list(yaml.safe_load(cfg.to_yaml(changed))) == ["model", "data", "augment", "train"]
