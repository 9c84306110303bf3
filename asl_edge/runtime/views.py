"""Test-time views of a hand's crop: the classifier reads a few shifted copies of the crop and
their probabilities are averaged (test-time augmentation).

The hand localiser places its box within a few pixels; a crop classifier trained on its crops still
reads some hands differently one or two pixels over. Averaging over the crop moved by
:data:`SHIFT` of its side left, right, up and down (edge pixels repeated, as the localiser's own crop
repeats them) reads the same hands more surely: on the development scene frames (validation signers)
the camera reference read 533 of 540 frames without people instead of 528 and 459 of 540 harsh ones
instead of 457, on the test scene frames 98.69% instead of 98.13%, and the held-out close-ups a mean of
97.85% instead of 97.51% over the camera shifts (benchmarks/REPORT.md, "Reading the crop five times").
Each view is one more classifier call (about 0.5 ms), beside a hand search of 18-40 ms.

A preprocessing records its views by name (``Preprocessing.views``); :data:`VIEWS` is the table.
"""

from __future__ import annotations

import numpy as np

from asl_edge.runtime.errors import DataError
from asl_edge.runtime.fsutil import printable

# Shift of the side of the crop: 3 pixels of a 64-pixel crop.
SHIFT = 3 / 64

# name -> (x, y) direction of the shift, in units of SHIFT
VIEWS: dict[str, tuple[int, int]] = {
    "centre": (0, 0),
    "left": (-1, 0),
    "right": (1, 0),
    "up": (0, -1),
    "down": (0, 1),
}


def parse_names(text: str) -> tuple[str, ...]:
    """``"centre,left"`` -> ``("centre", "left")`` (as ``--views`` takes them; empty: none)."""
    return tuple(name.strip() for name in text.split(",") if name.strip())


def check_names(names) -> None:
    """Raises DataError unless ``names`` is a tuple of :data:`VIEWS` names, each at most once."""
    if not isinstance(names, tuple) or not all(isinstance(n, str) for n in names):
        raise DataError(f"views must be a list of names, got {printable(repr(names))[:60]}")
    if set(names) - set(VIEWS) or len(set(names)) != len(names):
        raise DataError(f"views takes each of {', '.join(VIEWS)} at most once, got {printable(','.join(names))[:80]}")


def shifted(image: np.ndarray, dx: int, dy: int) -> np.ndarray:
    """``image`` (H, W, C) moved by ``dx``, ``dy`` pixels, the edge pixels repeated into the gap."""
    pad = max(abs(dx), abs(dy))
    if pad == 0:
        return image
    h, w = image.shape[:2]
    padded = np.pad(image, ((pad, pad), (pad, pad), (0, 0)), mode="edge")
    return padded[pad - dy:pad - dy + h, pad - dx:pad - dx + w]


def view(image: np.ndarray, name: str) -> np.ndarray:
    """One named view (:data:`VIEWS`) of a crop (H, W, C)."""
    h, w = image.shape[:2]
    ux, uy = VIEWS[name]
    return shifted(image, round(ux * SHIFT * w), round(uy * SHIFT * h))


def expand(samples: np.ndarray, names: tuple[str, ...], crop_shape: tuple[int, int, int]) -> np.ndarray:
    """Every sample's views, sample by sample: ``len(samples) * len(names)`` samples. A sample is a
    crop of ``crop_shape``, or a row whose first ``H * W * C`` values are one (a fused model's)."""
    pixels = int(np.prod(crop_shape))
    out = []
    for sample in samples:
        crop, rest = sample.reshape(-1)[:pixels].reshape(crop_shape), sample.reshape(-1)[pixels:]
        for name in names:
            moved = view(crop, name)
            out.append(np.concatenate([moved.reshape(-1), rest]).reshape(sample.shape) if rest.size else moved)
    return np.stack(out)
