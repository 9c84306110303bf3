"""The report's input schema: every field the report reads from a results file, with its type and bounds.

One table per kind of input (:data:`RESULTS`, :data:`CHECK`, :data:`LAYER_REPORT`,
:data:`ARCHITECTURES`), checked by :func:`validate` before anything is rendered, so a file of the
wrong shape ends in one line naming the file and the field (``pi4.json: results[3].accuracy: expected
a number in [0, 1], got 'high'``) instead of a ``TypeError`` from deep inside a plot, and a file too
large to draw (a 1500x1500 confusion matrix, 3000 artifacts) is refused before any drawing starts.

:func:`validate` returns a cleaned copy: every string from the file has its control characters
escaped (:func:`~asl_edge.runtime.fsutil.printable`) and cannot open or close a Markdown code span or
link; :mod:`asl_edge.report.document` escapes HTML in both outputs. Fields the report does not
read pass through unchecked (a newer benchmark may add some).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from asl_edge.runtime.bounds import Range
from asl_edge.runtime.errors import DataError
from asl_edge.runtime.fsutil import printable

MAX_ROWS = 200  # result rows per file: artifacts x runtimes x thread counts of one benchmark
MAX_CLASSES = 100  # labels and confusion-matrix side (ASL digits: 10; the alphabet: 26)
MAX_SHIFTS = 100  # camera shifts per row (the suite has 28)
MAX_ROUNDS = 1000
MAX_TEXT = 2000  # characters of one string (a note, a status line)
MAX_NAME = 255  # characters of a name (artifact, runtime, device)
MAX_LIST = 100  # items of a small list (ISA flags, warnings, data sets)
MAX_FILES = 1000  # results files in one report (the committed benchmarks/results/ hold about 200, all read at once)
MAX_TOTAL_ROWS = 2000  # result rows over all files

SHARE = Range(0.0, 1.0)
COUNT = Range(0, 2**53)
POSITIVE = Range(0.0, None)


# -- field types ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class Str:
    max_len: int = MAX_NAME

    def check(self, value, where: str):
        if not isinstance(value, str):
            _fail(where, "a string", value)
        if len(value) > self.max_len:
            _fail(where, f"a string of at most {self.max_len} characters", f"{len(value)} characters")
        return clean(value)


@dataclass(frozen=True)
class Num:
    rng: Range = POSITIVE
    integer: bool = False

    def check(self, value, where: str):
        kind = "an integer" if self.integer else "a number"
        if isinstance(value, bool) or not isinstance(value, int if self.integer else (int, float)) \
                or value not in self.rng:
            _fail(where, f"{kind} in {self.rng}", value)
        return value


@dataclass(frozen=True)
class Bool:
    def check(self, value, where: str):
        if not isinstance(value, bool):
            _fail(where, "true or false", value)
        return value


@dataclass(frozen=True)
class Opt:
    """``None`` or ``inner``."""

    inner: object

    def check(self, value, where: str):
        return None if value is None else self.inner.check(value, where)


@dataclass(frozen=True)
class List:
    item: object
    max_items: int = MAX_LIST

    def check(self, value, where: str):
        if not isinstance(value, list):
            _fail(where, "a list", value)
        if len(value) > self.max_items:
            _fail(where, f"a list of at most {self.max_items} items", f"{len(value)} items")
        return [self.item.check(v, f"{where}[{i}]") for i, v in enumerate(value)]


@dataclass(frozen=True)
class Map:
    """An object with names of the caller's choosing (artifacts, shifts, runtimes)."""

    value: object
    max_items: int = MAX_LIST

    def check(self, value, where: str):
        if not isinstance(value, dict):
            _fail(where, "an object", value)
        if len(value) > self.max_items:
            _fail(where, f"an object of at most {self.max_items} entries", f"{len(value)} entries")
        return {Str().check(k, f"{where} key"): self.value.check(v, f"{where}.{printable(k)[:40]}")
                for k, v in value.items()}


@dataclass(frozen=True)
class Obj:
    """An object with known fields (``required`` ones must be present); other fields pass unchecked."""

    fields: dict
    required: tuple = ()

    def check(self, value, where: str):
        if not isinstance(value, dict):
            _fail(where, "an object", value)
        missing = [k for k in self.required if k not in value]
        if missing:
            raise DataError(f"{where}: lacks {', '.join(missing)}")
        out = dict(value)
        for key, kind in self.fields.items():
            if key in value:
                out[key] = kind.check(value[key], f"{where}.{key}" if where else key)
        return out


@dataclass(frozen=True)
class Matrix:
    """A square matrix of counts, at most ``side`` rows."""

    side: int = MAX_CLASSES

    def check(self, value, where: str):
        import numpy as np

        n = len(value) if isinstance(value, list) else -1
        if n > self.side:
            _fail(where, f"a square matrix of at most {self.side} rows", f"{n} items")
        if n < 0 or not all(isinstance(r, list) and len(r) == n for r in value):
            _fail(where, f"a square matrix of counts (at most {self.side} rows)", value if n < 0 else "other lengths")
        counts = np.array(value, dtype=object).reshape(n, n)  # one pass in C, no Python loop per cell
        kinds = {type(v) for v in counts.flat}
        if not kinds <= {int} or (n and min(counts.flat) < 0):
            _fail(where, "a square matrix of counts (integers >= 0)", next((v for v in counts.flat
                                                                             if type(v) is not int or v < 0), None))
        return value


@dataclass(frozen=True)
class Rows:
    """A list of rows that must each hold ``when_ok`` fields once their status is ``ok``."""

    row: Obj
    max_items: int = MAX_ROWS
    when_ok: dict = field(default_factory=dict)

    def check(self, value, where: str):
        rows = List(self.row, self.max_items).check(value, where)
        for i, r in enumerate(rows):
            if r.get("status") == "ok":
                Obj(self.when_ok, tuple(self.when_ok)).check(r, f"{where}[{i}]")
        return rows


def _fail(where: str, expected: str, got) -> None:
    shown = got if isinstance(got, str) and got.endswith(("items", "entries", "characters", "lengths")) \
        else printable(repr(got))[:60]
    raise DataError(f"{where}: expected {expected}, got {shown}")


def clean(text: str) -> str:
    """A string from a results file as the report may print it: control characters escaped, no
    backtick (it would open or close a code span) and no Markdown link (``](``)."""
    return printable(text).replace("`", "'").replace("](", "] (")


# -- the tables ----------------------------------------------------------------------------------
NAME, TEXT, OPT_NAME = Str(), Str(MAX_TEXT), Opt(Str())
MS = Num(Range(0.0, 1e7))
LATENCY = Obj({"p50": MS, "p90": MS, "p99": MS, "mean": MS}, ("p50", "p90", "p99"))
MACHINE = Obj({"device": OPT_NAME, "cpu": OPT_NAME, "board": OPT_NAME, "arch": OPT_NAME, "os": OPT_NAME,
               "python": OPT_NAME, "gpu": OPT_NAME, "cores": Opt(Num(Range(1, 65_536), integer=True)),
               "isa": Opt(List(NAME)), "int8_dot": Opt(Bool()), "runtimes": Opt(Map(OPT_NAME))})
ROW = Obj({
    "artifact": NAME, "format": OPT_NAME, "precision": OPT_NAME, "runtime": OPT_NAME, "device": OPT_NAME,
    "threads": Opt(Num(Range(1, 4096), integer=True)), "status": TEXT,
    "size_bytes": Num(COUNT, integer=True), "size_gzip_bytes": Opt(Num(COUNT, integer=True)),
    "macs": Opt(Num(COUNT, integer=True)), "num_samples": Opt(Num(COUNT, integer=True)),
    "accuracy": Opt(Num(SHARE)), "latency_ms": Opt(Map(Opt(MS), 16)), "throughput_ips": Opt(Num()),
    "load_ms": Opt(MS), "peak_rss_mb": Opt(Num()), "confusion_matrix": Opt(Matrix()),
    "shifts": Opt(Map(Obj({"accuracy": Opt(Num(SHARE))}), MAX_SHIFTS)),
    "rounds": Opt(List(Obj({"p50": MS}, ("p50",)), MAX_ROUNDS)),
    # what the row's accuracy was measured on (printed in "Deploy this"), and which use case it serves
    "data": Opt(TEXT), "hand_localiser": Opt(Bool()), "localiser_macs": Opt(Num(COUNT, integer=True)),
    # "Below the Pi" rows (asl_edge.bench.below_pi): TFLite Micro figures and Vela compiles
    "figure_kind": OPT_NAME, "source_artifact": OPT_NAME, "basis": Opt(TEXT),
    "micro": Opt(Obj({"flash_bytes": Opt(Num(COUNT)), "recommended_arena_bytes": Opt(Num(COUNT))})),
    "npu": Opt(Obj({k: Opt(Num(COUNT)) for k in ("off_chip_flash_memory_bytes", "sram_memory_bytes",
                                                  "npu_operators", "cpu_operators")})),
}, ("artifact", "status", "size_bytes"))
RESULTS = Obj({
    "machine": MACHINE, "note": TEXT, "warnings": List(TEXT), "labels": Map(List(NAME, MAX_CLASSES), MAX_ROWS),
    "config": Obj({k: Num(COUNT, integer=True) for k in ("runs", "warmup", "batch", "rounds")}),
    "data": Obj({"sets": List(TEXT)}),
    "results": Rows(ROW, when_ok={"latency_ms": LATENCY, "accuracy": Num(SHARE), "throughput_ips": Num()}),
}, ("machine", "results"))
CHECK = Obj({
    "status": NAME, "created": NAME, "note": TEXT,
    "emulation": Obj({"userland": TEXT, "qemu": TEXT, "qemu_cpu": OPT_NAME, "machine": MACHINE}),
    "data": Obj({"description": TEXT}),
    "results": List(Obj({"artifact": NAME, "status": TEXT, "precision": OPT_NAME, "runtime": OPT_NAME,
                         "runtime_version_arm64": OPT_NAME, "max_abs_diff": Opt(Num()),
                         "max_lsb_diff": Opt(Num(COUNT, integer=True)), "top1_agreement": Opt(Num(SHARE)),
                         "xnnpack_arm64": Opt(Bool())}, ("artifact", "status")), MAX_ROWS),
}, ("results",))
_MIXED_SIDE = Obj({"size_bytes": Num(COUNT), "latency_ms_1thread": MS, "validation_accuracy": Num(SHARE)},
                  ("size_bytes", "latency_ms_1thread", "validation_accuracy"))
LAYER_REPORT = Obj({
    "model": NAME, "debug_samples": Opt(Num(COUNT, integer=True)),
    "layers": List(Obj({"layer": NAME, "kind": OPT_NAME, "rank": Opt(Num(COUNT, integer=True)), "nsr": Num(),
                        "rmse_scale": Opt(Num()), "macs_share": Num(SHARE), "size_share": Num(SHARE)},
                       ("layer", "nsr", "macs_share", "size_share")), 2000),
    "mixed": Opt(List(Obj({"format": NAME, "float_layers": List(NAME, 2000), "mixed": _MIXED_SIDE,
                           "full_int8": _MIXED_SIDE}, ("format", "float_layers", "mixed", "full_int8")))),
}, ("layers",))
ARCHITECTURES = Obj({
    "recipe": NAME, "note": TEXT, "command": TEXT,
    "results": List(Obj({
        "model": NAME, "input_size": Opt(Num(Range(1, 4096), integer=True)), "params": Num(COUNT),
        "macs": Num(COUNT), "accuracy": Num(SHARE), "int8_accuracy": Num(SHARE), "int8_size_bytes": Num(COUNT),
        "latency_ms_p50": MS, "latency_ms_p50_2threads": Opt(MS), "pi4_estimate_ms": Opt(Num()),
        "train_seconds": Num(), "data": TEXT, "num_samples": Opt(Num(COUNT, integer=True)),
        "worst_shift": Opt(Obj({"name": NAME, "accuracy": Opt(Num(SHARE))})),
    }, ("model", "params", "macs", "accuracy", "int8_accuracy", "int8_size_bytes", "latency_ms_p50",
        "train_seconds")), MAX_ROWS),
}, ("results",))

# benchmarks/mutation.py: the test suite's mutation score, per module and over all
_MUTANTS = {"killed": Num(COUNT, integer=True), "survived": Num(COUNT, integer=True),
            "equivalent": Num(COUNT, integer=True), "score": Opt(Num(SHARE))}
MUTATION = Obj({
    "tool": NAME, "command": TEXT, "definition": TEXT, **_MUTANTS,
    "modules": Map(Obj({"module": NAME, "tests": TEXT, "mutants": Num(COUNT, integer=True), **_MUTANTS},
                       ("module", "killed", "survived", "score"))),
}, ("modules", "killed", "survived", "score"))


def validate(doc, table: Obj, name: str) -> dict:
    """``doc`` checked against ``table`` and cleaned; one line naming ``name`` and the field otherwise.

    Raises:
        DataError: ``NAME: FIELD: expected ..., got ...``.
    """
    try:
        return table.check(doc, "")
    except DataError as exc:
        raise DataError(f"{printable(name)}: {str(exc).lstrip(': ')}") from None
