"""Multiply-accumulate count of a TFLite model, read from its flatbuffer (no runtime needed)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from asl_edge.runtime.errors import ModelError

MAC_OPS = {"CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED"}


def count_macs(tflite_path: str | Path) -> int:
    """Multiply-accumulates of one inference, from a .tflite file's convolutions and dense layers.

    Reads the op list and tensor shapes through the LiteRT interpreter; no TensorFlow needed.
    """
    from ai_edge_litert.interpreter import Interpreter

    from asl_edge.runtime.quiet import quiet_native_stderr

    try:
        with quiet_native_stderr():
            interp = Interpreter(model_path=str(tflite_path))
    except Exception as exc:  # a damaged flatbuffer; load_runner gives the same one-line error
        raise ModelError(f"cannot read {tflite_path}: {type(exc).__name__}") from None
    shapes = {t["index"]: t["shape"] for t in interp.get_tensor_details()}
    macs = 0
    for op in interp._get_ops_details():  # the public API has no op list; LiteRT's own analyzer uses this
        if op["op_name"] not in MAC_OPS:
            continue
        out = shapes[op["outputs"][0]]
        weights = shapes[op["inputs"][1]]
        if op["op_name"] == "CONV_2D":  # weights: [out_c, kh, kw, in_c]
            macs += int(np.prod(out[1:])) * int(np.prod(weights[1:]))
        elif op["op_name"] == "DEPTHWISE_CONV_2D":  # weights: [1, kh, kw, out_c]
            macs += int(np.prod(out[1:])) * int(weights[1] * weights[2])
        else:  # weights: [out_units, in_features]
            macs += int(out[-1]) * int(weights[-1])
    return macs
