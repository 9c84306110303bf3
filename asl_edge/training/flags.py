"""The command-line flags that set a training config key: each is an alias of ``--set KEY=VALUE``.

One table, read by the commands (``train``, ``tune``) to declare their options and by
:func:`asl_edge.training.config.flag_sets` to turn what was given into ``--set`` items: a flag is
parsed and range-checked exactly as its ``--set`` form, and every message about the key names both.
This module imports nothing, so ``asl-edge --help`` stays fast and TensorFlow-free.
"""

from __future__ import annotations

from dataclasses import dataclass

BOTH = ("train", "tune")


@dataclass(frozen=True)
class Flag:
    """One alias.

    Attributes:
        flag: the option (``--epochs``).
        key: the config key it sets (``train.epochs``).
        metavar: the value's name in ``--help``.
        help: what it is, without the key (``--help`` adds "= --set KEY=VALUE").
        commands: the commands that take it.
    """

    flag: str
    key: str
    metavar: str
    help: str
    commands: tuple[str, ...] = BOTH

    @property
    def dest(self) -> str:
        """The click parameter name (``train__epochs``), unique across the table."""
        return self.key.replace(".", "__")


FLAGS = (
    Flag("--data", "data.source", "SOURCE",
         "builtin (default), a class-per-folder tree, a Sign Language MNIST .csv or an .npz."),
    Flag("--model", "model.name", "NAME", "Registry name (see `asl-edge models`) [default: the recipe's]."),
    Flag("--epochs", "train.epochs", "N", "Maximum epochs [default: the recipe's; tune: 15 per trial]."),
    Flag("--batch-size", "train.batch_size", "N", "Images per step."),
    Flag("--learning-rate", "train.learning_rate", "LR", "Peak learning rate."),
    Flag("--image-size", "data.image_size", "PIXELS", "Model input side in pixels."),
    Flag("--seed", "train.seed", "N", "Seed of the split, shuffling, augmentation and initialisation."),
    Flag("--groups", "data.groups_file", "CSV", "CSV of path,signer for a split by signer."),
    Flag("--teacher", "train.teacher", "RUN_DIR",
         "Distil this trained run into the new model (train.distill_temperature, train.distill_weight).",
         ("train",)),
    Flag("--name", "model.export_name", "NAME",
         "The name `asl-edge export` gives the artifacts (<name>_int8.tflite) "
         "[default: <data>-<recipe>, e.g. asl-digits-fast].", ("train",)),
)
BY_KEY = {f.key: f for f in FLAGS}


def label(key: str) -> str:
    """How a message names ``key``: with its flag where it has one (``train.epochs (--epochs)``), so
    the line is the same whichever of the two forms was typed."""
    flag = BY_KEY.get(key)
    return f"{key} ({flag.flag})" if flag else key


def for_command(command: str) -> tuple[Flag, ...]:
    """The aliases ``command`` takes, in the table's order."""
    return tuple(f for f in FLAGS if command in f.commands)
