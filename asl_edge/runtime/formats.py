"""The one table of export formats, read by the exporters, the benchmark loop, predict and the tests.

In the spirit of Ultralytics' ``export_formats()``: one row per artifact kind, looked up by name
or by file suffix, never by position. No TensorFlow here: the runtime-only install reads it too.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from asl_edge.runtime.errors import ConfigError


@dataclass(frozen=True)
class ExportFormat:
    """One kind of artifact.

    Attributes:
        name: unique key, e.g. ``tflite_int8``.
        suffix: file-name ending after the model name, e.g. ``_int8.tflite``.
        family: ``keras``, ``tflite`` or ``onnx``: which exporter function writes it.
        runtime: ``keras``, ``litert`` or ``onnxruntime``: which runner executes it.
        precision: ``fp32``, ``fp16``, ``dynamic`` (int8 weights, float activations), ``int8``,
            ``int8_mixed`` (int8 with the layers that lose most accuracy kept in float) or
            ``int4`` (full integer with 4-bit convolution weights: :mod:`asl_edge.export.int4`).
        flag: the ``asl-edge export`` flag that adds it; ``None`` for the default set; ``max_drop``
            for the mixed rows, written only when full int8 fails ``--max-drop``.
        tolerance: largest allowed max-abs difference of its probabilities from the Keras model,
            or ``None`` where only accuracy and top-1 agreement are gated (quantised artifacts).
    """

    name: str
    suffix: str
    family: str
    runtime: str
    precision: str
    flag: str | None
    tolerance: float | None

    @property
    def extension(self) -> str:
        return Path(self.suffix).suffix

    @property
    def quantized(self) -> bool:
        return self.precision in ("int8", "dynamic", "int8_mixed", "int4")

    @property
    def full_integer(self) -> bool:
        """Integer input, output and arithmetic: what TFLite Micro and NPUs run."""
        return self.precision in ("int8", "int4")


_FORMATS = (
    ExportFormat("keras", ".keras", "keras", "keras", "fp32", None, 0.0),
    ExportFormat("tflite_fp32", "_fp32.tflite", "tflite", "litert", "fp32", None, 1e-4),
    ExportFormat("tflite_fp16", "_fp16.tflite", "tflite", "litert", "fp16", "fp16", 1e-2),
    ExportFormat("tflite_dynamic", "_dynamic.tflite", "tflite", "litert", "dynamic", "dynamic", None),
    ExportFormat("tflite_int8", "_int8.tflite", "tflite", "litert", "int8", "int8", None),
    ExportFormat("onnx_fp32", "_fp32.onnx", "onnx", "onnxruntime", "fp32", None, 1e-4),
    ExportFormat("onnx_int8", "_int8.onnx", "onnx", "onnxruntime", "int8", "int8", None),
    ExportFormat("tflite_int8_mixed", "_int8_mixed.tflite", "tflite", "litert", "int8_mixed", "max_drop", None),
    ExportFormat("onnx_int8_mixed", "_int8_mixed.onnx", "onnx", "onnxruntime", "int8_mixed", "max_drop", None),
    ExportFormat("tflite_int4", "_int4.tflite", "tflite", "litert", "int4", "int4", None),
)


# Which artifact of an export a device should run, first choice first: the full-integer TFLite
# (smallest and fastest on a Pi's CPU, what TFLite Micro and NPUs take), then the ones that keep
# more in float, then ONNX (LiteRT is the device runtime of the `pi` extra); int4 weights last,
# they are made for microcontrollers and may lose more accuracy.
DEPLOY_ORDER = ("tflite_int8", "tflite_int8_mixed", "tflite_dynamic", "tflite_fp16", "tflite_fp32", "onnx_int8",
                "onnx_int8_mixed", "onnx_fp32", "tflite_int4")


def export_formats() -> tuple[ExportFormat, ...]:
    """Every format, in the order the exporters write them."""
    return _FORMATS


def get_format(name: str) -> ExportFormat:
    """Looks a format up by name.

    Raises:
        ConfigError: ``Unknown format 'x'; choose one of: ...``.
    """
    for fmt in _FORMATS:
        if fmt.name == name:
            return fmt
    raise ConfigError(f"Unknown format '{name}'; choose one of: {', '.join(f.name for f in _FORMATS)}")


def format_for_path(path: str | Path) -> ExportFormat:
    """The format of a file, by its suffix (an unknown ``.tflite``/``.onnx`` name gets its family's fp32 row).

    Raises:
        ConfigError: not a ``.keras``, ``.tflite`` or ``.onnx`` file.
    """
    name = Path(path).name
    for fmt in sorted(_FORMATS, key=lambda f: -len(f.suffix)):
        if name.endswith(fmt.suffix):
            return fmt
    by_extension = {".tflite": "tflite_fp32", ".onnx": "onnx_fp32", ".keras": "keras"}
    if Path(name).suffix in by_extension:
        return get_format(by_extension[Path(name).suffix])
    raise ConfigError(f"'{path}' is not a model artifact: expected a .keras, .tflite or .onnx file")


def selected_formats(families: tuple[str, ...] = ("tflite", "onnx"), flags: tuple[str, ...] = ()) -> list[ExportFormat]:
    """The formats an export writes: the default row of each family plus those whose flag is set."""
    return [f for f in _FORMATS if f.family in families and (f.flag is None or f.flag in flags)]


def compression_tag(prune: float = 0.0, structured: bool = False, cluster: int = 0, qat: bool = False) -> str:
    """What was done to a model, as a file-name part: ``p50`` (50% magnitude pruning), ``s24``
    (2:4 structured sparsity), ``c4`` (4 weight clusters), ``q`` (quantisation-aware training);
    empty for the trained model itself.
    """
    parts = []
    if structured:
        parts.append("s24")
    elif prune:
        parts.append(f"p{round(prune * 100):d}")
    if cluster:
        parts.append(f"c{cluster:d}")
    if qat:
        parts.append("q")
    return "".join(parts)


_STEM = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")


def check_stem(name: str, option: str = "--name") -> str:
    """Refuses an artifact name stem that is not a plain file name part (letters, digits, ``.``, ``_``,
    ``-``; at most 64 characters): it becomes every artifact's file name.

    Raises:
        ConfigError: one line naming the option and the rule.
    """
    if not isinstance(name, str) or not _STEM.fullmatch(name):
        raise ConfigError(f"{option} must be 1-64 letters, digits, '.', '_' or '-' (starting with a letter or "
                          f"digit), got {name!r}")
    return name


def artifact_stem(text: str) -> str:
    """``text`` made into a name :func:`check_stem` accepts (other characters become ``-``)."""
    return re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-._")[:64] or "model"


def artifact_name(model_name: str, fmt: ExportFormat, tag: str = "") -> str:
    """The file name of an artifact: ``<model>[_<compression tag>]<suffix>``, e.g.
    ``asl-digits-fast_int8.tflite`` or ``asl-digits-fast_p50c4_int8.tflite``, so that two different
    models never share a name. :func:`format_for_path` reads either back.
    """
    return f"{model_name}_{tag}{fmt.suffix}" if tag else f"{model_name}{fmt.suffix}"
