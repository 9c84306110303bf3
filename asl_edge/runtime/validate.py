"""Structural checks of an artifact before any native runtime sees it.

LiteRT trusts the ``.tflite`` flatbuffer it is given: one flipped byte in a tensor's shape or
buffer index can make it read out of bounds (a segfault, exit 139, no message) or allocate
gigabytes for one prediction. :func:`validate_tflite` walks the flatbuffer with the schema
bindings shipped in ``ai_edge_litert`` and refuses any index out of range, any constant tensor
whose data does not match its shape, any buffer outside the file and any tensor too large to be
real, and bounds the operator options and constant inputs that size an output at run time
(strides, enums, reshape/pad/tile/resize shapes, axes, permutations). :func:`validate_onnx`
bounds an ONNX file the same way: a protobuf-free scan of its structure and of every node's
attributes and constant shape inputs (both installs), then the ``onnx`` checker where that
package is installed (the train extra). Pure Python and NumPy: no TensorFlow.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from asl_edge.runtime.errors import ModelError
from asl_edge.runtime.fsutil import printable

MAX_ARTIFACT_BYTES = 1 << 30
MAX_RANK = 8
# Largest tensor (bytes) and all tensors together that a model input, activation or output may
# need. The largest built-in model (InceptionV3 at 299x299) stays far below both.
MAX_TENSOR_BYTES = 1 << 28
MAX_ARENA_BYTES = 1 << 30
MAX_SUBGRAPHS = 64
MAX_METADATA_ENTRY = 1 << 20

# TensorType -> bytes per element (0: variable size, strings and resources).
# (INT4, UINT4 and INT2 are packed below a byte: 0, like strings, skips the exact data-size check.)
_TFLITE_ITEMSIZE = {0: 4, 1: 2, 2: 4, 3: 1, 4: 8, 5: 0, 6: 1, 7: 2, 8: 8, 9: 1, 10: 8, 11: 16, 12: 8, 13: 0,
                    14: 0, 15: 4, 16: 2, 17: 0, 18: 2, 19: 0, 20: 0, 21: 1, 22: 1}


def _bad(path: Path, why: str):
    raise ModelError(f"{printable(path)} is not a valid .tflite file ({why}): re-export it")


def _vector(table, field_offset: int, elem_size: int, size: int, path: Path, what: str) -> int:
    """Length of a vector field, refused unless the whole vector lies inside the buffer."""
    o = table.Offset(field_offset)
    if not o:
        return 0
    start = table.Vector(o)
    length = table.VectorLen(o)
    if start < 0 or start + length * elem_size > size:
        _bad(path, f"{what} runs past the end of the file")
    return length


def _check_indices(values, limit: int, path: Path, what: str, allow_minus_one: bool = False) -> None:
    arr = np.asarray(values, dtype=np.int64)
    low = -1 if allow_minus_one else 0
    if arr.size and (arr.min() < low or arr.max() >= limit):
        _bad(path, f"{what} refers to tensor {int(arr.min() if arr.min() < low else arr.max())} of {limit}")


def validate_tflite(buf: bytes, path: str | Path = "<model>") -> None:
    """Refuses a ``.tflite`` flatbuffer whose indices, shapes or buffers are out of bounds.

    Raises:
        ModelError: one line naming the first problem found.
    """
    path = Path(path)
    try:
        from ai_edge_litert import schema_py_generated as schema
    except ImportError:  # tflite_runtime-only installs: the header checks still apply
        schema = None
    size = len(buf)
    if size < 16 or buf[4:8] != b"TFL3":
        _bad(path, "truncated or not a TFLite model")
    if size > MAX_ARTIFACT_BYTES:
        _bad(path, f"{size} bytes is too large")
    root = struct.unpack_from("<I", buf, 0)[0]
    if root + 4 > size:
        _bad(path, "root table outside the file")
    if schema is None:
        return
    try:
        _walk_tflite(schema, buf, size, path)
    except ModelError:
        raise
    except Exception as exc:  # struct.error, IndexError, UnicodeDecodeError ...: a damaged flatbuffer
        _bad(path, f"damaged flatbuffer: {type(exc).__name__}")


def _table_ok(table, size: int, path: Path, what: str) -> None:
    pos = table.Pos
    if pos < 0 or pos + 4 > size:
        _bad(path, f"{what} outside the file")
    vtable = pos - struct.unpack_from("<i", table.Bytes, pos)[0]
    if vtable < 0 or vtable + 4 > size:
        _bad(path, f"{what} has a vtable outside the file")
    vt_len, obj_len = struct.unpack_from("<HH", table.Bytes, vtable)
    if vtable + vt_len > size or pos + obj_len > size or vt_len < 4:
        _bad(path, f"{what} has a table outside the file")


@dataclass(frozen=True)
class _Walk:
    """What every step of the walk over one flatbuffer needs."""

    schema: object
    model: object
    buf: bytes
    size: int
    path: Path


def _walk_tflite(schema, buf: bytes, size: int, path: Path) -> None:
    """Every table of the model, in order: operator codes, buffers, subgraphs (their tensors and
    operators), metadata and signatures."""
    w = _Walk(schema, schema.Model.GetRootAs(buf, 0), buf, size, path)
    tab = w.model._tab
    _table_ok(tab, size, path, "model")
    n_codes = _vector(tab, 6, 4, size, path, "operator codes")
    n_subgraphs = _vector(tab, 8, 4, size, path, "subgraphs")
    n_buffers = _vector(tab, 12, 4, size, path, "buffers")
    n_metadata = _vector(tab, 16, 4, size, path, "metadata")
    n_signatures = _vector(tab, 18, 4, size, path, "signatures")
    if not 1 <= n_subgraphs <= MAX_SUBGRAPHS:
        _bad(path, f"{n_subgraphs} subgraphs")
    _check_operator_codes(w, n_codes)
    buffer_sizes = _buffer_sizes(w, n_buffers)
    arena = 0
    for g in range(n_subgraphs):
        arena = _walk_subgraph(w, g, n_codes, buffer_sizes, arena)
    _check_metadata(w, n_metadata, n_buffers)
    _check_signatures(w, n_signatures, n_subgraphs)


def _builtin_code(code) -> int:
    return max(int(code.BuiltinCode()), int(code.DeprecatedBuiltinCode()))


def _check_operator_codes(w: _Walk, n_codes: int) -> None:
    max_builtin = max(v for k, v in vars(w.schema.BuiltinOperator).items() if not k.startswith("_"))
    for i in range(n_codes):
        code = w.model.OperatorCodes(i)
        _table_ok(code._tab, w.size, w.path, f"operator code {i}")
        builtin = _builtin_code(code)
        if builtin < 0 or builtin > max_builtin:
            _bad(w.path, f"operator code {i} is unknown ({builtin})")
        _vector(code._tab, 6, 1, w.size, w.path, f"operator code {i} name")


def _buffer_sizes(w: _Walk, n_buffers: int) -> list[int]:
    """The data size of every buffer, refused unless the data lies inside the file."""
    sizes = []
    for i in range(n_buffers):
        b = w.model.Buffers(i)
        _table_ok(b._tab, w.size, w.path, f"buffer {i}")
        n = _vector(b._tab, 4, 1, w.size, w.path, f"buffer {i}")
        offset, length = int(b.Offset()), int(b.Size())
        if offset > 1:  # data stored after the flatbuffer (models over 2 GB)
            if offset + length > w.size:
                _bad(w.path, f"buffer {i} lies outside the file")
            n = length
        sizes.append(n)
    return sizes


def _walk_subgraph(w: _Walk, g: int, n_codes: int, buffer_sizes: list[int], arena: int) -> int:
    """Checks subgraph ``g``; returns ``arena`` plus the bytes its tensors need at run time."""
    size, path = w.size, w.path
    sub = w.model.Subgraphs(g)
    _table_ok(sub._tab, size, path, f"subgraph {g}")
    n_tensors = _vector(sub._tab, 4, 4, size, path, f"subgraph {g} tensors")
    n_inputs = _vector(sub._tab, 6, 4, size, path, f"subgraph {g} inputs")
    n_outputs = _vector(sub._tab, 8, 4, size, path, f"subgraph {g} outputs")
    n_ops = _vector(sub._tab, 10, 4, size, path, f"subgraph {g} operators")
    if n_inputs:
        _check_indices(sub.InputsAsNumpy(), n_tensors, path, f"subgraph {g} input")
    if n_outputs:
        _check_indices(sub.OutputsAsNumpy(), n_tensors, path, f"subgraph {g} output")
    if g == 0 and (n_inputs < 1 or n_outputs < 1):
        _bad(path, "the main subgraph has no inputs or outputs")
    tensors = []
    for t in range(n_tensors):
        tensor = sub.Tensors(t)
        arena += _check_tensor(tensor, t, g, size, len(buffer_sizes), buffer_sizes, path)
        tensors.append(tensor)
    if arena > MAX_ARENA_BYTES:
        _bad(path, f"its tensors need more than {MAX_ARENA_BYTES >> 20} MB")
    for k in range(n_ops):
        _walk_operator(w, sub.Operators(k), k, n_codes, tensors)
    return arena


def _walk_operator(w: _Walk, op, k: int, n_codes: int, tensors: list) -> None:
    size, path = w.size, w.path
    _table_ok(op._tab, size, path, f"operator {k}")
    if not 0 <= op.OpcodeIndex() < n_codes:
        _bad(path, f"operator {k} has operator code {op.OpcodeIndex()} of {n_codes}")
    for field, what, minus_one in ((6, "inputs", True), (8, "outputs", False), (20, "intermediates", False)):
        if _vector(op._tab, field, 4, size, path, f"operator {k} {what}"):
            values = {6: op.InputsAsNumpy, 8: op.OutputsAsNumpy, 20: op.IntermediatesAsNumpy}[field]()
            _check_indices(values, len(tensors), path, f"operator {k} {what[:-1]}", minus_one)
    _vector(op._tab, 14, 1, size, path, f"operator {k} options")
    _vector(op._tab, 18, 1, size, path, f"operator {k} variable inputs")
    if op.LargeCustomOptionsOffset() > 1 and \
            op.LargeCustomOptionsOffset() + op.LargeCustomOptionsSize() > size:
        _bad(path, f"operator {k} options lie outside the file")
    opts = op.BuiltinOptions()
    if opts is not None:
        _table_ok(_Table(w.buf, opts.Pos), size, path, f"operator {k} options")
        _check_options(w.schema, int(op.BuiltinOptionsType()), opts, path, k)
    code = w.model.OperatorCodes(op.OpcodeIndex())
    _check_operator(_Operator(w.schema, op, k, _builtin_code(code), tensors, w.model, w.buf, size, path))


def _check_metadata(w: _Walk, n_metadata: int, n_buffers: int) -> None:
    for i in range(n_metadata):
        meta = w.model.Metadata(i)
        _table_ok(meta._tab, w.size, w.path, f"metadata {i}")
        if not 0 <= meta.Buffer() < n_buffers:
            _bad(w.path, f"metadata {i} names buffer {meta.Buffer()} of {n_buffers}")
        _vector(meta._tab, 4, 1, w.size, w.path, f"metadata {i} name")


def _check_signatures(w: _Walk, n_signatures: int, n_subgraphs: int) -> None:
    size, path = w.size, w.path
    for i in range(n_signatures):
        sig = w.model.SignatureDefs(i)
        _table_ok(sig._tab, size, path, f"signature {i}")
        if not 0 <= sig.SubgraphIndex() < n_subgraphs:
            _bad(path, f"signature {i} names subgraph {sig.SubgraphIndex()} of {n_subgraphs}")
        limit = _vector(w.model.Subgraphs(sig.SubgraphIndex())._tab, 4, 4, size, path, "tensors")
        for getter, count, what in ((sig.Inputs, _vector(sig._tab, 4, 4, size, path, "signature inputs"), "input"),
                                    (sig.Outputs, _vector(sig._tab, 6, 4, size, path, "signature outputs"),
                                     "output")):
            for j in range(count):
                entry = getter(j)
                _table_ok(entry._tab, size, path, f"signature {i} {what}")
                if not 0 <= entry.TensorIndex() < limit:
                    _bad(path, f"signature {i} {what} names tensor {entry.TensorIndex()} of {limit}")


# Options whose integer fields a kernel divides by or loops over: all must lie in 1..MAX_OPTION
# (a stride of 0 is a division by zero inside LiteRT: SIGFPE, no message).
_POSITIVE_OPTIONS = {
    "Conv2DOptions": ("StrideH", "StrideW", "DilationHFactor", "DilationWFactor"),
    "DepthwiseConv2DOptions": ("StrideH", "StrideW", "DilationHFactor", "DilationWFactor", "DepthMultiplier"),
    "Pool2DOptions": ("StrideH", "StrideW", "FilterHeight", "FilterWidth"),
    "TransposeConvOptions": ("StrideH", "StrideW"),
    "Conv3DOptions": ("StrideD", "StrideH", "StrideW", "DilationDFactor", "DilationHFactor", "DilationWFactor"),
    "SpaceToDepthOptions": ("BlockSize",),
    "DepthToSpaceOptions": ("BlockSize",),
}
MAX_OPTION = 1 << 12


def _Table(buf, pos):  # noqa: N802  (mirrors flatbuffers.table.Table)
    from flatbuffers.table import Table

    return Table(buf, pos)


# Enum-valued option fields: a value outside the enum reaches a kernel's switch with no case for it.
_ENUM_OPTIONS = {"FusedActivationFunction": "ActivationFunctionType", "Padding": "Padding",
                 "WeightsFormat": "FullyConnectedOptionsWeightsFormat"}
# Float option fields a kernel multiplies by: NaN or infinity turns every output into garbage.
_FLOAT_OPTIONS = {"SoftmaxOptions": ("Beta",), "LeakyReluOptions": ("Alpha",), "L2NormOptions": ()}


def _enum_values(schema, enum: str) -> set[int]:
    return {v for n, v in vars(getattr(schema, enum)).items() if not n.startswith("_")}


def _check_options(schema, options_type: int, opts, path: Path, k: int) -> None:
    names = {v: n for n, v in vars(schema.BuiltinOptions).items() if not n.startswith("_")}
    name = names.get(options_type)
    if name is None or not hasattr(schema, name):
        _bad(path, f"operator {k} has unknown options type {options_type}")
    table = getattr(schema, name)()
    table.Init(opts.Bytes, opts.Pos)
    for field, enum in _ENUM_OPTIONS.items():
        if hasattr(table, field) and int(getattr(table, field)()) not in _enum_values(schema, enum):
            _bad(path, f"operator {k} has {field} {int(getattr(table, field)())}")
    for field in _FLOAT_OPTIONS.get(name, ()):
        if not np.isfinite(float(getattr(table, field)())):
            _bad(path, f"operator {k} has {field} {float(getattr(table, field)())}")
    for field in _POSITIVE_OPTIONS.get(name, ()):
        value = int(getattr(table, field)())
        # DepthMultiplier is 0 in files from converters that leave it unset; LiteRT ignores it then.
        if field == "DepthMultiplier" and value == 0:
            continue
        if not 1 <= value <= MAX_OPTION:
            _bad(path, f"operator {k} has {field} {value}")


# -- operators whose inputs or options decide an output's shape -------------------------------------
# LiteRT sizes these outputs from constant input tensors or options at allocation time, so a
# damaged value bypasses the bounds on the declared tensor shapes above: a padding of 2**30
# allocates gigabytes, an axis past the rank indexes outside the shape array. Only constant
# inputs are checked here; shapes computed at run time are left to the memory-capped probe.
_INT_TYPES = {2: np.int32, 4: np.int64, 7: np.int16, 9: np.int8}  # TensorType -> dtype
_REDUCERS = {"MEAN", "SUM", "REDUCE_MAX", "REDUCE_MIN", "REDUCE_PROD", "REDUCE_ANY", "REDUCE_ALL"}


class _Operator:
    """One operator with what its checks need: name, options, input tensors' shapes and constants."""

    def __init__(self, schema, op, k: int, builtin: int, tensors: list, model, buf: bytes, size: int, path: Path):
        names = {v: n for n, v in vars(schema.BuiltinOperator).items() if not n.startswith("_")}
        self.schema, self.op, self.k, self.name = schema, op, k, names.get(builtin, str(builtin))
        self.tensors, self.model, self.buf, self.size, self.path = tensors, model, buf, size, path
        self.inputs = op.InputsAsNumpy().tolist() if op.InputsLength() else []
        self.outputs = op.OutputsAsNumpy().tolist() if op.OutputsLength() else []

    def bad(self, why: str):
        _bad(self.path, f"operator {self.k} ({self.name}) {why}")

    def options(self, name: str):
        opts = self.op.BuiltinOptions()
        names = {v: n for n, v in vars(self.schema.BuiltinOptions).items() if not n.startswith("_")}
        if opts is None or names.get(int(self.op.BuiltinOptionsType())) != name:
            return None
        table = getattr(self.schema, name)()
        table.Init(opts.Bytes, opts.Pos)
        return table

    def shape(self, i: int) -> list[int] | None:
        """The declared shape of input ``i`` (``None`` when the operator has no such input)."""
        if i >= len(self.inputs) or self.inputs[i] < 0:
            return None
        tensor = self.tensors[self.inputs[i]]
        return tensor.ShapeAsNumpy().astype(np.int64).tolist() if tensor.ShapeLength() else []

    def itemsize(self) -> int:
        if not self.outputs:
            return 1
        return max(_TFLITE_ITEMSIZE.get(int(self.tensors[self.outputs[0]].Type()), 1), 1)

    def const(self, i: int) -> np.ndarray | None:
        """The integer values of input ``i`` when it is a constant tensor, else ``None``."""
        if i >= len(self.inputs) or self.inputs[i] < 0:
            return None
        tensor = self.tensors[self.inputs[i]]
        dtype = _INT_TYPES.get(int(tensor.Type()))
        buffer = self.model.Buffers(int(tensor.Buffer()))
        offset, length = int(buffer.Offset()), int(buffer.Size())
        data = self.buf[offset:offset + length] if offset > 1 else buffer.DataAsNumpy()
        if dtype is None or isinstance(data, int) or not len(data):
            return None  # not a constant (DataAsNumpy gives 0 for an empty buffer), or not integer
        return np.frombuffer(bytes(data), dtype=np.dtype(dtype).newbyteorder("<")).astype(np.int64)

    def need_inputs(self, n: int) -> None:
        if len(self.inputs) < n or any(i < 0 for i in self.inputs[:n]):
            self.bad(f"has {len(self.inputs)} inputs, needs {n}")

    def bound_output(self, dims) -> None:
        """Refuses an output shape with a negative side, or one larger than any real tensor."""
        elements = self.itemsize()
        for d in dims:
            if d < 0:
                self.bad(f"would make an output with a negative side ({'x'.join(map(str, dims))})")
            elements *= max(int(d), 1)
            if elements > MAX_TENSOR_BYTES:
                self.bad(f"would make an output too large ({'x'.join(map(str, dims))})")

    def axis(self, value: int, rank: int, what: str = "axis") -> None:
        if not -max(rank, 1) <= value < max(rank, 1):
            self.bad(f"has {what} {value} for a rank-{rank} input")


# Operators whose output size or running time follows values computed while the model runs (a
# pixel, a loop counter): no check of the file bounds them, and the one-shot probe sees only the
# values of one input. asl-edge never writes them; they are refused unless the inputs that size
# them are constants in the file (then bounded like any other shape). WHILE runs its body until a
# computed condition says stop: refused outright. (IF is allowed: both branches are subgraphs of
# the file, walked like the main one.)
_DATA_SIZED = {"FILL": (0,), "BROADCAST_TO": (1,), "TILE": (1,), "RESIZE_BILINEAR": (1,),
               "RESIZE_NEAREST_NEIGHBOR": (1,), "PAD": (1,), "PADV2": (1,), "MIRROR_PAD": (1,), "RANGE": (0, 1, 2),
               "ONE_HOT": (1,), "SCATTER_ND": (2,), "SPARSE_TO_DENSE": (1,), "UNSORTED_SEGMENT_SUM": (2,),
               "UNSORTED_SEGMENT_MAX": (2,), "UNSORTED_SEGMENT_MIN": (2,), "UNSORTED_SEGMENT_PROD": (2,),
               "RANDOM_UNIFORM": (0,), "RANDOM_STANDARD_NORMAL": (0,), "MULTINOMIAL": (1,), "BROADCAST_ARGS": (0, 1)}
_UNBOUNDED = {"WHILE": "loops until a value computed at run time says stop"}


def _check_data_sized(op: _Operator) -> None:
    if op.name in _UNBOUNDED:
        op.bad(f"{_UNBOUNDED[op.name]}: no check can bound its time or memory, and asl-edge never writes it")
    for i in _DATA_SIZED.get(op.name, ()):
        if i < len(op.inputs) and op.inputs[i] >= 0 and op.const(i) is None:
            op.bad(f"is sized by input {i}, computed at run time: no check can bound its memory "
                   "(asl-edge writes only constant sizes)")
    if op.name == "RANGE":
        start, limit, delta = (int(op.const(i)[0]) if op.const(i) is not None and op.const(i).size else 0
                               for i in range(3))
        if delta == 0 or abs(limit - start) // abs(delta) * op.itemsize() > MAX_TENSOR_BYTES:
            op.bad(f"would make {start}..{limit} by {delta}")


def _check_reshape(op: _Operator, shape0, rank: int) -> None:
    opts = op.options("ReshapeOptions")
    shapes = [op.const(1), opts.NewShapeAsNumpy() if opts is not None and opts.NewShapeLength() else None]
    for new in (s for s in shapes if s is not None):
        new = np.asarray(new, np.int64).tolist()
        if len(new) > MAX_RANK or any(d < -1 for d in new) or new.count(-1) > 1:
            op.bad(f"has an impossible new shape {new[:MAX_RANK + 1]}")
        op.bound_output([d for d in new if d != -1])


def _check_pad(op: _Operator, shape0, rank: int) -> None:
    op.need_inputs(2)
    pads = op.const(1)
    if pads is not None:
        if pads.size != 2 * rank or (pads < 0).any():
            op.bad(f"has paddings {pads.tolist()[:2 * MAX_RANK]} for a rank-{rank} input")
        op.bound_output([d + int(a) + int(b) for d, (a, b) in zip(shape0, pads.reshape(-1, 2))])


def _check_tile(op: _Operator, shape0, rank: int) -> None:
    op.need_inputs(2)
    mult = op.const(1)
    if mult is not None:
        if mult.size != rank:
            op.bad(f"has {mult.size} multiples for a rank-{rank} input")
        op.bound_output([d * int(m) for d, m in zip(shape0, mult)])


def _check_resize(op: _Operator, shape0, rank: int) -> None:
    op.need_inputs(2)
    hw = op.const(1)
    if hw is not None:
        if hw.size != 2 or rank != 4 or (hw < 1).any():
            op.bad(f"has size {hw.tolist()[:4]} for a rank-{rank} input")
        op.bound_output([shape0[0], int(hw[0]), int(hw[1]), shape0[3]])


def _check_target_shape(op: _Operator, shape0, rank: int) -> None:
    op.need_inputs(2)
    target = op.const(0 if op.name == "FILL" else 1)
    if target is not None:
        if target.size > MAX_RANK:
            op.bad(f"has a rank-{target.size} shape")
        op.bound_output(target.tolist())


def _check_slice(op: _Operator, shape0, rank: int) -> None:
    op.need_inputs(3)
    for i, what in ((1, "begin"), (2, "size")):
        values = op.const(i)
        if values is not None and values.size != rank:
            op.bad(f"has {values.size} {what} values for a rank-{rank} input")


def _check_strided_slice(op: _Operator, shape0, rank: int) -> None:
    # begin/end/strides may be shorter or longer than the rank (ellipsis and new-axis masks),
    # but never differ in length, exceed the largest rank or step by 0.
    op.need_inputs(4)
    sizes = {v.size for v in (op.const(i) for i in (1, 2, 3)) if v is not None}
    if len(sizes) > 1 or max(sizes, default=0) > MAX_RANK:
        op.bad(f"has begin, end and strides of {sorted(sizes)} values")
    strides = op.const(3)
    if strides is not None and (strides == 0).any():
        op.bad("has a stride of 0")


def _check_reducer(op: _Operator, shape0, rank: int) -> None:
    axes = op.const(1)
    for a in (axes.tolist() if axes is not None else []):
        op.axis(int(a), rank)


def _check_transpose(op: _Operator, shape0, rank: int) -> None:
    op.need_inputs(2)
    perm = op.const(1)
    if perm is not None and sorted(perm.tolist()) != list(range(rank)):
        op.bad(f"has permutation {perm.tolist()[:MAX_RANK + 1]} for a rank-{rank} input")


def _check_concatenation(op: _Operator, shape0, rank: int) -> None:
    opts = op.options("ConcatenationOptions")
    if opts is not None:
        op.axis(int(opts.Axis()), rank)
    ranks = {len(op.shape(i) or []) for i in range(len(op.inputs)) if op.shape(i) is not None}
    if len(ranks) > 1:
        op.bad("joins inputs of different ranks")


def _check_gather(op: _Operator, shape0, rank: int) -> None:
    opts = op.options("GatherOptions")
    if opts is not None:
        op.axis(int(opts.Axis()), rank)
        op.axis(int(opts.BatchDims()), rank, "batch_dims")


def _check_squeeze(op: _Operator, shape0, rank: int) -> None:
    opts = op.options("SqueezeOptions")
    dims = opts.SqueezeDimsAsNumpy().tolist() if opts is not None and opts.SqueezeDimsLength() else []
    if len(dims) > MAX_RANK:
        op.bad(f"squeezes {len(dims)} dimensions")
    for d in dims:
        op.axis(int(d), rank, "squeeze dimension")


def _check_pack(op: _Operator, shape0, rank: int) -> None:
    pack = op.name == "PACK"
    opts = op.options("PackOptions" if pack else "UnpackOptions")
    if opts is not None:
        op.axis(int(opts.Axis()), rank + pack)
        count = int(opts.ValuesCount() if pack else opts.Num())
        if count != (len(op.inputs) if pack else len(op.outputs)):
            op.bad(f"says {count} values but has {len(op.inputs) if pack else len(op.outputs)}")


# Operator name -> the check of the options and constant inputs that decide its output's shape.
_SHAPE_CHECKS = {
    "RESHAPE": _check_reshape, "PAD": _check_pad, "PADV2": _check_pad, "MIRROR_PAD": _check_pad,
    "TILE": _check_tile, "RESIZE_BILINEAR": _check_resize, "RESIZE_NEAREST_NEIGHBOR": _check_resize,
    "BROADCAST_TO": _check_target_shape, "FILL": _check_target_shape, "SLICE": _check_slice,
    "STRIDED_SLICE": _check_strided_slice, **{name: _check_reducer for name in _REDUCERS},
    "TRANSPOSE": _check_transpose, "CONCATENATION": _check_concatenation, "GATHER": _check_gather,
    "SQUEEZE": _check_squeeze, "PACK": _check_pack, "UNPACK": _check_pack,
}


def _check_operator(op: _Operator) -> None:
    """Bounds the options and constant inputs that decide an operator's output (see above)."""
    _check_data_sized(op)
    check = _SHAPE_CHECKS.get(op.name)
    if check is not None:
        shape0 = op.shape(0)
        check(op, shape0, len(shape0) if shape0 is not None else 0)


def _check_tensor(tensor, t: int, g: int, size: int, n_buffers: int, buffer_sizes: list, path: Path) -> int:
    """Checks one tensor; returns the bytes it needs at run time (0 for a constant)."""
    where = f"tensor {t} of subgraph {g}"
    _table_ok(tensor._tab, size, path, where)
    rank = _vector(tensor._tab, 4, 4, size, path, f"{where} shape")
    if rank > MAX_RANK:
        _bad(path, f"{where} has rank {rank}")
    shape = tensor.ShapeAsNumpy().astype(np.int64) if rank else np.zeros(0, np.int64)
    sig_rank = _vector(tensor._tab, 18, 4, size, path, f"{where} shape signature")
    if sig_rank and sig_rank != rank:
        _bad(path, f"{where} has a shape signature of another rank")
    if (shape < 0).any():
        _bad(path, f"{where} has a negative size")
    if sig_rank and (tensor.ShapeSignatureAsNumpy() < -1).any():
        _bad(path, f"{where} has a negative size")
    if _vector(tensor._tab, 10, 1, size, path, f"{where} name"):
        try:  # LiteRT decodes every name as UTF-8 when asked for the tensor's details
            tensor.Name().decode("utf-8")
        except UnicodeDecodeError:
            _bad(path, f"{where} has a name that is not UTF-8")
    ttype = int(tensor.Type())
    if ttype not in _TFLITE_ITEMSIZE:
        _bad(path, f"{where} has unknown type {ttype}")
    itemsize = _TFLITE_ITEMSIZE[ttype]
    elements = 1
    for d in shape.tolist():
        elements *= max(int(d), 1)
        if elements * max(itemsize, 1) > MAX_TENSOR_BYTES:
            _bad(path, f"{where} is too large ({'x'.join(map(str, shape.tolist()))})")
    buffer = int(tensor.Buffer())
    if not 0 <= buffer < n_buffers:
        _bad(path, f"{where} names buffer {buffer} of {n_buffers}")
    quant = tensor.Quantization()
    if quant is not None:
        _table_ok(quant._tab, size, path, f"{where} quantization")
        n_scale = _vector(quant._tab, 8, 4, size, path, f"{where} scales")
        n_zero = _vector(quant._tab, 10, 8, size, path, f"{where} zero points")
        _vector(quant._tab, 4, 4, size, path, f"{where} min")
        _vector(quant._tab, 6, 4, size, path, f"{where} max")
        if n_scale != n_zero and n_zero not in (0,) and n_scale > 1:
            _bad(path, f"{where} has {n_scale} scales but {n_zero} zero points")
        if n_scale > 1:
            qdim = int(quant.QuantizedDimension())
            if not 0 <= qdim < max(rank, 1) or (rank and n_scale != int(shape[qdim])):
                _bad(path, f"{where} has per-channel scales that do not match its shape")
        if n_scale and not np.isfinite(quant.ScaleAsNumpy()).all():
            _bad(path, f"{where} has a non-finite scale")
    if tensor.Sparsity() is not None:
        _table_ok(tensor.Sparsity()._tab, size, path, f"{where} sparsity")
        _bad(path, f"{where} is sparse (asl-edge never writes sparse tensors)")
    data = buffer_sizes[buffer]
    if data:
        if itemsize and data != elements * itemsize:
            _bad(path, f"{where} holds {data} bytes but its shape needs {elements * itemsize}")
        return 0
    return elements * max(itemsize, 1)


# -- metadata -----------------------------------------------------------------------------------
MAX_LABELS = 10_000
MAX_LABEL_CHARS = 200


def check_labels(labels, path: str | Path) -> tuple[str, ...]:
    """Labels must be 1..10000 printable strings of 1 to 200 characters.

    Raises:
        ModelError: one line naming the problem.
    """
    if not isinstance(labels, (list, tuple)) or not 1 <= len(labels) <= MAX_LABELS:
        raise ModelError(f"{printable(path)}: its labels are not a list of 1 to {MAX_LABELS} names")
    for i, label in enumerate(labels):
        if not isinstance(label, str) or not label or len(label) > MAX_LABEL_CHARS:
            raise ModelError(f"{printable(path)}: label {i} is not a name of 1 to {MAX_LABEL_CHARS} characters")
        if not label.isprintable():
            raise ModelError(f"{printable(path)}: label {i} ({printable(label)}) holds control characters")
    return tuple(labels)


# -- ONNX -----------------------------------------------------------------------------------------
def _varint(buf: bytes, pos: int) -> tuple[int, int]:
    result, shift = 0, 0
    while True:
        if pos >= len(buf) or shift > 63:
            raise ValueError("truncated varint")
        b = buf[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        if not b & 0x80:
            return result, pos
        shift += 7


def _scan_fields(buf: bytes, start: int, end: int):
    """Yields ``(field, wire type, value start, value end)`` of one protobuf message, bounds-checked."""
    pos = start
    while pos < end:
        key, pos = _varint(buf, pos)
        field, wire = key >> 3, key & 7
        if wire == 0:
            _, after = _varint(buf, pos)
        elif wire == 1:
            after = pos + 8
        elif wire == 2:
            length, pos = _varint(buf, pos)
            after = pos + length
        elif wire == 5:
            after = pos + 4
        else:
            raise ValueError(f"wire type {wire}")
        if after > end or field == 0:
            raise ValueError("field outside its message")
        yield field, wire, pos, after
        pos = after


def validate_onnx(buf: bytes, path: str | Path = "<model>") -> None:
    """Refuses an ONNX file that is not a well-formed, bounded model.

    Always (the runtime-only install too): a protobuf-free scan that every field of the
    ModelProto and its GraphProto lies inside the file, that the graph has nodes, inputs and
    outputs, that external data (a path ONNX Runtime would open) is not used, and that node
    attributes and constant shape inputs are bounded (:func:`_check_onnx_nodes`). With the
    ``onnx`` package also ``onnx.checker.check_model`` and size bounds on every initializer.

    Raises:
        ModelError: one line naming the problem.
    """
    path = Path(path)
    if len(buf) > MAX_ARTIFACT_BYTES:
        raise ModelError(f"{printable(path)} is too large ({len(buf)} bytes)")
    try:
        graph = None
        for field, wire, a, b in _scan_fields(buf, 0, len(buf)):
            if field == 7:  # ModelProto.graph
                if wire != 2:
                    raise ValueError("graph is not a message")
                graph = (a, b)
        if graph is None:
            raise ValueError("no graph")
        nodes, consts = [], {}
        counts = _scan_graph(buf, graph, nodes, consts, 0)
        if not counts[1] or not counts[11] or not counts[12]:
            raise ValueError("graph without nodes, inputs or outputs")
        _check_onnx_nodes(buf, nodes, consts)
    except (ValueError, OverflowError, struct.error) as exc:
        raise ModelError(f"{printable(path)} is not a valid .onnx file ({exc}): re-export it") from None
    try:
        import onnx
    except ImportError:
        return
    try:
        model = onnx.load_from_string(buf)
        onnx.checker.check_model(model)
    except Exception as exc:  # DecodeError, ValidationError: all mean an unusable file
        first = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else type(exc).__name__
        raise ModelError(f"{printable(path)} is not a valid .onnx file ({printable(first)}): re-export it") from None
    for init in model.graph.initializer:
        if any(d < 0 for d in init.dims) or int(np.prod(init.dims, dtype=np.float64)) * 8 > MAX_ARTIFACT_BYTES:
            raise ModelError(f"{printable(path)}: initializer {printable(init.name)} has an impossible shape")


MAX_GRAPH_DEPTH = 8
MAX_ONNX_NODES = 1 << 16


def _scan_graph(buf: bytes, graph: tuple[int, int], nodes: list, consts: dict, depth: int) -> dict:
    """Collects a GraphProto's nodes and small constants into ``nodes``/``consts``, and those of every
    subgraph its nodes carry (If branches, Loop and Scan bodies), so none escapes the node checks.
    Returns the graph's counts of nodes, initializers, inputs and outputs (fields 1, 5, 11, 12)."""
    if depth > MAX_GRAPH_DEPTH:
        raise ValueError(f"subgraphs nested more than {MAX_GRAPH_DEPTH} deep")
    counts = {1: 0, 5: 0, 11: 0, 12: 0}  # node, initializer, input, output
    for field, _wire, a, b in _scan_fields(buf, *graph):
        if field in counts:
            counts[field] += 1
            for _ in _scan_fields(buf, a, b):  # each node / tensor / value info is itself well-formed
                pass
        if field == 5 and _uses_external_data(buf, a, b):
            raise ValueError("initializer stored in an external file")
        if field == 5:
            consts.update([_small_int_tensor(buf, a, b)])
        elif field == 1:
            node = _node(buf, a, b)
            nodes.append(node)
            if len(nodes) > MAX_ONNX_NODES:
                raise ValueError(f"more than {MAX_ONNX_NODES} nodes")
            for attr in node[3].values():
                for sub in attr.get("graphs", ()):
                    _scan_graph(buf, sub, nodes, consts, depth + 1)
    return counts


# -- ONNX node attributes and the constant inputs that size an output ------------------------------
# Read with the same protobuf-free scanner, so the runtime-only install (no ``onnx`` package: a Pi)
# gets these checks too. ONNX Runtime validates most attributes itself; these bound what it takes
# on trust: a stride or dilation of 0, kernels and pads past any real size, axes past the largest
# rank, and shape tensors (Reshape, Expand, Tile, ConstantOfShape, Resize, Pad) that ask for
# gigabytes. Shapes computed at run time are left to the memory-capped probe.
_WINDOWED = {"Conv", "ConvTranspose", "ConvInteger", "QLinearConv", "MaxPool", "AveragePool", "LpPool", "MaxUnpool"}
# Float attributes a kernel scales by (Gemm, LeakyRelu, Elu, BatchNormalization ...): NaN or
# infinity there is garbage out. (Clip's min/max may be infinite on purpose: not listed.)
_FINITE_ATTRS = {"alpha", "beta", "gamma", "epsilon"}
MAX_ONNX_INTS = 4096
MAX_SHAPE_CONST = 64  # elements: shape, pads and sizes tensors are this small; larger ones are weights


def _signed(value: int) -> int:
    return value - (1 << 64) if value >= 1 << 63 else value


def _varints(buf: bytes, wire: int, a: int, b: int) -> list[int]:
    """A repeated integer field's values: one varint (wire 0) or a packed run (wire 2)."""
    if wire == 0:
        return [_signed(_varint(buf, a)[0])]
    if wire != 2:
        raise ValueError("an integer list of the wrong wire type")
    values, pos = [], a
    while pos < b:
        value, pos = _varint(buf, pos)
        values.append(_signed(value))
        if len(values) > MAX_ONNX_INTS:
            raise ValueError(f"an integer list longer than {MAX_ONNX_INTS}")
    return values


def _string(buf: bytes, a: int, b: int) -> str:
    return buf[a:b].decode("utf-8", "replace")


def _attribute(buf: bytes, a: int, b: int) -> tuple[str, dict]:
    """AttributeProto: its name and the integer, integer list, float and tensor fields that are set."""
    name, attr = "", {}
    for field, wire, x, y in _scan_fields(buf, a, b):
        if field == 1 and wire == 2:
            name = _string(buf, x, y)
        elif field == 2 and wire == 5:
            attr["f"] = struct.unpack_from("<f", buf, x)[0]
        elif field == 3:
            attr["i"] = _varints(buf, wire, x, y)[0]
        elif field == 5 and wire == 2:
            attr["t"] = (x, y)
        elif field in (6, 11) and wire == 2:  # g, graphs: If/Loop/Scan bodies
            attr.setdefault("graphs", []).append((x, y))
        elif field == 7:
            attr.setdefault("floats", []).extend(
                struct.unpack_from(f"<{(y - x) // 4}f", buf, x) if wire == 2 else struct.unpack_from("<f", buf, x))
        elif field == 8:
            attr.setdefault("ints", []).extend(_varints(buf, wire, x, y))
            if len(attr["ints"]) > MAX_ONNX_INTS:
                raise ValueError(f"attribute {name} has more than {MAX_ONNX_INTS} integers")
    return name, attr


def _node(buf: bytes, a: int, b: int) -> tuple[str, list[str], list[str], dict]:
    """NodeProto: op type, input and output names, attributes by name."""
    op_type, inputs, outputs, attrs = "", [], [], {}
    for field, wire, x, y in _scan_fields(buf, a, b):
        if wire != 2:
            continue
        if field == 1:
            inputs.append(_string(buf, x, y))
        elif field == 2:
            outputs.append(_string(buf, x, y))
        elif field == 4:
            op_type = _string(buf, x, y)
        elif field == 5:
            name, attr = _attribute(buf, x, y)
            attrs[name] = attr
    return op_type, inputs, outputs, attrs


def _small_int_tensor(buf: bytes, a: int, b: int) -> tuple[str, np.ndarray | None]:
    """TensorProto: its name and values when it is an int32/int64/float tensor of a few elements."""
    name, dtype, dims, raw, ints, floats = "", 0, [], None, [], []
    for field, wire, x, y in _scan_fields(buf, a, b):
        if field == 1:
            dims.extend(_varints(buf, wire, x, y))
        elif field == 2 and wire == 0:
            dtype = _varint(buf, x)[0]
        elif field in (5, 7):  # int32_data, int64_data
            if (y - x) <= 10 * MAX_SHAPE_CONST:
                ints.extend(_varints(buf, wire, x, y))
        elif field == 4 and (y - x) <= 4 * MAX_SHAPE_CONST:  # float_data
            floats.extend(struct.unpack_from(f"<{(y - x) // 4}f", buf, x))
        elif field == 8 and wire == 2:
            name = _string(buf, x, y)
        elif field == 9 and wire == 2:
            raw = (x, y)
    count = 1
    for d in dims:  # stops early: a crafted list of huge sides must not overflow the product
        count *= max(d, 0)
        if count > MAX_SHAPE_CONST:
            break
    if dtype not in (1, 6, 7) or count > MAX_SHAPE_CONST:  # FLOAT (Resize scales), INT32, INT64
        return name, None
    if raw is not None:
        width = 4 if dtype in (1, 6) else 8
        if raw[1] - raw[0] != count * width:
            raise ValueError(f"tensor {name} holds {raw[1] - raw[0]} bytes for {count} values")
        values = np.frombuffer(buf[raw[0]:raw[1]], {1: "<f4", 6: "<i4", 7: "<i8"}[dtype])
        return name, values.astype(np.float64 if dtype == 1 else np.int64)
    if dtype == 1:
        return name, np.asarray(floats, np.float64) if len(floats) == count else None
    return name, np.asarray(ints, np.int64) if len(ints) == count else None


# As for LiteRT above: operators sized or repeated by values computed at run time (a pixel, a trip
# count) are refused unless the sizing inputs are constants of the file; Loop and Scan run a body a
# computed number of times and are refused outright (asl-edge writes none of them).
_ONNX_DATA_SIZED = {"ConstantOfShape": (0,), "Expand": (1,), "Tile": (1,), "Pad": (1,), "Range": (0, 1, 2),
                    "OneHot": (1,), "Upsample": (1,), "CenterCropPad": (1,), "Col2Im": (1, 2)}
_ONNX_UNBOUNDED = {"Loop": "runs its body a number of times computed at run time",
                   "Scan": "runs its body once per element of a tensor computed at run time"}
MAX_SCALE = 16.0  # Resize/Upsample: per axis; real models upsample by 2


def _check_onnx_data_sized(op_type: str, inputs: list, consts: dict, bad) -> None:
    if op_type in _ONNX_UNBOUNDED:
        bad(f"{_ONNX_UNBOUNDED[op_type]}: no check can bound its time or memory, and asl-edge never writes it")
    sizing = list(_ONNX_DATA_SIZED.get(op_type, ()))
    if op_type == "Resize":  # (X, roi, scales, sizes); opset 10: (X, scales)
        sizing = [3] if len(inputs) > 3 and inputs[3] else [2 if len(inputs) > 2 else 1]
    for i in sizing:
        if i < len(inputs) and inputs[i] and consts.get(inputs[i]) is None:
            bad(f"is sized by input {i} ({inputs[i][:40]}), computed at run time: no check can bound its memory "
                "(asl-edge writes only constant sizes)")
    if op_type in ("Resize", "Upsample") and sizing[0] in (1, 2) and sizing[0] < len(inputs) and inputs[sizing[0]]:
        scales = consts[inputs[sizing[0]]]
        if scales.size and ((scales <= 0) | (scales > MAX_SCALE)).any() or np.prod(scales) > MAX_SCALE ** 2:
            bad(f"has scales {scales.tolist()[:MAX_RANK]} (at most {MAX_SCALE:g} per axis)")
    if op_type == "Range" and len(inputs) >= 3 and all(inputs[:3]):
        start, limit, delta = (float(consts[inputs[i]].ravel()[0]) if consts[inputs[i]].size else 0.0 for i in range(3))
        if delta == 0 or abs(limit - start) / abs(delta) * 4 > MAX_TENSOR_BYTES:
            bad(f"would make {start:g}..{limit:g} by {delta:g}")


def _check_onnx_nodes(buf: bytes, nodes: list, consts: dict) -> None:
    """Bounds attributes and constant shape inputs of every node (see above)."""
    for op_type, _inputs, outputs, attrs in nodes:  # Constant nodes are constants as initializers are
        if op_type == "Constant" and outputs and "t" in attrs.get("value", {}):
            consts[outputs[0]] = _small_int_tensor(buf, *attrs["value"]["t"])[1]
    for k, (op_type, inputs, _outputs, attrs) in enumerate(nodes):
        def bad(why, k=k, op_type=op_type):
            raise ValueError(f"node {k} ({op_type[:40]}) {why}")

        for name, attr in attrs.items():
            if name == "axis" and "i" in attr and not -MAX_RANK <= attr["i"] < MAX_RANK:
                bad(f"has axis {attr['i']}")
            if name == "axes" and any(not -MAX_RANK <= v < MAX_RANK for v in attr.get("ints", [])):
                bad(f"has axes {attr['ints'][:MAX_RANK + 1]}")
            if name in _FINITE_ATTRS and "f" in attr and not np.isfinite(attr["f"]):
                bad(f"has {name[:40]} {attr['f']}")
        if op_type in _WINDOWED:
            for name, low in (("strides", 1), ("dilations", 1), ("kernel_shape", 1), ("pads", 0)):
                values = attrs.get(name, {}).get("ints", [])
                if len(values) > 2 * MAX_RANK or any(not low <= v <= MAX_OPTION for v in values):
                    bad(f"has {name} {values[:2 * MAX_RANK + 1]}")
            group = attrs.get("group", {}).get("i", 1)
            if not 1 <= group <= MAX_OPTION:
                bad(f"has group {group}")
        if op_type == "Transpose" and "perm" in attrs:
            perm = attrs["perm"].get("ints", [])
            if len(perm) > MAX_RANK or sorted(perm) != list(range(len(perm))):
                bad(f"has permutation {perm[:MAX_RANK + 1]}")
        _check_onnx_data_sized(op_type, inputs, consts, bad)
        shape_input = {"Reshape": 1, "Expand": 1, "Tile": 1, "ConstantOfShape": 0, "Resize": 3, "Pad": 1}.get(op_type)
        values = consts.get(inputs[shape_input]) if shape_input is not None and shape_input < len(inputs) else None
        if values is None:
            continue
        if op_type == "Pad":
            if values.size > 2 * MAX_RANK or (np.abs(values) > 1 << 16).any():
                bad(f"has pads {values.tolist()[:2 * MAX_RANK + 1]}")
            continue
        if values.size > MAX_RANK or (values < (-1 if op_type == "Reshape" else 0)).any() or \
                (op_type == "Reshape" and (values == -1).sum() > 1):
            bad(f"has an impossible shape {values.tolist()[:MAX_RANK + 1]}")
        # Tile's values multiply the input's sides; the others are sides: either way their
        # product bounds the output's elements (4 bytes each at the least for a float model).
        if np.prod(np.maximum(values, 1), dtype=np.float64) * 4 > MAX_TENSOR_BYTES:
            bad(f"would make an output too large ({'x'.join(map(str, values.tolist()))})")


def _uses_external_data(buf: bytes, start: int, end: int) -> bool:
    for field, wire, a, _b in _scan_fields(buf, start, end):
        if field == 14 and wire == 0:  # TensorProto.data_location
            value, _ = _varint(buf, a)
            if value == 1:
                return True
        if field == 13:  # TensorProto.external_data
            return True
    return False
