"""int4 kernels re-rounded from the int8 artifact: the im2col, the rounding, and what the file keeps."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from test_micro import artifact_bytes, held_out

from asl_edge.export import int4
from asl_edge.export import int4_reround as rr
from asl_edge.runtime.errors import ExportError
from asl_edge.runtime.formats import get_format

REROUND = next(layout for layout in int4.LAYOUTS.values() if layout.source == "int8")


def _model(buf):
    return rr._schema().ModelT.InitFromPackedBuf(buf, 0)


def _output_range(model, op):
    """The real values a convolution's int8 output can hold, after its fused ReLU/ReLU6."""
    schema, graph = rr._schema(), model.subgraphs[0]
    q = graph.tensors[graph.operators[op].outputs[0]].quantization
    lo, hi = (np.array([-128, 127]) - q.zeroPoint[0]) * q.scale[0]
    act = graph.operators[op].builtinOptions.fusedActivationFunction
    if act in (schema.ActivationFunctionType.RELU, schema.ActivationFunctionType.RELU6):
        lo = max(lo, 0.0)
    if act == schema.ActivationFunctionType.RELU6:
        hi = min(hi, 6.0)
    return lo, hi, q.scale[0]


def test_patches_reproduce_every_convolution_of_the_int8_model(tiny_export, tiny_run):
    """im2col (strides, TFLite's SAME padding, kernel order) times the real kernel plus bias gives
    the interpreter's output of every convolution to within its rounding (half a step)."""
    buf, _ = artifact_bytes(tiny_export, get_format("tflite_int8"))
    model, (x, _) = _model(buf), held_out(tiny_run)
    convs = rr._convs(model)
    outputs = [int(model.subgraphs[0].operators[c.op].outputs[0]) for c in convs]
    found = rr._activations(buf, x[:6], [c.input for c in convs] + outputs)
    assert any(c.stride != (1, 1) for c in convs) and any(c.stride == (1, 1) for c in convs)
    for conv, out in zip(convs, outputs):
        shape = model.subgraphs[0].tensors[conv.weight].shape
        y = rr._patches(found[conv.input], conv, int(shape[1]), int(shape[2])) @ rr._real(model, conv.weight).T
        lo, hi, step = _output_range(model, conv.op)
        y = np.clip(y + rr._real(model, conv.bias), lo, hi)
        assert np.abs(y - found[out].reshape(y.shape)).max() <= 0.51 * step


def test_rounding_against_the_outputs_beats_rounding_each_weight():
    """On correlated inputs, the channel's output error is well under round-to-nearest's."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(3000, 36)) @ rng.normal(size=(36, 36))
    w = rng.normal(size=(8, 36))
    q, scale = rr.round_channels(w, x)
    assert q.dtype == np.int8 and q.min() >= -rr.QMAX and q.max() <= rr.QMAX
    step = np.abs(w).max(axis=1, keepdims=True) / rr.QMAX

    def error(wq):
        return ((x @ (w - wq).T) ** 2).mean(axis=0)

    assert (error(q * scale[:, None]) < 0.7 * error(np.round(w / step) * step)).all()


def _int4_values(model, index):
    """The packed int4 codes of a tensor, two a byte, low nibble first, sign-extended."""
    tensor = model.subgraphs[0].tensors[index]
    packed = np.asarray(model.buffers[tensor.buffer].data, np.uint8)
    codes = np.stack([packed & 0xF, packed >> 4], axis=-1).reshape(-1)[:int(np.prod(tensor.shape))].astype(np.int8)
    return np.where(codes > 7, codes - 16, codes).reshape(int(tensor.shape[0]), -1)


def test_rerounding_changes_only_the_int4_kernels_and_their_biases(tiny_export, tiny_run):
    int8, _ = artifact_bytes(tiny_export, get_format("tflite_int8"))
    x, _ = held_out(tiny_run)
    buf = int4.quantize_int4(b"", x, REROUND, int8)
    before, after = _model(int8), _model(buf)
    n = len(rr._convs(before))
    changed = {i for i in range(n)} - REROUND.int8_positions(n)
    assert int4.conv_weight_types(buf) == ["INT4" if i in changed else "INT8" for i in range(n)] and changed
    touched = {t for i, c in enumerate(rr._convs(before)) if i in changed for t in (c.weight, c.bias)}
    old_graph, new_graph = before.subgraphs[0], after.subgraphs[0]
    for index, (old, new) in enumerate(zip(old_graph.tensors, new_graph.tensors)):
        if index in touched or old.quantization is None:
            continue
        # every other tensor: the int8 artifact's data, activation scales and zero points
        assert np.array_equal(old.quantization.scale, new.quantization.scale)
        assert np.array_equal(old.quantization.zeroPoint, new.quantization.zeroPoint)
        data = before.buffers[old.buffer].data
        assert data is None or np.array_equal(data, after.buffers[new.buffer].data)
    for i, conv in enumerate(rr._convs(after)):
        if i in changed:  # the int4 kernel, dequantised, is near the int8 one it replaces
            w8 = rr._real(before, conv.weight)
            scale = np.asarray(new_graph.tensors[conv.weight].quantization.scale)
            w4 = _int4_values(after, conv.weight) * scale[:, None]
            assert np.linalg.norm(w4 - w8) < 0.3 * np.linalg.norm(w8)


def test_rerounding_needs_the_int8_model_and_images(tiny_export):
    int8, _ = artifact_bytes(tiny_export, get_format("tflite_int8"))
    with pytest.raises(ExportError, match="int8 model"):
        int4.quantize_int4(b"", np.zeros((2, 16, 16, 3), np.float32), REROUND, None)
    with pytest.raises(ExportError, match="calibration images"):
        rr.int4_from_int8(int8, np.zeros((0, 16, 16, 3), np.float32), {0})
    with pytest.raises(ExportError, match="unknown source 'fp64'"):
        int4.quantize_int4(b"", np.zeros((2, 16, 16, 3), np.float32), replace(REROUND, source="fp64"), int8)
