"""CNNs trained from scratch: the configurable custom CNN, a tiny edge CNN and a deeper one."""

from __future__ import annotations

from asl_edge.models.registry import POOLINGS, ModelConfig, ModelSpec, register
from asl_edge.runtime.errors import ConfigError


def _regularizer(keras, config: ModelConfig):
    if config.l1 or config.l2:
        return keras.regularizers.L1L2(l1=config.l1, l2=config.l2)
    return None


def _conv_bn_relu(keras, x, filters, config, *, strides=1, separable=False, name=None):
    reg = _regularizer(keras, config)
    if separable:
        x = keras.layers.SeparableConv2D(filters, 3, strides=strides, padding="same",
                                         use_bias=not config.batch_norm, depthwise_regularizer=reg,
                                         pointwise_regularizer=reg, name=name)(x)
    else:
        x = keras.layers.Conv2D(filters, 3, strides=strides, padding="same", use_bias=not config.batch_norm,
                                kernel_regularizer=reg, name=name)(x)
    if config.batch_norm:
        x = keras.layers.BatchNormalization()(x)
    # ReLU6 keeps activations in a bounded range, which quantises to int8 with less error.
    return keras.layers.ReLU(6.0)(x)


def _pool(keras, x, pooling: str):
    if pooling == "avg":
        return keras.layers.GlobalAveragePooling2D()(x)
    if pooling == "max":
        return keras.layers.GlobalMaxPooling2D()(x)
    if pooling == "avgmax":
        return keras.layers.Concatenate()([keras.layers.GlobalAveragePooling2D()(x),
                                           keras.layers.GlobalMaxPooling2D()(x)])
    raise ConfigError(f"model.pooling must be one of: {', '.join(POOLINGS)}; got '{pooling}'")


def _classifier(keras, x, num_classes, config):
    x = _pool(keras, x, config.pooling)
    if config.head_units:
        x = keras.layers.Dense(config.head_units, kernel_regularizer=_regularizer(keras, config))(x)
        x = keras.layers.ReLU(6.0)(x)
    if config.dropout:
        x = keras.layers.Dropout(config.dropout)(x)
    return keras.layers.Dense(num_classes, activation="softmax", kernel_regularizer=_regularizer(keras, config),
                              name="probabilities")(x)


def build_custom_cnn(config: ModelConfig, input_shape, num_classes):
    """Classic CNN: ``depth`` blocks of conv-BN-ReLU and max-pooling, filters doubling from ``width``."""
    from asl_edge.keras_compat import keras

    inputs = keras.Input(input_shape, name="image")
    x = inputs
    for block in range(config.depth):
        x = _conv_bn_relu(keras, x, config.width * 2 ** block, config)
        if min(x.shape[1], x.shape[2]) >= 2:
            x = keras.layers.MaxPooling2D()(x)
    return keras.Model(inputs, _classifier(keras, x, num_classes, config), name="custom_cnn")


def build_edge_cnn(config: ModelConfig, input_shape, num_classes):
    """Tiny MobileNet-style CNN for microcontroller- and Pi-class devices.

    A strided full convolution, then blocks that halve the resolution and double the filters
    every other block: depthwise-separable (fewest MACs) or, with ``separable=False``, full 3x3
    convolutions (more weights per channel, so int8 per-channel scales weigh less in the file).
    """
    from asl_edge.keras_compat import keras

    inputs = keras.Input(input_shape, name="image")
    x = _conv_bn_relu(keras, inputs, config.width, config, strides=2)
    for _ in range(config.stem_blocks):
        x = _conv_bn_relu(keras, x, config.width, config, separable=config.separable)
    filters = config.width
    for block in range(config.depth):
        downsample = block % 2 == 0
        filters = filters * 2 if downsample else filters
        x = _conv_bn_relu(keras, x, filters, config, strides=2 if downsample else 1, separable=config.separable)
    return keras.Model(inputs, _classifier(keras, x, num_classes, config), name="edge_cnn")


def build_deep_cnn(config: ModelConfig, input_shape, num_classes):
    """VGG-style deeper CNN: ``depth`` stages of two convolutions each, for comparison."""
    from asl_edge.keras_compat import keras

    inputs = keras.Input(input_shape, name="image")
    x = inputs
    for stage in range(config.depth):
        filters = config.width * 2 ** stage
        x = _conv_bn_relu(keras, x, filters, config)
        x = _conv_bn_relu(keras, x, filters, config)
        if min(x.shape[1], x.shape[2]) >= 2:
            x = keras.layers.MaxPooling2D()(x)
    return keras.Model(inputs, _classifier(keras, x, num_classes, config), name="deep_cnn")


register(ModelSpec("custom_cnn", build_custom_cnn,
                   "configurable CNN: depth x (conv-BN-ReLU-maxpool), dropout, L1/L2"))
register(ModelSpec("edge_cnn", build_edge_cnn,
                   "tiny CNN for edge devices: depthwise-separable blocks, or plain 3x3 convolutions "
                   "with model.separable=false (the fast recipe's model, plain)"))
register(ModelSpec("deep_cnn", build_deep_cnn, "deeper VGG-style CNN, two convolutions per stage"))
