"""asl-edge tune (Optuna) and data-info on tiny data."""

import csv
import json
import subprocess
import sys

from conftest import TINY_SETS

from asl_edge.training import config as cfg
from asl_edge.training.tune import TuneConfig, run_tuning


def test_tune_writes_a_ranked_table_from_validation_only(tiny_npz, tmp_path):
    base = cfg.resolve("fast", [f"data.source={tiny_npz}", *TINY_SETS])
    result = run_tuning(base, TuneConfig(trials=3, epochs=2), tmp_path)
    rows = list(csv.DictReader(open(tmp_path / "tuning.csv")))
    assert len(rows) == 3 and {"model.dropout", "model.l2", "train.learning_rate", "val_accuracy"} <= set(rows[0])
    scores = [float(r["val_accuracy"]) for r in rows if r["val_accuracy"]]
    assert scores == sorted(scores, reverse=True) and round(result.best_value, 4) == scores[0]
    assert 0.0 <= result.best_params["model.dropout"] <= 0.6
    best = json.loads((tmp_path / "best.json").read_text())
    assert best["split"]["method"].startswith("stratified-group")  # tuned on signers kept apart
    assert "| trial |" in (tmp_path / "tuning.md").read_text()


def test_data_info_counts_classes_signers_and_writes_a_grid(tiny_npz, tmp_path):
    r = subprocess.run([sys.executable, "-m", "asl_edge", "data-info", "--data", str(tiny_npz), "--out",
                        str(tmp_path), "--json"], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    summary = json.loads(r.stdout)
    assert summary["class_counts"] == {"dark": 48, "mid": 48, "bright": 48}
    assert summary["signers"] == 12 and summary["imbalance_ratio"] == 1.0
    assert (tmp_path / "samples.png").stat().st_size > 1000
