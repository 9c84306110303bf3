"""The run folder that ``asl-edge train`` writes and every later stage reads.

Layout::

    model.keras           the trained tf_keras model (the float source of every export)
    labels.txt            one class name per line, in output order
    preprocessing.json    asl_edge.preprocess.Preprocessing.to_dict()
    config.yaml           the resolved training config
    split.json            data source, groups file, split method, seed and the indices of each split
    metrics.json, history.csv, training_curves.png, confusion_matrix.png, checkpoints/

Only this module knows the file names.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from asl_edge.errors import ModelError
from asl_edge.fsutil import atomic_path, atomic_write, atomic_write_json
from asl_edge.preprocess import Preprocessing

MODEL_FILE = "model.keras"
LABELS_FILE = "labels.txt"
PREPROCESSING_FILE = "preprocessing.json"
CONFIG_FILE = "config.yaml"
SPLIT_FILE = "split.json"
METRICS_FILE = "metrics.json"


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
    names = tuple(line.strip() for line in Path(path).read_text().splitlines() if line.strip())
    if not names:
        raise ModelError(f"{path} lists no labels")
    return names


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
    try:
        preprocessing = Preprocessing.from_dict(json.loads((folder / PREPROCESSING_FILE).read_text()))
        split = json.loads((folder / SPLIT_FILE).read_text()) if (folder / SPLIT_FILE).is_file() else None
    except (json.JSONDecodeError, TypeError) as exc:
        raise ModelError(f"{folder}: unreadable run metadata: {exc}") from None
    return Run(folder, folder / MODEL_FILE, read_labels(folder / LABELS_FILE), preprocessing, split)


def save_model(model, dest: Path) -> None:
    """Saves a Keras model atomically (the ``.keras`` format, no pickle)."""
    with atomic_path(dest) as tmp:
        model.save(tmp)


def _without_optimizer(model):
    # The .keras format always stores a compiled model's optimizer state (tf_keras rejects
    # include_optimizer there); checkpoints need it to resume, the final model does not.
    from asl_edge.keras_compat import keras

    if getattr(model, "optimizer", None) is None:
        return model
    bare = keras.Model.from_config(model.get_config())
    bare.set_weights(model.get_weights())
    return bare


def write_run(folder: str | Path, model, class_names, preprocessing: Preprocessing,
              split_record: dict | None = None) -> Run:
    """Writes the files that make ``folder`` a loadable run (model, labels, preprocessing, split)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    atomic_write(folder / LABELS_FILE, "\n".join(class_names) + "\n")
    atomic_write_json(folder / PREPROCESSING_FILE, preprocessing.to_dict())
    if split_record is not None:
        atomic_write_json(folder / SPLIT_FILE, split_record)
    save_model(_without_optimizer(model), folder / MODEL_FILE)
    return load_run(folder)


def load_keras_model(path: str | Path):
    """Loads a ``.keras`` model in safe mode (no arbitrary code, no pickle).

    Raises:
        ModelError: the file is missing, truncated or not a Keras model.
    """
    import zipfile

    path = Path(path)
    if not path.is_file():
        raise ModelError(f"model file not found: {path}")
    if not zipfile.is_zipfile(path):
        raise ModelError(f"{path} is not a valid .keras file (truncated or corrupt)")
    from asl_edge.keras_compat import keras

    try:
        return keras.models.load_model(path, compile=False, safe_mode=True)
    except Exception as exc:  # Keras raises many types for a bad archive; all mean "unusable file"
        raise ModelError(f"cannot load Keras model {path}: {type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}") from None


def run_dataset(run: Run, data: str | None = None, part: str = "test", stream: bool | None = None):
    """Reloads the data a run was trained on and returns one part of its split.

    Args:
        run: the run.
        data: another data source; then the whole of it is returned.
        part: ``train``, ``val`` or ``test``.
        stream: stream folder trees from disk (``None``: decide by size, see :func:`load_dataset`).

    Returns:
        An :class:`~asl_edge.data.ImageDataset` preprocessed as the run records.
    """
    import numpy as np

    from asl_edge.data import load_dataset

    if data is not None:
        return load_dataset(data, run.preprocessing, stream=stream)
    if run.split is None:
        raise ModelError(f"{run.folder} records no data split: pass --data")
    ds = load_dataset(run.split["source"], run.preprocessing, groups_file=run.split.get("groups_file"), stream=stream)
    return ds.subset(np.asarray(run.split[part], np.int64))

