"""Training configuration: frozen dataclasses, named YAML recipes and ``--set key=value`` overrides.

A recipe is a YAML file with the sections ``model``, ``data``, ``augment`` and ``train``; any key
left out keeps its default below. ``--set train.epochs=5`` overrides one key; the value is parsed
as YAML and checked against the field's type. The resolved config is saved beside the model.
"""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass, field, fields
from pathlib import Path

from asl_edge.models.registry import POOLINGS, ModelConfig, get_spec
from asl_edge.runtime import runfolder
from asl_edge.runtime.bounds import check_fields, check_value, setting
from asl_edge.runtime.errors import ConfigError
from asl_edge.training.flags import FLAGS, label

log = logging.getLogger(__name__)

RECIPE_DIR = Path(__file__).resolve().parent.parent / "recipes"
DEFAULT_RECIPE = "fast"


@dataclass(frozen=True)
class ModelSection(ModelConfig):
    """``model``: the registry name plus the architecture knobs of :class:`ModelConfig`."""

    name: str = "edge_cnn"
    # The name export gives the artifacts (``<export_name>_int8.tflite``); `train` sets it from the
    # data and the recipe (:func:`default_export_name`); unset, export uses the run folder's name.
    export_name: str | None = None

    def architecture(self) -> ModelConfig:
        return ModelConfig(**{f.name: getattr(self, f.name) for f in fields(ModelConfig)})


@dataclass(frozen=True)
class DataSection:
    """``data``: where the images come from and how they are prepared and split.

    Attributes:
        source: ``builtin`` or a path (class-per-folder tree, Sign Language MNIST ``.csv``, ``.npz``).
        groups_file: CSV naming the signer of each image, for a split by signer.
        image_size: model input side in pixels.
        color_mode: ``rgb`` or ``grayscale``.
        normalization: ``fixed`` (the model's mean/std only) or ``per_image`` (each image standardised by
            its own mean and standard deviation; recorded in the artifact and applied by every runtime).
        val_fraction: share of signers (or images) for validation.
        test_fraction: share for the held-out test split.
        split_seed: seed of the split alone (``null``: ``train.seed``, which also seeds the shuffling,
            augmentation and initialisation); set it to train the same split again from another start.
        balance: ``none``, ``class_weight``, ``oversample`` or ``undersample``.
        stream: stream images from disk (``null``: only above 20,000 images).
        localise: find the hand first (MediaPipe's hand models through LiteRT) and classify the
            square crop around it; recorded in the model's preprocessing, so every runtime does the
            same (the ``camera`` recipe). Training images go through the same localiser.
        upright: with ``localise``, the crop turns the hand upright along its own axes (wrist
            below the middle finger's knuckle, from the landmarks); recorded with the localiser.
        scene_copies: with ``localise``, how many times each training and validation close-up is
            also pasted into a TRAIN background photograph and localised there.
        scene_height_min: smallest pasted close-up height, as a share of the 320x240 frame height.
        scene_height_max: largest one.
        landmarks: with ``localise``, the model reads the found hand's 21 landmarks, normalised
            for position, size, in-plane rotation and handedness (:mod:`asl_edge.runtime.landmarks`),
            instead of the crop's pixels (a landmark model such as ``landmark_mlp``; the
            ``landmarks`` recipe). The landmarks of the training images are extracted once and
            cached (:mod:`asl_edge.data.landmarks`).
        landmark_z: with ``landmarks``, include the landmark model's depth estimate.
        landmark_copies: with ``landmarks``, how many altered copies of each training image the hand
            models also read: the ``augment`` image transforms (background replacement, light,
            colour, blur, noise, JPEG) applied once per copy, before the extraction, so the model
            also learns the landmarks the hand models place in such pictures (a landmark is a few
            pixels off under blur or JPEG, and a busy background moves the joints near it).
    """

    source: str = "builtin"
    groups_file: str | None = None
    image_size: int = setting(64, 8, 1024)
    color_mode: str = "rgb"
    normalization: str = "fixed"
    localise: bool = False
    upright: bool = False
    scene_copies: int = setting(0, 0, 20)
    scene_height_min: float = setting(0.35, 0.0, 1.0, lo_open=True)
    scene_height_max: float = setting(0.7, 0.0, 1.0, lo_open=True)
    landmarks: bool = False
    landmark_z: bool = True
    landmark_copies: int = setting(0, 0, 20)
    val_fraction: float = setting(0.15, 0.0, 0.5, lo_open=True, hi_open=True)
    test_fraction: float = setting(0.15, 0.0, 0.5, lo_open=True, hi_open=True)
    split_seed: int | None = setting(None, 0, 2**32 - 1)
    balance: str = "none"
    stream: bool | None = None


@dataclass(frozen=True)
class AugmentSection:
    """``augment``: random transforms applied to training batches only, as batched TensorFlow ops.

    They act on the decoded image on the 0..1 scale, after the colour-mode conversion (the data set
    holds model-ready ``uint8`` pixels) and before the normalisation. Colour ops (``color_gain``,
    ``grayscale_prob``) act only on RGB inputs: a grayscale-input model has no colour to perturb, and
    the conversion itself already removes hue and white balance. Each image draws its own
    parameters; the defaults below switch every new transform off.

    Attributes:
        enabled: apply augmentation at all.
        rotation: maximum rotation as a fraction of a full turn (0.083: 30 degrees).
        shift: maximum shift as a fraction of the image side.
        zoom: maximum zoom in or out as a fraction (Keras ``RandomZoom``, reflected fill).
        brightness: maximum additive brightness change as a fraction of the value range.
        contrast: maximum contrast change factor (``1 +- contrast`` about each image's mean).
        flip: random horizontal flips with p=0.5: a mirrored sign is the same sign made with the
            other hand (or seen by a selfie camera).
        scale_min: smallest scale of the content, the hand further from the camera (1.0: off; 0.5:
            down to half size). A share ``scale_prob`` of the images is scaled, uniformly in
            ``[scale_min, scale_max]``; the uncovered frame is filled with the image's border
            colour or, for half of them, a random grey/colour, so the model does not learn one kind
            of padding. Rotation and shift use the same fill and the same one affine warp.
        scale_max: largest scale of the content, the hand closer to the camera (1.0: no zoom in).
        scale_log: draw the scale log-uniformly instead (small hands more often). It cost the
            71k-weight 4-block model unchanged accuracy but bought the 5-block one the half-size
            hand (benchmarks/shift_ablation.py).
        scale_prob: share of the images whose scale is drawn (the rest keep theirs).
        scale_antialias: low-pass each image before it is shrunk, as a camera's optics and a
            resize filter do (Pillow's ``resize``, the suite's ``smaller_*`` shifts): without it the
            warp samples every second or third pixel of a shrunk hand, and the model learns small
            hands with an aliased texture that no camera produces.
        exposure: maximum multiplicative brightness gain, log-uniform in ``[1/exposure, exposure]``
            (1.0: off), clipped at white like an over-exposed sensor.
        gamma: maximum tone-curve exponent, log-uniform in ``[1/gamma, gamma]`` (1.0: off).
        color_gain: maximum per-channel (white balance) gain change, uniform in ``1 +- color_gain``.
        grayscale_prob: share of images turned to grey (luma in all channels).
        blur_prob: share of images blurred with a Gaussian of sigma 0.5-2 pixels (one sigma per batch).
        noise: maximum standard deviation of additive Gaussian sensor noise (0..1 scale); each
            image draws its own in ``[0, noise]``.
        jpeg_prob: share of images re-encoded as JPEG (after the noise, as a camera's encoder
            does), each at its own quality in ``[jpeg_min_quality, 95]``.
        jpeg_min_quality: lowest JPEG quality drawn (1-95).
        background_prob: share of the images whose background is replaced, first of all the
            transforms: the hand cut out with its mask (:mod:`asl_edge.data.masks`, cached) and laid
            over a background drawn from ``backgrounds`` (:mod:`asl_edge.training.backgrounds`), so
            the model cannot lean on the studio's light wall. Never the TEST photographs.
        backgrounds: the kinds of background drawn, comma-separated (``flat``, ``gradient``,
            ``noise``, ``stripes``, ``photo``: windows of the TRAIN photographs, ``leaves``: overlapping
            shapes at every scale, ``warm``: any of the patterns in skin, wood and beige tones), equally likely.
        background_bank: how many backgrounds a run draws once, before training (each picked at random
            per image and mirrored or flipped at random: four times as many seen).
        background_feather: Gaussian sigma in pixels of the mask's edge (0: the hard mask).
        hand_tone: share of the images whose hand (its mask, as for ``background_prob``) takes another
            skin tone, before the background is replaced: every channel of the hand's pixels times one
            lightness gain, log-uniform in ``[HAND_TONE_LIGHTNESS]``, and the green and blue channels
            each times a tint of their own, uniform in ``1 +- HAND_TONE_TINT``
            (:mod:`asl_edge.training.pipeline`): the built-in signers' hands share much the same tone, and
            other people's do not.
        hand_tone_kept_background: only hands whose background is not replaced take another tone
            (the two shares then fall on different images).
        landmark_tilt: landmark models (``data.landmarks``): largest turn of the hand out of the image
            plane, in degrees, about each of the two image axes through the wrist (the image
            transforms above reach a landmark model only through ``data.landmark_copies``, once per
            copy before the extraction; a move, size, in-plane turn or mirroring is removed by the
            landmark normalisation, a tilt is not).
        landmark_noise: landmark models: largest standard deviation of Gaussian noise added to
            each landmark, as a share of the palm's size; each sample draws its own in ``[0, landmark_noise]``.
    """

    enabled: bool = True
    rotation: float = setting(0.08, 0.0, 0.5)
    shift: float = setting(0.1, 0.0, 1.0, hi_open=True)
    zoom: float = setting(0.15, 0.0, 1.0, hi_open=True)
    brightness: float = setting(0.2, 0.0, 1.0)
    contrast: float = setting(0.3, 0.0, 1.0)
    flip: bool = False
    scale_min: float = setting(1.0, 0.0, 4.0, lo_open=True)
    scale_max: float = setting(1.0, 0.0, 4.0, lo_open=True)
    scale_log: bool = False
    scale_prob: float = setting(0.5, 0.0, 1.0, note="is a share of the images")
    scale_antialias: bool = False
    exposure: float = setting(1.0, 1.0, 10.0)
    gamma: float = setting(1.0, 1.0, 10.0)
    color_gain: float = setting(0.0, 0.0, 1.0)
    grayscale_prob: float = setting(0.0, 0.0, 1.0, note="is a share of the images")
    blur_prob: float = setting(0.0, 0.0, 1.0, note="is a share of the images")
    noise: float = setting(0.0, 0.0, 1.0)
    jpeg_prob: float = setting(0.0, 0.0, 1.0, note="is a share of the images")
    jpeg_min_quality: int = setting(10, 1, 95)
    background_prob: float = setting(0.0, 0.0, 1.0, note="is a share of the images")
    backgrounds: str = "flat,gradient,noise,stripes,photo"
    background_bank: int = setting(512, 1, 65_536)
    background_feather: float = setting(0.0, 0.0, 50.0, note="is a blur sigma in pixels")
    hand_tone: float = setting(0.0, 0.0, 1.0, note="is a share of the images")
    hand_tone_kept_background: bool = False
    landmark_tilt: float = setting(0.0, 0.0, 60.0, note="is in degrees")
    landmark_noise: float = setting(0.0, 0.0, 1.0)


@dataclass(frozen=True)
class TrainSection:
    """``train``: optimisation, schedules, stopping and hardware.

    Attributes:
        epochs: maximum epochs (phase one, for transfer models: the head on a frozen pretrained
            backbone; a backbone of random weights, ``model.weights=none``, trains whole instead).
        batch_size: images per step.
        optimizer: ``adam``, ``adamw``, ``sgd`` or ``rmsprop``.
        learning_rate: peak learning rate.
        weight_decay: decoupled weight decay (``adamw``).
        schedule: ``constant``, ``cosine``, ``step``, ``exponential`` or ``plateau``.
        warmup_epochs: linear warm-up before the schedule.
        step_epochs: epochs between drops (``step``).
        decay_rate: multiplier per drop (``step``) or per epoch (``exponential``); ``plateau`` factor.
        plateau_patience: ``plateau``: epochs without a better validation loss before the rate is
            multiplied by ``decay_rate`` (Keras' ``ReduceLROnPlateau``).
        early_stopping_patience: epochs without a better validation loss before stopping (0: off).
        label_smoothing: label smoothing of the cross-entropy.
        swa_epochs: stochastic weight averaging over the last epochs of the last phase (0: off): the
            final weights are the mean of those epochs' weights, with the BatchNorm statistics
            measured again (:mod:`asl_edge.training.averaging`); a ``cosine`` schedule ends at
            ``swa_lr_factor`` of the peak where they begin and stays there.
        swa_lr_factor: the learning rate of the averaged epochs as a share of the peak (``cosine``).
        seed: seed of every random choice (split, shuffling, augmentation, initialisation).
        distribute: ``default``, ``mirrored`` (all local GPUs) or ``multi_worker`` (TF_CONFIG).
        fine_tune_epochs: transfer models, phase two: epochs with the top of the backbone unfrozen.
        fine_tune_layers: how many backbone layers phase two unfreezes (-1: all).
        fine_tune_lr_factor: phase-two learning rate as a fraction of ``learning_rate``.
        teacher: run folder of a trained model to distil into this one (``asl-edge train --teacher``):
            the loss mixes the labels with the teacher's softened outputs (:mod:`asl_edge.training.distill`).
            The teacher must share the input recipe (its side may differ) and must not have trained on
            this run's held-out split.
        distill_temperature: softmax temperature of the teacher's and student's outputs in the soft term.
        distill_weight: share of the soft (teacher) term in the loss; the labels get the rest.
        consistency: weight of the consistency term (0: off): every step sees each training image twice,
            differently augmented, and the loss adds this times the Jensen-Shannon divergence between
            its two readings (AugMix's term, :mod:`asl_edge.training.consistency`); a step costs about
            twice as much. Image models, without a teacher.
    """

    epochs: int = setting(40, 1, 100_000)
    batch_size: int = setting(32, 1, 65_536)
    optimizer: str = "adam"
    learning_rate: float = setting(3e-3, 0.0, 10.0, lo_open=True)
    weight_decay: float = setting(1e-4, 0.0, 1.0)
    schedule: str = "cosine"
    warmup_epochs: int = setting(0, 0, 100_000)
    step_epochs: int = setting(10, 1, 100_000)
    decay_rate: float = setting(0.5, 0.0, 1.0, lo_open=True)
    plateau_patience: int = setting(5, 0, 100_000)
    early_stopping_patience: int = setting(15, 0, 100_000)
    label_smoothing: float = setting(0.0, 0.0, 1.0, hi_open=True)
    swa_epochs: int = setting(0, 0, 100_000)
    swa_lr_factor: float = setting(0.1, 0.0, 1.0, lo_open=True, note="is a share of the peak rate")
    seed: int = setting(0, 0, 2**32 - 1)
    distribute: str = "default"
    fine_tune_epochs: int = setting(0, 0, 100_000)
    fine_tune_layers: int = setting(20, -1, 100_000, note="counts layers (-1: all)")
    fine_tune_lr_factor: float = setting(0.1, 0.0, 10.0, lo_open=True)
    teacher: str | None = None
    # Measured (benchmarks/REPORT.md, distillation): T=2 with 0.9 on the teacher beat T=4 with 0.5.
    distill_temperature: float = setting(2.0, 0.0, 100.0, lo_open=True)
    distill_weight: float = setting(0.9, 0.0, 1.0)
    consistency: float = setting(0.0, 0.0, 1000.0)


@dataclass(frozen=True)
class Config:
    """The whole resolved training configuration."""

    model: ModelSection = field(default_factory=ModelSection)
    data: DataSection = field(default_factory=DataSection)
    augment: AugmentSection = field(default_factory=AugmentSection)
    train: TrainSection = field(default_factory=TrainSection)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


SECTIONS = {f.name: f.type for f in fields(Config)}
_SECTION_TYPES = {"model": ModelSection, "data": DataSection, "augment": AugmentSection, "train": TrainSection}
CHOICES = {
    "model.pooling": POOLINGS,
    "data.color_mode": ("rgb", "grayscale"),
    "data.normalization": ("fixed", "per_image"),
    "data.balance": ("none", "class_weight", "oversample", "undersample"),
    "train.optimizer": ("adam", "adamw", "sgd", "rmsprop"),
    "train.schedule": ("constant", "cosine", "step", "exponential", "plateau"),
    "train.distribute": ("default", "mirrored", "multi_worker"),
}


def list_recipes() -> list[str]:
    return sorted(p.stem for p in RECIPE_DIR.glob("*.yaml"))


def _coerce(key: str, value, annotation: str):
    """Checks ``value`` against a field's annotation (a string under ``from __future__ import annotations``)."""
    optional = "None" in annotation
    base = annotation.replace(" | None", "").strip()
    if value is None:
        if optional:
            return None
        raise ConfigError(f"{key} cannot be empty")
    if base == "bool":
        if isinstance(value, bool):
            return value
        raise ConfigError(f"{key} must be true or false, got {value!r}")
    if base == "int":
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{key} must be an integer, got {value!r}")
        return value
    if base == "float":
        if isinstance(value, str):
            # YAML 1.1 reads '1e-4' (no dot) as a string; users write learning rates that way.
            try:
                value = float(value)
            except ValueError:
                pass
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{key} must be a number, got {value!r}")
        return float(value)
    if base == "str":
        return str(value)
    raise ConfigError(f"{key}: unsupported type {annotation}")


def _apply(config: Config, section: str, key: str, value) -> Config:
    if section not in _SECTION_TYPES:
        raise ConfigError(f"unknown config section '{section}'; choose one of: {', '.join(_SECTION_TYPES)}")
    current = getattr(config, section)
    known = {f.name: f for f in fields(current)}
    if key not in known:
        raise ConfigError(f"unknown config key '{section}.{key}'; {section} has: {', '.join(sorted(known))}")
    full = f"{section}.{key}"
    name = label(full)  # the key, and its flag where it has one: the same line for either form
    value = _coerce(name, value, str(known[key].type))
    check_value(name, value, known[key].metadata.get("range"))  # each setting's range, declared with its default
    if full in CHOICES and value not in CHOICES[full]:
        raise ConfigError(f"{name} must be one of: {', '.join(CHOICES[full])}; got '{value}'")
    return dataclasses.replace(config, **{section: dataclasses.replace(current, **{key: value})})


def merge(config: Config, overrides: dict) -> Config:
    """Applies a nested ``{section: {key: value}}`` mapping, validating every key."""
    if not isinstance(overrides, dict):
        raise ConfigError("a recipe must be a mapping of sections (model, data, augment, train)")
    for section, values in overrides.items():
        if values is None:
            continue
        if not isinstance(values, dict):
            raise ConfigError(f"recipe section '{section}' must be a mapping")
        for key, value in values.items():
            config = _apply(config, section, key, value)
    return config


MAX_YAML_BYTES = 1 << 20
MAX_YAML_ALIASES = 100
MAX_YAML_NODES = 100_000


def safe_yaml(text: str, where: str):
    """``yaml.safe_load`` bounded in size, aliases, expanded nodes and depth.

    A 600-byte document of nested anchors (a "billion laughs") ran for minutes and took gigabytes
    once expanded; here it is refused in milliseconds.

    Raises:
        ConfigError: too large, too many aliases or nodes, too deep, or not YAML.
    """
    import yaml

    if len(text) > MAX_YAML_BYTES:
        raise ConfigError(f"{where} is too large ({len(text)} bytes; at most {MAX_YAML_BYTES})")

    class BoundedLoader(yaml.SafeLoader):
        aliases = 0
        depth = 0

        def compose_node(self, parent, index):
            if self.check_event(yaml.AliasEvent):
                BoundedLoader.aliases += 1
                if BoundedLoader.aliases > MAX_YAML_ALIASES:
                    raise ConfigError(f"{where} uses more than {MAX_YAML_ALIASES} YAML aliases")
            BoundedLoader.depth += 1
            try:
                if BoundedLoader.depth > 32:
                    raise ConfigError(f"{where} is nested too deeply")
                return super().compose_node(parent, index)
            finally:
                BoundedLoader.depth -= 1

    try:
        data = yaml.load(text, Loader=BoundedLoader)  # noqa: S506  (a SafeLoader subclass)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{where} is not valid YAML: {str(exc).splitlines()[0]}") from None
    except RecursionError:
        raise ConfigError(f"{where} is nested too deeply") from None
    nodes, stack = 0, [(data, 0)]
    while stack:  # counts shared (aliased) nodes each time they appear: the expanded size
        node, depth = stack.pop()
        nodes += 1
        if nodes > MAX_YAML_NODES or depth > 32:
            raise ConfigError(f"{where} is too large or too deeply nested once its aliases are expanded")
        if isinstance(node, dict):
            stack.extend((v, depth + 1) for kv in node.items() for v in kv)
        elif isinstance(node, list):
            stack.extend((v, depth + 1) for v in node)
    return data


def load_recipe(name_or_path: str) -> dict:
    """Reads a named recipe (``fast``, ``accurate``) or a YAML file.

    Raises:
        ConfigError: unknown name, missing file or invalid YAML.
    """

    path = Path(name_or_path)
    if path.suffix not in (".yaml", ".yml"):
        path = RECIPE_DIR / f"{name_or_path}.yaml"
        if not path.is_file():
            raise ConfigError(f"Unknown recipe '{name_or_path}'; choose one of: {', '.join(list_recipes())} "
                              "or give a .yaml file")
    elif not path.is_file():
        raise ConfigError(f"recipe file not found: {name_or_path}")
    data = _read_sections(path, "recipe file")
    data.pop("description", None)
    data.pop("summary", None)
    return data


def describe_recipe(name: str) -> dict:
    """A named recipe for people: ``name``, ``model``, ``input`` (what the model reads), the one-line
    ``summary`` and the full ``description`` (its notes, on one line).

    Raises:
        ConfigError: unknown name.
    """
    config = resolve(name)
    path = RECIPE_DIR / f"{name}.yaml"
    raw = _read_sections(path, "recipe file")
    size, data = config.data.image_size, config.data
    pixels = f"{size}x{size} {'grey' if data.color_mode == 'grayscale' else data.color_mode.upper()}"
    what = "21 hand landmarks" if data.landmarks else f"hand crop {pixels}" if data.localise else pixels
    return {"name": name, "model": config.model.name, "input": what,
            "summary": " ".join(str(raw.get("summary", "")).split()),
            "description": " ".join(str(raw.get("description", "")).split())}


def _read_sections(path: Path, what: str) -> dict:
    from asl_edge.runtime.fsutil import read_regular

    raw = read_regular(path, ConfigError, what, MAX_YAML_BYTES)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise ConfigError(f"{path} is not UTF-8 text") from None
    data = safe_yaml(text, str(path)) or {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path} must hold a mapping of sections (data, model, train, ...)")
    return data


def load_run_config(folder: str | Path) -> Config | None:
    """The config a run folder was trained with (its ``config.yaml``), or ``None`` if it has none.

    Raises:
        ConfigError: the file is unreadable, too large, not YAML or not a valid config.
    """
    path = Path(folder) / runfolder.CONFIG_FILE
    if not path.is_file():
        return None
    try:
        return from_dict(_read_sections(path, "run config"))
    except ConfigError as exc:
        raise ConfigError(str(exc) if str(path) in str(exc) else f"{path}: {exc}") from None


def parse_set(items: tuple[str, ...] | list[str]) -> dict:
    """Turns ``["train.epochs=5", ...]`` into ``{"train": {"epochs": 5}}`` (values parsed as bounded YAML)."""
    out: dict = {}
    for item in items:
        if "=" not in item:
            raise ConfigError(f"--set expects key=value, got '{item}'")
        key, raw = item.split("=", 1)
        parts = key.strip().split(".")
        if len(parts) != 2 or not all(parts):
            raise ConfigError(f"--set key must look like section.key (e.g. train.epochs), got '{key}'")
        try:
            value = safe_yaml(raw, f"--set {key}") if raw.strip() else None
        except ConfigError as exc:
            if "not valid YAML" not in str(exc):
                raise
            value = raw
        if _is_text(*parts) and not isinstance(value, (str, type(None))):
            # A text key keeps what was typed: YAML reads a folder named `yes` as true and `1e3` as 1000.0.
            value = raw.strip()
        out.setdefault(parts[0], {})[parts[1]] = value
    return out


def _is_text(section: str, key: str) -> bool:
    """Whether ``section.key`` is a text setting (``str`` or ``str | None``); unknown keys are not."""
    known = {f.name: str(f.type) for f in fields(_SECTION_TYPES[section])} if section in _SECTION_TYPES else {}
    return known.get(key, "").replace(" | None", "") == "str"


def _same(section: str, key: str, a, b) -> bool:
    """Whether two parsed values are one setting once typed (``1e-4`` and ``0.0001`` are)."""
    annotation = next(str(f.type) for f in fields(_SECTION_TYPES[section]) if f.name == key)
    try:
        return _coerce(key, a, annotation) == _coerce(key, b, annotation)
    except ConfigError:  # one of them is refused: resolve says why, in the key's own message
        return a == b


def flag_sets(given: dict, sets: tuple[str, ...] | list[str] = ()) -> list[str]:
    """``sets`` plus one ``KEY=VALUE`` item per alias flag given (:mod:`asl_edge.training.flags`), so a
    flag is parsed and checked exactly as its ``--set`` form.

    Args:
        given: the flags' values by :attr:`~asl_edge.training.flags.Flag.dest` (``None``: not given).
        sets: the ``--set`` items.

    Raises:
        ConfigError: a flag and a ``--set`` of its key give two different values.
    """
    typed = parse_set(sets)
    out = list(sets)
    for flag in FLAGS:
        raw = given.get(flag.dest)
        if raw is None:
            continue
        section, key = flag.key.split(".")
        item = f"{flag.key}={raw}"
        if key in typed.get(section, {}) and not _same(section, key, parse_set([item])[section][key],
                                                       typed[section][key]):
            other = next(s for s in reversed(out) if s.split("=", 1)[0].strip() == flag.key)
            raise ConfigError(f"{flag.flag} {raw} and --set {other} give {flag.key} two values; give one of them")
        out.append(item)
    return out


def resolve(recipe: str = DEFAULT_RECIPE, sets: tuple[str, ...] | list[str] = (), **direct) -> Config:
    """Builds the config: defaults, then the recipe, then ``--set`` overrides, then ``direct``.

    Args:
        recipe: recipe name or YAML path.
        sets: ``section.key=value`` strings.
        **direct: ``section__key=value`` overrides from dedicated CLI options (``data__source``).
    """
    config = merge(Config(), load_recipe(recipe))
    overrides = parse_set(sets)
    config = merge(config, overrides)
    for compound, value in direct.items():
        if value is not None:
            section, key = compound.split("__", 1)
            config = _apply(config, section, key, value)
    if "image_size" not in overrides.get("data", {}) and direct.get("data__image_size") is None:
        config = adapt_image_size(config)
    return check(config)


def default_export_name(config: Config, recipe: str) -> str:
    """The artifacts' name for a run of ``recipe`` on ``config``'s data: ``<data>-<recipe>``, plus
    ``-<model>`` where ``--model`` replaced the recipe's network; ``asl-digits-fast`` for the fast
    recipe on the built-in set (the reference exports' name), ``photos-camera`` for a folder ``photos/``.
    """
    from asl_edge.data.loaders import BUILTIN_ALIASES
    from asl_edge.runtime.formats import artifact_stem

    source = config.data.source
    data = "asl-digits" if source in BUILTIN_ALIASES else Path(source.rstrip("/\\")).stem
    recipe_model = ((load_recipe(recipe).get("model") or {}).get("name")) or ModelSection().name
    model = "" if config.model.name == recipe_model else f"-{config.model.name}"
    return artifact_stem(f"{data}-{Path(recipe).stem}{model}")


def with_export_name(config: Config, recipe: str) -> Config:
    """``config`` with ``model.export_name`` set (:func:`default_export_name` unless given)."""
    if config.model.export_name:
        return config
    return dataclasses.replace(config, model=dataclasses.replace(config.model,
                                                                 export_name=default_export_name(config, recipe)))


def adapt_image_size(config: Config) -> Config:
    """Raises a recipe's ``data.image_size`` to the model's registry default where the architecture
    needs larger inputs (``--model inceptionv3`` with the 64-pixel ``fast`` recipe trains at 75).

    Raises:
        ConfigError: unknown model name.
    """
    size = get_spec(config.model.name).adapted_size(config.data.image_size)
    if size == config.data.image_size:
        return config
    log.info("model %s needs larger inputs: data.image_size %d -> %d",
                                     config.model.name, config.data.image_size, size)
    return dataclasses.replace(config, data=dataclasses.replace(config.data, image_size=size))


def check(config: Config) -> Config:
    """Checks combinations of keys that are each valid alone; returns ``config``.

    Raises:
        ConfigError: ``plateau`` with a warm-up (ReduceLROnPlateau changes a plain rate, a warm-up
            is a schedule), a plateau factor outside (0, 1), any key outside the range its field
            declares (``setting``), a scale range that is not ``scale_min <= scale_max``, or weight
            averaging over more epochs than the last phase has or under a distribution strategy;
            ``data.upright`` without ``data.localise`` (only a found hand has an upright);
            ``augment.hand_tone_kept_background`` without both shares it separates.
    """
    if config.data.upright and not config.data.localise:
        raise ConfigError("data.upright turns the found hand upright: it needs data.localise=true")
    if config.model.export_name is not None:
        from asl_edge.runtime.formats import check_stem

        check_stem(config.model.export_name, label("model.export_name"))
    for section in _SECTION_TYPES:  # each key's own range (a Config built in Python skips _apply)
        check_fields(getattr(config, section), f"{section}.")
    _check_landmarks(config)
    aug = config.augment  # the shares (scale_prob, ...) are ranges of their fields, checked above
    from asl_edge.training.backgrounds import check_kinds

    check_kinds(aug.backgrounds)
    if not aug.scale_min <= aug.scale_max:
        raise ConfigError(f"augment needs 0 < scale_min <= scale_max, got {aug.scale_min} and {aug.scale_max}")
    if aug.hand_tone_kept_background and not (aug.hand_tone and aug.background_prob):
        raise ConfigError("augment.hand_tone_kept_background keeps the toned hands off the replaced backgrounds: "
                          "it needs augment.hand_tone > 0 and augment.background_prob > 0")
    train = config.train
    if train.schedule == "plateau":
        if train.warmup_epochs:
            raise ConfigError("train.schedule=plateau cannot follow a warm-up (it lowers a plain rate): "
                              "set train.warmup_epochs=0 or another schedule")
        if not 0.0 < train.decay_rate < 1.0 or train.plateau_patience < 1:
            raise ConfigError("train.schedule=plateau needs 0 < train.decay_rate < 1 and train.plateau_patience >= 1")
    if train.consistency and (train.teacher or config.data.landmarks):
        raise ConfigError("train.consistency pulls together two augmentations of each image: it cannot be combined "
                          "with train.teacher, and a landmark model (data.landmarks) reads no image")
    if train.swa_epochs:
        transfer = get_spec(config.model.name).family == "transfer"
        last_phase = train.fine_tune_epochs if transfer and train.fine_tune_epochs else train.epochs
        if not 0 < train.swa_epochs < last_phase:
            raise ConfigError(f"train.swa_epochs averages the last epochs of the last phase ({last_phase}): "
                              f"it must lie in [0, {last_phase - 1}], got {train.swa_epochs}")
        if train.distribute != "default":
            raise ConfigError("train.swa_epochs runs on one device: set train.distribute=default "
                              "(re-measuring the BatchNorm statistics is not written for a strategy)")
    return config


def _check_landmarks(config: Config) -> None:
    """A landmark model (``data.landmarks``) and a landmark-reading architecture go together."""
    reads = get_spec(config.model.name).inputs
    data = config.data
    if data.landmarks and not data.localise:
        raise ConfigError("data.landmarks reads the found hand's landmarks: it needs data.localise=true")
    if data.landmarks and data.scene_copies:
        raise ConfigError("data.scene_copies is not used by a landmark model (the landmarks carry no background): "
                          "set data.scene_copies=0")
    if data.landmark_copies and not data.landmarks:
        raise ConfigError("data.landmark_copies makes altered copies for a landmark model: "
                          "it needs data.landmarks=true")
    if data.landmark_copies and not config.augment.enabled:
        raise ConfigError("data.landmark_copies alters the copies with the augment settings: "
                          "it needs augment.enabled=true")
    if data.landmarks and reads != "landmarks":
        raise ConfigError(f"model {config.model.name} reads images; data.landmarks needs a landmark model "
                          "(e.g. --set model.name=landmark_mlp)")
    if reads == "landmarks" and not data.landmarks:
        raise ConfigError(f"model {config.model.name} reads hand landmarks: train it with the landmarks recipe "
                          "(data.localise=true, data.landmarks=true)")


def from_dict(d: dict) -> Config:
    """Rebuilds a config saved with :meth:`Config.to_dict` (for ``--resume``)."""
    return check(merge(Config(), d))


def to_yaml(config: Config) -> str:
    import yaml

    return yaml.safe_dump(config.to_dict(), sort_keys=False)
