"""``asl-edge report``: benchmark results from one or several machines as a readable report.

analysis (what the numbers say) <- plots, document (Markdown + HTML) <- render (the sections);
inputs reads and validates the results files and the ARM64 emulation check.
"""

from asl_edge.report.analysis import int8_vs_fp32, recommend, repeatability, table, worst_shift
from asl_edge.report.inputs import CHECK_KIND, load_check, load_inputs, validate_check
from asl_edge.report.render import render

__all__ = ["CHECK_KIND", "int8_vs_fp32", "load_check", "load_inputs", "recommend", "render", "repeatability",
           "table", "validate_check", "worst_shift"]
