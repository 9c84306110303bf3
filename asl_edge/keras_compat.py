"""The one place asl-edge imports TensorFlow and Keras.

tensorflow-model-optimization supports only Keras 2, so the package uses ``tf_keras`` and sets
``TF_USE_LEGACY_KERAS=1`` before TensorFlow is first imported; Keras 3 models fail inside tfmot
(https://github.com/tensorflow/model-optimization/issues/1105). Every other module does
``from asl_edge.keras_compat import tf, keras`` and only inside functions that need them, so
``asl-edge --help`` and the runtime-only commands never import TensorFlow.
"""

import contextlib
import os

os.environ["TF_USE_LEGACY_KERAS"] = "1"
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from asl_edge.errors import require  # noqa: E402


@contextlib.contextmanager
def _quiet_native_stderr():
    """Hides what TensorFlow's C++ code prints while it loads (``cudart_stub``, ``cuInit`` on
    machines without a GPU). They are logged before absl::InitializeLog() runs, when absl ignores
    every threshold, so TF_CPP_MIN_LOG_LEVEL cannot silence them
    (https://github.com/tensorflow/tensorflow/pull/102212, https://github.com/abseil/abseil-cpp/pull/1957),
    and they would bury asl-edge's one-line errors. ``ASL_EDGE_TF_LOGS=1`` shows them."""
    if os.environ.get("ASL_EDGE_TF_LOGS") == "1":
        yield
        return
    saved = os.dup(2)
    try:
        with open(os.devnull, "w") as null:
            os.dup2(null.fileno(), 2)
            yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


with _quiet_native_stderr():
    tf = require("tensorflow", "train")
    keras = require("tf_keras", "train")
    tf.config.list_physical_devices()  # initialise the platforms now, while stderr is quiet

__all__ = ["keras", "tf"]
