"""Transfer-learning models on Keras application backbones, as one flat functional graph.

The backbone is built on our own ``Input`` tensor (``input_tensor=``) and its output feeds the
head directly, so the result has no model nested inside it: tfmot's quantisation-aware training
cannot wrap a nested model (https://github.com/tensorflow/model-optimization/issues/377).
ImageNet normalisation is *not* inside the graph (tfmot cannot quantise ``Rescaling``); each spec
records it as preprocessing instead, and MobileNetV3 is built with ``include_preprocessing=False``.

``weights``: ``imagenet`` downloads Keras' published weights (online machines only; offline gives
a one-line error), ``none`` starts from random weights, and a path loads a local ``.h5`` file.
"""

from __future__ import annotations

import logging
from pathlib import Path

from asl_edge.models.registry import ModelConfig, ModelSpec, register
from asl_edge.runtime.errors import ConfigError, ModelError

log = logging.getLogger(__name__)

# Preprocessing on the 0..1 scale that reproduces keras.applications' preprocess_input.
CAFFE = {"channel_order": "bgr", "mean": [103.939 / 255, 116.779 / 255, 123.68 / 255],
         "std": [1 / 255, 1 / 255, 1 / 255]}
TF_MINUS1_1 = {"mean": [0.5], "std": [0.5]}

BASE_PREFIX = "base_"
RANDOM_INIT_BN_MOMENTUM = 0.9


def _backbone(app_name: str, config: ModelConfig, inputs, **kwargs):
    from asl_edge.keras_compat import keras

    if inputs.shape[-1] != 3:
        raise ConfigError(f"{app_name} needs colour input: use --set data.color_mode=rgb")
    weights = config.weights if config.pretrained else None
    local = None
    if weights not in ("imagenet", None):
        local = Path(weights)
        if not local.is_file():
            raise ModelError(f"weights file not found: {weights}")
        weights = None
    factory = getattr(keras.applications, app_name)
    try:
        base = factory(include_top=False, weights=weights, input_tensor=inputs, **kwargs)
    except Exception as exc:  # urllib raises several types; all mean the same to the user
        if weights == "imagenet":
            raise ModelError(
                f"cannot download ImageNet weights for {app_name} ({type(exc).__name__}); this machine "
                "may be offline: use --set model.weights=none or a local .h5 file") from None
        raise
    if local is not None:
        try:
            base.load_weights(str(local), by_name=True, skip_mismatch=True)
        except (OSError, ValueError) as exc:
            raise ModelError(f"cannot load weights from {local}: {exc}") from None
    for layer in base.layers[1:]:
        layer._name = BASE_PREFIX + layer.name  # marks backbone layers for freezing and fine-tuning
        if not config.pretrained and isinstance(layer, keras.layers.BatchNormalization):
            # Keras' MobileNets keep BatchNorm averages with momentum 0.999, made for ImageNet's
            # million images: on a few thousand they stay near their initial values for the whole
            # run, and a backbone trained from random weights then validates at chance (MobileNetV2:
            # 37% on training batches, 10% on validation after 25 epochs).
            layer.momentum = min(layer.momentum, RANDOM_INIT_BN_MOMENTUM)
    return base.output


def _transfer(app_name: str, **kwargs):
    def build(config: ModelConfig, input_shape, num_classes):
        from asl_edge.keras_compat import keras

        inputs = keras.Input(input_shape, name="image")
        x = _backbone(app_name, config, inputs, **kwargs)
        x = keras.layers.GlobalAveragePooling2D(name="head_pool")(x)
        if config.head_units:
            x = keras.layers.Dense(config.head_units, activation="relu", name="head_dense")(x)
        if config.dropout:
            x = keras.layers.Dropout(config.dropout, name="head_dropout")(x)
        outputs = keras.layers.Dense(num_classes, activation="softmax", name="probabilities")(x)
        return keras.Model(inputs, outputs, name=app_name.lower())

    build.__doc__ = f"{app_name} backbone with a global-pooling softmax head."
    return build


def set_backbone_trainable(model, trainable_top: int | None, pretrained: bool = True) -> int:
    """Freezes the backbone, or unfreezes its top ``trainable_top`` layers.

    Args:
        model: a model built by this module.
        trainable_top: ``None`` or 0 freezes the whole backbone; ``-1`` unfreezes all of it.
        pretrained: the backbone holds learnt weights: its BatchNorm layers stay frozen. Fine-tuning
            BatchNorm statistics on a small set destroys them (Keras' transfer-learning guide keeps
            them frozen); a backbone of random weights needs them to learn, or a deep one such as
            InceptionV3 never leaves chance.

    Returns:
        Number of backbone layers left trainable.
    """
    base_layers = [l for l in model.layers if l.name.startswith(BASE_PREFIX)]
    keep = len(base_layers) if trainable_top == -1 else (trainable_top or 0)
    cut = len(base_layers) - keep
    for i, layer in enumerate(base_layers):
        frozen_bn = pretrained and layer.__class__.__name__ == "BatchNormalization"
        layer.trainable = i >= cut and not frozen_bn
    return keep


def is_transfer(model) -> bool:
    return any(l.name.startswith(BASE_PREFIX) for l in model.layers)


register(ModelSpec("vgg16", _transfer("VGG16"), "VGG16 backbone (ImageNet), flat graph", "transfer", CAFFE, 32))
register(ModelSpec("resnet50", _transfer("ResNet50"), "ResNet50 backbone (ImageNet), flat graph", "transfer",
                   CAFFE, 32))
# InceptionV3's stem needs 75x75 at least; recipes at 64 pixels adapt to 75 (its smallest, fastest input).
register(ModelSpec("inceptionv3", _transfer("InceptionV3"), "InceptionV3 backbone (ImageNet), flat graph",
                   "transfer", TF_MINUS1_1, 75, input_size=75))
register(ModelSpec("mobilenetv2", _transfer("MobileNetV2", alpha=0.35),
                   "MobileNetV2 (alpha 0.35) mobile backbone, flat graph", "transfer", TF_MINUS1_1, 32))
register(ModelSpec("mobilenetv3small", _transfer("MobileNetV3Small", include_preprocessing=False, minimalistic=True),
                   "MobileNetV3-Small (minimalistic) mobile backbone, flat graph", "transfer", TF_MINUS1_1, 32))
