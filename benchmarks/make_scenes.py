"""Builds the scene test set: held-out close-ups pasted into real photographs, as 320x240 JPEGs.

Deterministic for a seed (and the same Pillow/NumPy builds). Only the held-out signers of the
given split (its ``test`` indices into the built-in set, whose file names point at the source
photographs) and only the TEST backgrounds are used; the backgrounds, their sources and licences
are the one table ``asl_edge.data.scenes.BACKGROUNDS`` (TRAIN and TEST, disjoint), repeated in
``scenes.json``. Needs scikit-image and scikit-learn installed (for their bundled photographs)::

    PYTHONPATH=. python benchmarks/make_scenes.py --split models/asl-digits-fast/split.json \\
        --photos ../shared/datasets/asl-digits --out runs/scenes

Writes ``OUT/<digit>/<n>.jpg`` and ``OUT/scenes.json`` (per frame: source photo, background, box
of the pasted photo in pixels, its height share).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from pathlib import Path

import numpy as np
from PIL import Image

from asl_edge.data.builtin import BUILTIN_FILE
from asl_edge.data.scenes import (
    BACKGROUNDS,
    FRAME_SIZE,
    background_names,
    background_path,
    composite,
    load_background,
)


def make_scenes(split_file: Path, photos: Path, out: Path, seed: int = 0, per_photo: int = 2,
                height_frac: tuple[float, float] = (0.35, 0.7), quality: int = 90, part: str = "test",
                backgrounds_split: str = "test") -> dict:
    """Writes the frames and ``scenes.json``; ``part``/``backgrounds_split`` other than test/test
    make a development set (e.g. validation signers on TRAIN backgrounds) for tuning."""
    split = json.loads(split_file.read_text())
    with np.load(BUILTIN_FILE, allow_pickle=False) as z:
        filenames = z["filenames"]
    sources = [str(filenames[i]) for i in split[part]]
    names = background_names(backgrounds_split)
    backgrounds = {n: load_background(n) for n in names}
    rng = np.random.default_rng(seed)
    frames = []
    for k, source in enumerate(sources):
        photo = np.asarray(Image.open(photos / source).convert("RGB"))
        label = source.split("/")[0]
        for j in range(per_photo):
            bg = names[(k * per_photo + j) % len(names)]
            frame, box = composite(photo, backgrounds[bg], rng, height_frac, FRAME_SIZE)
            rel = f"{label}/{k * per_photo + j:05d}.jpg"
            (out / label).mkdir(parents=True, exist_ok=True)
            Image.fromarray(frame, "RGB").save(out / rel, "JPEG", quality=quality)
            frames.append({"file": rel, "label": label, "source": source, "background": bg,
                           "box": list(box), "height_frac": round((box[3] - box[1]) / FRAME_SIZE[1], 4)})
    record = {
        "seed": seed, "per_photo": per_photo, "height_frac": list(height_frac), "frame_size": list(FRAME_SIZE),
        "jpeg_quality": quality, "split_file": str(split_file), "part": part, "backgrounds_split": backgrounds_split,
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
    ap.add_argument("--min-height", type=float, default=0.35, help="smallest photo height / frame height")
    ap.add_argument("--max-height", type=float, default=0.7, help="largest photo height / frame height")
    ap.add_argument("--part", choices=("test", "val", "train"), default="test",
                    help="which signers of the split (test: the held-out ones; val: a development set)")
    ap.add_argument("--backgrounds", choices=("test", "train"), default="test",
                    help="background set (the scene test set uses test; tuning uses train)")
    args = ap.parse_args(argv)
    rec = make_scenes(args.split, args.photos, args.out, args.seed, args.per_photo, (args.min_height, args.max_height),
                      part=args.part, backgrounds_split=args.backgrounds)
    print(f"{rec['frames_count']} frames from {len(rec['frames']) // args.per_photo} {args.part} photos on "
          f"{', '.join(rec['backgrounds'])} -> {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
