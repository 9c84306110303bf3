"""Export: compression, conversion to TFLite and ONNX, verification and the manifest."""

from asl_edge.export.pipeline import ExportConfig, export_run

__all__ = ["ExportConfig", "export_run"]
