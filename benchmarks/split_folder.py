#!/usr/bin/env python3
"""One part of a signer split as a class-per-folder tree of the built-in set's stored pictures.

``asl-edge evaluate`` reads the held-out part from the built-in set's stored 64-pixel pictures; a
folder of the original photographs is another test (more pixels on the hand for the hand search and
the crop: the background shifts read higher there). This writes the pictures of another part
(``val``: the validation signers) exactly as stored, one PNG each under its class, so that

    PYTHONPATH=. python benchmarks/split_folder.py --split models/asl-digits-camera/split.json --part val \\
        --out runs/val64
    asl-edge evaluate ARTIFACT --data runs/val64 --shifts --json

measures them as the held-out ones are measured.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
from PIL import Image

PARTS = ("train", "val", "test")


def part_index(split_file: Path, part: str) -> list[int]:
    """The built-in set's indices of ``part`` in ``split_file``."""
    return json.loads(split_file.read_text())[part]


def part_images(split_file: Path, part: str) -> tuple[np.ndarray, np.ndarray]:
    """The built-in set's stored pictures and labels at the indices of ``part`` in ``split_file``."""
    from asl_edge.data.builtin import load_builtin
    from asl_edge.runtime.preprocess import Preprocessing

    index = part_index(split_file, part)
    stored = load_builtin(Preprocessing())  # RGB at the stored size, as evaluate's shifts start from
    return stored["images"][index], stored["labels"][index]


def write_part(split_file: Path, part: str, out: Path) -> int:
    """Writes ``part``'s pictures under ``out/<class>/<photograph>.png``; returns how many."""
    from asl_edge.data.builtin import BUILTIN_FILE, CLASS_NAMES

    images, labels = part_images(split_file, part)
    with np.load(BUILTIN_FILE, allow_pickle=False) as z:
        names = z["filenames"][part_index(split_file, part)]
    for image, label, name in zip(images, labels, names):
        dst = out / CLASS_NAMES[label] / (Path(str(name)).stem + ".png")
        dst.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(image).save(dst)
    return len(images)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--split", type=Path, required=True, help="a run's split.json")
    ap.add_argument("--part", choices=PARTS, default="val")
    ap.add_argument("--out", type=Path, required=True, help="a new folder")
    args = ap.parse_args(argv)
    if args.out.exists() and any(args.out.iterdir()):
        print(f"split_folder.py: {args.out} is not empty; give a new folder", file=sys.stderr)
        return 2
    n = write_part(args.split, args.part, args.out)
    print(f"wrote the {n} pictures of part '{args.part}' of {args.split} to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
