"""What a ``.keras`` file may name before Keras is allowed to deserialise it.

tf_keras 2.21's ``safe_mode=True`` blocks Python bytecode in ``Lambda`` layers but still imports
any module named in a serialised function reference, so a ``Lambda`` whose function is
``os.system`` with author-chosen ``arguments`` runs a shell command while the model loads
(issue #13). Every object in ``config.json`` is therefore checked against an allow-list of the
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
}
# registered_name values that differ from the class name (package-registered classes).
REGISTERED = {"asl_edge>WarmUp": "WarmUp", "asl_edge>DistillationLoss": "DistillationLoss",
              "asl_edge>HardLabelAccuracy": "HardLabelAccuracy"}
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
    stack = [(config, "config", 0)]
    while stack:
        node, where, depth = stack.pop()
        if depth > MAX_DEPTH:
            _refuse(path, "config nested too deeply")
        if isinstance(node, dict):
            if "class_name" in node:
                _check_object(node, path, where)
            for key, value in node.items():
                if key in FUNCTION_KEYS:
                    _refuse(path, f"function reference '{key}' at {where}")
                if key in SIZE_KEYS:
                    _check_sizes(key, value, path, where)
                stack.append((value, f"{where}/{key}"[:200], depth + 1))
        elif isinstance(node, list):
            stack.extend((v, where, depth + 1) for v in node)


def read_keras_config(path: str | Path) -> dict:
    """Reads ``config.json`` from a ``.keras`` archive, bounded in size.

    Raises:
        ModelError: not a zip, no config, too large or not JSON.
    """
    path = Path(path)
    try:
        with zipfile.ZipFile(path) as archive:
            infos = archive.infolist()
            if len(infos) > MAX_ENTRIES:
                raise ModelError(f"{path} is not a valid .keras file ({len(infos)} entries)")
            # A zip bomb would fill the disk when Keras extracts the weights.
            if sum(i.file_size for i in infos) > MAX_UNPACKED_BYTES or any(
                    i.file_size > 64 << 20 and i.file_size > 200 * max(i.compress_size, 1) for i in infos):
                raise ModelError(f"{path} is not a valid .keras file (it unpacks to far more than it holds)")
            info = next((i for i in infos if i.filename == "config.json"), None)
            if info is None:
                raise ModelError(f"{path} is not a valid .keras file (no config.json)")
            if info.file_size > MAX_CONFIG_BYTES:
                raise ModelError(f"{path}: config.json is too large ({info.file_size} bytes)")
            with archive.open(info) as fh:
                raw = fh.read(MAX_CONFIG_BYTES + 1)
            if len(raw) > MAX_CONFIG_BYTES:
                raise ModelError(f"{path}: config.json is too large")
        config = json.loads(raw.decode("utf-8"))
    except ModelError:
        raise
    except (zipfile.BadZipFile, OSError, UnicodeDecodeError, ValueError, RecursionError, EOFError) as exc:
        raise ModelError(f"{path} is not a valid .keras file (truncated or corrupt): {type(exc).__name__}") from None
    if not isinstance(config, dict):
        raise ModelError(f"{path} is not a valid .keras file (config.json is not an object)")
    return config


def check_keras_file(path: str | Path, shown: str | Path | None = None) -> dict:
    """Refuses a ``.keras`` file whose config names anything outside the allow-list; returns the config.

    Args:
        path: the file to read.
        shown: the name to show in errors (the user's path when ``path`` is a private copy).
    """
    try:
        config = read_keras_config(path)
    except ModelError as exc:
        raise ModelError(str(exc).replace(str(path), str(shown or path))) from None
    check_config(config, Path(shown or path))
    return config
