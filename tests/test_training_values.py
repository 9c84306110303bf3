"""The numbers training is made of, checked as values: learning-rate schedules step by step,
class-balancing weights, L1/L2 penalties, and what the trainer actually hands to Keras' ``fit``.

A bug here trains a model that still looks fine (it fits, it scores), so each test asserts the
figure the setting must produce, computed by hand beside it.
"""

import numpy as np
import pytest
from conftest import TINY_SETS

from asl_edge.training import config as cfg
from asl_edge.training.trainer import train


def lr_at(schedule, *steps):
    """The rate a float or a Keras schedule gives at each optimizer step."""
    return [float(schedule(s)) if callable(schedule) else float(schedule) for s in steps]


def train_section(**kw):
    return cfg.TrainSection(**{"epochs": 6, "learning_rate": 0.1, **kw})


# ---- learning-rate schedules ------------------------------------------------------------------


def test_step_decay_multiplies_the_rate_by_decay_rate_every_step_epochs():
    from asl_edge.training.schedules import learning_rate

    lr = learning_rate(train_section(schedule="step", step_epochs=2, decay_rate=0.5), steps_per_epoch=10)
    # Keras' PiecewiseConstantDecay keeps a value up to and including its boundary step.
    assert lr_at(lr, 0, 20, 21, 40, 41, 59) == pytest.approx([0.1, 0.1, 0.05, 0.05, 0.025, 0.025])


def test_step_decay_longer_than_the_run_keeps_the_peak():
    from asl_edge.training.schedules import learning_rate

    lr = learning_rate(train_section(schedule="step", step_epochs=10, decay_rate=0.5), steps_per_epoch=10)
    assert lr_at(lr, 0, 30, 59) == pytest.approx([0.1, 0.1, 0.1])


def test_exponential_decay_multiplies_by_decay_rate_once_per_epoch():
    from asl_edge.training.schedules import learning_rate

    lr = learning_rate(train_section(schedule="exponential", decay_rate=0.5), steps_per_epoch=10)
    assert lr_at(lr, 0, 5, 10, 20, 30) == pytest.approx([0.1, 0.1 * 0.5**0.5, 0.05, 0.025, 0.0125])


def test_cosine_decays_from_the_peak_to_zero_over_the_run():
    from asl_edge.training.schedules import learning_rate

    lr = learning_rate(train_section(schedule="cosine"), steps_per_epoch=10)
    assert lr_at(lr, 0, 30, 60) == pytest.approx([0.1, 0.05, 0.0], abs=1e-7)
    # a phase of its own length and peak (fine-tuning): the cosine spans those epochs, from that peak
    phase = learning_rate(train_section(schedule="cosine"), steps_per_epoch=10, epochs=3, peak=0.02)
    assert lr_at(phase, 0, 15, 30) == pytest.approx([0.02, 0.01, 0.0], abs=1e-7)


@pytest.mark.parametrize("schedule", ["constant", "plateau"])
def test_constant_and_plateau_start_as_a_plain_rate(schedule):
    from asl_edge.training.schedules import learning_rate

    assert learning_rate(train_section(schedule=schedule), steps_per_epoch=10) == 0.1
    # epochs and peak given explicitly (a fine-tuning phase) win over the section's
    assert learning_rate(train_section(schedule=schedule), 10, epochs=3, peak=0.02) == 0.02


def test_warmup_rises_linearly_then_hands_over_to_the_schedule_shifted_by_the_warmup():
    from asl_edge.training.schedules import learning_rate

    lr = learning_rate(train_section(schedule="exponential", decay_rate=0.5, warmup_epochs=1), steps_per_epoch=10)
    # step s < 10: peak * (s + 1) / 10; then the exponential decay counted from the end of the warm-up
    assert lr_at(lr, 0, 4, 9, 10, 20) == pytest.approx([0.01, 0.05, 0.1, 0.1, 0.05])
    constant = learning_rate(train_section(schedule="constant", warmup_epochs=2), steps_per_epoch=5)
    assert lr_at(constant, 0, 9, 10, 29) == pytest.approx([0.01, 0.1, 0.1, 0.1])


def test_cosine_after_a_warmup_spans_the_rest_of_the_run():
    from asl_edge.training.schedules import learning_rate

    lr = learning_rate(train_section(schedule="cosine", warmup_epochs=1), steps_per_epoch=10)
    # 10 warm-up steps, then a cosine over the remaining 50
    assert lr_at(lr, 9, 10, 35, 60) == pytest.approx([0.1, 0.1, 0.05, 0.0], abs=1e-7)
    one_step = learning_rate(train_section(schedule="cosine", epochs=1), steps_per_epoch=1)
    assert lr_at(one_step, 0, 1) == pytest.approx([0.1, 0.0], abs=1e-7)


def test_cosine_with_weight_averaging_holds_the_averaging_rate_over_the_averaged_epochs():
    from asl_edge.training.schedules import learning_rate

    section = train_section(schedule="cosine", epochs=10, swa_epochs=3, swa_lr_factor=0.2)
    lr = learning_rate(section, steps_per_epoch=10, averaged_epochs=3)
    # a cosine from 0.1 to 0.2 * 0.1 over the first 70 steps, then 0.02 for the 30 averaged ones
    assert lr_at(lr, 0, 35, 70, 85, 99) == pytest.approx([0.1, 0.06, 0.02, 0.02, 0.02])
    assert lr_at(learning_rate(section, steps_per_epoch=10), 50) == pytest.approx([0.05])  # no averaging


def test_cosine_with_averaging_from_the_second_step_decays_in_one_step():
    from asl_edge.training.schedules import learning_rate

    # 3 epochs of one step, the last 2 averaged: the cosine has a single step to fall to the averaging rate
    section = train_section(schedule="cosine", epochs=3, swa_epochs=2, swa_lr_factor=0.2)
    lr = learning_rate(section, steps_per_epoch=1, averaged_epochs=2)
    assert lr_at(lr, 0, 1, 2) == pytest.approx([0.1, 0.02, 0.02])


def test_an_unknown_schedule_decay_is_refused_naming_it():
    from asl_edge.training.schedules import learning_rate

    # TrainSection built in Python skips the config's checks: the function names the schedule itself
    with pytest.raises(ValueError, match="^unknown schedule sgdr$"):
        learning_rate(train_section(schedule="sgdr"), steps_per_epoch=10)


def test_warmup_survives_a_save_and_load(tmp_path):
    from asl_edge.keras_compat import keras
    from asl_edge.training.schedules import learning_rate

    lr = learning_rate(train_section(schedule="step", step_epochs=1, decay_rate=0.1, warmup_epochs=1),
                       steps_per_epoch=4)
    again = keras.optimizers.schedules.deserialize(keras.optimizers.schedules.serialize(lr))
    assert lr_at(again, 0, 3, 8, 9) == pytest.approx(lr_at(lr, 0, 3, 8, 9))
    assert lr_at(lr, 0, 3, 8, 9) == pytest.approx([0.025, 0.1, 0.1, 0.01])


def test_plateau_callback_multiplies_by_decay_rate_after_its_patience():
    from asl_edge.training.schedules import schedule_callbacks

    (callback,) = schedule_callbacks(train_section(schedule="plateau", decay_rate=0.3, plateau_patience=4))
    assert (callback.factor, callback.patience, callback.monitor) == (pytest.approx(0.3), 4, "val_loss")
    assert callback.verbose == 0  # stdout carries results (train --json), never Keras' messages
    assert schedule_callbacks(train_section(schedule="step")) == []


@pytest.mark.parametrize("name, kind, extra", [
    ("adam", "Adam", {}), ("adamw", "AdamW", {"weight_decay": 0.02}), ("sgd", "SGD", {"momentum": 0.9}),
    ("rmsprop", "RMSprop", {}),
])
def test_each_optimizer_is_built_with_its_rate_and_settings(name, kind, extra):
    from asl_edge.training.schedules import optimizer

    opt = optimizer(train_section(optimizer=name, weight_decay=0.02), 0.004)
    assert type(opt).__name__ == kind
    assert float(opt.learning_rate.numpy()) == pytest.approx(0.004)
    for key, value in extra.items():
        assert float(getattr(opt, key)) == pytest.approx(value)
    if name == "sgd":
        assert opt.nesterov


# ---- class balancing -------------------------------------------------------------------------


def test_class_weights_are_inverse_frequency_and_absent_classes_weigh_one():
    from asl_edge.data.balance import class_weights

    # 4 samples over the 2 present classes: weight = 4 / (2 * count)
    assert class_weights(np.array([0, 0, 0, 1]), 3) == pytest.approx({0: 4 / 6, 1: 2.0, 2: 1.0})
    assert class_weights(np.array([2, 2, 1, 1]), 3) == pytest.approx({0: 1.0, 1: 1.0, 2: 1.0})


@pytest.mark.parametrize("method, counts", [("oversample", [3, 3]), ("undersample", [1, 1]), ("none", [3, 1]),
                                            ("class_weight", [3, 1])])
def test_resampling_equalises_the_classes(method, counts):
    from asl_edge.data.balance import resample_index

    labels = np.array([0, 1, 0, 0])
    index = resample_index(labels, method, seed=0)
    assert np.bincount(labels[index], minlength=2).tolist() == counts
    assert set(index.tolist()) <= {0, 1, 2, 3}
    if method in ("none", "class_weight"):
        assert index.tolist() == [0, 1, 2, 3]


def test_resampling_is_seeded_and_unknown_methods_are_named():
    from asl_edge.data.balance import resample_index
    from asl_edge.runtime.errors import ConfigError

    labels = np.array([0] * 40 + [1] * 7)
    for method in ("oversample", "undersample"):
        once = resample_index(labels, method, seed=3)
        assert once.tolist() == resample_index(labels, method, seed=3).tolist()  # the same draw again
        assert once.tolist() != resample_index(labels, method, seed=4).tolist()
        assert resample_index(labels, method).tolist() == resample_index(labels, method, seed=0).tolist()
    with pytest.raises(ConfigError) as err:
        resample_index(labels, "smote")
    assert str(err.value) == "unknown balancing 'smote'; choose one of: none, class_weight, oversample, undersample"


# ---- regularisation --------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["custom_cnn", "edge_cnn"])
@pytest.mark.parametrize("l1, l2", [(1e-3, 0.0), (0.0, 1e-3), (2e-3, 5e-4)])
def test_regularisation_penalty_is_l1_and_l2_of_every_kernel(name, l1, l2):
    from asl_edge.keras_compat import keras
    from asl_edge.models import ModelConfig, create_model

    keras.utils.set_random_seed(0)
    model = create_model(name, (16, 16, 3), 3, ModelConfig(width=4, depth=2, stem_blocks=0, l1=l1, l2=l2))
    kernels = [w.numpy() for w in model.weights if w.name.split("/")[-1].split(":")[0].endswith("kernel")]
    expected = sum(l1 * np.abs(k).sum() + l2 * np.square(k).sum() for k in kernels)
    assert kernels and float(sum(model.losses)) == pytest.approx(expected, rel=1e-4)


def test_no_regularisation_adds_no_penalty():
    from asl_edge.models import ModelConfig, create_model

    assert not create_model("edge_cnn", (16, 16, 3), 3, ModelConfig(width=4, depth=2, l1=0, l2=0)).losses


# ---- what the trainer hands to Keras -----------------------------------------------------------


@pytest.fixture
def fit_calls(monkeypatch):
    """Every ``Model.fit`` call during the test: the model as compiled, and the training data."""
    from asl_edge.keras_compat import keras

    calls = []
    original = keras.Model.fit

    def spy(self, x=None, *args, **kwargs):
        lr = self.optimizer.get_config()["learning_rate"]  # the schedule itself, serialised, or a float
        lr = keras.optimizers.schedules.deserialize(lr) if isinstance(lr, dict) else lr
        calls.append({"model": self, "data": x, "lr": lr, **kwargs})
        return original(self, x, *args, **kwargs)

    monkeypatch.setattr(keras.Model, "fit", spy)
    return calls


def penalties(model) -> set:
    """The distinct (L1, L2) strengths of the model's kernel regularisers."""
    regs = [getattr(layer, attr, None) for layer in model.layers
            for attr in ("kernel_regularizer", "depthwise_regularizer", "pointwise_regularizer")]
    return {(round(float(r.l1), 9), round(float(r.l2), 9)) for r in regs if r is not None}


def imbalanced_npz(path):
    """Class 0 four times as frequent as classes 1 and 2, in every signer."""
    rng = np.random.default_rng(1)
    labels = np.tile([0, 0, 0, 0, 1, 2], 24)
    images = np.clip(labels[:, None, None, None] * 100 + rng.normal(30, 12, (len(labels), 16, 16, 3)), 0, 255)
    np.savez(path, images=images.astype(np.uint8), labels=labels, groups=np.repeat(np.arange(12), 12),
             class_names=np.array(["dark", "mid", "bright"]))
    return path


def test_class_weight_balancing_weighs_every_training_sample_by_its_class(fit_calls, tmp_path):
    data = imbalanced_npz(tmp_path / "imbalanced.npz")
    train(cfg.resolve("fast", [f"data.source={data}", *TINY_SETS, "train.epochs=1", "data.balance=class_weight"]),
          tmp_path / "run")
    (call,) = fit_calls
    labels, weights = [], []
    for _, y, w in call["data"]:
        labels.extend(np.asarray(y).tolist())
        weights.extend(np.asarray(w).tolist())
    counts = np.bincount(labels, minlength=3)
    assert counts[0] == 4 * counts[1] == 4 * counts[2]
    expected = [len(labels) / (3 * counts[c]) for c in labels]  # scikit-learn's "balanced"
    assert weights == pytest.approx(expected)


def test_oversampling_hands_the_trainer_equal_classes(fit_calls, tmp_path):
    data = imbalanced_npz(tmp_path / "imbalanced.npz")
    train(cfg.resolve("fast", [f"data.source={data}", *TINY_SETS, "train.epochs=1", "data.balance=oversample"]),
          tmp_path / "run")
    labels = np.concatenate([np.asarray(y) for _, y in fit_calls[0]["data"]])
    counts = np.bincount(labels, minlength=3)
    assert counts[0] == counts[1] == counts[2] > 0


@pytest.mark.parametrize("sets, rate", [
    # PiecewiseConstantDecay keeps a value up to and including its boundary step
    (["train.schedule=step", "train.step_epochs=1", "train.decay_rate=0.5"],
     lambda step, per_epoch: 0.03 * 0.5 ** ((step - 1) // per_epoch if step else 0)),
    (["train.schedule=exponential", "train.decay_rate=0.1"], lambda step, per_epoch: 0.03 * 0.1 ** (step / per_epoch)),
    (["train.schedule=constant"], lambda step, per_epoch: 0.03),
])
def test_the_configured_schedule_reaches_the_optimizer(fit_calls, tiny_npz, tmp_path, sets, rate):
    result = train(cfg.resolve("fast", [f"data.source={tiny_npz}", *TINY_SETS, "train.epochs=3", *sets]),
                   tmp_path / "run")
    (call,) = fit_calls
    per_epoch = sum(1 for _ in call["data"])
    steps = [0, per_epoch, per_epoch + 1, 2 * per_epoch + 1, 3 * per_epoch - 1]
    assert lr_at(call["lr"], *steps) == pytest.approx([rate(s, per_epoch) for s in steps])
    assert result.epochs_run == 3


def test_model_settings_reach_the_trained_model(fit_calls, tiny_npz, tmp_path):
    from asl_edge.keras_compat import keras

    train(cfg.resolve("fast", [f"data.source={tiny_npz}", *TINY_SETS, "train.epochs=1", "model.l1=0.002",
                               "model.l2=0.0005", "model.dropout=0.35", "train.learning_rate=0.007"]),
          tmp_path / "run")
    model = fit_calls[0]["model"]
    assert [layer.rate for layer in model.layers if isinstance(layer, keras.layers.Dropout)] == [pytest.approx(0.35)]
    assert penalties(model) == {(0.002, 0.0005)}
    assert lr_at(fit_calls[0]["lr"], 0) == pytest.approx([0.007])


def test_label_smoothing_reaches_the_loss(fit_calls, tiny_npz, tmp_path):
    train(cfg.resolve("fast", [f"data.source={tiny_npz}", *TINY_SETS, "train.epochs=1",
                               "train.label_smoothing=0.2"]), tmp_path / "run")
    model = fit_calls[0]["model"]
    assert model.loss.get_config()["label_smoothing"] == pytest.approx(0.2)
    _, y = next(iter(fit_calls[0]["data"]))
    assert y.shape[-1] == 3  # one-hot targets, which the smoothing needs


# ---- classification metrics ------------------------------------------------------------------


def test_precision_recall_f1_on_a_hand_computed_example():
    from asl_edge.runtime.metrics import classification_metrics

    # true 0 0 0 1 1 2, predicted 0 0 1 1 2 2:
    #   a: 2 of 3 found, no false alarm  -> precision 1,   recall 2/3, F1 0.8
    #   b: 1 of 2 found, 1 false alarm   -> precision 1/2, recall 1/2, F1 1/2
    #   c: 1 of 1 found, 1 false alarm   -> precision 1/2, recall 1,   F1 2/3
    y_true = np.array([0, 0, 0, 1, 1, 2])
    probs = np.eye(3)[[0, 0, 1, 1, 2, 2]] * 0.8 + 0.1
    m = classification_metrics(y_true, probs, ["a", "b", "c"])
    per = {k: (v["precision"], v["recall"], v["f1"], v["support"]) for k, v in m["per_class"].items()}
    assert per == {"a": pytest.approx((1.0, 2 / 3, 0.8, 3)), "b": pytest.approx((0.5, 0.5, 0.5, 2)),
                   "c": pytest.approx((0.5, 1.0, 2 / 3, 1))}
    assert m["accuracy"] == pytest.approx(4 / 6)
    assert m["macro_precision"] == pytest.approx(2 / 3)
    assert m["macro_recall"] == pytest.approx((2 / 3 + 1 / 2 + 1) / 3)
    assert m["macro_f1"] == pytest.approx((0.8 + 0.5 + 2 / 3) / 3)
    assert m["weighted_f1"] == pytest.approx((3 * 0.8 + 2 * 0.5 + 1 * 2 / 3) / 6)
    assert m["confusion_matrix"] == [[2, 1, 0], [0, 1, 1], [0, 0, 1]]
    assert (m["num_samples"], m["class_names"]) == (6, ["a", "b", "c"])


def test_a_class_never_predicted_scores_zero_not_an_error():
    import warnings

    from asl_edge.runtime.metrics import classification_metrics, format_report

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # scikit-learn's "ill-defined precision" warning would be noise
        m = classification_metrics(np.array([0, 1, 2]), np.eye(3)[[0, 0, 0]], ["a", "b", "c"])
    assert m["per_class"]["b"] == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 1}
    assert m["per_class"]["a"]["precision"] == pytest.approx(1 / 3)
    assert m["macro_f1"] == pytest.approx((0.5 + 0 + 0) / 3)
    lines = format_report({**m, "data": "3 test images"}).splitlines()
    assert lines[0] == "     class precision    recall        f1  support"
    assert lines[1].split() == ["a", "0.333", "1.000", "0.500", "1"]
    assert lines[-2].split() == ["macro", "0.111", "0.333", "0.167", "3"]
    assert lines[-1] == "accuracy 33.33%   macro F1 0.167   on 3 test images"


def test_images_without_a_hand_count_as_wrong_in_every_figure():
    from asl_edge.runtime.metrics import classification_metrics, format_report

    # every prediction right, but no hand in the second image of class b
    m = classification_metrics(np.array([0, 1, 1]), np.eye(2)[[0, 1, 1]], ["a", "b"],
                               found=np.array([True, True, False]))
    assert m["accuracy"] == pytest.approx(2 / 3) and m["per_class"]["b"]["recall"] == pytest.approx(0.5)
    assert m["per_class"]["b"]["precision"] == 1.0 and (m["no_hand"], m["no_hand_share"]) == (1, pytest.approx(1 / 3))
    assert m["confusion_matrix"] == [[1, 0], [0, 1]]
    assert format_report(m).splitlines()[-2:] == ["accuracy 66.67%   macro F1 0.833",
                                                  "no hand found in 1 of 3 images (33.3%; counted as wrong)"]
    # the same, read whole where no hand was found: that reading counts (here it was right)
    m = classification_metrics(np.array([0, 1, 1]), np.eye(2)[[0, 1, 1]], ["a", "b"],
                               found=np.array([True, True, False]), read_whole=True)
    assert (m["accuracy"], m["no_hand"], m["confusion_matrix"]) == (1.0, 1, [[1, 0], [0, 2]])
    assert format_report(m).splitlines()[-1] == "no hand found in 1 of 3 images (33.3%; the whole picture read)"


def test_weight_averaging_keeps_the_exact_running_mean():
    from asl_edge.training.averaging import running_mean

    sets = [[np.array([1.0, 4.0]), np.array([[2.0]])], [[3.0, 0.0], [[6.0]]], [[8.0, 2.0], [[1.0]]]]
    mean = None
    for count, weights in enumerate(sets, start=1):
        mean = running_mean(mean, [np.asarray(w) for w in weights], count)
    assert [m.tolist() for m in mean] == [pytest.approx([4.0, 2.0]), [[pytest.approx(3.0)]]]
