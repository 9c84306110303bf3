"""Scene frames: a hand close-up pasted into a real photograph, as a camera would see it.

NumPy and Pillow only. :func:`composite` makes one 320x240 frame; training composites close-ups
onto ``TRAIN`` backgrounds, the scene test set (``benchmarks/make_scenes.py``) onto ``TEST`` ones,
and the two sets of photographs never overlap.

Backgrounds are real photographs that ship inside packages installed from PyPI: their one table,
``BACKGROUNDS``, lives in :mod:`asl_edge.runtime.backgrounds` (the camera shifts use its TEST
photographs too) and is re-exported here.
"""

from __future__ import annotations

import numpy as np
from PIL import Image

from asl_edge.runtime.backgrounds import (  # noqa: F401 (re-exported: the data layer's names for them)
    BACKGROUNDS,
    Background,
    background_names,
    background_path,
    load_background,
)
from asl_edge.runtime.errors import DataError

FRAME_SIZE = (320, 240)  # width, height


def _window(background: np.ndarray, rng: np.random.Generator, size: tuple[int, int]) -> np.ndarray:
    """A random window of the background with the frame's aspect ratio, resized to ``size``."""
    bh, bw = background.shape[:2]
    fw, fh = size
    full = min(bw / fw, bh / fh)  # the largest window, in frame-pixel units
    scale = full * rng.uniform(0.5, 1.0)
    ww, wh = fw * scale, fh * scale
    x0, y0 = rng.uniform(0, bw - ww), rng.uniform(0, bh - wh)
    img = Image.fromarray(background, "RGB").resize(size, Image.Resampling.BILINEAR, box=(x0, y0, x0 + ww, y0 + wh))
    if rng.random() < 0.5:
        img = img.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
    return np.asarray(img)


def composite(photo_rgb: np.ndarray, background_rgb: np.ndarray, rng: np.random.Generator,
              height_frac: tuple[float, float] = (0.35, 0.7),
              frame_size: tuple[int, int] = FRAME_SIZE) -> tuple[np.ndarray, tuple[int, int, int, int]]:
    """Pastes a close-up photograph into a random window of a background photograph.

    Args:
        photo_rgb: the close-up, RGB ``uint8`` (any size; kept at its aspect ratio).
        background_rgb: the background photograph, RGB ``uint8``.
        rng: the only source of randomness (same seed, same frame).
        height_frac: the pasted photo's height as a share of the frame height, drawn uniformly.
        frame_size: ``(width, height)`` of the frame.

    Returns:
        The frame ``(height, width, 3)`` and the pasted photo's box ``(x0, y0, x1, y1)`` in pixels
        (``x1``, ``y1`` exclusive).
    """
    photo_rgb, background_rgb = np.asarray(photo_rgb), np.asarray(background_rgb)
    for name, arr in (("photo", photo_rgb), ("background", background_rgb)):
        if arr.dtype != np.uint8 or arr.ndim != 3 or arr.shape[2] != 3:
            raise DataError(f"{name} must be an RGB uint8 array, got {arr.dtype} {arr.shape}")
    lo, hi = height_frac
    if not 0 < lo <= hi <= 1:
        raise DataError(f"height_frac must satisfy 0 < low <= high <= 1, got {height_frac}")
    fw, fh = frame_size
    frame = _window(background_rgb, rng, frame_size).copy()
    ph = int(round(fh * rng.uniform(lo, hi)))
    pw = min(fw, int(round(ph * photo_rgb.shape[1] / photo_rgb.shape[0])))
    x0, y0 = int(rng.integers(0, fw - pw + 1)), int(rng.integers(0, fh - ph + 1))
    pasted = Image.fromarray(photo_rgb, "RGB").resize((pw, ph), Image.Resampling.BILINEAR)
    frame[y0:y0 + ph, x0:x0 + pw] = np.asarray(pasted)
    return frame, (x0, y0, x0 + pw, y0 + ph)
