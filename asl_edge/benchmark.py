"""``asl-edge benchmark``: accuracy, size, load time, latency, throughput and memory per runtime.

Each artifact runs in its own runtime at each requested thread count:

- accuracy on the data (the export's held-out split when its run folder is reachable);
- load time (file to a runner ready to predict);
- single-image latency p50/p90/p99/mean over ``runs`` timed calls after ``warmup`` untimed ones,
  ``time.perf_counter`` around ``Runner.predict`` (input quantisation included, as a caller sees it);
- throughput: images/s of repeated ``batch``-sized calls;
- both timed in ``rounds`` rounds, interleaved across the rows (round 1 of every row, then round 2
  of every row, ...), so that each row samples the machine over the whole run rather than over one
  stretch of it. A row reports the percentiles of its round with the lowest p50 and its highest
  throughput, and keeps every round's figures in ``rounds``. Why the best round: on a shared
  machine the slower rounds time other tenants, not the model (the argument of the note in
  https://docs.python.org/3/library/timeit.html#timeit.Timer.repeat). On this project's 2-vCPU
  cloud VM the 2-thread p50 switches between two levels about 35% apart for stretches of up to
  tens of seconds, with the guest idle; one stretch of timing cannot repeat within 10% there, the
  best of rounds spread over a minute and a half can.
- peak memory: the resident set size (RSS, native allocations included) at its highest during the
  row's first round (load, accuracy, timing). On Linux the kernel's high-water mark is reset
  before each row (``/proc/self/clear_refs``) and read back from ``VmHWM``; elsewhere the
  process's lifetime peak (``ru_maxrss``) is reported.
  Each Keras row runs in a process of its own (all its rounds), because TensorFlow fixes its
  thread pools once per process and would otherwise inflate every later row's memory.

A row that cannot be measured here (no GPU, a runtime not installed) is kept with a ``status``
saying why. Results are JSON, one file per run, so several machines' runs merge into one report.
"""

from __future__ import annotations

import json
import logging
import re
import resource
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import asdict, dataclass, replace
from multiprocessing import get_context
from pathlib import Path
from typing import NamedTuple

import numpy as np

from asl_edge.errors import AslEdgeError, DataError, ModelError
from asl_edge.fsutil import atomic_write_json, gzip_size
from asl_edge.preprocess import Preprocessing

log = logging.getLogger(__name__)
SCHEMA = 1
KIND = "benchmark"
MAC_OPS = {"CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED"}
RUNTIME_MODULES = {"litert": "ai_edge_litert.interpreter", "onnxruntime": "onnxruntime", "keras": "asl_edge.keras_compat"}
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


@dataclass(frozen=True)
class BenchConfig:
    """Benchmark settings.

    Attributes:
        threads: thread counts to measure.
        runs: timed single-image calls per row and round.
        rounds: timing rounds per row, interleaved across the rows; the best round is reported.
        warmup: untimed calls first (in every round).
        batch: batch size of the throughput measurement.
        data: data source; default the held-out split of the export's run, else the built-in set.
        gpu: also try GPU rows (ONNX Runtime CUDA; "not measured: no GPU" where absent).
        verify: check artifacts against their manifest first.
        device_name: a label for this machine.
    """

    threads: tuple[int, ...] = (1,)
    runs: int = 1000
    warmup: int = 20
    rounds: int = 5
    batch: int = 64
    data: str | None = None
    gpu: bool = True
    verify: bool = True
    device_name: str | None = None


# -- what to measure, on which data ---------------------------------------------------------------
def _source_run(export_dir: Path, manifest: dict) -> Path | None:
    """The export's run folder, when reachable: as recorded (relative to the working directory),
    or relative to the folder holding ``export/`` (an export moved together with its repository)."""
    recorded = (manifest.get("source") or {}).get("run")
    if not recorded:
        return None
    for candidate in (Path(recorded), export_dir.parent.parent / recorded, export_dir / recorded):
        if (candidate / "model.keras").is_file():
            return candidate
    return None


def expand_targets(paths) -> list[tuple[Path, dict | None, Path | None]]:
    """Artifacts to measure, as ``(path, manifest or None, run folder or None)``.

    A file is measured as given; an export folder gives its manifest's artifacts (in manifest
    order) after the source Keras model when its run folder is reachable.

    Raises:
        DataError: a path that does not exist.
        ModelError: a folder that is not an export (no or a damaged manifest).
    """
    from asl_edge.integrity import MANIFEST, read_manifest

    out = []
    for p in map(Path, paths):
        if p.is_dir():
            manifest = read_manifest(p)
            run = _source_run(p, manifest)
            if run is not None:
                out.append((run / "model.keras", manifest, run))
            out.extend((p / a["path"], manifest, run) for a in manifest["artifacts"])
        elif p.is_file():
            manifest = read_manifest(p.parent) if (p.parent / MANIFEST).is_file() else None
            run = p.parent if p.suffix == ".keras" else _source_run(p.parent, manifest) if manifest else None
            out.append((p, manifest, run))
        else:
            raise DataError(f"not found: {p}")
    return out


def _describe(path: Path) -> tuple[tuple[str, ...], Preprocessing]:
    """Labels and preprocessing: from the run folder of a .keras model, else embedded in the artifact."""
    if path.suffix == ".keras":
        from asl_edge import runfolder

        run = runfolder.load_run(path)
        return run.class_names, run.preprocessing
    from asl_edge.artifact_meta import read_metadata

    meta = read_metadata(path)
    return tuple(meta["labels"]), Preprocessing.from_dict(meta["preprocessing"])


def bench_data(preprocessing: Preprocessing, manifest: dict | None = None, data: str | None = None,
               run_folder: str | Path | None = None):
    """The images a benchmark measures accuracy on.

    ``data`` when given (the whole of it); else the held-out test split of the run (``run_folder``,
    or the one the manifest names) when it is reachable and records its split; else the whole
    built-in set. Images are loaded with ``preprocessing`` (the artifact's own).

    Returns:
        ``(ImageDataset, description)``; the description says which set and which part of it.
    """
    from asl_edge import runfolder
    from asl_edge.data import load_dataset

    if data is None:
        folder = run_folder
        if folder is None and manifest is not None:
            folder = (manifest.get("source") or {}).get("run")
        try:
            run = runfolder.load_run(folder) if folder else None
        except ModelError:
            run = None
        if run is not None and run.split is not None:
            # the artifact's own preprocessing (the same as the run's for an export of it)
            ds = runfolder.run_dataset(replace(run, preprocessing=preprocessing), part="test")
            return ds, f"{run.split['source']} held-out test split ({len(ds)} images)"
    ds = load_dataset(data or "builtin", preprocessing)
    return ds, f"{data or 'builtin'} (all {len(ds)} images)"


def count_macs(tflite_path: str | Path) -> int:
    """Multiply-accumulates of one inference, from a .tflite file's convolutions and dense layers.

    Reads the op list and tensor shapes through the LiteRT interpreter; no TensorFlow needed.
    """
    from ai_edge_litert.interpreter import Interpreter

    from asl_edge.quiet import quiet_native_stderr

    try:
        with quiet_native_stderr():
            interp = Interpreter(model_path=str(tflite_path))
    except Exception as exc:  # a damaged flatbuffer; load_runner gives the same one-line error
        raise ModelError(f"cannot read {tflite_path}: {type(exc).__name__}") from None
    shapes = {t["index"]: t["shape"] for t in interp.get_tensor_details()}
    macs = 0
    for op in interp._get_ops_details():  # the public API has no op list; LiteRT's own analyzer uses this
        if op["op_name"] not in MAC_OPS:
            continue
        out = shapes[op["outputs"][0]]
        weights = shapes[op["inputs"][1]]
        if op["op_name"] == "CONV_2D":  # weights: [out_c, kh, kw, in_c]
            macs += int(np.prod(out[1:])) * int(np.prod(weights[1:]))
        elif op["op_name"] == "DEPTHWISE_CONV_2D":  # weights: [1, kh, kw, out_c]
            macs += int(np.prod(out[1:])) * int(weights[1] * weights[2])
        else:  # weights: [out_units, in_features]
            macs += int(out[-1]) * int(weights[-1])
    return macs


# -- memory ---------------------------------------------------------------------------------------
def _status_kb(field: str) -> int | None:
    try:
        match = re.search(rf"^{field}:\s+(\d+) kB", Path("/proc/self/status").read_text(), re.MULTILINE)
    except OSError:
        return None
    return int(match.group(1)) if match else None


def return_freed_memory() -> bool:
    """Makes glibc serve allocations of 1 MiB and more with mmap, whatever was freed before.

    By default glibc raises its mmap threshold each time a large block is freed (man 3 mallopt,
    M_MMAP_THRESHOLD), so the next image arrays and pickles land on the heap, where small blocks
    kept alive between them stop the memory from going back to the system. The peak RSS of every
    later row then carries the earlier rows' leftovers (measured here: about 40 MB on the reference
    export). A fixed threshold returns freed arrays to the system at once.

    Returns:
        True where it was applied (glibc), False elsewhere.
    """
    import ctypes
    import platform

    if platform.libc_ver()[0] != "glibc":
        return False
    m_mmap_threshold = -3  # from <malloc.h>
    try:
        return bool(ctypes.CDLL(None).mallopt(m_mmap_threshold, 1 << 20))
    except (OSError, AttributeError):
        return False


def reset_peak_rss() -> bool:
    """Resets the kernel's RSS high-water mark to the current RSS (Linux >= 4.0); False where unsupported."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return False
    return _status_kb("VmHWM") is not None


def peak_rss_mb(reset_worked: bool) -> float:
    """Peak RSS since :func:`reset_peak_rss`, or the process's lifetime peak where the reset is unsupported."""
    hwm = _status_kb("VmHWM") if reset_worked else None
    if hwm is not None:
        return hwm / 1024
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024


# -- one row --------------------------------------------------------------------------------------
def _time_round(runner, x: np.ndarray, cfg: BenchConfig) -> dict:
    """One timing round: warm-up, ``cfg.runs`` timed single-image calls, then batched throughput."""
    one = x[:1]
    for _ in range(cfg.warmup):
        runner.predict(one)
    times = np.empty(cfg.runs)
    for i in range(cfg.runs):
        t = time.perf_counter()
        runner.predict(one)
        times[i] = time.perf_counter() - t
    batch = x[: cfg.batch] if len(x) >= cfg.batch else np.resize(x, (cfg.batch, *x.shape[1:]))
    runner.predict(batch)
    reps = max(3, 2048 // cfg.batch)
    t = time.perf_counter()
    for _ in range(reps):
        runner.predict(batch)
    throughput = reps * len(batch) / (time.perf_counter() - t)
    ms = times * 1e3
    return {"latency_ms": {"p50": float(np.percentile(ms, 50)), "p90": float(np.percentile(ms, 90)),
                           "p99": float(np.percentile(ms, 99)), "mean": float(ms.mean())},
            "throughput_ips": float(throughput)}


def measure(path: Path, device: str, threads: int | None, x: np.ndarray, y: np.ndarray, cfg: BenchConfig) -> dict:
    """One row: load, accuracy, peak memory and the first timing round.

    Raises:
        RuntimeUnavailable: the runtime or the device is not available here.
        ModelError: the artifact cannot be loaded.
    """
    from asl_edge.runtimes import load_runner

    _import_runtime(path)
    reset = reset_peak_rss()
    rss_before = _status_kb("VmRSS") if reset else None
    start = time.perf_counter()
    runner = load_runner(path, threads=threads, device=device)
    load_ms = (time.perf_counter() - start) * 1e3
    probs = np.concatenate([runner.predict(x[i:i + cfg.batch]) for i in range(0, len(x), cfg.batch)])
    first = _time_round(runner, x, cfg)
    peak = peak_rss_mb(reset)
    pred = probs.argmax(1)
    return {
        "runtime": runner.runtime, "runtime_version": runner.runtime_version, "device": device,
        "threads": threads, "accuracy": float((pred == y).mean()), "load_ms": round(load_ms, 2),
        **first, "rounds": [_round_summary(first)], "peak_rss_mb": round(peak, 1),
        "rss_growth_mb": None if rss_before is None else round(peak - rss_before / 1024, 1),
        "status": "ok", "confusion_matrix": _confusion(y, pred, probs.shape[1]),
    }


def timing_round(path: Path, device: str, threads: int | None, x: np.ndarray, cfg: BenchConfig) -> dict:
    """A further timing round of a measured row, on a freshly loaded runner (so that no runner
    outlives its row and inflates the next row's peak memory)."""
    from asl_edge.runtimes import load_runner

    return _time_round(load_runner(path, threads=threads, device=device), x, cfg)


def _round_summary(r: dict) -> dict:
    return {"p50": r["latency_ms"]["p50"], "throughput_ips": r["throughput_ips"]}


def add_round(row: dict, r: dict) -> None:
    """Adds a timing round to a row: the latency of its round with the lowest p50, its highest throughput."""
    row["rounds"].append(_round_summary(r))
    if r["latency_ms"]["p50"] < row["latency_ms"]["p50"]:
        row["latency_ms"] = r["latency_ms"]
    row["throughput_ips"] = max(row["throughput_ips"], r["throughput_ips"])


def _import_runtime(path: Path) -> None:
    """Imports the artifact's runtime first, so that load_ms is the model's load alone, equally for
    every row (the first row of a runtime would otherwise also pay for importing it)."""
    import importlib

    from asl_edge.formats import format_for_path
    from asl_edge.quiet import quiet_native_stderr

    module = RUNTIME_MODULES.get(format_for_path(path).runtime)
    try:
        with quiet_native_stderr():
            importlib.import_module(module)
    except (ImportError, AslEdgeError):
        pass  # load_runner raises the one-line RuntimeUnavailable for a missing runtime


def _quietly(fn, *args) -> dict:
    from asl_edge.quiet import quiet_native_stderr

    return_freed_memory()
    with quiet_native_stderr():  # TensorFlow's native start-up lines in the child process
        return fn(*args)


class _Measurer:
    """Runs a row's measurements in this process, or, for a Keras row, in a process of its own
    that lives as long as the row's rounds (TensorFlow fixes its thread pools once per process).

    "spawn", not fork: a forked child would inherit the parent's TensorFlow state, if any.
    """

    def __init__(self, own_process: bool):
        self._pool = ProcessPoolExecutor(max_workers=1, mp_context=get_context("spawn")) if own_process else None

    def __call__(self, fn, *args) -> dict:
        return self._pool.submit(_quietly, fn, *args).result() if self._pool else fn(*args)

    def close(self) -> None:
        if self._pool:
            self._pool.shutdown()


def _confusion(y, pred, n) -> list:
    cm = np.zeros((n, n), int)
    np.add.at(cm, (y, pred), 1)
    return cm.tolist()


def _not_measured(why: str, threads: int | None, device: str) -> dict:
    why = why.removeprefix("not measured: ")
    return {"runtime": None, "device": device, "threads": threads, "accuracy": None, "load_ms": None,
            "latency_ms": None, "throughput_ips": None, "peak_rss_mb": None, "status": f"not measured: {why}"}


def _guarded(measurer: _Measurer, fn, path: Path, device: str, threads: int | None, *args) -> dict:
    """``measurer(fn, path, device, threads, *args)``, or a row saying why it could not be measured:
    one runtime's failure must not lose the other rows."""
    try:
        return measurer(fn, path, device, threads, *args)
    except AslEdgeError as exc:
        return _not_measured(str(exc), threads, device)
    except BrokenProcessPool:
        return {**_not_measured("", threads, device), "status": "failed: the measuring process died"}
    except Exception as exc:
        log.debug("row %s %s x%s failed", path.name, device, threads, exc_info=True)
        first = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else ""
        return {**_not_measured("", threads, device), "status": f"failed: {type(exc).__name__}: {first}"}


def _prepare(path: Path, manifest: dict | None, run: Path | None, cfg: BenchConfig, loaded: dict):
    """The artifact checked and its data: ``(labels, x, y, data description)``.

    ``loaded`` caches the data across the artifacts of one export.

    Raises:
        AslEdgeError: the artifact fails its check, cannot be read, or does not match the data.
    """
    from asl_edge.integrity import check_artifact

    check_artifact(path, cfg.verify)
    names, preprocessing = _describe(path)
    key = (json.dumps(preprocessing.to_dict(), sort_keys=True), str(run), str(manifest and manifest.get("name")))
    if key not in loaded:
        loaded[key] = bench_data(preprocessing, manifest, cfg.data, run)
    ds, described = loaded[key]
    if tuple(ds.class_names) != tuple(names):
        raise DataError(f"the data's classes ({', '.join(ds.class_names)}) are not the artifact's labels "
                        f"({', '.join(names)}): pass --data with the model's classes")
    return names, preprocessing.normalize(ds.load_images()), ds.labels, described


class _Timed(NamedTuple):
    """A row measured in the first pass: where it is in ``rows`` and what its later rounds need."""

    index: int
    base: dict
    measurer: _Measurer
    path: Path
    manifest: dict | None
    run: Path | None
    device: str
    threads: int | None


def run_benchmark(paths, cfg: BenchConfig = BenchConfig()) -> dict:
    """Measures every artifact x device x thread count; returns the results document.

    First each row in turn (load, accuracy, memory, timing round 1), then the further timing
    rounds, interleaved across the rows. GPU rows: one per artifact, without a thread count;
    "not measured: no GPU" on a machine without one. Artifacts that cannot be checked or read give
    "not measured" rows too; a runtime that fails while measuring gives a "failed: ..." row and
    the other rows are still measured.

    Raises:
        DataError, ModelError: a path that does not exist or a folder that is not an export.
    """
    from tqdm import tqdm

    from asl_edge.formats import format_for_path
    from asl_edge.machine import gpu_name, machine_info

    targets = expand_targets(paths)
    return_freed_memory()
    has_gpu = gpu_name() is not None
    slots = [("cpu", t) for t in cfg.threads] + ([("gpu", None)] if cfg.gpu else [])
    rows, data_sets, labels, loaded = [], [], {}, {}
    timed: list[_Timed] = []  # the rows measured, for their later rounds
    bar = tqdm(total=len(targets) * len(slots), desc="benchmark", unit="row", file=sys.stderr, disable=None)
    try:
        for path, manifest, run in targets:
            fmt = format_for_path(path)
            base = {"artifact": path.name, "format": fmt.name, "precision": fmt.precision,
                    "size_bytes": path.stat().st_size, "size_gzip_bytes": gzip_size(path), "macs": None}
            try:
                names, x, y, described = _prepare(path, manifest, run, cfg, loaded)
                base["macs"] = count_macs(path) if fmt.family == "tflite" else None
            except AslEdgeError as exc:
                rows.extend({**base, **_not_measured(str(exc), t, d)} for d, t in slots)
                bar.update(len(slots))
                continue
            if described not in data_sets:
                data_sets.append(described)
            labels[path.name] = list(names)
            base["data"] = described
            for device, threads in slots:
                bar.set_postfix_str(f"{path.name} {device}" + (f" x{threads}" if threads else ""))
                if device == "gpu" and not has_gpu:
                    rows.append({**base, **_not_measured("no GPU", threads, device)})
                else:
                    measurer = _Measurer(own_process=fmt.runtime == "keras")
                    rows.append({**base, **_guarded(measurer, measure, path, device, threads, x, y, cfg)})
                    timed.append(_Timed(len(rows) - 1, base, measurer, path, manifest, run, device, threads))
                bar.update(1)
        bar.close()
        _later_rounds(rows, timed, cfg, loaded)
    finally:
        bar.close()
        for t in timed:
            t.measurer.close()
    return {"schema": SCHEMA, "kind": KIND, "machine": machine_info(cfg.device_name), "config": asdict(cfg),
            "method": METHOD, "data": {"sets": data_sets}, "labels": labels, "results": rows}


def _later_rounds(rows: list[dict], timed: list[_Timed], cfg: BenchConfig, loaded: dict) -> None:
    """Timing rounds 2.. of the measured rows, round by round across the rows; a row whose round
    fails becomes a "failed" row."""
    from tqdm import tqdm

    measured = [t for t in timed if rows[t.index]["status"] == "ok"]
    if cfg.rounds < 2 or not measured:
        return
    # The inputs of a round, taken only now: slices kept from the first pass would stay resident
    # and add to the peak memory of every later row.
    inputs = {}
    for t in measured:
        if t.path not in inputs:
            try:
                _, x, _, _ = _prepare(t.path, t.manifest, t.run, cfg, loaded)
                inputs[t.path] = x[: cfg.batch].copy()
            except AslEdgeError as exc:  # changed since its first round: it keeps that round
                log.warning("%s: one timing round only: %s", t.path.name, exc)
                inputs[t.path] = None
    measured = [t for t in measured if inputs[t.path] is not None]
    with tqdm(total=(cfg.rounds - 1) * len(measured), desc="timing rounds", unit="row", file=sys.stderr,
              disable=None) as bar:
        for _ in range(cfg.rounds - 1):
            for t in measured:
                if rows[t.index]["status"] == "ok":  # not one that failed in an earlier round
                    r = _guarded(t.measurer, timing_round, t.path, t.device, t.threads, inputs[t.path], cfg)
                    if "status" in r:
                        rows[t.index] = {**t.base, **r}
                    else:
                        add_round(rows[t.index], r)
                bar.update(1)


# -- files ----------------------------------------------------------------------------------------
def save_results(doc: dict, dest: str | Path) -> Path:
    """Writes a results document atomically (temporary file, then rename)."""
    return atomic_write_json(dest, doc)


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
            if not isinstance(lat, dict) or any(not isinstance(lat.get(k), (int, float)) for k in ("p50", "p90", "p99")):
                raise DataError(f"{name}: result {i} ({row['artifact']}) has no latency_ms p50/p90/p99")
            if not isinstance(row["accuracy"], (int, float)) or not 0 <= row["accuracy"] <= 1:
                raise DataError(f"{name}: result {i} ({row['artifact']}) has an accuracy outside [0, 1]")
    return doc


def read_json(path: str | Path):
    """The parsed content of a results or check file.

    Raises:
        DataError: missing or not JSON.
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(f"results file not found: {path}")
    try:
        return json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise DataError(f"{path} is not JSON") from None


def load_results(path: str | Path) -> dict:
    """Reads and validates a results file.

    Raises:
        DataError: missing, not JSON, or not asl-edge benchmark results.
    """
    return validate_results(read_json(path), str(path))
