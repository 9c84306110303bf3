"""asl-edge evaluate --data A --data B: each source scored on its own, then their mean (no TensorFlow)."""

import json
import subprocess
import sys

import numpy as np
import pytest
from conftest import make_tiny_npz

NO_TF = ("import sys; sys.modules.update({m: None for m in ('tensorflow', 'tf_keras', 'keras')}); "
         "from asl_edge.cli import main; main()")


def run_no_tf(*args):
    return subprocess.run([sys.executable, "-c", NO_TF, *map(str, args)], capture_output=True, text=True)


@pytest.fixture(scope="module")
def sources(tmp_path_factory):
    """The training data's kind (easy for the tiny model) and a source whose dark and bright
    classes are swapped (a camera whose exposure reads the other way): every one of those wrong."""
    folder = tmp_path_factory.mktemp("sources")
    easy = make_tiny_npz(folder / "easy.npz", signers=4, seed=5)
    swapped = make_tiny_npz(folder / "swapped.npz", signers=2, seed=6)
    with np.load(swapped) as f:
        d = dict(f)
    d["labels"] = np.array([{0: 2, 1: 1, 2: 0}[int(v)] for v in d["labels"]])
    np.savez(swapped, **d)
    return easy, swapped


def artifact(export_dir):
    manifest = json.loads((export_dir / "manifest.json").read_text())
    return export_dir / next(a["path"] for a in manifest["artifacts"] if a["format"] == "tflite_int8")


def test_each_source_is_scored_on_its_own_and_averaged(tiny_export, sources):
    easy, swapped = sources
    r = run_no_tf("evaluate", artifact(tiny_export), "--data", easy, "--data", swapped, "--json")
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    a, b = doc["sources"]
    assert (a["source"], a["num_samples"], b["source"], b["num_samples"]) == (str(easy), 48, str(swapped), 24)
    assert a["accuracy"] >= 0.9 and b["accuracy"] <= 0.5  # the middle class still reads right
    assert doc["mean"]["accuracy"] == pytest.approx((a["accuracy"] + b["accuracy"]) / 2)
    assert doc["pooled"]["accuracy"] == pytest.approx((48 * a["accuracy"] + 24 * b["accuracy"]) / 72)
    assert doc["num_samples"] == 72 and f"all of {easy}: 48 images" in doc["data"]
    text = run_no_tf("evaluate", artifact(tiny_export), "--data", easy, "--data", swapped)
    assert text.returncode == 0, text.stderr
    assert f"all of {easy}: 48 images" in text.stdout and f"all of {swapped}: 24 images" in text.stdout
    assert f"{a['accuracy'] * 100:.2f}%" in text.stdout and f"{doc['mean']['accuracy'] * 100:.2f}%" in text.stdout
    assert "mean of the 2 data sets" in text.stdout


def test_shifts_are_given_per_source_and_averaged(tiny_export, sources, tmp_path):
    easy, swapped = sources
    out = tmp_path / "eval"
    r = run_no_tf("evaluate", artifact(tiny_export), "--data", easy, "--data", swapped, "--shift", "mirrored",
                  "--shift", "darker_0.3", "--json", "--out", out)
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    assert json.loads((out / "metrics.json").read_text())["mean"] == doc["mean"]
    for name in ("mirrored", "darker_0.3"):
        per = [m["shifts"][name]["accuracy"] for m in doc["sources"]]
        assert doc["mean"]["shifts"][name] == pytest.approx(sum(per) / 2)
    assert doc["mean"]["worst_shift"]["name"] in ("mirrored", "darker_0.3")


def test_a_source_named_twice_is_one_clear_error(tiny_export, sources):
    easy, _ = sources
    r = run_no_tf("evaluate", artifact(tiny_export), "--data", easy, "--data", easy)
    assert r.returncode != 0 and "is given twice" in r.stderr and "Traceback" not in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1
