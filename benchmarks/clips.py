#!/usr/bin/env python3
"""The live loop on clips: per-frame accuracy, time to the right label, flicker, and frame times against a budget.

Clips (:mod:`asl_edge.data.clips`, deterministic for ``--seed``): per held-out signer of the split
who signs at least two digits, a clip of that signer's close-ups, up to ``--signs`` digits, over a
window of a TEST background photograph (in turn), ``--bystanders`` other held-out signers' close-ups
(10-30 px) drifting about, the light changing; the hand slides in, holds each digit for ``--hold``
frames at 15 fps, slides out. A synthetic motion, not a recorded video.

Each mode runs every clip through :class:`asl_edge.runtime.stream.LiveLoop` (a fresh stream per
clip) with the committed camera artifact:

- ``budget_15fps`` / ``budget_30fps``: the live loop's default, the hand models' time per frame
  bounded (``FrameBudget``: 66.7 / 33.3 ms, at least 4 ms kept for the crop and classifier) and
  cut into steady slices (``FrameBudget.steady``: a frame that searches costs at most about 1.8
  frames that follow a hand, measured as the loop runs), the search spread over frames;
- ``budget_15fps_whole``: the 15 fps budget, the search taking as much of each frame as it allows
  (``search_ms`` 66.7: the default before the steady slice);
- ``budget_15fps_search20``: the 15 fps budget with at most 20 ms of it for the hand models
  (``FrameBudget.search_ms``: about one palm detector run);
- ``every_4th``: no budget, the full search on every 4th hand-free frame (the loop before budgets);
- ``search_each_frame``: no following, every frame searched in full (``predict`` on a file).

Frame times are CPU time of this process (``time.process_time``: other jobs on the machine count
little; one thread), localiser + crop + classifier; the budget's own clock is the same CPU clock,
so the spread search behaves as on an idle machine. The vote (``LabelVote``) does not change which
hand is found, so each mode is run once and its labels scored with and without it.

    PYTHONPATH=. python benchmarks/clips.py --out benchmarks/results/scenes/clips.json

``--part val --backgrounds train`` makes development clips (the split's validation signers over
TRAIN photographs) for choosing settings; the test clips are for measuring them.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import time
from collections import defaultdict
from pathlib import Path

import numpy as np
from PIL import Image

ARTIFACT = "export/asl-digits-camera/asl-digits-camera_int8.tflite"
# mode -> (frames per second of the budget, None: no budget; follow the hand; FrameBudget.search_ms)
MODES = {"budget_15fps": (15.0, True, None), "budget_30fps": (30.0, True, None),
         "budget_15fps_whole": (15.0, True, 1000 / 15), "budget_15fps_search20": (15.0, True, 20.0),
         "every_4th": (None, True, None), "search_each_frame": (None, False, None)}


def build_clips(split_file: Path, photos: Path, signs: int, bystanders: int, hold: int, seed: int,
                limit: int | None, part: str = "test", backgrounds_split: str = "test"):
    """The clips and what they were made of."""
    from asl_edge.data.builtin import BUILTIN_FILE
    from asl_edge.data.clips import ClipSpec, make_clip
    from asl_edge.data.scenes import background_names, load_background

    split = json.loads(split_file.read_text())
    with np.load(BUILTIN_FILE, allow_pickle=False) as z:
        filenames, signers = z["filenames"], z["signers"]
    by_signer = defaultdict(list)
    for i in split[part]:
        by_signer[int(signers[i])].append(str(filenames[i]))
    names = background_names(backgrounds_split)
    backgrounds = [load_background(n) for n in names]
    rng = np.random.default_rng(seed)
    spec = ClipSpec(hold=hold, bystanders=bystanders)
    load = lambda f: np.asarray(Image.open(photos / f).convert("RGB"))  # noqa: E731
    clips, made_of = [], []
    for k, signer in enumerate(sorted(by_signer)):
        files = {}
        for f in by_signer[signer]:
            files.setdefault(f.split("/")[0], f)  # one close-up per digit
        if len(files) < 2:
            continue
        digits = [str(d) for d in rng.permutation(sorted(files))[:signs]]
        others = [f for s, fs in by_signer.items() if s != signer for f in fs]
        chosen = [others[int(i)] for i in rng.choice(len(others), bystanders, replace=False)]
        clip = make_clip([(load(files[d]), d) for d in digits], backgrounds[k % len(backgrounds)],
                         [load(f) for f in chosen], rng, spec)
        clips.append(clip)
        made_of.append({"signer": signer, "digits": digits, "background": names[k % len(names)], "bystanders": chosen})
        if limit and len(clips) >= limit:
            break
    return clips, made_of, spec


def run_mode(predictor, clips, fps: float | None, track: bool, search_ms: float | None = None):
    """Each clip's raw labels, every frame's CPU time (ms) and the localiser's counts over all clips."""
    from asl_edge.runtime.stream import FrameBudget, LiveLoop

    labels, times, counts = [], [], defaultdict(int)
    for clip in clips:
        loop = LiveLoop(predictor, budget=FrameBudget(fps, search_ms=search_ms) if fps else None, vote=1, track=track,
                        clock=time.process_time)
        out = []
        for frame in clip.frames:
            img = Image.fromarray(frame, "RGB")
            start = time.process_time()
            out.append(loop.step(img).raw_label)
            times.append((time.process_time() - start) * 1e3)
        labels.append(out)
        for key, n in (loop.tracker.counts.items() if loop.tracker is not None else ()):
            counts[key] += n
    return labels, times, dict(counts)


def score(clips, labels, vote: int) -> dict:
    """Clip metrics over every clip laid end to end, the labels voted over ``vote`` frames."""
    from asl_edge.bench.clips import clip_metrics
    from asl_edge.runtime.stream import LabelVote

    answers, truth, scored, segments, offset = [], [], [], [], 0
    for clip, raw in zip(clips, labels):
        v = LabelVote(vote)
        answers += [v.update(lab, 1.0)[0] for lab in raw]
        truth += clip.truth
        scored += clip.scored
        segments += [(a + offset, b + offset, d) for a, b, d in clip.segments]
        offset += len(clip.frames)
    return clip_metrics(answers, truth, scored, segments, clips[0].fps)


def measure_mode(predictor, clips, mode: str, votes: list[int]) -> dict:
    """One mode of :data:`MODES` on every clip: frame times against the 15 and 30 fps budgets, the
    localiser's counts, the clip metrics per vote length; a line on stderr."""
    from asl_edge.bench.clips import budget_metrics

    fps, track, search_ms = MODES[mode]
    labels, times, counts = run_mode(predictor, clips, fps, track, search_ms)
    budgets = {"15fps": budget_metrics(times, 1000 / 15), "30fps": budget_metrics(times, 1000 / 30)}
    out = {"fps_budget": fps, "search_ms": search_ms, "track": track, "frame_ms": budgets,
           "p99_over_p50": round(budgets["15fps"]["p99"] / budgets["15fps"]["p50"], 3),
           "localiser": counts, "votes": {str(v): score(clips, labels, v) for v in votes}}
    b, m1 = budgets["15fps"], out["votes"][str(votes[0])]
    print(f"{mode:18} p50/p90/p99 {b['p50']:.1f}/{b['p90']:.1f}/{b['p99']:.1f} ms (p99 {b['p99'] / b['p50']:.2f} x "
          f"p50), within 66.7 ms {b['within_budget']:.2%}, 33.3 ms {budgets['30fps']['within_budget']:.2%}; "
          f"accuracy {m1['accuracy']:.2%}, " + ", ".join(
              f"vote {v}: to right {out['votes'][str(v)]['time_to_right_s']['mean']:.2f} s, "
              f"flicker {out['votes'][str(v)]['flicker_per_s']:.2f}/s" for v in votes), file=sys.stderr)
    return out


def main(argv=None) -> int:
    from asl_edge.runtime.predict import load_predictor

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--artifact", default=ARTIFACT)
    ap.add_argument("--split", type=Path, default=Path("models/asl-digits-camera/split.json"))
    ap.add_argument("--photos", type=Path, default=Path("../shared/datasets/asl-digits"))
    ap.add_argument("--signs", type=int, default=4, help="digits per clip")
    ap.add_argument("--hold", type=int, default=22, help="frames each digit is held (15 fps)")
    ap.add_argument("--bystanders", type=int, default=2)
    ap.add_argument("--clips", type=int, default=None, help="at most this many clips (one per held-out signer)")
    ap.add_argument("--votes", default="1,3,5,7", help="vote lengths to score")
    ap.add_argument("--modes", default=",".join(MODES))
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--part", default="test", choices=("test", "val", "train"), help="the split's signers to use")
    ap.add_argument("--backgrounds", default="test", choices=("test", "train"), help="the photographs to use")
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args(argv)

    predictor = load_predictor(args.artifact, threads=1)
    clips, made_of, spec = build_clips(args.split, args.photos, args.signs, args.bystanders, args.hold, args.seed,
                                       args.clips, args.part, args.backgrounds)
    votes = [int(v) for v in args.votes.split(",")]
    doc = {"schema": 1, "kind": "live-loop-clips", "artifact": args.artifact,
           "artifact_sha256": hashlib.sha256(Path(args.artifact).read_bytes()).hexdigest(),
           "command": "PYTHONPATH=. python benchmarks/clips.py " + " ".join(argv if argv is not None else sys.argv[1:]),
           "data": f"{len(clips)} clips ({sum(len(c.frames) for c in clips)} frames at {spec.fps:g} fps), one per "
                   f"{args.part} signer of {args.split} signing 2-{args.signs} digits, {args.bystanders} bystanders "
                   f"each, "
                   f"{args.backgrounds.upper()} backgrounds; ClipSpec {vars(spec)}",
           "clips": made_of,
           "timing": "CPU time of this process per frame (time.process_time), one thread, localiser + crop + "
                     "classifier; the frame budget's clock is the same CPU clock",
           "loadavg_start": [round(v, 2) for v in os.getloadavg()], "modes": {}}
    for mode in args.modes.split(","):
        doc["modes"][mode] = measure_mode(predictor, clips, mode, votes)
    doc["loadavg_end"] = [round(v, 2) for v in os.getloadavg()]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(doc, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
