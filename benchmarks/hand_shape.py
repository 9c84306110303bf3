#!/usr/bin/env python3
"""Builds the hand-shape model the localiser checks every hand against (``LocaliserConfig.max_shape_distance``).

The landmark model reads some textures (petals, bark, skin-toned clutter) as a hand at presence 0.95 or
more, but the 21 landmarks it gives there have no hand's shape. This fits a Gaussian (Ledoit-Wolf
shrunk covariance, scikit-learn) to the landmarks of real hands: the hands the localiser finds, sure of
them, in the training signers' close-ups of a split (never the validation or held-out signers), each
normalised as the landmark models read them (upright, unit palm, right hand: x and y of the 20
landmarks after the wrist). The runtime then needs NumPy only: the mean, the precision matrix and
the training hands' own distances are written to ``asl_edge/runtime/assets/hands/hand_shape.npz``,
with the provenance in ``hand_shape.json`` beside it::

    PYTHONPATH=. python benchmarks/hand_shape.py --split models/asl-digits-camera/split.json

Deterministic for the same split, photographs and hand models.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from pathlib import Path

import numpy as np
from PIL import Image
from sklearn.covariance import LedoitWolf
from tqdm import tqdm

from asl_edge.data.builtin import BUILTIN_FILE
from asl_edge.runtime.hands import SHAPE_FILE, HandLocaliser, LocaliserConfig, shape_features

MIN_PRESENCE = 0.9  # only hands the landmark model is sure of (``LocaliserConfig.settle_presence``)


def training_shapes(split_file: Path, photos: Path) -> np.ndarray:
    """The shape features of the hands found, sure, in the split's training close-ups."""
    split = json.loads(split_file.read_text())
    with np.load(BUILTIN_FILE, allow_pickle=False) as z:
        filenames = z["filenames"]
    localiser = HandLocaliser(LocaliserConfig(max_shape_distance=0.0), threads=1)  # no check while learning it
    shapes = []
    for i in tqdm(split["train"], desc="training hands", unit="image"):
        hand = localiser.find_hand(np.asarray(Image.open(photos / str(filenames[i])).convert("RGB")))
        if hand is not None and hand.presence >= MIN_PRESENCE:
            shapes.append(shape_features(hand))
    return np.stack(shapes)


def fit(shapes: np.ndarray) -> dict[str, np.ndarray]:
    """Mean, precision and the fitted hands' own Mahalanobis distances."""
    model = LedoitWolf().fit(shapes)
    return {"mean": model.location_.astype(np.float64), "precision": model.precision_.astype(np.float64),
            "train_distances": np.sqrt(model.mahalanobis(shapes))}


def provenance(args: argparse.Namespace, argv: list[str], shapes: np.ndarray, model: dict) -> dict:
    """What ``hand_shape.json`` records beside the model."""
    images = len(json.loads(args.split.read_text())["train"])
    return {"what": "Gaussian model of hand-landmark shapes (benchmarks/hand_shape.py)",
            "command": " ".join(["PYTHONPATH=. python benchmarks/hand_shape.py", *argv]),
            "data": f"the training signers of {args.split} (part 'train', {images} close-ups of {args.photos}, "
                    f"Apache-2.0): {len(shapes)} hands found at presence >= {MIN_PRESENCE}",
            "split_sha256": hashlib.sha256(args.split.read_bytes()).hexdigest(),
            "features": "x, y of landmarks 1-20 after asl_edge.runtime.landmarks.normalise (40 values)",
            "estimator": "sklearn.covariance.LedoitWolf",
            "train_distance_percentiles": {str(q): round(float(np.percentile(model["train_distances"], q)), 2)
                                           for q in (50, 95, 99, 100)},
            "npz_sha256": hashlib.sha256(args.out.read_bytes()).hexdigest()}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--split", type=Path, default=Path("models/asl-digits-camera/split.json"))
    ap.add_argument("--photos", type=Path, default=Path("../shared/datasets/asl-digits"))
    ap.add_argument("--out", type=Path, default=SHAPE_FILE)
    argv = list(sys.argv[1:] if argv is None else argv)
    args = ap.parse_args(argv)
    shapes = training_shapes(args.split, args.photos)
    model = fit(shapes)
    np.savez(args.out, **model)
    record = provenance(args, argv, shapes, model)
    args.out.with_suffix(".json").write_text(json.dumps(record, indent=1) + "\n")
    print(json.dumps(record["train_distance_percentiles"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
