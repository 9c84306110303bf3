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

# None of the training stack: evaluate's metrics are NumPy, the scene photograph ships in the package.
for pkg in tensorflow scikit-learn scipy; do
  if "$VENV/bin/python" -m pip show "$pkg" >/dev/null 2>&1; then
    echo "pi-check: FAILED: $pkg got installed with the pi extra" >&2; exit 1
  fi
done
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
# Camera shifts without scikit-learn: the scene one reads the photograph shipped in the package.
"$ASL" evaluate "$(ls "$EXPORT"/*_int8.tflite | head -1)" --shift bg_scene --shift darker_0.3 --json \
  | "$VENV/bin/python" -c "import json,sys; m=json.load(sys.stdin); print('evaluate with camera shifts: ' + ', '.join(f'{k} {v[\"accuracy\"]:.4f}' for k, v in m['shifts'].items()))"
if "$ASL" benchmark --help >/dev/null 2>&1; then
  "$ASL" benchmark "$EXPORT" --runs 50 --rounds 2 --threads 1 --out "$IMAGES/bench.json"
fi
# The camera model: the hand localiser (MediaPipe's models, shipped in the package) runs through
# LiteRT in the runtime-only install too; a frame without a hand says so.
CAMERA=${CAMERA:-export/asl-digits-camera}
if [ -d "$CAMERA" ]; then
  CAM_INT8=$(ls "$CAMERA"/*_int8.tflite | head -1)
  "$ASL" predict "$CAM_INT8" "$IMAGES" --top-k 1
  "$VENV/bin/python" -c "from PIL import Image; Image.new('RGB', (320, 240), (128, 128, 128)).save('$IMAGES/blank.png')"
  "$ASL" predict "$CAM_INT8" "$IMAGES/blank.png" | grep -q "no hand found" \
    || { echo "pi-check: FAILED: the camera model did not say 'no hand found' for a blank frame" >&2; exit 1; }
  "$ASL" evaluate "$CAM_INT8" --json | "$VENV/bin/python" -c "import json,sys; m=json.load(sys.stdin); print(f\"evaluate camera model ({m['data']}): accuracy {m['accuracy']:.4f}, no hand in {m['no_hand_share']:.1%}\")"
  "$ASL" benchmark "$CAMERA" --runs 30 --rounds 1 --threads 1 --out "$IMAGES/bench-camera.json"
  # The Pi's ribbon-cable camera comes through picamera2, from apt (not pip): absent from this venv,
  # the live loop says what to install in one line.
  err=$("$ASL" predict "$CAM_INT8" --camera picamera --serve 0 --bind 127.0.0.1 2>&1 >/dev/null) \
    && { echo "pi-check: FAILED: --camera picamera ran without picamera2" >&2; exit 1; }
  if [ "$(printf '%s\n' "$err" | wc -l)" -ne 1 ] || ! grep -q "python3-picamera2" <<<"$err"; then
    echo "pi-check: FAILED: --camera picamera without picamera2 gave: $err" >&2; exit 1
  fi
  echo "pi-check: --camera picamera without picamera2: $err"
  rm -f "$IMAGES/blank.png"
fi
"$VENV/bin/python" -c "import sys, asl_edge.cli; sys.exit('tensorflow was imported' if 'tensorflow' in sys.modules else 0)"

# Commands that need the training extra say so in one line (and exit non-zero), never a traceback.
expect_train_extra() {
  local err rc=0
  err=$("$ASL" "$@" 2>&1 >/dev/null) || rc=$?
  if [ "$rc" -eq 0 ] || [ "$(printf '%s\n' "$err" | wc -l)" -ne 1 ] || ! grep -q "pip install .*\[train\]" <<<"$err"; then
    echo "pi-check: FAILED: 'asl-edge $*' without the train extra gave (exit $rc): $err" >&2; exit 1
  fi
}
expect_train_extra train --out "$IMAGES/run"
expect_train_extra data-info --out "$IMAGES/info"
expect_train_extra report benchmarks/results/bench/x86_64-2core-epyc-avx2.json --out "$IMAGES/report"
expect_train_extra export models/asl-digits-fast --out "$IMAGES/export"
expect_train_extra predict models/asl-digits-fast "$IMAGES"
echo "pi-check: train, data-info, report, export and predict on a Keras run each name the train extra in one line"

size() { du -sm "$1" | cut -f1; }
# The Pi's budget for the runtime-only venv (benchmarks/results/pi_install.json has the measured sizes).
MAX_MB=${PI_MAX_MB:-300}
if [ "$(size "$VENV")" -gt "$MAX_MB" ]; then
  echo "pi-check: FAILED: the runtime-only venv is $(size "$VENV") MB, over its $MAX_MB MB budget" >&2; exit 1
fi
echo "pi-check: OK. runtime-only venv $(size "$VENV") MB (budget $MAX_MB MB)$( [ -d .venv ] && echo ", training venv $(size .venv) MB")"
"$VENV/bin/python" - "$ASL" "$(ls "$EXPORT"/*_int8.tflite | head -1)" "$(ls "$IMAGES"/* | head -1)" <<'PY'
import subprocess, sys, time
start = time.perf_counter()
subprocess.run(sys.argv[1:2] + ["predict"] + sys.argv[2:], check=True, stdout=subprocess.DEVNULL)
print(f"cold-start predict of one image (int8 TFLite, new process): {time.perf_counter() - start:.2f} s")
PY
