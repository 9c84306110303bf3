"""asl-edge tune (Optuna) and data-info on tiny data."""

import csv
import json
import subprocess
import sys

import pytest
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


def test_each_trial_trains_through_the_trainer_with_its_own_values(tiny_npz, tmp_path, monkeypatch):
    """A trial's model is the trainer's, built with the trial's dropout, L2 and learning rate and the
    recipe's label smoothing and class weights; its score is its history's best validation accuracy."""
    from asl_edge.keras_compat import keras

    fits = []
    original = keras.Model.fit

    def spy(self, x=None, *args, **kwargs):
        lr = keras.optimizers.schedules.deserialize(self.optimizer.get_config()["learning_rate"])
        fits.append((self, x, float(lr(0))))
        return original(self, x, *args, **kwargs)

    monkeypatch.setattr(keras.Model, "fit", spy)
    base = cfg.resolve("fast", [f"data.source={tiny_npz}", *TINY_SETS, "train.label_smoothing=0.1",
                                "data.balance=class_weight", "train.schedule=cosine"])
    result = run_tuning(base, TuneConfig(trials=2, epochs=2), tmp_path)
    rows = sorted(result.rows, key=lambda r: r["trial"])
    assert len(fits) == len(rows) == 2
    for (model, data, lr), row in zip(fits, rows):
        assert [layer.rate for layer in model.layers if isinstance(layer, keras.layers.Dropout)] == \
            [pytest.approx(row["model.dropout"])]
        l2 = {float(layer.kernel_regularizer.l2) for layer in model.layers
              if getattr(layer, "kernel_regularizer", None) is not None}
        assert sorted(l2) == ([pytest.approx(row["model.l2"], rel=1e-6)] if row["model.l2"] else [])
        assert lr == pytest.approx(row["train.learning_rate"], rel=1e-6)
        assert model.loss.get_config()["label_smoothing"] == pytest.approx(0.1)
        assert len(next(iter(data))) == 3  # (images, targets, class weights)
        history = list(csv.DictReader(open(tmp_path / "trials" / str(row["trial"]) / "history.csv")))
        assert len(history) == 2
        assert row["val_accuracy"] == round(max(float(h["val_accuracy"]) for h in history), 4)
    assert not list(tmp_path.glob("trials/*/metrics.json"))  # the test split is never scored
    assert not list(tmp_path.glob("trials/*/checkpoints"))


def test_data_info_counts_classes_signers_and_writes_a_grid(tiny_npz, tmp_path):
    r = subprocess.run([sys.executable, "-m", "asl_edge", "data-info", "--data", str(tiny_npz), "--out",
                        str(tmp_path), "--json"], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    summary = json.loads(r.stdout)
    assert summary["class_counts"] == {"dark": 48, "mid": 48, "bright": 48}
    assert summary["signers"] == 12 and summary["imbalance_ratio"] == 1.0
    assert (tmp_path / "samples.png").stat().st_size > 1000
