"""What a person reads: numbers written alike everywhere (asl_edge.runtime.fmt), terminal tables
within 100 columns, the recipes list, the lines while a model trains, and the short reprs of the
Python API's results."""

from __future__ import annotations

import json
import logging
import re
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import TINY_SETS

from asl_edge.runtime import fmt

REPO = Path(__file__).resolve().parent.parent
WIDTH = 100


@pytest.fixture(scope="module")
def run_cli():
    from asl_edge.cli import _register, cli

    _register()

    def invoke(*args: str):
        res = CliRunner().invoke(cli, list(args), catch_exceptions=False)
        assert res.exit_code == 0, res.output
        return res.stdout

    return invoke


# -- numbers ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("n, noun, text", [(1, "epoch", "1 epoch"), (2, "epoch", "2 epochs"), (0, "image", "0 images"),
                                           (1882, "image", "1,882 images"), (1, "thread", "1 thread"),
                                           (4, "thread", "4 threads"), (2, "class", "2 classes"),
                                           (1, "class", "1 class"), (3, "person", "3 people")])
def test_plural_says_the_count_with_its_noun_in_the_right_number(n, noun, text):
    assert fmt.plural(n, noun) == text


@pytest.mark.parametrize("call, text", [
    (lambda: fmt.percent(0.9962546816479401), "99.63%"), (lambda: fmt.percent(1.0), "100.00%"),
    (lambda: fmt.percent(0.0), "0.00%"), (lambda: fmt.percent(None), "-"), (lambda: fmt.percent(0.0386, 1), "3.9%"),
    (lambda: fmt.number(4 / 3), "1.33"), (lambda: fmt.number(15.0), "15"), (lambda: fmt.number(-15.0), "-15"),
    (lambda: fmt.number(0.125), "0.125"), (lambda: fmt.number(12345.0), "12,345"), (lambda: fmt.ratio(4 / 3), "1.33x"),
    (lambda: fmt.ratio(8.0), "8x"), (lambda: fmt.kilobytes(131072), "128.0 KB"), (lambda: fmt.count(1882), "1,882"),
    (lambda: fmt.duration(3.24), "3.2 s"), (lambda: fmt.duration(42.4), "42 s"), (lambda: fmt.duration(285),
                                                                                   "4 min 45 s"),
    (lambda: fmt.duration(3725), "1 h 02 min"), (lambda: fmt.decimal(0.0801, 3), "0.080"),
    (lambda: fmt.with_count("held-out signers of builtin: 267 images", 267), "held-out signers of builtin: 267 images"),
    (lambda: fmt.with_count("held-out signers of builtin", 267), "held-out signers of builtin: 267 images"),
    (lambda: fmt.with_count("my photos", 1), "my photos: 1 image"),
])
def test_numbers_are_written_one_way(call, text):
    assert call() == text


# -- tables ----------------------------------------------------------------------------------------
def _widest(text: str) -> int:
    return max(len(line) for line in text.splitlines())


def test_a_table_cuts_its_widest_text_column_and_wraps_the_last():
    from asl_edge.cli.common import table

    rows = [["a" * 90, "12.5", "word " * 30], ["short", "3.0", "ok"]]
    text = table(["name", "value", "note"], rows)
    lines = text.splitlines()
    assert _widest(text) <= WIDTH
    assert lines[2].split()[0].endswith("…") and lines[2].split()[1] == "12.5"  # numbers are never cut
    # the note wraps onto lines of its own, every word kept
    assert " ".join(line[lines[0].index("note"):].strip() for line in lines[2:-1]).split() == ["word"] * 30
    assert lines[-1].split() == ["short", "3.0", "ok"]


def test_shifts_models_and_recipes_tables_fit_100_columns(run_cli):
    shifts = run_cli("shifts")
    assert _widest(shifts) <= WIDTH and _widest(run_cli("models")) <= WIDTH
    crop = next(line for line in shifts.splitlines() if line.startswith("crop_4x3"))
    assert crop.split()[2] == "1.33" and "1.3333" not in shifts
    assert next(line for line in shifts.splitlines() if line.startswith("rotate_-15")).split()[2] == "-15"
    recipes = run_cli("recipes")
    assert _widest(recipes) <= WIDTH and "full notes: asl-edge recipes NAME" in recipes
    rows = {line.split()[0]: line.split()[1:4] for line in recipes.splitlines()[2:-1]}
    assert rows["fast"] == ["edge_cnn", "64x64", "RGB"] and rows["landmarks"][0] == "landmark_mlp"
    assert rows["camera"][1:] == ["hand", "crop"]


@pytest.mark.parametrize("name", ["fast", "camera", "landmarks", "accurate", "micro"])
def test_each_recipe_has_a_one_sentence_summary_and_its_notes_on_request(run_cli, name):
    from asl_edge.training.config import describe_recipe

    r = describe_recipe(name)
    assert 20 <= len(r["summary"]) <= 80 and r["summary"].endswith(".") and r["summary"].count(". ") == 0
    assert len(r["description"]) > 3 * len(r["summary"])
    full = run_cli("recipes", name)
    assert full.startswith(f"{name}: {r['summary']}") and _widest(full) <= WIDTH
    assert " ".join(full.split()).count(r["description"][:60]) == 1
    assert r["description"][:60] not in run_cli("recipes")  # the list shows the summary only
    assert json.loads(run_cli("recipes", name, "--json"))["description"] == r["description"]


def test_benchmark_table_fits_100_columns_and_says_where_every_figure_is(run_cli, tiny_export, tmp_path):
    # a long artifact name and GPU rows that cannot be measured here: the table still fits
    art = tmp_path / ("a_very_long_artifact_name_for_a_pi_camera_model_" * 2 + "int8.tflite")
    shutil.copy(next(tiny_export.glob("*_int8.tflite")), art)
    out = tmp_path / "results.json"
    text = run_cli("benchmark", str(art), "--runs", "3", "--warmup", "1", "--rounds", "1", "--batch", "4",
                   "--no-verify", "--gpu", "--out", str(out))
    # the table and the lines about rows not measured; the paths below it are as long as they are
    assert _widest(text.split("\naccuracy measured on")[0]) <= WIDTH
    row = json.loads(out.read_text())["results"][0]
    line = text.splitlines()[2]
    assert line.split()[0].endswith("…") and art.name.startswith(line.split()[0][:-1])
    assert fmt.percent(row["accuracy"]) in line.split() and "0." + "0" * 3 not in line
    assert f"every figure (p90, gzip size, load time, memory): {out}" in text
    if not any(r["device"] == "gpu" and r["status"] == "ok" for r in json.loads(out.read_text())["results"]):
        assert "not measured on gpu: no GPU: 1 artifact:\n  a_very_long" in text


# -- training --------------------------------------------------------------------------------------
@pytest.fixture()
def progress_records(caplog):
    from asl_edge.training.progress import PROGRESS

    # the command line's setup (its own handler, not propagated) or none: each record reaches caplog once
    level, propagate = PROGRESS.level, PROGRESS.propagate
    PROGRESS.setLevel(logging.INFO)
    PROGRESS.addHandler(caplog.handler)
    PROGRESS.propagate = False
    try:
        yield lambda: [r.getMessage() for r in caplog.records if r.name == PROGRESS.name]
    finally:
        PROGRESS.removeHandler(caplog.handler)
        PROGRESS.setLevel(level)
        PROGRESS.propagate = propagate


def test_training_says_what_it_trains_then_one_line_per_epoch_and_the_epoch_kept(tiny_npz, tmp_path,
                                                                                  progress_records):
    import csv

    from asl_edge.training import config as cfg
    from asl_edge.training.trainer import train

    result = train(cfg.resolve("fast", [f"data.source={tiny_npz}", *TINY_SETS, "train.epochs=3"]), tmp_path / "run",
                   recipe="fast")
    lines = progress_records()
    split = json.loads((tmp_path / "run" / "split.json").read_text())
    sizes, groups = split["sizes"], split["groups"]
    assert lines[0] == (f"training edge_cnn (recipe fast) on {tiny_npz}: {sum(sizes.values())} images of "
                        f"{sum(groups.values())} signers (train/val/test: {sizes['train']}/{sizes['val']}/"
                        f"{sizes['test']} images, {groups['train']}/{groups['val']}/{groups['test']} signers), "
                        f"up to 3 epochs -> {tmp_path / 'run'}")
    epochs = [line for line in lines if line.startswith("epoch ")]
    assert [e.split()[1] for e in epochs] == ["1/3", "2/3", "3/3"] and all(len(e) <= WIDTH for e in epochs)
    # the estimate comes after the second epoch (the first one also builds the graph): its time x the epochs left
    assert lines[1].startswith("epoch 1/3") and lines[2].startswith("epoch 2/3")
    took, about = re.fullmatch(r"an epoch takes about ([\d.]+) s: about ([\d.]+) s for the other 1 epoch "
                               r"\(early stopping may end sooner\)", lines[3]).groups()
    assert f"  {took} s" in lines[2] and float(about) == pytest.approx(float(took), abs=0.11)
    with open(tmp_path / "run" / "history.csv", newline="") as fh:
        val = [float(r["val_loss"]) for r in csv.DictReader(fh)]
    best = 1 + min(range(len(val)), key=val.__getitem__)
    assert lines[-1] == f"restored the weights of epoch {best} (lowest validation loss {min(val):.4f})"
    # the best epoch so far is marked on its own line, and only there
    assert [e.endswith("best") for e in epochs][best - 1]
    assert fmt.percent(result.accuracy) in repr(result)


def test_quiet_silences_the_progress_lines_and_the_bar(run_cli):
    from asl_edge.training import progress

    run_cli("shifts", "-q")
    assert progress.quiet() and not progress.PROGRESS.isEnabledFor(logging.INFO)
    run_cli("shifts")
    assert not progress.quiet() and progress.PROGRESS.isEnabledFor(logging.INFO)
    assert progress.PROGRESS.handlers[0].formatter.format(logging.makeLogRecord({"msg": "epoch 1/3"})) == "epoch 1/3"


def test_train_result_repr_is_one_short_line_without_the_metrics():
    from asl_edge.training.trainer import TrainResult

    metrics = {"accuracy": 0.9962546816479401, "model": "edge_cnn",
               "evaluated_on": "held-out signers of builtin: 267 images", "confusion_matrix": [[26] * 10] * 10,
               "per_class": {str(i): {"f1": 1.0} for i in range(10)}}
    text = repr(TrainResult(Path("runs/train/edge_cnn-fast"), metrics, 40, 284.6, "ab" * 32))
    assert text == ("TrainResult(folder='runs/train/edge_cnn-fast', model='edge_cnn', accuracy=99.63% on held-out "
                    "signers of builtin: 267 images, epochs=40, seconds=285)")
    assert len(text) < 200 and "confusion" not in text


# -- typed results ---------------------------------------------------------------------------------
def test_export_result_from_the_committed_manifest():
    from asl_edge.export.result import ExportResult

    folder = REPO / "export" / "asl-digits-fast"
    manifest = {**json.loads((folder / "manifest.json").read_text()), "out": str(folder)}
    result = ExportResult.from_manifest(manifest)
    assert result.manifest_path == folder / "manifest.json" and result.folder == folder
    assert result.path("tflite_int8") == folder / "asl-digits-fast_int8.tflite"
    int8 = next(a for a in result.artifacts if a.format == "tflite_int8")
    written = next(a for a in manifest["artifacts"] if a["format"] == "tflite_int8")
    assert int8.size_bytes == int8.path.stat().st_size and int8.accuracy == written["accuracy"]
    with pytest.raises(KeyError, match="no tflite_int4 artifact .*written: tflite_fp32"):
        result.path("tflite_int4")
    text = repr(result)
    assert len(text) < 300 and "5 artifacts (tflite_fp32, tflite_fp16, tflite_int8, onnx_fp32, onnx_int8)" in text
    trained = fmt.percent(manifest["source"]["accuracy"])
    assert f"trained model {trained} on held-out signers of builtin: 267 images" in text and "sha256" not in text


def test_benchmark_result_from_a_committed_results_file():
    from asl_edge.bench.results import BenchmarkResult

    path = REPO / "benchmarks" / "results" / "bench" / "x86_64-2core-epyc-avx2.json"
    doc = json.loads(path.read_text())
    result = BenchmarkResult.from_document(doc, path)
    ok = [r for r in doc["results"] if r["status"] == "ok"]
    assert len(result.rows) == len(doc["results"]) and len(result.measured) == len(ok)
    fastest = min(ok, key=lambda r: r["latency_ms"]["p50"])
    assert (result.fastest.artifact, result.fastest.p50_ms) == (fastest["artifact"], fastest["latency_ms"]["p50"])
    assert result.json_path == path and result.data == tuple(doc["data"]["sets"])
    text = repr(result)
    assert len(text) < 300 and f"json='{path}'" in text and fmt.percent(fastest["accuracy"]) in text
    assert f"{fmt.plural(fastest['threads'], 'thread')}" in text and "confusion" not in text
