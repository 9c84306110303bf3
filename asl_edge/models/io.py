"""Saving and loading Keras models: the ``.keras`` format only, in safe mode, never pickle."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from asl_edge.runtime import runfolder
from asl_edge.runtime.errors import ModelError, RuntimeUnavailable
from asl_edge.runtime.fsutil import atomic_path
from asl_edge.runtime.preprocess import Preprocessing
from asl_edge.runtime.runners import Runner

log = logging.getLogger(__name__)


def save_model(model, dest: Path) -> None:
    """Saves a Keras model atomically (the ``.keras`` format, no pickle)."""
    with atomic_path(dest) as tmp:
        model.save(tmp)


def without_optimizer(model):
    # The .keras format always stores a compiled model's optimizer state (tf_keras rejects
    # include_optimizer there); checkpoints need it to resume, the final model does not.
    from asl_edge.keras_compat import keras

    if getattr(model, "optimizer", None) is None:
        return model
    bare = keras.Model.from_config(model.get_config())
    bare.set_weights(model.get_weights())
    return bare


def write_run(folder: str | Path, model, class_names, preprocessing: Preprocessing,
              split_record: dict | None = None) -> runfolder.Run:
    """Writes the files that make ``folder`` a loadable run (model, labels, preprocessing, split)."""
    folder = Path(folder)
    runfolder.write_metadata(folder, class_names, preprocessing, split_record)
    save_model(without_optimizer(model), folder / runfolder.MODEL_FILE)
    return runfolder.load_run(folder)


def load_keras_model(path: str | Path, compile: bool = False):
    """Loads a ``.keras`` model in safe mode, after an allow-list check of its config.

    Every class the archive names must be one of Keras' built-in layers (no ``Lambda``) or one of
    asl-edge's own (:mod:`asl_edge.models.allowlist`), and the weights its layers imply are bounded.
    The check reads a private copy of the file once, and Keras loads an archive rebuilt from exactly
    the config bytes checked and the weights: neither a change to the file nor a second
    ``config.json`` member can put anything unchecked in front of Keras.

    Args:
        path: the ``.keras`` file (a model, or a checkpoint with ``compile=True``).
        compile: restore the optimizer and loss (checkpoints, to resume training).

    Raises:
        ModelError: the file is missing, truncated, not a Keras model or names a class that is not
            allowed.
    """
    import shutil
    import tempfile
    import zipfile

    from asl_edge.models.allowlist import check_keras_file
    from asl_edge.runtime.fsutil import require_regular_file

    path = Path(path)
    require_regular_file(path, ModelError, what="model file")
    with tempfile.TemporaryDirectory(prefix="asl-edge-model-") as tmp:
        private = Path(tmp) / "model.keras"
        with open(path, "rb") as src, open(private, "wb") as dst:
            shutil.copyfileobj(src, dst)
        if not zipfile.is_zipfile(private):
            raise ModelError(f"{path} is not a valid .keras file (truncated or corrupt)")
        checked = Path(tmp) / "checked.keras"
        check_keras_file(private, shown=path, dest=checked)
        from asl_edge.keras_compat import keras

        try:
            return keras.models.load_model(checked, compile=compile, safe_mode=True)
        except Exception as exc:  # Keras raises many types for a bad archive; all mean "unusable file"
            first = str(exc).splitlines()[0][:300] if str(exc) else ""
            raise ModelError(f"cannot load Keras model {path}: {type(exc).__name__}: {first}") from None


# -- Keras -------------------------------------------------------------------------------------
def load_keras_runner(path: Path, threads: int | None, device: str) -> Runner:
    """The Keras runtime for :func:`asl_edge.runtime.runners.load_runner` (TensorFlow, imported here)."""
    import importlib.util

    # Looked up, not imported: importing TensorFlow outside keras_compat's quiet block prints its
    # native start-up lines (TensorFlow set to None in sys.modules reads as missing, too).
    from asl_edge.models.allowlist import check_keras_file
    from asl_edge.runtime.extras import install_hint

    # Refused before TensorFlow's start-up (seconds): load_keras_model checks its own copy again.
    check_keras_file(path)
    if importlib.util.find_spec("tensorflow") is None:
        raise RuntimeUnavailable(
            f"a Keras model needs TensorFlow, which is not installed: {install_hint('train')} "
            "(or use the model's exported .tflite/.onnx)"
        )
    from asl_edge.keras_compat import tf

    if threads:
        try:
            tf.config.threading.set_intra_op_parallelism_threads(threads)
            tf.config.threading.set_inter_op_parallelism_threads(1)
        except RuntimeError:
            log.debug("TensorFlow threads already fixed for this process")
    if device == "gpu" and not tf.config.list_physical_devices("GPU"):
        raise RuntimeUnavailable("not measured: no GPU")
    # Pinned: TensorFlow places ops on a GPU whenever one is visible, so a "cpu" row would
    # otherwise silently time the GPU.
    placement = "/GPU:0" if device == "gpu" else "/CPU:0"
    with tf.device(placement):
        model = load_keras_model(path)

    @tf.function(reduce_retracing=True)
    def forward(x):
        with tf.device(placement):
            return model(x, training=False)

    def predict(x: np.ndarray) -> np.ndarray:
        return forward(tf.constant(x)).numpy().astype(np.float32)

    return Runner(
        "keras",
        tf.__version__,
        path,
        tuple(int(d) for d in model.input_shape[1:]),
        np.dtype(np.float32),
        None,
        device,
        predict,
        (placement,),
    )


def tf_lite_interpreter():
    """TensorFlow's deprecated ``tf.lite.Interpreter``: the last TFLite fallback when neither
    ai-edge-litert nor tflite-runtime is installed."""
    from asl_edge.keras_compat import tf

    log.warning("ai_edge_litert is not installed; falling back to the deprecated tf.lite.Interpreter")
    return tf.lite.Interpreter, tf.__version__, "tf.lite"
