"""Structural checks of an artifact before any native runtime sees it (issue #13).

LiteRT trusts the ``.tflite`` flatbuffer it is given: one flipped byte in a tensor's shape or
buffer index can make it read out of bounds (a segfault, exit 139, no message) or allocate
gigabytes for one prediction. :func:`validate_tflite` walks the flatbuffer with the schema
bindings shipped in ``ai_edge_litert`` and refuses any index out of range, any constant tensor
whose data does not match its shape, any buffer outside the file and any tensor too large to be
real. :func:`validate_onnx` bounds an ONNX file the same way with the ``onnx`` checker where
that package is installed (the train extra) and with a protobuf-free scan of its top-level
structure where it is not (the runtime-only install). Pure Python and NumPy: no TensorFlow.
"""

from __future__ import annotations

import struct
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


def _walk_tflite(schema, buf: bytes, size: int, path: Path) -> None:
    model = schema.Model.GetRootAs(buf, 0)
    tab = model._tab
    _table_ok(tab, size, path, "model")
    n_codes = _vector(tab, 6, 4, size, path, "operator codes")
    n_subgraphs = _vector(tab, 8, 4, size, path, "subgraphs")
    n_buffers = _vector(tab, 12, 4, size, path, "buffers")
    n_metadata = _vector(tab, 16, 4, size, path, "metadata")
    n_signatures = _vector(tab, 18, 4, size, path, "signatures")
    if not 1 <= n_subgraphs <= MAX_SUBGRAPHS:
        _bad(path, f"{n_subgraphs} subgraphs")
    max_builtin = max(v for k, v in vars(schema.BuiltinOperator).items() if not k.startswith("_"))
    for i in range(n_codes):
        code = model.OperatorCodes(i)
        _table_ok(code._tab, size, path, f"operator code {i}")
        builtin = max(int(code.BuiltinCode()), int(code.DeprecatedBuiltinCode()))
        if builtin < 0 or builtin > max_builtin:
            _bad(path, f"operator code {i} is unknown ({builtin})")
        _vector(code._tab, 6, 1, size, path, f"operator code {i} name")
    buffer_sizes = []
    for i in range(n_buffers):
        b = model.Buffers(i)
        _table_ok(b._tab, size, path, f"buffer {i}")
        n = _vector(b._tab, 4, 1, size, path, f"buffer {i}")
        offset, length = int(b.Offset()), int(b.Size())
        if offset > 1:  # data stored after the flatbuffer (models over 2 GB)
            if offset + length > size:
                _bad(path, f"buffer {i} lies outside the file")
            n = length
        buffer_sizes.append(n)
    arena = 0
    for g in range(n_subgraphs):
        sub = model.Subgraphs(g)
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
        for t in range(n_tensors):
            tensor = sub.Tensors(t)
            arena += _check_tensor(tensor, t, g, size, n_buffers, buffer_sizes, path)
        if arena > MAX_ARENA_BYTES:
            _bad(path, f"its tensors need more than {MAX_ARENA_BYTES >> 20} MB")
        for k in range(n_ops):
            op = sub.Operators(k)
            _table_ok(op._tab, size, path, f"operator {k}")
            if not 0 <= op.OpcodeIndex() < n_codes:
                _bad(path, f"operator {k} has operator code {op.OpcodeIndex()} of {n_codes}")
            for field, what, minus_one in ((6, "inputs", True), (8, "outputs", False), (20, "intermediates", False)):
                if _vector(op._tab, field, 4, size, path, f"operator {k} {what}"):
                    values = {6: op.InputsAsNumpy, 8: op.OutputsAsNumpy, 20: op.IntermediatesAsNumpy}[field]()
                    _check_indices(values, n_tensors, path, f"operator {k} {what[:-1]}", minus_one)
            _vector(op._tab, 14, 1, size, path, f"operator {k} options")
            _vector(op._tab, 18, 1, size, path, f"operator {k} variable inputs")
            if op.LargeCustomOptionsOffset() > 1 and \
                    op.LargeCustomOptionsOffset() + op.LargeCustomOptionsSize() > size:
                _bad(path, f"operator {k} options lie outside the file")
            opts = op.BuiltinOptions()
            if opts is not None:
                _table_ok(_Table(buf, opts.Pos), size, path, f"operator {k} options")
                _check_options(schema, int(op.BuiltinOptionsType()), opts, path, k)
    for i in range(n_metadata):
        meta = model.Metadata(i)
        _table_ok(meta._tab, size, path, f"metadata {i}")
        if not 0 <= meta.Buffer() < n_buffers:
            _bad(path, f"metadata {i} names buffer {meta.Buffer()} of {n_buffers}")
        _vector(meta._tab, 4, 1, size, path, f"metadata {i} name")
    for i in range(n_signatures):
        sig = model.SignatureDefs(i)
        _table_ok(sig._tab, size, path, f"signature {i}")
        if not 0 <= sig.SubgraphIndex() < n_subgraphs:
            _bad(path, f"signature {i} names subgraph {sig.SubgraphIndex()} of {n_subgraphs}")
        limit = _vector(model.Subgraphs(sig.SubgraphIndex())._tab, 4, 4, size, path, "tensors")
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


def _check_options(schema, options_type: int, opts, path: Path, k: int) -> None:
    names = {v: n for n, v in vars(schema.BuiltinOptions).items() if not n.startswith("_")}
    name = names.get(options_type)
    fields = _POSITIVE_OPTIONS.get(name)
    if not fields:
        return
    table = getattr(schema, name)()
    table.Init(opts.Bytes, opts.Pos)
    for field in fields:
        value = int(getattr(table, field)())
        # DepthMultiplier is 0 in files from converters that leave it unset; LiteRT ignores it then.
        if field == "DepthMultiplier" and value == 0:
            continue
        if not 1 <= value <= MAX_OPTION:
            _bad(path, f"operator {k} has {field} {value}")


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
    _vector(tensor._tab, 10, 1, size, path, f"{where} name")
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

    With the ``onnx`` package: ``onnx.checker.check_model`` plus size bounds on every
    initializer. Without it (runtime-only install): a protobuf-free scan that every field of the
    ModelProto and its GraphProto lies inside the file, that the graph has nodes, inputs and
    outputs, and that external data (a path ONNX Runtime would open) is not used.

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
        counts = {1: 0, 5: 0, 11: 0, 12: 0}  # node, initializer, input, output
        for field, _wire, a, b in _scan_fields(buf, *graph):
            if field in counts:
                counts[field] += 1
                for _ in _scan_fields(buf, a, b):  # each node / tensor / value info is itself well-formed
                    pass
            if field == 5 and _uses_external_data(buf, a, b):
                raise ValueError("initializer stored in an external file")
        if not counts[1] or not counts[11] or not counts[12]:
            raise ValueError("graph without nodes, inputs or outputs")
    except ValueError as exc:
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


def _uses_external_data(buf: bytes, start: int, end: int) -> bool:
    for field, wire, a, _b in _scan_fields(buf, start, end):
        if field == 14 and wire == 0:  # TensorProto.data_location
            value, _ = _varint(buf, a)
            if value == 1:
                return True
        if field == 13:  # TensorProto.external_data
            return True
    return False
