"""int4 kernels re-rounded from the int8 artifact itself, against the outputs of each layer.

The ai-edge-quantizer route (:mod:`asl_edge.export.int4`) quantises the fp32 model afresh: new
activation ranges, and each kernel rounded to 4 bits on its own weights (min-max, MSE or OCTAV
clipping), blind to what the layer's inputs look like. This route starts from the int8 artifact,
whose accuracy is the reference, and changes only the convolutions it is told to:

1. the int8 kernel, dequantised, is the target; the layer's inputs on the calibration images
   (read out of the running model, im2col'd) give its Hessian ``H = X^T X``;
2. each output channel is rounded to int4 one weight at a time, the rounding error of each weight
   pushed onto the weights not yet rounded so as to keep ``X w`` (the layer's output) unchanged,
   largest-input weights first (the GPTQ procedure of Frantar et al., 2022,
   https://arxiv.org/abs/2210.17323), for a grid of clipping scales; each channel keeps the scale
   whose output error ``(w - q) H (w - q)^T`` is smallest;
3. what is left of the mean output error (including what the convolutions re-rounded before
   it changed in its inputs) is folded into the bias, requantised to the new scales; the
   activation scales, and every other tensor, stay the int8 artifact's.

Convolutions are re-rounded in execution order, each one on the inputs the model re-rounded so
far gives it, so that later layers absorb the earlier ones' errors.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np

from asl_edge.runtime.errors import ExportError

QMAX = 7  # symmetric int4 in [-7, 7]: zero point 0, as TFLite's per-channel weight quantisation wants
# Clipping scales tried per output channel, as a share of max|w| / QMAX: clipping the largest
# weights buys a finer step for all the others.
SCALE_GRID = tuple(np.round(np.linspace(0.55, 1.0, 10), 3))
DAMPING = 0.01  # added to H's diagonal, as a share of its mean: keeps H invertible (dead inputs)


@dataclass(frozen=True)
class _Conv:
    """One CONV_2D of the flatbuffer: tensor indices and geometry."""

    op: int
    input: int
    weight: int
    bias: int
    stride: tuple[int, int]
    same: bool
    dilation: tuple[int, int]


def _schema():
    from ai_edge_litert import schema_py_generated as schema

    return schema


def _convs(model) -> list[_Conv]:
    schema = _schema()
    graph, out = model.subgraphs[0], []
    for i, op in enumerate(graph.operators):
        code = model.operatorCodes[op.opcodeIndex]
        if max(code.builtinCode, code.deprecatedBuiltinCode) != schema.BuiltinOperator.CONV_2D:
            continue
        opt = op.builtinOptions
        out.append(_Conv(i, int(op.inputs[0]), int(op.inputs[1]), int(op.inputs[2]), (opt.strideH, opt.strideW),
                         opt.padding == schema.Padding.SAME, (opt.dilationHFactor, opt.dilationWFactor)))
    return out


def _dequantised(model, index: int, data) -> np.ndarray:
    q = model.subgraphs[0].tensors[index].quantization
    return ((np.asarray(data, np.float32) - np.asarray(q.zeroPoint, np.float32))
            * np.asarray(q.scale, np.float32))


def _activations(buf: bytes, samples: np.ndarray, tensors: list[int]) -> dict[int, np.ndarray]:
    """The dequantised values of the given tensors for every calibration image, one image at a time."""
    from ai_edge_litert import interpreter as litert

    with warnings.catch_warnings():
        # reading every layer's output is what this option is for; LiteRT warns it is for debugging
        warnings.filterwarnings("ignore", message=".*experimental_preserve_all_tensors", category=UserWarning)
        interp = litert.Interpreter(model_content=buf, experimental_preserve_all_tensors=True, num_threads=1)
    interp.allocate_tensors()
    (detail,) = interp.get_input_details()
    scale, zero = detail["quantization"]
    info = np.iinfo(detail["dtype"])
    found = {t: [] for t in tensors}
    for x in samples:
        q = np.clip(np.round(x / scale + zero), info.min, info.max).astype(detail["dtype"])
        interp.set_tensor(detail["index"], q[None])
        interp.invoke()
        for t in found:
            found[t].append(interp.get_tensor(t)[0].copy())
    model = _schema().ModelT.InitFromPackedBuf(buf, 0)
    return {t: _dequantised(model, t, np.stack(v)) for t, v in found.items()}


def _patches(x: np.ndarray, conv: _Conv, kh: int, kw: int) -> np.ndarray:
    """im2col: (images*rows*cols, kh*kw*cin), in the kernel's (kh, kw, cin) order, TFLite's padding."""
    (sh, sw), (dh, dw) = conv.stride, conv.dilation
    _, h, w, _ = x.shape
    eh, ew = (kh - 1) * dh + 1, (kw - 1) * dw + 1  # the dilated kernel's extent
    if conv.same:
        oh, ow = -(-h // sh), -(-w // sw)
        ph, pw = max((oh - 1) * sh + eh - h, 0), max((ow - 1) * sw + ew - w, 0)
        # TensorFlow's SAME puts the odd padding pixel after (below, right of) the image; zeros
        # here are real zeros, which the int8 padding (the zero point) stands for too.
        x = np.pad(x, ((0, 0), (ph // 2, ph - ph // 2), (pw // 2, pw - pw // 2), (0, 0)))
    win = np.lib.stride_tricks.sliding_window_view(x, (eh, ew), axis=(1, 2))[:, ::sh, ::sw, :, ::dh, ::dw]
    return win.transpose(0, 1, 2, 4, 5, 3).reshape(-1, kh * kw * x.shape[-1])


def _inverse_hessian_factor(h: np.ndarray) -> np.ndarray:
    """Upper Cholesky factor of the damped H^-1: row j drives the update after rounding weight j."""
    h = h.copy()
    h[np.diag_indices_from(h)] += DAMPING * np.mean(np.diag(h))
    inverse = np.linalg.inv(np.linalg.cholesky(h))
    return np.linalg.cholesky(inverse.T @ inverse).T


def _gptq(w: np.ndarray, factor: np.ndarray, scale: np.ndarray) -> np.ndarray:
    """int4 codes of ``w`` (channels x inputs, inputs in factor's order), one column at a time, each
    column's rounding error spread over the columns after it."""
    w, q = w.copy(), np.empty(w.shape, np.int8)  # scale: one per channel (row)
    for j in range(w.shape[1]):
        q[:, j] = np.clip(np.round(w[:, j] / scale), -QMAX, QMAX)
        err = (w[:, j] - q[:, j] * scale) / factor[j, j]
        w[:, j + 1:] -= np.outer(err, factor[j, j + 1:])
    return q


def round_channels(w: np.ndarray, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """int4 codes and per-channel scales for real kernel rows ``w`` (channels x inputs) that keep
    ``x @ w.T`` (``x``: the layer's im2col'd inputs) closest, channel by channel, over :data:`SCALE_GRID`."""
    h = (x.T @ x).astype(np.float64) / len(x)
    dead = np.diag(h) == 0
    h[dead, dead] = 1.0  # an input that is always zero: its weights cannot matter
    order = np.argsort(-np.diag(h), kind="stable")  # the inputs with the most energy first
    factor = _inverse_hessian_factor(h[np.ix_(order, order)])
    top = np.maximum(np.abs(w).max(axis=1), 1e-12) / QMAX
    best_q, best_s, best_err = None, None, np.full(len(w), np.inf)
    for share in SCALE_GRID:
        scale = top * share
        q = _gptq(w[:, order], factor, scale)[:, np.argsort(order)]
        diff = w - q * scale[:, None]
        err = np.einsum("ci,ij,cj->c", diff, h, diff)
        better = err < best_err
        best_q = q if best_q is None else np.where(better[:, None], q, best_q)
        best_s = scale if best_s is None else np.where(better, scale, best_s)
        best_err = np.minimum(err, best_err)
    return best_q, best_s


def _set_int4(model, conv: _Conv, q: np.ndarray, scale: np.ndarray, bias: np.ndarray) -> None:
    """Writes int4 codes (packed two a byte) and their scales into the kernel, and the real bias
    requantised to input scale x kernel scale, as TFLite's integer convolution needs."""
    from ai_edge_quantizer.transformations.transformation_utils import pack_data

    schema, graph = _schema(), model.subgraphs[0]
    kernel, bias_t = graph.tensors[conv.weight], graph.tensors[conv.bias]
    in_scale = float(graph.tensors[conv.input].quantization.scale[0])
    kernel.type = schema.TensorType.INT4
    model.buffers[kernel.buffer].data = pack_data(4, q.astype(np.int8).reshape(-1).view(np.uint8))
    kernel.quantization.scale = scale.astype(np.float32)
    kernel.quantization.zeroPoint = np.zeros(len(scale), np.int64)
    bias_scale = (in_scale * scale).astype(np.float32)
    codes = np.clip(np.round(bias / bias_scale), -(2 ** 31), 2 ** 31 - 1).astype("<i4")
    model.buffers[bias_t.buffer].data = codes.view(np.uint8)
    bias_t.quantization.scale = bias_scale
    bias_t.quantization.zeroPoint = np.zeros(len(scale), np.int64)


def _pack(model) -> bytes:
    import flatbuffers

    builder = flatbuffers.Builder(1024)
    builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
    return bytes(builder.Output())


def _real(model, index: int) -> np.ndarray:
    """A per-channel int8 kernel or int32 bias of the flatbuffer, as real numbers (channel first)."""
    tensor = model.subgraphs[0].tensors[index]
    dtype = {_schema().TensorType.INT8: np.int8, _schema().TensorType.INT32: "<i4"}[tensor.type]
    data = np.asarray(model.buffers[tensor.buffer].data, np.uint8).view(dtype).reshape(tensor.shape)
    scale = np.asarray(tensor.quantization.scale, np.float64)
    return data.reshape(len(data), -1) * scale[:, None] if data.ndim > 1 else data * scale


def int4_from_int8(int8_tflite: bytes, samples: np.ndarray, positions: set[int]) -> bytes:
    """The int8 TFLite with the CONV_2D kernels at ``positions`` (execution order) re-rounded to int4.

    Args:
        int8_tflite: a full-integer TFLite with per-channel int8 convolution kernels.
        samples: normalised calibration images (the training images the int8 artifact was calibrated on).
        positions: which convolutions get int4 kernels.

    Raises:
        ExportError: no images, or the model's convolutions are not per-channel int8.
    """
    if samples is None or not len(samples):
        raise ExportError("int4 re-rounding needs calibration images")
    model = _schema().ModelT.InitFromPackedBuf(int8_tflite, 0)
    convs = [c for i, c in enumerate(_convs(model)) if i in positions]
    if any(model.subgraphs[0].tensors[c.weight].type != _schema().TensorType.INT8 for c in convs):
        raise ExportError("int4 re-rounding needs a model with int8 convolution kernels")
    reference = _activations(int8_tflite, samples, [c.input for c in convs])
    for conv in convs:
        kernel = model.subgraphs[0].tensors[conv.weight]
        kh, kw = int(kernel.shape[1]), int(kernel.shape[2])
        now = _activations(_pack(model), samples, [conv.input])[conv.input]
        x, x_ref = _patches(now, conv, kh, kw), _patches(reference[conv.input], conv, kh, kw)
        w = _real(model, conv.weight)
        q, scale = round_channels(w, x)
        # the mean output the int8 model had, less the mean output the int4 kernel now gives
        shift = x_ref.mean(axis=0) @ w.T - x.mean(axis=0) @ (q * scale[:, None]).T
        _set_int4(model, conv, q.reshape(kernel.shape), scale, _real(model, conv.bias) + shift)
    return _pack(model)
