"""Knowledge distillation: a student learns from the labels and from a trained teacher's softened outputs.

The classic recipe of Hinton, Vinyals and Dean (2015, https://arxiv.org/abs/1503.02531), as in
Keras' own distillation example: the loss is
``(1 - weight) * CE(labels, student) + weight * T^2 * KL(teacher_T || student_T)``, where ``_T``
means the softmax at temperature ``T``. The teacher sees the same augmented batch as the student
("consistent teaching", Beyer et al. 2022, https://arxiv.org/abs/2106.05237), so its soft labels
are computed in the input pipeline, appended to the one-hot labels, and split again by the loss:
the student keeps its plain single-output graph, so quantisation-aware training, export and the
checkpoints work as without a teacher.

Both models output softmax probabilities; ``log(p)`` stands in for the logits (softmax is
invariant to the constant that separates them).
"""

from __future__ import annotations

import functools
import logging
from pathlib import Path

from asl_edge.models import io as model_io
from asl_edge.runtime import runfolder
from asl_edge.runtime.errors import ConfigError
from asl_edge.runtime.preprocess import Preprocessing

log = logging.getLogger(__name__)

EPS = 1e-7
# The parts of the input recipe a teacher must share with its student; the side may differ
# (the batch is resized for the teacher in the graph: bilinear resizing commutes with the affine
# normalisation exactly, with the per-image one up to resampling).
SHARED_INPUT_KEYS = ("color_mode", "channel_order", "mean", "std", "normalization", "localiser")


def load_teacher(run_dir: str | Path, student: Preprocessing, class_names, split_record: dict) -> object:
    """Loads a teacher run that can teach ``student``; returns its frozen Keras model.

    Args:
        run_dir: the teacher's run folder.
        student: the student's preprocessing.
        class_names: the student's labels.
        split_record: the student's ``split.json`` record (data fingerprint and parts).

    Raises:
        ModelError: not a run folder, or a model that does not pass the allow-list.
        ConfigError: other labels, an input recipe the student's batches cannot feed, or a teacher
            that trained on images the student is scored on.
    """
    run = runfolder.load_run(run_dir)
    check_teacher_split(run.split, split_record, run.folder)
    if list(run.class_names) != list(class_names):
        raise ConfigError(f"teacher {run.folder} has labels {', '.join(run.class_names)}; the student's data has "
                          f"{', '.join(class_names)}")
    teacher_pre = run.preprocessing
    for key in SHARED_INPUT_KEYS:
        if getattr(teacher_pre, key) != getattr(student, key):
            raise ConfigError(f"teacher {run.folder} was trained with {key}={getattr(teacher_pre, key)!r}, the student "
                              f"uses {getattr(student, key)!r}: train the teacher with the student's data settings")
    model = model_io.load_keras_model(run.model_path)
    model.trainable = False
    log.info("teacher %s: %d weights, %dx%d input", run.folder, model.count_params(), *teacher_pre.image_size)
    return model


def check_teacher_split(teacher: dict | None, student: dict, folder: Path) -> None:
    """Refuses a teacher that learned from any image of the student's held-out split.

    Its soft labels would carry what it learned of those signers into the student, and the
    student's held-out figure would no longer be honest.

    Raises:
        ConfigError: the teacher's data or split is unknown or differs, or its training or
            validation part overlaps the student's test part.
    """
    if not teacher or teacher.get("fingerprint") != student.get("fingerprint"):
        raise ConfigError(f"teacher {folder} was not trained on the student's data (its split.json names other "
                          "data): train the teacher on the same data and split")
    seen = set(teacher.get("train", [])) | set(teacher.get("val", []))
    leaked = seen & set(student.get("test", []))
    if leaked:
        raise ConfigError(f"teacher {folder} trained on {len(leaked)} images of the student's held-out split: "
                          "train it with the same split seed (train.seed, or data.split_seed) and split fractions")


def with_teacher(dataset, teacher, num_classes: int):
    """Maps batches ``(x, y[, w])`` to ``(x, [one_hot(y) | teacher(x)][, w])`` (teacher in inference mode)."""
    from asl_edge.keras_compat import tf

    size = tuple(int(d) for d in teacher.input_shape[1:3])

    def add(x, y, *w):
        seen = x if tuple(x.shape[1:3]) == size else tf.image.resize(x, size)
        soft = teacher(seen, training=False)
        return (x, tf.concat([tf.one_hot(y, num_classes), tf.cast(soft, tf.float32)], axis=-1), *w)

    return dataset.map(add, num_parallel_calls=tf.data.AUTOTUNE)


def register_distillation() -> None:
    """Registers the loss and metric, so a distillation checkpoint loads before they are first built
    in this process (``--resume``)."""
    _classes()


def distillation_loss(num_classes: int, temperature: float, weight: float, label_smoothing: float = 0.0):
    """The loss for targets made by :func:`with_teacher`."""
    return _classes()[0](num_classes=num_classes, temperature=temperature, weight=weight,
                         label_smoothing=label_smoothing)


def hard_label_accuracy(num_classes: int):
    """Accuracy against the labels part of :func:`with_teacher`'s targets, logged as ``accuracy``."""
    return _classes()[1](num_classes=num_classes)


@functools.cache
def _classes():
    # Cached: each class defined and registered once per process (see register_distillation).
    from asl_edge.keras_compat import keras, tf

    @keras.saving.register_keras_serializable(package="asl_edge")
    class DistillationLoss(keras.losses.Loss):
        """``(1 - weight) * CE(labels) + weight * T^2 * KL(teacher_T || student_T)``."""

        def __init__(self, num_classes: int, temperature: float = 2.0, weight: float = 0.9,
                     label_smoothing: float = 0.0, name: str = "distillation", **kwargs):
            super().__init__(name=name, **kwargs)
            self.num_classes, self.temperature, self.weight = num_classes, temperature, weight
            self.label_smoothing = label_smoothing

        def call(self, y_true, y_pred):
            labels, teacher = y_true[:, :self.num_classes], y_true[:, self.num_classes:]
            hard = keras.losses.categorical_crossentropy(labels, y_pred, label_smoothing=self.label_smoothing)
            t = self.temperature
            teacher_t = tf.nn.softmax(tf.math.log(teacher + EPS) / t)
            student_log_t = tf.nn.log_softmax(tf.math.log(y_pred + EPS) / t)
            # T^2 keeps the soft term's gradients on the scale of the hard term's (Hinton et al., section 2).
            soft = tf.reduce_sum(teacher_t * (tf.math.log(teacher_t + EPS) - student_log_t), axis=-1) * t * t
            return (1.0 - self.weight) * hard + self.weight * soft

        def get_config(self):
            return {**super().get_config(), "num_classes": self.num_classes, "temperature": self.temperature,
                    "weight": self.weight, "label_smoothing": self.label_smoothing}

    @keras.saving.register_keras_serializable(package="asl_edge")
    class HardLabelAccuracy(keras.metrics.Mean):
        """Top-1 accuracy against the one-hot labels in front of the teacher's outputs."""

        def __init__(self, num_classes: int, name: str = "accuracy", **kwargs):
            super().__init__(name=name, **kwargs)
            self.num_classes = num_classes

        def update_state(self, y_true, y_pred, sample_weight=None):
            right = tf.cast(tf.equal(tf.argmax(y_true[:, :self.num_classes], -1), tf.argmax(y_pred, -1)), tf.float32)
            return super().update_state(right, sample_weight)

        def get_config(self):
            return {**super().get_config(), "num_classes": self.num_classes}

    return DistillationLoss, HardLabelAccuracy
