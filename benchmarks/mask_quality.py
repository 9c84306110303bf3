#!/usr/bin/env python3
"""How good the hand masks are: the background shifts and background-replacing training rest on them.

Computes (or reads from the cache) the mask of every image of a data set (:mod:`asl_edge.data.masks`:
MediaPipe landmarks seeding GrabCut), writes the quality summary (landmarks found, share of the 21
landmarks inside the mask, agreement with the colour-distance estimate, the images that agree least)
to a JSON file, and renders a sheet of masks to look at: photograph, the hand on black, and the
mask's outside tinted red, for a fixed random sample and for the images that agree least.

Usage:
  python benchmarks/mask_quality.py --out benchmarks/results/shifts/masks.json \
      --sheet benchmarks/results/shifts/masks.png
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
from PIL import Image


def _tile(img: np.ndarray, mask: np.ndarray) -> np.ndarray:
    cut = img * mask[..., None]
    tinted = img.copy()
    out = mask == 0
    tinted[out] = (tinted[out] * 0.3 + np.array([255, 0, 0]) * 0.7).astype(np.uint8)
    return np.concatenate([img, cut, tinted], 1)


def sheet(images: np.ndarray, masks: np.ndarray, index: list[int], per_row: int = 6) -> Image.Image:
    tiles = [_tile(images[i], masks[i]) for i in index]
    while len(tiles) % per_row:
        tiles.append(np.zeros_like(tiles[0]))
    rows = [np.concatenate(tiles[k:k + per_row], 1) for k in range(0, len(tiles), per_row)]
    grid = np.concatenate(rows, 0)
    return Image.fromarray(grid).resize((grid.shape[1] * 2, grid.shape[0] * 2), Image.Resampling.NEAREST)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default="builtin", help="data source [builtin]")
    parser.add_argument("--out", type=Path, default=Path("runs/masks/masks.json"))
    parser.add_argument("--sheet", type=Path, default=None, help="PNG of sample masks [beside --out]")
    parser.add_argument("--sample", type=int, default=18, help="random images on the sheet [18]")
    parser.add_argument("--worst", type=int, default=12, help="least-agreeing images on the sheet [12]")
    parser.add_argument("--ship", action="store_true",
                        help="also write the built-in set's masks into the package (asl_edge.data.masks.BUILTIN_MASKS)")
    args = parser.parse_args()

    from asl_edge.data import load_dataset
    from asl_edge.data.builtin import STORAGE
    from asl_edge.data.masks import hand_masks, ship_builtin

    ds = load_dataset(args.data, STORAGE)
    images = ds.load_images()
    if args.ship:
        if args.data != "builtin":
            parser.error("--ship writes the built-in set's masks: use it with --data builtin")
        print(f"shipped: {ship_builtin(images)}")
    masks = hand_masks(images)
    order = np.argsort(masks.agreement)
    worst = [int(i) for i in order[:args.worst]]
    sample = sorted(int(i) for i in np.random.default_rng(0).choice(len(images), args.sample, replace=False))
    doc = {
        "command": " ".join(["python", *sys.argv]),
        "data": args.data,
        "image_size": list(images.shape[1:3]),
        "quality": masks.quality(),
        "no_landmarks": [int(i) for i in np.flatnonzero(~masks.found)],
        "least_agreeing": [{"index": i, "iou": round(float(masks.agreement[i]), 3),
                            "landmarks_inside": None if np.isnan(masks.landmarks_inside[i])
                            else round(float(masks.landmarks_inside[i]), 3)} for i in worst],
        "sheet_rows": "each image: the photograph, the hand on black, the outside of the mask tinted red; "
                      f"first {args.sample} random images (seed 0), then the {args.worst} least agreeing",
        "sheet_images": sample + worst,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(doc, indent=2) + "\n")
    png = args.sheet or args.out.with_suffix(".png")
    sheet(images, masks.masks, sample + worst).save(png)
    q = doc["quality"]
    print(f"{args.data}: {q['images']} images, landmarks found in {q['landmarks_found']}, "
          f"landmarks inside the mask {q['landmarks_inside_mean']:.3f} (mean), agreement IoU "
          f"{q['agreement_iou_mean']:.3f} (mean), {q['agreement_iou_p10']:.3f} (10th percentile); {png}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
