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


def prepare(model, dest: Path) -> None:
    """The fp32 model after ONNX Runtime's pre-processing (shape inference), ready to quantise."""
    from onnxruntime.quantization.shape_inference import quant_pre_process

    with tempfile.TemporaryDirectory() as tmp:
        fp32 = Path(tmp) / "fp32.onnx"
        to_fp32(model, fp32)
        quant_pre_process(str(fp32), str(dest), skip_symbolic_shape=True)


def quantize_int8(prepared: Path, dest: Path, samples: np.ndarray, nodes_to_exclude=()) -> None:
    """Static int8 quantisation (QDQ, per-channel weights) of a prepared model, calibrated on ``samples``.

    ``nodes_to_exclude``: node names left in float (the mixed int8 artifact).
    """
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static

    class Reader(_Calibration, CalibrationDataReader):
        pass

    # reduce_range: 7-bit weights. ONNX Runtime's int8 kernels on x86 CPUs without VNNI add
    # pairs of u8*s8 products in int16 and saturate; with full-range weights this cost this
    # model 12 accuracy points, with reduced range 0.4. See "When and why do I need to try
    # U8U8?" in https://onnxruntime.ai/docs/performance/model-optimizations/quantization.html
    quantize_static(str(prepared), str(dest), Reader(samples), quant_format=QuantFormat.QDQ,
                    per_channel=True, reduce_range=True, activation_type=QuantType.QInt8,
                    weight_type=QuantType.QInt8, nodes_to_exclude=list(nodes_to_exclude) or None,
                    # a ReLU/Clip in front of a QuantizeLinear is dropped (the Q clamps); _float_inputs needs it
                    extra_options={"QDQKeepRemovableActivations": True} if nodes_to_exclude else None)
    if nodes_to_exclude:
        _float_inputs(dest, set(nodes_to_exclude))


def _float_inputs(path: Path, nodes: set[str]) -> None:
    """Feeds the excluded nodes the float tensors in front of their input QuantizeLinear/DequantizeLinear pairs.

    ``nodes_to_exclude`` leaves a Conv's weights in float, but where its input still comes from a
    DequantizeLinear, ONNX Runtime's WeightBiasQuantization graph transformer (run when the session
    loads, at every optimisation level above none) quantises those weights again, per tensor, so
    the layer is int8 after all. Reading the float tensor instead keeps it float; a Q/DQ pair left
    without consumers is removed.
    """
    import onnx

    model = onnx.load(str(path))
    graph = model.graph
    producer = {o: n for n in graph.node for o in n.output}

    def float_source(tensor: str) -> str:
        dq = producer.get(tensor)
        if dq is None or dq.op_type != "DequantizeLinear":
            return tensor
        q = producer.get(dq.input[0])
        return q.input[0] if q is not None and q.op_type == "QuantizeLinear" else tensor

    for node in graph.node:
        if node.name in nodes:
            for i, name in enumerate(node.input):
                node.input[i] = float_source(name)
    for _ in range(2):  # DequantizeLinear first, then its QuantizeLinear
        used = {i for n in graph.node for i in n.input} | {o.name for o in graph.output}
        dead = [n for n in graph.node if n.op_type in ("QuantizeLinear", "DequantizeLinear")
                and not any(o in used for o in n.output)]
        for n in dead:
            graph.node.remove(n)
    used = {i for n in graph.node for i in n.input}
    for init in [i for i in graph.initializer if i.name not in used]:
        graph.initializer.remove(init)
    onnx.save(model, str(path))


def to_int8(model, dest: Path, samples: np.ndarray) -> None:
    """Static int8 quantisation (QDQ, per-channel weights) calibrated on ``samples``."""
    with tempfile.TemporaryDirectory() as tmp:
        prepared = Path(tmp) / "prepared.onnx"
        prepare(model, prepared)
        quantize_int8(prepared, dest, samples)


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
