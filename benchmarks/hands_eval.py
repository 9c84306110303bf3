"""Hand localiser + unchanged classifier on the scene test set: detection, accuracy and latency.

    PYTHONPATH=. python benchmarks/hands_eval.py --scenes runs/scenes \\
        --model export/asl-digits-fast/asl-digits-fast_int8.tflite --out benchmarks/results/scenes/baseline.json

Measures, with a :class:`LocaliserConfig` (defaults, or ``--config '{"fallback": false}'``):

* detection rate on (a) the held-out raw close-ups (100x100 JPEG), (b) the same photos from the
  built-in 64x64 set, (c) the scene frames; for scenes also how often the box centre lies inside
  the pasted photo (the right place);
* accuracy on the scene frames of (i) the model on the whole frame, (ii) localiser + crop + model
  (no hand found counts as wrong), and, as upper bound for (ii), the model on the pasted photo's
  own box (oracle crop);
* with ``--framing-only``: IoU between each scene frame's box (mapped into its close-up) and the
  close-up's own box, i.e. whether training crops of close-ups and test crops of scenes agree;
* with ``--negatives N``: hands found in N windows of the same backgrounds with nothing pasted;
* latency per 320x240 frame on one thread: localiser alone and localiser + crop + classifier,
  ``time.perf_counter`` around each frame, p50/p90 over all scene frames after a warm-up.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image

from asl_edge.data.builtin import BUILTIN_FILE
from asl_edge.runtime.hands import HandLocaliser, LocaliserConfig
from asl_edge.runtime.predict import load_predictor


def _classify(predictor, rgb: np.ndarray) -> str:
    x = predictor.preprocessing.load(Image.fromarray(rgb, "RGB"))
    return predictor.top_k(x[None], 1)[0][0][0]


def _iou(a, b) -> float:
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - ix * iy
    return ix * iy / union if union > 0 else 0.0


def framing(loc: HandLocaliser, scenes: Path, photos: Path) -> dict:
    """Does a hand get the same box in a scene frame as in its own close-up? The scene box is
    mapped into the close-up's pixels through the pasted photo's box; IoU per frame where both
    are found."""
    record = json.loads((scenes / "scenes.json").read_text())
    ious, cache = [], {}
    for f in record["frames"]:
        src = f["source"]
        if src not in cache:
            photo = np.asarray(Image.open(photos / src).convert("RGB"))
            box = loc.find(photo)
            cache[src] = (photo.shape, None if box is None else (box.x0, box.y0, box.x1, box.y1))
        (ph, pw, _), close = cache[src]
        scene = loc.find(np.asarray(Image.open(scenes / f["file"]).convert("RGB")))
        if close is None or scene is None:
            continue
        x0, y0, x1, y1 = f["box"]
        sx, sy = pw / (x1 - x0), ph / (y1 - y0)
        mapped = ((scene.x0 - x0) * sx, (scene.y0 - y0) * sy, (scene.x1 - x0) * sx, (scene.y1 - y0) * sy)
        ious.append(_iou(mapped, close))
    v = np.asarray(ious)
    return {"frames_with_both_boxes": len(v), "iou_median": float(np.median(v)), "iou_mean": float(v.mean()),
            "iou_p10": float(np.percentile(v, 10)), "iou_over_0.8": float((v > 0.8).mean())}


def evaluate(scenes: Path, model: Path, split_file: Path, photos: Path, config: LocaliserConfig,
             skip_closeups: bool = False, latency_rounds: int = 1, negatives: int = 0) -> dict:
    loc = HandLocaliser(config, threads=1)
    predictor = load_predictor(model, threads=1)
    record = json.loads((scenes / "scenes.json").read_text())
    frames = [(f, np.asarray(Image.open(scenes / f["file"]).convert("RGB"))) for f in record["frames"]]
    out: dict = {"localiser": config.to_dict(), "model": str(model), "scenes": str(scenes),
                 "scene_frames": len(frames)}

    # -- (a), (b): close-ups of the held-out signers -----------------------------------------------
    if not skip_closeups:
        split = json.loads(split_file.read_text())
        with np.load(BUILTIN_FILE, allow_pickle=False) as z:
            names, blobs, offsets = z["filenames"], z["blobs"].tobytes(), z["offsets"]
        raw_found = small_found = 0
        for i in split["test"]:
            raw = np.asarray(Image.open(photos / str(names[i])).convert("RGB"))
            small = np.asarray(Image.open(io.BytesIO(blobs[offsets[i]:offsets[i + 1]])).convert("RGB"))
            raw_found += loc.find(raw) is not None
            small_found += loc.find(small) is not None
        n = len(split["test"])
        out["closeups"] = {"images": n, "raw_100px_found": raw_found, "raw_100px_rate": raw_found / n,
                           "builtin_64px_found": small_found, "builtin_64px_rate": small_found / n}

    # -- (c), (i), (ii) on scenes ----------------------------------------------------------------
    found = placed = whole_ok = crop_ok = oracle_ok = 0
    by_bg: dict[str, list[int]] = {}
    for f, rgb in frames:
        label = f["label"]
        whole_ok += _classify(predictor, rgb) == label
        x0, y0, x1, y1 = f["box"]
        oracle_ok += _classify(predictor, rgb[y0:y1, x0:x1]) == label
        box = loc.find(rgb)
        ok = False
        if box is not None:
            found += 1
            cx, cy = box.center
            placed += x0 <= cx < x1 and y0 <= cy < y1
            ok = _classify(predictor, loc.crop(rgb, box)) == label
            crop_ok += ok
        stats = by_bg.setdefault(f["background"], [0, 0, 0])
        stats[0] += 1
        stats[1] += box is not None
        stats[2] += ok
    n = len(frames)
    out["scenes_result"] = {
        "hand_found": found, "hand_found_rate": found / n,
        "box_centre_in_pasted_photo_rate": placed / n,
        "accuracy_whole_frame": whole_ok / n,
        "accuracy_localiser_crop": crop_ok / n,
        "accuracy_oracle_crop": oracle_ok / n,
        "by_background": {k: {"frames": v[0], "found_rate": v[1] / v[0], "accuracy_localiser_crop": v[2] / v[0]}
                          for k, v in by_bg.items()},
    }

    # -- hand-free frames: windows of the same backgrounds with nothing pasted ------------------
    if negatives:
        from asl_edge.data.scenes import FRAME_SIZE, _window, load_background

        rng = np.random.default_rng(12345)
        names = sorted(record["backgrounds"])
        bgs = {n: load_background(n) for n in names}
        fp = sum(loc.find(_window(bgs[names[k % len(names)]], rng, FRAME_SIZE)) is not None for k in range(negatives))
        out["hand_free_frames"] = {"frames": negatives, "backgrounds": names, "false_hand": fp,
                                   "false_hand_rate": fp / negatives}

    # -- latency ---------------------------------------------------------------------------------
    for _, rgb in frames[:10]:
        loc.find(rgb)
    # Wall time is what a camera loop sees; CPU time of this process (one inference thread) is
    # also recorded because the development host is shared and wall time there includes waiting.
    t_loc, t_all, c_loc, c_all = [], [], [], []
    for _ in range(latency_rounds):
        for _, rgb in frames:
            t, c = time.perf_counter(), time.process_time()
            box = loc.find(rgb)
            t_loc.append(time.perf_counter() - t)
            c_loc.append(time.process_time() - c)
            t, c = time.perf_counter(), time.process_time()
            box = loc.find(rgb)
            if box is not None:
                _classify(predictor, loc.crop(rgb, box))
            t_all.append(time.perf_counter() - t)
            c_all.append(time.process_time() - c)
    ms = lambda v, q: round(float(np.percentile(v, q)) * 1000, 2) if v else None  # noqa: E731
    out["latency_ms_one_thread"] = {
        "frames": len(t_loc),
        "localiser_p50": ms(t_loc, 50),
        "localiser_p90": ms(t_loc, 90),
        "localiser_plus_classifier_p50": ms(t_all, 50),
        "localiser_plus_classifier_p90": ms(t_all, 90),
        "cpu_localiser_p50": ms(c_loc, 50),
        "cpu_localiser_p90": ms(c_loc, 90),
        "cpu_localiser_plus_classifier_p50": ms(c_all, 50),
        "cpu_localiser_plus_classifier_p90": ms(c_all, 90),
    }
    try:
        load = list(os.getloadavg())
    except OSError:
        load = None
    out["load_average_after"] = load
    out["cpu_count"] = os.cpu_count()
    out["host"] = {
        "machine": platform.machine(),
        "python": platform.python_version(),
        "runtime": f"{loc.runtime} {loc.runtime_version}",
    }
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scenes", type=Path, default=Path("runs/scenes"))
    ap.add_argument("--model", type=Path, default=Path("export/asl-digits-fast/asl-digits-fast_int8.tflite"))
    ap.add_argument("--split", type=Path, default=Path("models/asl-digits-fast/split.json"))
    ap.add_argument("--photos", type=Path, default=Path("../shared/datasets/asl-digits"))
    ap.add_argument("--config", default="{}", help="LocaliserConfig fields as JSON")
    ap.add_argument("--skip-closeups", action="store_true")
    ap.add_argument("--latency-rounds", type=int, default=1)
    ap.add_argument("--negatives", type=int, default=0, help="also count hands found in this many hand-free frames")
    ap.add_argument(
        "--framing-only", action="store_true", help="only compare each scene frame's box with its close-up's box (IoU)"
    )
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args(argv)
    if args.framing_only:
        config = LocaliserConfig(**json.loads(args.config))
        result = {
            "localiser": config.to_dict(),
            "scenes": str(args.scenes),
            "framing": framing(HandLocaliser(config, threads=1), args.scenes, args.photos),
        }
        result["command"] = "PYTHONPATH=. python benchmarks/hands_eval.py " + " ".join(
            argv if argv is not None else sys.argv[1:]
        )
        print(json.dumps(result, indent=1))
        if args.out:
            args.out.write_text(json.dumps(result, indent=1) + "\n")
        return 0
    result = evaluate(
        args.scenes,
        args.model,
        args.split,
        args.photos,
        LocaliserConfig(**json.loads(args.config)),
        args.skip_closeups,
        args.latency_rounds,
        args.negatives,
    )
    result["command"] = "PYTHONPATH=. python benchmarks/hands_eval.py " + " ".join(
        argv if argv is not None else sys.argv[1:]
    )
    text = json.dumps(result, indent=1)
    print(text)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
