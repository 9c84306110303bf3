"""What a person sees while a model trains: one line saying what is trained, on what, where to and
for how long, then one tqdm bar over the epochs (on a terminal) or one short line per epoch (in a
log), never Keras' own per-batch lines.

Everything goes through the ``asl_edge.progress`` logger at INFO: the command line shows it on
stderr (``-q`` silences it, bar included); a Python caller sees the bar on a terminal and the lines
once it configures logging. Compression fine-tuning and tuning trials use :func:`epoch_bar`.
"""

from __future__ import annotations

import logging
import shutil
import sys
import time

from asl_edge.runtime import fmt

PROGRESS = logging.getLogger("asl_edge.progress")
BAR_WIDTH = 100  # columns; the bar never runs wider than the tables


def quiet() -> bool:
    """Whether progress is silenced (``-q``: the progress logger above WARNING)."""
    return not PROGRESS.isEnabledFor(logging.WARNING)


def _bar(total: int, initial: int, desc: str, leave: bool):
    from tqdm import tqdm

    # tqdm hides itself when stderr is not a terminal (disable=None), so logs and CI get lines instead.
    # The size is given: tqdm reads a terminal of unknown size (0 x 0) as too small to show a bar.
    size = shutil.get_terminal_size((BAR_WIDTH, 20))
    return tqdm(total=total, initial=initial, desc=desc, unit="epoch", file=sys.stderr, leave=leave,
                disable=True if quiet() else None, dynamic_ncols=False,
                ncols=min(size.columns or BAR_WIDTH, BAR_WIDTH), nrows=size.lines or 20)


def plan_line(model: str, recipe: str, source: str, split: dict, epochs: int, out) -> str:
    """The line before training: model, recipe, data with its images and signers per split, epochs
    and the run folder, e.g. ``training edge_cnn (recipe fast) on builtin: 1,882 images of 200
    signers (train/val/test: 1,520/95/267 images, 160/10/30 signers), up to 40 epochs -> runs/...``."""
    sizes, groups = split["sizes"], split.get("groups")
    parts = ("train", "val", "test")
    what = fmt.plural(sum(sizes.values()), "image")
    per = "/".join(fmt.count(sizes[p]) for p in parts) + " images"
    if groups:
        what += f" of {fmt.plural(sum(groups.values()), 'signer')}"
        per += ", " + "/".join(fmt.count(groups[p]) for p in parts) + " signers"
    recipe = f" (recipe {recipe})" if recipe else ""
    return (f"training {model}{recipe} on {source}: {what} (train/val/test: {per}), "
            f"up to {fmt.plural(epochs, 'epoch')} -> {out}")


def epoch_line(epoch: int, epochs: int, logs: dict, seconds: float, best: bool) -> str:
    """One epoch in a log (under 100 columns): ``epoch 3/40  loss 0.5120  accuracy 84.10%  val loss
    0.3010  val accuracy 91.58%  7.1 s  best``."""
    acc = next((k for k in logs if k.endswith("accuracy") and not k.startswith("val_")), None)
    parts = [f"epoch {epoch}/{epochs}", f"loss {logs.get('loss', float('nan')):.4f}"]
    if acc:
        parts.append(f"accuracy {fmt.percent(logs[acc])}")
    if "val_loss" in logs:
        parts.append(f"val loss {logs['val_loss']:.4f}")
    if acc and f"val_{acc}" in logs:
        parts.append(f"val accuracy {fmt.percent(logs[f'val_{acc}'])}")
    parts.append(fmt.duration(seconds))
    return "  ".join(parts + (["best"] if best else []))


def estimate_line(seconds: float, left: int) -> str:
    """After the second epoch (the first also builds the graph, so it is no measure of the others:
    about twice as long for the fast recipe): how long the rest should take."""
    if left <= 0:
        return f"the epoch took {fmt.duration(seconds)}"
    return (f"an epoch takes about {fmt.duration(seconds)}: about {fmt.duration(seconds * left)} for the other "
            f"{fmt.plural(left, 'epoch')} (early stopping may end sooner)")


def say(message: str, bar=None) -> None:
    """``message`` on the progress logger, above a live bar without breaking it."""
    if bar is not None and not bar.disable:
        with bar.external_write_mode():
            PROGRESS.info(message)
    else:
        PROGRESS.info(message)


def training_progress(epochs: int, initial: int, stopper, desc: str = "train", averaged: int = 0):
    """The Keras callback of ``asl-edge train``'s progress: the bar (or the epoch lines), the time
    estimate after the second epoch and, at the end, which epoch's weights the model keeps (the
    lowest validation loss: ``stopper``, the run's EarlyStopping, restores them). Place it after
    ``stopper`` so that an epoch's line knows whether it was the best so far."""
    from asl_edge.keras_compat import keras

    class TrainingProgress(keras.callbacks.Callback):
        def on_train_begin(self, logs=None):
            self.bar, self.seen = _bar(epochs, initial, desc, leave=True), 0

        def on_epoch_begin(self, epoch, logs=None):
            self.start = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            logs, seconds = logs or {}, time.perf_counter() - self.start
            self.seen += 1
            best = getattr(stopper, "best_epoch", None) == epoch
            if self.bar.disable:
                say(epoch_line(epoch + 1, epochs, logs, seconds, best))
            else:
                val = next((v for k, v in logs.items() if k.startswith("val_") and k.endswith("accuracy")), None)
                self.bar.set_postfix_str(f"loss {logs.get('loss', float('nan')):.3f}, val {fmt.percent(val)}"
                                         f"{', best' if best else ''}", refresh=False)
                self.bar.update(1)
            left = epochs - epoch - 1
            if (self.seen == 2 and left > 0) or (self.seen == 1 and left == 0):
                say(estimate_line(seconds, left), self.bar)

        def on_train_end(self, logs=None):
            self.bar.close()
            if averaged:
                say(f"final weights: the mean of the last {fmt.plural(averaged, 'epoch')}' weights")
            elif getattr(stopper, "best_weights", None) is not None:
                say(f"restored the weights of epoch {stopper.best_epoch + 1} (lowest validation loss "
                    f"{stopper.best:.4f})")

    return TrainingProgress()


def epoch_bar(epochs: int, desc: str):
    """A Keras callback that shows one tqdm bar over ``epochs`` epochs, with the latest loss, for fits
    that run with ``verbose=0`` (compression fine-tuning, tuning trials)."""
    from asl_edge.keras_compat import keras

    class EpochBar(keras.callbacks.Callback):
        def on_train_begin(self, logs=None):
            self.bar = _bar(epochs, 0, desc, leave=False)

        def on_epoch_end(self, epoch, logs=None):
            logs = logs or {}
            self.bar.set_postfix({k: f"{v:.3f}" for k, v in logs.items() if k in ("loss", "val_accuracy")})
            self.bar.update(1)

        def on_train_end(self, logs=None):
            self.bar.close()

    return EpochBar()
