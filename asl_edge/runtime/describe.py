"""What a model is, read from the model alone: labels, preprocessing and input spec.

The one answer to "where do the labels and the preprocessing come from" for ``predict``,
``evaluate`` and ``benchmark``: embedded in a ``.tflite``/``.onnx`` artifact
(:mod:`asl_edge.runtime.metadata`), or recorded in the run folder of a Keras model
(:mod:`asl_edge.runtime.runfolder`). TensorFlow-free: nothing here loads a model.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from asl_edge.runtime import runfolder
from asl_edge.runtime.errors import ModelError
from asl_edge.runtime.metadata import read_metadata
from asl_edge.runtime.preprocess import Preprocessing

ARTIFACT_SUFFIXES = (".tflite", ".onnx")


@dataclass(frozen=True)
class Description:
    """A model's self-description.

    Attributes:
        path: what was given (artifact, ``.keras`` file or run folder).
        model_path: the file a runtime loads.
        labels: class names in output order.
        preprocessing: how a raw image becomes the model input.
        metadata: everything embedded in the artifact (empty for a run folder).
        run: the run folder, for a Keras model (``None`` for an artifact).
    """

    path: Path
    model_path: Path
    labels: tuple[str, ...]
    preprocessing: Preprocessing
    metadata: dict
    run: runfolder.Run | None = None

    @property
    def is_artifact(self) -> bool:
        return self.run is None

    @property
    def input_shape(self) -> tuple[int, int, int]:
        return self.preprocessing.input_shape


def describe(path: str | Path) -> Description:
    """Reads a model's labels and preprocessing without loading it.

    Args:
        path: a ``.tflite``/``.onnx`` artifact, a ``.keras`` file or a run folder.

    Raises:
        ModelError: missing, unreadable, or not a model asl-edge can describe.
    """
    path = Path(path)
    if not path.exists():
        raise ModelError(f"model not found: {path}")
    if path.suffix in ARTIFACT_SUFFIXES:
        meta = read_metadata(path)
        return Description(path, path, tuple(meta["labels"]), Preprocessing.from_dict(meta["preprocessing"]), meta)
    if path.is_file() and path.suffix != ".keras":
        raise ModelError(f"{path} is not a model: expected a .tflite, .onnx or .keras file or a run folder")
    run = runfolder.load_run(path)
    return Description(path, run.model_path, run.class_names, run.preprocessing, {}, run)
