"""The one place asl-edge imports TensorFlow, Keras and tensorflow-model-optimization.

tensorflow-model-optimization supports only Keras 2, so the package uses ``tf_keras`` and sets
``TF_USE_LEGACY_KERAS=1`` before TensorFlow is first imported; Keras 3 models fail inside tfmot
(https://github.com/tensorflow/model-optimization/issues/1105). Every other module does
``from asl_edge.keras_compat import tf, keras`` (and :func:`tfmot` for compression) only inside
functions that need them, so ``asl-edge --help`` and the runtime-only commands never import
TensorFlow; ``tests/test_layers.py`` checks that.
"""

import os

os.environ["TF_USE_LEGACY_KERAS"] = "1"
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from asl_edge.runtime.extras import require  # noqa: E402
from asl_edge.runtime.quiet import quiet_native_stderr  # noqa: E402

with quiet_native_stderr():
    tf = require("tensorflow", "train")
    keras = require("tf_keras", "train")
    tf.config.list_physical_devices()  # initialise the platforms now, while stderr is quiet



def tfmot():
    """tensorflow-model-optimization, imported on first use (it is slow to import and only the
    export stage's compression needs it)."""
    with quiet_native_stderr():
        return require("tensorflow_model_optimization", "train")


__all__ = ["keras", "tf", "tfmot"]
