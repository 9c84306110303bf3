"""``asl-edge benchmark``: accuracy, size, load time, latency, throughput and memory per runtime.

Each artifact runs in its own runtime at each requested thread count:

- accuracy on the data (the export's held-out split when its run folder is reachable);
- load time (file to a runner ready to predict);
- single-image latency p50/p90/p99/mean over ``runs`` timed calls after ``warmup`` untimed ones,
  ``time.perf_counter`` around ``Runner.predict`` (input quantisation included, as a caller sees it);
- throughput: images/s of repeated ``batch``-sized calls;
- peak memory: the resident set size (RSS, native allocations included) at its highest during the
  row. On Linux the kernel's high-water mark is reset before each row (``/proc/self/clear_refs``)
  and read back from ``VmHWM``; elsewhere the process's lifetime peak (``ru_maxrss``) is reported.
  The Keras rows run in a fresh process each, because TensorFlow fixes its thread pools once per
  process and would otherwise inflate every later row's memory.

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
    "latency": "single image, time.perf_counter around Runner.predict after warm-up; percentiles over the timed runs",
    "throughput": "images/s over repeated calls of one batch",
    "load": "file to a runner ready to predict, the runtime's module already imported",
    "memory": "peak resident set size of the process during the row: VmHWM after resetting it through "
              "/proc/self/clear_refs (Linux); the process's lifetime ru_maxrss where that is unavailable. "
              "rss_growth_mb: that peak minus the RSS before the artifact was loaded",
    "keras": "each Keras row runs in a fresh process (TensorFlow fixes its thread pools once per process)",
}


@dataclass(frozen=True)
class BenchConfig:
    """Benchmark settings.

    Attributes:
        threads: thread counts to measure.
        runs: timed single-image calls per row.
        warmup: untimed calls first.
        batch: batch size of the throughput measurement.
        data: data source; default the held-out split of the export's run, else the built-in set.
        gpu: also try GPU rows (ONNX Runtime CUDA; "not measured: no GPU" where absent).
        verify: check artifacts against their manifest first.
        device_name: a label for this machine.
    """

    threads: tuple[int, ...] = (1,)
    runs: int = 1000
    warmup: int = 20
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
def measure(path: Path, device: str, threads: int | None, x: np.ndarray, y: np.ndarray, cfg: BenchConfig) -> dict:
    """One row: load, accuracy, latency percentiles, throughput and peak memory.

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
    peak = peak_rss_mb(reset)
    ms = times * 1e3
    pred = probs.argmax(1)
    return {
        "runtime": runner.runtime, "runtime_version": runner.runtime_version, "device": device,
        "threads": threads, "accuracy": float((pred == y).mean()), "load_ms": round(load_ms, 2),
        "latency_ms": {"p50": float(np.percentile(ms, 50)), "p90": float(np.percentile(ms, 90)),
                       "p99": float(np.percentile(ms, 99)), "mean": float(ms.mean())},
        "throughput_ips": float(throughput), "peak_rss_mb": round(peak, 1),
        "rss_growth_mb": None if rss_before is None else round(peak - rss_before / 1024, 1),
        "status": "ok", "confusion_matrix": _confusion(y, pred, probs.shape[1]),
    }


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


def _measure_quietly(*args) -> dict:
    from asl_edge.quiet import quiet_native_stderr

    with quiet_native_stderr():  # TensorFlow's native start-up lines in the child process
        return measure(*args)


def _measure_in_fresh_process(path, device, threads, x, y, cfg) -> dict:
    # "spawn", not fork: a forked child would inherit the parent's TensorFlow state, if any.
    with ProcessPoolExecutor(max_workers=1, mp_context=get_context("spawn")) as pool:
        return pool.submit(_measure_quietly, path, device, threads, x, y, cfg).result()


def _confusion(y, pred, n) -> list:
    cm = np.zeros((n, n), int)
    np.add.at(cm, (y, pred), 1)
    return cm.tolist()


def _not_measured(why: str, threads: int | None, device: str) -> dict:
    why = why.removeprefix("not measured: ")
    return {"runtime": None, "device": device, "threads": threads, "accuracy": None, "load_ms": None,
            "latency_ms": None, "throughput_ips": None, "peak_rss_mb": None, "status": f"not measured: {why}"}


def run_benchmark(paths, cfg: BenchConfig = BenchConfig()) -> dict:
    """Measures every artifact x device x thread count; returns the results document.

    GPU rows: one per artifact, without a thread count; "not measured: no GPU" on a machine
    without one. Artifacts that cannot be checked or read give "not measured" rows too; a runtime
    that fails while measuring gives a "failed: ..." row and the other rows are still measured.

    Raises:
        DataError, ModelError: a path that does not exist or a folder that is not an export.
    """
    from tqdm import tqdm

    from asl_edge.formats import format_for_path
    from asl_edge.integrity import check_artifact
    from asl_edge.machine import gpu_name, machine_info
    from asl_edge.runtimes import RuntimeUnavailable

    targets = expand_targets(paths)
    has_gpu = gpu_name() is not None
    slots = [("cpu", t) for t in cfg.threads] + ([("gpu", None)] if cfg.gpu else [])
    rows, data_sets, labels, loaded = [], [], {}, {}
    bar = tqdm(total=len(targets) * len(slots), desc="benchmark", unit="row", file=sys.stderr, disable=None)
    for path, manifest, run in targets:
        fmt = format_for_path(path)
        base = {"artifact": path.name, "format": fmt.name, "precision": fmt.precision,
                "size_bytes": path.stat().st_size, "size_gzip_bytes": gzip_size(path), "macs": None}
        try:
            check_artifact(path, cfg.verify)
            names, preprocessing = _describe(path)
            base["macs"] = count_macs(path) if fmt.family == "tflite" else None
            key = (json.dumps(preprocessing.to_dict(), sort_keys=True), str(run), str(manifest and manifest.get("name")))
            if key not in loaded:  # the artifacts of one export share their data: load it once
                loaded[key] = bench_data(preprocessing, manifest, cfg.data, run)
            ds, described = loaded[key]
            if tuple(ds.class_names) != tuple(names):
                raise DataError(f"the data's classes ({', '.join(ds.class_names)}) are not the artifact's labels "
                                f"({', '.join(names)}): pass --data with the model's classes")
            x, y = preprocessing.normalize(ds.load_images()), ds.labels
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
            try:
                if device == "gpu" and not has_gpu:
                    raise RuntimeUnavailable("no GPU")
                if fmt.runtime == "keras":
                    row = _measure_in_fresh_process(path, device, threads, x, y, cfg)
                else:
                    row = measure(path, device, threads, x, y, cfg)
            except AslEdgeError as exc:
                row = _not_measured(str(exc), threads, device)
            except BrokenProcessPool:
                row = {**_not_measured("", threads, device), "status": "failed: the measuring process died"}
            except Exception as exc:  # one runtime's failure must not lose the other rows; the status says it
                log.debug("row %s %s x%s failed", path.name, device, threads, exc_info=True)
                first = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else ""
                row = {**_not_measured("", threads, device), "status": f"failed: {type(exc).__name__}: {first}"}
            rows.append({**base, **row})
            bar.update(1)
    bar.close()
    return {"schema": SCHEMA, "kind": KIND, "machine": machine_info(cfg.device_name), "config": asdict(cfg),
            "method": METHOD, "data": {"sets": data_sets}, "labels": labels, "results": rows}


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
