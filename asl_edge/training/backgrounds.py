"""Training backgrounds: what background-replacing augmentation lays behind the cut-out hand.

One table, :data:`KINDS`: each kind makes one ``HxWx3`` ``uint8`` background from a NumPy
generator. They are generated (flat colours, two-colour gradients, smooth multi-octave noise,
stripes, dead leaves, any of these in skin, wood and beige tones) or windows of the TRAIN photographs
of :mod:`asl_edge.runtime.backgrounds`: never the TEST photographs nor the checkerboard that the
``bg_*`` camera shifts measure with.

:func:`background_bank` draws a fixed bank of them once per training run (seeded; as many as
``augment.background_bank``, 512 by default); the batched augmentation
(:mod:`asl_edge.training.pipeline`) picks one per image at random and mirrors or flips it, so a
few hundred backgrounds give thousands of different ones.
"""

from __future__ import annotations

import colorsys
from collections.abc import Callable

import numpy as np
from PIL import Image

from asl_edge.runtime.errors import ConfigError


def _colour(rng: np.random.Generator) -> np.ndarray:
    """A random colour: half of them uniform in RGB, half dark or grey (the walls that broke the model)."""
    if rng.random() < 0.5:
        return rng.uniform(0, 255, 3)
    return np.full(3, rng.uniform(0, 160)) + rng.normal(0, 12, 3)


def _warm_colour(rng: np.random.Generator) -> np.ndarray:
    """A colour near a hand's own: skin of any depth, wood, beige and brown (hue 5-45 degrees, some
    grey in it), the colours that leave the hand's outline hardest to see."""
    hue, sat, val = rng.uniform(5, 45) / 360, rng.uniform(0.08, 0.65), rng.uniform(0.12, 0.95)
    return np.array(colorsys.hsv_to_rgb(hue, sat, val)) * 255


Colour = Callable[[np.random.Generator], np.ndarray]


def flat(rng: np.random.Generator, h: int, w: int, colour: Colour = _colour) -> np.ndarray:
    return np.broadcast_to(colour(rng), (h, w, 3)).copy()


def gradient(rng: np.random.Generator, h: int, w: int, colour: Colour = _colour) -> np.ndarray:
    """A linear blend between two random colours along a random direction."""
    angle = rng.uniform(0, 2 * np.pi)
    yy, xx = np.mgrid[0:h, 0:w] / max(h, w)
    t = xx * np.cos(angle) + yy * np.sin(angle)
    t = ((t - t.min()) / max(np.ptp(t), 1e-6))[..., None]
    return (1 - t) * colour(rng) + t * colour(rng)


def noise(rng: np.random.Generator, h: int, w: int, colour: Colour = _colour) -> np.ndarray:
    """Smooth value noise of 2-4 octaves (random grids up-scaled bicubically), tinted between two colours."""
    field = np.zeros((h, w))
    for octave in range(int(rng.integers(2, 5))):
        cells = 2 ** (octave + 1)
        grid = rng.uniform(0, 255, (cells + 1, cells + 1)).astype(np.float32)
        up = np.asarray(Image.fromarray(grid, "F").resize((w, h), Image.Resampling.BICUBIC), np.float64)
        field += up / 2 ** octave
    t = ((field - field.min()) / max(np.ptp(field), 1e-6))[..., None]
    return (1 - t) * colour(rng) + t * colour(rng)


def stripes(rng: np.random.Generator, h: int, w: int, colour: Colour = _colour) -> np.ndarray:
    """Parallel stripes of two colours, a random period (3-20% of the frame) and direction, soft or hard."""
    angle = rng.uniform(0, np.pi)
    yy, xx = np.mgrid[0:h, 0:w]
    period = rng.uniform(0.03, 0.2) * max(h, w)
    wave = np.sin(2 * np.pi * (xx * np.cos(angle) + yy * np.sin(angle)) / period)
    t = ((wave > 0).astype(np.float64) if rng.random() < 0.5 else (wave + 1) / 2)[..., None]
    return (1 - t) * colour(rng) + t * colour(rng)


def leaves(rng: np.random.Generator, h: int, w: int, colour: Colour = _colour) -> np.ndarray:
    """Dead leaves: discs and boxes in random colours laid over each other, their sizes drawn with a
    density falling as size^-3 (4-50% of the frame), the scale-invariant occlusion model of natural
    images (Lee, Mumford and Huang 2001): edges and clutter at every scale, as in a furnished room."""
    out = flat(rng, h, w, colour)
    yy, xx = np.mgrid[0:h, 0:w]
    r_min, r_max = 0.04 * max(h, w), 0.5 * max(h, w)
    for _ in range(int(rng.integers(100, 200))):
        r = (r_min ** -2 - rng.random() * (r_min ** -2 - r_max ** -2)) ** -0.5  # inverse CDF of r^-3
        cy, cx = rng.uniform(0, h), rng.uniform(0, w)
        if rng.random() < 0.5:
            inside = (yy - cy) ** 2 + (xx - cx) ** 2 < r * r
        else:
            inside = (np.abs(yy - cy) < r * rng.uniform(0.3, 1)) & (np.abs(xx - cx) < r * rng.uniform(0.3, 1))
        out[inside] = colour(rng)
    return out


def warm(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    """One of the generated patterns (flat, gradient, noise, stripes, dead leaves) in skin, wood and beige
    tones: a beige wall, a wooden table, another person's arm behind the hand."""
    patterns = (flat, gradient, noise, stripes, leaves)
    return patterns[int(rng.integers(len(patterns)))](rng, h, w, _warm_colour)


def photo(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    """A window (a fifth to all of the short side) of a random TRAIN photograph."""
    from asl_edge.runtime.backgrounds import background_names, load_background

    names = background_names("train")
    scene = load_background(names[int(rng.integers(len(names)))])
    sh, sw = scene.shape[:2]
    k = min(sh / h, sw / w) * rng.uniform(0.2, 1.0)
    x0, y0 = rng.uniform(0, sw - w * k), rng.uniform(0, sh - h * k)
    box = (x0, y0, x0 + w * k, y0 + h * k)
    return np.asarray(Image.fromarray(scene, "RGB").resize((w, h), Image.Resampling.BILINEAR, box=box), np.float64)


KINDS: dict[str, Callable[[np.random.Generator, int, int], np.ndarray]] = {
    "flat": flat, "gradient": gradient, "noise": noise, "stripes": stripes, "photo": photo,
    "leaves": leaves, "warm": warm,
}


def check_kinds(kinds: str) -> tuple[str, ...]:
    """The kinds named in ``kinds`` (comma-separated).

    Raises:
        ConfigError: none named, or an unknown one.
    """
    names = tuple(k.strip() for k in kinds.split(",") if k.strip())
    unknown = [k for k in names if k not in KINDS]
    if not names or unknown:
        raise ConfigError(f"augment.backgrounds names kinds of background, comma-separated, from: "
                          f"{', '.join(KINDS)}; got '{kinds}'")
    return names


def background_bank(kinds: str, height: int, width: int, seed: int, size: int) -> np.ndarray:
    """``size`` backgrounds (``(size, height, width, 3)`` ``uint8``), the kinds in turn, drawn from ``seed``."""
    names = check_kinds(kinds)
    rng = np.random.default_rng(seed)
    out = np.empty((size, height, width, 3), np.uint8)
    for i in range(size):
        out[i] = np.clip(np.round(KINDS[names[i % len(names)]](rng, height, width)), 0, 255)
    return out
