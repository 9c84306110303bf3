"""Keras -> TFLite, one small function per precision, all through ``tf.lite.TFLiteConverter``."""

from __future__ import annotations

import warnings
from collections.abc import Callable

import numpy as np

from asl_edge.runtime.errors import AslEdgeError, ExportError
from asl_edge.runtime.formats import ExportFormat
from asl_edge.runtime.quiet import quiet_native_stderr


def _converter(model):
    from asl_edge.keras_compat import tf

    return tf.lite.TFLiteConverter.from_keras_model(model)


def _representative(samples: np.ndarray) -> Callable:
    def gen():
        for x in samples:
            yield [x[None].astype(np.float32)]

    return gen


def to_fp32(model, samples=None) -> bytes:
    return _converter(model).convert()


def to_fp16(model, samples=None) -> bytes:
    """fp16 weights (half the size); kernels dequantise to fp32 on CPUs without fp16 arithmetic."""
    from asl_edge.keras_compat import tf

    conv = _converter(model)
    conv.optimizations = [tf.lite.Optimize.DEFAULT]
    conv.target_spec.supported_types = [tf.float16]
    return conv.convert()


def to_dynamic(model, samples=None) -> bytes:
    """Dynamic-range quantisation: int8 weights, float activations, no calibration data."""
    from asl_edge.keras_compat import tf

    conv = _converter(model)
    conv.optimizations = [tf.lite.Optimize.DEFAULT]
    return conv.convert()


def to_int8(model, samples: np.ndarray | None) -> bytes:
    """Full-integer int8 with int8 input and output tensors.

    A QAT model carries its own ranges; a float model is calibrated on ``samples`` (drawn from
    the training split), which post-training quantisation needs.
    """
    from asl_edge.keras_compat import tf

    conv = _converter(model)
    conv.optimizations = [tf.lite.Optimize.DEFAULT]
    if samples is not None:
        conv.representative_dataset = _representative(samples)
    conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    conv.inference_input_type = tf.int8
    conv.inference_output_type = tf.int8
    return conv.convert()


def to_int4(model, samples: np.ndarray | None) -> bytes:
    """int4 convolution weights, int8 activations: the fp32 TFLite re-quantised by
    :func:`asl_edge.export.int4.quantize_int4`; an int8-source layout starts from the int8 TFLite,
    converted as the int8 artifact is (the converter gives the same bytes for the same model and
    calibration images)."""
    from asl_edge.export.int4 import get_layout, quantize_int4

    layout = get_layout()
    int8 = to_int8(model, samples) if layout.source == "int8" and samples is not None else None
    return quantize_int4(to_fp32(model), samples, layout, int8)


_BY_PRECISION = {"fp32": to_fp32, "fp16": to_fp16, "dynamic": to_dynamic, "int8": to_int8, "int4": to_int4}


def export_tflite(model, fmt: ExportFormat, samples: np.ndarray | None) -> bytes:
    """Converts ``model`` to the TFLite precision of ``fmt``.

    Raises:
        ExportError: the converter failed.
    """
    try:
        # The converter warns "Statistics for quantized inputs were expected" on every full-integer
        # conversion from a Keras model (the input ranges come from calibration, not from the user),
        # and its MLIR passes print "fully_quantize: 0, inference_type: 6, ..." on fd 2: neither is
        # actionable for a user of asl-edge (-vv shows the native lines).
        with warnings.catch_warnings(), quiet_native_stderr():
            warnings.filterwarnings("ignore", message="Statistics for quantized inputs", category=UserWarning)
            return _BY_PRECISION[fmt.precision](model, samples)
    except AslEdgeError:
        raise
    except Exception as exc:  # the MLIR converter raises ConverterError and others
        raise ExportError(
            f"TFLite {fmt.precision} conversion failed: {str(exc).strip().splitlines()[0][:300]}"
        ) from None
