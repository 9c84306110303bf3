#!/usr/bin/env python3
"""Does the classifier's own confidence tell the signer's hand from a false one? Measured, not adopted.

On scene sets of ``benchmarks/make_scenes.py`` the localiser sometimes answers with a "hand" the landmark
model saw in flower petals or cat fur, as sure of them as of real hands. This scores, per frame, the hand the
search answers for (``find_hand``) and every hand a full search finds (``find_hands``), each cropped and
read by the camera artifact's classifier, and tags each as the signer's (its centre inside the signer's
pasted close-up), a bystander's, or false. It reports the classifier's top-1 probability per tag and
the accuracy of a few choice rules (``RULES``): the search as it is, the full search ranked by the
localiser's own :func:`asl_edge.runtime.hands.signer_score` (size x presence, no followed hand),
the same times the classifier's probability, and the search as it is unless its hand reads below 0.5,
then the full search ranked with the probability. A frame without a hand counts as wrong::

    PYTHONPATH=. python benchmarks/signer_choice.py runs/dev/hard runs/dev/bystanders runs/scenes_hard \\
        runs/scenes_bystanders --out benchmarks/results/scenes/signer_choice.json
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
from PIL import Image

ARTIFACT = "export/asl-digits-camera/asl-digits-camera_int8.tflite"
UNSURE = 0.5  # below this top-1 probability, the fallback rule searches in full


def _inside(x: float, y: float, box) -> bool:
    return box[0] <= x < box[2] and box[1] <= y < box[3]


def _ranked(power: float):
    """Picks the hand with the largest signer score x probability**power."""
    return lambda hands: max(hands, key=lambda h: h["signer_score"] * h["p"] ** power, default=None)


def _search(hands):
    return next((h for h in hands if h["answer"]), None)


def _fallback(hands):
    first = _search(hands)
    return first if first is None or first["p"] >= UNSURE else _ranked(1)(hands)


RULES = {
    "search as it is": _search,
    "full search, size x presence": _ranked(0),
    "full search, size x presence x probability": _ranked(1),
    f"search; full search by probability when it reads < {UNSURE}": _fallback,
}


def hands_of_frame(predictor, crop, localiser, rgb: np.ndarray, record: dict) -> list[dict]:
    """Every hand of the frame (the search's answer first if the full search lacks it), read by
    ``predictor`` from its ``crop`` preprocessing and tagged."""
    from asl_edge.runtime.hands import signer_score

    height, width = rgb.shape[:2]
    answer = localiser.find_hand(rgb)
    found = localiser.find_hands(rgb)
    if answer is not None and not any(h.box() == answer.box() for h in found):
        found = [answer, *found]
    out = []
    for hand in found:
        box = hand.box()
        label, p = predictor.top_k(crop.load(Image.fromarray(localiser.crop(rgb, box), "RGB"))[None], 1)[0][0]
        cx, cy = box.center
        tag = ("signer" if _inside(cx, cy, record["box"]) else
               "bystander" if any(_inside(cx, cy, b["box"]) for b in record.get("bystanders", [])) else "false")
        out.append({"tag": tag, "signer_score": signer_score(hand, width, height), "p": p,
                    "right": label == record["label"], "answer": answer is not None and box == answer.box()})
    return out


def measure_set(predictor, localiser, folder: Path) -> dict:
    from tqdm import tqdm

    record = json.loads((folder / "scenes.json").read_text())
    crop = predictor.preprocessing.without_localiser()
    frames = [hands_of_frame(predictor, crop, localiser, np.asarray(Image.open(folder / f["file"]).convert("RGB")), f)
              for f in tqdm(record["frames"], desc=folder.name, unit="frame", leave=False, disable=None)]
    n = len(frames)
    rules = {}
    for name, pick in RULES.items():
        chosen = [pick(hands) for hands in frames]
        rules[name] = {"accuracy": round(sum(h is not None and h["tag"] == "signer" and h["right"]
                                             for h in chosen) / n, 4),
                       "no_hand": sum(h is None for h in chosen),
                       "not_the_signer": sum(h is not None and h["tag"] != "signer" for h in chosen)}
    probability = {}
    for tag in ("signer", "bystander", "false"):
        p = [h["p"] for hands in frames for h in hands if h["tag"] == tag]
        probability[tag] = {"hands": len(p)} | ({f"p{q}": round(float(np.percentile(p, q)), 3)
                                                 for q in (5, 25, 50, 75, 95)} if p else {})
    return {"set": record.get("set", "base"), "folder": str(folder), "frames": n,
            "description": record.get("set_description", "the signer's close-up alone (base set)"),
            "top1_probability": probability, "rules": rules}


def main(argv=None) -> int:
    from asl_edge.runtime.hands import LocaliserConfig, cached_localiser
    from asl_edge.runtime.predict import load_predictor

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("sets", nargs="+", type=Path, help="scene set folders (benchmarks/make_scenes.py)")
    ap.add_argument("--artifact", default=ARTIFACT)
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args(argv)
    predictor = load_predictor(args.artifact)
    # the localiser as models trained now record it (the brightened retry too)
    settings = {**predictor.preprocessing.localiser, "retries": list(LocaliserConfig().retries)}
    localiser = cached_localiser(settings)
    doc = {"schema": 1, "kind": "scene-signer-choice", "artifact": args.artifact,
           "localiser_retries": settings["retries"],
           "command": "PYTHONPATH=. python benchmarks/signer_choice.py " + " ".join(
               argv if argv is not None else sys.argv[1:]),
           "sets": [measure_set(predictor, localiser, folder) for folder in args.sets]}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(doc, indent=2) + "\n")
    for s in doc["sets"]:
        print(s["folder"], {k: v["accuracy"] for k, v in s["rules"].items()}, file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
