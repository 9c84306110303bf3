"""TensorFlow Lite Micro (TFLM), the interpreter of Cortex-M boards, run here through its Python wheel.

``tflite-micro`` builds the same C++ interpreter and reference kernels that a microcontroller
runs, for x86-64. It answers two questions no board is needed for: how small a tensor arena a
model allocates and runs in (:func:`find_arena`), and whether the interpreter computes what
LiteRT computes (:func:`compare_with_litert`). No TensorFlow here.

The arena found on x86-64 is an upper bound for a 32-bit Cortex-M: TFLM keeps its per-tensor
structs in the arena, and their pointers take 8 bytes here against 4 there. CMSIS-NN's optimised
kernels may ask for scratch buffers the reference kernels do not (:func:`cmsis_scratch_bytes`);
:func:`recommended_arena` adds that and a margin.
"""

from __future__ import annotations

import logging

import numpy as np

from asl_edge.runtime.errors import ModelError
from asl_edge.runtime.quiet import quiet_native_stderr

log = logging.getLogger(__name__)

EXTRA = "micro"
# TFLM aligns its arena to 16 bytes (MicroArenaBufferAlignment); a size we recommend is a multiple.
ARENA_ALIGNMENT = 16
# Room above the measured minimum for what a board build adds and this build does not show: the
# TFLM version on the board, a profiler, a debug log buffer.
ARENA_MARGIN_BYTES = 1024
# The smallest arena the search tries: tflite-micro 0.dev20261023 segfaults (instead of failing
# cleanly) when the arena cannot hold its own allocator (measured: 256 bytes crash, 512 fail cleanly),
# and no model allocates in less than this anyway.
MIN_ARENA_BYTES = 1024
# The largest arena the search tries (a Cortex-M7 with external RAM has a few MB at most).
MAX_ARENA_BYTES = 8 << 20


def _runtime():
    try:
        from tflite_micro.python.tflite_micro import runtime
    except ImportError:
        from asl_edge.runtime.extras import missing

        raise missing("the TFLite Micro interpreter (tflite-micro)", EXTRA) from None
    return runtime


def tflm_version() -> str | None:
    from importlib import metadata

    try:
        return metadata.version("tflite-micro")
    except metadata.PackageNotFoundError:
        return None


def interpreter(buf: bytes, arena_bytes: int):
    """A TFLM interpreter of ``buf`` with an arena of ``arena_bytes``, its tensors allocated.

    Raises:
        ModelError: the model does not allocate in that arena (too small, or an operator TFLM lacks).
    """
    runtime = _runtime()
    try:
        with quiet_native_stderr():  # TFLM prints its allocation failures on fd 2
            return runtime.Interpreter.from_bytes(bytes(buf), arena_size=int(arena_bytes))
    except (RuntimeError, ValueError) as exc:
        first = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else type(exc).__name__
        raise ModelError(f"TFLite Micro cannot allocate the model in {arena_bytes} bytes: {first}") from None


def fits(buf: bytes, arena_bytes: int) -> bool:
    """Whether TFLM allocates ``buf`` in ``arena_bytes`` and runs one inference there.

    The invoke is part of the test: kernels may request scratch buffers in Prepare that only an
    invoke exercises. Arenas under :data:`MIN_ARENA_BYTES` are not tried (False).
    """
    if arena_bytes < MIN_ARENA_BYTES:
        return False
    try:
        interp = interpreter(buf, arena_bytes)
        detail = interp.get_input_details(0)
        interp.set_input(np.zeros(detail["shape"], detail["dtype"]), 0)
        with quiet_native_stderr():
            interp.invoke()
    except (ModelError, RuntimeError):
        return False
    return True


def find_arena(buf: bytes, upper: int = MAX_ARENA_BYTES) -> int:
    """The smallest arena (bytes) in which TFLM allocates and runs ``buf``: binary search between
    a size that fails and one that fits, so the answer fits and one byte less does not (never
    below :data:`MIN_ARENA_BYTES`).

    Raises:
        ModelError: not even ``upper`` bytes fit (an operator TFLM does not have, or a huge model).
    """
    if not fits(buf, upper):
        # One more load, for its reason: the first line TFLM raised.
        try:
            interpreter(buf, upper)
        except ModelError as exc:
            raise ModelError(f"TFLite Micro cannot run this model in {upper >> 20} MB: {exc}") from None
        raise ModelError(f"TFLite Micro allocates this model in {upper >> 20} MB but cannot invoke it")
    low, high = MIN_ARENA_BYTES - 1, upper  # low never fits, high always does
    while high - low > 1:
        mid = (low + high) // 2
        if fits(buf, mid):
            high = mid
        else:
            low = mid
    return high


def cmsis_scratch_bytes(buf: bytes) -> int:
    """The largest im2col scratch buffer CMSIS-NN's int8 convolution asks for (2 int16 columns of
    the kernel window: 4 x input channels x kernel height x kernel width bytes), 0 without
    convolutions. The reference kernels this build runs need none, so :func:`find_arena` cannot see it.
    """
    from ai_edge_litert import schema_py_generated as schema

    model = schema.Model.GetRootAsModel(buf, 0)
    graph = model.Subgraphs(0)
    largest = 0
    for i in range(graph.OperatorsLength()):
        op = graph.Operators(i)
        code = model.OperatorCodes(op.OpcodeIndex())
        if max(code.BuiltinCode(), code.DeprecatedBuiltinCode()) != schema.BuiltinOperator.CONV_2D:
            continue
        weights = graph.Tensors(op.Inputs(1)).ShapeAsNumpy()  # [out_c, kh, kw, in_c]
        largest = max(largest, 4 * int(weights[1]) * int(weights[2]) * int(weights[3]))
    return largest


def recommended_arena(minimum: int, buf: bytes) -> int:
    """The arena to build with: the measured minimum, CMSIS-NN's scratch and a margin, aligned."""
    total = minimum + cmsis_scratch_bytes(buf) + ARENA_MARGIN_BYTES
    return -(-total // ARENA_ALIGNMENT) * ARENA_ALIGNMENT


def _quant(detail: dict) -> tuple[float, int] | None:
    q = detail.get("quantization_parameters") or {}
    scales, zeros = q.get("scales"), q.get("zero_points")
    if scales is None or len(scales) == 0:
        return None
    return float(scales[0]), int(zeros[0])


def run_raw(buf: bytes, arena_bytes: int, x: np.ndarray) -> np.ndarray:
    """Raw output tensors of TFLM for a float32 normalised batch, one image at a time (an MCU's
    batch), inputs quantised with the input tensor's own scale and zero point as LiteRT's runner does.

    Raises:
        ModelError: the model does not run under TFLM.
    """
    from asl_edge.runtime.runners import quantize

    interp = interpreter(buf, arena_bytes)
    detail = interp.get_input_details(0)
    dtype, q = np.dtype(detail["dtype"]), _quant(detail)
    out = []
    for image in np.asarray(x, np.float32):
        feed = quantize(image[None], q[0], q[1], dtype) if q and dtype.kind == "i" else image[None].astype(dtype)
        try:
            interp.set_input(feed, 0)
            with quiet_native_stderr():
                interp.invoke()
        except RuntimeError as exc:
            raise ModelError(f"TFLite Micro failed to run the model: {str(exc).strip()[:200]}") from None
        out.append(np.array(interp.get_output(0)).reshape(-1))
    return np.stack(out)


def litert_raw(buf: bytes, x: np.ndarray, xnnpack: bool = False) -> np.ndarray:
    """Raw output tensors of LiteRT for the same inputs, one image at a time.

    Args:
        xnnpack: with LiteRT's default XNNPACK delegate (what ``predict`` and ``benchmark`` run);
            off by default: LiteRT's builtin int8 kernels follow the same fixed-point arithmetic as
            TFLM's, while XNNPACK rounds its requantisation differently (a few LSB on the softmax).
    """
    from ai_edge_litert import interpreter as litert

    from asl_edge.runtime.runners import quantize

    resolver = litert.OpResolverType.AUTO if xnnpack else litert.OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES
    with quiet_native_stderr():
        interp = litert.Interpreter(model_content=bytes(buf), num_threads=1, experimental_op_resolver_type=resolver)
        interp.allocate_tensors()
    inp, outp = interp.get_input_details()[0], interp.get_output_details()[0]
    scale, zero = inp["quantization"]
    out = []
    for image in np.asarray(x, np.float32):
        feed = quantize(image[None], scale, zero, inp["dtype"]) if scale else image[None].astype(inp["dtype"])
        interp.set_tensor(inp["index"], feed)
        interp.invoke()
        out.append(interp.get_tensor(outp["index"]).reshape(-1).copy())
    return np.stack(out)


def _agreement(a: np.ndarray, b: np.ndarray) -> dict:
    diff = np.abs(a.astype(np.int64) - b.astype(np.int64))
    n = len(a)
    return {"max_lsb_diff": int(diff.max()) if diff.size else 0,
            "identical_share": float((diff.max(axis=1) == 0).mean()) if n else 1.0,
            "top1_agreement": float((a.argmax(1) == b.argmax(1)).mean()) if n else 1.0}


def compare_with_litert(buf: bytes, arena_bytes: int, x: np.ndarray, y: np.ndarray | None = None) -> dict:
    """TFLM's raw outputs against LiteRT's builtin kernels on the same images (and, for the record,
    against LiteRT with XNNPACK, as ``predict`` runs it).

    Returns:
        ``{"images", "max_lsb_diff", "identical_share", "top1_agreement", "accuracy_tflm",
        "accuracy_litert", "against": ..., "xnnpack": {same three figures}}`` (accuracies ``None``
        without labels ``y``).
    """
    micro = run_raw(buf, arena_bytes, x)
    lite, fast = litert_raw(buf, x), litert_raw(buf, x, xnnpack=True)
    out = {"images": len(x), **_agreement(micro, lite), "accuracy_tflm": None, "accuracy_litert": None,
           "against": "LiteRT builtin kernels (XNNPACK delegate off), one image at a time",
           "xnnpack": _agreement(micro, fast)}
    if y is not None and len(x):
        out["accuracy_tflm"] = float((micro.argmax(1) == y).mean())
        out["accuracy_litert"] = float((lite.argmax(1) == y).mean())
    return out


def operators(buf: bytes) -> list[str]:
    """The builtin operators a model uses, sorted: what a TFLM op resolver must register."""
    from ai_edge_litert import schema_py_generated as schema

    names = {v: k for k, v in vars(schema.BuiltinOperator).items() if not k.startswith("_")}
    model = schema.Model.GetRootAsModel(buf, 0)
    used = set()
    for g in range(model.SubgraphsLength()):
        graph = model.Subgraphs(g)
        for i in range(graph.OperatorsLength()):
            code = model.OperatorCodes(graph.Operators(i).OpcodeIndex())
            builtin = max(code.BuiltinCode(), code.DeprecatedBuiltinCode())
            if builtin == schema.BuiltinOperator.CUSTOM:
                raise ModelError(f"the model uses a custom operator ({code.CustomCode().decode(errors='replace')}): "
                                 "TFLite Micro has only builtin operators")
            used.add(names.get(builtin, f"BUILTIN_{builtin}"))
    return sorted(used)
