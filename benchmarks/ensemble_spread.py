#!/usr/bin/env python3
"""Do models trained alike miss the same images under a shift? And does the mean of their outputs?

For each model: accuracy unchanged and under ``--shift`` on its held-out split (the images and
preprocessing of :func:`asl_edge.bench.evaluate.evaluate_shifts`); over the models: how many
images any of them gets wrong under the shift, how many of those only one model gets wrong, and the
accuracy of the mean of their output probabilities (an ensemble). The models must share a split.

Usage (benchmarks/REPORT_HISTORY.md, "Sixth round"; the run folders of ``shift_ablation.py``):
    PYTHONPATH=. python benchmarks/ensemble_spread.py --name two_aa_runs \
        runs/ablation/fast_blur13_stem1_ls02_aa/fast_blur13_stem1_ls02_aa \
        runs/ablation/fast_blur13_stem1_ls02_aa_repeat/fast_blur13_stem1_ls02_aa_repeat \
        --out benchmarks/results/shifts/ensemble_spread.json
Each ``--name`` is one entry of the JSON file (other entries are kept).
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
from pathlib import Path

import numpy as np

from asl_edge.bench.evaluate import _load_target, _shift_stage
from asl_edge.runtime.fsutil import atomic_write_json
from asl_edge.runtime.shifts import get_shift


def outputs(model: str, shift: str) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Labels and output probabilities of ``model`` on its held-out split, unchanged and under ``shift``."""
    runner, _names, pre, ds, _chosen = _load_target(model, None, False, override=_shift_stage)
    rgb = ds.load_images(np.arange(len(ds)))
    probs = {}
    for name, transform in (("unchanged", lambda img: img), (shift, get_shift(shift).apply)):
        probs[name] = runner.predict(pre.normalize(np.stack([pre.from_array(transform(img)) for img in rgb])))
    return ds.labels, probs


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("models", nargs="+", help="run folders or artifacts sharing one held-out split")
    ap.add_argument("--shift", default="smaller_0.5")
    ap.add_argument("--name", required=True, help="the entry of the JSON file")
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args(argv)

    labels, per_model = None, []
    for model in args.models:
        got, probs = outputs(model, args.shift)
        if labels is not None and not np.array_equal(labels, got):
            sys.exit(f"ensemble_spread: {model} is scored on another split than {args.models[0]}")
        labels = got
        per_model.append(probs)
    wrong = [p[args.shift].argmax(1) != labels for p in per_model]
    times_wrong = np.sum(wrong, axis=0)
    entry = {
        "command": shlex.join(["python", "benchmarks/ensemble_spread.py", *sys.argv[1:]]),
        "shift": args.shift,
        "num_samples": int(len(labels)),
        "models": [{"model": m, **{k: float((p[k].argmax(1) == labels).mean()) for k in p}}
                   for m, p in zip(args.models, per_model)],
        "wrong_in_any": int((times_wrong > 0).sum()),
        "wrong_in_one_only": int((times_wrong == 1).sum()),
        "ensemble": {k: float((np.mean([p[k] for p in per_model], axis=0).argmax(1) == labels).mean())
                     for k in per_model[0]},
    }
    doc = json.loads(args.out.read_text()) if args.out.is_file() else {"schema": 1, "kind": "ensemble-spread"}
    doc[args.name] = entry
    atomic_write_json(args.out, doc)
    print(json.dumps(entry, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
