"""tqdm progress for Keras fits that run with ``verbose=0`` (fine-tuning, compression, tuning trials)."""

from __future__ import annotations

import sys


def epoch_bar(epochs: int, desc: str):
    """A Keras callback that shows one tqdm bar over ``epochs`` epochs, with the latest loss.

    tqdm hides itself when stderr is not a terminal (``disable=None``), so logs and CI stay clean.
    """
    from tqdm import tqdm

    from asl_edge.keras_compat import keras

    class EpochBar(keras.callbacks.Callback):
        def on_train_begin(self, logs=None):
            self.bar = tqdm(total=epochs, desc=desc, unit="epoch", file=sys.stderr, disable=None, leave=False)

        def on_epoch_end(self, epoch, logs=None):
            logs = logs or {}
            self.bar.set_postfix({k: f"{v:.3f}" for k, v in logs.items() if k in ("loss", "val_accuracy")})
            self.bar.update(1)

        def on_train_end(self, logs=None):
            self.bar.close()

    return EpochBar()
