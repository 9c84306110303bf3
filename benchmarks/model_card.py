#!/usr/bin/env python3
"""Writes MODEL_CARD.md for a reference run from its metrics.json, config and export manifest.

Usage: python benchmarks/model_card.py models/asl-digits-fast export/asl-digits-fast
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import yaml


def main(run_dir: str, export_dir: str) -> int:
    run, export = Path(run_dir), Path(export_dir)
    metrics = json.loads((run / "metrics.json").read_text())
    config = yaml.safe_load((run / "config.yaml").read_text())
    manifest = json.loads((export / "manifest.json").read_text())
    split = metrics["split"]
    rows = "\n".join(
        f"| `{a['path']}` | {a['format']} | {a['precision']} | {a['size_bytes'] / 1024:.1f} | "
        f"{a['size_gzip_bytes'] / 1024:.1f} | {a['accuracy']:.4f} | {a['agreement']:.4f} |"
        for a in manifest["artifacts"])
    card = f"""# Model card: {run.name}

**Task**: classify a photograph of an American Sign Language digit sign (0-9).
**Model**: `{config['model']['name']}` (width {config['model']['width']}, depth {config['model']['depth']},
dropout {config['model']['dropout']}), {metrics['params']:,} parameters, input
{manifest.get('input_shape', 'see manifest')} RGB, trained with the `fast` recipe for {metrics['epochs_run']} epochs
({metrics['train_seconds']:.0f} s on the machine that built it).

**Data**: the built-in *Sign Language Digits Dataset* (Mavi 2020, arXiv:2011.08927, Apache 2.0),
1,882 photographs, split **by signer** ({split['method']}, seed {split['seed']}):
{split['sizes']['train']} / {split['sizes']['val']} / {split['sizes']['test']} images from
{split['groups']['train']} / {split['groups']['val']} / {split['groups']['test']} signers (train / validation / test).
No signer of the test split was seen in training.

**Accuracy on unseen signers** (held-out test split, {metrics['num_samples']} images):
{metrics['accuracy']:.4f}, macro F1 {metrics['macro_f1']:.4f}. One split's test set is small;
`benchmarks/signer_holdout.py` measures the spread over several splits (see README).

**Artifacts** (`export/{export.name}/`, each verified against the float model on the test split):

| file | format | precision | KB | gzip KB | accuracy | top-1 agreement |
|---|---|---|---|---|---|---|
{rows}

**Preprocessing** (embedded in each artifact): decode, EXIF orientation, RGB, resize to 64x64
(bilinear), `pixel / 255`. **Limits**: one hand, plain light background, photographed from the
front as in the data set; other backgrounds, lighting and skin tones absent from the data are
untested. Digits only: no letters.

Rebuild with `make models`.
"""
    (run / "MODEL_CARD.md").write_text(card)
    print(f"wrote {run / 'MODEL_CARD.md'}")
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:3]))
