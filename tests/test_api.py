"""The Python API (``asl_edge.train``, ``export``, ``benchmark``, ``load``) on tiny data: each call does
what its command does, writes where the README says, and returns figures that match its files."""

import json
import os

import numpy as np
import pytest
from conftest import TINY_SETS

import asl_edge
from asl_edge.runtime import runfolder

FAST = {"runs": 3, "warmup": 1, "batch": 8, "rounds": 1}


@pytest.fixture(scope="module")
def api_run(tiny_npz, tmp_path_factory):
    """``asl_edge.train("fast", sets=...)`` with no ``out``, from a scratch working directory."""
    cwd = tmp_path_factory.mktemp("api")
    before = os.getcwd()
    os.chdir(cwd)
    try:
        result = asl_edge.train("fast", sets=(f"data.source={tiny_npz}", *TINY_SETS, "train.epochs=4"))
    finally:
        os.chdir(before)
    return cwd, result


def test_train_writes_the_default_run_folder_and_returns_its_figures(api_run):
    cwd, result = api_run
    assert result.folder == cwd.joinpath("runs/train/edge_cnn-fast").relative_to(cwd)  # under ./runs/
    folder = cwd / result.folder
    written = json.loads((folder / runfolder.METRICS_FILE).read_text())
    assert result.metrics["accuracy"] == written["accuracy"] and result.metrics["macro_f1"] == written["macro_f1"]
    assert result.epochs_run == written["epochs_run"] == 4
    assert "edge_cnn" in (folder / runfolder.CONFIG_FILE).read_text()
    assert "model.width" not in written and written["model"] == "edge_cnn"
    # the settings given as sets= are the run's: 16x16 inputs, 4 filters wide
    from asl_edge.training import config as cfg

    saved = cfg.load_run_config(folder)
    assert (saved.data.image_size, saved.model.width, saved.train.epochs) == (16, 4, 4)


def test_train_takes_a_config_object_and_refuses_an_existing_run(tiny_npz, tmp_path):
    from asl_edge.runtime.errors import TrainingError
    from asl_edge.training import config as cfg

    config = cfg.resolve("fast", [f"data.source={tiny_npz}", *TINY_SETS, "train.epochs=1"])
    result = asl_edge.train(config, tmp_path / "run")
    assert result.folder == tmp_path / "run" and result.epochs_run == 1
    with pytest.raises(TrainingError, match="already holds a run"):
        asl_edge.train(config, tmp_path / "run")
    assert asl_edge.train(config, tmp_path / "run", force=True).weights_sha256 == result.weights_sha256


def test_export_then_benchmark_then_load_agree(api_run, tmp_path):
    from asl_edge.bench import BenchConfig
    from asl_edge.export import ExportConfig

    cwd, result = api_run
    exported = asl_edge.export(cwd / result.folder, ExportConfig(int8=True, calib_samples=20, max_drop=100.0),
                               tmp_path / "export")
    assert not exported.failed and exported.manifest_path == tmp_path / "export" / "manifest.json"
    assert {"tflite_fp32", "onnx_fp32", "tflite_int8"} <= {a.format for a in exported.artifacts}
    assert all(a.path.is_file() and a.path.stat().st_size == a.size_bytes for a in exported.artifacts)
    assert exported.source_accuracy == pytest.approx(result.accuracy)
    assert exported.manifest["artifacts"][0]["sha256"]  # the whole manifest is there, as written
    out = tmp_path / "results.json"
    measured = asl_edge.benchmark(tmp_path / "export", BenchConfig(**FAST), out=out)
    assert measured.json_path == out and json.loads(out.read_text())["results"] == measured.document["results"]
    rows = {r.artifact: r for r in measured.rows if r.device == "cpu"}
    for art in exported.artifacts:
        assert rows[art.path.name].accuracy == pytest.approx(art.accuracy, abs=1e-6)
    model = asl_edge.load(exported.path("tflite_int8"))
    probe = np.full((16, 16, 3), 230, np.uint8)  # the brightest class of the tiny set
    answer = model.predict(probe)
    assert answer.label == "bright"
    # a model that reads the whole image: no hand search, no box, and the answer says what it read
    assert (answer.source, answer.box, answer.hand_found) == ("array", None, None)
    from PIL import Image

    Image.fromarray(probe).save(tmp_path / "bright.png")
    from_file = model.predict(tmp_path / "bright.png")
    assert (from_file.label, from_file.source, from_file.hand_found) == ("bright", str(tmp_path / "bright.png"), None)
