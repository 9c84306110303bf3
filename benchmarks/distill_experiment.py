"""Knowledge distillation measured: a large teacher into the ``fast`` student, against
the same student trained alone, on held-out signers and on every camera shift.

Three runs on the same signer split (the ``fast`` recipe's data, split and augmentation), each
trained, exported to int8 TFLite and benchmarked as in ``compare_architectures.py``:

- ``teacher``: ``deep_cnn`` (a VGG-style CNN, about 4x the student's weights) with the fast recipe;
- ``alone``: the fast recipe as shipped (the student without a teacher);
- ``distilled``: the fast recipe with ``--teacher`` (``train.distill_temperature``,
  ``train.distill_weight``: the recipe's defaults unless ``--set`` says otherwise).

``gap_closed`` = (distilled - alone) / (teacher - alone), on float and on int8 accuracy.

Usage::

    python benchmarks/distill_experiment.py     # runs/distill/distill.json
    python benchmarks/distill_experiment.py --out benchmarks/results/distill/distill.json
"""

from __future__ import annotations

import argparse
import logging
import statistics
import sys
import time
from pathlib import Path

from compare_architectures import RECIPE, bench_config, measure

from asl_edge.bench.machine import machine_info
from asl_edge.runtime.errors import AslEdgeError
from asl_edge.runtime.fsutil import atomic_write_json
from asl_edge.training import config as cfg

log = logging.getLogger("distill_experiment")

KIND = "distillation"
TEACHER = ("deep_cnn", ["train.epochs=40"])


def _gap(rows: dict, key: str) -> float | None:
    span = rows["teacher"][key] - rows["alone"][key]
    return None if span <= 0 else round((rows["distilled"][key] - rows["alone"][key]) / span, 3)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--set", dest="sets", action="append", default=[], help="override for the distilled run")
    parser.add_argument("--work", default="runs/distill", help="folder for the runs and exports")
    parser.add_argument("--runs", type=int, default=300, help="timed single-image calls per row and round")
    parser.add_argument("--out", default="runs/distill/distill.json", help="results JSON")
    parser.add_argument("--base-set", dest="base_sets", action="append", default=[],
                        help="override for all three runs (quick tests: data source, epochs)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    work, bench, start = Path(args.work), bench_config(args.runs), time.perf_counter()
    teacher_dir = work / "teacher"
    try:
        configs = {
            "teacher": cfg.resolve(RECIPE, [*TEACHER[1], *args.base_sets], model__name=TEACHER[0]),
            "alone": cfg.resolve(RECIPE, args.base_sets),
            "distilled": cfg.resolve(RECIPE, [*args.base_sets, *args.sets],
                                     train__teacher=str(teacher_dir / "train")),
        }
        rows = {}
        for role, config in configs.items():
            log.info("[%s] %s", role, config.model.name)
            rows[role] = {"role": role, **measure(config, work / role, bench)}
            shifts = rows[role]["shifts"]
            rows[role]["mean_shift_accuracy"] = round(statistics.mean(shifts.values()), 4) if shifts else None
    except AslEdgeError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    distilled = configs["distilled"].train
    doc = {
        "schema": 1,
        "kind": KIND,
        "command": "python benchmarks/distill_experiment.py " + " ".join(argv if argv is not None else sys.argv[1:]),
        "distillation": {"temperature": distilled.distill_temperature, "weight": distilled.distill_weight},
        "gap_closed": {"accuracy": _gap(rows, "accuracy"), "int8_accuracy": _gap(rows, "int8_accuracy"),
                       "mean_shift_accuracy": _gap(rows, "mean_shift_accuracy")},
        "machine": machine_info(),
        "seconds": round(time.perf_counter() - start, 1),
        "results": list(rows.values()),
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    atomic_write_json(args.out, doc)
    for r in doc["results"]:
        print(f"{r['role']:10} {r['model']:9} float {r['accuracy']:.4f} int8 {r['int8_accuracy']:.4f} "
              f"mean shift {r['mean_shift_accuracy']} worst {r['worst_shift']} "
              f"{r['int8_size_bytes'] / 1024:.1f} KB p50 {r['latency_ms_p50']:.3f} ms  ({r['data']})")
    print(f"gap closed: {doc['gap_closed']}\nwrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
