#!/usr/bin/env python3
"""How long a newcomer waits: `asl-edge --help` and a first prediction, each a whole process.

Each command runs ``--runs`` times after one warm-up run (the file cache warm, as on a second try);
wall time from ``time.perf_counter`` around the process, CPU time from the child's ``resource``
accounting. The median is quoted. Writes ``benchmarks/results/quality/cli_startup.json``.

    python benchmarks/cli_startup.py [--runs 5] [--bin .venv/bin] [--out FILE]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
COMMANDS = {
    "help": ["--help"],
    "predict_fast": ["predict", "export/asl-digits-fast/asl-digits-fast_int8.tflite", "{photo}"],
    "predict_camera": ["predict", "export/asl-digits-camera/asl-digits-camera_int8.tflite", "{photo}"],
}


def _photo(dest: Path) -> Path:
    """One photograph of the built-in set, its original JPEG bytes written to a file (what a user passes)."""
    import numpy as np

    from asl_edge.data.builtin import BUILTIN_FILE

    with np.load(BUILTIN_FILE) as data:
        offsets = data["offsets"]
        dest.write_bytes(data["blobs"][offsets[0]:offsets[1]].tobytes())
    return dest


def _run(argv: list[str]) -> tuple[float, float]:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run(argv, cwd=ROOT, check=True, capture_output=True)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--bin", default=".venv/bin", help="the venv's bin folder holding asl-edge")
    ap.add_argument("--photo", type=Path, default=None, help="an image to predict [a built-in close-up]")
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "quality" / "cli_startup.json")
    args = ap.parse_args(argv)
    photo = args.photo or _photo(Path(os.environ.get("TMPDIR", "/tmp")) / "asl-edge-startup.jpg")
    exe = str(Path(args.bin) / "asl-edge")
    rows = {}
    for name, tail in COMMANDS.items():
        argv = [exe, *(a.format(photo=photo) for a in tail)]
        _run(argv)  # warm-up
        times = [_run(argv) for _ in range(args.runs)]
        rows[name] = {"command": " ".join(["asl-edge", *tail]),
                      "wall_s_median": round(statistics.median(t[0] for t in times), 3),
                      "cpu_s_median": round(statistics.median(t[1] for t in times), 3),
                      "wall_s": [round(t[0], 3) for t in times]}
        print(f"{name:15} median {rows[name]['wall_s_median']:.3f} s wall, {rows[name]['cpu_s_median']:.3f} s CPU")
    doc = {"schema": 1, "kind": "cli-startup", "command": "python benchmarks/cli_startup.py",
           "machine": f"{platform.machine()}, {os.cpu_count()} cores", "loadavg_start": os.getloadavg(),
           "venv": args.bin, "runs": args.runs, "photo": "a built-in close-up as a JPEG" if not args.photo
           else str(args.photo), "targets": {"help_s": 1.0, "first_prediction_s": 2.0}, "rows": rows}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(doc, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
