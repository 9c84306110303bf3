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
MODELS = ("landmarks", "camera", "fusion")
UNCHANGED = "unchanged"
READ_WHOLE_HELP = ("a picture without a hand found is read whole by the camera model (as a fused artifact with the "
                   "hand-found flag reads it)")


# -- measure ---------------------------------------------------------------------------------------
def _held_out(artifact: Path, val_from: list[Path] | None = None):
    """The artifact's description and its held-out images as RGB frames (before the hand search).

    ``val_from``: split records (``split.json`` of the models' runs) whose validation signers are
    scored instead of the test signers (to choose a fusion weight without looking at the test
    signers); each must name the artifact's own test images and the same validation images."""
    from dataclasses import replace

    from asl_edge.bench.targets import split_of
    from asl_edge.data.identity import eval_data, held_out
    from asl_edge.runtime.describe import describe

    desc = describe(artifact)
    pre, identity = desc.preprocessing.before_localisation(), split_of(desc)
    if not val_from:
        return desc, eval_data(pre, identity, None, stream=False)
    records = [json.loads(Path(f).read_text()) for f in val_from]
    for f, r in zip(val_from, records):
        if identity is None or [int(i) for i in r["test"]] != identity["test"] or r["val"] != records[0]["val"]:
            raise SystemExit(f"{f} is not the split {artifact.name} was held out on, or names other validation images")
    val = held_out({**identity, "test": [int(i) for i in records[0]["val"]]}, pre, stream=False)
    chosen = eval_data(pre, identity, None, stream=False)
    return desc, replace(chosen, dataset=val, description=f"validation signers of {identity['source']} "
                                                          f"(seed-{identity['seed']} split): {len(val)} images")


def _same_search(a: dict, b: dict) -> bool:
    """Whether two recorded localisers search a frame alike (``upright`` only turns the crop)."""
    from dataclasses import replace

    from asl_edge.runtime.hands import LocaliserConfig

    return replace(LocaliserConfig.from_dict(a), upright=False) == replace(LocaliserConfig.from_dict(b), upright=False)


def _score_shifts(job: tuple) -> dict:
    """One worker: both models on ``names`` (shift names), one hand search per shifted image.

    Returns ``{shift: ({model: (probabilities (n, classes), hand found (n,))}, landmarks (n, 21, 3))}``."""
    from asl_edge.runtime.describe import describe
    from asl_edge.runtime.hands import cached_localiser
    from asl_edge.runtime.runners import load_runner

    names, paths, images, masks, force_shared = job
    pre = {m: describe(p).preprocessing for m, p in paths.items()}
    runners = {m: load_runner(p, threads=1) for m, p in paths.items()}
    search = cached_localiser(pre["landmarks"].localiser)
    crop = cached_localiser(pre["camera"].localiser) if "camera" in pre else None
    shared = crop is not None and (force_shared or _same_search(pre["camera"].localiser, pre["landmarks"].localiser))
    out = {}
    for name in names:
        samples, points = _samples(_shifted(name, images, masks), pre, search, crop, shared)
        out[name] = ({m: (runners[m].predict(x).astype(np.float32), found) for m, (x, found) in samples.items()},
                     points)
    return out


def _shifted(name: str, images: np.ndarray, masks: np.ndarray | None) -> list[np.ndarray]:
    """The images under one shift (``masks``: each image's hand mask for the background shifts;
    ``None``: the shift estimates its own)."""
    from asl_edge.runtime.shifts import get_shift

    if name == UNCHANGED:
        return list(images)
    shift = get_shift(name)
    if shift.needs_mask and masks is not None:
        return [shift.apply(img, mask=m) for img, m in zip(images, masks)]
    return [shift.apply(img) for img in images]


def _samples(frames, pre: dict, search, crop, shared: bool) -> dict:
    """Each model's input for ``frames`` and where its hand search found a hand, and the landmarks
    found (frame pixels; the blank row where none were: what ``rescore`` gives another landmark model)."""
    from PIL import Image

    finish = pre["camera"].without_localiser() if crop is not None else None
    found, points, crops, cam_found = [], [], [], []
    for frame in frames:
        hand = search.find_hand(frame)
        found.append(hand is not None)
        points.append(hand.points() if hand is not None else pre["landmarks"].blank())
        if crop is not None:
            own = hand if shared else crop.find_hand(frame)
            cam_found.append(own is not None)
            pixels = crop.crop(frame, own.box()) if own is not None else frame
            crops.append(finish.load(Image.fromarray(np.ascontiguousarray(pixels), "RGB")))
    out = {"landmarks": (pre["landmarks"].normalize(np.stack(points)), np.asarray(found))}
    if crop is not None:
        out["camera"] = (finish.normalize(np.stack(crops)), np.asarray(cam_found))
    return out, np.stack(points).astype(np.float32)


def _check_pair(args, desc, chosen, paths: dict) -> None:
    """Refuses a landmark artifact that is none, and a camera artifact held out on other images."""
    if desc.preprocessing.landmarks is None:
        raise SystemExit(f"{args.landmarks} is not a landmark model")
    if not args.camera:
        return
    paths["camera"] = args.camera.resolve()
    cam, cam_data = _held_out(paths["camera"], args.val_from)
    if cam.preprocessing.localiser is None or cam.preprocessing.landmarks is not None:
        raise SystemExit(f"{args.camera} is not a camera (crop) model")
    if cam_data.description != chosen.description or \
            not np.array_equal(cam_data.dataset.labels, chosen.dataset.labels):
        raise SystemExit("the two artifacts were held out on different images: no fair comparison")
    if not _same_search(cam.preprocessing.localiser, desc.preprocessing.localiser) and not args.shared_search:
        print("the two artifacts record different hand searches: each model gets its own", file=sys.stderr)


def _entry(artifact: str, names: list[str], family: dict, probs: np.ndarray, found: np.ndarray,
           labels: np.ndarray) -> dict:
    """One model's part of a measure document from its ``(shifts, n, classes)`` probabilities and
    ``(shifts, n)`` hand-found flags (``names[0]``: unchanged); a frame without a hand counts wrong."""
    right = (probs.argmax(-1) == labels[None]) & found
    acc = {n: float(right[i].mean()) for i, n in enumerate(names)}
    no_hand = {n: int((~found[i]).sum()) for i, n in enumerate(names)}
    return {"artifact": artifact, "accuracy": acc[UNCHANGED], "no_hand": no_hand[UNCHANGED],
            "shifts": {n: {"accuracy": acc[n], "family": family[n], "no_hand": no_hand[n]} for n in names[1:]}}


def _fused(probs: dict, found: dict, weight: float, combination: str,
           read_whole: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """The fusion's probabilities and hand flags: both models' combined where both found the hand,
    the one model's where only it did (the searches differ only without a shared search); with
    ``read_whole``, where neither did, the camera model's answer for the whole picture (what a fused
    artifact with the hand-found flag gives a single picture)."""
    from asl_edge.runtime.fusion import fuse

    both = fuse(probs["landmarks"], probs["camera"], weight, combination)
    only_lm = found["landmarks"] & ~found["camera"]
    only_cam = found["camera"] & ~found["landmarks"]
    out = np.where(only_lm[..., None], probs["landmarks"], np.where(only_cam[..., None], probs["camera"], both))
    if read_whole:  # the camera's input where no hand was found is the whole picture (see _samples)
        return out, np.ones_like(found["camera"])
    return out, found["landmarks"] | found["camera"]


def _probs_file(args) -> Path:
    """Where a measure's or a rescore's per-image probabilities go (``--probs``, else under runs/), its folder made."""
    path = args.probs or ROOT / "runs" / "landmarks_vs_crops" / f"{args.split}.npz"
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


def _families(doc: dict) -> dict:
    """Each shift's family, as a measure document records it."""
    return {n: r["family"] for n, r in doc["models"]["landmarks"]["shifts"].items()}


def _rel(path: Path) -> str:
    path = Path(path).resolve()
    return str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path)


def measure(args) -> int:
    from asl_edge.runtime.shifts import camera_shifts

    paths = {"landmarks": args.landmarks.resolve()}
    desc, chosen = _held_out(paths["landmarks"], args.val_from)
    _check_pair(args, desc, chosen, paths)
    shifts = camera_shifts()
    names = [UNCHANGED, *(s.name for s in shifts)]
    keep = np.arange(0, len(chosen.dataset), args.every)  # every n-th held-out image (all by default)
    images, labels = chosen.dataset.load_images(keep), chosen.dataset.labels[keep]
    masks = None
    if args.masks == "cached":  # as `asl-edge evaluate --shifts` cuts the hand out
        from asl_edge.data.masks import hand_masks

        masks = hand_masks(images).masks
    jobs = [([name], paths, images, masks, args.shared_search) for name in names]  # one shift each: progress
    load_start, start = os.getloadavg(), time.perf_counter()
    scores = {}
    with ProcessPoolExecutor(args.workers) as pool:
        for part in pool.map(_score_shifts, jobs):
            scores.update(part)
            print(f"{len(scores)}/{len(names)} shifts scored ({time.perf_counter() - start:.0f} s)", file=sys.stderr,
                  flush=True)
    seconds = time.perf_counter() - start
    probs = {m: np.stack([scores[n][0][m][0] for n in names]) for m in paths}
    found = {m: np.stack([scores[n][0][m][1] for n in names]) for m in paths}
    probs_file = _probs_file(args)
    np.savez_compressed(probs_file, names=np.array(names), labels=labels,
                        landmarks_points=np.stack([scores[n][1] for n in names]),
                        **{f"{m}_probs": v for m, v in probs.items()}, **{f"{m}_found": v for m, v in found.items()})
    family = {s.name: s.family for s in shifts}
    models = {m: _entry(_rel(paths[m]), names, family, probs[m], found[m], labels) for m in paths}
    data = chosen.description if args.every == 1 else \
        f"{chosen.description}, one in {args.every} of them in order: {len(labels)} images"
    doc = {"schema": 1, "kind": "landmarks-vs-crops-split", "split": args.split,
           "subset": "val" if args.val_from else "test",
           "data": data, "num_samples": int(len(labels)), "every": args.every,
           "shared_search": bool(args.shared_search) and "camera" in paths, "masks": args.masks,
           "models": models, "probs": _rel(probs_file),
           "command": "python benchmarks/landmarks_vs_crops.py measure " + " ".join(sys.argv[2:]),
           "seconds": round(seconds, 1), "workers": args.workers,
           "loadavg": {"start": [round(v, 2) for v in load_start], "end": [round(v, 2) for v in os.getloadavg()]},
           "note": "shifted images as asl-edge evaluate --shifts makes them (background shifts: masks 'cached' are "
                   "the landmark-seeded GrabCut masks evaluate uses, 'estimated' the mask each shift estimates "
                   "itself); one hand search per image serves both models where they record the same search, else "
                   "each its own; a frame without a hand found counts as wrong. Seconds on a shared 2-core "
                   "machine: not a speed figure."}
    out = args.out or FOLDER / f"{args.split}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(doc, indent=1) + "\n")
    print(f"wrote {out} ({doc['data']}): unchanged " + ", ".join(f"{m} {models[m]['accuracy']:.4f}" for m in models))
    return 0


def rescore(args) -> int:
    """Another landmark artifact on the landmarks a measure found (same images, shifts and hand
    search): only its probabilities change, the camera's and the search are the measure's."""
    from asl_edge.bench.targets import split_of
    from asl_edge.runtime.describe import describe
    from asl_edge.runtime.runners import load_runner

    doc = json.loads(args.measure.read_text())
    with np.load(ROOT / doc["probs"]) as z:
        data = dict(z)
    if "landmarks_points" not in data:
        raise SystemExit(f"{args.measure} was measured before the landmarks were kept: measure it again")
    old, new = describe(ROOT / doc["models"]["landmarks"]["artifact"]), describe(args.landmarks.resolve())
    same = _same_search(old.preprocessing.localiser, new.preprocessing.localiser)
    if new.preprocessing.landmarks is None or not same:
        raise SystemExit(f"{args.landmarks} is not a landmark model of the same hand search as the measured one")
    if split_of(new) != split_of(old):
        raise SystemExit(f"{args.landmarks} was held out on other signers than "
                         f"{doc['models']['landmarks']['artifact']}")
    points = data["landmarks_points"]
    x = new.preprocessing.normalize(points.reshape(-1, *points.shape[2:]))
    data["landmarks_probs"] = load_runner(args.landmarks.resolve(), threads=1).predict(x).astype(np.float32) \
        .reshape(*points.shape[:2], -1)
    probs_file = _probs_file(args)
    np.savez_compressed(probs_file, **data)
    names, family = [str(n) for n in data["names"]], _families(doc)
    models = {**{m: v for m, v in doc["models"].items() if m != "fusion"},
              "landmarks": _entry(_rel(args.landmarks), names, family, data["landmarks_probs"],
                                  data["landmarks_found"], data["labels"])}
    out_doc = {**doc, "split": args.split, "models": models, "probs": _rel(probs_file),
               "rescored_from": _rel(args.measure),
               "command": "python benchmarks/landmarks_vs_crops.py rescore " + " ".join(sys.argv[2:])}
    out = args.out or FOLDER / f"{args.split}.json"
    out.write_text(json.dumps(out_doc, indent=1) + "\n")
    print(f"wrote {out}: unchanged landmarks {models['landmarks']['accuracy']:.4f}")
    return 0


# -- fusion ----------------------------------------------------------------------------------------
WEIGHTS = tuple(round(w, 2) for w in np.arange(0.0, 1.0001, 0.05))


def _read_probs(path: Path) -> tuple[list[str], np.ndarray, dict, dict]:
    with np.load(path) as z:
        names, labels = [str(n) for n in z["names"]], z["labels"]
        probs = {m: z[f"{m}_probs"] for m in ("landmarks", "camera")}
        found = {m: z[f"{m}_found"] for m in ("landmarks", "camera")}
    return names, labels, probs, found


def _scores(names, labels, probs, found, weight: float, combination: str, read_whole: bool = False) -> dict:
    """Unchanged, the mean over the shifts and the worst shift of one fusion setting."""
    p, f = _fused(probs, found, weight, combination, read_whole)
    acc = ((p.argmax(-1) == labels[None]) & f).mean(axis=1)
    worst = int(np.argmin(acc[1:])) + 1
    return {"unchanged": float(acc[0]), "mean_over_shifts": float(acc[1:].mean()),
            "worst_shift": {"name": names[worst], "accuracy": float(acc[worst])}}


def choose_weight(names, labels, probs, found, read_whole: bool = False) -> dict:
    """Every weight of :data:`WEIGHTS` with every combination, and the one chosen: the highest mean
    over the shifts, then the highest worst shift, then the highest unchanged, then the weight
    nearest 0.5 (neither model favoured without a reason)."""
    from asl_edge.runtime.fusion import COMBINATIONS

    sweep = [{"combination": c, "weight": w, **_scores(names, labels, probs, found, w, c, read_whole)}
             for c in COMBINATIONS for w in WEIGHTS]
    best = max(sweep, key=lambda r: (round(r["mean_over_shifts"], 9), round(r["worst_shift"]["accuracy"], 9),
                                     round(r["unchanged"], 9), -abs(r["weight"] - 0.5)))
    return {"chosen": {"combination": best["combination"], "weight": best["weight"]}, "sweep": sweep}


def fusion(args) -> int:
    """Chooses the fusion weight on the validation document's probabilities and adds the fused model
    to each test document (``--apply``), from the probabilities its measure saved."""
    from asl_edge.runtime.fusion import COMBINATIONS

    val = json.loads(args.val.read_text())
    if val.get("subset") != "val" or "camera" not in val["models"]:
        raise SystemExit(f"{args.val} is not a measure of both models on validation signers (--val-from)")
    chosen = choose_weight(*_read_probs(ROOT / val["probs"]), read_whole=args.read_whole)
    c, w = chosen["chosen"]["combination"], chosen["chosen"]["weight"]
    doc = {"schema": 1, "kind": "landmarks-vs-crops-fusion-weight", "chosen_on": val["data"],
           "measure": _rel(args.val), "models": {m: val["models"][m]["artifact"] for m in ("landmarks", "camera")},
           "rule": "highest mean over the shifts, then highest worst shift, then highest unchanged, then the weight "
                   "nearest 0.5; weight: the landmark model's share",
           "combinations": {k: v.description for k, v in COMBINATIONS.items()}, "read_whole": args.read_whole,
           **chosen,
           "command": "python benchmarks/landmarks_vs_crops.py fusion " + " ".join(sys.argv[2:])}
    args.out.write_text(json.dumps(doc, indent=1) + "\n")
    print(f"chosen on {val['data']}: {c}, landmark weight {w} (wrote {args.out})")
    for path in args.apply:
        test = json.loads(path.read_text())
        if test.get("subset", "test") != "test" or test["models"]["camera"]["artifact"] != doc["models"]["camera"] \
                or test["models"]["landmarks"]["artifact"] != doc["models"]["landmarks"]:
            raise SystemExit(f"{path} is not a test measure of the two models the weight was chosen for")
        names, labels, probs, found = _read_probs(ROOT / test["probs"])
        family = _families(test)
        p, f = _fused(probs, found, w, c, args.read_whole)
        entry = _entry(f"fusion of the two ({c}, landmark weight {w})", names, family, p, f, labels)
        test["models"]["fusion"] = {**entry, "combination": c, "weight": w, "weight_from": _rel(args.out),
                                    "read_whole": args.read_whole}
        path.write_text(json.dumps(test, indent=1) + "\n")
        print(f"{path}: fusion unchanged {entry['accuracy']:.4f}, mean over the shifts "
              f"{np.mean([r['accuracy'] for r in entry['shifts'].values()]):.4f}")
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


# -- variants --------------------------------------------------------------------------------------
def _summary(names: list[str], family: dict, labels: np.ndarray, probs: np.ndarray, answered: np.ndarray) -> dict:
    """Per-shift accuracy and the headline figures of one model's ``(shifts, n, classes)`` probabilities
    (``family``: each shift's family, as a measure document records it)."""
    acc = dict(zip(names, ((probs.argmax(-1) == labels[None]) & answered).mean(axis=1).tolist()))
    shifted = [n for n in names if n != UNCHANGED]
    background = [n for n in shifted if family[n] == "background"]
    worst = min(shifted, key=acc.get)
    return {"unchanged": acc[UNCHANGED], "mean_over_shifts": float(np.mean([acc[n] for n in shifted])),
            "mean_backgrounds": float(np.mean([acc[n] for n in background])),
            "shifts_at_least_95": sum(acc[n] >= 0.95 for n in shifted), "shifts": len(shifted),
            "worst_shift": {"name": worst, "accuracy": acc[worst]}, "accuracy": acc}


def variants(args) -> int:
    """Landmark models of one hand search side by side (``--doc NAME=MEASURE``, each a measure or a
    rescore document): each alone and fused with the document's camera model at one weight."""
    out = {}
    for item in args.doc:
        name, _, path = item.partition("=")
        doc = json.loads(Path(path).read_text())
        names, labels, probs, found = _read_probs(ROOT / doc["probs"])
        fused, answered = _fused(probs, found, args.weight, args.combination, args.read_whole)
        family = _families(doc)
        out[name] = {"measure": _rel(Path(path)), "data": doc["data"], "command": doc["command"],
                     "artifacts": {m: doc["models"][m]["artifact"] for m in ("landmarks", "camera")},
                     "landmarks": _summary(names, family, labels, probs["landmarks"], found["landmarks"]),
                     "fusion": _summary(names, family, labels, fused, answered)}
    fusion_setting = {"weight": args.weight, "combination": args.combination, "read_whole": args.read_whole}
    result = {"schema": 1, "kind": "landmark-variants", "fusion": fusion_setting,
              "variants": out, "command": "python benchmarks/landmarks_vs_crops.py variants " + " ".join(sys.argv[2:])}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1) + "\n")
    print("| variant | model | unchanged | mean of the shifts | backgrounds | shifts >= 95% | worst |\n"
          "|---|---|---|---|---|---|---|")
    for name, v in out.items():
        for model in ("landmarks", "fusion"):
            r = v[model]
            print(f"| {name} | {model} | {100 * r['unchanged']:.2f}% | {100 * r['mean_over_shifts']:.2f}% | "
                  f"{100 * r['mean_backgrounds']:.2f}% | {r['shifts_at_least_95']}/{r['shifts']} | "
                  f"{r['worst_shift']['name']} {100 * r['worst_shift']['accuracy']:.1f}% |")
    return 0


# -- summary ---------------------------------------------------------------------------------------
def load(folder: Path) -> dict:
    """``{split: measure document}`` of every split measured on its test signers."""
    docs = [json.loads(p.read_text()) for p in sorted(folder.glob("*.json"))]
    return {d["split"]: d for d in docs
            if d.get("kind") == "landmarks-vs-crops-split" and d.get("subset", "test") == "test"}


def compare(docs: dict) -> dict:
    """Per-shift and per-family accuracy of each model on each split, and their means over splits."""
    splits = sorted(docs)
    first = docs[splits[0]]["models"]["landmarks"]["shifts"]
    names = [UNCHANGED, *first]
    family = {UNCHANGED: "none", **_families(docs[splits[0]])}

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


def headline(doc: dict) -> dict:
    """Per split and model: unchanged, the mean over the shifts, the mean over the background shifts
    and the worst shift (the REPORT's table)."""
    out = {}
    for split in doc["splits"]:
        for model in MODELS:
            acc = {r["shift"]: r[model]["per_split"].get(split) for r in doc["rows"]}
            if acc[UNCHANGED] is None:
                continue
            shifted = {n: a for n, a in acc.items() if n != UNCHANGED}
            background = [acc[r["shift"]] for r in doc["rows"] if r["family"] == "background"]
            worst = min(shifted, key=shifted.get)
            out.setdefault(split, {})[model] = {
                "unchanged": acc[UNCHANGED], "mean_over_shifts": float(np.mean(list(shifted.values()))),
                "mean_backgrounds": float(np.mean(background)),
                "worst_shift": {"name": worst, "accuracy": shifted[worst]}}
    return out


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
    doc["headline"] = headline(doc)
    args.out.write_text(json.dumps(doc, indent=1) + "\n")
    print(markdown(doc))
    for fam, v in doc["families"].items():
        print(f"{fam:10} " + "  ".join(f"{m} {100 * v[m]:.1f}%" for m in MODELS if v[m] is not None)
              + f"  ({v['shifts']} shifts)")
    for split, per in doc["headline"].items():
        print(f"\n{split}: {docs[split]['data']}\n\n| model | unchanged | mean of the {len(doc['rows']) - 1} shifts | "
              "backgrounds (mean) | worst shift |\n|---|---|---|---|---|")
        for m, h in per.items():
            print(f"| {m} | {100 * h['unchanged']:.1f}% | {100 * h['mean_over_shifts']:.1f}% | "
                  f"{100 * h['mean_backgrounds']:.1f}% | {h['worst_shift']['name']} "
                  f"{100 * h['worst_shift']['accuracy']:.1f}% |")
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
    m.add_argument("--val-from", type=Path, nargs="+", metavar="SPLIT_JSON",
                   help="score the validation signers these split records name (the models' run folders' "
                        "split.json) instead of the test signers: where a fusion weight is chosen")
    m.add_argument("--masks", choices=("cached", "estimated"), default="cached",
                   help="background shifts: the cached landmark-seeded masks (as asl-edge evaluate --shifts) or the "
                        "mask each shift estimates itself")
    m.add_argument("--probs", type=Path, help="where the per-image probabilities go "
                                              "(default runs/landmarks_vs_crops/SPLIT.npz)")
    m.add_argument("--out", type=Path)
    f = sub.add_parser("fusion")
    f.add_argument("--val", type=Path, required=True, help="a measure document of both models on validation signers")
    f.add_argument("--apply", type=Path, nargs="*", default=[], help="test measure documents to add the fusion to")
    f.add_argument("--out", type=Path, default=FOLDER / "fusion_weight.json")
    f.add_argument("--read-whole", action="store_true", help=READ_WHOLE_HELP)
    r = sub.add_parser("rescore")
    r.add_argument("--measure", type=Path, required=True,
                   help="a measure document whose probabilities kept the landmarks")
    r.add_argument("--landmarks", type=Path, required=True, help="another landmark artifact of the same hand search")
    r.add_argument("--split", required=True, help="a name for the new document")
    r.add_argument("--probs", type=Path)
    r.add_argument("--out", type=Path)
    t = sub.add_parser("timing")
    t.add_argument("--landmarks", type=Path, required=True)
    t.add_argument("--camera", type=Path, required=True)
    t.add_argument("--runs", type=int, default=2000)
    t.add_argument("--frames", type=int, default=40)
    t.add_argument("--out", type=Path, default=ROOT / "benchmarks/results/bench/landmarks_vs_crops_timing.json")
    v = sub.add_parser("variants")
    v.add_argument("--doc", nargs="+", required=True, metavar="NAME=MEASURE_JSON")
    v.add_argument("--weight", type=float, default=0.3, help="the landmark model's share in the fusion")
    v.add_argument("--combination", default="log")
    v.add_argument("--read-whole", action="store_true", help=READ_WHOLE_HELP)
    v.add_argument("--out", type=Path, required=True)
    s = sub.add_parser("summary")
    s.add_argument("--folder", type=Path, default=FOLDER)
    s.add_argument("--out", type=Path, default=ROOT / "benchmarks/results/shifts/landmarks_vs_crops.json")
    args = parser.parse_args(argv)
    return {"measure": measure, "fusion": fusion, "rescore": rescore, "timing": timing, "variants": variants,
            "summary": summary}[args.command](args)


if __name__ == "__main__":
    sys.exit(main())
