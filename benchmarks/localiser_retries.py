#!/usr/bin/env python3
"""What the hand localiser's retries (``LocaliserConfig.retries``) and its second pair of hand models
(``LocaliserConfig.second_models``) buy on degraded camera frames.

The committed camera artifact is scored on its held-out close-ups, unchanged and under the shifts
that hide a hand from MediaPipe's palm detector (JPEG, sensor noise, blur; low contrast, grey, a
dark room for comparison), once per setting (:data:`SETTINGS`): the artifact's recorded localiser
with only those fields replaced, the classifier untouched. A frame without a hand counts as wrong, so a retry
can only turn a miss into a hit or a misreading. With ``--scenes`` (scene sets of
``benchmarks/make_scenes.py``, one or more) it also scores the scene frames of each set and counts
the other side of the bargain: hands "found" in hand-free windows of the same background photographs,
and the CPU time such a frame costs (every view, every retry: the camera loop's slowest case).
A development set (``make_scenes.py --part val --backgrounds train``) chooses; the test sets confirm.

Usage:
    PYTHONPATH=. python benchmarks/localiser_retries.py --scenes runs/scenes \
        --out benchmarks/results/hands/retries.json
    PYTHONPATH=. python benchmarks/localiser_retries.py --settings smooth+sharpen+brighten+full \
        --scenes runs/dev_hard runs/scenes_hard --out runs/second.json
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

from asl_edge.bench.evaluate import _load_target, _shift_stage, predict_localised
from asl_edge.runtime.predict import Predictor
from asl_edge.runtime.shifts import get_shift

ARTIFACT = "export/asl-digits-camera/asl-digits-camera_int8.tflite"
SHIFTS = ("jpeg_10", "jpeg_20", "noise_20", "blur_2.0", "contrast_0.3", "grayscale", "darker_0.3")
# Each setting: the localiser fields it sets over the artifact's recorded ones (no second pair of
# hand models unless named: the first rows were measured before it existed).
SETTINGS = {"none": {"retries": []}, "smooth": {"retries": ["smooth"]},
            "smooth+sharpen": {"retries": ["smooth", "sharpen"]},
            "smooth+sharpen+brighten": {"retries": ["smooth", "sharpen", "brighten"]},
            "smooth+sharpen+brighten+full": {"retries": ["smooth", "sharpen", "brighten"],
                                             "second_models": ["palm_detection_full", "hand_landmark_full"],
                                             "second_min_presence": 0.8}}
# The second pair with a presence floor for its hands (``LocaliserConfig.second_min_presence``).
SETTINGS.update({f"smooth+sharpen+brighten+full+floor{floor:g}":
                 {**SETTINGS["smooth+sharpen+brighten+full"], "second_min_presence": floor} for floor in (0.88, 0.92)})
# A hand ends the search only from a presence (``LocaliserConfig.settle_presence``).
SETTINGS.update({f"smooth+sharpen+brighten+full+settle{settle:g}":
                 {**SETTINGS["smooth+sharpen+brighten+full"], "settle_presence": settle} for settle in (0.9, 0.95)})
# The classifier weighs the choice among hands in several places (``LocaliserConfig.sign_weight``).
SETTINGS.update({f"smooth+sharpen+brighten+full+settle0.9+sign{weight:g}":
                 {**SETTINGS["smooth+sharpen+brighten+full+settle0.9"], "sign_weight": weight} for weight in (1, 4)})
# A sure hand small for the frame no longer ends the search (``LocaliserConfig.settle_small``).
SETTINGS["smooth+sharpen+brighten+full+settle0.9+sign1+small"] = {
    **SETTINGS["smooth+sharpen+brighten+full+settle0.9+sign1"], "settle_small": False}
# A hand whose landmarks are shaped like no hand is none (``LocaliserConfig.max_shape_distance``).
SETTINGS.update({f"smooth+sharpen+brighten+full+settle0.9+sign1+small+shape{dist:g}":
                 {**SETTINGS["smooth+sharpen+brighten+full+settle0.9+sign1+small"], "max_shape_distance": dist}
                 for dist in (12, 16)})
# More weak palms read when no view found a hand (``LocaliserConfig.max_candidates``: 6 since 2026-12-04).
SETTINGS["smooth+sharpen+brighten+full+settle0.9+sign1+small+shape16+cand6"] = {
    **SETTINGS["smooth+sharpen+brighten+full+settle0.9+sign1+small+shape16"], "max_candidates": 6}
# A fourth retry copy, the levels stretched (``RETRY_FILTERS["stretch"]``).
SETTINGS["smooth+sharpen+brighten+stretch+full+settle0.9+sign1+small+shape16"] = {
    **SETTINGS["smooth+sharpen+brighten+full+settle0.9+sign1+small+shape16"],
    "retries": ["smooth", "sharpen", "brighten", "stretch"]}


def _settings(pre, setting: str) -> dict:
    """The artifact's recorded localiser with ``setting``'s fields set, without a second pair, a settling
    presence, a sign weight, small hands kept from settling it or a shape check, and with three weak
    palms, unless it names them (as before each existed: every hand found settles the search, the
    classifier plays no part in the choice, any landmarks are a hand's)."""
    return {**pre.localiser, "second_models": [], "settle_presence": 0.0, "sign_weight": 0.0, "settle_small": True,
            "max_shape_distance": 0.0, "max_candidates": 3, **SETTINGS[setting]}


def _judged(artifact: str, setting: str, data: str | None):
    """The runner, preprocessing (with ``setting``'s localiser), data and its description, and the
    model as the judge of the signer's hand (weighing only where the setting's ``sign_weight`` does)."""
    runner, labels, pre, ds, chosen = _load_target(artifact, data, True, override=_shift_stage)
    pre = replace(pre, localiser=_settings(pre, setting))
    return runner, pre, ds, chosen, Predictor(runner, labels, pre).judge


def score(artifact: str, setting: str, shifts: tuple[str, ...]) -> dict:
    """Accuracy, hands not found and accuracy where found, per shift (``unchanged`` first)."""
    runner, pre, ds, chosen, judge = _judged(artifact, setting, None)
    out = {"data": chosen.description, "images": int(len(ds.labels))}
    for name in ("unchanged", *shifts):
        start = time.perf_counter()
        probs, found = predict_localised(runner, ds, pre, None if name == "unchanged" else get_shift(name).apply,
                                         judge=judge)
        right = probs.argmax(1) == ds.labels
        out[name] = {"accuracy": float((right & found).mean()), "no_hand": int((~found).sum()),
                     "accuracy_where_found": float(right[found].mean()) if found.any() else None,
                     "seconds": round(time.perf_counter() - start, 1)}
        print(f"{setting:15} {name:13} accuracy {out[name]['accuracy']:.4f}  "
              f"no hand {out[name]['no_hand']:3d}", file=sys.stderr, flush=True)
    return out


def scenes(artifact: str, setting: str, folder: Path, negatives: int) -> dict:
    """Scene frames read right (no hand = wrong), and hands found in ``negatives`` hand-free windows."""
    from asl_edge.data.scenes import FRAME_SIZE, _window, load_background
    from asl_edge.runtime.hands import HandLocaliser, LocaliserConfig

    runner, pre, ds, chosen, judge = _judged(artifact, setting, str(folder))
    settings = pre.localiser
    probs, found = predict_localised(runner, ds, pre, judge=judge)
    out = {"data": chosen.description, "accuracy": float(((probs.argmax(1) == ds.labels) & found).mean()),
           "no_hand": int((~found).sum())}
    if not negatives:  # a setting that only changes which hand is chosen finds the same false hands
        print(f"{setting:15} scenes        accuracy {out['accuracy']:.4f}  no hand {out['no_hand']:3d}",
              file=sys.stderr, flush=True)
        return out
    record = json.loads((folder / "scenes.json").read_text())
    names = sorted(record["backgrounds"])
    backgrounds = {n: load_background(n) for n in names}
    rng = np.random.default_rng(12345)  # the windows of benchmarks/hands_eval.py --negatives
    localiser = HandLocaliser(LocaliserConfig.from_dict(settings), threads=1)
    false_hands, cpu = 0, []
    for k in range(negatives):
        window = _window(backgrounds[names[k % len(names)]], rng, FRAME_SIZE)
        start = time.process_time()
        false_hands += localiser.find(window) is not None
        cpu.append(time.process_time() - start)
    out["hand_free"] = {"frames": negatives, "backgrounds": names, "false_hand": false_hands,
                        "cpu_ms_p50": round(float(np.percentile(cpu, 50)) * 1000, 1),
                        "cpu_ms_p90": round(float(np.percentile(cpu, 90)) * 1000, 1)}
    print(f"{setting:15} scenes        accuracy {out['accuracy']:.4f}  no hand {out['no_hand']:3d}"
          f"  false hands {false_hands}/{negatives}, hand-free frame {out['hand_free']['cpu_ms_p50']} ms CPU p50",
          file=sys.stderr, flush=True)
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--artifact", default=ARTIFACT)
    ap.add_argument("--settings", nargs="*", default=list(SETTINGS), choices=list(SETTINGS))
    ap.add_argument("--shifts", nargs="*", default=list(SHIFTS))
    ap.add_argument("--scenes", type=Path, nargs="*", default=[],
                    help="scene set folders (benchmarks/make_scenes.py), each scored on its own")
    ap.add_argument("--negatives", type=int, default=200, help="hand-free windows with --scenes (0: none)")
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args(argv)
    doc = {"schema": 1, "kind": "localiser-retries", "artifact": args.artifact,
           "command": "PYTHONPATH=. python benchmarks/localiser_retries.py " + " ".join(
               argv if argv is not None else sys.argv[1:]),
           "settings": {name: score(args.artifact, name, tuple(args.shifts)) for name in args.settings}}
    if args.scenes:
        doc["scenes"] = {name: {str(folder): scenes(args.artifact, name, folder, args.negatives)
                                for folder in args.scenes} for name in args.settings}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(doc, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
