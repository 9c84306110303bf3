#!/usr/bin/env python3
"""What following the hand from frame to frame costs and buys, against searching every frame alone.

``asl-edge predict --camera`` follows the hand (:class:`asl_edge.runtime.hands.HandTracker`,
MediaPipe's hand tracking: the landmark model in the region the last frame's landmarks give, no
palm detection); measured here without a frame budget (``--fps 0``): while no hand is in view, the
full search runs only on every n-th frame (the live loop's default since, a per-frame budget with
the search spread over frames, is measured by ``benchmarks/clips.py``).
``--no-track`` searches every frame on its own, as ``predict`` does for files. Both are run here
on the same clips through the committed camera artifact:

- hand clips: each of the first ``--clips`` scene frames of the scene test set
  (``benchmarks/make_scenes.py``: held-out close-ups pasted into TEST background photographs) made
  into ``--length`` frames by moving the picture 2 px right and 1 px down per frame (a hand drifting
  before a still camera: a synthetic motion, not a recorded video). Accuracy counts a frame without
  a hand as wrong; the label is the scene frame's.
- a hand-free clip: ``--negatives`` windows of the same TEST background photographs, one after the
  other (the windows of ``benchmarks/hands_eval.py --negatives``): CPU time per frame and hands
  reported.

Times are CPU seconds of this process per frame (``time.process_time``: other load on the machine
does not count; one thread), localiser and classifier together.

Usage:
    PYTHONPATH=. python benchmarks/tracking.py --scenes runs/scenes --out benchmarks/results/scenes/tracking.json
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image

ARTIFACT = "export/asl-digits-camera/asl-digits-camera_int8.tflite"
STEP = (2, 1)  # pixels moved per frame (x, y)


def _clip(frame: np.ndarray, length: int) -> list[np.ndarray]:
    """``frame`` moved by ``STEP`` pixels per frame, edge-replicated where it leaves the picture."""
    pad = max(STEP) * length
    padded = np.pad(frame, ((pad, pad), (pad, pad), (0, 0)), mode="edge")
    h, w = frame.shape[:2]
    return [padded[pad - t * STEP[1]: pad - t * STEP[1] + h, pad - t * STEP[0]: pad - t * STEP[0] + w]
            for t in range(length)]


def _run(predictor, clips: list[tuple[list[np.ndarray], str | None]], track: bool) -> dict:
    """Labels and CPU time per frame over ``clips`` (frames, expected label); a new tracker per clip."""
    from asl_edge.runtime.hands import HandTracker, cached_localiser
    from asl_edge.runtime.predict import classify_frame

    localiser = cached_localiser(predictor.preprocessing.localiser)
    right = no_hand = hands = 0
    cpu: list[float] = []
    counts = {"tracked": 0, "first_pass": 0, "full_search": 0}
    for frames, expected in clips:
        tracker = HandTracker(localiser) if track else None
        for frame in frames:
            start = time.process_time()
            label, _, _ = classify_frame(predictor, Image.fromarray(np.ascontiguousarray(frame), "RGB"), tracker)
            cpu.append(time.process_time() - start)
            right += label is not None and label == expected
            no_hand += label is None
            hands += label is not None
        if tracker is not None:
            counts = {k: counts[k] + v for k, v in tracker.counts.items()}
    ms = np.asarray(cpu) * 1000
    out = {"frames": len(cpu), "no_hand": no_hand, "hand_reported": hands,
           "cpu_ms": {"p50": round(float(np.percentile(ms, 50)), 1), "p90": round(float(np.percentile(ms, 90)), 1),
                      "mean": round(float(ms.mean()), 1)}}
    if any(expected is not None for _, expected in clips):
        out["accuracy"] = right / len(cpu)
    if track:
        out["localiser"] = counts
    return out


def main(argv=None) -> int:
    from asl_edge.data.scenes import FRAME_SIZE, _window, load_background
    from asl_edge.runtime.predict import expand_images, load_predictor

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--artifact", default=ARTIFACT)
    ap.add_argument("--scenes", type=Path, required=True, help="scene test set folder (benchmarks/make_scenes.py)")
    ap.add_argument("--clips", type=int, default=60, help="scene frames made into clips (every n-th of the set)")
    ap.add_argument("--length", type=int, default=8, help="frames per clip")
    ap.add_argument("--negatives", type=int, default=100, help="frames of the hand-free clip")
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args(argv)

    predictor = load_predictor(args.artifact, threads=1)
    files = sorted(expand_images([args.scenes]))
    chosen = files[:: max(1, len(files) // args.clips)][: args.clips]
    clips = [(_clip(np.asarray(Image.open(f).convert("RGB")), args.length), f.parent.name) for f in chosen]
    record = json.loads((args.scenes / "scenes.json").read_text())
    names = sorted(record["backgrounds"])
    backgrounds = {n: load_background(n) for n in names}
    rng = np.random.default_rng(12345)  # the windows of benchmarks/hands_eval.py --negatives
    hand_free = [([_window(backgrounds[names[k % len(names)]], rng, FRAME_SIZE) for k in range(args.negatives)], None)]

    doc = {"schema": 1, "kind": "hand-tracking", "artifact": args.artifact,
           "command": "PYTHONPATH=. python benchmarks/tracking.py " + " ".join(
               argv if argv is not None else sys.argv[1:]),
           "data": {"hand_clips": f"{len(clips)} clips of {args.length} frames: every {len(files) // args.clips}-th "
                                  f"of the {len(files)} frames of {args.scenes}, moved {STEP[0]} px right and "
                                  f"{STEP[1]} px down per frame",
                    "hand_free": f"{args.negatives} windows of the TEST backgrounds {', '.join(names)}"},
           "timing": "CPU time of this process per frame (time.process_time), one thread, localiser + classifier"}
    for mode, track in (("search_every_frame", False), ("track", True)):
        doc[mode] = {"hand_clips": _run(predictor, clips, track), "hand_free": _run(predictor, hand_free, track)}
        h, f = doc[mode]["hand_clips"], doc[mode]["hand_free"]
        print(f"{mode:18} hand clips: {h['accuracy']:.4f} of {h['frames']} frames, no hand {h['no_hand']}, "
              f"CPU {h['cpu_ms']['p50']} ms p50 / {h['cpu_ms']['mean']} mean; hand-free: {f['hand_reported']} "
              f"hands in {f['frames']}, CPU {f['cpu_ms']['p50']} ms p50 / {f['cpu_ms']['mean']} mean", file=sys.stderr)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(doc, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
