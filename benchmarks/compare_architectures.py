"""Every registry model trained, exported and measured on the same signer split.

For each model of :func:`asl_edge.models.list_models`, in one run: train with the ``fast`` recipe's
data, split and camera-robust augmentation at the settings of :data:`CANDIDATES` (epochs, rate,
input size), export fp32 and int8 TFLite (post-training quantisation, calibrated on 200 training
images), then benchmark both with LiteRT on 1 and 2 threads and score every camera shift of the
int8 artifact. One row per model goes to ``architectures.json`` (``{"results": [...]}``), which
``asl-edge report`` shows as a table and two Pareto plots.

Transfer models start from random weights unless ``--set model.weights=imagenet`` (an online
machine) or a local ``.h5`` path is given; then they train in two phases (head on a frozen
backbone, then the top of the backbone at a tenth of the rate) and use the backbone's fixed
ImageNet normalisation instead of the per-image one.

Usage::

    python benchmarks/compare_architectures.py                       # runs/compare/architectures.json
    python benchmarks/compare_architectures.py --models edge_cnn,mobilenetv2 --epochs-scale 0.1
    make bench COMPARE=1                                              # benchmarks/results/architectures.json
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from asl_edge.bench import BenchConfig, run_benchmark
from asl_edge.bench.machine import machine_info
from asl_edge.bench.pi_estimate import estimate_ms
from asl_edge.export import ExportConfig, export_run
from asl_edge.models import get_spec, list_models
from asl_edge.runtime.errors import AslEdgeError, ConfigError
from asl_edge.runtime.fsutil import atomic_write_json
from asl_edge.training import config as cfg
from asl_edge.training.trainer import train

log = logging.getLogger("compare_architectures")

KIND = "architecture-comparison"  # asl_edge.report.inputs reads documents of this kind
RECIPE = "fast"
PI = "Raspberry Pi 4"


@dataclass(frozen=True)
class Candidate:
    """How the comparison trains one registry model.

    Attributes:
        epochs: training epochs (early stopping on validation loss may end sooner).
        learning_rate: peak rate of the recipe's cosine schedule.
        image_size: input side; ``None`` keeps the recipe's 64 pixels (adapted upwards by the registry
            where the architecture needs more, as for inceptionv3).
        batch_size: images per step (the rates below were chosen at 32; the fast recipe trains at 64).
        sets: further ``--set`` overrides.
    """

    epochs: int
    learning_rate: float = 3e-3
    image_size: int | None = None
    batch_size: int = 32
    sets: tuple[str, ...] = ()


# One entry per registry model (tests/test_compare.py fails when a registered model has none).
# Budgets keep the whole run near an hour on 2 CPU cores; VGG16 runs at 32 pixels because at 64
# its 1.3 GMACs per image would take that hour alone.
CANDIDATES: dict[str, Candidate] = {
    "edge_cnn": Candidate(140, 5e-3, batch_size=64),  # the fast recipe as shipped
    "custom_cnn": Candidate(40),
    "deep_cnn": Candidate(40),
    "vgg16": Candidate(20, 1e-4, image_size=32),  # no batch norm: a high rate from scratch does not converge
    "resnet50": Candidate(25, 1e-3),
    "inceptionv3": Candidate(25, 1e-3),
    "mobilenetv2": Candidate(40, 3e-3),
    "mobilenetv3small": Candidate(40, 3e-3),
}


def resolve(name: str, extra_sets: list[str], epochs_scale: float) -> cfg.Config:
    """The training config of one model: the fast recipe, its candidate settings, then ``extra_sets``."""
    cand = CANDIDATES[name]
    sets = [f"train.epochs={max(1, round(cand.epochs * epochs_scale))}",
            f"train.learning_rate={cand.learning_rate}", f"train.batch_size={cand.batch_size}", *cand.sets]
    if cand.image_size:
        sets.append(f"data.image_size={cand.image_size}")
    config = cfg.resolve(RECIPE, [*sets, *extra_sets], model__name=name)
    if get_spec(name).family == "transfer" and config.model.pretrained:
        # A pretrained backbone expects its own ImageNet normalisation and is fine-tuned in a second phase.
        config = cfg.resolve(RECIPE, [*sets, "data.normalization=fixed",
                                      f"train.fine_tune_epochs={config.train.epochs}", *extra_sets],
                             model__name=name)
    return config


def _row(rows: list[dict], suffix: str, threads: int) -> dict:
    for r in rows:
        if r["artifact"].endswith(suffix) and r.get("threads") == threads and r.get("status") == "ok":
            return r
    raise AslEdgeError(f"no measured row for *{suffix} on {threads} thread(s)")


def measure(config: cfg.Config, folder: Path, bench: BenchConfig) -> dict:
    """Trains into ``folder/train``, exports into ``folder/export`` and benchmarks one model; returns its row."""
    name = config.model.name
    result = train(config, folder / "train", force=True)
    export_dir = folder / "export"
    # max_drop=100: keep the full-int8 artifact whatever it loses; the loss is what this table shows.
    manifest = export_run(result.folder, ExportConfig(int8=True, families=("tflite",), max_drop=100.0),
                          export_dir, force=True)
    arts = {a["precision"]: a for a in manifest["artifacts"] if a.get("status") == "ok"}
    doc = run_benchmark([export_dir / arts[p]["path"] for p in ("fp32", "int8")], bench)
    fp32_1, int8_1, int8_2 = (_row(doc["results"], "_fp32.tflite", 1), _row(doc["results"], "_int8.tflite", 1),
                              _row(doc["results"], "_int8.tflite", 2))
    spec = get_spec(name)
    return {
        "model": name,
        "family": spec.family,
        "weights": config.model.weights,
        "input_size": config.data.image_size,
        "params": result.metrics["params"],
        "macs": int8_1["macs"],
        "accuracy": result.metrics["accuracy"],
        "int8_accuracy": int8_1["accuracy"],
        "fp32_size_bytes": arts["fp32"]["size_bytes"],
        "int8_size_bytes": arts["int8"]["size_bytes"],
        "latency_ms_p50": int8_1["latency_ms"]["p50"],
        "latency_ms_p50_2threads": int8_2["latency_ms"]["p50"],
        "fp32_latency_ms_p50": fp32_1["latency_ms"]["p50"],
        "worst_shift": int8_1.get("worst_shift"),
        "shifts": {k: v["accuracy"] for k, v in (int8_1.get("shifts") or {}).items()},
        "pi4_estimate_ms": round(estimate_ms(int8_1["macs"], "int8", PI), 3),
        "train_seconds": result.metrics["train_seconds"],
        "epochs_run": result.epochs_run,
        "data": int8_1["data"],
        "num_samples": int8_1["num_samples"],
        "run": str(result.folder),
    }


def bench_config(runs: int) -> BenchConfig:
    """LiteRT on 1 and 2 threads, best of 3 rounds, every camera shift of the int8 artifact."""
    return BenchConfig(threads=(1, 2), runs=runs, rounds=3, warmup=20, gpu=False, shifts=True, verify=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    image_models = [n for n in list_models() if get_spec(n).inputs == "image"]  # landmark models read no pixels
    parser.add_argument("--models", default=",".join(image_models), help="comma-separated registry names")
    parser.add_argument("--set", dest="sets", action="append", default=[], help="override for every model")
    parser.add_argument("--epochs-scale", type=float, default=1.0, help="multiply every epoch budget (quick runs)")
    parser.add_argument("--runs", type=int, default=300, help="timed single-image calls per row and round")
    parser.add_argument("--work", default="runs/compare", help="folder for the runs and exports")
    parser.add_argument("--out", default="runs/compare/architectures.json", help="results JSON")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    work = Path(args.work)
    try:
        names = [n.strip() for n in args.models.split(",") if n.strip()]
        missing = [n for n in names if n not in CANDIDATES]
        for n in names:
            get_spec(n)  # an unknown name fails here, before anything trains
        if missing:
            raise ConfigError(f"no comparison settings for {', '.join(missing)}: add them to CANDIDATES")
        configs = {n: resolve(n, args.sets, args.epochs_scale) for n in names}
        bench = bench_config(args.runs)
        rows, start = [], time.perf_counter()
        for i, name in enumerate(names, 1):
            log.info("[%d/%d] %s", i, len(names), name)
            rows.append(measure(configs[name], work / name, bench))
            log.info("%s: accuracy %.4f, int8 %.4f, %d bytes, p50 %.3f ms on %s", name, rows[-1]["accuracy"],
                     rows[-1]["int8_accuracy"], rows[-1]["int8_size_bytes"], rows[-1]["latency_ms_p50"],
                     rows[-1]["data"])
    except AslEdgeError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    doc = {
        "schema": 1,
        "kind": KIND,
        "command": "python benchmarks/compare_architectures.py " + " ".join(argv if argv is not None else sys.argv[1:]),
        "recipe": RECIPE,
        "initialisation": sorted({r["weights"] for r in rows if r["family"] == "transfer"}),
        "note": ("transfer models trained from random initialisation (no ImageNet weights offline)"
                 if all(r["weights"] == "none" for r in rows if r["family"] == "transfer") else ""),
        "machine": machine_info(),
        "seconds": round(time.perf_counter() - start, 1),
        "results": rows,
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    atomic_write_json(args.out, doc)
    print(json.dumps({r["model"]: [round(r["accuracy"], 4), round(r["int8_accuracy"], 4), r["int8_size_bytes"],
                                   round(r["latency_ms_p50"], 3)] for r in rows}, indent=1))
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
