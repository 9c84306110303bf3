"""Where a row is measured: in this process, or (Keras rows) in a spawned process of its own."""

from __future__ import annotations

from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path

from asl_edge.bench.memory import return_freed_memory
from asl_edge.runtime.errors import AslEdgeError

RUNTIME_MODULES = {
    "litert": "ai_edge_litert.interpreter",
    "onnxruntime": "onnxruntime",
    "keras": "asl_edge.keras_compat",
}


def import_runtime(path: Path) -> None:
    """Imports the artifact's runtime first, so that load_ms is the model's load alone, equally for
    every row (the first row of a runtime would otherwise also pay for importing it)."""
    import importlib

    from asl_edge.runtime.formats import format_for_path
    from asl_edge.runtime.quiet import quiet_native_stderr

    module = RUNTIME_MODULES.get(format_for_path(path).runtime)
    try:
        with quiet_native_stderr():
            importlib.import_module(module)
    except (ImportError, AslEdgeError):
        pass  # load_runner raises the one-line RuntimeUnavailable for a missing runtime


def _quietly(fn, *args) -> dict:
    from asl_edge.runtime.quiet import quiet_native_stderr

    return_freed_memory()
    with quiet_native_stderr():  # TensorFlow's native start-up lines in the child process
        return fn(*args)


class Measurer:
    """Runs a row's measurements in this process, or, for a Keras row, in a process of its own
    that lives as long as the row's rounds (TensorFlow fixes its thread pools once per process).

    "spawn", not fork: a forked child would inherit the parent's TensorFlow state, if any.
    """

    def __init__(self, own_process: bool):
        self._pool = ProcessPoolExecutor(max_workers=1, mp_context=get_context("spawn")) if own_process else None

    def __call__(self, fn, *args) -> dict:
        return self._pool.submit(_quietly, fn, *args).result() if self._pool else fn(*args)

    def close(self) -> None:
        if self._pool:
            self._pool.shutdown()
