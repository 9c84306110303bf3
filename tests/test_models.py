"""Every registered model, by name: builds flat, runs, and can be quantisation-aware trained."""

import numpy as np
import pytest

from asl_edge.models import ModelConfig, create_model, get_spec, list_models
from asl_edge.models.registry import POOLINGS
from asl_edge.runtime.errors import ConfigError, ModelError

TINY = ModelConfig(width=4, depth=2, weights="none", dropout=0.1)


def _shape(name):
    if get_spec(name).inputs == "landmarks":
        return (60,)  # the landmark features (asl_edge.runtime.landmarks)
    side = max(32, get_spec(name).min_size)
    return (side, side, 3)


@pytest.mark.parametrize("name", list_models())
def test_builds_flat_runs_and_is_quantisable(name):
    import tensorflow_model_optimization as tfmot

    from asl_edge.keras_compat import keras

    model = create_model(name, _shape(name), 5, TINY)
    # QAT cannot wrap a model nested inside another, nor Rescaling layers.
    assert not any(isinstance(layer, keras.Model) for layer in model.layers)
    assert not any(type(layer).__name__ == "Rescaling" for layer in model.layers)
    probs = model(np.random.default_rng(0).random((2, *_shape(name)), dtype=np.float32)).numpy()
    assert probs.shape == (2, 5)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, rtol=1e-5)
    tfmot.quantization.keras.quantize_model(model)


@pytest.mark.parametrize("pooling", POOLINGS)
@pytest.mark.parametrize("name", [n for n in list_models() if get_spec(n).family == "cnn"])
def test_cnn_pooling(name, pooling):
    import tensorflow_model_optimization as tfmot

    config = ModelConfig(width=4, depth=2, dropout=0.0, pooling=pooling)
    model = create_model(name, (32, 32, 3), 5, config)
    pools = {type(layer).__name__ for layer in model.layers if "Global" in type(layer).__name__}
    assert pools == {"avg": {"GlobalAveragePooling2D"}, "max": {"GlobalMaxPooling2D"},
                     "avgmax": {"GlobalAveragePooling2D", "GlobalMaxPooling2D"}}[pooling]
    # The classifier sees one vector per pooling: avgmax doubles its inputs.
    last_features = model.get_layer("probabilities").input.shape[-1]
    channels = next(layer for layer in reversed(model.layers) if "Global" in type(layer).__name__).input.shape[-1]
    assert last_features == channels * (2 if pooling == "avgmax" else 1)
    tfmot.quantization.keras.quantize_model(model)


@pytest.mark.parametrize(("weights", "pretrained"),
                         [("none", False), ("", False), ("imagenet", True), ("backbone.h5", True)])
def test_pretrained_means_learnt_backbone_weights(weights, pretrained):
    assert ModelConfig(weights=weights).pretrained is pretrained


def test_unknown_model_lists_choices():
    with pytest.raises(ConfigError, match=r"Unknown model 'resnet9000'; choose one of: .*edge_cnn"):
        create_model("resnet9000", (32, 32, 3), 2)


def test_custom_cnn_knobs():
    from asl_edge.keras_compat import keras

    plain = create_model("custom_cnn", (32, 32, 3), 3, ModelConfig(width=4, depth=3, batch_norm=False, dropout=0.0))
    assert not any(isinstance(l, keras.layers.BatchNormalization) for l in plain.layers)
    assert not any(isinstance(l, keras.layers.Dropout) for l in plain.layers)
    regular = create_model("custom_cnn", (32, 32, 3), 3, ModelConfig(width=4, depth=3, dropout=0.4, l1=1e-4, l2=1e-3))
    assert sum(isinstance(l, keras.layers.BatchNormalization) for l in regular.layers) == 3
    assert [l.rate for l in regular.layers if isinstance(l, keras.layers.Dropout)] == [0.4]
    assert regular.losses  # L1/L2 penalties are registered


def test_small_input_is_refused_for_inception():
    with pytest.raises(ConfigError, match="at least 75x75"):
        create_model("inceptionv3", (32, 32, 3), 2, TINY)


def test_transfer_needs_colour():
    with pytest.raises(ConfigError, match="colour input"):
        create_model("mobilenetv2", (32, 32, 1), 2, TINY)


def test_imagenet_offline_is_one_clear_line(monkeypatch):
    from tf_keras.src.utils import data_utils

    def offline(*args, **kwargs):
        raise Exception("URL fetch failure on https://storage.googleapis.com/...: None -- [Errno -3] name resolution")

    monkeypatch.setattr(data_utils, "get_file", offline)
    with pytest.raises(ModelError, match="cannot download ImageNet weights for MobileNetV2.*offline"):
        create_model("mobilenetv2", (32, 32, 3), 2, ModelConfig(weights="imagenet"))


def test_local_weights_file(tmp_path):
    with pytest.raises(ModelError, match="weights file not found"):
        create_model("vgg16", (32, 32, 3), 2, ModelConfig(weights=str(tmp_path / "none.h5")))
    source = create_model("mobilenetv2", (32, 32, 3), 2, TINY)
    from asl_edge.models.transfer import BASE_PREFIX

    base_layers = [l for l in source.layers if l.name.startswith(BASE_PREFIX)]
    # a backbone-only weights file, as keras.applications ships them (layer names without our prefix)
    from asl_edge.keras_compat import keras

    backbone = keras.applications.MobileNetV2(include_top=False, weights=None, input_shape=(32, 32, 3), alpha=0.35)
    backbone.save_weights(tmp_path / "w.h5")
    loaded = create_model("mobilenetv2", (32, 32, 3), 2, ModelConfig(weights=str(tmp_path / "w.h5")))
    conv = next(l for l in backbone.layers if l.name == "Conv1")
    np.testing.assert_array_equal(loaded.get_layer(BASE_PREFIX + "Conv1").get_weights()[0], conv.get_weights()[0])
    assert base_layers


def test_two_phase_freezing():
    from asl_edge.models.transfer import BASE_PREFIX, set_backbone_trainable

    model = create_model("mobilenetv2", (32, 32, 3), 2, TINY)
    base = [l for l in model.layers if l.name.startswith(BASE_PREFIX)]
    set_backbone_trainable(model, 0)
    assert not any(l.trainable for l in base)
    assert model.get_layer("probabilities").trainable
    set_backbone_trainable(model, 10)
    trainable = [l for l in base if l.trainable]
    assert 0 < len(trainable) <= 10 and all(type(l).__name__ != "BatchNormalization" for l in trainable)
