"""The optional extras (setup.cfg's ``extras_require``) and the one hint that installs a missing one.

asl-edge is installed from its git checkout, not from a package index, so a hint asking pip for
the package ``asl-edge`` with an extra would send a newcomer to a package that does not exist. Every
"this needs an extra" message builds its command with :func:`install_hint`, which names the
checkout the running package was imported from when there is one.
"""

from __future__ import annotations

import importlib.util
import shlex
from pathlib import Path

from asl_edge.runtime.errors import MissingDependencyError

# The extras setup.cfg defines, each with what it is for (tests/test_predict.py checks setup.cfg has them).
EXTRAS = {
    "pi": "the runtime-only device install (LiteRT, ONNX Runtime; no TensorFlow)",
    "train": "training, export, plots and reports (TensorFlow)",
    "camera": "the camera loop and hand masks (OpenCV)",
    "gpu": "GPU rows of benchmark (onnxruntime-gpu)",
    "micro": "TFLite Micro bundles, Ethos-U compiles and int4 weights",
    "dev": "the test suite and linters",
}

# What each command that is not runtime-only needs, checked before any work starts.
TRAIN_MODULES = ("yaml", "tensorflow", "tf_keras", "sklearn")
PLOT_MODULES = ("matplotlib", "sklearn")
# The micro extra, by export option: TFLite Micro bundles, Ethos-U compiles, int4 weights.
MICRO_MODULES = {"micro": ("tflite_micro",), "npu": ("ethosu",), "int4": ("ai_edge_quantizer",)}


def checkout() -> Path | None:
    """The asl-edge git checkout this package runs from (an editable install or ``PYTHONPATH``),
    or ``None`` for a copy installed into site-packages."""
    root = Path(__file__).resolve().parents[2]
    setup = root / "setup.cfg"
    try:
        return root if setup.is_file() and "name = asl-edge" in setup.read_text(encoding="utf-8") else None
    except (OSError, UnicodeDecodeError):
        return None


def install_hint(extra: str) -> str:
    """The command that installs ``extra`` into the running environment, e.g.
    ``pip install -e '/home/pi/asl-edge[camera]'``.

    Raises:
        ValueError: an extra setup.cfg does not define (a programming error, never the user's).
    """
    if extra not in EXTRAS:
        raise ValueError(f"unknown extra '{extra}'; setup.cfg defines: {', '.join(EXTRAS)}")
    root = checkout()
    if root is not None:
        return f"pip install -e {shlex.quote(f'{root}[{extra}]')}"
    return f"pip install '.[{extra}]' in your asl-edge checkout"


def missing(what: str, extra: str) -> MissingDependencyError:
    """The one-line error for a missing extra: ``<what> is not installed: <install command>``."""
    return MissingDependencyError(f"{what} is not installed: {install_hint(extra)}")


def need_extra(extra: str, *modules: str) -> None:
    """Raises the one-line install hint when one of ``modules`` is missing.

    Looks the modules up without importing them: importing TensorFlow here would print its native
    start-up lines outside :mod:`asl_edge.keras_compat`'s quiet block.

    Raises:
        MissingDependencyError: naming the first missing module, the extra and its install command.
    """
    for module in modules:
        if importlib.util.find_spec(module) is None:
            raise missing(f"'{module}' (the {extra} extra: {EXTRAS[extra]})", extra)


def require(module: str, extra: str):
    """Imports ``module`` or raises a one-line error naming the extra that provides it.

    Args:
        module: dotted module name.
        extra: the extra that installs it (:data:`EXTRAS`).

    Returns:
        The imported module.
    """
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise missing(f"'{module}' (the {extra} extra: {EXTRAS[extra]})", extra) from exc
