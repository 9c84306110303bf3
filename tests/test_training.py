"""The trainer on tiny synthetic data: outputs, resume after SIGKILL, NaN stop, CLI errors."""

import csv
import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from asl_edge.runtime import runfolder
from asl_edge.runtime.errors import DataError
from asl_edge.training import config as cfg
from asl_edge.training.trainer import TrainingError, train

ASL_EDGE = [sys.executable, "-m", "asl_edge"]


@pytest.fixture(scope="module")
def tiny_npz(tmp_path_factory):
    """Three easy classes (dark, mid, bright images) from 12 signers."""
    rng = np.random.default_rng(0)
    labels = np.tile(np.arange(3), 48)
    images = np.clip(labels[:, None, None] * 100 + rng.normal(30, 10, (len(labels), 12, 12)), 0, 255).astype(np.uint8)
    groups = np.repeat(np.arange(12), 12)
    path = tmp_path_factory.mktemp("data") / "tiny.npz"
    np.savez(path, images=images, labels=labels, groups=groups, class_names=np.array(["dark", "mid", "bright"]))
    return path


def tiny_sets(data, epochs=3, extra=()):
    return [
        f"data.source={data}",
        "data.image_size=16",
        "model.name=custom_cnn",
        "model.width=4",
        "model.depth=2",
        f"train.epochs={epochs}",
        "train.batch_size=16",
        "data.val_fraction=0.25",
        "data.test_fraction=0.25",
        # BatchNorm statistics cannot settle in a dozen steps; brightness jitter would blur these classes,
        # and per-image normalisation (the fast recipe's) would erase them: they differ only in brightness.
        "model.batch_norm=false",
        "augment.enabled=false",
        "data.normalization=fixed",
        "model.dropout=0",
        "train.learning_rate=0.03",
        *extra,
    ]


def test_train_writes_a_complete_run(tiny_npz, tmp_path):
    result = train(cfg.resolve("fast", tiny_sets(tiny_npz, epochs=6)), tmp_path / "run")
    for name in (
        "model.keras",
        "labels.txt",
        "preprocessing.json",
        "config.yaml",
        "split.json",
        "history.csv",
        "training_curves.png",
        "confusion_matrix.png",
        "metrics.json",
    ):
        assert (tmp_path / "run" / name).is_file(), name
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert {"accuracy", "macro_f1", "per_class", "confusion_matrix", "split"} <= set(metrics)
    assert set(metrics["per_class"]) == {"dark", "mid", "bright"}
    assert "signer" in metrics["split"]["method"] and metrics["split"]["groups"]["test"] >= 2
    split = json.loads((tmp_path / "run" / "split.json").read_text())
    groups = np.repeat(np.arange(12), 12)
    assert not set(groups[split["train"]]) & set(groups[split["test"]])
    run = runfolder.load_run(tmp_path / "run")
    assert run.class_names == ("dark", "mid", "bright") and run.preprocessing.image_size == (16, 16)
    assert len(list(csv.DictReader(open(tmp_path / "run" / "history.csv")))) == result.epochs_run == 6
    assert result.metrics["accuracy"] > 0.5  # three trivially separable classes


def test_existing_run_is_refused_without_force(tiny_npz, tmp_path):
    config = cfg.resolve("fast", tiny_sets(tiny_npz, epochs=1))
    train(config, tmp_path / "run")
    with pytest.raises(TrainingError, match="already holds a run"):
        train(config, tmp_path / "run")
    train(config, tmp_path / "run", force=True)


@pytest.mark.parametrize(
    "sets",
    [
        ["train.schedule=step", "train.step_epochs=1", "train.optimizer=sgd"],
        ["train.schedule=exponential", "train.warmup_epochs=1", "train.optimizer=adamw"],
        ["train.schedule=plateau", "train.optimizer=rmsprop", "data.balance=class_weight"],
        ["train.label_smoothing=0.1", "data.balance=oversample", "augment.enabled=true", "augment.flip=true"],
        ["train.swa_epochs=1", "model.batch_norm=true"],
    ],
)
def test_schedules_optimizers_and_balancing_train(tiny_npz, tmp_path, sets):
    result = train(cfg.resolve("fast", tiny_sets(tiny_npz, epochs=2, extra=sets)), tmp_path / "run")
    assert result.epochs_run == 2 and np.isfinite(result.metrics["accuracy"])


def test_nan_loss_stops_with_a_clear_error(tiny_npz, tmp_path):
    import dataclasses

    config = cfg.resolve("fast", tiny_sets(tiny_npz, extra=["train.optimizer=sgd"]))
    # An infinite rate is refused by the settings' ranges; set past them, it makes the loss NaN at once,
    # which is what the trainer's guard is tested on.
    config = dataclasses.replace(config, train=dataclasses.replace(config.train, learning_rate=float("inf")))
    with pytest.raises(TrainingError, match="loss became NaN"):
        train(config, tmp_path / "run")
    assert not (tmp_path / "run" / "model.keras").exists()  # no half-finished model presented as a result


@pytest.mark.parametrize("averaged", [0, 36], ids=["plain", "weight_averaging"])
def test_resume_after_sigkill(tiny_npz, tmp_path, averaged):
    """A run killed with SIGKILL mid-training resumes from its last completed epoch (with weight
    averaging from epoch 4 on, the kill lands inside the averaged epochs)."""
    out = tmp_path / "run"
    epochs = 40
    cmd = [
        *ASL_EDGE,
        "train",
        "--out",
        str(out),
        *[
            a
            for s in tiny_sets(tiny_npz, epochs=epochs,
                               extra=["train.early_stopping_patience=0", f"train.swa_epochs={averaged}"])
            for a in ("--set", s)
        ],
    ]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    state_file = out / "checkpoints" / "state.json"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if state_file.is_file() and json.loads(state_file.read_text())["epoch"] >= 3:
            break
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    done = json.loads(state_file.read_text())["epoch"]
    assert 3 <= done < epochs, "the run must be killed mid-training for this test to mean anything"
    assert not (out / "model.keras").exists()
    resumed = subprocess.run([*ASL_EDGE, "train", "--out", str(out), "--resume"], capture_output=True, text=True)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    rows = list(csv.DictReader(open(out / "history.csv")))
    epochs_logged = [int(r["epoch"]) for r in rows]
    # Every epoch appears; at most the one in flight when killed is logged twice.
    assert set(epochs_logged) == set(range(epochs)) and len(rows) <= epochs + 1
    assert runfolder.load_run(out).model_path.is_file()
    if averaged:
        # every averaged epoch counted once, across the kill; one running mean left, the final one
        assert json.loads(state_file.read_text())["swa_count"] == averaged
        assert [p.name for p in (out / "checkpoints").glob("swa_average-*.npz")] == [f"swa_average-{averaged}.npz"]


def test_ctrl_c_says_what_was_kept_and_the_resume_counts_epochs_truthfully(tiny_npz, tmp_path):
    """Ctrl-C: one line naming the saved epoch and the exact command that continues; no lock file
    left; that command then reports the epochs it trained and the run's total."""
    out, epochs = tmp_path / "my run", 60  # a space: the command must quote it
    args = [a for s in tiny_sets(tiny_npz, epochs=epochs, extra=["train.early_stopping_patience=0"])
            for a in ("--set", s)]
    # Ctrl-C as in a terminal: a shell starts background jobs (CI under nohup, say) with SIGINT
    # ignored, and Python then never turns it into KeyboardInterrupt.
    proc = subprocess.Popen([*ASL_EDGE, "train", "--out", str(out), *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    state_file = out / "checkpoints" / "state.json"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and not (state_file.is_file() and json.loads(state_file.read_text())["epoch"]):
        time.sleep(0.002)
    # Frozen the moment its first saved epoch is seen, then interrupted: nothing trains on between the
    # check and the Ctrl-C.
    proc.send_signal(signal.SIGSTOP)
    proc.send_signal(signal.SIGINT)
    proc.send_signal(signal.SIGCONT)
    _, stderr = proc.communicate(timeout=120)
    done = json.loads(state_file.read_text())["epoch"]
    assert 1 <= done < epochs, "the run must be interrupted mid-training for this test to mean anything"
    command = f"asl-edge train --out '{out}' --resume"
    assert proc.returncode == 130 and stderr.strip().splitlines()[-1] == (
        f"asl-edge: error: training interrupted: epoch {done} of {epochs} is saved "
        f"({out / 'checkpoints' / 'last.keras'}); continue with: {command}")
    assert not list(tmp_path.glob(".*lock*")) and not (out / "model.keras").exists()
    import shlex

    resumed = subprocess.run([*ASL_EDGE, *shlex.split(command)[1:]], capture_output=True, text=True)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert f"({epochs - done} epochs this run, {epochs} in all)" in resumed.stdout


def test_interrupted_before_the_first_epoch_says_nothing_was_kept(tmp_path):
    from asl_edge.training.trainer import interrupted_message

    assert interrupted_message(tmp_path / "run", cfg.Config()) == (
        f"training interrupted before it started: nothing was saved in {tmp_path / 'run'}; run the same command "
        "again with --force")
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "config.yaml").write_text(cfg.to_yaml(cfg.Config()))
    message = interrupted_message(tmp_path / "run", cfg.Config())
    assert message == (f"training interrupted before its first epoch finished: nothing to keep but the settings "
                       f"({tmp_path / 'run' / 'config.yaml'}); start it again with: "
                       f"asl-edge train --out {tmp_path / 'run'} --resume")


def test_a_run_resumed_after_its_last_epoch_counts_them_all(tiny_npz, tmp_path):
    """Stopped while it was being evaluated: every epoch was saved, none is trained again."""
    config = cfg.resolve("fast", tiny_sets(tiny_npz, epochs=2))
    train(config, tmp_path / "run")
    (tmp_path / "run" / "model.keras").unlink()  # as if stopped before the model was written
    (tmp_path / "run" / "metrics.json").unlink()
    result = train(config, tmp_path / "run", resume=True)
    assert (result.epochs_run, result.epochs_this_run) == (2, 0)


def test_force_over_a_folder_asl_edge_did_not_make_says_what_to_do(tiny_npz, tmp_path):
    from asl_edge.runtime.errors import OutputError

    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("keep me")
    with pytest.raises(OutputError) as caught:
        train(cfg.resolve("fast", tiny_sets(tiny_npz, epochs=1)), tmp_path / "mine", force=True)
    assert str(caught.value) == (
        f"--out {tmp_path / 'mine'} is a folder asl-edge did not make (no .asl-edge-output.json of its own): "
        "--force replaces only folders asl-edge made, so it will not touch this one; empty or remove it "
        "yourself, or give --out a new or empty folder")
    assert (tmp_path / "mine" / "notes.txt").read_text() == "keep me"


def _tiny_bn_model():
    from asl_edge.keras_compat import keras

    inputs = keras.Input((4,))
    x = keras.layers.Dense(6)(inputs)
    x = keras.layers.BatchNormalization()(x)
    model = keras.Model(inputs, keras.layers.Dense(3, activation="softmax")(x))
    model.compile(keras.optimizers.SGD(0.1), "sparse_categorical_crossentropy")
    return model


def test_weight_averaging_ends_with_the_mean_of_the_averaged_epochs(tmp_path):
    from asl_edge.keras_compat import keras
    from asl_edge.training.averaging import averaging_callback

    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(64, 4)).astype(np.float32), rng.integers(0, 3, 64)
    model = _tiny_bn_model()
    seen = []
    record = keras.callbacks.LambdaCallback(
        on_epoch_end=lambda epoch, logs: seen.append([v.numpy() for v in model.trainable_weights]))
    state = {}
    averager = averaging_callback(tmp_path, state, first_epoch=2)
    model.fit(x, y, batch_size=16, epochs=5, callbacks=[averager, record], verbose=0)
    assert state["swa_count"] == 3 and (tmp_path / "swa_average-3.npz").is_file()
    assert averager.apply(model, [(x[:32], y[:32]), (x[32:], y[32:])])
    for var, *epochs in zip(model.trainable_weights, *seen[2:]):
        np.testing.assert_allclose(var.numpy(), np.mean(epochs, axis=0), rtol=1e-5, atol=1e-6)
    assert not np.allclose(model.trainable_weights[0].numpy(), seen[-1][0])  # not just the last epoch's


def test_weight_averaging_stopped_before_its_first_epoch_keeps_the_weights(tmp_path):
    from asl_edge.training.averaging import averaging_callback

    model = _tiny_bn_model()
    before = [v.numpy() for v in model.weights]
    assert not averaging_callback(tmp_path, {}, first_epoch=5).apply(model, [])
    for var, old in zip(model.weights, before):
        np.testing.assert_array_equal(var.numpy(), old)


def test_batch_norm_statistics_are_measured_again_as_the_mean_over_the_batches():
    from asl_edge.keras_compat import keras
    from asl_edge.training.averaging import recompute_batch_norm

    inputs = keras.Input((3,))
    bn = keras.layers.BatchNormalization(momentum=0.99)
    model = keras.Model(inputs, bn(inputs))
    rng = np.random.default_rng(0)
    batches = [(rng.normal(loc, 2.0, (64, 3)).astype(np.float32),) for loc in (1.0, 5.0, 9.0)]
    assert recompute_batch_norm(model, batches) == 3
    means = np.mean([b[0].mean(axis=0) for b in batches], axis=0)
    variances = np.mean([b[0].var(axis=0) for b in batches], axis=0)
    np.testing.assert_allclose(bn.moving_mean.numpy(), means, rtol=1e-4)  # not momentum 0.99's slow drift
    np.testing.assert_allclose(bn.moving_variance.numpy(), variances, rtol=0.03)  # biased or Bessel-corrected
    assert bn.momentum == 0.99  # left as it was


def test_cosine_schedule_holds_the_averaging_rate_over_the_averaged_epochs():
    from asl_edge.training.schedules import learning_rate

    train = cfg.TrainSection(epochs=10, learning_rate=0.01, schedule="cosine", swa_epochs=3, swa_lr_factor=0.2)
    lr = learning_rate(train, steps_per_epoch=5, averaged_epochs=3)
    assert float(lr(0)) == pytest.approx(0.01)
    assert float(lr(20)) > 0.002  # still decaying before the averaged epochs
    for step in (35, 40, 49):  # epochs 7-9
        assert float(lr(step)) == pytest.approx(0.002)


def test_resume_with_nothing_to_resume(tmp_path):
    r = subprocess.run(
        [*ASL_EDGE, "train", "--out", str(tmp_path / "none"), "--resume"], capture_output=True, text=True
    )
    assert r.returncode != 0 and "nothing to resume" in r.stderr and "Traceback" not in r.stderr


@pytest.mark.parametrize(
    "args, message",
    [
        (["train", "--data", "/no/such/dir"], "data not found: /no/such/dir"),
        (["train", "--model", "nope"], "Unknown model 'nope'; choose one of:"),
        (["train", "--recipe", "nope"], "Unknown recipe 'nope'"),
        (["train", "--set", "train.bogus=1"], "unknown config key 'train.bogus'"),
        (["evaluate", "/no/such/model"], "model not found"),
    ],
)
def test_cli_bad_input_is_one_line(args, message, tmp_path):
    r = subprocess.run(
        [*ASL_EDGE, *args, *(["--out", str(tmp_path / "o")] if args[0] == "train" else [])],
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert r.returncode != 0
    assert message in r.stderr
    assert "Traceback" not in r.stderr and len(r.stderr.strip().splitlines()) == 1, r.stderr


def _streamed_tree(tmp_path):
    from PIL import Image

    rng = np.random.default_rng(0)
    lines = ["path,group"]
    for c, level in (("dark", 30), ("bright", 220)):
        (tmp_path / "d" / c).mkdir(parents=True)
        for i in range(24):
            img = np.clip(rng.normal(level, 10, (20, 20, 3)), 0, 255).astype(np.uint8)
            Image.fromarray(img).save(tmp_path / "d" / c / f"{i}.jpg")
            lines.append(f"{c}/{i}.jpg,s{i % 8}")
    (tmp_path / "groups.csv").write_text("\n".join(lines))
    return tiny_sets(
        tmp_path / "d", epochs=4, extra=["data.stream=true", f"data.groups_file={tmp_path / 'groups.csv'}"]
    )


def test_streaming_folder_trains_and_evaluates(tmp_path):
    """A folder tree streamed from disk (as above 20,000 images) trains through the same preprocessing."""
    result = train(cfg.resolve("fast", _streamed_tree(tmp_path)), tmp_path / "run")
    assert result.metrics["accuracy"] > 0.5 and "signer" in result.metrics["split"]["method"]


def test_streamed_image_that_breaks_mid_training_is_named(tmp_path):
    """A file that passes the listing but fails to decode inside tf.data gives its own one-line error."""
    sets = _streamed_tree(tmp_path)
    broken = tmp_path / "d" / "bright" / "3.jpg"
    broken.write_bytes(broken.read_bytes()[:100])  # truncated: the header still reads
    with pytest.raises(DataError, match=r"cannot read image .*3\.jpg.*--resume"):
        train(cfg.resolve("fast", sets), tmp_path / "run")


def test_train_json_keeps_stdout_for_the_result(tiny_npz, tmp_path):
    # The progress (one line per epoch when stderr is no terminal) must go to stderr, or `train --json | jq` breaks.
    args = [a for s in tiny_sets(tiny_npz, epochs=2) for a in ("--set", s)]
    proc = subprocess.run([*ASL_EDGE, "train", "--json", "--out", str(tmp_path / "run"), *args],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert json.loads(proc.stdout)["epochs"] == 2
    assert "epoch 2/2  loss" in proc.stderr and "epoch 2/2" not in proc.stdout
