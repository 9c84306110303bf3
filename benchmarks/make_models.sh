#!/usr/bin/env bash
# Rebuilds the reference model of the fast recipe (models/asl-digits-fast/) and its deployable
# artifacts (export/asl-digits-fast/) from scratch, then writes the model card; then the compressed
# variant (export/asl-digits-fast-compressed/: pruned 50%, 4 clusters per kernel, prune- and
# cluster-preserving QAT, int8 TFLite) and the size comparison of the two. `make models`.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${BIN:-.venv/bin}
NAME=asl-digits-fast

"$BIN/asl-edge" train --recipe fast --out "models/$NAME" --force
"$BIN/asl-edge" export "models/$NAME" --int8 --fp16 --out "export/$NAME" --force
"$BIN/python" benchmarks/model_card.py "models/$NAME" "export/$NAME"
"$BIN/asl-edge" export "models/$NAME" --int8 --prune 0.5 --cluster 4 --qat --epochs 5 --formats tflite \
  --out "export/$NAME-compressed" --force
"$BIN/python" benchmarks/compression_ratio.py "export/$NAME" "export/$NAME-compressed"
echo "reference model: models/$NAME   artifacts: export/$NAME"
