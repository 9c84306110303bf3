#!/usr/bin/env python3
"""How many times to read a found hand again where its own landmarks place it (``LocaliserConfig.refine``):
accuracy per camera shift on one part of a signer split, the hand search run once per image.

Each image of the part (the built-in set's stored 64-pixel pictures, as ``asl-edge evaluate`` reads the
held-out ones) is shifted, its hand found as the artifact finds it without the second reading (``refine``
0), then read again 1, 2, ... times (:meth:`HandLocaliser.refined`, one reading at a time); the model
reads each. An image without a hand gets the model's whole-picture reading, as ``evaluate`` gives it::

    PYTHONPATH=. python benchmarks/refine_choice.py --split models/asl-digits-camera/split.json --part val \\
        --out benchmarks/results/hands/refine_val.json

Choose on ``--part val`` (validation signers); ``--part test`` is the held-out check.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
from PIL import Image
from split_folder import part_images  # a neighbour: benchmarks/ is the script's folder

ARTIFACT = "export/asl-digits-fusion/asl-digits-fusion_int8.tflite"
READINGS = (0, 1, 2)
# The background family and the shifts where a hand search or the landmarks struggle most.
SHIFTS = ("bg_black", "bg_dark_grey", "bg_mid_grey", "bg_red", "bg_green", "bg_blue", "bg_checker", "bg_scene",
          "grayscale", "contrast_0.3", "blur_2.0", "noise_20", "jpeg_20", "jpeg_10", "webcam_50px", "smaller_0.5",
          "rotate_-30", "crop_4x3")


def read_shifted(predictor, localisers, rgb: np.ndarray) -> list[str | None]:
    """The model's label for each number of readings again (:data:`READINGS`); ``None`` each: no hand."""
    pre, (localiser, again) = predictor.preprocessing, localisers
    hand = localiser.find_hand(rgb, judge=predictor.judge)
    if hand is None:
        return [None] * len(READINGS)
    read = []
    for n in READINGS:
        if n:
            hand = again.refined(rgb, hand)
        read.append(predictor.top_k(pre.hand_sample(rgb, hand, localiser)[None], 1)[0][0][0])
    return read


def measure(predictor, localisers, images, labels, shift, masks) -> dict:
    from tqdm import tqdm

    pre = predictor.preprocessing
    right, no_hand = np.zeros(len(READINGS), int), 0
    for img, mask, label in tqdm(list(zip(images, masks, labels)), desc=shift.name if shift else "unchanged",
                                 leave=False, disable=None):
        rgb = img if shift is None else shift.apply(img, mask=mask) if shift.needs_mask else shift.apply(img)
        read = read_shifted(predictor, localisers, rgb)
        if read[0] is None:
            no_hand += 1
            whole = predictor.top_k(pre.read_whole(Image.fromarray(rgb))[None], 1)[0][0][0]
            read = [whole] * len(READINGS)
        right += [r == predictor.labels[label] for r in read]
    return {"no_hand": no_hand, **{f"refine_{n}": round(float(r / len(labels)), 4) for n, r in zip(READINGS, right)}}


def summary(results: dict) -> dict:
    return {f"refine_{n}": {"mean": round(float(np.mean([r[f"refine_{n}"] for r in results.values()])), 4),
                            "min": min(r[f"refine_{n}"] for r in results.values())} for n in READINGS}


def main(argv=None) -> int:
    from asl_edge.data.masks import hand_masks
    from asl_edge.runtime.errors import AslEdgeError
    from asl_edge.runtime.hands import HandLocaliser, LocaliserConfig
    from asl_edge.runtime.predict import load_predictor
    from asl_edge.runtime.shifts import camera_shifts

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--artifact", default=ARTIFACT)
    ap.add_argument("--split", type=Path, required=True, help="a split.json of the built-in set (models/*/split.json)")
    ap.add_argument("--part", default="val", choices=("val", "test"))
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args(argv)
    try:
        predictor = load_predictor(args.artifact, threads=1)
        settings = replace(LocaliserConfig.from_dict(predictor.preprocessing.localiser), refine=0)
        # the search without readings again, then one more reading at a time
        localisers = HandLocaliser(settings, threads=1), HandLocaliser(replace(settings, refine=1), threads=1)
        images, labels = part_images(args.split, args.part)
        masks = hand_masks(images).masks
    except (AslEdgeError, OSError, KeyError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    shifts = {s.name: s for s in camera_shifts()}
    results = {"unchanged": measure(predictor, localisers, images, labels, None, masks)}
    for name in SHIFTS:
        results[name] = measure(predictor, localisers, images, labels, shifts[name], masks)
        print(name, results[name], file=sys.stderr)
    doc = {"schema": 1, "kind": "refine-choice", "artifact": args.artifact,
           "artifact_sha256": hashlib.sha256(Path(args.artifact).read_bytes()).hexdigest(),
           "data": f"{args.part} signers of the built-in set ({args.split}): {len(labels)} images",
           "command": "PYTHONPATH=. python benchmarks/refine_choice.py " + " ".join(
               argv if argv is not None else sys.argv[1:]),
           "readings_again": READINGS, "summary": summary(results), "shifts": results}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(doc, indent=2) + "\n")
    for n, s in doc["summary"].items():
        print(f"{n}: mean {s['mean']:.2%}, worst {s['min']:.2%} over {len(results)} ({doc['data']})", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
