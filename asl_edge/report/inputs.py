"""Reading the report's inputs: benchmark results files and the ARM64 emulation check (its schema)."""

from __future__ import annotations

import logging
from pathlib import Path

from asl_edge.runtime.errors import DataError

log = logging.getLogger(__name__)


CHECK_KIND = "arm64-emulation-check"
LAYER_REPORT_KIND = "layer-report"  # asl_edge.export.layers.REPORT_KIND (the report reads it without importing export)
ARCHITECTURES_KIND = "architecture-comparison"  # written by benchmarks/compare_architectures.py
ARCHITECTURE_FIELDS = ("model", "params", "macs", "accuracy", "int8_accuracy", "int8_size_bytes", "latency_ms_p50",
                       "train_seconds")


# -- loading --------------------------------------------------------------------------------------
def validate_check(doc, name: str = "check") -> dict:
    """Checks that ``doc`` is an ARM64 emulation check document (``benchmarks/arm64_check.sh``).

    Raises:
        DataError: not a check document, or a result without artifact or status.
    """
    if not isinstance(doc, dict) or doc.get("kind") != CHECK_KIND or not isinstance(doc.get("results"), list):
        raise DataError(f"{name} is not an asl-edge ARM64 emulation check file")
    for i, row in enumerate(doc["results"]):
        if not isinstance(row, dict) or "artifact" not in row or "status" not in row:
            raise DataError(f"{name}: check result {i} lacks artifact or status")
    return doc


def validate_layer_report(doc, name: str = "layer report") -> dict:
    """Checks that ``doc`` is an export's ``layer_report.json`` (``asl-edge export --layer-report``).

    Raises:
        DataError: not a layer report, or a row without layer or error.
    """
    if not isinstance(doc, dict) or doc.get("kind") != LAYER_REPORT_KIND or not isinstance(doc.get("layers"), list):
        raise DataError(f"{name} is not an asl-edge layer report")
    for i, row in enumerate(doc["layers"]):
        if not isinstance(row, dict) or not {"layer", "nsr", "macs_share", "size_share"} <= set(row):
            raise DataError(f"{name}: layer row {i} lacks layer, nsr, macs_share or size_share")
    return doc


def validate_architectures(doc, name: str = "comparison") -> dict:
    """Checks that ``doc`` is an architecture comparison (``benchmarks/compare_architectures.py``).

    Raises:
        DataError: not a comparison, or a row without one of :data:`ARCHITECTURE_FIELDS` as a number.
    """
    if not isinstance(doc, dict) or doc.get("kind") != ARCHITECTURES_KIND or not isinstance(doc.get("results"), list):
        raise DataError(f"{name} is not an asl-edge architecture comparison")
    for i, row in enumerate(doc["results"]):
        if not isinstance(row, dict) or not isinstance(row.get("model"), str):
            raise DataError(f"{name}: comparison row {i} has no model name")
        bad = [k for k in ARCHITECTURE_FIELDS[1:]
               if isinstance(row.get(k), bool) or not isinstance(row.get(k), (int, float))]
        if bad:
            raise DataError(f"{name}: comparison row {i} ({row['model']:.40}) lacks a number for {', '.join(bad)}")
    return doc


def load_check(path: str | Path) -> dict:
    """Reads and validates an ARM64 emulation check file.

    Raises:
        DataError: missing, not JSON, or not a check file.
    """
    from asl_edge.bench.results import read_json

    return validate_check(read_json(path), str(path))


def load_inputs(paths) -> tuple[list[dict], list[dict]]:
    """Splits the given files into benchmark results and side documents (ARM64 checks, layer reports).

    A file that is neither (another kind of results JSON, say ``benchmarks/results/holdout/*.json``)
    is skipped with one warning line, so ``asl-edge report pi4.json benchmarks/results/**/*.json``
    works as people type it.

    Raises:
        DataError: a missing or unreadable file, or no usable file at all.
    """
    from asl_edge.bench.results import read_json, validate_results

    results, checks, skipped = [], [], []
    for p in paths:
        doc = read_json(p)
        try:
            if isinstance(doc, dict) and doc.get("kind") == CHECK_KIND:
                checks.append(validate_check(doc, str(p)))
            elif isinstance(doc, dict) and doc.get("kind") == LAYER_REPORT_KIND:  # an export's layer_report.json
                checks.append(validate_layer_report(doc, str(p)))
            elif isinstance(doc, dict) and doc.get("kind") == ARCHITECTURES_KIND:
                checks.append(validate_architectures(doc, str(p)))
            else:
                results.append(validate_results(doc, str(p)))
        except DataError as exc:
            skipped.append(exc)
    if not results and not checks:
        if len(skipped) == 1:
            raise skipped[0]
        raise DataError(f"none of the {len(skipped)} files is an asl-edge benchmark results or ARM64 check file "
                        f"(first: {skipped[0]})")
    for exc in skipped:
        log.warning("skipped %s", exc)
    return results, checks
