"""A classifier of hand landmarks: a small MLP on the normalised landmark features.

Its input is :func:`asl_edge.runtime.landmarks.landmark_features` of the hand the localiser found
(the ``landmarks`` recipe), a vector of 40 or 60 numbers, so a few thousand weights suffice: the
hand models do the seeing, this only reads the hand's shape.
"""

from __future__ import annotations

from asl_edge.models.registry import ModelConfig, ModelSpec, register
from asl_edge.runtime.errors import ConfigError

MIN_UNITS = 8


def build_landmark_mlp(config: ModelConfig, input_shape, num_classes):
    """``depth`` dense layers of ``width``, ``width / 2``, ... units (at least :data:`MIN_UNITS`),
    each optionally batch-normalised, ReLU6 and dropout, then the softmax."""
    from asl_edge.keras_compat import keras

    if len(input_shape) != 1:
        raise ConfigError(f"landmark_mlp reads hand landmarks, not images (got an input of shape "
                          f"{tuple(input_shape)}): train it with the landmarks recipe (data.landmarks=true)")
    reg = keras.regularizers.L1L2(l1=config.l1, l2=config.l2) if (config.l1 or config.l2) else None
    inputs = keras.Input(input_shape, name="landmarks")
    x = inputs
    for layer in range(config.depth):
        x = keras.layers.Dense(max(MIN_UNITS, config.width >> layer), use_bias=not config.batch_norm,
                               kernel_regularizer=reg)(x)
        if config.batch_norm:
            x = keras.layers.BatchNormalization()(x)
        # ReLU6, as the CNNs: a bounded range quantises to int8 with less error.
        x = keras.layers.ReLU(6.0)(x)
        if config.dropout:
            x = keras.layers.Dropout(config.dropout)(x)
    outputs = keras.layers.Dense(num_classes, activation="softmax", kernel_regularizer=reg, name="probabilities")(x)
    return keras.Model(inputs, outputs, name="landmark_mlp")


register(ModelSpec("landmark_mlp", build_landmark_mlp,
                   "MLP on the 21 normalised hand landmarks (the landmarks recipe; a few thousand weights)",
                   family="landmarks", inputs="landmarks"))
