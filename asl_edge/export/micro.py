"""TFLite Micro bundle: a full-integer TFLite model as C source for a Cortex-M build.

Beside each full-integer ``.tflite`` of an export (``asl-edge export RUN --int8 --micro``) it writes

- ``<artifact stem>_micro.cc``: the model's bytes as an aligned ``const unsigned char`` array and
  its length (``xxd -i`` style, as TFLM's own examples embed models);
- ``<artifact stem>_micro.h``: the declarations, the operators the op resolver needs (a function
  template that registers exactly those on a ``tflite::MicroMutableOpResolver<kOpCount>``), the
  labels, the input recipe (shape, quantisation, normalisation) and the tensor arena size;

and measures, with the TFLM interpreter itself (:mod:`asl_edge.runtime.micro`), the smallest
arena the model allocates and runs in, and checks TFLM's outputs against LiteRT's on the held-out
images. Everything goes into the manifest (``micro``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from asl_edge.runtime import micro as tflm
from asl_edge.runtime.errors import ModelError

# TFLM's builtin operators are registered on MicroMutableOpResolver with Add<CamelCase>() methods,
# named after the schema's BuiltinOperator (CONV_2D -> AddConv2D, HARD_SWISH -> AddHardSwish).
# Those whose method does not follow that rule:
_RESOLVER_EXCEPTIONS = {"LOG_SOFTMAX": "AddLogSoftmax", "L2_NORMALIZATION": "AddL2Normalization",
                        "RELU_N1_TO_1": "AddReluN1To1"}
# Outputs may differ from LiteRT's by one step of the output scale: TFLM's reference kernels and
# LiteRT's optimised ones round some intermediate fixed-point products differently.
MAX_LSB_DIFF = 1
BYTES_PER_LINE = 12


@dataclass(frozen=True)
class MicroFiles:
    """The two C files of one artifact's bundle (names only: one place knows them)."""

    source: str
    header: str

    @classmethod
    def of(cls, artifact: str) -> MicroFiles:
        stem = artifact.removesuffix(".tflite")
        return cls(f"{stem}_micro.cc", f"{stem}_micro.h")


def c_identifier(name: str) -> str:
    """A C identifier from a file stem: other characters become ``_``; never starts with a digit."""
    ident = re.sub(r"[^0-9A-Za-z_]", "_", name)
    return f"m_{ident}" if not ident or ident[0].isdigit() else ident


def resolver_method(op: str) -> str:
    """``CONV_2D`` -> ``AddConv2D``: the MicroMutableOpResolver method that registers a builtin."""
    if op in _RESOLVER_EXCEPTIONS:
        return _RESOLVER_EXCEPTIONS[op]
    return "Add" + "".join(part.upper() if part[0].isdigit() else part.capitalize() for part in op.split("_"))


def c_array(data: bytes) -> str:
    """The bytes as the body of a C array initialiser, ``BYTES_PER_LINE`` hex bytes per line."""
    lines = []
    for start in range(0, len(data), BYTES_PER_LINE):
        lines.append("  " + ", ".join(f"0x{b:02x}" for b in data[start:start + BYTES_PER_LINE]) + ",")
    return "\n".join(lines)


def parse_c_array(text: str, name: str) -> bytes:
    """The bytes of array ``name`` in C source written by :func:`source_text` (for checks and tests).

    Raises:
        ModelError: the array is not there, or its length constant disagrees with its bytes.
    """
    body = re.search(rf"{re.escape(name)}\[\]\s*=\s*\{{(.*?)\}};", text, re.S)
    length = re.search(rf"{re.escape(name)}_len\s*=\s*(\d+);", text)
    if not body or not length:
        raise ModelError(f"no array '{name}' with its length in the C source")
    data = bytes(int(tok, 16) for tok in re.findall(r"0x([0-9a-fA-F]{2})", body.group(1)))
    if len(data) != int(length.group(1)):
        raise ModelError(f"'{name}' holds {len(data)} bytes but {name}_len says {length.group(1)}")
    return data


def _c_string(s: str) -> str:
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _c_float(v: float) -> str:
    text = f"{float(v):.9g}"
    return f"{text}{'' if any(c in text for c in '.en') else '.0'}f"


def _c_floats(values) -> str:
    return ", ".join(_c_float(v) for v in values)


def camel(ident: str) -> str:
    """``asl_digits_fast_int8`` -> ``AslDigitsFastInt8``: the stem of the header's constant names."""
    return "".join(part[:1].upper() + part[1:] for part in ident.split("_") if part)


def source_text(ident: str, header: str, data: bytes) -> str:
    return (f"// The model {ident} for TensorFlow Lite Micro, written by asl-edge. Do not edit.\n"
            f'#include "{header}"\n\n'
            "// 16-byte aligned: TFLM reads the flatbuffer in place, and its tensors' buffers inside it\n"
            "// must be aligned for the kernels that read them directly.\n"
            f"alignas(16) const unsigned char {ident}[] = {{\n{c_array(data)}\n}};\n"
            f"const unsigned int {ident}_len = {len(data)};\n")


def header_text(ident: str, ops: list[str], labels: list[str], spec: dict, arena: dict) -> str:
    """The header: declarations, op resolver registration, labels, input recipe, arena size."""
    guard, c = f"{ident.upper()}_MICRO_H_", camel(ident)
    q = spec["input_quantization"]
    adds = "\n".join(f"  if (resolver.{resolver_method(op)}() != kTfLiteOk) return kTfLiteError;" for op in ops)
    mean, std = spec.get("mean") or [0.0], spec.get("std") or [1.0]
    return f"""// The model {ident} for TensorFlow Lite Micro, written by asl-edge. Do not edit.
#ifndef {guard}
#define {guard}

#include "tensorflow/lite/c/common.h"  // TfLiteStatus

extern const unsigned char {ident}[];
extern const unsigned int {ident}_len;

// Tensor arena: {arena['minimum_bytes']} bytes measured as the smallest in which the TFLM interpreter
// allocates and runs this model (tflite-micro {arena['tflm_version']}, x86-64: an upper bound for a
// 32-bit MCU), plus {arena['cmsis_scratch_bytes']} bytes for CMSIS-NN's convolution scratch and a
// {arena['margin_bytes']}-byte margin, rounded up to {tflm.ARENA_ALIGNMENT} bytes.
constexpr int k{c}ArenaBytes = {arena['recommended_bytes']};

// The builtin operators the model uses: register exactly these, e.g.
//   tflite::MicroMutableOpResolver<k{c}OpCount> resolver;  Register{c}Ops(resolver);
constexpr int k{c}OpCount = {len(ops)};
template <typename Resolver>
TfLiteStatus Register{c}Ops(Resolver& resolver) {{
{adds}
  return kTfLiteOk;
}}

// Labels, in the order of the output tensor.
constexpr int k{c}LabelCount = {len(labels)};
constexpr const char* k{c}Labels[] = {{{", ".join(_c_string(label) for label in labels)}}};

// Input recipe (asl_edge.input in the model's metadata): resize the image to height x width,
// {spec['color']} ({spec['channels']} channel(s), {spec.get('channel_order', 'rgb')} order), then
// x = (pixel * kPixelScale - mean[c]) / std[c]; with kPerImageNormalization, x = (x - mean(x)) /
// max(std(x), kPerImageMinStd) over the whole image; finally q = round(x / kInputScale) + kInputZeroPoint,
// clamped to [-128, 127].
constexpr int k{c}InputHeight = {spec['height']};
constexpr int k{c}InputWidth = {spec['width']};
constexpr int k{c}InputChannels = {spec['channels']};
constexpr float k{c}PixelScale = {_c_float(spec['pixel_scale'])};
constexpr float k{c}Mean[] = {{{_c_floats(mean)}}};
constexpr float k{c}Std[] = {{{_c_floats(std)}}};
constexpr bool k{c}PerImageNormalization = {'true' if spec['normalization'] == 'per_image' else 'false'};
constexpr float k{c}PerImageMinStd = {_c_float(spec.get('per_image_min_std') or 0.0)};
constexpr float k{c}InputScale = {_c_float(q[0])};
constexpr int k{c}InputZeroPoint = {q[1]};

#endif  // {guard}
"""


def input_spec(artifact: Path, buf: bytes) -> dict:
    """What the header says about the input: the artifact's embedded input recipe (``asl_edge.input``)
    and its input tensor's quantisation.

    Raises:
        ModelError: not a full-integer model (a float input), or no asl-edge metadata.
    """
    from asl_edge.runtime.metadata import read_metadata
    from asl_edge.runtime.quiet import quiet_native_stderr
    from asl_edge.runtime.runners import interpreter_class

    recipe = read_metadata(artifact).get("input") or {}
    cls, _, _ = interpreter_class()
    with quiet_native_stderr():
        detail = cls(model_content=bytes(buf)).get_input_details()[0]
    scale, zero = detail["quantization"]
    if not scale or np.dtype(detail["dtype"]) != np.int8:
        raise ModelError(f"{artifact.name}: a TFLite Micro bundle needs a full-integer model (int8 input)")
    _, height, width, channels = (int(d) for d in detail["shape"])
    return {**recipe, "height": height, "width": width, "channels": channels,
            "color": recipe.get("color", "rgb"), "pixel_scale": recipe.get("pixel_scale", 1 / 255),
            "normalization": recipe.get("normalization"), "input_quantization": (float(scale), int(zero))}


def verify(buf: bytes, arena_bytes: int, x: np.ndarray, y: np.ndarray) -> dict:
    """TFLM against LiteRT on the held-out images; ``status`` ok when every output is within
    :data:`MAX_LSB_DIFF` and every top-1 label agrees."""
    result = tflm.compare_with_litert(buf, arena_bytes, x, y)
    ok = result["max_lsb_diff"] <= MAX_LSB_DIFF and result["top1_agreement"] == 1.0
    result["status"] = "ok" if ok else (
        f"failed: TFLM differs from LiteRT by up to {result['max_lsb_diff']} LSB (allowed {MAX_LSB_DIFF}), "
        f"top-1 agreement {result['top1_agreement']:.4f}")
    return result


def measure_arena(buf: bytes) -> dict:
    """The smallest arena found by search, what it is recommended to build with, and how."""
    minimum = tflm.find_arena(buf)
    return {"minimum_bytes": minimum, "recommended_bytes": tflm.recommended_arena(minimum, buf),
            "cmsis_scratch_bytes": tflm.cmsis_scratch_bytes(buf), "margin_bytes": tflm.ARENA_MARGIN_BYTES,
            "method": "binary search: allocates and invokes at minimum_bytes, fails at minimum_bytes - 1",
            "tflm_version": tflm.tflm_version(), "host": "x86-64 (8-byte pointers: an upper bound for 32-bit MCUs)"}


def write_bundle(artifact: Path, labels: list[str], x: np.ndarray, y: np.ndarray) -> dict:
    """Writes the bundle of one full-integer artifact beside it; returns its manifest entry.

    Raises:
        ModelError: TFLM cannot run the model (an operator it lacks, a custom operator).
        MissingDependencyError: tflite-micro is not installed.
    """
    from asl_edge.runtime.fsutil import atomic_write

    buf = artifact.read_bytes()
    spec = input_spec(artifact, buf)
    ops = tflm.operators(buf)
    arena = measure_arena(buf)
    check = verify(buf, arena["minimum_bytes"], x, y)
    files = MicroFiles.of(artifact.name)
    ident = c_identifier(artifact.name.removesuffix(".tflite"))
    atomic_write(artifact.parent / files.source, source_text(ident, files.header, buf))
    atomic_write(artifact.parent / files.header, header_text(ident, ops, labels, spec, arena))
    return {"artifact": artifact.name, "source": files.source, "header": files.header, "c_name": ident,
            "flash_bytes": len(buf), "operators": ops, "resolver": [resolver_method(op) for op in ops],
            "arena": arena, "verification": check, "status": check["status"]}
