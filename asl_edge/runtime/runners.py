"""Runners that execute an artifact with its runtime, behind one small interface.

``load_runner(path)`` picks the runtime from the format table: Keras models through TensorFlow,
``.tflite`` through LiteRT (``ai_edge_litert``; then ``tflite_runtime``; then the deprecated
``tf.lite.Interpreter`` as a last resort), ``.onnx`` through ONNX Runtime. Every runner takes the
float32 normalised batch that :meth:`Preprocessing.normalize` produces and returns float32
probabilities; int8/uint8 inputs and outputs are quantised and dequantised here with the tensor's
own scale and zero point. NumPy only at import time.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from asl_edge.runtime.errors import AslEdgeError, ModelError, RuntimeUnavailable
from asl_edge.runtime.formats import format_for_path
from asl_edge.runtime.fsutil import printable
from asl_edge.runtime.quiet import quiet_native_stderr

log = logging.getLogger(__name__)


@dataclass
class Runner:
    """An artifact loaded into its runtime.

    Attributes:
        runtime: ``keras``, ``litert`` or ``onnxruntime``.
        runtime_version: the runtime package's version.
        path: the artifact.
        input_shape: one sample: ``(height, width, channels)``, or ``(features,)`` (landmark models).
        input_dtype: the input tensor's dtype.
        input_quantization: ``(scale, zero_point)`` of a quantised input, else ``None``.
        device: ``cpu`` or ``gpu``.
        providers: where it actually runs, as the runtime reports it (ONNX Runtime's
            ``session.get_providers()``, the TensorFlow device, ``litert`` for the CPU interpreter).
    """

    runtime: str
    runtime_version: str
    path: Path
    input_shape: tuple[int, ...]
    input_dtype: np.dtype
    input_quantization: tuple[float, int] | None = None
    device: str = "cpu"
    _predict: object = field(default=None, repr=False)
    providers: tuple[str, ...] = ()

    def predict(self, x: np.ndarray) -> np.ndarray:
        """Probabilities ``(N, classes)`` for a float32 normalised batch ``(N, *input_shape)``."""
        x = np.asarray(x, np.float32)
        if x.ndim != len(self.input_shape) + 1 or tuple(x.shape[1:]) != tuple(self.input_shape):
            raise ModelError(f"{self.path.name} takes inputs of shape {tuple(self.input_shape)}, "
                             f"got {tuple(x.shape[1:])}: the preprocessing does not match this artifact")
        return self._predict(x)


def quantize(x: np.ndarray, scale: float, zero_point: int, dtype) -> np.ndarray:
    """float -> integer tensor values, as the TFLite converter defines them (round half away)."""
    info = np.iinfo(dtype)
    return np.clip(np.round(x / scale) + zero_point, info.min, info.max).astype(dtype)


def dequantize(q: np.ndarray, scale: float, zero_point: int) -> np.ndarray:
    return (q.astype(np.float32) - zero_point) * scale


def _check_file(path: Path) -> None:
    from asl_edge.runtime.fsutil import require_regular_file

    if require_regular_file(path, ModelError, "artifact") == 0:
        raise ModelError(f"{printable(path)} is empty")


def check_threads(threads: int | None) -> int | None:
    """Thread counts must lie between 1 and the CPU count (ONNX Runtime segfaults at 100000).

    Raises:
        ConfigError: a count out of range.
    """
    if threads is None:
        return None
    import os

    cpus = os.cpu_count() or 1
    if isinstance(threads, bool) or not isinstance(threads, int) or not 1 <= threads <= cpus:
        from asl_edge.runtime.errors import ConfigError

        raise ConfigError(f"--threads must lie between 1 and the {cpus} CPUs of this machine, got {threads}")
    return threads


def _read_artifact(path: Path) -> bytes:
    from asl_edge.runtime.fsutil import read_regular
    from asl_edge.runtime.validate import MAX_ARTIFACT_BYTES

    return read_regular(path, ModelError, "artifact", MAX_ARTIFACT_BYTES)


# -- LiteRT ------------------------------------------------------------------------------------
# Last-resort TFLite interpreters registered by higher layers: ``() -> (class, version, name)``.
# asl_edge.models registers TensorFlow's deprecated tf.lite.Interpreter, so this module never
# imports TensorFlow itself.
_TFLITE_FALLBACKS: list = []


def register_tflite_fallback(factory) -> None:
    """Adds a last-resort TFLite interpreter factory (raises :class:`AslEdgeError` when unavailable)."""
    _TFLITE_FALLBACKS.append(factory)


def interpreter_class():
    """LiteRT first; ``tflite_runtime`` and ``tf.lite`` (deprecated) only as fallbacks."""
    try:
        import ai_edge_litert
        from ai_edge_litert import interpreter as litert

        return litert.Interpreter, getattr(ai_edge_litert, "__version__", "unknown"), "litert"
    except ImportError:
        pass
    try:
        import tflite_runtime
        from tflite_runtime import interpreter as tflr

        return tflr.Interpreter, tflite_runtime.__version__, "tflite_runtime"
    except ImportError:
        pass
    for factory in _TFLITE_FALLBACKS:
        try:
            return factory()
        except AslEdgeError:
            continue
    raise RuntimeUnavailable("no TFLite runtime installed: pip install ai-edge-litert")


def _check_allocated(interp, path: Path, batch: int) -> None:
    """Refuses a model whose tensors, as LiteRT planned them, are larger than any real one.

    Shapes computed while preparing (a Reshape or Tile fed a damaged constant) escape the file
    checks of :mod:`asl_edge.runtime.validate`; here they are bounded before the first invoke.
    """
    from asl_edge.runtime.validate import MAX_ARENA_BYTES

    total = 0
    for t in interp.get_tensor_details():
        shape = np.asarray(t.get("shape", ()), np.int64)
        total += int(np.prod(np.maximum(shape, 1), dtype=np.float64)) * np.dtype(t["dtype"]).itemsize
    if total > MAX_ARENA_BYTES * max(batch, 1):
        raise ModelError(f"{printable(path)} needs {total >> 20} MB of tensors: larger than any real model; "
                         "the file is damaged or crafted")


def _load_litert(path: Path, threads: int | None, device: str, content: bytes | None = None) -> Runner:
    if device != "cpu":
        raise RuntimeUnavailable("LiteRT runs on the CPU here; GPU delegates are not measured")
    from asl_edge.runtime.validate import validate_tflite

    buf = _read_artifact(path) if content is None else content
    validate_tflite(buf, path)  # before LiteRT sees a byte of it: a damaged flatbuffer can segfault it
    cls, version, name = interpreter_class()
    try:
        with quiet_native_stderr():
            interp = cls(model_content=buf, num_threads=threads)
            interp.allocate_tensors()
    except Exception as exc:  # the interpreter raises RuntimeError/ValueError on damaged models
        first = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else type(exc).__name__
        raise ModelError(f"cannot load {printable(path)}: {printable(first)}") from None
    inp, out = interp.get_input_details()[0], interp.get_output_details()[0]
    in_q = inp["quantization"] if inp["dtype"] in (np.int8, np.uint8) else None
    out_q = out["quantization"] if out["dtype"] in (np.int8, np.uint8) else None
    _check_allocated(interp, path, 1)
    batch_state = {"n": int(inp["shape"][0])}

    def predict(x: np.ndarray) -> np.ndarray:
        try:
            if batch_state["n"] != len(x):
                interp.resize_tensor_input(inp["index"], [len(x), *inp["shape"][1:]])
                interp.allocate_tensors()
                batch_state["n"] = len(x)
                _check_allocated(interp, path, len(x))
            feed = quantize(x, in_q[0], in_q[1], inp["dtype"]) if in_q else x.astype(inp["dtype"])
            interp.set_tensor(inp["index"], feed)
            interp.invoke()
            y = interp.get_tensor(out["index"])
        except (RuntimeError, ValueError) as exc:  # a damaged model that LiteRT refuses at run time
            first = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else type(exc).__name__
            raise ModelError(f"{printable(path)} failed to run: {printable(first)}") from None
        return dequantize(y, *out_q) if out_q else y.astype(np.float32)

    return Runner(name, version, path, tuple(int(d) for d in inp["shape"][1:]),
                  np.dtype(inp["dtype"]), tuple(in_q) if in_q else None, "cpu", predict, (f"{name} CPU",))


# -- ONNX Runtime --------------------------------------------------------------------------------
def _load_onnx(path: Path, threads: int | None, device: str, content: bytes | None = None) -> Runner:
    try:
        import onnxruntime as ort
    except ImportError:
        raise RuntimeUnavailable("ONNX Runtime is not installed: pip install onnxruntime") from None
    providers = ["CPUExecutionProvider"]
    if device == "gpu":
        if "CUDAExecutionProvider" not in ort.get_available_providers():
            raise RuntimeUnavailable("not measured: no GPU (ONNX Runtime has no CUDA provider here)")
        providers = ["CUDAExecutionProvider", "CPUExecutionProvider"]
    options = ort.SessionOptions()
    options.log_severity_level = 3
    if threads:
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
    from asl_edge.runtime.validate import validate_onnx

    buf = _read_artifact(path) if content is None else content
    validate_onnx(buf, path)
    try:
        # From the validated bytes, not the path: the file cannot change after the check, and
        # ONNX Runtime resolves no external-data paths for an in-memory model.
        session = ort.InferenceSession(buf, options, providers=providers)
    except Exception as exc:  # InvalidProtobuf, Fail, ...: all mean an unusable file
        raise ModelError(f"cannot load {path}: {str(exc).splitlines()[0][:200]}") from None
    used = tuple(session.get_providers())
    if device == "gpu" and "CUDAExecutionProvider" not in used:
        # ONNX Runtime falls back to the CPU when the CUDA provider fails to load (missing CUDA or
        # cuDNN libraries); a "gpu" row timed on the CPU would be a false figure.
        raise RuntimeUnavailable(f"not measured: ONNX Runtime could not use CUDA here (providers: {', '.join(used)})")
    inp = session.get_inputs()[0]
    dtype = {"tensor(float)": np.float32, "tensor(int8)": np.int8, "tensor(uint8)": np.uint8}.get(inp.type, np.float32)

    def predict(x: np.ndarray) -> np.ndarray:
        try:
            return np.asarray(session.run(None, {inp.name: x.astype(dtype)})[0], np.float32)
        except Exception as exc:  # onnxruntime's Fail / RuntimeException on a damaged model
            first = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else type(exc).__name__
            raise ModelError(f"{printable(path)} failed to run: {printable(first)}") from None

    shape = tuple(int(d) if isinstance(d, int) else -1 for d in inp.shape[1:])
    return Runner("onnxruntime", ort.__version__, path, shape, np.dtype(dtype), None, device, predict, used)


_LOADERS = {"litert": _load_litert, "onnxruntime": _load_onnx}


def register_runtime(name: str, loader) -> None:
    """Adds a runtime: ``loader(path, threads, device) -> Runner``.

    The Keras runtime needs TensorFlow, so it is registered from :mod:`asl_edge.models` (the layer
    that may import it) and this module stays TensorFlow-free.
    """
    _LOADERS[name] = loader


# The probe: a child process that loads an unverified artifact and runs it once, under a memory
# cap, so that a crash or a runaway allocation in the native runtime ends the child, not asl-edge
# (a .tflite copied alone, or one loaded with --no-verify, is not vouched for by a manifest). It starts
# isolated (``python -I``: neither the working folder nor PYTHON* variables reach its sys.path)
# in a private empty folder, with this process's import path minus the working folder, so a
# resource.py or numpy.py lying beside a downloaded model is never imported.
_PROBE = """
import json, sys
sys.path[:] = json.loads(sys.argv[5])
import resource
limit = int(sys.argv[4])
resource.setrlimit(resource.RLIMIT_AS, (limit, resource.getrlimit(resource.RLIMIT_AS)[1]))
import numpy as np
from pathlib import Path
from asl_edge.runtime.errors import AslEdgeError
from asl_edge.runtime.runners import _call_loader
content = sys.stdin.buffer.read()
try:
    runner = _call_loader(sys.argv[2], Path(sys.argv[1]), int(sys.argv[3]) or None, "cpu", content)
    runner.predict(np.zeros((1, *[max(d, 1) for d in runner.input_shape]), np.float32))
except AslEdgeError as exc:
    print(str(exc)); sys.exit(3)
except MemoryError:
    sys.exit(4)
"""
PROBE_TIMEOUT_S = 120


def _probe_memory_limit() -> int:
    """The probe's address-space cap: three quarters of the RAM (3 to 16 GB), never above the cap
    this process runs under (a ``ulimit -v`` lower than that must not refuse a good artifact)."""
    import resource

    try:
        ram = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        ram = 4 << 30
    wanted = int(min(max(3 << 30, ram * 3 // 4), 16 << 30))
    soft, _hard = resource.getrlimit(resource.RLIMIT_AS)
    return wanted if soft == resource.RLIM_INFINITY else min(wanted, soft)


def isolated_python(program: str, *args: str) -> list[str]:
    """The command line of a helper process that imports only what this process could, minus the
    working folder: ``python -I -c PROGRAM ARGS... PATH`` (``-I``: no working folder, no PYTHON*
    variables, no user site on its sys.path; PROGRAM sets ``sys.path`` from the last argument, a
    JSON list: this process's path without the working folder). Run it with ``cwd`` set to a private folder."""
    import json
    import sys

    here = os.path.realpath(os.getcwd())
    # The folder asl_edge itself is imported from stays even when it is the working folder: an editable
    # install puts the checkout on sys.path (a .pth entry, after the standard library), and running
    # inside the checkout is the usual way to work with it. Its code already runs in this process.
    own = os.path.realpath(Path(__file__).resolve().parents[2])
    path = [p for p in sys.path
            if p and os.path.isabs(p) and (os.path.realpath(p) != here or os.path.realpath(p) == own)]
    return [sys.executable, "-I", "-c", program, *args, json.dumps(path)]


def _probe_cache() -> Path | None:
    """Where the sha256 of artifacts that passed the probe are remembered (``None``: nowhere)."""
    if os.environ.get("ASL_EDGE_PROBE_CACHE") == "off":
        return None
    root = os.environ.get("ASL_EDGE_PROBE_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "asl-edge", "probed")
    return Path(root)


def probe(path: Path, runtime: str, threads: int | None, content: bytes | None = None) -> None:
    """Loads and runs an artifact once in a memory-capped child process.

    The child gets the very bytes this process will load (on its stdin), so the file cannot
    change in between. Bytes that passed are remembered by sha256 (``~/.cache/asl-edge/probed``,
    ``ASL_EDGE_PROBE_CACHE`` to move it, ``off`` to not remember), so a device pays the probe once
    per artifact.

    Raises:
        ModelError: the child failed cleanly (its message), died on a signal, ran out of memory
            or did not finish.
    """
    import hashlib
    import signal
    import subprocess

    content = _read_artifact(path) if content is None else content
    digest = hashlib.sha256(content).hexdigest()
    cache = _probe_cache()
    marker = None if cache is None else cache / f"{digest}-{runtime}"
    if marker is not None and marker.is_file():
        return
    import tempfile

    cmd = isolated_python(_PROBE, str(path), runtime, str(threads or 0), str(_probe_memory_limit()))
    try:
        with tempfile.TemporaryDirectory(prefix="asl-edge-probe-") as private:
            proc = subprocess.run(cmd, input=content, capture_output=True, timeout=PROBE_TIMEOUT_S, cwd=private)
    except subprocess.TimeoutExpired:
        raise ModelError(f"{printable(path)} did not load within {PROBE_TIMEOUT_S} s: refusing it") from None
    out = proc.stdout.decode("utf-8", "replace").strip()
    err = proc.stderr.decode("utf-8", "replace").strip()
    if proc.returncode == 0:
        if marker is not None:
            try:
                marker.parent.mkdir(parents=True, exist_ok=True)
                marker.touch()
            except OSError:
                log.debug("cannot remember the probe in %s", marker)
        return
    if proc.returncode == 3 and out:
        raise ModelError(out.splitlines()[-1])
    if proc.returncode == 4:
        raise ModelError(f"{printable(path)} needs more memory than this machine allows a model: "
                         "the file is damaged or crafted")
    if proc.returncode < 0:
        try:
            name = signal.Signals(-proc.returncode).name
        except ValueError:
            name = f"signal {-proc.returncode}"
        raise ModelError(f"{printable(path)} crashed the {runtime} runtime ({name}): the file is damaged or "
                         "crafted; re-export it")
    tail = err.splitlines()[-1][:200] if err else f"exit status {proc.returncode}"
    raise ModelError(f"{printable(path)} cannot be loaded: {printable(tail)}")


def load_runner(path: str | Path, runtime: str | None = None, threads: int | None = None,
                device: str = "cpu", probe_first: bool = False) -> Runner:
    """Loads an artifact into its runtime.

    Args:
        path: ``.keras``, ``.tflite`` or ``.onnx`` file.
        runtime: override the format table's runtime (``keras``, ``litert``, ``onnxruntime``).
        threads: CPU threads the runtime may use (``None``: its default).
        device: ``cpu`` or ``gpu``.
        probe_first: load and run it once in a memory-capped child process first (:func:`probe`):
            for artifacts no manifest vouches for.

    Raises:
        ModelError: missing, truncated or corrupt file.
        RuntimeUnavailable: the runtime or the device is not available here.
    """
    path = Path(path)
    _check_file(path)
    threads = check_threads(threads)
    runtime = runtime or format_for_path(path).runtime
    if runtime not in _LOADERS:
        raise RuntimeUnavailable(f"unknown runtime '{runtime}'; choose one of: {', '.join(_LOADERS)}")
    if runtime in ("litert", "onnxruntime"):
        content = _read_artifact(path)  # read once: the probe and the runtime see the same bytes
        if probe_first and device == "cpu":
            probe(path, runtime, threads, content)
        return _call_loader(runtime, path, threads, device, content)
    return _LOADERS[runtime](path, threads, device)


def _call_loader(runtime: str, path: Path, threads: int | None, device: str, content: bytes | None) -> Runner:
    """The built-in loaders take the bytes already read; registered ones keep ``(path, threads, device)``."""
    loader = _LOADERS[runtime]
    if loader in (_load_litert, _load_onnx):
        return loader(path, threads, device, content=content)
    return loader(path, threads, device)


def available_runtimes() -> dict[str, str | None]:
    """Installed runtime packages and their versions (``None`` where missing); imports nothing heavy.

    ``onnxruntime`` and ``onnxruntime-gpu`` both provide the ``onnxruntime`` module: where both are
    installed in different folders of the path, the one that is not imported is marked as shadowed
    (a results file must say which one measured its rows).
    """
    from importlib import metadata

    out = {}
    for name, dist in (("litert", "ai-edge-litert"), ("tflite_runtime", "tflite-runtime"),
                       ("onnxruntime", "onnxruntime"), ("onnxruntime-gpu", "onnxruntime-gpu"),
                       ("tensorflow", "tensorflow")):
        try:
            out[name] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            out[name] = None
    if out["onnxruntime"] and out["onnxruntime-gpu"]:
        owner = _module_owner("onnxruntime", ("onnxruntime", "onnxruntime-gpu"))
        if owner:
            other = "onnxruntime-gpu" if owner == "onnxruntime" else "onnxruntime"
            out[other] = f"{out[other]} (not imported: onnxruntime {out[owner]} of {owner} comes first on the path)"
    return out


def _module_owner(module: str, dists: tuple[str, ...]) -> str | None:
    """Which of ``dists`` installed the copy of ``module`` that an import would load, found without
    importing it (``None`` where that cannot be told, e.g. both in one folder)."""
    import importlib.util
    from importlib import metadata

    spec = importlib.util.find_spec(module)
    if spec is None or not spec.origin:
        return None
    folder = Path(spec.origin).resolve().parent.parent
    owners = [d for d in dists if Path(metadata.distribution(d).locate_file("")).resolve() == folder]
    return owners[0] if len(owners) == 1 else None
