#!/usr/bin/env python3
"""Size of each artifact of compressed exports against the fp32 TFLite of a baseline export.

Reads only the manifests (sizes raw and gzipped, accuracy, compression steps) through
``asl_edge.runtime.integrity.read_manifest``, so it runs in the runtime-only install too.

Usage: python benchmarks/compression_ratio.py BASELINE_EXPORT COMPRESSED_EXPORT...
"""

from __future__ import annotations

import sys
from pathlib import Path

from asl_edge.runtime.integrity import read_manifest


def main(baseline: str, *others: str) -> int:
    base = read_manifest(Path(baseline))
    fp32 = next(a for a in base["artifacts"] if a["format"] == "tflite_fp32")
    print(
        f"baseline: {fp32['path']} {fp32['size_bytes'] / 1024:.1f} KB, gzipped {fp32['size_gzip_bytes'] / 1024:.1f} KB"
    )
    print(
        f"{'export':32} {'artifact':36} {'KB':>7} {'gzip KB':>8} {'x raw':>6} {'x gzip':>7} "
        f"{'accuracy':>8}  compression"
    )
    for folder in (baseline, *others):
        m = read_manifest(Path(folder))
        steps = ", ".join(f"{k}={v}" for k, v in (m.get("compression") or {}).items()) or "none"
        for a in m["artifacts"]:
            if a["format"].startswith("tflite"):
                print(
                    f"{Path(folder).name:32} {a['path']:36} {a['size_bytes'] / 1024:7.1f} "
                    f"{a['size_gzip_bytes'] / 1024:8.1f} {fp32['size_bytes'] / a['size_bytes']:6.2f} "
                    f"{fp32['size_gzip_bytes'] / a['size_gzip_bytes']:7.2f} {a['accuracy']:8.4f}  {steps}"
                )
    return 0


if __name__ == "__main__":
    if len(sys.argv) < 3:
        sys.exit(__doc__.strip().splitlines()[-1])
    sys.exit(main(*sys.argv[1:]))
