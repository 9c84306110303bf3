"""Checks asl_edge.runtime.hands against MediaPipe's own pipeline on the same images.

Two steps, because mediapipe (the reference) must not be installed next to asl-edge:

1. in a scratch venv with ``pip install mediapipe==0.10.14``::

       /tmp/mpvenv/bin/python benchmarks/hands_vs_mediapipe.py reference IMAGES... --out /tmp/mp_boxes.json

   runs ``mediapipe.solutions.hands`` (static images, one hand, ``model_complexity=0``: the lite
   palm and landmark models that asl-edge bundles, thresholds 0.5) and
   writes the landmark bounding box per image (this step imports nothing from asl_edge);
2. in the asl-edge environment::

       python benchmarks/hands_vs_mediapipe.py compare /tmp/mp_boxes.json

   runs :class:`HandLocaliser` with MediaPipe's settings (lite models, palm score and presence
   0.5, one palm, no fallback) and
   reports agreement on "hand found" and the IoU of the boxes.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
from PIL import Image

SUFFIXES = {".jpg", ".jpeg", ".png"}


def _images(sources: list[str]) -> list[Path]:
    out = []
    for s in sources:
        p = Path(s)
        out += sorted(q for q in p.rglob("*") if q.suffix.lower() in SUFFIXES) if p.is_dir() else [p]
    return out


def reference(paths: list[Path], out: Path) -> None:
    import mediapipe as mp

    boxes = {}
    with mp.solutions.hands.Hands(static_image_mode=True, max_num_hands=1, model_complexity=0,
                                  min_detection_confidence=0.5, min_tracking_confidence=0.5) as hands:
        for path in paths:
            rgb = np.asarray(Image.open(path).convert("RGB"))
            res = hands.process(rgb)
            if not res.multi_hand_landmarks:
                boxes[str(path)] = None
                continue
            h, w = rgb.shape[:2]
            pts = np.array([(p.x * w, p.y * h) for p in res.multi_hand_landmarks[0].landmark])
            boxes[str(path)] = [*pts.min(0).tolist(), *pts.max(0).tolist()]
    out.write_text(json.dumps({"mediapipe": mp.__version__, "boxes": boxes}, indent=1))
    print(f"{sum(b is not None for b in boxes.values())}/{len(boxes)} with a hand -> {out}")


def iou(a, b) -> float:
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def compare(ref_file: Path) -> dict:
    from asl_edge.runtime.hands import HandLocaliser, LocaliserConfig

    ref = json.loads(ref_file.read_text())
    loc = HandLocaliser(LocaliserConfig(palm_model="palm_detection_lite", landmark_model="hand_landmark_lite",
                                        min_palm_score=0.5, min_presence=0.5, max_palms=1, fallback=False))
    both, only_ref, only_ours, neither, ious = 0, 0, 0, 0, []
    for path, rbox in ref["boxes"].items():
        box = loc.find(np.asarray(Image.open(path).convert("RGB")))
        if rbox is None and box is None:
            neither += 1
        elif rbox is None:
            only_ours += 1
        elif box is None:
            only_ref += 1
        else:
            both += 1
            ious.append(iou(rbox, (box.x0, box.y0, box.x1, box.y1)))
    ious = np.asarray(ious)
    result = {"images": len(ref["boxes"]), "mediapipe": ref["mediapipe"], "both_found": both,
              "only_mediapipe": only_ref, "only_ours": only_ours, "neither": neither,
              "found_agreement": (both + neither) / max(1, len(ref["boxes"])),
              "iou_mean": float(ious.mean()) if len(ious) else None,
              "iou_median": float(np.median(ious)) if len(ious) else None,
              "iou_min": float(ious.min()) if len(ious) else None,
              "iou_over_0.9": float((ious > 0.9).mean()) if len(ious) else None}
    print(json.dumps(result, indent=1))
    return result


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("reference")
    r.add_argument("images", nargs="+")
    r.add_argument("--limit", type=int, default=None, help="take every k-th image so this many remain")
    r.add_argument("--out", type=Path, required=True)
    c = sub.add_parser("compare")
    c.add_argument("reference_json", type=Path)
    c.add_argument("--out", type=Path, default=None)
    args = ap.parse_args(argv)
    if args.cmd == "reference":
        paths = _images(args.images)
        if args.limit and len(paths) > args.limit:
            paths = paths[:: -(-len(paths) // args.limit)]
        reference(paths, args.out)
    else:
        result = compare(args.reference_json)
        if args.out:
            args.out.parent.mkdir(parents=True, exist_ok=True)
            args.out.write_text(json.dumps(result, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
