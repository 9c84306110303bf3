"""One short end-to-end run on the real built-in data: train, evaluate on raw photographs.

Marked ``e2e``; it trains the fast recipe's model for two epochs on the whole built-in set.
"""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

pytestmark = pytest.mark.e2e

ASL_EDGE = [sys.executable, "-m", "asl_edge"]
RAW = Path(__file__).resolve().parents[2] / "shared" / "datasets" / "asl-digits"


def run(*args, cwd=None):
    r = subprocess.run([*ASL_EDGE, *map(str, args)], capture_output=True, text=True, cwd=cwd)
    assert r.returncode == 0, r.stderr[-3000:]
    return r.stdout


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    out = tmp_path_factory.mktemp("e2e") / "run"
    run("train", "--out", out, "--set", "train.epochs=2")
    return out


def test_train_on_builtin_writes_metrics_by_signer(trained):
    metrics = json.loads((trained / "metrics.json").read_text())
    assert metrics["split"]["method"].startswith("stratified-group")
    assert metrics["split"]["groups"]["test"] >= 20
    # Two epochs are too few for a useful model (BatchNorm statistics have not settled), so check
    # the figure against its own confusion matrix rather than a level.
    cm = np.asarray(metrics["confusion_matrix"])
    assert len(metrics["per_class"]) == 10 and cm.shape == (10, 10) and cm.sum() == metrics["num_samples"]
    assert metrics["accuracy"] == pytest.approx(np.trace(cm) / cm.sum())
    assert metrics["evaluated_on"] == f"held-out signers of builtin: {metrics['num_samples']} images"
    assert metrics["includes_training_images"] is False


def test_raw_photographs_of_held_out_signers_score_exactly_as_in_training(trained, tmp_path):
    """No train/serve skew: raw JPEGs of the test signers give the very accuracy training recorded."""
    if not RAW.is_dir():
        pytest.skip("the original photographs are not beside this checkout")
    from asl_edge.data.builtin import BUILTIN_FILE

    split = json.loads((trained / "split.json").read_text())
    with np.load(BUILTIN_FILE) as z:
        names = z["filenames"]
    for i in split["test"]:
        dest = tmp_path / "raw" / names[i]
        dest.parent.mkdir(parents=True, exist_ok=True)
        dest.symlink_to(RAW / names[i])
    raw = json.loads(run("evaluate", trained, "--data", tmp_path / "raw", "--json"))
    recorded = json.loads((trained / "metrics.json").read_text())
    assert raw["num_samples"] == recorded["num_samples"]
    assert raw["accuracy"] == recorded["accuracy"]
    assert raw["confusion_matrix"] == recorded["confusion_matrix"]


def test_evaluate_run_folder_defaults_to_its_held_out_split(trained, tmp_path):
    out = json.loads(run("evaluate", trained, "--json", "--out", tmp_path / "ev"))
    recorded = json.loads((trained / "metrics.json").read_text())
    assert out["accuracy"] == recorded["accuracy"]
    assert (tmp_path / "ev" / "confusion_matrix.png").is_file()
