"""Export on a tiny model: every format in the table exports, loads back and agrees with its source."""

import dataclasses
import json
import shutil
import subprocess
import sys

import numpy as np
import pytest

from asl_edge.data.runs import run_dataset
from asl_edge.export import ExportConfig, export_run
from asl_edge.runtime.errors import ConfigError, ExportError, IntegrityError, ModelError
from asl_edge.runtime.formats import export_formats, format_for_path, get_format
from asl_edge.runtime.integrity import check_artifact, verify_export_dir
from asl_edge.runtime.metadata import read_metadata
from asl_edge.runtime.preprocess import Preprocessing
from asl_edge.runtime.runners import load_runner

# The int8_mixed rows are written only when full int8 fails --max-drop: tests/test_quant_layers.py.
ARTIFACT_FORMATS = [f for f in export_formats() if f.family != "keras" and f.flag != "max_drop"]
ASL_EDGE = [sys.executable, "-m", "asl_edge"]


def manifest_of(export_dir):
    return json.loads((export_dir / "manifest.json").read_text())


def entry(export_dir, fmt):
    return next(a for a in manifest_of(export_dir)["artifacts"] if a["format"] == fmt.name)


@pytest.mark.parametrize("fmt", ARTIFACT_FORMATS, ids=lambda f: f.name)
def test_each_format_exports_loads_and_agrees(tiny_export, tiny_run, fmt):
    from asl_edge.runtime import runfolder

    a = entry(tiny_export, fmt)
    path = tiny_export / a["path"]
    assert path.name.endswith(fmt.suffix) and format_for_path(path) == fmt
    assert a["status"] == "ok" and a["size_bytes"] == path.stat().st_size and len(a["sha256"]) == 64
    if fmt.tolerance is not None:
        assert a["max_abs_diff"] <= fmt.tolerance and a["agreement"] == 1.0
    else:  # quantised: top-1 agreement with the trained model on its held-out images
        assert a["agreement"] >= 0.9
    assert a["accuracy"] >= manifest_of(tiny_export)["source"]["accuracy"] - 0.1
    # It runs in its runtime and gives probabilities like the Keras model's on real inputs.
    run = runfolder.load_run(tiny_run)
    test = run_dataset(run, part="test")
    x = test.preprocessing.normalize(test.load_images())
    probs = load_runner(path).predict(x)
    keras_probs = load_runner(run.model_path).predict(x)
    assert probs.shape == keras_probs.shape
    np.testing.assert_allclose(probs, keras_probs, atol=fmt.tolerance if fmt.tolerance is not None else 0.2)


@pytest.mark.parametrize("fmt", ARTIFACT_FORMATS, ids=lambda f: f.name)
def test_metadata_is_embedded_in_every_artifact(tiny_export, tiny_run, fmt):
    from asl_edge.runtime import runfolder

    meta = read_metadata(tiny_export / entry(tiny_export, fmt)["path"])
    run = runfolder.load_run(tiny_run)
    assert meta["labels"] == list(run.class_names)
    assert Preprocessing.from_dict(meta["preprocessing"]) == run.preprocessing


def test_int8_tflite_records_quantisation_and_sizes_order(tiny_export):
    int8 = entry(tiny_export, get_format("tflite_int8"))
    assert int8["input"]["dtype"] == "int8" and int8["input"]["quantization"]["scale"] > 0
    sizes = {p: entry(tiny_export, get_format(f"tflite_{p}"))["size_bytes"] for p in ("int8", "fp16", "fp32")}
    assert sizes["int8"] < sizes["fp16"] < sizes["fp32"]


def test_manifest_has_the_contract_fields(tiny_export):
    m = manifest_of(tiny_export)
    assert {"artifacts", "labels", "preprocessing", "versions", "source", "float_accuracy"} <= set(m)
    for a in m["artifacts"]:
        assert {
            "path",
            "format",
            "precision",
            "size_bytes",
            "size_gzip_bytes",
            "sha256",
            "accuracy",
            "agreement",
        } <= set(a)
    assert (tiny_export / "labels.txt").read_text().split() == m["labels"]
    assert all(ok for _, ok, _ in verify_export_dir(tiny_export))


def test_gate_fails_int8_but_keeps_float_artifacts(tiny_run, tmp_path):
    out = tmp_path / "gated"
    config = ExportConfig(int8=True, calib_samples=20)
    object.__setattr__(config, "max_drop", -1.0)  # a gate no artifact passes (the CLI refuses negatives)
    m = export_run(tiny_run, config, out)
    assert all("points below the float model" in a["status"] for a in m["failed"])
    written = {a["format"] for a in manifest_of(out)["artifacts"]}
    assert written == {"tflite_fp32", "onnx_fp32"}
    assert {a["format"] for a in manifest_of(out)["failed"]} == {"tflite_int8", "onnx_int8"}
    assert not list(out.glob("*_int8.*"))


def test_pruning_reaches_target_sparsity(tiny_run, tmp_path):
    m = export_run(tiny_run, ExportConfig(prune=0.5, epochs=3, families=("tflite",), calib_samples=20), tmp_path / "p")
    assert abs(m["compression"]["sparsity"] - 0.5) <= 0.01


def test_prune_preserving_qat_and_clustering(tiny_run, tmp_path):
    m = export_run(
        tiny_run,
        ExportConfig(prune=0.5, qat=True, epochs=2, families=("tflite",), calib_samples=20, max_drop=100.0),
        tmp_path / "pq",
    )
    assert m["compression"]["qat"] == "prune-preserving" and not m["failed"]
    int8 = next(a for a in m["artifacts"] if a["precision"] == "int8")
    assert int8["input"]["dtype"] == "int8"
    c = export_run(tiny_run, ExportConfig(cluster=4, epochs=1, families=("tflite",)), tmp_path / "c")
    assert c["compression"]["max_unique_weights"] <= 4


def test_fine_tuning_and_calibration_use_the_runs_augmentation(tiny_run, tmp_path, monkeypatch):
    """Fine-tuning without the recipe's augmentation unlearns camera robustness (the compressed
    fast reference lost 11 points on mirrored hands): QAT trains, and half the calibration images
    are shown, through the run's own augmentation."""
    from asl_edge.training import config as cfg
    from asl_edge.training import pipeline

    run = tmp_path / "run"
    shutil.copytree(tiny_run, run)
    saved = cfg.load_run_config(run)
    robust = dataclasses.replace(saved, augment=dataclasses.replace(saved.augment, enabled=True, flip=True))
    (run / "config.yaml").write_text(cfg.to_yaml(robust))
    seen = []
    real = pipeline.augmenter

    def spy(aug, seed, *backgrounds):
        seen.append(aug)
        return real(aug, seed, *backgrounds)

    monkeypatch.setattr(pipeline, "augmenter", spy)
    qat = ExportConfig(qat=True, epochs=1, families=("tflite",), calib_samples=20, max_drop=100.0)
    m = export_run(run, qat, tmp_path / "q")
    # fine-tuning, then half the calibration images
    assert seen == [robust.augment, robust.augment]
    assert m["compression"]["fine_tune_augmentation"] == "the run's (config.yaml)"
    assert m["calibration"] == {"samples": 20, "from": "training split", "augmented": 10,
                                "augmentation": "the run's (config.yaml)"}

    (run / "config.yaml").unlink()  # a run folder from elsewhere: no recipe to follow
    seen.clear()
    m = export_run(run, qat, tmp_path / "q2")
    assert seen == [cfg.AugmentSection(enabled=False)]
    assert m["compression"]["fine_tune_augmentation"] == "none (config.yaml missing)"
    assert m["calibration"]["augmented"] == 0


def test_a_run_config_export_cannot_read_is_one_clear_error(tiny_run, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(tiny_run, run)
    (run / "config.yaml").write_text((run / "config.yaml").read_text().replace("model:\n", "model:\n  kernel: 5\n"))
    with pytest.raises(ConfigError, match=r"config.yaml: unknown config key 'model.kernel'"):
        export_run(run, ExportConfig(int8=True, families=("tflite",), calib_samples=20), tmp_path / "x")
    assert not (tmp_path / "x").exists()


def test_augmented_calibration_gives_the_same_artifact_every_time(tiny_run, tmp_path):
    from asl_edge.training import config as cfg

    run = tmp_path / "run"
    shutil.copytree(tiny_run, run)
    saved = cfg.load_run_config(run)
    robust = dataclasses.replace(saved, augment=cfg.resolve("fast").augment)  # the camera-robust augmentation
    (run / "config.yaml").write_text(cfg.to_yaml(robust))
    config = ExportConfig(int8=True, families=("tflite",), calib_samples=40, calib_augmented=1.0, max_drop=100.0)
    digests = set()
    for name in ("a", "b"):
        m = export_run(run, config, tmp_path / name)
        assert m["calibration"]["augmented"] == 40
        digests.add(next(a["sha256"] for a in m["artifacts"] if a["precision"] == "int8"))
    assert len(digests) == 1
    plain = export_run(run, dataclasses.replace(config, calib_augmented=0.0), tmp_path / "plain")
    assert next(a["sha256"] for a in plain["artifacts"] if a["precision"] == "int8") not in digests


def test_prune_then_cluster_keeps_the_zeros(tiny_run, tmp_path):
    """tfmot's PCQAT pipeline: sparsity-preserving clustering, then QAT that keeps both."""
    m = export_run(
        tiny_run,
        ExportConfig(prune=0.5, cluster=4, qat=True, epochs=2, families=("tflite",), calib_samples=20, max_drop=100.0),
        tmp_path / "pcq",
    )
    assert m["compression"]["qat"] == "prune+cluster-preserving" and not m["failed"]
    assert m["compression"]["sparsity_after_clustering"] >= m["compression"]["sparsity"] - 0.01
    assert m["compression"]["max_unique_weights"] <= 4 + 1  # the clusters plus the preserved zero


@pytest.mark.parametrize("recipe, sets, expected", [
    ("fast", [], "asl-digits-fast"),  # the reference exports' name, whatever --out the run had
    ("camera", [], "asl-digits-camera"),
    ("fast", ["model.name=deep_cnn"], "asl-digits-fast-deep_cnn"),  # --model replaced the recipe's network
    ("accurate", ["model.name=deep_cnn"], "asl-digits-accurate"),  # the recipe's own network
    ("fast", ["data.source=/data/my photos/"], "my-photos-fast"),
    ("fast", ["model.export_name=mine"], "mine"),
])
def test_training_records_the_artifacts_name_from_data_and_recipe(recipe, sets, expected):
    from asl_edge.training import config as cfg

    assert cfg.with_export_name(cfg.resolve(recipe, sets), recipe).model.export_name == expected


def test_artifacts_are_named_as_training_recorded_not_after_the_run_folder(tiny_run, tmp_path):
    """`make demo` trains into runs/demo/train: its artifacts must not be train_int8.tflite."""
    from asl_edge.export.pipeline import export_name
    from asl_edge.runtime.runfolder import load_run
    from asl_edge.training import config as cfg

    assert export_name(load_run(tiny_run), ExportConfig()) == "tiny"  # a run that recorded no name: its folder's
    run = tmp_path / "train"
    shutil.copytree(tiny_run, run)
    saved = cfg.load_run_config(run)
    named = dataclasses.replace(saved, model=dataclasses.replace(saved.model, export_name="tiny-fast"))
    (run / "config.yaml").write_text(cfg.to_yaml(named))
    assert export_name(load_run(run), ExportConfig(name="given")) == "given"  # --name wins
    m = export_run(run, ExportConfig(families=("tflite",)), tmp_path / "x")
    assert [a["path"] for a in m["artifacts"]] == ["tiny-fast_fp32.tflite"] and m["name"] == "tiny-fast"
    assert read_metadata(tmp_path / "x" / "tiny-fast_fp32.tflite")["model"] == "tiny-fast"


def test_existing_export_is_refused_without_force(tiny_export, tiny_run, tmp_path):
    copy = tmp_path / "copy"
    shutil.copytree(tiny_export, copy)
    with pytest.raises(ExportError, match="already holds an export"):
        export_run(tiny_run, ExportConfig(), copy)


@pytest.mark.parametrize(
    "config_kwargs, message",
    [
        (dict(calib_samples=0), "calib-samples must be at least 1"),
        (dict(calib_augmented=1.5), r"calib-augmented is a share of the calibration images: it must lie in \[0, 1\]"),
        (dict(prune=1.5), "--prune must lie in"),
        (dict(prune=float("nan")), "--prune must lie in"),
        (dict(max_drop=float("nan")), "--max-drop must be"),
        (dict(max_drop=-1.0), "--max-drop must be"),
        (dict(families=("coreml",)), "--formats takes tflite and/or onnx"),
        (dict(name="../up"), "--name must be 1-64 letters"),
        (dict(name="x" * 65), "--name must be 1-64 letters"),
        (dict(localiser={"margin": 0.5}), "--localiser: the localiser's margin shapes the hand the classifier was "
                                           "trained on"),
        (dict(localiser={"max_candidates": "six"}), "--localiser: localiser field max_candidates takes a whole number"),
        (dict(localiser={"wider": 1}), "--localiser: unknown localiser field wider"),
        (dict(views=("sideways",)), "--views: views takes each of centre, left, right, up, down at most once, got "
                                    "sideways"),
        (dict(views=("up", "up")), "--views: views takes each of centre"),
    ],
)
def test_bad_export_options(config_kwargs, message):
    with pytest.raises(ConfigError, match=message):
        ExportConfig(**config_kwargs)


def test_hand_search_settings_need_a_model_with_a_hand_localiser(tiny_run, tmp_path):
    with pytest.raises(ExportError, match="has no hand localiser"):
        export_run(tiny_run, ExportConfig(localiser={"max_candidates": 6}), tmp_path / "x")
    r = subprocess.run([*ASL_EDGE, "export", str(tiny_run), "--localiser", "max_candidates",
                        "--out", str(tmp_path / "o")], capture_output=True, text=True)
    assert r.returncode != 0 and "--localiser takes FIELD=VALUE" in r.stderr and len(r.stderr.strip().splitlines()) == 1


def test_small_calibration_set_is_refused(tiny_run, tmp_path):
    with pytest.raises(ExportError, match="too small"):
        export_run(tiny_run, ExportConfig(int8=True, calib_samples=3), tmp_path / "x")


def test_folder_without_model_and_corrupt_model(tiny_run, tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(ModelError, match="model.keras is missing"):
        export_run(tmp_path / "empty", ExportConfig())
    broken = tmp_path / "broken"
    shutil.copytree(tiny_run, broken)
    (broken / "model.keras").write_bytes(b"PK\x03\x04 not really a zip")
    r = subprocess.run([*ASL_EDGE, "export", str(broken), "--out", str(tmp_path / "o")], capture_output=True, text=True)
    assert r.returncode != 0 and "not a valid .keras file" in r.stderr and len(r.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize("fmt", ARTIFACT_FORMATS, ids=lambda f: f.name)
def test_flipped_byte_is_caught_and_truncation_is_one_error(tiny_export, tmp_path, fmt, capsys):
    copy = tmp_path / "copy"
    shutil.copytree(tiny_export, copy)
    path = copy / entry(copy, fmt)["path"]
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(IntegrityError, match="sha256 does not match"):
        check_artifact(path)
    r = subprocess.run([*ASL_EDGE, "verify", str(copy)], capture_output=True, text=True)
    assert r.returncode != 0 and "failed verification" in r.stderr
    path.write_bytes(bytes(data[: len(data) // 3]))
    with pytest.raises(ModelError):
        load_runner(path)


def test_unknown_format_lists_choices():
    with pytest.raises(ConfigError, match="Unknown format 'x'; choose one of: keras, tflite_fp32"):
        get_format("x")


def test_structured_2_4_sparsity(tiny_run, tmp_path):
    m = export_run(tiny_run, ExportConfig(structured=True, epochs=2, families=("tflite",)), tmp_path / "s")
    assert m["compression"]["pruning"] == "2:4 structured" and not m["failed"]
    assert m["compression"]["sparsity"] >= 0.45  # two of every four weights in each pruned kernel


def test_structured_2_4_is_a_pattern(tiny_run):
    """Not just half the weights zero: at least two zeros in every block of four consecutive input
    channels of each pruned kernel (tfmot's M-by-N sparsity runs along the input-channel axis)."""
    from asl_edge.data.runs import run_dataset
    from asl_edge.export import compression
    from asl_edge.models.io import load_keras_model
    from asl_edge.runtime import runfolder
    from asl_edge.training.pipeline import make_dataset

    run = runfolder.load_run(tiny_run)
    train = make_dataset(run_dataset(run, part="train"), 16)
    model = compression.prune(load_keras_model(run.model_path), train, train, 0.0, 1, 5, structured_2_4=True)
    checked = 0
    for layer in model.layers:
        kernels = [w.numpy() for w in layer.weights if w.name.split("/")[-1].startswith("kernel")]
        for k in kernels:
            if k.ndim < 2 or k.shape[-2] % 4:
                continue  # tfmot leaves kernels whose input side is not a multiple of 4 dense
            blocks = np.moveaxis(k, -2, -1).reshape(-1, 4)
            assert ((blocks == 0).sum(1) >= 2).all(), layer.name
            checked += 1
    assert checked >= 2
