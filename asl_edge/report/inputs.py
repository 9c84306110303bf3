"""Reading the report's inputs: benchmark results files and the ARM64 emulation check (its schema)."""

from __future__ import annotations

import logging
from pathlib import Path

from asl_edge.runtime.errors import DataError

log = logging.getLogger(__name__)


CHECK_KIND = "arm64-emulation-check"
LAYER_REPORT_KIND = "layer-report"  # asl_edge.export.layers.REPORT_KIND (the report reads it without importing export)
ARCHITECTURES_KIND = "architecture-comparison"  # written by benchmarks/compare_architectures.py
MUTATION_KIND = "mutation-testing"  # benchmarks/mutation.py (the test suite's mutation score)
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
    from asl_edge.report import schema

    return schema.validate(validate_check(read_json(path), str(path)), schema.CHECK, str(path))


def _kind(doc) -> tuple[str, object] | None:
    """Which of the report's inputs ``doc`` claims to be: ``(kind, schema table)``, or None for
    a file of another kind (skipped with a warning)."""
    from asl_edge.bench.results import KIND, SCHEMA
    from asl_edge.report import schema

    if not isinstance(doc, dict):
        return None
    kinds = {CHECK_KIND: schema.CHECK, LAYER_REPORT_KIND: schema.LAYER_REPORT, ARCHITECTURES_KIND: schema.ARCHITECTURES,
             MUTATION_KIND: schema.MUTATION}
    if doc.get("kind") in kinds:
        return doc["kind"], kinds[doc["kind"]]
    if doc.get("schema") == SCHEMA and doc.get("kind", KIND) == KIND:
        return KIND, schema.RESULTS
    return None


def load_inputs(paths) -> tuple[list[dict], list[dict]]:
    """Splits the given files into benchmark results and side documents (ARM64 checks, layer reports).

    Each file is checked against the report's input schema (:mod:`asl_edge.report.schema`: every
    field it reads, with its type and bounds) before anything is drawn, and comes back cleaned (its
    strings safe to print). A file that is none of these kinds (another kind of results JSON, say
    ``benchmarks/results/holdout/*.json``) is skipped with one warning line, so ``asl-edge report
    pi4.json benchmarks/results/**/*.json`` works as people type it; a file of one of these kinds
    with a field of the wrong type or out of bounds is an error.

    Raises:
        DataError: a missing, unreadable or malformed file (one line naming the file and the
            field), too many files or rows, or no usable file at all.
    """
    from asl_edge.bench.results import read_json, validate_results
    from asl_edge.report import schema

    paths = list(paths)
    if len(paths) > schema.MAX_FILES:
        raise DataError(f"{len(paths)} results files: a report takes at most {schema.MAX_FILES}")
    validators = {CHECK_KIND: validate_check, LAYER_REPORT_KIND: validate_layer_report,
                  ARCHITECTURES_KIND: validate_architectures, MUTATION_KIND: lambda doc, name: doc}
    results, checks, skipped = [], [], []
    for p in paths:
        doc, name = read_json(p), str(p)
        kind = _kind(doc)
        try:
            if kind is None:
                validate_results(doc, name)  # the reason it is not results, for the warning
                raise DataError(f"{name} is not an asl-edge benchmark results file")
        except DataError as exc:
            skipped.append(exc)
            continue
        doc = validators.get(kind[0], validate_results)(doc, name)
        doc = schema.validate(doc, kind[1], name)
        (checks if kind[0] in validators else results).append(doc)
    if sum(len(d["results"]) for d in results) > schema.MAX_TOTAL_ROWS:
        raise DataError(f"the results files hold more than {schema.MAX_TOTAL_ROWS} rows together: report fewer "
                        "files at a time")
    if not results and not checks:
        if len(skipped) == 1:
            raise skipped[0]
        raise DataError(f"none of the {len(skipped)} files is an asl-edge benchmark results or ARM64 check file "
                        f"(first: {skipped[0]})")
    for exc in skipped:
        log.warning("skipped %s", exc)
    return results, checks
