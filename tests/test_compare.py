"""The architecture comparison: every registry model has settings and a valid input
size with the default recipe, and one short run writes the row the report reads."""

import json
import subprocess
import sys

import pytest
from conftest import TINY_SETS, load_script

from asl_edge.models import create_model, get_spec, list_models
from asl_edge.report.inputs import ARCHITECTURE_FIELDS, validate_architectures
from asl_edge.runtime.errors import ConfigError
from asl_edge.training import config as cfg

compare = load_script("benchmarks/compare_architectures.py")


# The comparison trains every image model on the same photographs; a landmark model reads another
# input (the landmarks recipe) and is measured against them in benchmarks/REPORT.md instead.
@pytest.mark.parametrize("name", [n for n in list_models() if get_spec(n).inputs == "image"])
def test_every_model_trains_with_the_default_recipe_and_has_comparison_settings(name):
    assert name in compare.CANDIDATES, f"add {name} to CANDIDATES in benchmarks/compare_architectures.py"
    for config in (cfg.resolve("fast", model__name=name), compare.resolve(name, [], 1.0)):
        assert config.data.image_size >= get_spec(name).min_size


def test_the_edge_cnn_row_is_the_fast_recipe_as_shipped():
    assert compare.resolve("edge_cnn", [], 1.0).to_dict() == cfg.resolve("fast").to_dict()


def test_recipe_size_adapts_but_an_explicit_size_is_kept():
    assert cfg.resolve("fast", model__name="inceptionv3").data.image_size == 75
    assert cfg.resolve("fast", model__name="edge_cnn").data.image_size == 64
    explicit = cfg.resolve("fast", ["data.image_size=64"], model__name="inceptionv3")
    assert explicit.data.image_size == 64
    with pytest.raises(ConfigError, match="at least 75x75"):
        create_model("inceptionv3", (64, 64, 3), 10)


def test_pretrained_transfer_models_train_in_two_phases_with_their_own_normalisation():
    config = compare.resolve("mobilenetv2", ["model.weights=imagenet"], 1.0)
    assert config.train.fine_tune_epochs == config.train.epochs and config.data.normalization == "fixed"
    scratch = compare.resolve("mobilenetv2", [], 1.0)
    assert scratch.train.fine_tune_epochs == 0 and scratch.data.normalization == "per_image"


def test_one_short_comparison_writes_rows_the_report_reads(tiny_npz, tmp_path):
    out = tmp_path / "architectures.json"
    sets = [a for s in [f"data.source={tiny_npz}", *TINY_SETS] for a in ("--set", s)]
    assert compare.main(["--models", "edge_cnn", *sets, "--runs", "20", "--work", str(tmp_path / "w"),
                         "--out", str(out)]) == 0
    doc = validate_architectures(json.loads(out.read_text()))
    (row,) = doc["results"]
    assert row["model"] == "edge_cnn" and set(ARCHITECTURE_FIELDS) <= set(row)
    assert row["int8_size_bytes"] < row["fp32_size_bytes"] and row["macs"] > 0 and row["latency_ms_p50"] > 0
    assert row["num_samples"] == 36 and "held-out" in row["data"]  # the tiny split's test part, by signer
    assert row["worst_shift"]["name"] in row["shifts"]
    report = subprocess.run([sys.executable, "-m", "asl_edge", "report", str(out), "--out", str(tmp_path / "rep")],
                            capture_output=True, text=True)
    assert report.returncode == 0, report.stderr
    md = (tmp_path / "rep" / "REPORT.md").read_text()
    assert "## Architectures compared" in md and "| edge_cnn *" in md
    assert (tmp_path / "rep" / "architectures_pareto.png").stat().st_size > 1000


def test_unknown_model_fails_before_training(capsys, tmp_path):
    assert compare.main(["--models", "edge_cnn,nope", "--out", str(tmp_path / "a.json")]) == 1
    assert "Unknown model 'nope'" in capsys.readouterr().err
    assert not (tmp_path / "a.json").exists()
