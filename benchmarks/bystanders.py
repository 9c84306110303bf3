#!/usr/bin/env python3
"""The signer's hand among bystanders': accuracy, hands found, bystanders read, and CPU time per frame.

Runs the camera artifact's whole pipeline (hand localiser, then the classifier on the chosen hand's
crop; :func:`asl_edge.runtime.predict.classify_frame`, as ``asl-edge predict`` does for a file: the
full search, no stream; but a frame without a hand found is not read whole, it counts wrong) on each
scene set made by ``benchmarks/make_scenes.py`` (``--set base``, ``bystanders``, ``hard``), and counts
per set: frames read right (no hand = wrong), no hand found,
a bystander's hand read (the chosen box's centre inside a bystander's pasted close-up), and CPU
time per frame (``time.process_time``, one thread: other load on the machine counts little)::

    PYTHONPATH=. python benchmarks/bystanders.py runs/h29/scenes_base runs/h29/scenes_bystanders \\
        runs/h29/scenes_hard --out benchmarks/results/scenes/bystanders.json

``--label`` names the code measured (to put the search before the signer's choice beside it, run
the same script with an older checkout first on PYTHONPATH). ``--localiser FIELD=VALUE`` (repeatable,
the value in JSON) sets a field of the artifact's recorded hand-search settings for this run only
(``LocaliserConfig``; the artifact is not changed), to measure a setting before re-recording it;
``--views NAMES`` likewise reads the crop in these test-time views (``asl_edge.runtime.views``).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
from PIL import Image

ARTIFACT = "export/asl-digits-camera/asl-digits-camera_int8.tflite"


def _inside(x: float, y: float, box) -> bool:
    return box[0] <= x < box[2] and box[1] <= y < box[3]


def measure_set(predictor, folder: Path) -> dict:
    """Accuracy, no hand, bystanders read and CPU time over one scene set folder."""
    from tqdm import tqdm

    from asl_edge.runtime.predict import classify_frame

    record = json.loads((folder / "scenes.json").read_text())
    right = no_hand = bystander = signer = 0
    cpu = []
    for f in tqdm(record["frames"], desc=folder.name, unit="frame", leave=False, disable=None):
        img = Image.open(folder / f["file"]).convert("RGB")
        start = time.process_time()
        label, _, box = classify_frame(predictor, img)
        cpu.append((time.process_time() - start) * 1e3)
        right += label == f["label"]
        no_hand += label is None
        if box is not None:
            cx, cy = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
            bystander += any(_inside(cx, cy, b["box"]) for b in f.get("bystanders", []))
            signer += _inside(cx, cy, f["box"])
    n, ms = len(cpu), np.asarray(cpu)
    return {"set": record.get("set", "base"), "folder": str(folder), "frames": n,
            "description": record.get("set_description", "the signer's close-up alone (base set)"),
            "accuracy": round(right / n, 4), "hand_found": round(1 - no_hand / n, 4), "no_hand": no_hand,
            "signer_found": round(signer / n, 4),
            "bystander_read": bystander, "wrong": n - right,
            "cpu_ms": {q: round(float(np.percentile(ms, int(q[1:]))), 1) for q in ("p50", "p90", "p99")}
            | {"mean": round(float(ms.mean()), 1)}}


def mediapipe_set(ref: dict, folder: Path) -> dict:
    """MediaPipe's hands (``hands_vs_mediapipe.py reference``: one hand, lite models, 0.5) on a set:
    found, and found on the signer (the box's centre inside the signer's close-up)."""
    record = json.loads((folder / "scenes.json").read_text())
    boxes = {str(Path(k).resolve()): v for k, v in ref["boxes"].items()}
    found = signer = missing = 0
    for f in record["frames"]:
        key = str((folder / f["file"]).resolve())
        if key not in boxes:
            missing += 1
            continue
        box = boxes[key]
        found += box is not None
        signer += box is not None and _inside((box[0] + box[2]) / 2, (box[1] + box[3]) / 2, f["box"])
    n = len(record["frames"]) - missing
    return {"set": record.get("set", "base"), "frames": n, "mediapipe": ref.get("mediapipe"),
            "hand_found": round(found / max(n, 1), 4), "signer_found": round(signer / max(n, 1), 4)}


def with_localiser(predictor, settings: list[str]):
    """``predictor`` with ``FIELD=VALUE`` hand-search settings over its recorded localiser (as ``export
    --localiser`` sets them)."""
    from asl_edge.cli.checks import parse_settings
    from asl_edge.runtime.hands import with_search_settings

    if not settings:
        return predictor
    pre = predictor.preprocessing
    fields = with_search_settings(pre.localiser, parse_settings("--localiser", settings))
    return replace(predictor, preprocessing=replace(pre, localiser=fields))


def with_views(predictor, views: str | None):
    """``predictor`` reading the hand's crop in ``views`` (comma-separated names) instead of the
    artifact's recorded ones."""
    from asl_edge.runtime.views import parse_names

    if views is None:
        return predictor
    return replace(predictor, preprocessing=replace(predictor.preprocessing, views=parse_names(views)))


def main(argv=None) -> int:
    from asl_edge.runtime.errors import AslEdgeError
    from asl_edge.runtime.predict import load_predictor

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("sets", nargs="+", type=Path, help="scene set folders (benchmarks/make_scenes.py)")
    ap.add_argument("--artifact", default=ARTIFACT)
    ap.add_argument("--label", default="signer's choice", help="what code this measures")
    ap.add_argument("--mediapipe", type=Path, default=None,
                    help="MediaPipe boxes on the same frames (hands_vs_mediapipe.py reference), side by side")
    ap.add_argument("--localiser", action="append", default=[], metavar="FIELD=VALUE",
                    help="set a recorded localiser field for this run (VALUE in JSON), e.g. max_candidates=6")
    ap.add_argument("--views", default=None, metavar="NAMES",
                    help="read the crop in these views (asl_edge.runtime.views.VIEWS, comma-separated) for this run")
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args(argv)
    try:
        predictor = with_views(with_localiser(load_predictor(args.artifact, threads=1), args.localiser), args.views)
    except AslEdgeError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    load = os.getloadavg()
    results = [measure_set(predictor, folder) for folder in args.sets]
    for r in results:
        print(f"{r['set']:11} {r['accuracy']:.2%} of {r['frames']}, hand found {r['hand_found']:.2%}, "
              f"bystander read {r['bystander_read']}, CPU p50/p90/p99 {r['cpu_ms']['p50']}/{r['cpu_ms']['p90']}/"
              f"{r['cpu_ms']['p99']} ms", file=sys.stderr)
    doc = {"schema": 1, "kind": "scene-bystanders", "label": args.label, "artifact": args.artifact,
           "artifact_sha256": hashlib.sha256(Path(args.artifact).read_bytes()).hexdigest(),
           "command": "PYTHONPATH=. python benchmarks/bystanders.py " + " ".join(
               argv if argv is not None else sys.argv[1:]),
           "timing": "CPU time of this process per frame (time.process_time), one thread, localiser + classifier",
           "loadavg_start": [round(v, 2) for v in load], "loadavg_end": [round(v, 2) for v in os.getloadavg()],
           "sets": results}
    if args.mediapipe is not None:
        ref = json.loads(args.mediapipe.read_text())
        doc["mediapipe"] = {"reference": str(args.mediapipe), "how": "mediapipe.solutions.hands, static images, "
                            "max_num_hands=1, model_complexity=0 (the lite models), thresholds 0.5",
                            "sets": [mediapipe_set(ref, folder) for folder in args.sets]}
        for m in doc["mediapipe"]["sets"]:
            print(f"{m['set']:11} MediaPipe {m['mediapipe']}: hand found {m['hand_found']:.2%}, on the signer "
                  f"{m['signer_found']:.2%}", file=sys.stderr)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(doc, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
