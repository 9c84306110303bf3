"""Where a row is measured: in this process, or (Keras rows) in a spawned process of its own."""

from __future__ import annotations

import os
import pickle
import struct
import subprocess
import tempfile
from concurrent.futures.process import BrokenProcessPool
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


# The measuring process's loop: reads ``(fn, args)`` pickles on stdin, answers ``(ok, value)``
# pickles on stdout. Started by runtime.runners.isolated_python, which sets sys.path first.
_WORKER = """
import json, sys
sys.path[:] = json.loads(sys.argv[1])
import os
from asl_edge.bench.isolation import serve
serve(sys.stdin.buffer, os.fdopen(os.dup(1), "wb"))
"""


def _send(stream, obj) -> None:
    data = pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)
    stream.write(struct.pack("<Q", len(data)) + data)
    stream.flush()


def _receive(stream):
    head = stream.read(8)
    if len(head) < 8:
        raise EOFError
    (n,) = struct.unpack("<Q", head)
    data = stream.read(n)
    if len(data) < n:
        raise EOFError
    return pickle.loads(data)


def serve(requests, answers) -> None:
    """The measuring process: runs each ``(fn, args)`` it is sent and sends back its result or its
    exception, until its input closes. stdout is pointed at stderr, so that a runtime printing to
    it cannot corrupt the answers."""
    os.dup2(2, 1)
    while True:
        try:
            fn, args = _receive(requests)
        except EOFError:
            return
        try:
            answer = (True, _quietly(fn, *args))
        except Exception as exc:  # sent back whole, raised again in the caller (as a pool would)
            try:
                pickle.dumps(exc)
                answer = (False, exc)
            except Exception:  # noqa: BLE001 - an exception that does not pickle
                answer = (False, RuntimeError(f"{type(exc).__name__}: {exc}"))
        _send(answers, answer)


class Measurer:
    """Runs a row's measurements in this process, or, for a Keras row, in a process of its own
    that lives as long as the row's rounds (TensorFlow fixes its thread pools once per process).

    A fresh interpreter, not a fork (a forked child would inherit the parent's TensorFlow state,
    if any), started isolated in a private folder (:func:`asl_edge.runtime.runners.isolated_python`):
    multiprocessing's spawn start method runs ``python -c`` with the working folder first on
    sys.path, so a ``multiprocessing/__init__.py`` beside a downloaded model would run in it.
    """

    def __init__(self, own_process: bool):
        self._own = own_process
        self._proc = None
        self._folder = None

    def _start(self):
        from asl_edge.runtime.runners import isolated_python

        self._folder = tempfile.TemporaryDirectory(prefix="asl-edge-measure-")
        self._proc = subprocess.Popen(isolated_python(_WORKER), cwd=self._folder.name, stdin=subprocess.PIPE,
                                      stdout=subprocess.PIPE)

    def __call__(self, fn, *args) -> dict:
        if not self._own:
            return fn(*args)
        if self._proc is None:
            self._start()
        # the measuring process runs in its own folder: relative paths would not find the artifact
        args = tuple(a.absolute() if isinstance(a, Path) else a for a in args)
        try:
            _send(self._proc.stdin, (fn, args))
            ok, value = _receive(self._proc.stdout)
        except (EOFError, BrokenPipeError, OSError):
            self.close()
            raise BrokenProcessPool("the measuring process died") from None
        if not ok:
            raise value
        return value

    def close(self) -> None:
        if self._proc is not None:
            try:
                self._proc.stdin.close()
                self._proc.wait(timeout=60)
            except (OSError, subprocess.TimeoutExpired):
                self._proc.kill()
                self._proc.wait()
            self._proc = None
        if self._folder is not None:
            self._folder.cleanup()
            self._folder = None
