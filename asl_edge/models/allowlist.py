"""What a ``.keras`` file may name before Keras is allowed to deserialise it.

tf_keras 2.21's ``safe_mode=True`` blocks Python bytecode in ``Lambda`` layers but still imports
any module named in a serialised function reference, so a ``Lambda`` whose function is
``os.system`` with author-chosen ``arguments`` runs a shell command while the model loads.
Every object in ``config.json`` is therefore checked against an allow-list of the
classes that asl-edge's own models, optimizers and schedules use (and their plain Keras
siblings) *before* Keras reads the file: no ``Lambda``/``TFOpLambda``, no function references, no
module outside Keras and asl-edge. Pure JSON and zip reading: no TensorFlow here.
"""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

from asl_edge.runtime.errors import ModelError

MAX_CONFIG_BYTES = 32 << 20
MAX_ENTRIES = 64
MAX_UNPACKED_BYTES = 4 << 30
MAX_DEPTH = 64

# Keras layers without a function argument: anything that takes a Python callable or arbitrary
# code (Lambda, TFOpLambda, SlicingOpLambda, RNN with custom cells, TextVectorization's
# standardize callables, ...) is left out on purpose.
LAYERS = frozenset("""
InputLayer Dense Conv1D Conv2D Conv3D Conv1DTranspose Conv2DTranspose Conv3DTranspose SeparableConv1D
SeparableConv2D DepthwiseConv1D DepthwiseConv2D BatchNormalization LayerNormalization GroupNormalization
UnitNormalization Activation ReLU LeakyReLU PReLU ELU Softmax ThresholdedReLU Dropout SpatialDropout1D
SpatialDropout2D SpatialDropout3D GaussianDropout GaussianNoise AlphaDropout MaxPooling1D MaxPooling2D
MaxPooling3D AveragePooling1D AveragePooling2D AveragePooling3D GlobalAveragePooling1D GlobalAveragePooling2D
GlobalAveragePooling3D GlobalMaxPooling1D GlobalMaxPooling2D GlobalMaxPooling3D ZeroPadding1D ZeroPadding2D
ZeroPadding3D Cropping1D Cropping2D Cropping3D UpSampling1D UpSampling2D UpSampling3D Flatten Reshape Permute
RepeatVector Add Subtract Multiply Average Maximum Minimum Concatenate Dot Rescaling Resizing CenterCrop
Normalization Identity RandomFlip RandomRotation RandomZoom RandomTranslation RandomContrast RandomBrightness
RandomCrop ActivityRegularization
""".split())
MODELS = frozenset({"Functional", "Sequential", "Model"})
INITIALIZERS = frozenset("""
Zeros Ones Constant RandomNormal RandomUniform TruncatedNormal VarianceScaling Orthogonal Identity
GlorotNormal GlorotUniform HeNormal HeUniform LecunNormal LecunUniform
""".split())
REGULARIZERS = frozenset({"L1", "L2", "L1L2", "OrthogonalRegularizer"})
CONSTRAINTS = frozenset({"MaxNorm", "MinMaxNorm", "NonNeg", "UnitNorm", "RadialConstraint"})
OPTIMIZERS = frozenset({"Adam", "AdamW", "SGD", "RMSprop", "Nadam", "Adamax", "Adagrad", "Adadelta", "Ftrl",
                        "Lion"})
SCHEDULES = frozenset({"CosineDecay", "CosineDecayRestarts", "ExponentialDecay", "PiecewiseConstantDecay",
                       "PolynomialDecay", "InverseTimeDecay"})
LOSSES = frozenset({"CategoricalCrossentropy", "SparseCategoricalCrossentropy", "BinaryCrossentropy",
                    "MeanSquaredError", "CategoricalFocalCrossentropy"})
METRICS = frozenset({"Accuracy", "CategoricalAccuracy", "SparseCategoricalAccuracy", "Mean", "MeanMetricWrapper",
                     "TopKCategoricalAccuracy", "SparseTopKCategoricalAccuracy"})

# module (as tf_keras writes it) -> classes it may provide.
ALLOWED = {
    "keras.layers": LAYERS,
    "keras.initializers": INITIALIZERS,
    "keras.regularizers": REGULARIZERS,
    "keras.constraints": CONSTRAINTS,
    "keras.optimizers": OPTIMIZERS,
    "keras.optimizers.experimental": OPTIMIZERS,
    "keras.optimizers.legacy": OPTIMIZERS,
    "keras.optimizers.schedules": SCHEDULES,
    "keras.losses": LOSSES,
    "keras.metrics": METRICS,
    "keras": MODELS,
    "keras.models": MODELS,
    "tf_keras.src.engine.functional": frozenset({"Functional"}),
    "tf_keras.src.engine.sequential": frozenset({"Sequential"}),
    "tf_keras.src.engine.training": frozenset({"Model"}),
    "keras.src.engine.functional": frozenset({"Functional"}),
    "keras.src.engine.sequential": frozenset({"Sequential"}),
    "keras.src.engine.training": frozenset({"Model"}),
    "asl_edge.training.schedules": frozenset({"WarmUp"}),
    "asl_edge.training.distill": frozenset({"DistillationLoss", "HardLabelAccuracy"}),
    "asl_edge.training.consistency": frozenset({"ConsistencyLoss"}),
}
# registered_name values that differ from the class name (package-registered classes).
REGISTERED = {"asl_edge>WarmUp": "WarmUp", "asl_edge>DistillationLoss": "DistillationLoss",
              "asl_edge>HardLabelAccuracy": "HardLabelAccuracy", "asl_edge>ConsistencyLoss": "ConsistencyLoss"}
ANY_CLASS = frozenset().union(*ALLOWED.values())
# Keys under which Keras stores a Python function (Lambda, TFOpLambda, serialised callables).
FUNCTION_KEYS = frozenset({"function", "function_type", "output_shape_type", "__lambda__", "__python_function__"})


# Sizes a layer config may ask for: Keras allocates the weights before it reads the file's
# values, so Dense(units=10**10) would take all memory while loading.
SIZE_KEYS = {"units": 1 << 14, "filters": 1 << 14, "depth_multiplier": 64, "kernel_size": 64, "pool_size": 64,
             "strides": 64, "dilation_rate": 64, "batch_input_shape": 4096, "batch_shape": 4096,
             "target_shape": 1 << 16, "size": 64, "cropping": 4096, "padding": 4096, "output_dim": 1 << 14,
             "input_dim": 1 << 20, "num_heads": 256, "key_dim": 4096, "groups": 4096}


def _check_sizes(key: str, value, path: Path, where: str) -> None:
    limit = SIZE_KEYS[key]
    stack = [value]
    while stack:
        v = stack.pop()
        if isinstance(v, (list, tuple)):
            if len(v) > 16:
                _refuse(path, f"'{key}' at {where} has {len(v)} entries")
            stack.extend(v)
        elif isinstance(v, dict):
            continue  # a serialised object: checked by the walk
        elif isinstance(v, bool) or v is None or isinstance(v, str):
            continue
        elif not isinstance(v, (int, float)) or not -1 <= v <= limit:
            _refuse(path, f"'{key}' {v!s:.40} at {where} is out of range (at most {limit})")


def _refuse(path: Path, why: str):
    raise ModelError(f"refusing to load {path}: {why} (only Keras' built-in layers and asl-edge's own "
                     "classes are allowed; Lambda layers and function references can run code)")


def _check_object(obj: dict, path: Path, where: str) -> None:
    class_name = obj.get("class_name")
    if not isinstance(class_name, str):
        _refuse(path, f"malformed class_name at {where}")
    module = obj.get("module")
    registered = obj.get("registered_name")
    if module is not None:
        if not isinstance(module, str) or module not in ALLOWED:
            _refuse(path, f"{class_name!s:.60} from module {module!s:.80} at {where}")
        if class_name not in ALLOWED[module]:
            _refuse(path, f"class {class_name:.60} of {module} is not allowed at {where}")
    elif class_name not in ANY_CLASS:
        _refuse(path, f"class {class_name:.60} is not allowed at {where}")
    if registered is not None and registered != class_name and REGISTERED.get(registered) != class_name:
        _refuse(path, f"registered name {registered!s:.80} at {where}")


def check_config(config, path: Path) -> None:
    """Walks a Keras config and refuses anything outside the allow-list.

    Raises:
        ModelError: a class, module or function reference that is not allowed.
    """
    for node, where in _objects(config, path):
        if "class_name" in node:
            _check_object(node, path, where)
        for key, value in node.items():
            if key in FUNCTION_KEYS:
                _refuse(path, f"function reference '{key}' at {where}")
            if key in SIZE_KEYS:
                _check_sizes(key, value, path, where)


def _objects(config, path: Path):
    """Every JSON object of a config with where it sits, refusing nesting deeper than MAX_DEPTH."""
    stack = [(config, "config", 0)]
    while stack:
        node, where, depth = stack.pop()
        if depth > MAX_DEPTH:
            _refuse(path, "config nested too deeply")
        if isinstance(node, dict):
            yield node, where
            stack.extend((v, f"{where}/{k}"[:200], depth + 1) for k, v in node.items() if isinstance(v, (dict, list)))
        elif isinstance(node, list):
            stack.extend((v, where, depth + 1) for v in node if isinstance(v, (dict, list)))


# -- what building the config allocates ------------------------------------------------------------
# Keras creates every weight (and fills it from its initializer) from the config alone, before it
# reads a byte of the weights file: layer sizes that are each in range can still multiply to
# gigabytes. A built layer's config carries the shape it was built for (``build_config``), so the
# weights and activations it implies are computed here, before Keras sees the file.
MAX_PARAMS = 1 << 26  # 67M weights (256 MB float32): ResNet50 holds 25.6M, InceptionV3 21.8M, VGG16 14.7M
MAX_ACTIVATIONS = 1 << 27  # elements per image over all layers: InceptionV3 at 299x299 needs about 28M
_CONV = {"Conv1D", "Conv2D", "Conv3D", "Conv1DTranspose", "Conv2DTranspose", "Conv3DTranspose",
         "SeparableConv1D", "SeparableConv2D", "DepthwiseConv1D", "DepthwiseConv2D"}
_NORMS = {"BatchNormalization", "LayerNormalization", "GroupNormalization", "Normalization", "PReLU"}
WEIGHTED = _CONV | _NORMS | {"Dense"}


def _ints(value, default: int = 1) -> list[int]:
    values = value if isinstance(value, (list, tuple)) else [value]
    return [v if isinstance(v, int) and not isinstance(v, bool) and v > 0 else default for v in values]


def _prod(values) -> int:
    out = 1
    for v in values:
        out *= v
    return out


def _layer_cost(cls: str, cfg: dict, shape: list[int]) -> tuple[int, int]:
    """``(weights, output elements per image)`` a layer of class ``cls`` built for ``shape`` implies."""
    dims = shape[1:]
    first = cfg.get("data_format") == "channels_first"
    c_in = (dims[0] if first else dims[-1]) if dims else 1
    spatial = (dims[1:] if first else dims[:-1]) if dims else []
    if cls == "Dense":
        units = _ints(cfg.get("units"))[0]
        return c_in * units + units, _prod(dims[:-1]) * units
    if cls in _CONV:
        kernel = _prod(_ints(cfg.get("kernel_size")))
        mult = _ints(cfg.get("depth_multiplier", 1))[0]
        filters = _ints(cfg.get("filters"))[0]
        if cls.startswith("Depthwise"):
            return kernel * c_in * mult + c_in * mult, _prod(spatial) * c_in * mult
        if cls.startswith("Separable"):
            return kernel * c_in * mult + c_in * mult * filters + filters, _prod(spatial) * (c_in * mult + filters)
        if cls.endswith("Transpose"):
            steps, sides = _ints(cfg.get("strides")) * 3, _ints(cfg.get("kernel_size")) * 3
            grown = [d * s + k for d, s, k in zip(spatial, steps, sides)]
            return kernel * c_in * filters + filters, _prod(grown) * filters
        groups = _ints(cfg.get("groups", 1))[0]
        return kernel * (c_in // groups or c_in) * filters + filters, _prod(spatial) * filters
    if cls == "PReLU":
        return _prod(dims), _prod(dims)
    return 4 * _norm_size(cfg.get("axis", -1), dims, c_in), _prod(dims)


def _norm_size(axis, dims: list[int], c_in: int) -> int:
    """Elements of a normalisation layer's per-axis weights (``axis`` counts the batch axis as 0)."""
    axes = axis if isinstance(axis, list) else [axis]
    picked = [dims[a - 1 if a > 0 else a] for a in axes
              if isinstance(a, int) and a != 0 and -len(dims) <= (a - 1 if a > 0 else a) < len(dims)]
    return _prod(picked) if picked else c_in


def _build_shape(layer: dict, path: Path, where: str) -> list[int] | None:
    build = layer.get("build_config")
    shape = build.get("input_shape") if isinstance(build, dict) else None
    if shape is None:
        return None
    if isinstance(shape, list) and shape and isinstance(shape[0], list):
        shape = shape[0]  # a layer built on several inputs: weights follow the first
    if not isinstance(shape, list) or len(shape) > 8 or not all(
            d is None or (isinstance(d, int) and not isinstance(d, bool) and 0 <= d <= 1 << 16) for d in shape):
        _refuse(path, f"build shape {str(shape):.80} at {where}")
    return [1 if d is None else d for d in shape]


def check_implied_sizes(config: dict, path: Path) -> tuple[int, int]:
    """Refuses a config whose layers, built as it says, would hold more weights than
    :data:`MAX_PARAMS` or more activations per image than :data:`MAX_ACTIVATIONS`.

    Every layer with weights must say the shape it was built for (``build_config``; Keras writes
    it for every built layer), so its weights are known before Keras allocates them.

    Returns:
        ``(weights, activation elements per image)``.
    """
    params = activations = 0
    for node, where in _objects(config, path):
        cls, cfg = node.get("class_name"), node.get("config")
        if cls in LAYERS and isinstance(cfg, dict):
            shape = _build_shape(node, path, where)
            if shape is None and cls in WEIGHTED:
                _refuse(path, f"layer {cls} at {where} does not say the shape it was built for")
            if shape is not None:
                w, out = _layer_cost(cls, cfg, shape) if cls in WEIGHTED else (0, 0)
                params, activations = params + w, activations + out + _prod(shape[1:])
        if params > MAX_PARAMS:
            _refuse(path, f"its layers would hold more than {MAX_PARAMS:,} weights "
                          f"({params * 4 >> 20} MB at least), more than any model asl-edge trains")
        if activations > MAX_ACTIVATIONS:
            _refuse(path, f"its layers would need more than {MAX_ACTIVATIONS * 4 >> 20} MB of activations per image")
    return params, activations


# The members a .keras file of asl-edge's holds; Keras extracts every member of an archive with more
# than three to a temporary folder (its assets), so nothing else is passed on.
MEMBERS = ("config.json", "metadata.json", "model.weights.h5", "model.weights.npz")


def _check_members(infos: list, path: Path) -> None:
    """Refuses duplicate, absolute, ``..`` and unknown member names, and archives that unpack to far
    more than they hold, before any member is read.

    zipfile answers a name held twice with the LAST copy, so a check that read the first would vouch
    for bytes Keras never loads.
    """
    if len(infos) > MAX_ENTRIES:
        raise ModelError(f"{path} is not a valid .keras file ({len(infos)} entries)")
    names = [i.filename for i in infos]
    for name in names:
        parts = name.replace("\\", "/").split("/")
        if name.startswith(("/", "\\")) or ".." in parts or (len(name) > 1 and name[1] == ":"):
            raise ModelError(f"{path} is not a valid .keras file (member {name!r:.80} points outside the archive)")
        if names.count(name) > 1:
            raise ModelError(f"{path} is not a valid .keras file (it holds {name!r:.80} {names.count(name)} times)")
        if name not in MEMBERS:
            raise ModelError(f"{path} is not a valid .keras file (unexpected member {name!r:.80})")
    # A zip bomb would fill the disk when Keras extracts the weights.
    if sum(i.file_size for i in infos) > MAX_UNPACKED_BYTES or any(
            i.file_size > 64 << 20 and i.file_size > 200 * max(i.compress_size, 1) for i in infos):
        raise ModelError(f"{path} is not a valid .keras file (it unpacks to far more than it holds)")
    if "config.json" not in names:
        raise ModelError(f"{path} is not a valid .keras file (no config.json)")


def _read_member(archive: zipfile.ZipFile, info, path: Path, limit: int) -> bytes:
    if info.file_size > limit:
        raise ModelError(f"{path}: {info.filename} is too large ({info.file_size} bytes)")
    with archive.open(info) as fh:
        raw = fh.read(limit + 1)
    if len(raw) > limit:
        raise ModelError(f"{path}: {info.filename} is too large")
    return raw


def _parse_config(raw: bytes, path: Path) -> dict:
    config = json.loads(raw.decode("utf-8"))
    if not isinstance(config, dict):
        raise ModelError(f"{path} is not a valid .keras file (config.json is not an object)")
    return config


def read_keras_config(path: str | Path, dest: str | Path | None = None) -> dict:
    """Reads ``config.json`` from a ``.keras`` archive, bounded in size; with ``dest``, also writes
    there the archive Keras may load: exactly the config bytes read here, beside the archive's
    metadata and weights (streamed, never the rest).

    Raises:
        ModelError: not a zip, duplicate/absolute/``..``/unknown members, no config, too large or
            not JSON.
    """
    path = Path(path)
    try:
        with zipfile.ZipFile(path) as archive:
            infos = archive.infolist()
            _check_members(infos, path)
            info = next(i for i in infos if i.filename == "config.json")
            raw = _read_member(archive, info, path, MAX_CONFIG_BYTES)
            config = _parse_config(raw, path)
            if dest is not None:
                _write_checked(archive, infos, raw, Path(dest))
    except ModelError:
        raise
    except (zipfile.BadZipFile, OSError, UnicodeDecodeError, ValueError, RecursionError, EOFError) as exc:
        raise ModelError(f"{path} is not a valid .keras file (truncated or corrupt): {type(exc).__name__}") from None
    return config


def _write_checked(archive: zipfile.ZipFile, infos: list, config_raw: bytes, dest: Path) -> None:
    import shutil

    with zipfile.ZipFile(dest, "w", zipfile.ZIP_STORED) as out:
        out.writestr("config.json", config_raw)
        for info in infos:
            if info.filename == "config.json":
                continue
            with archive.open(info) as src, out.open(info.filename, "w", force_zip64=True) as dst:
                shutil.copyfileobj(src, dst, 1 << 20)


def check_keras_file(path: str | Path, shown: str | Path | None = None, dest: str | Path | None = None) -> dict:
    """Refuses a ``.keras`` file whose config names anything outside the allow-list, or implies
    more weights or activations than any real model; returns the config.

    Args:
        path: the file to read.
        shown: the name to show in errors (the user's path when ``path`` is a private copy).
        dest: where to write the archive Keras may load (the checked config bytes and the weights):
            only after every check passed is it left there.
    """
    try:
        config = read_keras_config(path, dest)
        check_config(config, Path(shown or path))
        check_implied_sizes(config, Path(shown or path))
    except ModelError as exc:
        if dest is not None:
            Path(dest).unlink(missing_ok=True)
        raise ModelError(str(exc).replace(str(path), str(shown or path))) from None
    return config
