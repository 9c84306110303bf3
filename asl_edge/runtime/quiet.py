"""Silences what native runtimes print on file descriptor 2 while they load.

TensorFlow's C++ start-up (``cudart_stub``, ``cuInit`` on machines without a GPU) logs before
absl::InitializeLog() runs, when absl ignores every threshold, so TF_CPP_MIN_LOG_LEVEL cannot
silence it (https://github.com/tensorflow/tensorflow/pull/102212,
https://github.com/abseil/abseil-cpp/pull/1957); LiteRT prints "Created TensorFlow Lite XNNPACK
delegate" the same way. Those lines would bury asl-edge's one-line errors. ``ASL_EDGE_NATIVE_LOGS=1``
shows them.
"""

from __future__ import annotations

import contextlib
import os


@contextlib.contextmanager
def quiet_native_stderr():
    """Points fd 2 at /dev/null for the duration of the block (Python exceptions still propagate)."""
    if os.environ.get("ASL_EDGE_NATIVE_LOGS") == "1":
        yield
        return
    saved = os.dup(2)
    try:
        with open(os.devnull, "w") as null:
            os.dup2(null.fileno(), 2)
            yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
