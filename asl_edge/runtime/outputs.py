"""Where commands write by default: under ``./runs/``, never into a tracked folder.

As Ultralytics does (``runs/train``, ``runs/export``, ...): one folder per stage under ``runs/``
in the working directory. Only ``make models`` / ``make bench`` write the committed references
(``models/``, ``export/``, ``benchmarks/``), and they pass ``--out`` to do it.
"""

from __future__ import annotations

from pathlib import Path

RUNS = Path("runs")


def default_out(stage: str, name: str | None = None) -> Path:
    """``runs/<stage>[/<name>]``, e.g. ``runs/train/edge_cnn-fast``."""
    return RUNS / stage / name if name else RUNS / stage
