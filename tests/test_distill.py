"""Knowledge distillation (``train --teacher``): the loss, the teacher's targets, a student that
learns from the teacher alone, resume after SIGKILL, and the teachers that must be refused."""

import json
import subprocess
import sys

import numpy as np
import pytest
from conftest import TINY_SETS

from asl_edge.runtime.errors import ConfigError
from asl_edge.training import config as cfg
from asl_edge.training.trainer import train

ASL_EDGE = [sys.executable, "-m", "asl_edge"]


def sets(data, *extra):
    return [f"data.source={data}", *TINY_SETS, *extra]


@pytest.fixture(scope="module")
def teacher(tiny_npz, tmp_path_factory):
    """A confident teacher: soft labels of a barely trained one say little about the argmax."""
    out = tmp_path_factory.mktemp("teacher") / "run"
    result = train(cfg.resolve("fast", sets(tiny_npz, "train.epochs=20")), out)
    assert result.metrics["accuracy"] == 1.0
    return out


@pytest.mark.parametrize("weight", [0.0, 0.5, 1.0])
@pytest.mark.parametrize("temperature", [1.0, 4.0])
def test_loss_is_hinton_mix_of_cross_entropy_and_tempered_kl(weight, temperature):
    from asl_edge.training.distill import distillation_loss

    rng = np.random.default_rng(0)
    student = rng.dirichlet(np.ones(3), 5).astype(np.float32)
    teacher_p = rng.dirichlet(np.ones(3), 5).astype(np.float32)
    labels = np.eye(3, dtype=np.float32)[rng.integers(0, 3, 5)]

    def soft(p):
        z = np.exp(np.log(p) / temperature)
        return z / z.sum(-1, keepdims=True)

    ce = -(labels * np.log(student)).sum(-1)
    kl = (soft(teacher_p) * (np.log(soft(teacher_p)) - np.log(soft(student)))).sum(-1) * temperature ** 2
    expected = ((1 - weight) * ce + weight * kl).mean()
    loss = distillation_loss(3, temperature, weight)(np.concatenate([labels, teacher_p], -1), student)
    assert float(loss) == pytest.approx(expected, rel=1e-4)


@pytest.mark.parametrize("student_side", [16, 24])
def test_targets_are_labels_then_the_teachers_outputs_on_the_same_batch(teacher, student_side):
    from asl_edge.keras_compat import tf
    from asl_edge.models import io as model_io
    from asl_edge.training.distill import with_teacher

    model = model_io.load_keras_model(teacher / "model.keras")
    x = np.random.default_rng(1).normal(size=(4, student_side, student_side, 3)).astype(np.float32)
    y = np.array([0, 2, 1, 2])
    (xb, targets), = with_teacher(tf.data.Dataset.from_tensors((x, y)), model, 3).as_numpy_iterator()
    np.testing.assert_array_equal(xb, x)
    np.testing.assert_array_equal(targets[:, :3], np.eye(3)[y])
    seen = x if student_side == 16 else tf.image.resize(x, (16, 16)).numpy()  # the teacher's side
    np.testing.assert_allclose(targets[:, 3:], model.predict(seen, verbose=0), atol=1e-5)


def test_student_learns_from_the_teacher_alone(tiny_npz, teacher, tmp_path):
    # distill_weight=1: the labels play no part in the loss, so everything learnt came through the teacher.
    config = cfg.resolve("fast", sets(tiny_npz, "train.epochs=12", "train.distill_weight=1.0",
                                      "train.distill_temperature=2.0"), train__teacher=str(teacher))
    result = train(config, tmp_path / "student")
    assert result.metrics["accuracy"] == 1.0
    saved = cfg.from_dict(__import__("yaml").safe_load((tmp_path / "student" / "config.yaml").read_text()))
    assert saved.train.teacher == str(teacher)


def test_distillation_run_resumes_after_sigkill(tiny_npz, teacher, tmp_path):
    """The checkpoint's compiled loss is asl-edge's DistillationLoss: it must pass the allow-list and load."""
    from test_training_behaviour import killed_then_resumed

    out = tmp_path / "run"
    args = [a for s in sets(tiny_npz, "train.epochs=8", "train.early_stopping_patience=0") for a in ("--set", s)]
    killed_then_resumed(["--teacher", str(teacher), *args], out)
    assert json.loads((out / "metrics.json").read_text())["accuracy"] > 0.5


@pytest.mark.parametrize("extra, message", [
    (["train.seed=1"], "held-out split"),  # another split: the teacher trained on the student's test signers
    (["data.normalization=per_image"], "normalization"),
    (["data.color_mode=grayscale"], "color_mode"),
    (["train.distill_weight=1.5"], "distill_weight"),
])
def test_teachers_that_cannot_teach_honestly_are_refused(tiny_npz, teacher, tmp_path, extra, message):
    config_sets = sets(tiny_npz, "train.epochs=1", *extra)
    with pytest.raises(ConfigError, match=message):
        train(cfg.resolve("fast", config_sets, train__teacher=str(teacher)), tmp_path / "student")


def test_cli_missing_teacher_is_one_line(tiny_npz, tmp_path):
    args = [a for s in sets(tiny_npz, "train.epochs=1") for a in ("--set", s)]
    proc = subprocess.run([*ASL_EDGE, "train", "--out", str(tmp_path / "s"), "--teacher", str(tmp_path / "nope"),
                           *args], capture_output=True, text=True)
    assert proc.returncode != 0
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "nope" in lines[0] and "Traceback" not in proc.stderr


def test_distillation_experiment_writes_teacher_alone_and_distilled_rows(tiny_npz, tmp_path):
    from conftest import load_script

    experiment = load_script("benchmarks/distill_experiment.py")  # imports compare_architectures beside it
    out = tmp_path / "distill.json"
    base = [a for s in sets(tiny_npz) for a in ("--base-set", s)]
    assert experiment.main([*base, "--runs", "20", "--work", str(tmp_path / "w"), "--out", str(out)]) == 0
    doc = json.loads(out.read_text())
    rows = {r["role"]: r for r in doc["results"]}
    assert set(rows) == {"teacher", "alone", "distilled"} and rows["teacher"]["model"] == "deep_cnn"
    assert rows["distilled"]["model"] == rows["alone"]["model"] == "edge_cnn"
    assert rows["distilled"]["int8_size_bytes"] == rows["alone"]["int8_size_bytes"]  # the student's size
    assert set(doc["gap_closed"]) == {"accuracy", "int8_accuracy", "mean_shift_accuracy"}
    saved = (tmp_path / "w" / "distilled" / "train" / "config.yaml").read_text()
    assert str(tmp_path / "w" / "teacher" / "train") in saved
