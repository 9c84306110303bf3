"""Model builders, selected by name from one registry (see :mod:`asl_edge.models.registry`).

Importing this package registers the builders and the Keras runtime; none of it imports
TensorFlow until a model is built or loaded.
"""

from asl_edge.models import cnn, landmark, transfer  # noqa: F401  (registration)
from asl_edge.models.io import load_keras_runner, tf_lite_interpreter
from asl_edge.models.registry import ModelConfig, ModelSpec, create_model, get_spec, list_models
from asl_edge.runtime.runners import register_runtime, register_tflite_fallback

register_runtime("keras", load_keras_runner)
register_tflite_fallback(tf_lite_interpreter)

__all__ = ["ModelConfig", "ModelSpec", "create_model", "get_spec", "list_models"]
