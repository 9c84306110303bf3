"""Late fusion of a landmark and a crop classifier: the combinations' values, and the benchmark's
choice of weight and its fused scores (``benchmarks/landmarks_vs_crops.py``)."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from asl_edge.runtime.errors import DataError
from asl_edge.runtime.fusion import COMBINATIONS, LOG_FLOOR, FusionSpec, fuse
from asl_edge.runtime.landmarks import LandmarkFeatures
from tests.conftest import load_script

A = np.array([[0.7, 0.2, 0.1], [0.1, 0.1, 0.8]], np.float32)
B = np.array([[0.2, 0.5, 0.3], [0.0, 0.9, 0.1]], np.float32)


def expected(name: str, w: float) -> np.ndarray:
    """Each combination written out by hand, element by element."""
    out = np.zeros_like(A, np.float64)
    for i in range(A.shape[0]):
        for j in range(A.shape[1]):
            a, b = float(A[i, j]), float(B[i, j])
            out[i, j] = w * a + (1 - w) * b if name == "mean" else \
                np.exp(w * np.log(max(a, LOG_FLOOR)) + (1 - w) * np.log(max(b, LOG_FLOOR)))
        if name == "log":
            out[i] /= out[i].sum()
    return out


@pytest.mark.parametrize("name", COMBINATIONS)
@pytest.mark.parametrize("w", [0.0, 0.3, 0.5, 1.0])
def test_fusion_is_the_weighted_combination(name, w):
    np.testing.assert_allclose(fuse(A, B, w, name), expected(name, w), rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("name", COMBINATIONS)
def test_fused_outputs_are_probabilities_and_the_ends_are_each_model(name):
    for w in (0.0, 0.25, 0.8, 1.0):
        p = fuse(A, B, w, name)
        np.testing.assert_allclose(p.sum(1), 1.0, rtol=1e-5)
    np.testing.assert_allclose(fuse(A, B, 1.0, name), A / A.sum(1, keepdims=True), atol=1e-6)
    np.testing.assert_allclose(fuse(A, B, 0.0, name), np.maximum(B, LOG_FLOOR if name == "log" else 0) /
                               np.maximum(B, LOG_FLOOR if name == "log" else 0).sum(1, keepdims=True), atol=1e-5)


def test_fused_outputs_are_float32_and_the_mean_unless_told_otherwise():
    p = fuse(A.astype(np.float64), B.astype(np.float64), 0.3)
    assert p.dtype == np.float32  # as the artifacts' outputs
    np.testing.assert_allclose(p, expected("mean", 0.3), rtol=1e-6)


@pytest.mark.parametrize("name", COMBINATIONS)
def test_any_leading_shape_fuses_as_its_rows(name):
    # one image's vectors, and a batch of views of each image: the classes are always the last axis
    np.testing.assert_allclose(fuse(A[1], B[1], 0.3, name), expected(name, 0.3)[1], rtol=1e-5)
    np.testing.assert_allclose(fuse(A[None], B[None], 0.3, name), expected(name, 0.3)[None], rtol=1e-5)


def test_a_zero_probability_does_not_veto_the_other_models_answer():
    # the crop model is sure of class 1, the landmark model gives it an int8 zero: the geometric mean
    # still weighs the evidence instead of ruling class 1 out
    assert fuse(np.array([[0.6, 0.0, 0.4]]), np.array([[0.0, 1.0, 0.0]]), 0.4, "log").argmax() == 1


@pytest.mark.parametrize("bad, message", [
    ({"combination": "max"}, "unknown fusion 'max'; choose one of: mean, log$"),
    ({"weight": 1.5}, "from 0 to 1"), ({"weight": -0.1}, "from 0 to 1"), ({"weight": True}, "from 0 to 1"),
    ({"second": B[:1]}, "differ in shape"),
])
def test_bad_fusion_settings_fail_in_one_line(bad, message):
    kw = {"first": A, "second": B, "weight": 0.5, "combination": "mean", **bad}
    with pytest.raises(DataError, match=message):
        fuse(**kw)


# -- the fusion an artifact records ------------------------------------------------------------------------
def _spec(**changes) -> dict:
    return {"landmarks": {"use_z": True, "version": 1}, "combination": "log", "weight": 0.3, "version": 1, **changes}


@pytest.mark.parametrize("flag", [True, False])
def test_a_recorded_fusion_round_trips_and_an_old_one_reads_as_written(flag):
    spec = FusionSpec.from_dict(_spec(hand_flag=flag))
    assert (spec.combination, spec.weight, spec.hand_flag) == ("log", 0.3, flag)
    assert spec.features == LandmarkFeatures(use_z=True)
    # an artifact fused before the hand flag has none: it is written back without one
    assert spec.to_dict() == (_spec(hand_flag=True) if flag else _spec())
    assert FusionSpec.from_dict(spec.to_dict()) == spec


@pytest.mark.parametrize("bad, message", [
    (_spec(combination="max"), "unknown fusion 'max'; choose one of: mean, log$"),
    (_spec(weight=1.01), "from 0 to 1, got 1.01$"), (_spec(weight=-0.01), "from 0 to 1, got -0.01$"),
    (_spec(weight=True), "from 0 to 1, got True$"), (_spec(weight="0.3"), "from 0 to 1, got '0.3'$"),
    (_spec(hand_flag=1), "'hand_flag' must be true or false, got 1$"),
    (_spec(version=2), "fusion version 2 is not supported \\(this asl-edge reads 1\\)$"),
    (_spec(extra=1), "unknown fusion keys: extra$"),
    (_spec(landmarks=[1]), "fusion 'landmarks' must be an object$"),
    (_spec(landmarks={"use_z": "yes"}), "use_z"),
    ([1], "preprocessing 'fusion' must be an object$"),
])
def test_a_bad_recorded_fusion_is_refused_in_one_line(bad, message):
    with pytest.raises(DataError, match=message):
        FusionSpec.from_dict(bad)


def test_the_ends_of_the_weight_range_are_taken():
    assert [FusionSpec.from_dict(_spec(weight=w)).weight for w in (0, 1.0)] == [0, 1.0]


# -- the benchmark's fusion: weight chosen on validation data, then scored ------------------------------
@pytest.fixture(scope="module")
def lvc():
    return load_script("benchmarks/landmarks_vs_crops.py")


def synthetic(seed: int = 0):
    """Two shifts besides unchanged: the landmark model narrowly wrong on "jpeg", the crop model on
    "bg", each where the other is sure and right."""
    rng = np.random.default_rng(seed)
    n, k = 40, 4
    labels = rng.integers(0, k, n)
    sure = np.eye(k)[labels] * 0.7 + 0.075
    narrowly_wrong = np.eye(k)[(labels + 1) % k] * 0.175 + np.eye(k)[labels] * 0.125 + 0.175
    lm = np.stack([sure, narrowly_wrong, sure])     # unchanged, "jpeg", "bg"
    cam = np.stack([sure, sure, narrowly_wrong])
    found = {m: np.ones((3, n), bool) for m in ("landmarks", "camera")}
    return ["unchanged", "jpeg", "bg"], labels, {"landmarks": lm, "camera": cam}, found


FAMILY = {"jpeg": "sensor", "bg": "background"}


def test_fused_scores_count_a_frame_without_a_hand_wrong_and_use_the_model_that_found_one(lvc):
    names, labels, probs, found = synthetic()
    found["landmarks"][0, :10] = False   # only the crop model's search found these
    found["camera"][0, :5] = False       # ... and neither found the first 5
    p, f = lvc._fused(probs, found, 0.5, "mean")
    assert not f[0, :5].any() and f[0, 5:].all()
    np.testing.assert_allclose(p[0, 5:10], probs["camera"][0, 5:10])
    entry = lvc._entry("x", names, FAMILY, p, f, labels)
    assert entry["no_hand"] == 5 and entry["accuracy"] == pytest.approx(35 / 40)


def test_read_whole_answers_a_frame_without_a_hand_with_the_crop_models_whole_picture(lvc):
    names, labels, probs, found = synthetic()
    for m in found:
        found[m][0, :5] = False  # the shared search found no hand: the crop model read the whole picture
    p, f = lvc._fused(probs, found, 0.5, "mean", read_whole=True)
    assert f.all()
    np.testing.assert_allclose(p[0, :5], probs["camera"][0, :5])
    np.testing.assert_allclose(p[0, 5:], lvc._fused(probs, found, 0.5, "mean")[0][0, 5:])  # the rest as before
    summary = lvc._summary(names, FAMILY, labels, p, f)
    assert summary["unchanged"] == 1.0 and summary["shifts"] == 2 and summary["accuracy"]["jpeg"] == 1.0


def test_variants_summarise_each_landmark_model_alone_and_fused(lvc):
    names, labels, probs, found = synthetic()
    alone = lvc._summary(names, FAMILY, labels, probs["landmarks"], found["landmarks"])
    assert alone["accuracy"] == {"unchanged": 1.0, "jpeg": 0.0, "bg": 1.0}
    assert alone["mean_over_shifts"] == 0.5 and alone["mean_backgrounds"] == 1.0 and alone["shifts_at_least_95"] == 1
    assert alone["worst_shift"] == {"name": "jpeg", "accuracy": 0.0}


def test_the_weight_chosen_is_the_one_with_the_best_mean_over_the_shifts(lvc):
    names, labels, probs, found = synthetic()
    chosen = lvc.choose_weight(names, labels, probs, found)
    best = max(r["mean_over_shifts"] for r in chosen["sweep"])
    pick = next(r for r in chosen["sweep"] if (r["combination"], r["weight"]) ==
                (chosen["chosen"]["combination"], chosen["chosen"]["weight"]))
    assert pick["mean_over_shifts"] == best == 1.0  # the fusion reads both shifts right, neither model alone does
    for end in (0.0, 1.0):
        alone = next(r for r in chosen["sweep"] if r["combination"] == "mean" and r["weight"] == end)
        assert alone["mean_over_shifts"] == 0.5
    assert 0.0 < pick["weight"] < 1.0


# -- the fused artifact: one int8 TFLite from a landmark and a crop artifact ----------------------------
from tests import test_landmarks as landmark_tests  # noqa: E402  (its real-hand fixtures, module-scoped here too)

HAND_CLASSES, NO_TF = landmark_tests.HAND_CLASSES, landmark_tests.NO_TF
hands_npz = pytest.fixture(scope="module", name="hands_npz")(landmark_tests.hands_npz.__wrapped__)
landmark_export = pytest.fixture(scope="module", name="landmark_export")(landmark_tests.landmark_export.__wrapped__)

ASL_EDGE = [sys.executable, "-m", "asl_edge"]


@pytest.fixture(scope="module")
def crop_artifact(tiny_export, landmark_export, tmp_path_factory):
    """The tiny int8 CNN as a camera (crop) model of the landmark model's three signs and split: its
    metadata given the hand localiser and the 64 px frames the landmark model was held out on."""
    from dataclasses import replace

    from asl_edge.runtime.hands import LocaliserConfig
    from asl_edge.runtime.metadata import read_metadata, write_metadata
    from asl_edge.runtime.preprocess import Preprocessing

    _, lm_out, lm_manifest, _ = landmark_export
    lm_meta = read_metadata(lm_out / next(a["path"] for a in lm_manifest["artifacts"] if a["format"] == "tflite_int8"))
    art = tmp_path_factory.mktemp("crop") / "crop_int8.tflite"
    art.write_bytes(next(tiny_export.glob("*_int8.tflite")).read_bytes())
    meta = read_metadata(art)
    pre = replace(Preprocessing.from_dict(meta["preprocessing"]), resize_chain=(64,),
                  localiser={**LocaliserConfig().to_dict(), "upright": True})
    write_metadata(art, list(HAND_CLASSES), pre.to_dict(), {"split": lm_meta["split"]})
    return art


@pytest.fixture(scope="module")
def lm_artifact(landmark_export):
    _, out, manifest, _ = landmark_export
    return out / next(a["path"] for a in manifest["artifacts"] if a["format"] == "tflite_int8")


@pytest.mark.parametrize("hand_flag", [True, False])
@pytest.mark.parametrize("combination", COMBINATIONS)
def test_fused_graph_outputs_the_weighted_combination_of_its_two_models(lm_artifact, crop_artifact, combination,
                                                                        hand_flag):
    from asl_edge.export.fusion import FusionParts, fuse_tflite
    from asl_edge.runtime.runners import load_runner

    lm, crop = load_runner(lm_artifact, threads=1), load_runner(crop_artifact, threads=1)
    buf = fuse_tflite(lm_artifact.read_bytes(), crop_artifact.read_bytes(),
                      FusionParts(crop.input_shape, lm.input_shape[0], 3, hand_flag), 0.3, combination)
    path = crop_artifact.parent / f"fused_{combination}_{hand_flag}.tflite"
    path.write_bytes(buf)
    fused = load_runner(path, threads=1)
    rng = np.random.default_rng(1)
    for n in (1, 6):  # one row, then a batch (the graph's batch dimension follows the input)
        x_crop = rng.normal(size=(n, *crop.input_shape)).astype(np.float32)
        x_lm = rng.normal(size=(n, *lm.input_shape)).astype(np.float32) * 2
        flag = (np.arange(n) % 2 == 0).astype(np.float32)[:, None]  # a hand in every other row
        row = [x_crop.reshape(n, -1), x_lm, *([flag] if hand_flag else [])]
        got = fused.predict(np.concatenate(row, axis=1))
        p_lm, p_crop = lm.predict(x_lm), crop.predict(x_crop)
        want = fuse(p_lm, p_crop, 0.3, combination)
        if hand_flag:  # a row without a hand: the crop model's own answer (renormalised by the log combination)
            want = np.where(flag > 0, want, fuse(p_lm, p_crop, 0.0, combination))
            alone = p_crop[flag[:, 0] == 0]
            alone = alone / alone.sum(axis=1, keepdims=True) if combination == "log" else alone
            np.testing.assert_allclose(got[flag[:, 0] == 0], alone, atol=1e-5)
        np.testing.assert_allclose(got, want, atol=1e-6)
        assert not np.allclose(want[:1], fuse(p_lm, p_crop, 0.7, combination)[:1], atol=1e-3)


def test_fuse_command_writes_a_checked_artifact_that_runs_without_tensorflow(lm_artifact, crop_artifact, hands_npz,
                                                                             tmp_path):
    from PIL import Image

    from asl_edge.runtime.fusion import fused_rows
    from asl_edge.runtime.predict import load_predictor
    from asl_edge.runtime.runners import load_runner

    out = tmp_path / "fused"
    r = subprocess.run([sys.executable, "-c", NO_TF, "fuse", str(lm_artifact), str(crop_artifact), "--weight", "0.4",
                        "--out", str(out), "--name", "tiny-fusion", "--json"], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    manifest = json.loads(r.stdout)
    (entry,) = manifest["artifacts"]
    assert entry["status"] == "ok" and entry["max_abs_diff"] <= 1e-4 and entry["agreement"] == 1.0
    assert manifest["fusion"] == {"landmarks": {"use_z": True, "version": 1}, "combination": "log", "weight": 0.4,
                                  "version": 1, "hand_flag": True}
    art = out / "tiny-fusion_int8.tflite"
    v = subprocess.run([*ASL_EDGE, "verify", str(out)], capture_output=True, text=True)
    assert v.returncode == 0, v.stderr
    i = subprocess.run([sys.executable, "-c", NO_TF, "info", str(art)], capture_output=True, text=True)
    assert i.returncode == 0 and "log of a landmark model (weight 0.4)" in i.stdout, i.stderr
    assert "without a hand found: the crop model alone, on the whole picture" in i.stdout
    assert str(lm_artifact) in i.stdout and str(crop_artifact) in i.stdout
    data = np.load(hands_npz)
    pictures = [data["images"][list(data["labels"]).index(i)] for i in range(3)]  # one photograph of each sign...
    pictures.append(np.full_like(pictures[0], 128))  # ...and a grey one without a hand: read whole, by the crop model
    for i, picture in enumerate(pictures):
        Image.fromarray(picture).save(tmp_path / f"sign{i}.png")
    p = subprocess.run([sys.executable, "-c", NO_TF, "predict", str(art), str(tmp_path), "--json", "--top-k", "3"],
                       capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    got = {json.loads(line)["path"].rsplit("/", 1)[-1]: json.loads(line) for line in p.stdout.splitlines()}
    # the same hand search by hand, each source artifact on its own part, fused in NumPy
    pre = load_predictor(art).preprocessing
    rows, found = fused_rows(pre, pictures)
    assert not found[3] and found[:3].sum() >= 2
    x, pixels = pre.normalize(rows), int(np.prod(load_runner(crop_artifact).input_shape))
    crop = load_runner(crop_artifact).predict(x[:, :pixels].reshape(-1, 16, 16, 3))
    p_lm = load_runner(lm_artifact).predict(x[:, pixels:-1])
    want = np.where(found[:, None], fuse(p_lm, crop, 0.4, "log"), fuse(p_lm, crop, 0.0, "log"))  # 0: the crop alone
    for i in range(4):
        row = got[f"sign{i}.png"]
        assert row["hand"] is bool(found[i])
        assert {t["label"]: t["probability"] for t in row["top"]} == pytest.approx(
            {HAND_CLASSES[j]: float(want[i, j]) for j in range(3)}, abs=2e-4)


@pytest.mark.parametrize("swap, message", [
    (True, "is not a landmark model"),
    (False, "different labels"),
])
def test_fuse_refuses_models_that_cannot_be_fused_in_one_line(lm_artifact, crop_artifact, tiny_export, tmp_path,
                                                              swap, message):
    other = next(tiny_export.glob("*_int8.tflite"))  # no localiser, other labels
    args = [str(crop_artifact), str(lm_artifact)] if swap else [str(lm_artifact), str(other)]
    if not swap:
        from asl_edge.runtime.metadata import read_metadata, write_metadata
        from asl_edge.runtime.preprocess import Preprocessing

        copy = tmp_path / "other_int8.tflite"
        copy.write_bytes(crop_artifact.read_bytes())
        meta = read_metadata(copy)
        write_metadata(copy, ["a", "b", "c"], Preprocessing.from_dict(meta["preprocessing"]).to_dict(),
                       {"split": meta["split"]})
        args[1] = str(copy)
    out = tmp_path / "out"
    r = subprocess.run([*ASL_EDGE, "fuse", *args, "--weight", "0.5", "--out", str(out)], capture_output=True, text=True)
    assert r.returncode != 0 and not out.exists()
    assert r.stderr.startswith("asl-edge: error:") and message in r.stderr and len(r.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize("setting, recorded, message", [
    ("reread=true", True, None),  # what the landmarks are read from, set over the crop artifact's search
    ("margin=0.3", None, "--localiser: the localiser's margin shapes the hand the classifier was trained on"),
    ("reread", None, "--localiser"),
])
def test_fuse_sets_search_fields_over_the_crop_artifacts(lm_artifact, crop_artifact, tmp_path, setting, recorded,
                                                         message):
    from asl_edge.runtime.metadata import read_metadata

    out = tmp_path / "out"
    r = subprocess.run([*ASL_EDGE, "fuse", str(lm_artifact), str(crop_artifact), "--weight", "0.4", "--out", str(out),
                        "--name", "tiny-fusion", "--localiser", setting, "--json"], capture_output=True, text=True)
    if message:
        assert r.returncode != 0 and not out.exists() and len(r.stderr.strip().splitlines()) == 1
        assert r.stderr.startswith(f"asl-edge: error: {message}"), r.stderr
        return
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["preprocessing"]["localiser"]["reread"] is recorded
    assert read_metadata(out / "tiny-fusion_int8.tflite")["preprocessing"]["localiser"]["reread"] is recorded
    assert read_metadata(crop_artifact)["preprocessing"]["localiser"].get("reread") is not recorded


@pytest.fixture(scope="module")
def fused_artifact(lm_artifact, crop_artifact, tmp_path_factory):
    from asl_edge.export.fusion import FuseConfig, fuse_exports

    out = tmp_path_factory.mktemp("fused") / "export"
    manifest = fuse_exports(FuseConfig(lm_artifact, crop_artifact, 0.4, name="tiny-fusion"), out=out)
    return out / manifest["artifacts"][0]["path"]


def test_a_live_frame_without_a_hand_gets_no_label_where_a_single_picture_is_read_whole(fused_artifact, hands_npz):
    from PIL import Image

    from asl_edge.runtime.predict import classify_frame, load_predictor

    predictor = load_predictor(fused_artifact)
    data = np.load(hands_npz)
    hand = next(img for img in data["images"] if predictor.predict(img).hand_found)
    blank = np.full_like(hand, 128)
    label, probability, box = classify_frame(predictor, Image.fromarray(hand))  # a live frame with a hand...
    read = predictor.predict(hand)
    assert (label, box is not None) == (read.label, True) and probability == pytest.approx(read.probability)
    assert classify_frame(predictor, Image.fromarray(blank)) == (None, 0.0, None)  # ...and one without: no label
    single = predictor.predict(blank)  # the same picture on its own: the crop model reads it whole
    assert single.hand_found is False and single.label is not None
