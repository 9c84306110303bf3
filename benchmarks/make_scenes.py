"""Builds the scene test set: held-out close-ups pasted into real photographs, as 320x240 JPEGs.

Deterministic for a seed (and the same Pillow/NumPy builds). Only the held-out signers of the
given split (its ``test`` indices into the built-in set, whose file names point at the source
photographs) and only the TEST backgrounds are used; the backgrounds, their sources and licences
are the one table ``asl_edge.data.scenes.BACKGROUNDS`` (TRAIN and TEST, disjoint), repeated in
``scenes.json``. Needs scikit-image and scikit-learn installed (for their bundled photographs)::

    PYTHONPATH=. python benchmarks/make_scenes.py --split models/asl-digits-fast/split.json \\
        --photos ../shared/datasets/asl-digits --out runs/scenes

Writes ``OUT/<digit>/<n>.jpg`` and ``OUT/scenes.json`` (per frame: source photo, background, box
of the pasted photo in pixels, its height share, and in a set with bystanders their boxes and digits).

``--set`` picks one of ``asl_edge.data.bystanders.SCENE_SETS``: ``base`` (the default, the first
scene set, frame for frame as before), ``bystanders`` (1-3 other held-out signers' close-ups, 10-30
px high, showing other digits, around the signer's at 40-65% of the frame), ``hard`` (the same
bystanders; the signer at 28-40%, dimmer, out of focus, JPEG 50-80) or ``harsh`` (harsher still: a
development set for the hand search, ``--part val --backgrounds train --seed 1``)::

    PYTHONPATH=. python benchmarks/make_scenes.py --split models/asl-digits-camera/split.json --set hard \
        --out runs/scenes_hard
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from dataclasses import asdict, replace
from pathlib import Path

import numpy as np
from PIL import Image

from asl_edge.data.builtin import BUILTIN_FILE
from asl_edge.data.bystanders import SCENE_SETS, get_scene_set, scene_frame
from asl_edge.data.scenes import (
    BACKGROUNDS,
    FRAME_SIZE,
    background_names,
    background_path,
    load_background,
)


def make_scenes(split_file: Path, photos: Path, out: Path, seed: int = 0, per_photo: int = 2,
                height_frac: tuple[float, float] | None = None, quality: int | None = None, part: str = "test",
                backgrounds_split: str = "test", scene_set: str = "base") -> dict:
    """Writes the frames and ``scenes.json``; ``part``/``backgrounds_split`` other than test/test
    make a development set (e.g. validation signers on TRAIN backgrounds) for tuning.
    ``height_frac``/``quality`` (``None``: the set's) override the set's signer size and JPEG quality."""
    scene = get_scene_set(scene_set)
    if height_frac is not None:
        scene = replace(scene, height_frac=tuple(height_frac))
    if quality is not None:
        scene = replace(scene, jpeg=(quality, quality))
    split = json.loads(split_file.read_text())
    with np.load(BUILTIN_FILE, allow_pickle=False) as z:
        filenames, signers = z["filenames"], z["signers"]
    sources = [(str(filenames[i]), int(signers[i])) for i in split[part]]
    names = background_names(backgrounds_split)
    backgrounds = {n: load_background(n) for n in names}
    closeups = [np.asarray(Image.open(photos / source).convert("RGB")) for source, _ in sources]
    rng = np.random.default_rng(seed)
    frames = []
    for k, (source, signer) in enumerate(sources):
        label = source.split("/")[0]
        # Bystanders are other people: close-ups of the same part's other signers.
        others = [(closeups[i], s.split("/")[0]) for i, (s, g) in enumerate(sources) if g != signer]
        for j in range(per_photo):
            bg = names[(k * per_photo + j) % len(names)]
            frame, rec = scene_frame(scene, closeups[k], backgrounds[bg], rng, others, label, FRAME_SIZE)
            rel = f"{label}/{k * per_photo + j:05d}.jpg"
            (out / label).mkdir(parents=True, exist_ok=True)
            Image.fromarray(frame, "RGB").save(out / rel, "JPEG", quality=rec["jpeg"])
            box = rec["box"]
            frames.append({"file": rel, "label": label, "source": source, "background": bg,
                           "box": box, "height_frac": round((box[3] - box[1]) / FRAME_SIZE[1], 4),
                           **({"bystanders": rec["bystanders"], "jpeg_quality": rec["jpeg"]}
                              if scene.bystanders[1] else {})})
    record = {
        "set": scene.name, "set_description": scene.description, "scene_set": asdict(scene),
        "seed": seed, "per_photo": per_photo, "height_frac": list(scene.height_frac), "frame_size": list(FRAME_SIZE),
        "jpeg_quality": list(scene.jpeg) if scene.jpeg[0] != scene.jpeg[1] else scene.jpeg[0],
        "split_file": str(split_file), "part": part, "backgrounds_split": backgrounds_split,
        "split_sha256": hashlib.sha256(split_file.read_bytes()).hexdigest(),
        "photos": str(photos), "frames_count": len(frames),
        "backgrounds": {n: {**vars(BACKGROUNDS[n]),
                            "sha256": hashlib.sha256(background_path(n).read_bytes()).hexdigest()} for n in names},
        "frames": frames,
    }
    (out / "scenes.json").write_text(json.dumps(record, indent=1) + "\n")
    return record


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--split", type=Path, default=Path("models/asl-digits-fast/split.json"))
    ap.add_argument("--photos", type=Path, default=Path("../shared/datasets/asl-digits"))
    ap.add_argument("--out", type=Path, default=Path("runs/scenes"))
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--per-photo", type=int, default=2, help="frames per held-out photograph")
    ap.add_argument("--set", dest="scene_set", choices=list(SCENE_SETS), default="base",
                    help="scene set (asl_edge.data.bystanders.SCENE_SETS): " + ", ".join(SCENE_SETS))
    ap.add_argument("--min-height", type=float, default=None, help="smallest photo height / frame height (the set's)")
    ap.add_argument("--max-height", type=float, default=None, help="largest photo height / frame height (the set's)")
    ap.add_argument("--part", choices=("test", "val", "train"), default="test",
                    help="which signers of the split (test: the held-out ones; val: a development set)")
    ap.add_argument("--backgrounds", choices=("test", "train"), default="test",
                    help="background set (the scene test set uses test; tuning uses train)")
    args = ap.parse_args(argv)
    if (args.min_height is None) != (args.max_height is None):
        ap.error("give --min-height and --max-height together")
    heights = None if args.min_height is None else (args.min_height, args.max_height)
    rec = make_scenes(args.split, args.photos, args.out, args.seed, args.per_photo, heights,
                      part=args.part, backgrounds_split=args.backgrounds, scene_set=args.scene_set)
    print(f"{rec['frames_count']} frames from {len(rec['frames']) // args.per_photo} {args.part} photos on "
          f"{', '.join(rec['backgrounds'])} -> {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
