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
import sys
from concurrent.futures.process import BrokenProcessPool
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import NamedTuple

import numpy as np

from asl_edge.bench.config import BenchConfig
from asl_edge.bench.isolation import Measurer
from asl_edge.bench.macs import count_macs
from asl_edge.bench.memory import return_freed_memory
from asl_edge.bench.results import KIND, METHOD, SCHEMA
from asl_edge.bench.targets import bench_data, expand_targets, split_of
from asl_edge.bench.timing import add_round, measure, timing_round
from asl_edge.runtime.describe import describe
from asl_edge.runtime.errors import AslEdgeError, DataError
from asl_edge.runtime.fsutil import gzip_size

log = logging.getLogger(__name__)


def _not_measured(why: str, threads: int | None, device: str) -> dict:
    why = why.removeprefix("not measured: ")
    return {"runtime": None, "device": device, "threads": threads, "accuracy": None, "load_ms": None,
            "latency_ms": None, "throughput_ips": None, "peak_rss_mb": None, "status": f"not measured: {why}"}


def _guarded(measurer: Measurer, fn, path: Path, device: str, threads: int | None, *args) -> dict:
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
    """The artifact checked and its data: ``(labels, x, y, EvalData)``.

    ``loaded`` caches the data across the artifacts of one export.

    Raises:
        AslEdgeError: the artifact fails its check, cannot be read, or does not match the data.
    """
    from asl_edge.runtime.integrity import check_artifact

    check_artifact(path, cfg.verify)
    if path.suffix == ".keras":  # refused here, before a measuring process starts TensorFlow (seconds)
        from asl_edge.models.allowlist import check_keras_file

        check_keras_file(path)
    desc = describe(path)
    names, preprocessing = desc.labels, desc.preprocessing
    identity = split_of(desc, manifest, run)
    key = (json.dumps(preprocessing.to_dict(), sort_keys=True), str(run), str(manifest and manifest.get("name")),
           json.dumps(identity, sort_keys=True))
    if key not in loaded:
        make = _localised_data if preprocessing.localises else bench_data
        loaded[key] = make(preprocessing, manifest, cfg.data, run, identity)
    chosen = loaded[key]
    ds = chosen.dataset
    if tuple(ds.class_names) != tuple(names):
        raise DataError(f"the data's classes ({', '.join(ds.class_names)}) are not the artifact's labels "
                        f"({', '.join(names)}): pass --data with the model's classes")
    return names, preprocessing.normalize(ds.load_images()), ds.labels, chosen


def _localised_data(preprocessing, manifest, data, run, identity):
    """The classifier's own input for a model with a hand localiser: the crops its localiser makes
    of the held-out close-ups (those where it finds a hand; the pipeline row counts the others)."""
    from dataclasses import replace

    from asl_edge.training.camera import localised

    chosen = bench_data(preprocessing.before_localisation(), manifest, data, run, identity)
    staged = chosen.dataset
    crops, found = localised(staged, preprocessing)
    found = np.flatnonzero(found)
    return replace(chosen, dataset=crops.subset(found),
                   description=f"{chosen.description}, the {len(found)} localised hand crops (no hand found in "
                               f"{len(staged) - len(found)})")


# The artifact whose camera shifts a benchmark scores: the one to deploy (the others run the same
# network, so their shift figures would repeat its figure at a higher cost).
SHIFT_FORMAT = "tflite_int8"


def _shift_scores(path: Path, cfg: BenchConfig) -> tuple[dict | None, dict | None]:
    """Accuracy per camera shift of one artifact (``(None, None)`` where it cannot be scored)."""
    from asl_edge.bench.evaluate import evaluate_shifts

    try:
        doc = evaluate_shifts(path, cfg.data, verify=False)  # checked by _prepare already
    except AslEdgeError as exc:
        log.warning("%s: camera shifts not measured: %s", path.name, exc)
        return None, None
    return {k: {"accuracy": v["accuracy"], "family": v["family"]} for k, v in doc["shifts"].items()}, doc["worst_shift"]


def _pipeline_rows(base: dict, path: Path, preprocessing, manifest, run, cfg: BenchConfig, loaded: dict) -> list[dict]:
    """Localiser + classifier per frame, one row per CPU thread count (see :mod:`asl_edge.bench.pipeline`)."""
    from asl_edge.bench.pipeline import PIPELINE_FORMAT, localiser_macs, measure_pipeline, scene_clips, scene_frames

    staged = bench_data(preprocessing.before_localisation(), manifest, cfg.data, run,
                        split_of(describe(path), manifest, run)).dataset
    frames, described = scene_frames(staged.load_images(), min(len(staged), 120))
    labels = np.resize(staged.labels, len(frames))
    clips = scene_clips(staged.load_images())
    row = {**base, "artifact": f"{path.name} + hand localiser", "format": PIPELINE_FORMAT, "data": described,
           "num_samples": len(frames), "localiser_macs": localiser_macs(preprocessing.localiser)}
    out = []
    for threads in cfg.threads:
        try:
            out.append({**row, **measure_pipeline(path, threads, frames, labels, min(cfg.runs, 300), clips)})
        except AslEdgeError as exc:
            out.append({**row, **_not_measured(str(exc), threads, "cpu")})
    return out


class _Timed(NamedTuple):
    """A row measured in the first pass: where it is in ``rows`` and what its later rounds need."""

    index: int
    base: dict
    measurer: Measurer
    path: Path
    manifest: dict | None
    run: Path | None
    device: str
    threads: int | None


def benchmark_to_file(paths, cfg: BenchConfig | None = None, out: str | Path | None = None,
                      force: bool = False) -> dict:
    """:func:`run_benchmark`, the document then written to ``out`` (when given) under the rule of
    every output: locked and checked before measuring (never a file asl-edge did not write, never
    inside a run folder, an earlier results file only with ``force``), written whole afterwards.

    Raises:
        OutputError: ``out`` is refused.
    """
    import os

    from asl_edge.bench.results import check_results_dest, save_results
    from asl_edge.runtime.fsutil import output_lock
    from asl_edge.runtime.outfolder import refuse_run_folder

    if out is None:
        return run_benchmark(paths, cfg)
    refuse_run_folder(out)  # before the lock too: its lock file would be written beside --out
    with output_lock(Path(os.path.abspath(out))):
        check_results_dest(out, force)
        doc = run_benchmark(paths, cfg)
        save_results(doc, out)
    return doc


@dataclass
class _Pass:
    """What the first pass over the artifacts gathers, row by row."""

    cfg: BenchConfig
    slots: list
    has_gpu: bool
    bar: object
    rows: list = field(default_factory=list)
    data_sets: list = field(default_factory=list)
    labels: dict = field(default_factory=dict)
    loaded: dict = field(default_factory=dict)
    warnings: list = field(default_factory=list)
    timed: list = field(default_factory=list)  # the rows measured, for their later rounds

    def add_data_set(self, description) -> None:
        if description not in self.data_sets:
            self.data_sets.append(description)


def run_benchmark(paths, cfg: BenchConfig | None = None) -> dict:
    """Measures every artifact x device x thread count; returns the results document.

    First each row in turn (load, accuracy, memory, timing round 1), then the further timing
    rounds, interleaved across the rows. GPU rows: one per artifact, without a thread count;
    "not measured: no GPU" on a machine without one. Artifacts that cannot be checked or read give
    "not measured" rows too; a runtime that fails while measuring gives a "failed: ..." row and
    the other rows are still measured.

    Raises:
        DataError, ModelError: a path that does not exist or a folder that is not an export.
    """
    cfg = cfg or BenchConfig()
    from tqdm import tqdm

    from asl_edge.bench.machine import gpu_name, machine_info

    targets = expand_targets(paths)
    return_freed_memory()
    has_gpu = gpu_name() is not None
    want_gpu = has_gpu if cfg.gpu is None else cfg.gpu
    slots = [("cpu", t) for t in cfg.threads] + ([("gpu", None)] if want_gpu else [])
    bar = tqdm(total=len(targets) * len(slots), desc="benchmark", unit="row", file=sys.stderr, disable=None)
    done = _Pass(cfg, slots, has_gpu, bar)
    try:
        for path, manifest, run in targets:
            _first_pass(done, path, manifest, run)
        bar.close()
        _later_rounds(done.rows, done.timed, cfg, done.loaded)
        from asl_edge.bench.below_pi import annotate

        # TFLM figures on the rows, Vela's estimates as rows of their own
        done.rows.extend(annotate(done.rows, targets))
    finally:
        bar.close()
        for t in done.timed:
            t.measurer.close()
    return {"schema": SCHEMA, "kind": KIND, "machine": machine_info(cfg.device_name), "config": asdict(cfg),
            "method": METHOD, "data": {"sets": done.data_sets}, "labels": done.labels, "results": done.rows,
            "warnings": done.warnings}


def _first_pass(done: _Pass, path: Path, manifest: dict | None, run: Path | None) -> None:
    """One artifact's rows (every device and thread count), measured once; "not measured" rows when
    it cannot be checked or read; then its rows with the hand localiser, if it has one."""
    from asl_edge.runtime.formats import format_for_path

    cfg, rows, bar = done.cfg, done.rows, done.bar
    fmt = format_for_path(path)
    base = {"artifact": path.name, "format": fmt.name, "precision": fmt.precision,
            "size_bytes": path.stat().st_size, "size_gzip_bytes": gzip_size(path), "macs": None}
    try:
        names, x, y, chosen = _prepare(path, manifest, run, cfg, done.loaded)
        base["macs"] = count_macs(path) if fmt.family == "tflite" else None
    except AslEdgeError as exc:
        rows.extend({**base, **_not_measured(str(exc), t, d)} for d, t in done.slots)
        bar.update(len(done.slots))
        return
    done.add_data_set(chosen.description)
    if chosen.warning and f"{path.name}: {chosen.warning}" not in done.warnings:
        done.warnings.append(f"{path.name}: {chosen.warning}")
    done.labels[path.name] = list(names)
    if cfg.shifts and fmt.name == SHIFT_FORMAT:
        base["shifts"], base["worst_shift"] = _shift_scores(path, cfg)
    pre = describe(path).preprocessing  # hand_localiser: its rows time the classifier on hand crops
    base.update(data=chosen.description, num_samples=len(y), hand_localiser=pre.localises,
                includes_training_images=chosen.includes_training_images)
    for device, threads in done.slots:
        bar.set_postfix_str(f"{path.name} {device}" + (f" x{threads}" if threads else ""))
        if device == "gpu" and not done.has_gpu:
            rows.append({**base, **_not_measured("no GPU", threads, device)})
        else:
            measurer = Measurer(own_process=fmt.runtime == "keras")
            rows.append({**base, **_guarded(measurer, measure, path, device, threads, x, y, cfg)})
            done.timed.append(_Timed(len(rows) - 1, base, measurer, path, manifest, run, device, threads))
        bar.update(1)
    if pre.localises and fmt.family != "keras":
        bar.set_postfix_str(f"{path.name} + hand localiser")
        rows.extend(_pipeline_rows(base, path, pre, manifest, run, cfg, done.loaded))
        if rows[-1].get("data"):
            done.add_data_set(rows[-1]["data"])


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
