"""A registry of model builders by name, failing clearly on an unknown name (like timm's ``create_model``).

Importing this module does not import TensorFlow: builders import Keras when called. The registry
imports no builder: :mod:`asl_edge.models` registers them (``cnn``, ``transfer``).
Every builder returns one flat functional ``tf_keras`` model (no model nested in another, no
``Rescaling`` layer) that takes the normalised float input described by
:class:`~asl_edge.runtime.preprocess.Preprocessing`, so quantisation-aware training can wrap every layer.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from asl_edge.runtime.bounds import setting
from asl_edge.runtime.errors import ConfigError

POOLINGS = ("avg", "max", "avgmax")  # ModelConfig.pooling


@dataclass(frozen=True)
class ModelConfig:
    """Architecture knobs shared by the builders (each uses those that apply to it).

    Attributes:
        width: filters of the first block (CNNs).
        depth: number of blocks (CNNs).
        batch_norm: batch normalisation after each convolution.
        dropout: dropout rate before the classifier.
        l1: L1 kernel regularisation strength.
        l2: L2 kernel regularisation strength.
        weights: ``imagenet``, ``none`` or a path to an ``.h5`` file (transfer models).
        head_units: units of the dense layer before the classifier (0: none).
        separable: depthwise-separable blocks (``edge_cnn``); full 3x3 convolutions when false.
        stem_blocks: ``edge_cnn``: 3x3 blocks kept at the stem's resolution (half the input side)
            before the first downsampling block, for more detail of a small hand (the fast recipe
            has one: a higher worst shift on two of three signer splits; benchmarks/REPORT.md).
        pooling: how the last feature map becomes one vector (CNNs): ``avg`` (global average),
            ``max`` (global maximum) or ``avgmax`` (both, concatenated). Neither ``max`` nor
            ``avgmax`` beat ``avg`` for the fast recipe (benchmarks/REPORT_HISTORY.md, third round).
    """

    width: int = setting(16, 1, 1024)
    depth: int = setting(4, 1, 16)
    batch_norm: bool = True
    dropout: float = setting(0.3, 0.0, 1.0, hi_open=True)
    l1: float = setting(0.0, 0.0, 1.0)
    l2: float = setting(0.0, 0.0, 1.0)
    weights: str = "none"
    head_units: int = setting(0, 0, 8192)
    separable: bool = True
    stem_blocks: int = setting(0, 0, 8, note="counts blocks")
    pooling: str = "avg"

    @property
    def pretrained(self) -> bool:
        """The backbone starts from learnt weights (ImageNet or a local file), not random ones."""
        return self.weights not in ("none", "", None)


@dataclass(frozen=True)
class ModelSpec:
    """A registered model.

    Attributes:
        name: registry key.
        builder: ``(config, input_shape, num_classes) -> keras.Model``.
        description: one line for ``asl-edge models``.
        family: ``cnn``, ``transfer`` or ``landmarks``.
        preprocessing: overrides of :class:`~asl_edge.runtime.preprocess.Preprocessing` the model needs
            (ImageNet normalisation, channel order).
        min_size: smallest input side the architecture accepts.
        input_size: the side a recipe's ``data.image_size`` becomes when it is below ``min_size``
            (``None``: ``min_size``), so every model trains with every recipe; an ``image_size``
            the user sets explicitly is never changed.
        inputs: ``image`` (pixels, ``(height, width, channels)``) or ``landmarks`` (the hand landmark
            features of :mod:`asl_edge.runtime.landmarks`, ``(features,)``; needs ``data.landmarks``).
    """

    name: str
    builder: Callable
    description: str
    family: str = "cnn"
    preprocessing: dict = field(default_factory=dict)
    min_size: int = 8
    input_size: int | None = None
    inputs: str = "image"

    def adapted_size(self, image_size: int) -> int:
        """``image_size`` if the architecture accepts it, else this model's default side."""
        return image_size if image_size >= self.min_size else (self.input_size or self.min_size)


_REGISTRY: dict[str, ModelSpec] = {}


def register(spec: ModelSpec) -> ModelSpec:
    """Adds a model to the registry."""
    _REGISTRY[spec.name] = spec
    return spec


def list_models() -> list[str]:
    """Names of every registered model."""
    return sorted(_REGISTRY)


def get_spec(name: str) -> ModelSpec:
    """Returns the registered spec for ``name``.

    Raises:
        ConfigError: ``Unknown model 'x'; choose one of: ...``.
    """
    try:
        return _REGISTRY[name]
    except KeyError:
        raise ConfigError(f"Unknown model '{name}'; choose one of: {', '.join(sorted(_REGISTRY))}") from None


def create_model(name: str, input_shape: tuple[int, int, int], num_classes: int,
                 config: ModelConfig = ModelConfig()):
    """Builds the model registered as ``name``.

    Args:
        name: registry key.
        input_shape: ``(height, width, channels)``, or ``(features,)`` for a landmark model.
        num_classes: size of the softmax output.
        config: architecture knobs.

    Raises:
        ConfigError: unknown name, or an input the architecture cannot take.
    """
    spec = get_spec(name)
    if spec.inputs == "image" and len(input_shape) != 3:
        raise ConfigError(f"model '{name}' reads images: an input of shape {tuple(input_shape)} is not one "
                          "(a landmark model's input needs a landmark model, e.g. landmark_mlp)")
    if spec.inputs == "image" and min(input_shape[:2]) < spec.min_size:
        raise ConfigError(f"model '{name}' needs inputs of at least {spec.min_size}x{spec.min_size}, "
                          f"got {input_shape[0]}x{input_shape[1]}")
    return spec.builder(config, tuple(input_shape), num_classes)
