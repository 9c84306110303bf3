"""asl-edge: train ASL hand-sign classifiers and ship them, compressed, to edge devices.

Public API (see :mod:`asl_edge.api`)::

    import asl_edge
    model = asl_edge.load("model_int8.tflite")   # runtime-only install: no TensorFlow
    model.predict("photo.jpg")                   # Result(label, probability, top, source, box, hand_found)
    asl_edge.train("fast"); asl_edge.export("runs/train/edge_cnn-fast"); asl_edge.benchmark([...])  # typed results

Layers, each importing only those below it::

    runtime/  (TF-free: preprocessing, formats, metadata, integrity, runners, predict, metrics)
      <- data/, models/  <- training/, export/  <- bench/, report/  <- cli/, api

Importing the package never imports TensorFlow; only :mod:`asl_edge.keras_compat` does.
"""

__version__ = "0.2.0"

from asl_edge import models  # noqa: E402,F401  (registers the model builders and the Keras runtime)
from asl_edge.api import benchmark, export, load, train  # noqa: E402

__all__ = ["__version__", "benchmark", "export", "load", "train"]
