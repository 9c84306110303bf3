"""Export verification's figures and gates: every artifact's accuracy, drop, agreement and largest
difference, measured on the held-out images, and the checks that keep a failing artifact out.

A stand-in runner answers with chosen probabilities, so every figure has a value computed by hand."""

import numpy as np
import pytest

from asl_edge.export import pipeline
from asl_edge.runtime.formats import get_format

Y = np.array([0, 1, 2, 0, 1, 2, 0, 1, 2, 0])  # 10 held-out images, 3 classes


def _one_hot(labels, n=3) -> np.ndarray:
    return np.eye(n, dtype=np.float32)[labels]


class StandIn:
    """A runner whose answers are fixed: the i-th image of any call gets ``answers[i]``."""

    runtime = "stand-in"
    input_shape = (8, 8, 3)
    input_dtype = np.dtype("int8")

    def __init__(self, answers: np.ndarray, quantization=(0.0078125, -128)):
        self.answers, self.input_quantization, self.calls = answers, quantization, []

    def predict(self, x: np.ndarray) -> np.ndarray:
        self.calls.append(len(x))
        return self.answers[x[:, 0].astype(int)]


def _verify(monkeypatch, fmt: str, answers, *, float_probs=None, source_probs=None, float_acc=1.0, max_drop=1.0,
            quantization=(0.0078125, -128)):
    runner = StandIn(np.asarray(answers), quantization)
    monkeypatch.setattr("asl_edge.runtime.runners.load_runner", {"model.tflite": runner}.__getitem__)
    x = np.arange(len(Y), dtype=np.float32)[:, None]  # image i carries its index
    entry = pipeline._verify(get_format(fmt), "model.tflite", x, Y,
                             _one_hot(Y) if float_probs is None else float_probs,
                             _one_hot(Y) if source_probs is None else source_probs, float_acc, max_drop)
    return entry, runner


def test_a_float_artifact_within_tolerance_is_ok_with_its_figures(monkeypatch):
    answers = _one_hot(Y) * 0.99995 + 0.00005 / 3  # probabilities 5e-5 from the float model's
    entry, _ = _verify(monkeypatch, "tflite_fp32", answers)
    assert entry["status"] == "ok"
    assert entry["runtime"] == "stand-in"
    assert entry["input"] == {"shape": [None, 8, 8, 3], "dtype": "int8",
                              "quantization": {"scale": 0.0078125, "zero_point": -128}}
    assert (entry["accuracy"], entry["accuracy_drop_pp"], entry["agreement"]) == (1.0, 0.0, 1.0)
    assert entry["max_abs_diff"] == pytest.approx(0.00005 * 2 / 3, rel=1e-3)
    assert entry["tolerance"] == 1e-4


def test_a_float_artifact_past_its_tolerance_fails_naming_the_difference(monkeypatch):
    answers = _one_hot(Y)
    answers[3] = (0.9, 0.1, 0.0)  # image 3: 0.1 from the float model's answer, still right
    entry, _ = _verify(monkeypatch, "tflite_fp32", answers, quantization=None)
    assert entry["max_abs_diff"] == pytest.approx(0.1)
    assert entry["input"]["quantization"] is None
    assert entry["status"] == "failed: max |diff| 1.00e-01 from Keras exceeds 0.0001"
    answers = answers.astype(np.float64)
    answers[3] = (1.0, 1e-4, 0.0)  # exactly the tolerance (not a probability, but a difference of 1e-4): passes
    assert _verify(monkeypatch, "tflite_fp32", answers)[0]["status"] == "ok"


def test_a_quantised_artifact_is_gated_by_its_accuracy_drop_from_the_float_model(monkeypatch):
    wrong = Y.copy()
    wrong[[1, 4]] = 0  # two of ten images wrong: accuracy 0.8
    answers = _one_hot(wrong) * 0.8 + 0.2 / 3
    source = _one_hot(Y)
    source[4] = (1.0, 0.0, 0.0)  # the trained model was wrong on image 4 too: the artifact agrees there
    entry, _ = _verify(monkeypatch, "tflite_int8", answers, source_probs=source, float_acc=0.9, max_drop=10.0)
    assert entry["accuracy"] == pytest.approx(0.8)
    assert entry["accuracy_drop_pp"] == 10.0  # 0.9 - 0.8, in percentage points, rounded to 0.001
    assert entry["agreement"] == pytest.approx(0.9)  # all but image 1
    assert entry["max_abs_diff"] == pytest.approx(1 - 0.2 / 3)  # a wrong image's right class
    assert entry["tolerance"] is None
    assert entry["status"] == "ok"  # a drop of exactly --max-drop passes
    entry, _ = _verify(monkeypatch, "tflite_int8", answers, float_acc=0.9, max_drop=9.99)
    assert entry["status"] == ("failed: accuracy 0.8000 is 10.00 points below the float model (0.9000); "
                               "--max-drop is 9.99")


def test_a_float_artifact_is_not_gated_by_accuracy(monkeypatch):
    answers = _one_hot(Y)
    entry, _ = _verify(monkeypatch, "tflite_fp32", answers, float_acc=1.0, max_drop=-5.0)
    assert entry["status"] == "ok"
    fp16 = _one_hot(np.where(Y == 2, 0, Y)) * 0.995 + 0.005 / 3
    float_probs = fp16.copy()
    entry, _ = _verify(monkeypatch, "tflite_fp16", fp16, float_probs=float_probs, float_acc=1.0, max_drop=0.0)
    assert entry["accuracy_drop_pp"] == 30.0 and entry["status"] == "ok"  # within 1e-2 of the float model
    entry, _ = _verify(monkeypatch, "tflite_int8", _one_hot(Y), float_acc=1.0123456, max_drop=5.0)
    assert entry["accuracy_drop_pp"] == 1.235  # (1.0123456 - 1.0) * 100 in percentage points, to three decimals


def test_answers_are_gathered_in_batches_of_256_in_order(monkeypatch):
    runner = StandIn(np.arange(600 * 2, dtype=np.float32).reshape(600, 2))
    x = np.arange(600, dtype=np.float32)[:, None]
    out = pipeline._predict(runner, x)
    np.testing.assert_array_equal(out, runner.answers)
    assert runner.calls == [256, 256, 88]
    runner.calls = []
    np.testing.assert_array_equal(pipeline._predict(runner, x, batch=500), runner.answers)
    assert runner.calls == [500, 100]
