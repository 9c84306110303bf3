#!/usr/bin/env bash
# Rebuilds the reference model of the fast recipe (models/asl-digits-fast/) and its deployable
# artifacts (export/asl-digits-fast/) from scratch, then writes the model card. `make models`.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${BIN:-.venv/bin}
NAME=asl-digits-fast

"$BIN/asl-edge" train --recipe fast --out "models/$NAME" --force
"$BIN/asl-edge" export "models/$NAME" --int8 --fp16 --out "export/$NAME" --force
"$BIN/python" benchmarks/model_card.py "models/$NAME" "export/$NAME"
echo "reference model: models/$NAME   artifacts: export/$NAME"
