"""Training features that must change what happens, tested by what they change: plateau lowers
the rate, early stopping stops and restores the best epoch, augmentation changes batches and
training, TensorBoard writes logs, a warm-up run resumes after SIGKILL in and after its warm-up,
and multi-worker training keeps two workers in step with only the chief writing."""

import csv
import json
import os
import signal
import socket
import subprocess
import sys
import time

import numpy as np
import pytest

from asl_edge.runtime import runfolder
from asl_edge.runtime.errors import ConfigError
from asl_edge.training import config as cfg
from asl_edge.training.trainer import train

ASL_EDGE = [sys.executable, "-m", "asl_edge"]


def tiny_sets(data, epochs=3, extra=()):
    return [f"data.source={data}", "data.image_size=16", "model.name=custom_cnn", "model.width=4", "model.depth=2",
            f"train.epochs={epochs}", "train.batch_size=16", "data.val_fraction=0.25", "data.test_fraction=0.25",
            "model.batch_norm=false", "augment.enabled=false", "model.dropout=0", "train.learning_rate=0.03", *extra]


def history(folder):
    return list(csv.DictReader(open(folder / runfolder.HISTORY_FILE)))


def test_plateau_lowers_the_rate(tiny_npz, tmp_path):
    """A rate too small to move the validation loss: ReduceLROnPlateau halves it after each
    `plateau_patience` epochs without improvement, and the history records it."""
    sets = ["train.schedule=plateau", "train.learning_rate=1e-9", "train.plateau_patience=1",
            "train.decay_rate=0.5", "train.early_stopping_patience=0"]
    train(cfg.resolve("fast", tiny_sets(tiny_npz, epochs=4, extra=sets)), tmp_path / "run")
    rates = [float(r["lr"]) for r in history(tmp_path / "run")]
    assert rates[0] == pytest.approx(1e-9) and rates[-1] < rates[0] / 1.9, rates
    assert all(b <= a for a, b in zip(rates, rates[1:]))


def test_plateau_with_warmup_is_refused():
    with pytest.raises(ConfigError, match="plateau cannot follow a warm-up"):
        cfg.resolve("fast", ["train.schedule=plateau", "train.warmup_epochs=2"])


def test_early_stopping_stops_and_restores_the_best_epoch(tiny_npz, tmp_path):
    """A rate so large the validation loss gets worse: training stops `patience` epochs after the
    best one, and the saved model is that epoch's (its validation loss, not the last one's)."""
    from asl_edge.data.runs import run_dataset
    from asl_edge.models.io import load_keras_model

    sets = ["train.early_stopping_patience=2", "train.learning_rate=0.3", "train.schedule=constant",
            "train.optimizer=sgd"]
    result = train(cfg.resolve("fast", tiny_sets(tiny_npz, epochs=30, extra=sets)), tmp_path / "run")
    rows = history(tmp_path / "run")
    val = [float(r["val_loss"]) for r in rows]
    best = int(np.argmin(val))
    assert result.epochs_run == len(rows) < 30 and len(rows) == best + 1 + 2, val
    assert val[-1] > val[best]
    run = runfolder.load_run(tmp_path / "run")
    model = load_keras_model(run.model_path)
    model.compile(loss="sparse_categorical_crossentropy")
    vds = run_dataset(run, part="val")
    loss = model.evaluate(vds.preprocessing.normalize(vds.load_images()), vds.labels, verbose=0, batch_size=16)
    assert loss == pytest.approx(val[best], rel=1e-3) and loss != pytest.approx(val[-1], rel=1e-3)


def test_tensorboard_logs_are_written(tiny_npz, tmp_path):
    train(cfg.resolve("fast", tiny_sets(tiny_npz, epochs=1)), tmp_path / "run")
    events = list((tmp_path / "run" / runfolder.LOGS).rglob("events.out.tfevents.*"))
    assert {p.parent.name for p in events} >= {"train", "validation"}


def test_augmented_batches_differ_from_their_source(tiny_npz):
    from asl_edge.data import load_dataset
    from asl_edge.runtime.preprocess import Preprocessing
    from asl_edge.training.config import AugmentSection
    from asl_edge.training.pipeline import augmenter, make_dataset

    ds = load_dataset(tiny_npz, Preprocessing(image_size=(16, 16)))
    plain = next(iter(make_dataset(ds, len(ds), training=True, aug=AugmentSection(enabled=False), seed=3)))
    augmented = next(iter(make_dataset(ds, len(ds), training=True, aug=AugmentSection(), seed=3)))
    np.testing.assert_array_equal(plain[1], augmented[1])  # the same shuffled order
    x_plain, x_aug = plain[0].numpy(), augmented[0].numpy()
    source = ds.preprocessing.normalize(ds.load_images())
    # Without augmentation every image is one of the source images; with it, almost none is.
    key = {s.tobytes() for s in source.astype(np.float32)}
    assert all(x.tobytes() in key for x in x_plain)
    changed = np.abs(x_aug - x_plain).reshape(len(x_aug), -1).max(1) > 1e-3
    assert changed.mean() > 0.9
    # flips alone: every image comes back as itself or its mirror image, and both happen
    flip = augmenter(AugmentSection(flip=True, rotation=0, shift=0, zoom=0, brightness=0, contrast=0), 0)
    x = ds.load_images().astype(np.float32) / 255
    y = flip(x).numpy()
    same = np.all(np.isclose(y, x, atol=1e-6), axis=(1, 2, 3))
    mirrored = np.all(np.isclose(y, x[:, :, ::-1], atol=1e-6), axis=(1, 2, 3))
    assert np.all(same | mirrored) and same.any() and (mirrored & ~same).any()


def test_augmentation_changes_training(tiny_npz, tmp_path, monkeypatch):
    """The trainer feeds augmented batches when the recipe enables augmentation, and plain ones
    when it does not (the augmenter the training pipeline builds, spied on)."""
    from asl_edge.training import pipeline

    built = []
    real = pipeline.augmenter

    def spy(aug, seed, *backgrounds):
        apply = real(aug, seed, *backgrounds)
        built.append(None if apply is None else aug)
        return apply

    monkeypatch.setattr(pipeline, "augmenter", spy)
    off = train(cfg.resolve("fast", tiny_sets(tiny_npz, epochs=2)), tmp_path / "off")
    assert built == [None]
    built.clear()
    on = train(cfg.resolve("fast", tiny_sets(tiny_npz, epochs=2, extra=["augment.enabled=true", "augment.flip=true"])),
               tmp_path / "on")
    assert len(built) == 1 and built[0] is not None and built[0].flip and built[0].rotation > 0
    assert on.weights_sha256 != off.weights_sha256


def _kill_at_epoch(cmd, state_file, epoch, timeout=180):
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline and proc.poll() is None:
            if state_file.is_file() and json.loads(state_file.read_text())["epoch"] >= epoch:
                break
            time.sleep(0.02)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    return json.loads(state_file.read_text())["epoch"]


def killed_then_resumed(train_args, out, epochs: int = 8, kill_at: int = 2):
    """Runs ``asl-edge train --out OUT *train_args`` for ``epochs`` epochs, SIGKILLs it once it has saved
    epoch ``kill_at``, resumes it with ``--resume`` and checks the history holds every epoch once."""
    done = _kill_at_epoch([*ASL_EDGE, "train", "--out", str(out), *train_args], out / "checkpoints" / "state.json",
                          kill_at)
    assert kill_at <= done < epochs
    resumed = subprocess.run([*ASL_EDGE, "train", "--out", str(out), "--resume"], capture_output=True, text=True)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert {int(r["epoch"]) for r in history(out)} == set(range(epochs))


@pytest.mark.parametrize("kill_at", [1, 4], ids=["in-warmup", "after-warmup"])
def test_resume_of_a_warmup_run(tiny_npz, tmp_path, kill_at):
    """A warm-up run (train.warmup_epochs): the checkpoint's optimizer holds the WarmUp schedule, which a
    fresh process must know before it loads ``last.keras``."""
    out = tmp_path / "run"
    epochs, warmup = 12, 3
    sets = tiny_sets(tiny_npz, epochs=epochs, extra=[f"train.warmup_epochs={warmup}", "train.schedule=cosine",
                                                     "train.early_stopping_patience=0"])
    cmd = [*ASL_EDGE, "train", "--out", str(out), *[a for s in sets for a in ("--set", s)]]
    done = _kill_at_epoch(cmd, out / "checkpoints" / "state.json", kill_at)
    assert kill_at <= done < epochs and (done < warmup) == (kill_at < warmup)
    resumed = subprocess.run([*ASL_EDGE, "train", "--out", str(out), "--resume"], capture_output=True, text=True)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert {int(r["epoch"]) for r in history(out)} == set(range(epochs))
    assert runfolder.load_run(out).model_path.is_file()


def _free_ports(n):
    socks = [socket.socket() for _ in range(n)]
    for s in socks:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in socks]
    for s in socks:
        s.close()
    return ports


WORKER = """
import json, sys
from asl_edge.training import config as cfg
from asl_edge.training.trainer import train
result = train(cfg.resolve("fast", json.loads(sys.argv[1])), sys.argv[2])
print("RESULT " + json.dumps({"weights": result.weights_sha256, "epochs": result.epochs_run}))
"""


def test_multi_worker_training_on_two_local_workers(tiny_npz, tmp_path):
    """Two worker processes on 127.0.0.1 (TF_CONFIG) train in step to identical weights; only the
    chief (worker 0) writes the run folder, the other leaves nothing behind."""
    ports = _free_ports(2)
    cluster = {"worker": [f"127.0.0.1:{p}" for p in ports]}
    sets = json.dumps(tiny_sets(tiny_npz, epochs=2, extra=["train.distribute=multi_worker"]))
    procs = []
    for index in range(2):
        (tmp_path / f"tmp{index}").mkdir()
        env = {**os.environ, "TF_CONFIG": json.dumps({"cluster": cluster, "task": {"type": "worker", "index": index}}),
               "CUDA_VISIBLE_DEVICES": "", "TMPDIR": str(tmp_path / f"tmp{index}")}
        procs.append(subprocess.Popen([sys.executable, "-c", WORKER, sets, str(tmp_path / "run")], env=env,
                                      stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                      start_new_session=True))
    outputs = []
    try:
        for p in procs:
            out, err = p.communicate(timeout=240)
            assert p.returncode == 0, err[-3000:]
            outputs.append(json.loads(next(line for line in out.splitlines() if line.startswith("RESULT "))[7:]))
    finally:
        for p in procs:
            if p.poll() is None:
                os.killpg(p.pid, signal.SIGKILL)
    assert outputs[0] == outputs[1] and outputs[0]["epochs"] == 2
    assert runfolder.load_run(tmp_path / "run").model_path.is_file()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run", "tmp0", "tmp1"]
    assert not list(tmp_path.glob("tmp*/asl-edge-worker-*"))  # the other worker's scratch run is gone
    assert len(history(tmp_path / "run")) == 2


def test_multi_worker_needs_tf_config(tiny_npz, tmp_path, monkeypatch):
    monkeypatch.delenv("TF_CONFIG", raising=False)
    with pytest.raises(ConfigError, match="needs TF_CONFIG"):
        train(cfg.resolve("fast", tiny_sets(tiny_npz, extra=["train.distribute=multi_worker"])), tmp_path / "run")


def test_split_seed_holds_the_split_while_train_seed_changes_the_start(tiny_npz, tmp_path):
    """``data.split_seed`` alone picks the held-out signers; ``train.seed`` still moves everything else."""
    runs = {}
    for name, extra in {"a": ["train.seed=0"], "b": ["train.seed=5", "data.split_seed=0"],
                        "c": ["train.seed=5"]}.items():
        sets = tiny_sets(tiny_npz, epochs=2, extra=extra)
        train(cfg.resolve("fast", sets), tmp_path / name)
        runs[name] = json.loads((tmp_path / name / "split.json").read_text())
    assert runs["a"]["test"] == runs["b"]["test"] and runs["b"]["seed"] == 0
    assert runs["c"]["test"] != runs["a"]["test"] and runs["c"]["seed"] == 5
    first = {n: history(tmp_path / n)[0]["loss"] for n in ("a", "b")}
    assert first["a"] != first["b"]  # another start on the same split
