"""Export: compression, conversion to TFLite and ONNX, verification and the manifest."""

import sys
import types

from asl_edge.export.pipeline import ExportConfig, export_run

__all__ = ["ExportConfig", "export_run"]


class _CallablePackage(types.ModuleType):
    """``asl_edge.export`` is both this package and the public API function: importing the package
    (``from asl_edge.export import ExportConfig``, as the README does) makes Python bind the name on
    ``asl_edge`` to the package, which would hide the function. Calling the package calls the function."""

    def __call__(self, run, config=None, out=None, force: bool = False):
        """:func:`asl_edge.api.export`: ``export_run`` with fp32 TFLite and ONNX by default, as an
        :class:`~asl_edge.export.result.ExportResult`."""
        from asl_edge.export.result import ExportResult
        from asl_edge.runtime.extras import TRAIN_MODULES, need_extra

        need_extra("train", *TRAIN_MODULES)  # as asl_edge.api.export: one line, not a ModuleNotFoundError
        return ExportResult.from_manifest(export_run(run, config or ExportConfig(), out, force))


sys.modules[__name__].__class__ = _CallablePackage
