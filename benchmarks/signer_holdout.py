#!/usr/bin/env python3
"""Accuracy on unseen signers, over several independent signer splits.

Each seed draws a different split of the built-in set by signer (train / validation / test, no
person on two sides) and trains the recipe from scratch; the held-out test accuracies are then
summarised. One split's test set holds only ~30 signers, so one figure alone says little.

Usage: python benchmarks/signer_holdout.py --recipe fast --seeds 0 1 2 3 4 \
           --out benchmarks/results/holdout/holdout-fast.json
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--recipe", default="fast")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    runs = []
    with tempfile.TemporaryDirectory() as tmp:
        for seed in args.seeds:
            out = Path(tmp) / f"seed{seed}"
            start = time.perf_counter()
            subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "asl_edge",
                    "train",
                    "--recipe",
                    args.recipe,
                    "--out",
                    str(out),
                    "--set",
                    f"train.seed={seed}",
                ],
                check=True,
            )
            m = json.loads((out / "metrics.json").read_text())
            runs.append(
                {
                    "seed": seed,
                    "accuracy": m["accuracy"],
                    "macro_f1": m["macro_f1"],
                    "test_images": m["num_samples"],
                    "test_signers": m["split"]["groups"]["test"],
                    "epochs": m["epochs_run"],
                    "train_seconds": m["train_seconds"],
                    "wall_seconds": round(time.perf_counter() - start, 1),
                }
            )
            print(json.dumps(runs[-1]), flush=True)
    acc = [r["accuracy"] for r in runs]
    summary = {
        "recipe": args.recipe,
        "runs": runs,
        "accuracy_mean": statistics.mean(acc),
        "accuracy_std": statistics.stdev(acc) if len(acc) > 1 else 0.0,
        "accuracy_min": min(acc),
        "accuracy_max": max(acc),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(summary, indent=2) + "\n")
    print(
        f"{args.recipe}: unseen-signer accuracy {summary['accuracy_mean']:.4f} ± {summary['accuracy_std']:.4f} "
        f"(min {summary['accuracy_min']:.4f}, max {summary['accuracy_max']:.4f}) over {len(acc)} splits"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
