"""Honest numbers: every score says what it was measured on, and measures that.

- compression works on copies: the manifest's ``source`` is the trained model as it was, and
  compressed artifacts are named for what they are;
- every artifact embeds its held-out split, and ``evaluate``/``benchmark`` score exactly that split,
  also for a file copied on its own; a score that includes training images says so.
"""

import json
import shutil
import subprocess
import sys

import numpy as np
import pytest

from asl_edge.bench.evaluate import evaluate_model
from asl_edge.data.identity import data_fingerprint
from asl_edge.export import ExportConfig, export_run
from asl_edge.runtime import runfolder
from asl_edge.runtime.errors import DataError
from asl_edge.runtime.formats import artifact_name, compression_tag, format_for_path, get_format
from asl_edge.runtime.fsutil import sha256_file
from asl_edge.runtime.metadata import read_metadata

ASL_EDGE = [sys.executable, "-m", "asl_edge"]


def manifest_of(export_dir):
    return json.loads((export_dir / "manifest.json").read_text())


def artifact(export_dir, name):
    return export_dir / next(a["path"] for a in manifest_of(export_dir)["artifacts"] if a["format"] == name)


@pytest.fixture(scope="module")
def pruned_export(tiny_run, tmp_path_factory):
    before = sha256_file(tiny_run / "model.keras")
    out = tmp_path_factory.mktemp("pruned") / "p"
    m = export_run(tiny_run, ExportConfig(prune=0.5, cluster=4, int8=True, epochs=2, families=("tflite",),
                                          calib_samples=20, max_drop=100.0), out)
    assert sha256_file(tiny_run / "model.keras") == before
    return out, m


def test_compression_does_not_change_the_recorded_source(tiny_export, pruned_export):
    """The source of a compressed export is the trained model: same params and accuracy as the
    plain export records for the same file (tfmot's wrappers share the original layers)."""
    _, m = pruned_export
    plain = manifest_of(tiny_export)
    assert m["source"]["model_sha256"] == plain["source"]["model_sha256"]
    assert m["source"]["params"] == plain["source"]["params"]
    assert m["source"]["accuracy"] == plain["source"]["accuracy"]
    assert m["compression"]["sparsity"] >= 0.45


def test_compression_works_on_a_copy(tiny_run):
    from asl_edge.export.compression import copy_model
    from asl_edge.models.io import load_keras_model

    model = load_keras_model(tiny_run / "model.keras")
    weights = [w.copy() for w in model.get_weights()]
    copy = copy_model(model)
    for w in copy.weights:
        w.assign(np.zeros(w.shape, w.dtype.as_numpy_dtype))
    assert all(np.array_equal(a, b) for a, b in zip(weights, model.get_weights()))


def test_compressed_artifacts_are_named_for_what_they_are(tiny_export, pruned_export):
    out, m = pruned_export
    names = {a["format"]: a["path"] for a in m["artifacts"]}
    assert names == {"tflite_fp32": "tiny_p50c4_fp32.tflite", "tflite_int8": "tiny_p50c4_int8.tflite"}
    assert not set(names.values()) & {a["path"] for a in manifest_of(tiny_export)["artifacts"]}
    assert all(format_for_path(out / n).name == f for f, n in names.items())


def test_compression_tags():
    assert compression_tag() == ""
    assert compression_tag(prune=0.5, cluster=4) == "p50c4"
    assert compression_tag(prune=0.5, structured=True, qat=True) == "s24q"
    fmt = get_format("tflite_int8")
    assert artifact_name("m", fmt) == "m_int8.tflite" and artifact_name("m", fmt, "p50") == "m_p50_int8.tflite"


def test_every_artifact_embeds_its_held_out_split(tiny_export, tiny_run, tiny_npz):
    split = json.loads((tiny_run / runfolder.SPLIT_FILE).read_text())
    assert split["fingerprint"] == data_fingerprint(tiny_npz)
    for a in manifest_of(tiny_export)["artifacts"]:
        meta = read_metadata(tiny_export / a["path"])["split"]
        assert meta["test"] == split["test"] and meta["fingerprint"] == split["fingerprint"]
        assert meta["source"] == str(tiny_npz) and meta["seed"] == split["seed"] and "signer" in meta["method"]
    assert manifest_of(tiny_export)["evaluation"]["samples"] == len(split["test"])


@pytest.mark.parametrize("fmt", ["tflite_int8", "onnx_fp32"])
def test_a_copied_artifact_is_scored_on_its_held_out_split(tiny_export, tiny_run, tmp_path, fmt):
    """A file copied alone (no manifest, no run folder) still scores exactly its held-out images."""
    copy = tmp_path / "alone" / artifact(tiny_export, fmt).name
    copy.parent.mkdir()
    shutil.copy(artifact(tiny_export, fmt), copy)
    n_test = len(json.loads((tiny_run / runfolder.SPLIT_FILE).read_text())["test"])
    m = evaluate_model(copy)
    assert m["num_samples"] == n_test and m["includes_training_images"] is False and "warning" not in m
    assert m["data"].startswith("held-out signers of ") and m["data"].endswith(f": {n_test} images")
    exported = next(a for a in manifest_of(tiny_export)["artifacts"] if a["format"] == fmt)
    assert m["accuracy"] == pytest.approx(exported["accuracy"])
    r = subprocess.run([*ASL_EDGE, "evaluate", str(copy)], capture_output=True, text=True)
    assert r.returncode == 0 and f"{n_test} images" in r.stdout and "WARNING" not in r.stderr


def test_scoring_on_training_images_says_so(tiny_export, tiny_npz):
    path = artifact(tiny_export, "tflite_fp32")
    r = subprocess.run([*ASL_EDGE, "evaluate", str(path), "--data", str(tiny_npz), "--json"],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    m = json.loads(r.stdout)
    assert m["includes_training_images"] is True and m["num_samples"] == 144
    assert "WARNING" in r.stderr and "trained on" in r.stderr
    assert "including the model's training images" in m["data"]


def test_benchmark_of_a_copied_artifact_uses_the_held_out_split(tiny_export, tiny_run, tmp_path):
    from asl_edge.bench import BenchConfig, run_benchmark

    copy = tmp_path / artifact(tiny_export, "tflite_int8").name
    shutil.copy(artifact(tiny_export, "tflite_int8"), copy)
    n_test = len(json.loads((tiny_run / runfolder.SPLIT_FILE).read_text())["test"])
    doc = run_benchmark([copy], BenchConfig(threads=(1,), runs=5, warmup=1, rounds=1, gpu=False))
    row = doc["results"][0]
    assert row["num_samples"] == n_test and row["includes_training_images"] is False
    assert doc["data"]["sets"] == [row["data"]] and not doc["warnings"]


@pytest.mark.parametrize("args, message", [
    (["export", "{run}", "--max-drop", "nan"], "--max-drop must be a finite number, got nan"),
    (["export", "{run}", "--max-drop", "-1"], "--max-drop must be at least 0"),
    (["export", "{run}", "--prune", "nan"], "--prune must be a finite number"),
    (["export", "{run}", "--prune", "1"], "--prune must be below 1"),
    (["export", "{run}", "--cluster", "-2"], "--cluster must be at least 0"),
    (["export", "{run}", "--epochs", "0"], "--epochs must be at least 1"),
    (["export", "{run}", "--calib-samples", "-5"], "--calib-samples must be at least 1"),
    (["predict", "{art}", "{art}", "--top-k", "0"], "--top-k must be at least 1"),
    (["predict", "{art}", "{art}", "--threads", "-1"], "--threads must be at least 1"),
    (["benchmark", "{art}", "--threads", "0"], "--threads must be at least 1"),
    (["benchmark", "{art}", "--runs", "-3"], "--runs must be at least 1"),
    (["tune", "--trials", "0"], "--trials must be at least 1"),
])
def test_numeric_options_are_checked_in_one_line(tiny_run, tiny_export, tmp_path, args, message):
    art = artifact(tiny_export, "tflite_fp32")
    args = [a.format(run=tiny_run, art=art) for a in args]
    r = subprocess.run([*ASL_EDGE, *args, "--out", str(tmp_path / "o")] if args[0] in ("export", "tune")
                       else [*ASL_EDGE, *args], capture_output=True, text=True)
    assert r.returncode != 0 and message in r.stderr
    assert "Traceback" not in r.stderr and len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert not (tmp_path / "o").exists()


def test_rows_record_where_they_ran(tiny_export, tiny_run):
    from asl_edge.bench import BenchConfig, run_benchmark

    doc = run_benchmark([tiny_run / "model.keras", artifact(tiny_export, "onnx_fp32")],
                        BenchConfig(threads=(1,), runs=3, warmup=1, rounds=1, gpu=False))
    providers = {r["format"]: r["providers"] for r in doc["results"]}
    assert providers == {"keras": ["/CPU:0"], "onnx_fp32": ["CPUExecutionProvider"]}


def test_onnx_gpu_row_refuses_a_silent_cpu_fallback(tiny_export, monkeypatch):
    """ONNX Runtime drops to the CPU when CUDA fails to load; the GPU row must say so, not time it."""
    import onnxruntime as ort

    from asl_edge.runtime.errors import RuntimeUnavailable
    from asl_edge.runtime.runners import load_runner

    real = ort.InferenceSession

    def cpu_only(path, options, providers):
        assert providers[0] == "CUDAExecutionProvider"
        return real(path, options, providers=["CPUExecutionProvider"])

    monkeypatch.setattr(ort, "get_available_providers", lambda: ["CUDAExecutionProvider", "CPUExecutionProvider"])
    monkeypatch.setattr(ort, "InferenceSession", cpu_only)
    with pytest.raises(RuntimeUnavailable, match="could not use CUDA"):
        load_runner(artifact(tiny_export, "onnx_fp32"), device="gpu")


def test_models_list_describes_edge_cnn_as_the_fast_recipe_builds_it():
    from asl_edge.models import get_spec
    from asl_edge.training import config as cfg

    fast = cfg.resolve("fast")
    assert fast.model.name == "edge_cnn" and fast.model.separable is False
    assert "plain 3x3 convolutions" in get_spec("edge_cnn").description


def test_eval_data_says_what_it_could_not_know(tiny_run, tiny_npz):
    from asl_edge.data.identity import eval_data, split_identity

    run = runfolder.load_run(tiny_run)
    chosen = eval_data(run.preprocessing, None, str(tiny_npz))
    assert chosen.includes_training_images is None and "may include" in chosen.warning
    identity = {**split_identity(run.split), "fingerprint": "sha256:" + "0" * 64}  # the data changed since
    with pytest.raises(DataError, match="not the data this model's split was made on.*pass --data"):
        eval_data(run.preprocessing, identity)
    builtin = {**identity, "source": "builtin"}  # the built-in set, changed: scored whole, said so
    chosen = eval_data(run.preprocessing, builtin)
    assert chosen.includes_training_images is None and "not the data this model's split was made on" in chosen.warning
    assert chosen.description.startswith(f"all of builtin: {len(chosen.dataset)} images (not a held-out split")


def test_benchmark_cli_names_the_data_of_a_copied_artifact(tiny_export, tiny_run, tiny_npz, tmp_path):
    copy = tmp_path / artifact(tiny_export, "tflite_int8").name
    shutil.copy(artifact(tiny_export, "tflite_int8"), copy)
    n_test = len(json.loads((tiny_run / runfolder.SPLIT_FILE).read_text())["test"])
    r = subprocess.run([*ASL_EDGE, "benchmark", str(copy), "--runs", "3", "--rounds", "1", "--warmup", "1",
                        "--no-gpu"], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr[-2000:]
    assert f"accuracy measured on held-out signers of {tiny_npz}: {n_test} images" in r.stdout
    assert "WARNING" not in r.stderr
