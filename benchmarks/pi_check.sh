#!/usr/bin/env bash
# The runtime-only install, as on a Raspberry Pi: a fresh venv with `pip install ".[pi]"` (no
# TensorFlow), then predict, evaluate and benchmark on the committed reference artifacts.
# Usage: bash benchmarks/pi_check.sh [VENV_DIR] [EXPORT_DIR]   (`make pi-check`, and CI)
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${1:-.venv-pi}
EXPORT=${2:-export/asl-digits-fast}
PY=${PYTHON:-python3}

rm -rf "$VENV"
"$PY" -m venv "$VENV"
"$VENV/bin/python" -m pip install -q --upgrade pip
"$VENV/bin/python" -m pip install -q ".[pi]"

if "$VENV/bin/python" -m pip show tensorflow >/dev/null 2>&1; then
  echo "pi-check: FAILED: tensorflow got installed with the pi extra" >&2; exit 1
fi
ASL="$VENV/bin/asl-edge"
"$ASL" --help >/dev/null

# A few raw photographs: from the original data set beside the repo when present, else decoded
# from the built-in copy.
IMAGES=$(mktemp -d)
trap 'rm -rf "$IMAGES"' EXIT
"$VENV/bin/python" - "$IMAGES" <<'PY'
import io, sys
from pathlib import Path
import numpy as np
from PIL import Image
import asl_edge.data.builtin as b
out = Path(sys.argv[1]); raw = Path("../shared/datasets/asl-digits")
with np.load(b.BUILTIN_FILE) as z:
    names, blobs, offsets = z["filenames"], z["blobs"].tobytes(), z["offsets"]
for i in (0, 401, 802, 1203, 1604):
    dest = out / names[i].replace("/", "_")
    if raw.is_dir():
        dest.write_bytes((raw / names[i]).read_bytes())
    else:
        Image.open(io.BytesIO(blobs[offsets[i]:offsets[i + 1]])).save(dest.with_suffix(".png"))
PY

for artifact in "$EXPORT"/*.tflite "$EXPORT"/*.onnx; do
  echo "== $artifact"
  "$ASL" predict "$artifact" "$IMAGES" --top-k 1
  "$ASL" evaluate "$artifact" --json | "$VENV/bin/python" -c "import json,sys; m=json.load(sys.stdin); print(f\"evaluate on {m['data']}: accuracy {m['accuracy']:.4f}, macro F1 {m['macro_f1']:.4f}\")"
done
if "$ASL" benchmark --help >/dev/null 2>&1; then
  "$ASL" benchmark "$EXPORT" --runs 50 --threads 1 --out "$IMAGES/bench.json"
fi
"$VENV/bin/python" -c "import sys, asl_edge.cli; sys.exit('tensorflow was imported' if 'tensorflow' in sys.modules else 0)"

size() { du -sm "$1" | cut -f1; }
echo "pi-check: OK. runtime-only venv $(size "$VENV") MB$( [ -d .venv ] && echo ", training venv $(size .venv) MB")"
"$VENV/bin/python" - "$ASL" "$(ls "$EXPORT"/*_int8.tflite | head -1)" "$(ls "$IMAGES"/* | head -1)" <<'PY'
import subprocess, sys, time
start = time.perf_counter()
subprocess.run(sys.argv[1:2] + ["predict"] + sys.argv[2:], check=True, stdout=subprocess.DEVNULL)
print(f"cold-start predict of one image (int8 TFLite, new process): {time.perf_counter() - start:.2f} s")
PY
