"""Hand landmarks of a set of images, extracted once by the hand models and cached.

Finding the hand and its landmarks costs tens of milliseconds per image (two models, and the
localiser's fallback views for a close-up), the classifier after it microseconds: a landmark
model's training, export and benchmark would spend nearly all their time on the same extraction.
So :func:`extract` keeps every image's landmarks in one ``.npz`` per localiser setting under
:data:`CACHE_DIR`, named by a sha256 over those settings (which include the hand models' own
sha256) and :data:`EXTRACTION_VERSION`, and looks each image up by a sha256 of its pixels: any
subset of a data set extracted before (a run's training part, its held-out part) is read back,
only images never seen are searched, and another localiser setting or hand model is another file.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from asl_edge.runtime.landmarks import NUM_LANDMARKS
from asl_edge.runtime.outfolder import RUNS

log = logging.getLogger(__name__)

CACHE_DIR = RUNS / "cache" / "landmarks"
CACHE_ENV = "ASL_EDGE_LANDMARK_CACHE"  # another folder for the cache (the tests use a temporary one)
# Bumped whenever what is stored changes meaning (then every older file is simply not found), and
# whenever a new localiser field's default changes which hand is found: a recorded setting without
# the field reads its default, so the settings alone would still name the older file (2: the hand-shape
# check and the small hands that no longer end the search).
EXTRACTION_VERSION = 2


@dataclass(frozen=True)
class Extracted:
    """Landmarks of each image: ``points`` ``(N, 21, 3)`` float32 in the image's pixels (zeros where
    no hand was found), ``found`` ``(N,)``, the landmark model's ``presence`` ``(N,)``; ``searched``:
    how many images the hand models had to search (0: all from the cache at ``path``)."""

    points: np.ndarray
    found: np.ndarray
    presence: np.ndarray
    searched: int
    path: Path | None

    @property
    def cache_hit(self) -> bool:
        return self.searched == 0


def cache_file(settings: dict, cache_dir: str | os.PathLike | None = None) -> Path:
    """The one place that knows the cache file of a localiser setting (in ``cache_dir``, else the
    folder :data:`CACHE_ENV` names, else :data:`CACHE_DIR`)."""
    key = hashlib.sha256(json.dumps({"settings": settings, "version": EXTRACTION_VERSION},
                                    sort_keys=True).encode()).hexdigest()
    folder = cache_dir if cache_dir is not None else os.environ.get(CACHE_ENV) or CACHE_DIR
    return Path(folder) / f"landmarks-{key[:32]}.npz"


def image_key(image: np.ndarray) -> str:
    """An image's identity in the cache: sha256 over its shape, dtype and pixels."""
    digest = hashlib.sha256(f"{image.shape}{image.dtype}".encode())
    digest.update(np.ascontiguousarray(image).tobytes())
    return digest.hexdigest()[:32]


def _read(path: Path) -> dict[str, tuple[np.ndarray, bool, float]]:
    """The cached entries by image key (none where the file is missing or unusable)."""
    if not path.is_file():
        return {}
    try:
        with np.load(path, allow_pickle=False) as f:
            keys, points, found, presence = f["keys"], f["points"], f["found"], f["presence"]
    except (OSError, KeyError, ValueError, EOFError):
        log.warning("ignoring the unreadable landmark cache %s", path)
        return {}
    n = len(keys)
    if points.shape != (n, NUM_LANDMARKS, 3) or found.shape != (n,) or presence.shape != (n,):
        log.warning("ignoring the landmark cache %s: its arrays do not match", path)
        return {}
    return {str(k): (points[i].astype(np.float32), bool(found[i]), float(presence[i])) for i, k in enumerate(keys)}


def _write(path: Path, entries: dict[str, tuple[np.ndarray, bool, float]]) -> None:
    from asl_edge.runtime.fsutil import atomic_path

    keys = sorted(entries)
    with atomic_path(path) as tmp, open(tmp, "wb") as fh:
        np.savez(fh, keys=np.array(keys, dtype="U32"),
                 points=np.stack([entries[k][0] for k in keys]).astype(np.float32),
                 found=np.array([entries[k][1] for k in keys], bool),
                 presence=np.array([entries[k][2] for k in keys], np.float32))


def extract(images: np.ndarray, settings: dict, cache_dir: str | os.PathLike | None = None,
            desc: str = "landmarks", cache: bool = True) -> Extracted:
    """The found hand's landmarks in each RGB ``uint8`` image ``(N, H, W, 3)``; images extracted
    before with these settings come from the cache, the others are searched (and added to it).

    Args:
        images: the frames the hand models search.
        settings: :meth:`~asl_edge.runtime.hands.LocaliserConfig.to_dict`, as a model records it.
        cache_dir: where extractions are kept (default :data:`CACHE_DIR`).
        desc: the progress bar's label.
        cache: read and write the cache (false: search every image, store nothing).
    """
    from tqdm import tqdm

    from asl_edge.runtime.hands import cached_localiser

    images = np.asarray(images)
    path = cache_file(settings, cache_dir) if cache else None
    entries = _read(path) if path is not None else {}
    keys = [image_key(img) for img in images]
    missing = [i for i, k in enumerate(keys) if k not in entries]
    if missing:
        localiser = cached_localiser(settings)
        for i in tqdm(missing, desc=desc, unit="image", file=sys.stderr, disable=None, leave=False):
            hand = localiser.find_hand(images[i])
            if hand is None:
                entries[keys[i]] = (np.zeros((NUM_LANDMARKS, 3), np.float32), False, 0.0)
            else:  # the landmarks the model will read (LocaliserConfig.reread), the search's presence
                entries[keys[i]] = (localiser.reread_landmarks(images[i], hand).points(), True, hand.presence)
        if path is not None:
            _write(path, entries)
    points = np.stack([entries[k][0] for k in keys]) if keys else np.zeros((0, NUM_LANDMARKS, 3), np.float32)
    found = np.array([entries[k][1] for k in keys], bool)
    presence = np.array([entries[k][2] for k in keys], np.float32)
    log.info("landmarks of %d images (%d searched, the rest from %s): no hand in %d", len(images), len(missing),
             path, int((~found).sum()))
    return Extracted(points.astype(np.float32), found, presence, len(missing), path)
