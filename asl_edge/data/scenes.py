"""Scene frames: a hand close-up pasted into a real photograph, as a camera would see it.

NumPy and Pillow only. :func:`composite` makes one 320x240 frame; training composites close-ups
onto ``TRAIN`` backgrounds, the scene test set (``benchmarks/make_scenes.py``) onto ``TEST`` ones,
and the two sets of photographs never overlap.

Backgrounds are real photographs that ship inside packages installed from PyPI, so nothing is
downloaded and every licence is known. ``BACKGROUNDS`` is the one table of them: name, package,
path inside the package, split, licence and source as each package documents it
(scikit-image: the docstrings of ``skimage/data/_fetchers.py``; scikit-learn:
``sklearn/datasets/images/README.txt``). The images are read from the installed package without
importing it; a missing package raises :class:`DataError` naming it.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from asl_edge.runtime.errors import DataError

FRAME_SIZE = (320, 240)  # width, height


@dataclass(frozen=True)
class Background:
    package: str
    path: str
    split: str
    licence: str
    source: str


BACKGROUNDS: dict[str, Background] = {
    # -- TEST: only the scene test set uses these ------------------------------------------------
    "coffee": Background("skimage", "data/coffee.png", "test", "CC0",
                         "scikit-image data.coffee(): coffee cup on a wooden table, photo Rachel Michetti "
                         "(courtesy of Pikolo Espresso Bar)"),
    "rocket": Background("skimage", "data/rocket.jpg", "test", "public domain",
                         "scikit-image data.rocket(): DSCOVR launch on Falcon 9, photo SpaceX"),
    "astronaut": Background("skimage", "data/astronaut.png", "test", "public domain",
                            "scikit-image data.astronaut(): Eileen Collins, NASA Great Images"),
    "china": Background("sklearn", "datasets/images/china.jpg", "test", "CC-BY-2.0",
                        "scikit-learn load_sample_images(): china.jpg, photo danielbuechele (Flickr), "
                        "https://www.flickr.com/photos/danielbuechele/6061409035"),
    # -- TRAIN: only training composites use these ------------------------------------------------
    "chelsea": Background("skimage", "data/chelsea.png", "train", "CC0",
                          "scikit-image data.chelsea(): Chelsea the cat, photo Stefan van der Walt"),
    "flower": Background("sklearn", "datasets/images/flower.jpg", "train", "CC-BY-2.0",
                         "scikit-learn load_sample_images(): flower.jpg, photo vultilion (Flickr), "
                         "https://www.flickr.com/photos/vultilion/6056698931"),
    "camera": Background("skimage", "data/camera.png", "train", "CC0",
                         "scikit-image data.camera(): man with a camera, photo Lav Varshney (grey)"),
    "clock": Background("skimage", "data/clock_motion.png", "train", "public domain",
                        "scikit-image data.clock(): motion-blurred clock, photo Stefan van der Walt (grey)"),
    "brick": Background("skimage", "data/brick.png", "train", "CC0",
                        "scikit-image data.brick(): brick wall, CC0Textures Bricks25 (grey)"),
    "grass": Background("skimage", "data/grass.png", "train", "CC0",
                        "scikit-image data.grass(): grass, CC0 (grey)"),
    "gravel": Background("skimage", "data/gravel.png", "train", "CC0",
                         "scikit-image data.gravel(): gravel, CC0Textures Gravel04 (grey)"),
}


def background_names(split: str) -> list[str]:
    """Names of the ``train`` or ``test`` backgrounds, in table order."""
    if split not in ("train", "test"):
        raise DataError(f"background split must be 'train' or 'test', got '{split}'")
    return [name for name, bg in BACKGROUNDS.items() if bg.split == split]


def background_path(name: str) -> Path:
    """Where background ``name`` lies in its installed package.

    Raises:
        DataError: unknown name, or its package is not installed.
    """
    if name not in BACKGROUNDS:
        raise DataError(f"unknown background '{name}'; choose one of: {', '.join(BACKGROUNDS)}")
    bg = BACKGROUNDS[name]
    spec = importlib.util.find_spec(bg.package)
    if spec is None or not spec.submodule_search_locations:
        pip = {"skimage": "scikit-image", "sklearn": "scikit-learn"}.get(bg.package, bg.package)
        raise DataError(f"background '{name}' ships in {pip}, which is not installed: pip install {pip}")
    path = Path(list(spec.submodule_search_locations)[0]) / bg.path
    if not path.is_file():
        raise DataError(f"background '{name}' is missing from the installed {bg.package}: {path}")
    return path


def load_background(name: str) -> np.ndarray:
    """Background ``name`` as an RGB ``uint8`` array (grey photographs repeated on 3 channels)."""
    with Image.open(background_path(name)) as img:
        return np.asarray(img.convert("RGB"))


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
