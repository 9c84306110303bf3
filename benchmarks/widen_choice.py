#!/usr/bin/env python3
"""How much wider to read the hand a search found again (``LocaliserConfig.widen``), and when the wider
reading may replace it: frames read right per candidate rule on scene sets, the search run once per frame.

Each frame's hand is found as the artifact finds it without the wider look (``widen`` 0); the landmark
model then reads a region 1.6, 2, 2.5 and 3 times the hand's box around it (turned as the hand), and a
rule takes that reading instead when it is a hand at or above a presence and at least a gain times as
large (its box's long side). The classifier reads whichever hand each rule keeps::

    PYTHONPATH=. python benchmarks/widen_choice.py runs/dev_base runs/dev_hard runs/dev_harsh \\
        runs/dev_bystanders --artifact export/asl-digits-fusion/asl-digits-fusion_int8.tflite \\
        --out benchmarks/results/hands/widen_dev.json

Scene sets from ``benchmarks/make_scenes.py`` (development sets: ``--part val --backgrounds train``).
"""

from __future__ import annotations

import argparse
import hashlib
import itertools
import json
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
from PIL import Image

ARTIFACT = "export/asl-digits-fusion/asl-digits-fusion_int8.tflite"
FACTORS = (1.6, 2.0, 2.5, 3.0)
PRESENCES = (0.8, 0.9, 0.95)
GAINS = (1.2, 1.35, 1.5, 1.75, 2.0)


def read_frame(predictor, localiser, rgb: np.ndarray, truth: str) -> dict | None:
    """The found hand's reading and each wider one's: long side, presence, whether a hand, read right."""
    pre = predictor.preprocessing
    hand = localiser.find_hand(rgb, judge=predictor.judge)
    if hand is None:
        return None

    def right(h) -> bool:
        return predictor.top_k(pre.hand_sample(rgb, h, localiser)[None], 1)[0][0][0] == truth

    box = hand.box()
    wide = {}
    for k in FACTORS:
        w = localiser.landmarks(rgb, *box.center, box.side * k, box.upright.angle)
        ok = localiser.is_hand(w)
        wide[k] = {"side": w.box().side, "presence": w.presence, "is_hand": ok, "right": ok and right(w)}
    return {"side": box.side, "right": right(hand), "wide": wide}


def kept(frame: dict | None, factor: float, presence: float, gain: float) -> bool:
    """Whether the frame is read right under one rule (no hand found: wrong)."""
    if frame is None:
        return False
    w = frame["wide"][factor]
    if w["is_hand"] and w["presence"] >= presence and w["side"] >= gain * frame["side"]:
        return w["right"]
    return frame["right"]


def gains(frames: list, factor: float, presence: float) -> dict:
    """Percentiles of the wider reading's size over the found one's, for sure wider readings: where the
    found hand was read right (the same hand read again) and where only the wider one was."""
    def pct(values):
        if not values:
            return {"n": 0}
        return {f"p{q}": round(float(np.percentile(values, q)), 2) for q in (5, 50, 95)} | {"n": len(values)}

    sure = [(f, f["wide"][factor]) for f in frames if f and f["wide"][factor]["is_hand"]
            and f["wide"][factor]["presence"] >= presence]
    return {"found_read_right": pct([w["side"] / f["side"] for f, w in sure if f["right"]]),
            "only_wider_read_right": pct([w["side"] / f["side"] for f, w in sure if not f["right"] and w["right"]])}


def measure_set(predictor, localiser, folder: Path) -> dict:
    from tqdm import tqdm

    record = json.loads((folder / "scenes.json").read_text())["frames"]
    frames = [read_frame(predictor, localiser, np.asarray(Image.open(folder / f["file"]).convert("RGB")), f["label"])
              for f in tqdm(record, desc=folder.name, unit="frame", leave=False, disable=None)]
    rules = {f"x{k} presence>={p} gain>={g}": sum(kept(f, k, p, g) for f in frames)
             for k, p, g in itertools.product(FACTORS, PRESENCES, GAINS)}
    return {"set": folder.name, "folder": str(folder), "frames": len(frames),
            "found": sum(f is not None for f in frames), "right_without": sum(bool(f and f["right"]) for f in frames),
            "right": rules, "gains_x3_presence_0.9": gains(frames, 3.0, 0.9)}


def main(argv=None) -> int:
    from asl_edge.runtime.errors import AslEdgeError
    from asl_edge.runtime.hands import cached_localiser, with_search_settings
    from asl_edge.runtime.predict import load_predictor

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("sets", nargs="+", type=Path, help="scene set folders (benchmarks/make_scenes.py)")
    ap.add_argument("--artifact", default=ARTIFACT)
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args(argv)
    try:
        predictor = load_predictor(args.artifact, threads=1)
        pre = predictor.preprocessing
        pre = replace(pre, localiser=with_search_settings(pre.localiser, {"widen": 0.0}))
        predictor = replace(predictor, preprocessing=pre)
        localiser = cached_localiser(pre.localiser)
    except AslEdgeError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    results = [measure_set(predictor, localiser, folder) for folder in args.sets]
    for r in results:
        best = max(r["right"].items(), key=lambda kv: kv[1])
        print(f"{r['set']} ({r['frames']} frames): {r['right_without']} without, best {best[1]} ({best[0]})",
              file=sys.stderr)
    doc = {"schema": 1, "kind": "widen-choice", "artifact": args.artifact,
           "artifact_sha256": hashlib.sha256(Path(args.artifact).read_bytes()).hexdigest(),
           "command": "PYTHONPATH=. python benchmarks/widen_choice.py " + " ".join(
               argv if argv is not None else sys.argv[1:]),
           "factors": FACTORS, "presences": PRESENCES, "gains": GAINS, "sets": results}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(doc, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
