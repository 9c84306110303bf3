"""``asl-edge benchmark``: accuracy, size, load time, latency, throughput and memory per runtime.

Each artifact runs in its own runtime at each requested thread count: single-image latency
(p50/p90/p99 over ``runs`` timed calls after ``warmup`` untimed ones, ``time.perf_counter``),
batched throughput, accuracy on the data and the process's peak resident memory. A row that
cannot be measured here (no GPU, a runtime not installed) is kept with a ``status`` saying why.
Results are JSON, one file per run, so several machines' runs merge into one report.
"""

from __future__ import annotations

import json
import logging
import resource
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from asl_edge.errors import AslEdgeError, DataError, ModelError
from asl_edge.fsutil import atomic_write_json, gzip_size
from asl_edge.preprocess import Preprocessing

log = logging.getLogger(__name__)
SCHEMA = 1
MAC_OPS = {"CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED"}
REQUIRED = ("artifact", "runtime", "threads", "accuracy", "size_bytes", "latency_ms", "throughput_ips", "status")


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
    runs: int = 200
    warmup: int = 20
    batch: int = 64
    data: str | None = None
    gpu: bool = True
    verify: bool = True
    device_name: str | None = None


def expand_targets(paths) -> list[tuple[Path, dict | None]]:
    """Artifacts to measure: files as given; an export folder gives its manifest's artifacts plus
    the source Keras model when it is reachable. Returns (path, manifest or None)."""
    from asl_edge.integrity import MANIFEST, read_manifest

    out = []
    for p in map(Path, paths):
        if p.is_dir():
            manifest = read_manifest(p)
            source = Path(manifest.get("source", {}).get("run", "")) / "model.keras"
            if source.is_file():
                out.append((source, manifest))
            out.extend((p / a["path"], manifest) for a in manifest["artifacts"])
        elif p.is_file():
            manifest_path = p.parent / MANIFEST
            out.append((p, read_manifest(p.parent) if manifest_path.is_file() else None))
        else:
            raise DataError(f"not found: {p}")
    return out


def _describe(path: Path) -> tuple[tuple[str, ...], Preprocessing]:
    if path.suffix == ".keras":
        from asl_edge import runfolder

        run = runfolder.load_run(path)
        return run.class_names, run.preprocessing
    from asl_edge.artifact_meta import read_metadata

    meta = read_metadata(path)
    return tuple(meta["labels"]), Preprocessing.from_dict(meta["preprocessing"])


def _dataset(preprocessing: Preprocessing, manifest: dict | None, data: str | None):
    """The export's held-out split when its run folder is reachable, else ``data`` or the built-in set."""
    from asl_edge import runfolder
    from asl_edge.data import load_dataset

    if data is None and manifest is not None:
        try:
            run = runfolder.load_run(manifest["source"]["run"])
        except ModelError:
            run = None
        if run is not None and run.split is not None:
            return runfolder.run_dataset(run, part="test"), f"{run.split['source']} held-out test split"
    return load_dataset(data or "builtin", preprocessing), f"{data or 'builtin'} (all images)"


def count_macs(tflite_path: str | Path) -> int:
    """Multiply-accumulates of one inference, from a .tflite file's convolutions and dense layers."""
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


def _peak_rss_mb() -> float:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024


def measure(path: Path, runtime_device: str, threads: int, x: np.ndarray, y: np.ndarray, cfg: BenchConfig) -> dict:
    """One row: load, accuracy, latency percentiles, throughput and peak memory."""
    from asl_edge.runtimes import load_runner

    start = time.perf_counter()
    runner = load_runner(path, threads=threads, device=runtime_device)
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
    reps = max(3, int(2048 / cfg.batch))
    t = time.perf_counter()
    for _ in range(reps):
        runner.predict(batch)
    throughput = reps * len(batch) / (time.perf_counter() - t)
    ms = times * 1e3
    return {
        "runtime": runner.runtime, "runtime_version": runner.runtime_version, "device": runtime_device,
        "threads": threads, "accuracy": float((probs.argmax(1) == y).mean()), "load_ms": round(load_ms, 2),
        "latency_ms": {"p50": float(np.percentile(ms, 50)), "p90": float(np.percentile(ms, 90)),
                       "p99": float(np.percentile(ms, 99)), "mean": float(ms.mean())},
        "throughput_ips": float(throughput), "peak_rss_mb": round(_peak_rss_mb(), 1), "status": "ok",
        "confusion_matrix": _confusion(y, probs.argmax(1), probs.shape[1]),
    }


def _confusion(y, pred, n) -> list:
    cm = np.zeros((n, n), int)
    np.add.at(cm, (y, pred), 1)
    return cm.tolist()


def _not_measured(why: str, threads: int, device: str) -> dict:
    return {"runtime": None, "device": device, "threads": threads, "accuracy": None, "load_ms": None,
            "latency_ms": None, "throughput_ips": None, "peak_rss_mb": None, "status": f"not measured: {why}"}


def run_benchmark(paths, cfg: BenchConfig = BenchConfig()) -> dict:
    """Measures every artifact x device x thread count; returns the results document."""
    from tqdm import tqdm

    from asl_edge.formats import format_for_path
    from asl_edge.integrity import check_artifact
    from asl_edge.machine import machine_info
    from asl_edge.runtimes import RuntimeUnavailable

    targets = expand_targets(paths)
    devices = ["cpu", "gpu"] if cfg.gpu else ["cpu"]
    rows, data_described = [], set()
    bar = tqdm(total=len(targets) * len(cfg.threads) * len(devices), desc="benchmark", unit="row",
               file=sys.stderr, disable=not sys.stderr.isatty())
    for path, manifest in targets:
        fmt = format_for_path(path)
        base = {"artifact": path.name, "format": fmt.name, "precision": fmt.precision,
                "size_bytes": path.stat().st_size, "size_gzip_bytes": gzip_size(path), "macs": None}
        try:
            check_artifact(path, cfg.verify)
            labels, preprocessing = _describe(path)
            base["macs"] = count_macs(path) if fmt.family == "tflite" else None
            ds, described = _dataset(preprocessing, manifest, cfg.data)
            data_described.add(described)
            x, y = preprocessing.normalize(ds.load_images()), ds.labels
        except AslEdgeError as exc:
            rows.extend({**base, **_not_measured(str(exc), t, "cpu")} for t in cfg.threads)
            bar.update(len(cfg.threads) * len(devices))
            continue
        for device in devices:
            for threads in cfg.threads:
                bar.set_postfix_str(f"{path.name} {device} x{threads}")
                try:
                    if device == "gpu" and fmt.runtime == "litert":
                        raise RuntimeUnavailable("not measured: no GPU delegate for LiteRT on this machine")
                    row = measure(path, device, threads, x, y, cfg)
                except AslEdgeError as exc:
                    why = str(exc).removeprefix("not measured: ")
                    row = _not_measured(why, threads, device)
                rows.append({**base, **row})
                bar.update(1)
                if device == "gpu" and rows[-1]["status"] != "ok":
                    bar.update(len(cfg.threads) - 1)
                    break  # one "not measured" row per artifact on a machine without a GPU
    bar.close()
    return {"schema": SCHEMA, "machine": machine_info(cfg.device_name), "config": asdict(cfg),
            "data": sorted(data_described), "results": rows}


def save_results(doc: dict, dest: str | Path) -> Path:
    return atomic_write_json(dest, doc)


def load_results(path: str | Path) -> dict:
    """Reads and validates a results file.

    Raises:
        DataError: missing, not JSON, or not asl-edge benchmark results.
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(f"results file not found: {path}")
    try:
        doc = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise DataError(f"{path} is not JSON") from None
    if not isinstance(doc, dict) or doc.get("schema") != SCHEMA or "machine" not in doc \
            or not isinstance(doc.get("results"), list):
        raise DataError(f"{path} is not an asl-edge benchmark results file (schema {SCHEMA})")
    for i, row in enumerate(doc["results"]):
        missing = [k for k in REQUIRED if k not in row]
        if missing:
            raise DataError(f"{path}: result {i} lacks {', '.join(missing)}")
    return doc
