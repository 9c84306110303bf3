#!/usr/bin/env python3
"""Presence scores of the hands the localiser's retries find, away from the test data.

``LocaliserConfig.retry_min_presence`` is the presence a hand found on a retry copy must reach.
This records, for hand-free windows of the TRAIN background photographs (every hand is false) and
for degraded close-ups of the VALIDATION signers (every hand is a rescue), which stage found a hand
(the frame itself or a retry copy) and the presence of the retry hands, so the threshold can be
set where the false ones stop and most rescues stay.

Usage:
    PYTHONPATH=. python benchmarks/retry_presence.py --out benchmarks/results/hands/retry_presence.json
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
from PIL import Image

from asl_edge.data.builtin import BUILTIN_FILE
from asl_edge.data.scenes import FRAME_SIZE, _window, background_names, load_background
from asl_edge.runtime.hands import HandLocaliser, LocaliserConfig
from asl_edge.runtime.shifts import get_shift

SHIFTS = ("jpeg_10", "jpeg_20", "noise_20", "blur_2.0")


def stage(localiser: HandLocaliser, rgb: np.ndarray) -> tuple[str | None, float | None]:
    """Which search found a hand (``frame`` or a retry's name) and its presence, as
    :meth:`HandLocaliser.find_hand` searches but with no presence threshold on the retries."""
    return next(((name, hand.presence) for name, hand in localiser.attempts(rgb) if hand is not None), (None, None))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--negatives", type=int, default=200, help="hand-free windows of the TRAIN backgrounds")
    ap.add_argument("--split", type=Path, default=Path("models/asl-digits-camera/split.json"))
    ap.add_argument("--photos", type=Path, default=Path("../shared/datasets/asl-digits"))
    ap.add_argument("--closeups", type=int, default=120, help="validation close-ups per shift")
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args(argv)
    localiser = HandLocaliser(LocaliserConfig(), threads=1)
    names = background_names("train")
    backgrounds = {n: load_background(n) for n in names}
    rng = np.random.default_rng(7)
    found = [stage(localiser, _window(backgrounds[names[k % len(names)]], rng, FRAME_SIZE))
             for k in range(args.negatives)]
    doc = {"schema": 1, "kind": "localiser-retry-presence", "localiser": localiser.config.to_dict(),
           "command": "PYTHONPATH=. python benchmarks/retry_presence.py " + " ".join(
               argv if argv is not None else sys.argv[1:]),
           "hand_free": {"frames": args.negatives, "backgrounds": names,
                         "found_in_frame": [round(p, 3) for s, p in found if s == "frame"],
                         "found_on_retry": sorted(round(p, 3) for s, p in found if s not in (None, "frame"))}}
    val = json.loads(args.split.read_text())["val"][: args.closeups]
    with np.load(BUILTIN_FILE, allow_pickle=False) as z:
        files = z["filenames"]
    photos = [np.asarray(Image.open(args.photos / str(files[i])).convert("RGB")) for i in val]
    doc["validation_closeups"] = {"images": len(photos), "shifts": {}}
    for name in SHIFTS:
        shift = get_shift(name)
        found = [stage(localiser, shift.apply(p)) for p in photos]
        doc["validation_closeups"]["shifts"][name] = {
            "found_in_frame": sum(s == "frame" for s, _ in found),
            "not_found": sum(s is None for s, _ in found),
            "found_on_retry": sorted(round(p, 3) for s, p in found if s not in (None, "frame"))}
        print(name, doc["validation_closeups"]["shifts"][name], file=sys.stderr, flush=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(doc, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
