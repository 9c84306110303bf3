"""Hand landmarks of a set of images, extracted once by the hand models and cached.

Finding the hand and its landmarks costs tens of milliseconds per image (two models, and the
localiser's fallback views for a close-up), the classifier after it microseconds: a landmark
model's training, export and benchmark would spend nearly all their time on the same extraction.
So :func:`extract` runs it once per set of images and keeps the result in an ``.npz`` under
:data:`CACHE_DIR`, named by a sha256 over the images' bytes, the localiser's settings (which
include the hand models' own sha256) and :data:`EXTRACTION_VERSION`: other images, another
localiser setting or another hand model is another file, never a stale one.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import sys
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from asl_edge.data.dataset import ImageDataset
from asl_edge.runtime.landmarks import NUM_LANDMARKS
from asl_edge.runtime.outfolder import RUNS
from asl_edge.runtime.preprocess import Preprocessing

log = logging.getLogger(__name__)

CACHE_DIR = RUNS / "cache" / "landmarks"
CACHE_ENV = "ASL_EDGE_LANDMARK_CACHE"  # another folder for the cache (the tests use a temporary one)
# Bumped whenever what is stored changes meaning (then every older file is simply not found).
EXTRACTION_VERSION = 1


@dataclass(frozen=True)
class Extracted:
    """Landmarks of each image: ``points`` ``(N, 21, 3)`` float32 in the image's pixels (zeros where
    no hand was found), ``found`` ``(N,)``, the landmark model's ``presence`` ``(N,)``, and whether
    they came from the cache (``path``)."""

    points: np.ndarray
    found: np.ndarray
    presence: np.ndarray
    cache_hit: bool
    path: Path | None


def cache_key(images: np.ndarray, settings: dict) -> str:
    """sha256 over the images (shape, dtype, bytes), the localiser's settings and the extraction version."""
    digest = hashlib.sha256()
    digest.update(json.dumps({"shape": list(images.shape), "dtype": str(images.dtype), "settings": settings,
                              "version": EXTRACTION_VERSION}, sort_keys=True).encode())
    digest.update(np.ascontiguousarray(images).tobytes())
    return digest.hexdigest()


def cache_file(key: str, cache_dir: str | os.PathLike | None = None) -> Path:
    """The one place that knows a cached extraction's file name (in ``cache_dir``, else the folder
    :data:`CACHE_ENV` names, else :data:`CACHE_DIR`)."""
    folder = cache_dir if cache_dir is not None else os.environ.get(CACHE_ENV) or CACHE_DIR
    return Path(folder) / f"landmarks-{key[:32]}.npz"


def _read(path: Path, n: int) -> Extracted | None:
    """A cached extraction of ``n`` images, or ``None`` where the file is missing or unusable."""
    try:
        with np.load(path, allow_pickle=False) as f:
            points, found, presence = f["points"], f["found"], f["presence"]
    except (OSError, KeyError, ValueError, EOFError):
        return None
    if points.shape != (n, NUM_LANDMARKS, 3) or found.shape != (n,) or presence.shape != (n,):
        return None
    return Extracted(points.astype(np.float32), found.astype(bool), presence.astype(np.float32), True, path)


def extract(images: np.ndarray, settings: dict, cache_dir: str | os.PathLike | None = None,
            desc: str = "landmarks", cache: bool = True) -> Extracted:
    """The found hand's landmarks in each RGB ``uint8`` image ``(N, H, W, 3)``, from the cache
    when this exact extraction ran before.

    Args:
        images: the frames the hand models search.
        settings: :meth:`~asl_edge.runtime.hands.LocaliserConfig.to_dict`, as a model records it.
        cache_dir: where extractions are kept (default :data:`CACHE_DIR`).
        desc: the progress bar's label.
        cache: read and write the cache (false: extract every time, store nothing).
    """
    from tqdm import tqdm

    from asl_edge.runtime.fsutil import atomic_path
    from asl_edge.runtime.hands import cached_localiser

    images = np.asarray(images)
    path = cache_file(cache_key(images, settings), cache_dir) if cache else None
    if path is not None and path.is_file():
        hit = _read(path, len(images))
        if hit is not None:
            log.info("landmarks of %d images from the cache (%s)", len(images), path)
            return hit
        log.warning("ignoring the unreadable landmark cache %s: extracting again", path)
    localiser = cached_localiser(settings)
    points = np.zeros((len(images), NUM_LANDMARKS, 3), np.float32)
    found = np.zeros(len(images), bool)
    presence = np.zeros(len(images), np.float32)
    for i in tqdm(range(len(images)), desc=desc, unit="image", file=sys.stderr, disable=None, leave=False):
        hand = localiser.find_hand(images[i])
        if hand is not None:
            points[i], found[i], presence[i] = hand.points(), True, hand.presence
    if path is not None:
        with atomic_path(path) as tmp, open(tmp, "wb") as fh:
            np.savez(fh, points=points, found=found, presence=presence)
    log.info("landmarks of %d images extracted: no hand in %d", len(images), int((~found).sum()))
    return Extracted(points, found, presence, False, path)


def landmark_dataset(ds: ImageDataset, pre: Preprocessing, desc: str = "landmarks",
                     cache_dir: str | os.PathLike | None = None) -> tuple[ImageDataset | None, Extracted]:
    """``ds`` (RGB frames, loaded with :meth:`Preprocessing.before_localisation`) as a landmark
    model's samples: the landmarks of the images where a hand was found, with ``pre`` as their
    preprocessing (``None`` where no image has a hand), and the whole extraction."""
    got = extract(ds.load_images(), pre.localiser, cache_dir, desc)
    keep = np.flatnonzero(got.found)
    if len(np.unique(ds.labels[keep])) < 2:
        return None, got
    kept = ds.subset(keep)
    return replace(kept, images=got.points[keep], preprocessing=pre), got
