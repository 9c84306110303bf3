"""Consistency training (``train.consistency``): the loss, the paired batches, a run that trains and
resumes with it, and the settings it cannot be combined with."""

import json
import zipfile

import numpy as np
import pytest
from conftest import TINY_SETS

from asl_edge.runtime.errors import ConfigError
from asl_edge.training import config as cfg
from asl_edge.training.trainer import train

# Augmentation on (the pairs are two augmentations of each image), but only what keeps the tiny
# set's classes apart: they differ in brightness alone.
KEEPS_BRIGHTNESS = ["augment.enabled=true", "augment.background_prob=0", "augment.exposure=1", "augment.gamma=1",
                    "augment.contrast=0", "augment.brightness=0", "augment.color_gain=0", "augment.grayscale_prob=0",
                    "augment.scale_min=1", "augment.scale_max=1", "augment.noise=0.05"]


def sets(data, *extra):
    return [f"data.source={data}", *TINY_SETS, *KEEPS_BRIGHTNESS, *extra]


def _kl(p, q):
    return (p * (np.log(p) - np.log(q))).sum(-1)


@pytest.mark.parametrize("weight", [0.0, 1.0, 12.0])
@pytest.mark.parametrize("paired", [0.0, 1.0])
def test_loss_is_cross_entropy_plus_weighted_js_between_the_two_copies(weight, paired):
    from asl_edge.training.consistency import consistency_loss

    rng = np.random.default_rng(0)
    pred = rng.dirichlet(np.ones(3), 6).astype(np.float32)  # rows i and i + 3 are one image
    labels = np.eye(3, dtype=np.float32)[rng.integers(0, 3, 6)]
    other = np.concatenate([pred[3:], pred[:3]])
    middle = (pred + other) / 2
    js = (_kl(pred, middle) + _kl(other, middle)) / 2
    expected = (-(labels * np.log(pred)).sum(-1) + weight * paired * js).mean()
    y_true = np.concatenate([labels, np.full((6, 1), paired, np.float32)], -1)
    assert float(consistency_loss(3, weight)(y_true, pred)) == pytest.approx(expected, rel=1e-4)


def test_two_copies_that_agree_add_nothing():
    from asl_edge.training.consistency import consistency_loss

    pred = np.tile(np.random.default_rng(1).dirichlet(np.ones(4), 2).astype(np.float32), (2, 1))
    labels = np.eye(4, dtype=np.float32)[[0, 1, 0, 1]]
    y_true = np.concatenate([labels, np.ones((4, 1), np.float32)], -1)
    assert float(consistency_loss(4, 5.0)(y_true, pred)) == pytest.approx(float(consistency_loss(4, 0.0)(y_true, pred)))


def _images(n=8, side=16):
    from asl_edge.data.dataset import ImageDataset
    from asl_edge.runtime.preprocess import Preprocessing

    images = np.random.default_rng(2).integers(0, 256, (n, side, side, 3), dtype=np.uint8)
    pre = Preprocessing(image_size=(side, side), color_mode="rgb", mean=(0.0,), std=(1.0,), normalization="fixed")
    return ImageDataset(labels=np.arange(n) % 3, class_names=("0", "1", "2"), preprocessing=pre, source="test",
                        images=images)


def _augment():
    # no background replacement: its masks would need MediaPipe; the noise alone tells the copies apart
    return cfg.resolve("fast", ["augment.background_prob=0", "augment.noise=0.2"]).augment


def test_paired_batches_are_two_different_augmentations_of_the_same_images():
    from asl_edge.training.pipeline import make_dataset

    ds = _images()
    (x, y), = make_dataset(ds, 8, training=True, aug=_augment(), pairs=True).take(1)
    x, y = x.numpy(), y.numpy()
    assert x.shape == (16, 16, 16, 3)
    np.testing.assert_array_equal(y[:8], y[8:])  # the same images, in the same order
    assert not np.allclose(x[:8], x[8:])  # augmented independently
    (plain, _), = make_dataset(ds, 8, training=True, aug=_augment()).take(1)
    assert plain.shape[0] == 8


def test_targets_flag_training_batches_as_paired_and_validation_ones_not():
    from asl_edge.keras_compat import tf
    from asl_edge.training.consistency import paired_targets

    data = tf.data.Dataset.from_tensors((np.zeros((4, 2, 2, 1), np.float32), np.array([0, 2, 1, 2])))
    for paired in (True, False):
        (_, targets), = paired_targets(data, 3, paired).as_numpy_iterator()
        np.testing.assert_array_equal(targets[:, :3], np.eye(3)[[0, 2, 1, 2]])
        np.testing.assert_array_equal(targets[:, 3], np.full(4, float(paired)))


@pytest.mark.parametrize("training, with_augment", [(False, True), (True, False)])
def test_paired_batches_without_augmentation_are_refused(training, with_augment):
    from asl_edge.training.pipeline import make_dataset

    with pytest.raises(ConfigError, match="need training with augmentation"):
        make_dataset(_images(), 8, training=training, aug=_augment() if with_augment else None, pairs=True)


def test_a_run_trains_with_it_and_records_it(tiny_npz, tmp_path):
    result = train(cfg.resolve("fast", sets(tiny_npz, "train.epochs=12", "train.consistency=2.0")), tmp_path / "run")
    assert result.metrics["accuracy"] >= 0.9
    saved = cfg.from_dict(__import__("yaml").safe_load((tmp_path / "run" / "config.yaml").read_text()))
    assert saved.train.consistency == 2.0
    with zipfile.ZipFile(tmp_path / "run" / "checkpoints" / "last.keras") as keras_file:
        compiled = json.loads(keras_file.read("config.json"))["compile_config"]
    assert compiled["loss"]["config"]["weight"] == 2.0  # the run trained with the consistency loss


def test_consistency_run_resumes_after_sigkill(tiny_npz, tmp_path):
    """The checkpoint's compiled loss is asl-edge's ConsistencyLoss: it must pass the allow-list and load."""
    from test_training_behaviour import killed_then_resumed

    out = tmp_path / "run"
    killed_then_resumed([a for s in sets(tiny_npz, "train.epochs=8", "train.early_stopping_patience=0",
                                         "train.consistency=1.0") for a in ("--set", s)], out)
    assert json.loads((out / "metrics.json").read_text())["accuracy"] > 0.5


@pytest.mark.parametrize("recipe, extra, message", [
    ("fast", ["train.consistency=-1"], "consistency"),
    ("fast", ["train.consistency=1", "train.teacher=runs/any"], "cannot be combined"),
    ("landmarks", ["train.consistency=1"], "reads no image"),
])
def test_settings_it_cannot_take_are_refused(recipe, extra, message):
    with pytest.raises(ConfigError, match=message):
        cfg.resolve(recipe, extra)
