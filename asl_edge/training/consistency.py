"""Consistency training: each image seen twice per step, differently augmented, its two readings pulled together.

With ``train.consistency`` the training pipeline (:func:`asl_edge.training.pipeline.make_dataset`,
``pairs=True``) augments every batch twice (each copy its own background, light, geometry and
sensor draws) and stacks the copies: rows ``i`` and ``i + B`` of a ``2B`` batch are one image. The
loss is the cross-entropy of every row plus ``weight`` times the Jensen-Shannon divergence between
the two readings of the image, the consistency term of AugMix (Hendrycks et al. 2020,
arXiv:1912.02781, section 3): a network that reads a hand the same over any background learns what
the two copies share, the hand. The targets carry a last column that says whether a batch is
paired, so the validation batches (one copy of each image) get the cross-entropy alone and the
validation loss, which picks the kept epoch, means what it means without the option.
"""

from __future__ import annotations

import functools

EPS = 1e-7


def paired_targets(dataset, num_classes: int, paired: bool):
    """Maps batches ``(x, y[, w])`` to ``(x, [one_hot(y) | paired][, w])``."""
    from asl_edge.keras_compat import tf

    flag = 1.0 if paired else 0.0

    def add(x, y, *w):
        one_hot = tf.one_hot(y, num_classes)
        return (x, tf.concat([one_hot, tf.fill([tf.shape(y)[0], 1], flag)], axis=-1), *w)

    return dataset.map(add, num_parallel_calls=tf.data.AUTOTUNE)


def register_consistency() -> None:
    """Registers the loss and its accuracy (distillation's, on the labels' columns), so a checkpoint
    trained with them loads before they are first built in this process (``--resume``)."""
    from asl_edge.training.distill import register_distillation

    _loss_class()
    register_distillation()


def consistency_loss(num_classes: int, weight: float, label_smoothing: float = 0.0):
    """The loss for targets made by :func:`paired_targets`."""
    return _loss_class()(num_classes=num_classes, weight=weight, label_smoothing=label_smoothing)


@functools.cache
def _loss_class():
    # Cached: the class defined and registered once per process (see register_consistency).
    from asl_edge.keras_compat import keras, tf

    def kl(p, q):
        return tf.reduce_sum(p * (tf.math.log(p + EPS) - tf.math.log(q + EPS)), axis=-1)

    @keras.saving.register_keras_serializable(package="asl_edge")
    class ConsistencyLoss(keras.losses.Loss):
        """``CE(labels) + weight * paired * JS(p, p of the other copy)`` per row."""

        def __init__(self, num_classes: int, weight: float = 1.0, label_smoothing: float = 0.0,
                     name: str = "consistency", **kwargs):
            super().__init__(name=name, **kwargs)
            self.num_classes, self.weight, self.label_smoothing = num_classes, weight, label_smoothing

        def call(self, y_true, y_pred):
            labels, paired = y_true[:, :self.num_classes], y_true[:, self.num_classes]
            hard = keras.losses.categorical_crossentropy(labels, y_pred, label_smoothing=self.label_smoothing)
            # Row i's other copy is row i + B of a 2B batch: rolling by half the rows pairs them both ways.
            other = tf.roll(y_pred, shift=tf.shape(y_pred)[0] // 2, axis=0)
            middle = (y_pred + other) / 2.0
            js = (kl(y_pred, middle) + kl(other, middle)) / 2.0
            return hard + self.weight * paired * js

        def get_config(self):
            return {**super().get_config(), "num_classes": self.num_classes, "weight": self.weight,
                    "label_smoothing": self.label_smoothing}

    return ConsistencyLoss
