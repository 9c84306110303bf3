"""asl-edge: train ASL hand-sign classifiers and ship them, compressed, to edge devices.

Importing this package never imports TensorFlow; only :mod:`asl_edge.keras_compat` does.
"""

__version__ = "0.1.0"
