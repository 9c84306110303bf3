#!/usr/bin/env python3
"""The mixed-int8 target: full int8 against the int8_mixed artifact on held-out signers.

Exports a trained run twice with the installed ``asl-edge``: once with the gate open (``--max-drop
100``: the full int8 artifacts stay, whatever they lose) and once with ``--layer-report --max-drop
X`` (full int8 is refused where it loses more than X points and an int8_mixed artifact replaces it).
Then times each int8 artifact (one thread, one image, median of interleaved rounds) and writes one
JSON with the accuracies on the run's held-out test split (signers not seen in training), sizes,
latencies, the layers kept in float and whether the target holds (full int8 loses more than 1 point,
mixed within 0.5 point at no more than 1.5x the full int8 size).

Usage: python benchmarks/quant_target.py RUN --max-drop 0.5 --train-command "asl-edge train ..." \
           --out benchmarks/results/quant/NAME.json
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np


def _export(run: Path, out: Path, *flags: str) -> tuple[list[str], dict]:
    cmd = ["asl-edge", "export", str(run), "--int8", *flags, "--out", str(out), "--force"]
    subprocess.run([sys.executable, "-m", "asl_edge", *cmd[1:]], check=False, capture_output=True, text=True)
    return cmd, json.loads((out / "manifest.json").read_text())


def _latency(paths: list[Path], rounds: int = 5, per_round: int = 100) -> dict[str, float]:
    from asl_edge.runtime.runners import load_runner

    runners = {p.name: load_runner(p, threads=1) for p in paths}
    x = np.random.default_rng(0).uniform(0, 1, (1, *runners[paths[0].name].input_shape)).astype(np.float32)
    best = {name: float("inf") for name in runners}
    for _ in range(rounds):
        for name, runner in runners.items():
            runner.predict(x)
            t = time.perf_counter()
            for _ in range(per_round):
                runner.predict(x)
            best[name] = min(best[name], (time.perf_counter() - t) / per_round * 1000)
    return best


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", type=Path)
    parser.add_argument("--max-drop", type=float, default=0.5)
    parser.add_argument("--train-command", default="", help="How the run was trained (recorded).")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        full_cmd, full = _export(args.run, Path(tmp) / "full", "--max-drop", "100")
        mixed_cmd, mixed = _export(args.run, Path(tmp) / "mixed", "--layer-report", "--max-drop", str(args.max_drop))
        timed = [Path(tmp) / "full" / a["path"] for a in full["artifacts"] if a["precision"] == "int8"]
        timed += [Path(tmp) / "mixed" / a["path"] for a in mixed["artifacts"] if a["precision"] == "int8_mixed"]
        latency = _latency(timed)
        layer_report = json.loads((Path(tmp) / "mixed" / "layer_report.json").read_text())
    families = {}
    for fam in ("tflite", "onnx"):
        f = next(a for a in full["artifacts"] if a["family"] == fam and a["precision"] == "int8")
        row = {"full_int8": {"path": f["path"], "accuracy": f["accuracy"], "accuracy_drop_pp": f["accuracy_drop_pp"],
                             "size_bytes": f["size_bytes"], "latency_ms_1thread": latency[f["path"]]}}
        m = next((a for a in mixed["artifacts"] if a["family"] == fam and a["precision"] == "int8_mixed"), None)
        if m is None:
            kept = next((a for a in mixed["artifacts"] if a["family"] == fam and a["precision"] == "int8"), None)
            row["mixed"] = None
            row["note"] = ("full int8 within --max-drop: kept, no mixed artifact" if kept else
                           "full int8 refused and no mixed artifact met --max-drop")
        else:
            row["mixed"] = {"path": m["path"], "accuracy": m["accuracy"], "accuracy_drop_pp": m["accuracy_drop_pp"],
                            "size_bytes": m["size_bytes"], "latency_ms_1thread": latency[m["path"]],
                            "float_layers": m["float_layers"], "search": m["search"],
                            "size_vs_full_int8": round(m["size_bytes"] / f["size_bytes"], 3)}
            row["target_met"] = bool(f["accuracy_drop_pp"] > 1.0 and m["accuracy_drop_pp"] <= 0.5
                                     and m["size_bytes"] <= 1.5 * f["size_bytes"])
        families[fam] = row
    doc = {"kind": "quant-mixed", "issue": 18, "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
           "run": full["name"], "model_sha256": full["source"]["model_sha256"],
           "train_command": args.train_command,
           "commands": [" ".join(full_cmd), " ".join(mixed_cmd),
                        f"python benchmarks/quant_target.py {args.run} --max-drop {args.max_drop} --out {args.out}"],
           "evaluation": full["evaluation"], "float_accuracy": full["float_accuracy"],
           "latency": "one thread, one image, best of 5 interleaved rounds of the mean of 100 runs, this machine",
           "families": families,
           "worst_layers": [{k: r[k] for k in ("rank", "layer", "kind", "nsr", "rmse_scale", "macs_share",
                                               "size_share")} for r in layer_report["layers"][:5]],
           "versions": full["versions"]}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(doc, indent=2) + "\n")
    print(json.dumps(families, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
