"""Keras -> ONNX fp32 with tf2onnx, and int8 with ONNX Runtime's static quantiser (QDQ, per channel)."""

from __future__ import annotations

import logging
import tempfile
from pathlib import Path

import numpy as np

from asl_edge.runtime.errors import ExportError
from asl_edge.runtime.formats import ExportFormat

log = logging.getLogger(__name__)
OPSET = 17
INPUT_NAME = "input"


def to_fp32(model, dest: Path, samples=None) -> None:
    """Converts with tf2onnx. ``from_keras`` needs an explicit ``input_signature`` on TensorFlow
    2.16 and newer, where tracing the Keras model without one fails
    (https://github.com/onnx/tensorflow-onnx/issues/2319)."""
    import tf2onnx

    from asl_edge.keras_compat import tf

    signature = (tf.TensorSpec((None, *model.input_shape[1:]), tf.float32, name=INPUT_NAME),)
    proto, _ = tf2onnx.convert.from_keras(model, input_signature=signature, opset=OPSET)
    dest.write_bytes(proto.SerializeToString())


class _Calibration:
    """Feeds calibration samples to ``quantize_static`` one at a time."""

    def __init__(self, samples: np.ndarray):
        self._iter = iter(samples)

    def get_next(self):
        x = next(self._iter, None)
        return None if x is None else {INPUT_NAME: x[None].astype(np.float32)}

    def rewind(self):  # some onnxruntime versions rewind between calibration passes
        pass


def to_int8(model, dest: Path, samples: np.ndarray) -> None:
    """Static int8 quantisation (QDQ, per-channel weights) calibrated on ``samples``."""
    from onnxruntime.quantization import (
        CalibrationDataReader,
        QuantFormat,
        QuantType,
        quantize_static,
    )
    from onnxruntime.quantization.shape_inference import quant_pre_process

    class Reader(_Calibration, CalibrationDataReader):
        pass

    with tempfile.TemporaryDirectory() as tmp:
        fp32 = Path(tmp) / "fp32.onnx"
        prepared = Path(tmp) / "prepared.onnx"
        to_fp32(model, fp32)
        quant_pre_process(str(fp32), str(prepared), skip_symbolic_shape=True)
        # reduce_range: 7-bit weights. ONNX Runtime's int8 kernels on x86 CPUs without VNNI add
        # pairs of u8*s8 products in int16 and saturate; with full-range weights this cost this
        # model 12 accuracy points, with reduced range 0.4. See "When and why do I need to try
        # U8U8?" in https://onnxruntime.ai/docs/performance/model-optimizations/quantization.html
        quantize_static(str(prepared), str(dest), Reader(samples), quant_format=QuantFormat.QDQ,
                        per_channel=True, reduce_range=True, activation_type=QuantType.QInt8,
                        weight_type=QuantType.QInt8)


_BY_PRECISION = {"fp32": to_fp32, "int8": to_int8}


def export_onnx(model, fmt: ExportFormat, dest: Path, samples: np.ndarray | None) -> None:
    """Writes ``model`` as ONNX in the precision of ``fmt`` to ``dest``.

    Raises:
        ExportError: the conversion or quantisation failed.
    """
    try:
        _BY_PRECISION[fmt.precision](model, dest, samples)
    except Exception as exc:
        raise ExportError(f"ONNX {fmt.precision} export failed: {str(exc).strip().splitlines()[0][:300]}") from None
