#!/usr/bin/env python3
"""Which test-time views of the hand's crop to average (``asl-edge export --views``): frames read right per
candidate on scene sets, the hand found once per frame.

Each frame's hand is found once, as the artifact finds it with the crop read once (its recorded views
switched off); then the classifier reads that hand's crop in every candidate's views and averages
their probabilities. Candidates: the crop moved by 2, 3 or 4 pixels along the axes (the views of
:mod:`asl_edge.runtime.views`, edge pixels repeated), diagonally, mirrored, and crops cut again from
the frame (moved 6% of the hand's side along its own axes, or at a margin 0.1 smaller and larger)::

    PYTHONPATH=. python benchmarks/views_choice.py runs/dev_base runs/dev_hard runs/dev_harsh \\
        --artifact export/asl-digits-camera/asl-digits-camera_int8.tflite \\
        --out benchmarks/results/scenes/views_choice_camera_dev.json

Scene sets from ``benchmarks/make_scenes.py`` (development sets: ``--part val --backgrounds train``).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
from PIL import Image

ARTIFACT = "export/asl-digits-camera/asl-digits-camera_int8.tflite"

# One read of the hand: ("pixels", dx, dy, mirrored) moves the classifier's own crop by whole pixels;
# ("frame", margin change, x, y) cuts a new crop from the frame, moved by a share of the hand's side.
READS = {
    "centre": ("pixels", 0, 0, False), "mirror": ("pixels", 0, 0, True),
    **{f"{axis}{sign}{px}": ("pixels", sign * px * (axis == "x"), sign * px * (axis == "y"), False)
       for px in (2, 3, 4) for axis in "xy" for sign in (-1, 1)},
    **{f"d{sx}{sy}": ("pixels", sx * 3, sy * 3, False) for sx in (-1, 1) for sy in (-1, 1)},
    **{f"frame_{axis}{sign}": ("frame", 0.0, 0.06 * sign * (axis == "x"), 0.06 * sign * (axis == "y"))
       for axis in "xy" for sign in (-1, 1)},
    "frame_tighter": ("frame", -0.1, 0.0, 0.0), "frame_wider": ("frame", 0.1, 0.0, 0.0),
}


def _axes(px: int) -> list[str]:
    return [f"{axis}{sign}{px}" for axis in "xy" for sign in (-1, 1)]


CANDIDATES = {
    "once": ["centre"],
    "axes 2 px": ["centre", *_axes(2)],
    "axes 3 px (adopted)": ["centre", *_axes(3)],
    "axes 4 px": ["centre", *_axes(4)],
    "diagonals 3 px": ["centre", "d-1-1", "d-11", "d1-1", "d11"],
    "axes and diagonals 3 px": ["centre", *_axes(3), "d-1-1", "d-11", "d1-1", "d11"],
    "mirrored": ["centre", "mirror"],
    "axes 3 px and mirrored": ["centre", *_axes(3), "mirror"],
    "new crops, moved 6% of the hand": ["centre", "frame_x-1", "frame_x1", "frame_y-1", "frame_y1"],
    "new crops, margin -0.1 / +0.1": ["centre", "frame_tighter", "frame_wider"],
}


def _frame_crop(localiser, rgb, hand, margin: float, dx: float, dy: float) -> np.ndarray:
    """A new upright crop of ``hand`` from the frame: moved ``dx``, ``dy`` of the hand's side along its own
    axes, at the localiser's margin plus ``margin``."""
    from asl_edge.runtime.hands import crop_upright

    u = hand.box().upright
    side, ca, sa = max(u.width, u.height), math.cos(u.angle), math.sin(u.angle)
    moved = replace(u, cx=u.cx + (dx * ca - dy * sa) * side, cy=u.cy + (dx * sa + dy * ca) * side)
    return crop_upright(rgb, moved, localiser.config.margin + margin)


def _reads(pre, localiser, rgb, hand) -> np.ndarray:
    """Every read of :data:`READS` of ``hand``, in that order, as samples of ``pre``."""
    from asl_edge.runtime.views import shifted

    def pixels(crop: np.ndarray) -> np.ndarray:
        return pre.without_localiser().load(Image.fromarray(crop, "RGB"))

    centre = pixels(localiser.crop(rgb, hand.box()))  # cut once: the pixel reads move this one
    tail = np.concatenate([hand.points().reshape(-1), np.ones(pre._flag, np.float32)])
    samples = []
    for kind, *args in READS.values():
        if kind == "pixels":
            px = shifted(centre, args[0], args[1])
            px = px[:, ::-1] if args[2] else px
        else:
            px = pixels(_frame_crop(localiser, rgb, hand, *args))
        samples.append(px if pre.fusion is None else np.concatenate([px.reshape(-1).astype(np.float32), tail]))
    return np.stack(samples)


def measure_set(predictor, folder: Path) -> dict:
    """Frames read right per candidate on one scene set (a frame without a hand found counts wrong)."""
    from tqdm import tqdm

    from asl_edge.runtime.hands import cached_localiser

    pre = predictor.preprocessing
    localiser = cached_localiser(pre.localiser)
    names = list(READS)
    right = dict.fromkeys(CANDIDATES, 0)
    frames = json.loads((folder / "scenes.json").read_text())["frames"]
    for f in tqdm(frames, desc=folder.name, unit="frame", leave=False, disable=None):
        rgb = np.asarray(Image.open(folder / f["file"]).convert("RGB"))
        hand = localiser.find_hand(rgb, judge=predictor.judge)
        if hand is None:
            continue
        probs = predictor.runner.predict(pre.normalize(_reads(pre, localiser, rgb, hand)))
        for candidate, reads in CANDIDATES.items():
            mean = probs[[names.index(r) for r in reads]].mean(axis=0)
            right[candidate] += predictor.labels[int(mean.argmax())] == f["label"]
    return {"set": folder.name, "folder": str(folder), "frames": len(frames), "right": right}


def main(argv=None) -> int:
    from asl_edge.runtime.errors import AslEdgeError
    from asl_edge.runtime.predict import load_predictor

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("sets", nargs="+", type=Path, help="scene set folders (benchmarks/make_scenes.py)")
    ap.add_argument("--artifact", default=ARTIFACT)
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args(argv)
    try:
        predictor = load_predictor(args.artifact, threads=1)
        predictor = replace(predictor, preprocessing=replace(predictor.preprocessing, views=()))
    except AslEdgeError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    results = [measure_set(predictor, folder) for folder in args.sets]
    for r in results:
        print(f"{r['set']} ({r['frames']} frames): " + ", ".join(f"{k} {v}" for k, v in r["right"].items()),
              file=sys.stderr)
    doc = {"schema": 1, "kind": "views-choice", "artifact": args.artifact,
           "artifact_sha256": hashlib.sha256(Path(args.artifact).read_bytes()).hexdigest(),
           "command": "PYTHONPATH=. python benchmarks/views_choice.py " + " ".join(
               argv if argv is not None else sys.argv[1:]),
           "candidates": CANDIDATES, "reads": {k: list(v) for k, v in READS.items()}, "sets": results}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(doc, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
