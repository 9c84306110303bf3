"""The benchmark results file: its schema, how it is measured (METHOD), reading, validating and writing."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

from asl_edge.runtime.errors import DataError
from asl_edge.runtime.fmt import count, percent, plural
from asl_edge.runtime.fsutil import atomic_write_json

SCHEMA = 1


KIND = "benchmark"


REQUIRED = ("artifact", "runtime", "threads", "accuracy", "size_bytes", "latency_ms", "throughput_ips", "status")


METHOD = {
    "latency": "single image, time.perf_counter around Runner.predict after warm-up; percentiles over the timed "
               "runs of the row's round with the lowest p50 (rounds interleaved across rows; every round in 'rounds')",
    "throughput": "images/s over repeated calls of one batch; the highest of the row's rounds",
    "load": "file to a runner ready to predict, the runtime's module already imported",
    "memory": "peak resident set size of the process during the row: VmHWM after resetting it through "
              "/proc/self/clear_refs (Linux); the process's lifetime ru_maxrss where that is unavailable. "
              "glibc's mmap threshold is fixed at 1 MiB so that freed arrays leave the RSS at once. "
              "rss_growth_mb: that peak minus the RSS before the artifact was loaded",
    "keras": "each Keras row runs in a process of its own, all its rounds (TensorFlow fixes its thread pools once "
             "per process)",
}


# -- files ----------------------------------------------------------------------------------------
def save_results(doc: dict, dest: str | Path) -> Path:
    """Writes a results document atomically (temporary file, then rename)."""
    return atomic_write_json(dest, doc)


def check_results_dest(dest: str | Path, force: bool = False) -> None:
    """Refuses ``--out`` when it names something other than a new file or (with ``force``) an earlier
    results file.

    Args:
        dest: the results file to write.
        force: replace an earlier asl-edge benchmark results file.

    Raises:
        DataError: a folder, a link, a pipe or device, a file inside a training run folder, a
            file that is not asl-edge benchmark results (no command overwrites a file it did not
            write), or an earlier results file without ``force``.
    """
    from asl_edge.runtime.fsutil import printable
    from asl_edge.runtime.outfolder import refuse_run_folder

    dest = Path(dest)
    refuse_run_folder(dest)
    if not os.path.lexists(dest):
        return
    if dest.is_dir():
        raise DataError(f"--out {printable(dest)} is a folder: give a file name for the results JSON")
    if dest.is_symlink():
        raise DataError(f"--out {printable(dest)} is a symbolic link: refusing to write through it; give a file name")
    try:
        load_results(dest)
    except DataError:
        raise DataError(f"--out {printable(dest)} exists and is not an asl-edge benchmark results file: "
                        "refusing to overwrite it; choose another name") from None
    if not force:
        raise DataError(f"{printable(dest)} already holds benchmark results: use --force to replace them, "
                        "or --out elsewhere")


def validate_results(doc, name: str = "results") -> dict:
    """Checks that ``doc`` is a benchmark results document.

    Raises:
        DataError: one line naming what is wrong.
    """
    if not isinstance(doc, dict) or doc.get("schema") != SCHEMA or doc.get("kind", KIND) != KIND:
        raise DataError(f"{name} is not an asl-edge benchmark results file (schema {SCHEMA})")
    if not isinstance(doc.get("machine"), dict) or not isinstance(doc.get("results"), list):
        raise DataError(f"{name} is not an asl-edge benchmark results file: 'machine' or 'results' is missing")
    if not isinstance(doc.get("data", {}), dict):
        raise DataError(f"{name}: 'data' must be an object")
    for i, row in enumerate(doc["results"]):
        if not isinstance(row, dict):
            raise DataError(f"{name}: result {i} is not an object")
        missing = [k for k in REQUIRED if k not in row]
        if missing:
            raise DataError(f"{name}: result {i} lacks {', '.join(missing)}")
        if row["status"] == "ok":
            lat = row["latency_ms"]
            if not isinstance(lat, dict) or any(
                not isinstance(lat.get(k), (int, float)) for k in ("p50", "p90", "p99")
            ):
                raise DataError(f"{name}: result {i} ({row['artifact']}) has no latency_ms p50/p90/p99")
            if not isinstance(row["accuracy"], (int, float)) or not 0 <= row["accuracy"] <= 1:
                raise DataError(f"{name}: result {i} ({row['artifact']}) has an accuracy outside [0, 1]")
    return doc


def read_json(path: str | Path):
    """The parsed content of a results or check file.

    Raises:
        DataError: missing or not JSON.
    """
    from asl_edge.runtime.fsutil import printable, read_regular

    path = Path(path)
    if not path.exists():
        raise DataError(f"results file not found: {printable(path)}")
    raw = read_regular(path, DataError, "results file", 64 << 20)
    try:
        return json.loads(raw.decode("utf-8"))
    except (ValueError, UnicodeDecodeError):
        raise DataError(f"{printable(path)} is not JSON") from None
    except RecursionError:
        raise DataError(f"{printable(path)} is nested too deeply") from None


def load_results(path: str | Path) -> dict:
    """Reads and validates a results file.

    Raises:
        DataError: missing, not JSON, or not asl-edge benchmark results.
    """
    return validate_results(read_json(path), str(path))


# -- the Python API's view ------------------------------------------------------------------------
@dataclass(frozen=True)
class BenchRow:
    """One measured row: an artifact on one runtime, device and thread count (``None``: a GPU row).
    ``accuracy``, ``p50_ms`` and ``throughput_ips`` are ``None`` where the row was not measured
    (``status`` says why); ``data`` is what the accuracy was measured on."""

    artifact: str
    runtime: str | None
    device: str
    threads: int | None
    size_bytes: int
    accuracy: float | None
    p50_ms: float | None
    throughput_ips: float | None
    status: str
    data: str = ""

    @classmethod
    def from_dict(cls, r: dict) -> BenchRow:
        return cls(r["artifact"], r.get("runtime"), r.get("device", "cpu"), r.get("threads"), int(r["size_bytes"]),
                   r.get("accuracy"), (r.get("latency_ms") or {}).get("p50"), r.get("throughput_ips"), r["status"],
                   r.get("data") or "")

    def __repr__(self) -> str:
        where = f"{self.runtime or '-'}, {self.device}"
        where += f", {plural(self.threads, 'thread')}" if self.threads else ""
        if self.status != "ok":
            return f"BenchRow('{self.artifact}', {where}: {self.status})"
        return (f"BenchRow('{self.artifact}', {where}: {percent(self.accuracy)}, {self.p50_ms:.3f} ms p50, "
                f"{count(self.throughput_ips)} images/s)")


@dataclass(frozen=True)
class BenchmarkResult:
    """What :func:`asl_edge.benchmark` returns: every row (``rows``), the data each accuracy was
    measured on (``data``), the results file when one was written (``json_path``) and the whole
    results document (``document``, the schema ``asl-edge report`` reads)."""

    rows: tuple[BenchRow, ...]
    data: tuple[str, ...]
    json_path: Path | None
    document: dict = field(repr=False, compare=False)

    @classmethod
    def from_document(cls, doc: dict, json_path: str | Path | None = None) -> BenchmarkResult:
        return cls(tuple(BenchRow.from_dict(r) for r in doc["results"]), tuple(doc["data"]["sets"]),
                   Path(json_path) if json_path else None, doc)

    @property
    def measured(self) -> tuple[BenchRow, ...]:
        """The rows measured here (``status`` ok)."""
        return tuple(r for r in self.rows if r.status == "ok")

    @property
    def fastest(self) -> BenchRow | None:
        """The measured row with the lowest p50 latency."""
        return min(self.measured, key=lambda r: r.p50_ms, default=None)

    def __repr__(self) -> str:
        fastest = self.fastest
        best = f", fastest={fastest!r}" if fastest else ""
        where = f", json='{self.json_path}'" if self.json_path else ""
        return (f"BenchmarkResult({plural(len(self.rows), 'row')}, {len(self.measured)} measured{best}{where})")
