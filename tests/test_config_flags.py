"""The training flags are aliases of ``--set`` keys: one surface, one parser, one validation.

Every test is parametrised over :data:`asl_edge.training.flags.FLAGS`, so a flag added to the table
is checked here without a new test: the flag and its ``--set`` form build the same config, a bad
value gives the same one line for both, ``--help`` names the key, and the two forms disagreeing is
one error. Nothing trains: the commands stop right after the config is resolved.
"""

from __future__ import annotations

import pytest

from asl_edge.cli import main
from asl_edge.training import config as cfg
from asl_edge.training.flags import FLAGS, label

# Per key: a valid value other than the fast recipe's, and one its checks refuse (None: a text key
# with nothing to refuse at resolve time).
VALUES = {
    "data.source": ("photos/", None),
    "model.name": ("deep_cnn", "nope"),
    "train.epochs": ("7", "0"),
    "train.batch_size": ("16", "0"),
    "train.learning_rate": ("1e-4", "0"),
    "data.image_size": ("48", "4"),
    "train.seed": ("3", "-1"),
    "data.groups_file": ("groups.csv", None),
    "train.teacher": ("runs/train/big", None),
    "model.export_name": ("my-model", "../up"),
}
FAST = cfg.resolve("fast")  # before any test replaces resolve
CASES = [(f, command) for f in FLAGS for command in f.commands]
IDS = [f"{command}{f.flag}" for f, command in CASES]


class _Stop(Exception):
    """Raised once the command has its config: nothing trains."""


@pytest.fixture
def resolved(monkeypatch, tmp_path):
    """Runs ``asl-edge ARGS`` up to the resolved config and returns it (or the error line)."""
    real = cfg.resolve
    seen = []

    def resolve(*args, **kwargs):
        seen.append(real(*args, **kwargs))
        raise _Stop

    monkeypatch.setattr(cfg, "resolve", resolve)

    def run(command, *args):
        with pytest.raises(SystemExit):
            main([command, *args, "--out", str(tmp_path / "out"), *(["--trials", "1"] if command == "tune" else [])])
        return seen.pop() if seen else None

    return run


def test_every_key_in_the_table_has_values_here():
    # A new alias must bring its own values, or the tests below would skip it.
    assert set(VALUES) == {f.key for f in FLAGS}
    assert len({f.flag for f in FLAGS}) == len(FLAGS) and len({f.dest for f in FLAGS}) == len(FLAGS)


@pytest.mark.parametrize("flag, command", CASES, ids=IDS)
def test_a_flag_builds_the_same_config_as_its_set_form(resolved, flag, command):
    value = VALUES[flag.key][0]
    by_flag = resolved(command, flag.flag, value)
    by_set = resolved(command, "--set", f"{flag.key}={value}")
    assert by_flag is not None and by_flag == by_set
    section, key = flag.key.split(".")
    assert getattr(getattr(by_flag, section), key) != getattr(getattr(FAST, section), key)


@pytest.mark.parametrize("flag, command", [c for c in CASES if VALUES[c[0].key][1] is not None],
                         ids=[i for c, i in zip(CASES, IDS) if VALUES[c[0].key][1] is not None])
def test_a_bad_value_gives_the_same_one_line_for_both_forms(capsys, tmp_path, flag, command):
    bad = VALUES[flag.key][1]
    lines = []
    for args in ([flag.flag, bad], ["--set", f"{flag.key}={bad}"]):
        with pytest.raises(SystemExit) as stop:
            main([command, *args, "--out", str(tmp_path / "out")])
        assert stop.value.code != 0
        lines.append(capsys.readouterr().err)
    assert lines[0] == lines[1]
    assert lines[0].startswith("asl-edge: error: ") and len(lines[0].strip().splitlines()) == 1
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("flag", [f for f in FLAGS if VALUES[f.key][1] is not None and f.key != "model.name"],
                         ids=lambda f: f.flag)
def test_a_range_or_format_message_names_the_key_and_its_flag(flag):
    with pytest.raises(cfg.ConfigError) as e:
        cfg.resolve("fast", [f"{flag.key}={VALUES[flag.key][1]}"])
    assert str(e.value).startswith(label(flag.key)) or label(flag.key) in str(e.value)
    assert label(flag.key) == f"{flag.key} ({flag.flag})"


@pytest.mark.parametrize("flag, command", CASES, ids=IDS)
def test_help_names_the_key_each_flag_sets(capsys, flag, command):
    main([command, "--help"])  # click returns after the help (standalone_mode=False)
    text = " ".join(capsys.readouterr().out.split())  # click wraps the help text
    assert f"{flag.flag} {flag.metavar}" in text and f"Same as --set {flag.key}={flag.metavar}" in text


@pytest.mark.parametrize("flag", FLAGS, ids=lambda f: f.flag)
def test_a_flag_and_a_set_that_disagree_are_one_error(capsys, tmp_path, flag):
    good, other = VALUES[flag.key][0], "x2" if flag.key != "train.learning_rate" else "0.5"
    other = other if not VALUES[flag.key][0].isdigit() else str(int(VALUES[flag.key][0]) + 1)
    with pytest.raises(SystemExit):
        main(["train", flag.flag, good, "--set", f"{flag.key}={other}", "--out", str(tmp_path / "o")])
    err = capsys.readouterr().err
    assert err == (f"asl-edge: error: {flag.flag} {good} and --set {flag.key}={other} give {flag.key} two values; "
                   "give one of them\n")


def test_a_flag_and_a_set_that_agree_are_accepted(resolved):
    config = resolved("train", "--epochs", "7", "--set", "train.epochs=7", "--learning-rate", "1e-4",
                      "--set", "train.learning_rate=0.0001")
    assert config.train.epochs == 7 and config.train.learning_rate == 1e-4


@pytest.mark.parametrize("typed, kept", [("yes", "yes"), ("1e3", "1e3"), ("007", "007"), ("a: b", "a: b"),
                                         ("[x]", "[x]"), ("photos/", "photos/")])
def test_a_text_key_keeps_what_was_typed(resolved, typed, kept):
    # YAML alone reads `yes` as true and `1e3` as a number; a folder may be called either.
    assert resolved("train", "--data", typed).data.source == kept
    assert cfg.parse_set([f"data.source={typed}"]) == {"data": {"source": kept}}


def test_an_optional_text_key_is_unset_by_null_or_nothing():
    assert cfg.parse_set(["train.teacher=null", "data.groups_file="]) == {"train": {"teacher": None},
                                                                         "data": {"groups_file": None}}
    assert cfg.parse_set(["train.epochs=1e3"]) == {"train": {"epochs": "1e3"}}  # not text: YAML's reading


@pytest.mark.parametrize("args, epochs", [((), 15), (("--epochs", "3"), 3), (("--set", "train.epochs=4"), 4)])
def test_tune_trains_each_trial_for_the_epochs_given_else_15(monkeypatch, tmp_path, args, epochs):
    from asl_edge.training import tune

    seen = []

    def run_tuning(config, settings, out):
        seen.append((config.train.epochs, settings.epochs))
        raise _Stop

    monkeypatch.setattr(tune, "run_tuning", run_tuning)
    with pytest.raises(SystemExit):
        main(["tune", *args, "--trials", "1", "--out", str(tmp_path / "t")])
    assert seen[0][1] == epochs and (not args or seen[0][0] == epochs)
