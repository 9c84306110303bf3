"""Landmarks vs crops: the landmark model against the camera (crop) model on every camera shift.

``measure`` scores a landmark artifact and a camera artifact on the same held-out images under
every shift of the suite, as ``asl-edge evaluate ARTIFACT --shifts`` does for each (the same steps:
the shift on the decoded image, the hand search, then each model's own preprocessing), but with
one hand search per shifted image for both: the two models record the same localiser search (only
the camera's crop is turned upright), and on this shared 2-core machine the search is nearly all
of the time. The shifts are spread over worker processes. It writes
benchmarks/results/shifts/landmarks/<split>.json.

``summary`` reads every split's file and writes one comparison (per shift, each model's accuracy
on each split and their mean; per shift family, the mean; where each model wins) and prints the
markdown table of benchmarks/REPORT.md ("Landmarks vs crops").

Usage:
  python benchmarks/landmarks_vs_crops.py measure --landmarks LM_int8.tflite [--camera CAM_int8.tflite]
      --split seed0 [--workers 4]
  python benchmarks/landmarks_vs_crops.py summary [--out benchmarks/results/shifts/landmarks_vs_crops.json]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
FOLDER = ROOT / "benchmarks" / "results" / "shifts" / "landmarks"
MODELS = ("landmarks", "camera")
UNCHANGED = "unchanged"


# -- measure ---------------------------------------------------------------------------------------
def _held_out(artifact: Path):
    """The artifact's description and its held-out images as RGB frames (before the hand search)."""
    from asl_edge.bench.targets import split_of
    from asl_edge.data.identity import eval_data
    from asl_edge.runtime.describe import describe

    desc = describe(artifact)
    chosen = eval_data(desc.preprocessing.before_localisation(), split_of(desc), None, stream=False)
    return desc, chosen


def _same_search(a: dict, b: dict) -> bool:
    """Whether two recorded localisers search a frame alike (``upright`` only turns the crop)."""
    from dataclasses import replace

    from asl_edge.runtime.hands import LocaliserConfig

    return replace(LocaliserConfig.from_dict(a), upright=False) == replace(LocaliserConfig.from_dict(b), upright=False)


def _score_shifts(job: tuple) -> dict:
    """One worker: both models on ``names`` (shift names), one hand search per shifted image."""
    from PIL import Image

    from asl_edge.runtime.describe import describe
    from asl_edge.runtime.hands import cached_localiser
    from asl_edge.runtime.runners import load_runner
    from asl_edge.runtime.shifts import get_shift

    names, paths, images, labels, force_shared = job
    descs = {m: describe(p) for m, p in paths.items()}
    runners = {m: load_runner(p, threads=1) for m, p in paths.items()}
    pre = {m: d.preprocessing for m, d in descs.items()}
    search = cached_localiser(pre["landmarks"].localiser)
    crop = cached_localiser(pre["camera"].localiser) if "camera" in pre else None
    shared = crop is not None and (force_shared or _same_search(pre["camera"].localiser, pre["landmarks"].localiser))
    finish = pre["camera"].without_localiser() if "camera" in pre else None
    out = {}
    for name in names:
        apply = (lambda img: img) if name == UNCHANGED else get_shift(name).apply
        found, points, crops, cam_found = [], [], [], []
        for rgb in images:
            frame = apply(rgb)
            hand = search.find_hand(frame)
            found.append(hand is not None)
            points.append(hand.points() if hand is not None else pre["landmarks"].blank())
            if crop is not None:
                own = hand if shared else crop.find_hand(frame)
                cam_found.append(own is not None)
                pixels = crop.crop(frame, own.box()) if own is not None else frame
                crops.append(finish.load(Image.fromarray(np.ascontiguousarray(pixels), "RGB")))
        found = {"landmarks": np.asarray(found), "camera": np.asarray(cam_found)}
        result = {"no_hand": int((~found["landmarks"]).sum()), "num_samples": len(labels)}
        inputs = {"landmarks": pre["landmarks"].normalize(np.stack(points))}
        if crop is not None:
            inputs["camera"] = finish.normalize(np.stack(crops))
            result["no_hand_camera"] = int((~found["camera"]).sum())
        for m, x in inputs.items():
            right = (runners[m].predict(x).argmax(1) == labels) & found[m]
            result[m] = float(right.mean())
        out[name] = result
    return out


def measure(args) -> int:
    from asl_edge.runtime.shifts import camera_shifts

    paths = {"landmarks": args.landmarks.resolve()}
    desc, chosen = _held_out(paths["landmarks"])
    if desc.preprocessing.landmarks is None:
        raise SystemExit(f"{args.landmarks} is not a landmark model")
    if args.camera:
        paths["camera"] = args.camera.resolve()
        cam, cam_data = _held_out(paths["camera"])
        if cam.preprocessing.localiser is None or cam.preprocessing.landmarks is not None:
            raise SystemExit(f"{args.camera} is not a camera (crop) model")
        if cam_data.description != chosen.description or \
                not np.array_equal(cam_data.dataset.labels, chosen.dataset.labels):
            raise SystemExit("the two artifacts were held out on different images: no fair comparison")
        if not _same_search(cam.preprocessing.localiser, desc.preprocessing.localiser) and not args.shared_search:
            print("the two artifacts record different hand searches: each model gets its own", file=sys.stderr)
    shifts = camera_shifts()
    names = [UNCHANGED, *(s.name for s in shifts)]
    keep = np.arange(0, len(chosen.dataset), args.every)  # every n-th held-out image (all by default)
    images, labels = chosen.dataset.load_images(keep), chosen.dataset.labels[keep]
    jobs = [(names[i::args.workers], paths, images, labels, args.shared_search) for i in range(args.workers)]
    load_start, start = os.getloadavg(), time.perf_counter()
    with ProcessPoolExecutor(args.workers) as pool:
        parts = list(pool.map(_score_shifts, jobs))
    seconds = time.perf_counter() - start
    scores = {k: v for part in parts for k, v in part.items()}
    family = {s.name: s.family for s in shifts}
    models = {}
    no_hand = {"landmarks": "no_hand", "camera": "no_hand_camera"}
    for m in paths:
        models[m] = {"artifact": str(paths[m].relative_to(ROOT)) if paths[m].is_relative_to(ROOT) else str(paths[m]),
                     "accuracy": scores[UNCHANGED][m],
                     "no_hand": scores[UNCHANGED][no_hand[m]],
                     "shifts": {n: {"accuracy": scores[n][m], "family": family[n], "no_hand": scores[n][no_hand[m]]}
                                for n in names[1:]}}
    data = chosen.description if args.every == 1 else \
        f"{chosen.description}, one in {args.every} of them in order: {len(labels)} images"
    doc = {"schema": 1, "kind": "landmarks-vs-crops-split", "split": args.split,
           "data": data, "num_samples": int(len(labels)), "every": args.every,
           "shared_search": bool(args.shared_search) and "camera" in paths,
           "models": models,
           "command": "python benchmarks/landmarks_vs_crops.py measure " + " ".join(sys.argv[2:]),
           "seconds": round(seconds, 1), "workers": args.workers,
           "loadavg": {"start": [round(v, 2) for v in load_start], "end": [round(v, 2) for v in os.getloadavg()]},
           "note": "shifted images as asl-edge evaluate --shifts makes them (background shifts with the mask the "
                   "shift estimates itself); one hand search per image serves both models where they record the "
                   "same search, else each its own; a frame without a hand found counts as wrong. Seconds on a "
                   "shared 2-core machine: not a speed figure."}
    out = args.out or FOLDER / f"{args.split}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(doc, indent=1) + "\n")
    print(f"wrote {out}: unchanged " + ", ".join(f"{m} {models[m]['accuracy']:.4f}" for m in models))
    return 0


# -- timing ----------------------------------------------------------------------------------------
def _p50(times: list[float]) -> dict:
    t = np.asarray(times) * 1e3
    return {"p50_ms": round(float(np.percentile(t, 50)), 4), "p90_ms": round(float(np.percentile(t, 90)), 4),
            "runs": len(t)}


def timing(args) -> int:
    """Per model, on one thread: the classifier alone (LiteRT, one input), the stage after the hand
    search (landmark features + MLP, or upright crop + resize + CNN), and whole frames (search
    included), the two models interleaved frame by frame so that both meet the same machine."""
    from PIL import Image

    from asl_edge.bench.pipeline import scene_frames
    from asl_edge.runtime.hands import cached_localiser
    from asl_edge.runtime.predict import classify_frame, load_predictor

    paths = {"landmarks": args.landmarks.resolve(), "camera": args.camera.resolve()}
    predictors = {m: load_predictor(p, threads=1) for m, p in paths.items()}
    _, chosen = _held_out(paths["landmarks"])
    frames, described = scene_frames(chosen.dataset.load_images(), args.frames)
    load_start = os.getloadavg()
    out = {}
    for m, pred in predictors.items():  # the classifier alone, as `asl-edge benchmark` times it
        x = pred.preprocessing.normalize(np.stack([pred.preprocessing.blank()])) if m == "landmarks" else \
            pred.preprocessing.without_localiser().normalize(np.zeros((1, *pred.preprocessing.input_shape), np.uint8))
        for _ in range(50):
            pred.runner.predict(x)
        times = []
        for _ in range(args.runs):
            t = time.perf_counter()
            pred.runner.predict(x)
            times.append(time.perf_counter() - t)
        out[m] = {"artifact": str(paths[m].relative_to(ROOT)) if paths[m].is_relative_to(ROOT) else str(paths[m]),
                  "size_bytes": paths[m].stat().st_size, "classifier": _p50(times)}
    search = cached_localiser(predictors["landmarks"].preprocessing.localiser, threads=1)
    cam = predictors["camera"].preprocessing
    crop = cached_localiser(cam.localiser, threads=1)
    after = {m: [] for m in paths}
    whole = {m: [] for m in paths}
    for frame in frames:
        rgb = np.asarray(frame)
        hand = search.find_hand(rgb)
        if hand is not None:  # the stage after the search
            t = time.perf_counter()
            predictors["landmarks"].top_k(hand.points()[None], 1)
            after["landmarks"].append(time.perf_counter() - t)
            t = time.perf_counter()
            pixels = cam.without_localiser().load(Image.fromarray(crop.crop(rgb, hand.box()), "RGB"))
            predictors["camera"].top_k(pixels[None], 1)
            after["camera"].append(time.perf_counter() - t)
        for m, pred in predictors.items():  # whole frames, as the camera loop without tracking
            t = time.perf_counter()
            classify_frame(pred, frame)
            whole[m].append(time.perf_counter() - t)
    for m in paths:
        out[m]["after_search"] = _p50(after[m])
        out[m]["pipeline"] = _p50(whole[m])
    doc = {"schema": 1, "kind": "landmarks-vs-crops-timing", "threads": 1, "frames": described,
           "models": out, "command": "python benchmarks/landmarks_vs_crops.py timing " + " ".join(sys.argv[2:]),
           "loadavg": {"start": [round(v, 2) for v in load_start], "end": [round(v, 2) for v in os.getloadavg()]},
           "note": "one thread each (LiteRT); the machine was shared with other jobs: whole-frame figures wait for "
                   "the CPU as well (compare the two models, measured interleaved, not their absolute values)"}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(doc, indent=1) + "\n")
    for m, r in out.items():
        print(f"{m}: classifier p50 {r['classifier']['p50_ms']} ms, after the search {r['after_search']['p50_ms']} ms, "
              f"whole frame {r['pipeline']['p50_ms']} ms")
    return 0


# -- summary ---------------------------------------------------------------------------------------
def load(folder: Path) -> dict:
    """``{split: measure document}`` of every split measured."""
    return {json.loads(p.read_text())["split"]: json.loads(p.read_text()) for p in sorted(folder.glob("*.json"))}


def compare(docs: dict) -> dict:
    """Per-shift and per-family accuracy of each model on each split, and their means over splits."""
    splits = sorted(docs)
    first = docs[splits[0]]["models"]["landmarks"]["shifts"]
    names = [UNCHANGED, *first]
    family = {UNCHANGED: "none", **{n: r["family"] for n, r in first.items()}}

    def acc(doc, model, name):
        if model not in doc["models"]:
            return None
        m = doc["models"][model]
        return m["accuracy"] if name == UNCHANGED else m["shifts"][name]["accuracy"]

    rows = []
    for name in names:
        row = {"shift": name, "family": family[name]}
        for model in MODELS:
            per = {s: acc(docs[s], model, name) for s in splits if acc(docs[s], model, name) is not None}
            row[model] = {"per_split": per, "mean": sum(per.values()) / len(per) if per else None}
        both = [s for s in splits if s in row["camera"]["per_split"]]  # the splits with both models
        row["difference_pp_same_splits"] = round(100 * float(np.mean(
            [row["landmarks"]["per_split"][s] - row["camera"]["per_split"][s] for s in both])), 2) if both else None
        rows.append(row)
    shifted = [r for r in rows if r["shift"] != UNCHANGED]
    families = {}
    for fam in dict.fromkeys(family.values()):
        members = [r for r in rows if r["family"] == fam]
        families[fam] = {m: float(np.mean([r[m]["mean"] for r in members])) if members[0][m]["mean"] is not None
                         else None for m in MODELS}
        families[fam]["shifts"] = len(members)
    return {"splits": {s: {"data": docs[s]["data"], "models": {m: d["artifact"] for m, d in docs[s]["models"].items()},
                           "command": docs[s]["command"], "loadavg": docs[s]["loadavg"]} for s in splits},
            "rows": rows, "families": families,
            "mean_over_shifts": {m: float(np.mean([r[m]["mean"] for r in shifted])) if shifted[0][m]["mean"]
                                 is not None else None for m in MODELS},
            "landmarks_better": [r["shift"] for r in shifted if (r["difference_pp_same_splits"] or 0) > 1.0],
            "camera_better": [r["shift"] for r in shifted if (r["difference_pp_same_splits"] or 0) < -1.0]}


def markdown(doc: dict) -> str:
    cols = [(m, s) for m in MODELS for s in doc["splits"] if doc["rows"][0][m]["per_split"].get(s) is not None]
    lines = ["| shift | family | " + " | ".join(f"{m} {s}" for m, s in cols) + " | landmarks - camera (pp) |",
             "|---|---|" + "---|" * len(cols) + "---|"]
    for r in doc["rows"]:
        cells = " | ".join(f"{100 * r[m]['per_split'][s]:.1f}%" for m, s in cols)
        diff = r["difference_pp_same_splits"]
        lines.append(f"| {r['shift']} | {r['family']} | {cells} | {'' if diff is None else f'{diff:+.1f}'} |")
    return "\n".join(lines)


def summary(args) -> int:
    docs = load(args.folder)
    if not docs:
        print(f"no measured split in {args.folder}", file=sys.stderr)
        return 1
    doc = {"schema": 1, "kind": "landmarks-vs-crops", "command": "python benchmarks/landmarks_vs_crops.py summary",
           **compare(docs)}
    args.out.write_text(json.dumps(doc, indent=1) + "\n")
    print(markdown(doc))
    for fam, v in doc["families"].items():
        print(f"{fam:10} " + "  ".join(f"{m} {100 * v[m]:.1f}%" for m in MODELS if v[m] is not None)
              + f"  ({v['shifts']} shifts)")
    return 0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    m = sub.add_parser("measure")
    m.add_argument("--landmarks", type=Path, required=True)
    m.add_argument("--camera", type=Path)
    m.add_argument("--split", required=True, help="a name for the signer split, e.g. seed0")
    m.add_argument("--workers", type=int, default=4)
    m.add_argument("--every", type=int, default=1, help="score every n-th held-out image (a shared machine's budget)")
    m.add_argument("--shared-search", action="store_true",
                   help="one hand search per image for both models even where their recorded searches differ "
                        "(the camera reference records none of the bystander-selection settings added since)")
    m.add_argument("--out", type=Path)
    t = sub.add_parser("timing")
    t.add_argument("--landmarks", type=Path, required=True)
    t.add_argument("--camera", type=Path, required=True)
    t.add_argument("--runs", type=int, default=2000)
    t.add_argument("--frames", type=int, default=40)
    t.add_argument("--out", type=Path, default=ROOT / "benchmarks/results/bench/landmarks_vs_crops_timing.json")
    s = sub.add_parser("summary")
    s.add_argument("--folder", type=Path, default=FOLDER)
    s.add_argument("--out", type=Path, default=ROOT / "benchmarks/results/shifts/landmarks_vs_crops.json")
    args = parser.parse_args(argv)
    return {"measure": measure, "timing": timing, "summary": summary}[args.command](args)


if __name__ == "__main__":
    sys.exit(main())
