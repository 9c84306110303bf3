"""Timing one row: latency percentiles and throughput per round, and the best round kept."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from asl_edge.bench.config import BenchConfig
from asl_edge.bench.isolation import import_runtime
from asl_edge.bench.memory import peak_rss_mb, reset_peak_rss, status_kb


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
    return {"latency_ms": percentiles(times * 1e3), "throughput_ips": float(throughput)}


def percentiles(ms: np.ndarray) -> dict:
    """p50/p90/p99 and mean of per-call times in milliseconds."""
    return {"p50": float(np.percentile(ms, 50)), "p90": float(np.percentile(ms, 90)),
            "p99": float(np.percentile(ms, 99)), "mean": float(ms.mean())}


def measure(path: Path, device: str, threads: int | None, x: np.ndarray, y: np.ndarray, cfg: BenchConfig) -> dict:
    """One row: load, accuracy, peak memory and the first timing round.

    Raises:
        RuntimeUnavailable: the runtime or the device is not available here.
        ModelError: the artifact cannot be loaded.
    """
    from asl_edge.runtime.runners import load_runner

    import_runtime(path)
    reset = reset_peak_rss()
    rss_before = status_kb("VmRSS") if reset else None
    start = time.perf_counter()
    runner = load_runner(path, threads=threads, device=device)
    load_ms = (time.perf_counter() - start) * 1e3
    probs = np.concatenate([runner.predict(x[i:i + cfg.batch]) for i in range(0, len(x), cfg.batch)])
    first = _time_round(runner, x, cfg)
    peak = peak_rss_mb(reset)
    pred = probs.argmax(1)
    return {
        "runtime": runner.runtime, "runtime_version": runner.runtime_version, "device": device,
        "providers": list(runner.providers),
        "threads": threads, "accuracy": float((pred == y).mean()), "load_ms": round(load_ms, 2),
        **first, "rounds": [_round_summary(first)], "peak_rss_mb": round(peak, 1),
        "rss_growth_mb": None if rss_before is None else round(peak - rss_before / 1024, 1),
        "status": "ok", "confusion_matrix": confusion(y, pred, probs.shape[1]),
    }


def timing_round(path: Path, device: str, threads: int | None, x: np.ndarray, cfg: BenchConfig) -> dict:
    """A further timing round of a measured row, on a freshly loaded runner (so that no runner
    outlives its row and inflates the next row's peak memory)."""
    from asl_edge.runtime.runners import load_runner

    return _time_round(load_runner(path, threads=threads, device=device), x, cfg)


def _round_summary(r: dict) -> dict:
    return {"p50": r["latency_ms"]["p50"], "throughput_ips": r["throughput_ips"]}


def add_round(row: dict, r: dict) -> None:
    """Adds a timing round to a row: the latency of its round with the lowest p50, its highest throughput."""
    row["rounds"].append(_round_summary(r))
    if r["latency_ms"]["p50"] < row["latency_ms"]["p50"]:
        row["latency_ms"] = r["latency_ms"]
    row["throughput_ips"] = max(row["throughput_ips"], r["throughput_ips"])


def confusion(y, pred, n) -> list:
    cm = np.zeros((n, n), int)
    np.add.at(cm, (y, pred), 1)
    return cm.tolist()
