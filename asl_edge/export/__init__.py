"""Export: compression, conversion to TFLite and ONNX, verification and the manifest."""

import sys
import types

from asl_edge.export.pipeline import ExportConfig, export_run

__all__ = ["ExportConfig", "export_run"]


class _CallablePackage(types.ModuleType):
    """``asl_edge.export`` is both this package and the public API function: importing the package
    (``from asl_edge.export import ExportConfig``, as the README does) makes Python bind the name on
    ``asl_edge`` to the package, which would hide the function. Calling the package calls the function."""

    def __call__(self, *args, **kwargs):
        from asl_edge.api import export

        return export(*args, **kwargs)


sys.modules[__name__].__class__ = _CallablePackage
