"""int4 weights: the convolution kernels in 4 bits, everything else as in the int8 artifact.

Through Google's AI Edge Quantizer (``ai-edge-quantizer``, no TensorFlow of its own): the fp32
TFLite of the model, calibrated on the same images as the int8 artifact, quantised statically
with int8 activations, int8 input and output tensors, per-channel int4 CONV_2D kernels and int8
kernels everywhere else: the first convolution (it reads the image itself and holds 378 of the
fast model's 114k weights: 4 bits would save 189 bytes there), the depthwise and the dense layers.
It is a full-integer model: LiteRT and TFLite Micro both run it.

Why the dense layers stay int8: TFLite Micro's FULLY_CONNECTED refuses int4 filters with int8
inputs (``fully_connected_common.cc``: "input->type == kTfLiteInt8 && filter->type != kTfLiteInt4"),
while its CONV_2D takes them; the classifier's dense layer holds under 1% of the weights here.
Why not the TFLite converter: it has no int4 option of its own for Keras models.
"""

from __future__ import annotations

import numpy as np

from asl_edge.runtime.errors import ExportError
from asl_edge.runtime.extras import missing

EXTRA = "micro"
WEIGHT_BITS = 4
# Only full convolutions: the quantizer's integer DEPTHWISE_CONV_2D takes no 4-bit weights (it refuses
# the config), so separable models keep int8 depthwise kernels.
INT4_OPS = ("CONV_2D",)
# How the 4-bit weights are clipped: OCTAV (optimally clipped tensors and vectors, the quantizer's
# own implementation) chooses each channel's range to minimise the rounding plus clipping error.
# Measured on the fast reference's 267 held-out images and 29 camera shifts against its int8 artifact
# (benchmarks/results/micro/int4_algorithms.json): largest drop on a shift 1.12 points with OCTAV,
# 1.87 with min-max (the quantizer's default) and with MSE; held-out 0.37, 0.37 and 0.0 points.
WEIGHT_ALGORITHM = "OCTAV"


def _quantizer():
    try:
        from ai_edge_quantizer import qtyping, quantizer
    except ImportError:
        raise missing("int4 export needs the AI Edge Quantizer (ai-edge-quantizer), which", EXTRA) from None
    return quantizer, qtyping


def _first_conv_output(buf: bytes) -> str | None:
    """The output tensor name of the first CONV_2D in execution order (the quantizer's scope name)."""
    from ai_edge_litert import schema_py_generated as schema

    model = schema.Model.GetRootAsModel(buf, 0)
    graph = model.Subgraphs(0)
    for i in range(graph.OperatorsLength()):
        op = graph.Operators(i)
        code = model.OperatorCodes(op.OpcodeIndex())
        if max(code.BuiltinCode(), code.DeprecatedBuiltinCode()) == schema.BuiltinOperator.CONV_2D:
            return graph.Tensors(op.Outputs(0)).Name().decode()
    return None


def quantize_int4(float_tflite: bytes, samples: np.ndarray) -> bytes:
    """int4-weight, int8-activation TFLite from an fp32 TFLite and calibration images.

    Raises:
        ExportError: the quantizer failed, or no calibration images were given.
    """
    if samples is None or not len(samples):
        raise ExportError("int4 quantisation needs calibration images")
    quantizer, qtyping = _quantizer()
    from ai_edge_quantizer.algorithm_manager import AlgorithmName

    ops = qtyping.TFLOperationName
    q = quantizer.Quantizer(bytearray(float_tflite))
    # Later entries override earlier ones for the ops they name: int8 for every supported op,
    # then int4 kernels for the convolutions.
    q.add_static_config(regex=".*", operation_name=ops.ALL_SUPPORTED, activation_num_bits=8, weight_num_bits=8)
    for op in INT4_OPS:
        q.add_static_config(regex=".*", operation_name=getattr(ops, op), activation_num_bits=8,
                            weight_num_bits=WEIGHT_BITS, algorithm_key=getattr(AlgorithmName, WEIGHT_ALGORITHM))
    first = _first_conv_output(float_tflite)
    if first is not None:
        import re

        # The quantizer names an op by its output tensors, each followed by ";".
        q.add_static_config(regex=f"^{re.escape(first)};$", operation_name=ops.CONV_2D, activation_num_bits=8,
                            weight_num_bits=8)
    from ai_edge_litert import interpreter as litert

    signatures = litert.Interpreter(model_content=bytes(float_tflite)).get_signature_list()
    if len(signatures) != 1:
        raise ExportError(f"int4 quantisation needs a model with one signature, got {len(signatures)}")
    (key, sig), = signatures.items()
    (name,) = sig["inputs"]
    # One batch of every calibration image: the quantizer keeps a moving average of each call's
    # min/max, so image by image its input range became the *average* image's (0.22-0.49 on the tiny
    # test set, whose brightest class it then clipped away); one call gives the min/max over all of
    # them, as the TFLite converter's calibration of the int8 artifact does.
    data = {key: [{name: np.asarray(samples, np.float32)}]}
    import warnings

    with warnings.catch_warnings():
        # The quantizer's calibration and checks keep every tensor of the float model (its way of
        # reading their ranges) and LiteRT warns that this is meant for debugging.
        warnings.filterwarnings("ignore", message=".*experimental_preserve_all_tensors", category=UserWarning)
        calibration = q.calibrate(data, num_threads=1)
        return bytes(q.quantize(calibration, enable_progress_report=False).quantized_model)


def to_int4(model, samples: np.ndarray | None) -> bytes:
    """Keras model -> fp32 TFLite (the TFLite converter) -> int4 weights (:func:`quantize_int4`)."""
    from asl_edge.export.tflite import to_fp32

    return quantize_int4(to_fp32(model), samples)
