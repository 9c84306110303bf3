#!/usr/bin/env bash
# Reproduces the committed benchmark results and report (`make bench`): the reference export
# measured twice in a row (the second run checks repeatability), then REPORT.md + report.html.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${BIN:-.venv/bin}
EXPORT=${EXPORT:-export/asl-digits-fast}
DEVICE=${DEVICE:-$(uname -m)-$(nproc)core}
mkdir -p benchmarks/results
"$BIN/asl-edge" benchmark "$EXPORT" --threads 1,2 --runs 500 --device-name "$DEVICE" --out "benchmarks/results/$DEVICE.json"
"$BIN/asl-edge" benchmark "$EXPORT" --threads 1,2 --runs 500 --device-name "$DEVICE (repeat)" --out "benchmarks/results/$DEVICE-repeat.json"
"$BIN/python" - "benchmarks/results/$DEVICE.json" "benchmarks/results/$DEVICE-repeat.json" <<'PY'
import json, sys
a, b = (json.load(open(p))["results"] for p in sys.argv[1:3])
worst = 0.0
for x, y in zip(a, b):
    if x["status"] == y["status"] == "ok":
        d = abs(x["latency_ms"]["p50"] - y["latency_ms"]["p50"]) / x["latency_ms"]["p50"]
        worst = max(worst, d)
        print(f"{x['artifact']:32} {x['runtime']:12} x{x['threads']}  p50 {x['latency_ms']['p50']:.3f} / {y['latency_ms']['p50']:.3f} ms  ({d:+.1%})")
print(f"largest p50 difference between the two runs: {worst:.1%}")
PY
"$BIN/asl-edge" report "benchmarks/results/$DEVICE.json" --out benchmarks
