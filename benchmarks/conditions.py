#!/usr/bin/env python3
"""Conditions the shift suite does not hold: light from one side, and hands of every skin tone.

The suite's light family changes the whole picture at once (darker, brighter, flatter), and every
built-in signer's hand has much the same tone. Two families of conditions that other people's
photographs bring, each a table below:

- **light from one side** (:data:`SIDES`): a lamp or a window beside the signer; the exposure falls
  linearly from ``BRIGHT`` at the lit edge to ``DARK`` at the far one, on the photograph as taken and
  on the hand cut out onto black (the suite's ``bg_black`` first: one independent set of ASL photographs
  is hands cut out onto black, lit from one side at a time);
- **skin tone** (:data:`MONK_TONES`): the hand's pixels (its mask, as the background shifts cut it)
  recoloured to each tone of the Monk Skin Tone Scale (Monk 2019, released by Google under CC BY 4.0;
  the ten swatches' sRGB values): per channel, times the swatch over :data:`REFERENCE_TONE`'s, the wall
  left as photographed.

Each artifact is scored through ``evaluate_shifts`` on the images it is evaluated on by default (its
held-out signers) or on ``--data``, as ``asl-edge evaluate --shifts`` scores the suite::

    PYTHONPATH=. python benchmarks/conditions.py export/asl-digits-fusion/asl-digits-fusion_int8.tflite \\
        --out runs/conditions.json
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import numpy as np

BRIGHT, DARK = 1.3, 0.3  # the lit edge's gain, the far edge's


@dataclass(frozen=True)
class Side:
    """Where the light comes from: ``axis`` 1 (columns) or 0 (rows), lit at index 0 or at the end."""

    name: str
    axis: int
    lit_at_start: bool


SIDES = (Side("left", 1, True), Side("right", 1, False), Side("above", 0, True), Side("below", 0, False))

# The Monk Skin Tone Scale's ten swatches (sRGB), lightest first.
MONK_TONES = {f"mst{i}": tuple(int(h[j:j + 2], 16) for j in (0, 2, 4)) for i, h in enumerate(
    ("f6ede4", "f3e7db", "f7ead0", "eadaba", "d7bd96", "a07e56", "825c43", "604134", "3a312a", "292420"), 1)}
# The built-in signers' hands as photographed: on the first 400 stored pictures the hand pixels' mean is
# green/red 0.84 and blue/red 0.66, nearest of the ten to swatch 5 (0.88, 0.70; `--hand-colour`:
# benchmarks/results/shifts/hand_colour.json); recolouring to a tone multiplies by that tone's swatch
# over swatch 5's.
REFERENCE_TONE = "mst5"
HAND_COLOUR_PICTURES = 400


def side_light(img: np.ndarray, side: Side, bright: float = BRIGHT, dark: float = DARK) -> np.ndarray:
    """``img`` (uint8 HxWx3) with its exposure falling linearly from ``bright`` at ``side`` to ``dark``
    at the opposite edge, clipped to 0..255."""
    from asl_edge.runtime.shifts import exposure

    t = np.linspace(0.0, 1.0, img.shape[side.axis], dtype=np.float32)
    gain = bright + (dark - bright) * (t if side.lit_at_start else t[::-1])
    return exposure(img, gain[None, :, None] if side.axis == 1 else gain[:, None, None])


def _lit_over(img: np.ndarray, mask, over, side: Side) -> np.ndarray:
    """``img``'s hand laid over a wall by the background shift ``over``, then lit from ``side``."""
    return side_light(over(img, mask=mask), side)


def tone_gains(tone: str) -> np.ndarray:
    """Per-channel gains that take a hand of :data:`REFERENCE_TONE` to ``tone``."""
    return np.asarray(MONK_TONES[tone], np.float32) / np.asarray(MONK_TONES[REFERENCE_TONE], np.float32)


def skin_tone(img: np.ndarray, mask, tone: str) -> np.ndarray:
    """``img`` with the hand (``mask``, read as the background shifts read it) recoloured to ``tone``:
    the recoloured picture where the mask is 1, the picture as it was (the wall) where it is 0."""
    from asl_edge.runtime.shifts import replace_background, white_balance

    return replace_background(white_balance(img, tuple(tone_gains(tone))), lambda _: img, mask)


def nearest_tone(rgb) -> str:
    """The swatch of :data:`MONK_TONES` whose hue is nearest ``rgb``'s: the distance between their
    (green/red, blue/red) ratios, which a camera's exposure leaves as they are."""
    def ratios(c):
        return np.asarray(c[1:], np.float64) / float(c[0])

    return min(MONK_TONES, key=lambda t: float(np.linalg.norm(ratios(MONK_TONES[t]) - ratios(rgb))))


def hand_colour(count: int = HAND_COLOUR_PICTURES) -> dict:
    """The mean colour of the hand pixels (their masks) in the built-in set's first ``count`` stored
    pictures, its ratios and its nearest swatch (what :data:`REFERENCE_TONE` stands for)."""
    from asl_edge.data.builtin import load_builtin
    from asl_edge.data.masks import hand_masks
    from asl_edge.runtime.preprocess import Preprocessing

    images = load_builtin(Preprocessing())["images"][:count]
    mean = images[hand_masks(images).masks.astype(bool)].mean(axis=0)
    return {"evaluation": f"the hand pixels of the built-in set's first {len(images)} stored pictures",
            "hand_mean_rgb": [round(float(v), 2) for v in mean],
            "green_over_red": round(float(mean[1] / mean[0]), 3), "blue_over_red": round(float(mean[2] / mean[0]), 3),
            "nearest_tone": nearest_tone(mean), "reference_tone": REFERENCE_TONE}


def conditions() -> list:
    """The measured conditions as :class:`~asl_edge.runtime.shifts.Shift` objects: each side's light on
    the photograph as taken, then on the hand cut out onto black; then each skin tone but the reference."""
    from asl_edge.runtime.shifts import Shift, get_shift

    over_black = get_shift("bg_black").apply
    ramp = f"exposure x{BRIGHT:g} at that edge falling to x{DARK:g} at the other"
    light = [Shift(f"light_from_{s.name}", "light", DARK, partial(side_light, side=s),
                   f"light from {s.name}: {ramp}") for s in SIDES]
    black = [Shift(f"bg_black_light_from_{s.name}", "background", DARK, partial(_lit_over, over=over_black, side=s),
                   f"the hand cut out onto black, light from {s.name}: {ramp}", needs_mask=True) for s in SIDES]
    tones = [Shift(f"skin_{t}", "skin", int(t[3:]), partial(skin_tone, tone=t),
                   f"the hand recoloured to Monk skin tone {t[3:]} (RGB {MONK_TONES[t]}), the wall as taken",
                   needs_mask=True) for t in MONK_TONES if t != REFERENCE_TONE]
    return light + black + tones


def measure(artifact: str, data: str | None) -> dict:
    """One artifact's accuracy unchanged and under each condition of :func:`conditions`."""
    from asl_edge.bench.evaluate import evaluate_shifts

    m = evaluate_shifts(artifact, data, shifts=conditions())
    return {"artifact": artifact, "data": m["data"], "images": m["num_samples"], "unchanged": m["accuracy"],
            "shifts": {name: r["accuracy"] for name, r in m["shifts"].items()},
            "worst": m["worst_shift"]}


def _write(out: Path, result: dict, argv) -> None:
    from asl_edge.runtime.fsutil import atomic_path

    result["command"] = "PYTHONPATH=. python benchmarks/conditions.py " + " ".join(argv or sys.argv[1:])
    with atomic_path(out) as tmp:
        Path(tmp).write_text(json.dumps(result, indent=1) + "\n")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("artifacts", nargs="*", help=".tflite/.onnx artifacts (or run folders)")
    ap.add_argument("--data", help="a data source [default: each artifact's held-out signers]")
    ap.add_argument("--hand-colour", action="store_true",
                    help="measure the built-in hands' colour and nearest swatch instead of any artifact")
    ap.add_argument("--out", type=Path, required=True, help="the JSON to write")
    args = ap.parse_args(argv)
    if args.hand_colour:
        result = hand_colour()
        _write(args.out, result, argv)
        print(f"{result['evaluation']}: mean RGB {result['hand_mean_rgb']}, nearest {result['nearest_tone']}")
        return 0
    if not args.artifacts:
        ap.error("name the artifacts to measure, or --hand-colour")
    from tqdm import tqdm

    rows = [measure(a, args.data) for a in tqdm(args.artifacts, desc="artifacts", unit="artifact")]
    _write(args.out, {"evaluation": "; ".join(sorted({r["data"] for r in rows})),
                      "conditions": {s.name: s.description for s in conditions()}, "results": rows}, argv)
    for r in rows:
        print(f"{r['artifact']}: unchanged {r['unchanged']:.2%}, worst {r['worst']['name']} "
              f"{r['worst']['accuracy']:.2%} ({r['data']})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
