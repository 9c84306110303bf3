"""Learning-rate schedules (Keras built-ins) with an optional linear warm-up in front."""

from __future__ import annotations

import functools

from asl_edge.training.config import TrainSection


def register_schedules() -> None:
    """Registers this module's Keras serialisables (the warm-up schedule), so that a checkpoint
    compiled with them (``checkpoints/last.keras`` of a warm-up run) loads before
    :func:`learning_rate` has been called in this process (``--resume``)."""
    _warmup_class()


def schedule_callbacks(train: TrainSection) -> list:
    """Callbacks a schedule needs: ``plateau`` is Keras' ``ReduceLROnPlateau`` on the validation loss
    (multiplying the rate by ``decay_rate`` after ``plateau_patience`` epochs without improvement)."""
    if train.schedule != "plateau":
        return []
    from asl_edge.keras_compat import keras

    return [keras.callbacks.ReduceLROnPlateau(monitor="val_loss", factor=train.decay_rate,
                                              patience=train.plateau_patience, verbose=0)]


@functools.cache
def _warmup_class():
    # Cached: one class, registered once. Loading a checkpoint compiled with a warm-up needs it
    # registered first (see register_schedules).
    from asl_edge.keras_compat import keras

    @keras.saving.register_keras_serializable(package="asl_edge")
    class WarmUp(keras.optimizers.schedules.LearningRateSchedule):
        """Linear warm-up from 0 to the wrapped schedule's start over ``warmup_steps``."""

        def __init__(self, after, warmup_steps: int, peak: float):
            self.after = after
            self.warmup_steps = warmup_steps
            self.peak = peak

        def __call__(self, step):
            from asl_edge.keras_compat import tf

            step = tf.cast(step, tf.float32)
            warm = self.peak * (step + 1.0) / float(max(1, self.warmup_steps))
            return tf.where(step < self.warmup_steps, warm, self.after(step - self.warmup_steps))

        def get_config(self):
            return {"after": keras.optimizers.schedules.serialize(self.after),
                    "warmup_steps": self.warmup_steps, "peak": self.peak}

        @classmethod
        def from_config(cls, config):
            config = dict(config)
            config["after"] = keras.optimizers.schedules.deserialize(config["after"])
            return cls(**config)

    return WarmUp


def learning_rate(train: TrainSection, steps_per_epoch: int, epochs: int | None = None, peak: float | None = None,
                  averaged_epochs: int = 0):
    """Returns a float (``constant``; ``plateau``, lowered by :func:`schedule_callbacks`) or a Keras
    ``LearningRateSchedule``.

    Args:
        train: the ``train`` config section.
        steps_per_epoch: optimizer steps per epoch.
        epochs: epochs the schedule spans (defaults to ``train.epochs``).
        peak: starting learning rate (defaults to ``train.learning_rate``).
        averaged_epochs: the last epochs that weight averaging collects: a ``cosine`` schedule
            reaches ``train.swa_lr_factor`` of the peak where they begin and stays there (SWA's
            constant rate, :mod:`asl_edge.training.averaging`).
    """
    from asl_edge.keras_compat import keras

    schedules = keras.optimizers.schedules
    epochs = train.epochs if epochs is None else epochs
    peak = train.learning_rate if peak is None else peak
    warmup = train.warmup_epochs * steps_per_epoch
    total = max(1, epochs * steps_per_epoch - warmup)
    if train.schedule in ("constant", "plateau"):
        if not warmup:
            return peak
        after = schedules.PiecewiseConstantDecay([total], [peak, peak])
    elif train.schedule == "cosine" and averaged_epochs:
        # CosineDecay holds alpha * peak after decay_steps: the averaged epochs' constant rate
        decay = max(1, total - averaged_epochs * steps_per_epoch)
        after = schedules.CosineDecay(peak, decay, alpha=train.swa_lr_factor)
    elif train.schedule == "cosine":
        after = schedules.CosineDecay(peak, total)
    elif train.schedule == "step":
        boundaries = list(range(train.step_epochs * steps_per_epoch, total, train.step_epochs * steps_per_epoch))
        after = schedules.PiecewiseConstantDecay(
            boundaries or [total], [peak * train.decay_rate**i for i in range(len(boundaries or [total]) + 1)]
        )
    elif train.schedule == "exponential":
        after = schedules.ExponentialDecay(peak, steps_per_epoch, train.decay_rate)
    else:  # validated in config; kept as a guard for programmatic use
        raise ValueError(f"unknown schedule {train.schedule}")
    return _warmup_class()(after, warmup, peak) if warmup else after


def optimizer(train: TrainSection, lr):
    """Builds the configured Keras optimizer with learning rate (or schedule) ``lr``."""
    from asl_edge.keras_compat import keras

    if train.optimizer == "adam":
        return keras.optimizers.Adam(lr)
    if train.optimizer == "adamw":
        return keras.optimizers.AdamW(learning_rate=lr, weight_decay=train.weight_decay)
    if train.optimizer == "sgd":
        return keras.optimizers.SGD(lr, momentum=0.9, nesterov=True)
    return keras.optimizers.RMSprop(lr)
