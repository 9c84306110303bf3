#!/usr/bin/env python3
"""Peak memory of training and evaluating on image trees of growing size, streamed from disk.

Generates class-per-folder trees of small JPEGs (10 classes), trains one epoch of the edge CNN
on each with ``data.stream=true``, then evaluates the trained model on the whole tree
(``asl-edge evaluate RUN --data TREE``, which always streams folders), and records the peak
resident memory of each process (``ru_maxrss`` of the child). Flat memory as the tree grows
tenfold shows that images are decoded per batch and never all held at once.

Usage: python benchmarks/scale_check.py --sizes 10000 100000 --out benchmarks/results/scale/scale.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image


def make_tree(root: Path, n: int, side: int = 48, seed: int = 0) -> None:
    rng = np.random.default_rng(seed)
    base = rng.integers(0, 255, (10, side, side, 3), dtype=np.uint8)
    for c in range(10):
        (root / f"class{c}").mkdir(parents=True, exist_ok=True)
    for i in range(n):
        c = i % 10
        noise = rng.integers(0, 40, (side, side, 3), dtype=np.uint8)
        Image.fromarray(base[c] // 2 + noise).save(root / f"class{c}" / f"{i:06d}.jpg", quality=85)


def peak_rss_mb_of(cmd: list[str]) -> tuple[float, float]:
    """Runs ``cmd`` in a fresh process and returns (its peak RSS in MB, wall seconds)."""
    start = time.perf_counter()
    pid = os.fork()
    if pid == 0:
        os.execvp(cmd[0], cmd)
    _, status, usage = os.wait4(pid, 0)
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"command failed: {' '.join(cmd)}")
    return usage.ru_maxrss / 1024, time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for n in args.sizes:
            tree = Path(tmp) / f"tree{n}"
            t = time.perf_counter()
            make_tree(tree, n)
            gen_s = time.perf_counter() - t
            run = Path(tmp) / f"run{n}"
            train = [sys.executable, "-m", "asl_edge", "train", "--data", str(tree), "--out", str(run),
                     "--set", "data.stream=true", "--set", "train.epochs=1", "--set", "data.image_size=32",
                     "--set", "train.batch_size=64"]
            evaluate = [sys.executable, "-m", "asl_edge", "evaluate", str(run), "--data", str(tree), "--json"]
            train_rss, train_s = peak_rss_mb_of(train)
            eval_rss, eval_s = peak_rss_mb_of(evaluate)
            rows.append({"images": n, "train_peak_rss_mb": round(train_rss, 1), "train_wall_s": round(train_s, 1),
                         "evaluate_peak_rss_mb": round(eval_rss, 1), "evaluate_wall_s": round(eval_s, 1),
                         "generate_s": round(gen_s, 1)})
            print(json.dumps(rows[-1]), flush=True)
            shutil.rmtree(tree)  # keep at most one tree on disk
    args.out.parent.mkdir(parents=True, exist_ok=True)
    method = ("ru_maxrss of each process: train = 1 epoch of the fast recipe's edge_cnn at 32x32 with "
              "data.stream=true (train/val/test split of the tree, test evaluated at the end); evaluate = "
              "asl-edge evaluate on the whole tree (streamed); 48x48 JPEGs, 10 classes")
    args.out.write_text(json.dumps({"method": method, "machine": platform.platform(), "cores": os.cpu_count(),
                                    "rows": rows}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
