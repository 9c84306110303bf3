"""Stochastic weight averaging (SWA): the final model is the mean of the weights of the last epochs.

Izmailov et al. 2018 (https://arxiv.org/abs/1803.05407), as PyTorch's ``torch.optim.swa_utils``
does it: the learning rate is held at a small constant for the last ``train.swa_epochs`` epochs
(the cosine schedule ends there instead of at zero, :func:`asl_edge.training.schedules.learning_rate`),
the trainable weights at the end of each of those epochs are averaged, and the BatchNorm
statistics are then measured again for the averaged weights with one pass over the training
batches (a BatchNorm's running statistics belong to the weights they were collected with).

Why it is here: two fast-recipe models trained alike disagree on which hard images they get wrong
(a hand at half size: most errors are one model's only), and the mean of their outputs beat
either model alone; averaging weights along one run is the way to some of an ensemble's benefit
at no cost at inference. Measured on the fast recipe (the last 30 of 140 epochs at a tenth of the
peak rate, two runs; benchmarks/REPORT_HISTORY.md, "Sixth round") it did not lift that shift, so no
recipe uses it yet: off by default.

The running mean is saved with each epoch's checkpoint, named by the number of epochs in it
(``checkpoints/swa_average-<count>.npz``), and the saved counters name the one that belongs to the
saved model: a run killed between the two files resumes with the mean of exactly the epochs it
completed, as an uninterrupted run would have it.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from asl_edge.runtime import runfolder
from asl_edge.runtime.fsutil import atomic_path

log = logging.getLogger(__name__)


def averaging_callback(folder: Path, state: dict, first_epoch: int):
    """A Keras callback that keeps the running mean of the trainable weights from ``first_epoch`` on.

    Args:
        folder: the run's checkpoint folder (the mean is saved there each averaged epoch).
        state: the run's saved counters; ``swa_count`` (epochs averaged so far) is kept there, so
            it is written with them.
        first_epoch: the first averaged epoch (0-based).
    """
    from asl_edge.keras_compat import keras

    folder = Path(folder)

    def path(count: int) -> Path:
        return folder / runfolder.SWA_CHECKPOINT.format(count=count)

    class WeightAverage(keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.count = 0
            self.mean: list[np.ndarray] | None = None

        def on_train_begin(self, logs=None):
            self.count = int(state.get("swa_count", 0))
            self.mean = _load_mean(path(self.count)) if self.count else None
            if self.mean is None:
                self.count = 0

        def on_epoch_end(self, epoch, logs=None):
            if epoch < first_epoch:
                return
            self._remove_all_but(int(state.get("swa_count", 0)))  # the saved state's mean stays
            self.count += 1
            self.mean = running_mean(self.mean, [v.numpy() for v in self.model.trainable_weights], self.count)
            _save_mean(path(self.count), self.mean)
            state["swa_count"] = self.count

        def _remove_all_but(self, count: int) -> None:
            for old in folder.glob(runfolder.SWA_CHECKPOINT.format(count="*")):
                if old != path(count):
                    old.unlink()

        def apply(self, model, batches) -> bool:
            """Loads the mean into ``model`` and re-measures its BatchNorm statistics on ``batches``;
            returns whether any epoch was averaged (an early stop before the first one: nothing to do)."""
            if self.mean is None:  # a resumed phase that had already finished: no fit ran
                self.on_train_begin()
            self._remove_all_but(self.count)
            if not self.count:
                log.info("weight averaging: stopped before epoch %d, the last weights are kept", first_epoch + 1)
                return False
            for var, mean in zip(model.trainable_weights, self.mean):
                var.assign(mean)
            recompute_batch_norm(model, batches)
            log.info("weight averaging: the mean of the last %d epochs' weights", self.count)
            return True

    return WeightAverage()


def running_mean(mean: list[np.ndarray] | None, weights: list[np.ndarray], count: int) -> list[np.ndarray]:
    """The mean of ``count`` weight sets, given the mean of the first ``count - 1`` and the last one."""
    if mean is None:
        return weights
    return [m + (w - m) / count for m, w in zip(mean, weights)]


def _load_mean(path: Path) -> list[np.ndarray] | None:
    if not path.is_file():
        return None
    with np.load(path) as saved:
        return [saved[f"w{i}"] for i in range(len(saved.files))]


def _save_mean(path: Path, mean: list[np.ndarray]) -> None:
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as fh:
            np.savez(fh, **{f"w{i}": m for i, m in enumerate(mean)})


def recompute_batch_norm(model, batches) -> int:
    """Sets every BatchNorm layer's moving mean and variance to their average over ``batches``
    (``(x, ...)`` tuples, as the training data yields them) in training mode; returns the batch count.

    Keras updates the statistics as ``m * old + (1 - m) * batch``; a momentum of ``i / (i + 1)``
    at the ``i``-th batch makes that the plain mean over the batches, as ``torch.optim.swa_utils.update_bn``
    does with ``momentum=None``. The model is called eagerly, so the changed momentum is read at each call.
    """
    from asl_edge.keras_compat import keras

    layers = [layer for layer in _all_layers(model) if isinstance(layer, keras.layers.BatchNormalization)]
    if not layers:
        return 0
    momenta = [layer.momentum for layer in layers]
    for layer in layers:
        layer.moving_mean.assign(np.zeros(layer.moving_mean.shape, np.float32))
        layer.moving_variance.assign(np.ones(layer.moving_variance.shape, np.float32))
    seen = 0
    try:
        for seen, (x, *_rest) in enumerate(batches, start=1):
            for layer in layers:
                layer.momentum = (seen - 1) / seen
            model(x, training=True)
    finally:
        for layer, momentum in zip(layers, momenta):
            layer.momentum = momentum
    return seen


def _all_layers(model):
    for layer in model.layers:
        yield layer
        if hasattr(layer, "layers"):
            yield from _all_layers(layer)
