#!/usr/bin/env python3
"""Writes MODEL_CARD.md for a reference run from its metrics, config, export manifest and the
camera-shift (and, for a camera model, scene) evaluations that `make models` records beside it.

Usage: python benchmarks/model_card.py models/asl-digits-fast export/asl-digits-fast ["NOTE"]
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import yaml

from asl_edge.runtime.hands import RETRY_FILTERS
from asl_edge.runtime.preprocess import Preprocessing


def _shift_table(path: Path) -> str:
    if not path.is_file():
        return "Camera shifts: not measured (run `make models`)."
    doc = json.loads(path.read_text())
    rows = "\n".join(f"| {name} | {r['family']} | {r['accuracy']:.2%} |" for name, r in doc["shifts"].items())
    worst = doc["worst_shift"]
    masks = doc.get("hand_masks")
    cut = (f" The background shifts cut the hand out with landmark-seeded GrabCut masks ({masks['method']}): "
           f"landmarks found in {masks['landmarks_found']} of {masks['images']} images, "
           f"{masks['landmarks_inside_mean'] or 0:.1%} of them inside the mask; IoU with a chroma-threshold mask "
           f"{masks['agreement_iou_mean']:.3f} on average." if masks else "")
    return (f"**Camera shifts** (`asl-edge evaluate {doc['model']} --shifts`, {doc['data']}): unchanged "
            f"{doc['accuracy']:.2%}; worst **{worst['name']} {worst['accuracy']:.2%}**.{cut}\n\n"
            f"| shift | family | accuracy |\n|---|---|---|\n{rows}")


def _scenes(path: Path) -> str:
    if not path.is_file():
        return ""
    doc = json.loads(path.read_text())
    return (f"\n**Scene frames** (`asl-edge evaluate {doc['model']} --data runs/scenes`, {doc['data']}; "
            f"`benchmarks/make_scenes.py`): **{doc['accuracy']:.2%}** read right, no hand found in "
            f"{doc.get('no_hand_share', 0):.1%} "
            f"({'the whole frame read' if doc.get('no_hand_read_whole') else 'counted as wrong'}).\n")


def main(run_dir: str, export_dir: str, note: str = "") -> int:
    """Writes ``run_dir``/MODEL_CARD.md; ``note``: a paragraph on what changed after training."""
    run, export = Path(run_dir), Path(export_dir)
    metrics = json.loads((run / "metrics.json").read_text())
    config = yaml.safe_load((run / "config.yaml").read_text())
    manifest = json.loads((export / "manifest.json").read_text())
    split = metrics["split"]
    recipe = run.name.removeprefix("asl-digits-")
    localises = bool(config["data"].get("localise"))
    rows = "\n".join(
        f"| `{a['path']}` | {a['format']} | {a['precision']} | {a['size_bytes'] / 1024:.1f} | "
        f"{a['size_gzip_bytes'] / 1024:.1f} | {a['accuracy']:.4f} | {a['agreement']:.4f} |"
        for a in manifest["artifacts"])
    int8 = next(a["path"] for a in manifest["artifacts"] if a["format"] == "tflite_int8")
    localiser = manifest.get("preprocessing", {}).get("localiser") or {}
    retries = localiser.get("retries") or []
    square = ("square turned upright along the hand's own axes (wrist below the middle finger's knuckle, from the "
              "landmarks)" if localiser.get("upright") else "square crop around its landmarks")
    retry = (" A frame that gives no hand is searched again on filtered copies (`retries`): "
             + "; then ".join(f"`{r}`, for {RETRY_FILTERS[r].against}" for r in retries) + "."
             if retries else "")
    reads_landmarks = "landmarks" in manifest.get("preprocessing", {})
    views = manifest.get("preprocessing", {}).get("views") or []
    read = (f" in {len(views)} views ({', '.join(views)}: moved 3 of 64 pixels each way, the probabilities "
            "averaged; `--views`)" if views else "")
    what = ("hand's 21 landmarks are classified (no pixel reaches the classifier)" if reads_landmarks
            else f"{square} is classified{read}")
    copies = config.get("data", {}).get("landmark_copies", 0)
    in_copies = (f" and in {copies} altered copies of each (other backgrounds, light, colour, blur, noise, JPEG)"
                 if copies else "")
    trained = (f"the landmarks this localiser finds in the close-ups{in_copies}, extracted once and cached"
               if reads_landmarks
               else "the crops this localiser makes of the close-ups and of close-ups pasted into TRAIN background "
                    "photographs")
    whole = localises and Preprocessing.from_dict(manifest["preprocessing"]).reads_whole_without_hand
    no_hand = ("a live frame without a hand gets no label, a single picture without one is read whole "
               "(`whole_without_hand`), as training read such close-ups" if whole
               else "a frame without a hand gets no label")
    stage = ("**Hand localisation** (recorded in each artifact): MediaPipe's palm detector and hand landmark "
             f"models (the `mediapipe` 0.10.14 wheel, Apache 2.0) run through LiteRT find the hand; the {what}; "
             f"{no_hand}.{retry} Trained on {trained}.\n\n" if localises else "")
    blocks = config["model"].get("stem_blocks", 0)
    stem = f" {blocks} block{'s' if blocks > 1 else ''} at the stem's resolution," if blocks else ""
    changed = f"{note}\n\n" if note else ""
    card = f"""# Model card: {run.name}

**Task**: classify an American Sign Language digit sign (0-9){' in a camera frame' if localises else ''}.
**Model**: `{config['model']['name']}` (width {config['model']['width']}, depth {config['model']['depth']},{stem}
dropout {config['model']['dropout']}), {metrics['params']:,} parameters, input
{manifest.get('input_shape', 'see manifest')}, `{recipe}` recipe, {metrics['epochs_run']} epochs
({metrics['train_seconds']:.0f} s on the machine that built it).

{stage}{changed}**Data**: the built-in *Sign Language Digits Dataset* (Mavi 2020, arXiv:2011.08927, Apache 2.0),
1,882 photographs, split **by signer** ({split['method']}, seed {split['seed']}):
{split['sizes']['train']} / {split['sizes']['val']} / {split['sizes']['test']} images from
{split['groups']['train']} / {split['groups']['val']} / {split['groups']['test']} signers (train / validation / test).
No signer of the test split was seen in training.

**Accuracy on unseen signers** (held-out test split, {metrics['num_samples']} images):
{metrics['accuracy']:.4f}, macro F1 {metrics['macro_f1']:.4f}.
{_scenes(run / 'scenes.json')}
{_shift_table(run / 'shifts_int8.json')}

**Artifacts** (`export/{export.name}/`, each verified against the trained model on the test split;
the int8 TFLite, `{int8}`, is the one to deploy):

| file | format | precision | KB | gzip KB | accuracy | top-1 agreement |
|---|---|---|---|---|---|---|
{rows}

**Preprocessing**: embedded in each artifact (`asl_edge.input`, see README "Artifact metadata").
**Limits**: one hand, photographed from the front as in the data set; the backgrounds measured are
those of the `background` shifts above (the data set's own are light studio walls); lighting and
skin tones absent from the data, and signs other than the digits, are untested.

Rebuild with `make models`.
"""
    (run / "MODEL_CARD.md").write_text(card)
    print(f"wrote {run / 'MODEL_CARD.md'}")
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:4]))
