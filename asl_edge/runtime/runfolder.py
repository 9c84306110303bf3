"""The run folder that ``asl-edge train`` writes and every later stage reads.

Layout::

    model.keras           the trained tf_keras model (the float source of every export)
    labels.txt            one class name per line, in output order
    preprocessing.json    asl_edge.runtime.preprocess.Preprocessing.to_dict()
    config.yaml           the resolved training config
    split.json            data source, groups file, split method, seed and the indices of each split
    metrics.json          held-out metrics; history.csv, training_curves.png, confusion_matrix.png
    checkpoints/          last.keras, best.keras and state.json while training (for --resume)
    logs/                 TensorBoard logs

Only this module knows the file names. Reading needs no TensorFlow (the Keras model itself is
loaded and saved by :mod:`asl_edge.models.io`); the data a run was trained on is reloaded by
:func:`asl_edge.data.runs.run_dataset`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from asl_edge.runtime.errors import ModelError
from asl_edge.runtime.fsutil import atomic_write, atomic_write_json
from asl_edge.runtime.preprocess import Preprocessing

MODEL_FILE = "model.keras"
LABELS_FILE = "labels.txt"
PREPROCESSING_FILE = "preprocessing.json"
CONFIG_FILE = "config.yaml"
SPLIT_FILE = "split.json"
MAX_SPLIT_BYTES = 16 << 20
METRICS_FILE = "metrics.json"
HISTORY_FILE = "history.csv"
CURVES_FILE = "training_curves.png"
CONFUSION_FILE = "confusion_matrix.png"
CHECKPOINTS = "checkpoints"
LAST_CHECKPOINT = "last.keras"
BEST_CHECKPOINT = "best.keras"
STATE_FILE = "state.json"
SWA_CHECKPOINT = "swa_average-{count}.npz"  # stochastic weight averaging's running mean, by epochs averaged
LOGS = "logs"
_TOP_FILES = frozenset({MODEL_FILE, LABELS_FILE, PREPROCESSING_FILE, CONFIG_FILE, SPLIT_FILE, METRICS_FILE,
                        HISTORY_FILE, CURVES_FILE, CONFUSION_FILE})


def in_layout(name: str) -> bool:
    """True for a path (relative, ``/``-separated) that training writes into a run folder: the files
    above, anything under ``checkpoints/`` or ``logs/``, and the temporary file of an interrupted
    atomic write of a top-level file (``.<name>.tmp.*``)."""
    top, _, rest = name.partition("/")
    if rest:
        return top in (CHECKPOINTS, LOGS)
    return name in _TOP_FILES or any(name.startswith(f".{f}.tmp.") for f in _TOP_FILES)


@dataclass(frozen=True)
class Run:
    """What a run folder holds, without loading the model."""

    folder: Path
    model_path: Path
    class_names: tuple[str, ...]
    preprocessing: Preprocessing
    split: dict | None

    @property
    def name(self) -> str:
        return self.folder.name


def read_labels(path: Path) -> tuple[str, ...]:
    """One printable name per line (control characters would forge output lines)."""
    from asl_edge.runtime.fsutil import printable, read_regular
    from asl_edge.runtime.validate import check_labels

    try:
        text = read_regular(path, ModelError, "labels file", 4 << 20).decode("utf-8")
    except UnicodeDecodeError:
        raise ModelError(f"{printable(path)} is not UTF-8 text") from None
    names = tuple(line.strip() for line in text.splitlines() if line.strip())
    if not names:
        raise ModelError(f"{printable(path)} lists no labels")
    return check_labels(names, path)


def load_run(folder: str | Path) -> Run:
    """Reads a run folder (or the folder of a ``.keras`` file).

    Raises:
        ModelError: the folder is missing or lacks the model, labels or preprocessing.
    """
    folder = Path(folder)
    if folder.is_file() and folder.suffix == ".keras":
        folder = folder.parent
    if not folder.is_dir():
        raise ModelError(f"model folder not found: {folder}")
    for name in (MODEL_FILE, LABELS_FILE, PREPROCESSING_FILE):
        if not (folder / name).is_file():
            raise ModelError(f"{folder} is not a trained run folder: {name} is missing")
    from asl_edge.runtime.errors import DataError
    from asl_edge.runtime.fsutil import printable, read_regular

    try:
        preprocessing = Preprocessing.from_dict(json.loads(read_regular(folder / PREPROCESSING_FILE, ModelError,
                                                                        "preprocessing file", 1 << 20)))
        # JSON numbers are 30 bytes each in Python: a 250 MB file of them took 3 GB. 16 MB holds
        # the split of millions of images.
        split = json.loads(read_regular(folder / SPLIT_FILE, ModelError, "split file", MAX_SPLIT_BYTES)) \
            if (folder / SPLIT_FILE).is_file() else None
        if split is not None and (not isinstance(split, dict) or not isinstance(split.get("source"), str)):
            raise TypeError("split.json is not an object naming its data source")
    except (ValueError, TypeError, RecursionError, DataError) as exc:
        raise ModelError(f"{printable(folder)}: unreadable run metadata: {printable(str(exc))[:200]}") from None
    return Run(folder, folder / MODEL_FILE, read_labels(folder / LABELS_FILE), preprocessing, split)


def write_metadata(folder: str | Path, class_names, preprocessing: Preprocessing,
                   split_record: dict | None = None) -> None:
    """Writes a run's labels, preprocessing and split record (the model is written by ``models.io``)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    atomic_write(folder / LABELS_FILE, "\n".join(class_names) + "\n")
    atomic_write_json(folder / PREPROCESSING_FILE, preprocessing.to_dict())
    if split_record is not None:
        atomic_write_json(folder / SPLIT_FILE, split_record)
