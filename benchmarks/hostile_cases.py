#!/usr/bin/env python3
"""Runs every hostile case of the test tables and records each one's outcome, time and peak memory.

The cases are the rows of ``CASES`` in ``tests/test_hostile_round2.py`` (and of any other table
module named with ``--tables`` that follows the same shape): each builds a tiny crafted file, runs
one ``asl-edge`` command on it in a fresh process capped at 1.5 GB resident and 20 s (TensorFlow
commands get more wall time on a shared 2-core machine; see ``time_s`` per case), and is held to
its expectation (a clear one-line refusal, a benchmark row refused, or a correct result; no
marker file from a planted command). The tiny model they use is trained here as the test suite's
fixtures train it (``tests/conftest.py``).

Usage: python benchmarks/hostile_cases.py --out benchmarks/results/quality/hostile.json
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))


def fixtures(folder: Path):
    """The tiny npz, run and export the test suite uses (``tests/conftest.py``), built in ``folder``."""
    from conftest import TINY_SETS, make_tiny_npz

    from asl_edge.export import ExportConfig, export_run
    from asl_edge.training import config as cfg
    from asl_edge.training.trainer import train

    npz = make_tiny_npz(folder / "tiny.npz")
    run = folder / "runs" / "tiny"
    train(cfg.resolve("fast", [f"data.source={npz}", *TINY_SETS]), run)
    export = folder / "export" / "tiny"
    export_run(run, ExportConfig(int8=True, fp16=True, dynamic=True, calib_samples=20, max_drop=100.0), export)
    return run, export, npz


def run_table(module_name: str, fx_paths, folder: Path, only: str | None) -> list[dict]:
    table = importlib.import_module(module_name)
    fx = table.Fixtures(*fx_paths)
    rows = []
    for case in table.CASES:
        if only and only not in case.id:
            continue
        tmp = folder / "cases" / case.id
        tmp.mkdir(parents=True)
        setup, r = table.run_case(case, tmp, fx)
        try:
            table.check(case, setup, r)
            within = not r.timed_out and r.peak_rss_bytes <= r.mem_bytes
            outcome, why = "pass", None
        except AssertionError as exc:
            within, outcome, why = False, "FAIL", str(exc).splitlines()[0][:300]
        last = r.stderr.strip().splitlines()[-1] if r.stderr.strip() else ""
        rows.append({"table": module_name, "id": case.id, "class": case.cls, "severity": case.severity,
                     "expect": setup.expect, "outcome": outcome, "why": why, "exit": r.returncode,
                     "last_stderr_line": last[:300], "wall_s": round(r.wall_s, 2),
                     "time_limit_s": setup.time_s, "peak_rss_mb": r.peak_rss_bytes >> 20,
                     "within_1_5_gb": r.peak_rss_bytes <= r.mem_bytes, "within_limits": within,
                     "imports_tensorflow": setup.tf, "code_ran": bool(setup.marker and setup.marker.exists())})
        print(f"{outcome:4s} {case.id:32s} exit {r.returncode!s:4s} {r.wall_s:5.1f} s "
              f"{r.peak_rss_bytes >> 20:5d} MB  {last[:90]}", flush=True)
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--tables", nargs="+", default=["test_hostile_round2"],
                        help="test modules (under tests/) whose CASES to run")
    parser.add_argument("--only", default=None, help="run only cases whose id contains this")
    args = parser.parse_args(argv)
    start, load_before = time.time(), os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="asl-edge-hostile-") as tmp:
        folder = Path(tmp)
        fx_paths = fixtures(folder)
        rows = [row for name in args.tables for row in run_table(name, fx_paths, folder, args.only)]
    command = " ".join(["python", "benchmarks/hostile_cases.py", *(argv or sys.argv[1:])])
    doc = {"kind": "hostile-cases", "command": command,
           "machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                       "loadavg_before": [round(v, 2) for v in load_before],
                       "loadavg_after": [round(v, 2) for v in os.getloadavg()]},
           "note": "wall times measured while other jobs shared the 2 CPUs (loadavg above); peak_rss_mb is the "
                   "largest resident set of the command and every child it waited for (wait4)",
           "targets": {"peak_rss_mb": 1536, "wall_s": 20},
           "summary": {"cases": len(rows), "pass": sum(r["outcome"] == "pass" for r in rows),
                       "code_ran": sum(r["code_ran"] for r in rows),
                       "over_20_s": [r["id"] for r in rows if r["wall_s"] > 20],
                       "by_severity": {s: sum(r["severity"] == s for r in rows)
                                       for s in ("critical", "high", "medium", "low")}},
           "seconds": round(time.time() - start, 1), "cases": rows}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(doc, indent=1) + "\n")
    print(f"{doc['summary']['pass']} of {len(rows)} cases pass; wrote {args.out}")
    return 0 if doc["summary"]["pass"] == len(rows) else 1


if __name__ == "__main__":
    sys.exit(main())
