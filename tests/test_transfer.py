"""Transfer learning end to end, from a weights file made here (the ``model.weights=PATH`` route):
phase one trains the head on a frozen backbone, phase two exactly the top ``fine_tune_layers`` at
``fine_tune_lr_factor`` of the rate, a two-phase run resumes after SIGKILL in either phase, and a
backbone of random weights trains whole."""

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from asl_edge.runtime import runfolder
from asl_edge.training import config as cfg
from asl_edge.training import trainer
from asl_edge.training.trainer import train

ASL_EDGE = [sys.executable, "-m", "asl_edge"]
MODEL, APP, SIDE = "mobilenetv3small", "MobileNetV3Small", 32
RATE, FACTOR, TOP = 0.01, 0.25, 12


@pytest.fixture(scope="module")
def weights_file(tmp_path_factory):
    """The backbone's own weights (Keras application layer names), as an ImageNet file would hold them."""
    from asl_edge.keras_compat import keras

    keras.utils.set_random_seed(123)
    base = getattr(keras.applications, APP)(include_top=False, weights=None, input_shape=(SIDE, SIDE, 3),
                                            minimalistic=True, include_preprocessing=False)
    path = tmp_path_factory.mktemp("weights") / "backbone.h5"
    base.save_weights(str(path))
    return path, {layer.name: [w.copy() for w in layer.get_weights()] for layer in base.layers if layer.weights}


def sets(data, weights, *extra):
    return [f"data.source={data}", f"model.name={MODEL}", f"model.weights={weights}", f"data.image_size={SIDE}",
            "data.normalization=fixed", "augment.enabled=false", "train.batch_size=16", "data.val_fraction=0.25",
            "data.test_fraction=0.25", f"train.learning_rate={RATE}", f"train.fine_tune_lr_factor={FACTOR}",
            f"train.fine_tune_layers={TOP}", "train.early_stopping_patience=0", *extra]


def backbone(model):
    from asl_edge.models.transfer import BASE_PREFIX

    return [layer for layer in model.layers if layer.name.startswith(BASE_PREFIX)]


def changed(model, original) -> set[str]:
    """Backbone layers (by their Keras application name) whose weights differ from the file's."""
    from asl_edge.models.transfer import BASE_PREFIX

    out = set()
    for layer in backbone(model):
        name = layer.name[len(BASE_PREFIX):]
        if name in original and any(not np.array_equal(a, b) for a, b in zip(layer.get_weights(), original[name])):
            out.add(name)
    return out


def final_model(folder):
    from asl_edge.models import io as model_io

    return model_io.load_keras_model(runfolder.load_run(folder).model_path)


def test_random_backbones_get_batchnorm_averages_that_can_follow_a_small_data_set(weights_file):
    from asl_edge.models import ModelConfig, create_model
    from asl_edge.models.transfer import RANDOM_INIT_BN_MOMENTUM

    def momenta(weights):
        model = create_model(MODEL, (SIDE, SIDE, 3), 3, ModelConfig(weights=weights))
        return {layer.momentum for layer in backbone(model) if layer.__class__.__name__ == "BatchNormalization"}

    assert momenta("none") == {RANDOM_INIT_BN_MOMENTUM}
    assert momenta(str(weights_file[0])) == {0.999}  # pretrained: Keras' own, kept


def test_weights_file_is_loaded_into_the_backbone(tiny_npz, weights_file):
    from asl_edge.models import ModelConfig, create_model

    path, original = weights_file
    model = create_model(MODEL, (SIDE, SIDE, 3), 3, ModelConfig(weights=str(path)))
    assert not changed(model, original)
    fresh = create_model(MODEL, (SIDE, SIDE, 3), 3, ModelConfig(weights="none"))
    assert len(changed(fresh, original)) > 10  # the comparison can tell random weights from the file's


def head_layers(model):
    return [layer for layer in model.layers if layer.name.startswith("head_") or layer.name == "probabilities"]


@pytest.fixture(scope="module")
def compiled_heads():
    """The head's weights as each training phase was compiled (before it trained), in order."""
    return []


@pytest.fixture(scope="module")
def two_phases(tiny_npz, weights_file, tmp_path_factory, compiled_heads):
    """One head epoch, then one fine-tuning epoch; the rate each phase compiled with."""
    path, _ = weights_file
    rates = []
    original_compile = trainer._compile

    def spy(model, config, steps, epochs, peak, num_classes, *rest):
        loss = original_compile(model, config, steps, epochs, peak, num_classes, *rest)
        lr = model.optimizer.learning_rate
        rates.append(float(lr(0)) if callable(lr) else float(lr.numpy()))
        compiled_heads.append({layer.name: [w.copy() for w in layer.get_weights()] for layer in head_layers(model)})
        return loss

    trainer._compile = spy
    try:
        head = train(cfg.resolve("fast", sets(tiny_npz, path, "train.epochs=1")), tmp_path_factory.mktemp("h") / "r")
        both = train(cfg.resolve("fast", sets(tiny_npz, path, "train.epochs=1", "train.fine_tune_epochs=1")),
                     tmp_path_factory.mktemp("b") / "r")
    finally:
        trainer._compile = original_compile
    return head.folder, both.folder, rates


def test_phase_one_leaves_the_backbone_as_loaded_and_trains_the_head(two_phases, weights_file, compiled_heads):
    head, _, rates = two_phases
    model = final_model(head)
    assert not changed(model, weights_file[1])
    assert rates[0] == pytest.approx(RATE)
    # the head did learn: every head layer with weights differs from the weights it was compiled with
    before = compiled_heads[0]
    trained = {layer.name: layer.get_weights() for layer in head_layers(model) if layer.get_weights()}
    assert trained and set(trained) <= set(before)
    for name, weights in trained.items():
        assert any(not np.array_equal(a, b) for a, b in zip(weights, before[name])), name


def test_phase_two_changes_exactly_the_top_layers_at_the_reduced_rate(two_phases, weights_file):
    _, both, rates = two_phases
    model = final_model(both)
    base = backbone(model)
    # The top TOP backbone layers, less those with nothing to train: no weights, or BatchNorm (kept frozen).
    top = [layer for layer in base[-TOP:] if layer.trainable_weights or
           (layer.weights and layer.__class__.__name__ != "BatchNormalization")]
    expected = {layer.name[len("base_"):] for layer in top}
    assert expected, "the top layers hold trainable weights"
    assert changed(model, weights_file[1]) == expected
    assert rates[1:] == [pytest.approx(RATE), pytest.approx(RATE * FACTOR)]


def test_random_backbone_trains_whole_from_the_first_epoch(tiny_npz, weights_file, tmp_path):
    # model.weights=none: nothing to keep, so phase one trains the whole backbone (the comparison's route).
    config = cfg.resolve("fast", sets(tiny_npz, "none", "train.epochs=1"))
    from asl_edge.models import create_model

    trainer_model = {}
    original = trainer._compile

    def spy(model, *args):
        trainer_model["trainable"] = sum(int(np.prod(w.shape)) for w in model.trainable_weights)
        trainer_model["all"] = sum(int(np.prod(w.shape)) for w in model.weights)
        return original(model, *args)

    trainer._compile = spy
    try:
        train(config, tmp_path / "r")
    finally:
        trainer._compile = original
    # BatchNorm too: frozen at its initial statistics, a deep random backbone never leaves chance.
    # Only the moving statistics are not trainable weights.
    moving = sum(int(np.prod(w.shape)) for layer in create_model(MODEL, (SIDE, SIDE, 3), 3).layers
                 if layer.__class__.__name__ == "BatchNormalization" for w in layer.non_trainable_weights)
    assert trainer_model["trainable"] == trainer_model["all"] - moving


def _kill_in(cmd, state_file, phase, timeout=300):
    """Starts ``cmd`` and SIGKILLs it once it has saved its first epoch of ``phase``; returns the saved state."""
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                state = json.loads(state_file.read_text())
            except (OSError, ValueError):
                state = {}
            if state.get("phase") == phase and state.get("epoch", 0) >= 1:
                break
            time.sleep(0.02)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    return json.loads(state_file.read_text())


@pytest.mark.parametrize("phase", ["head", "fine_tune"])
def test_two_phase_run_resumes_after_sigkill_in_either_phase(tiny_npz, weights_file, tmp_path, phase):
    from test_training_behaviour import history

    out = tmp_path / "run"
    head_epochs, tune_epochs = 3, 3
    args = [a for s in sets(tiny_npz, weights_file[0], f"train.epochs={head_epochs}",
                            f"train.fine_tune_epochs={tune_epochs}") for a in ("--set", s)]
    saved = _kill_in([*ASL_EDGE, "train", "--out", str(out), *args], out / "checkpoints" / "state.json", phase)
    assert saved["phase"] == phase and saved["epoch"] < (head_epochs if phase == "head" else tune_epochs)
    resumed = subprocess.run([*ASL_EDGE, "train", "--out", str(out), "--resume"], capture_output=True, text=True)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    # Each phase logs its epochs from 0; a kill between the history row and the state may repeat a row.
    assert {int(r["epoch"]) for r in history(out)} == set(range(max(head_epochs, tune_epochs)))
    assert len(history(out)) >= head_epochs + tune_epochs
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["epochs_run"] == head_epochs + tune_epochs
