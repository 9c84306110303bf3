"""Hand masks: which pixels of a photograph are the hand (and forearm), which the background.

The background camera shifts (``bg_*`` in :mod:`asl_edge.runtime.shifts`) and background-replacing
training (``augment.background_prob``) both cut the hand out of its photograph. The mask comes from
what the package already has:

1. MediaPipe's hand landmarks (:mod:`asl_edge.runtime.hands`, on a copy up-scaled to at least
   256 px, since the palm detector misses hands in 64 px frames) seed OpenCV's GrabCut: the bones
   between landmarks and the palm polygon are sure hand, the landmarks' convex hull (dilated) and
   the forearm beyond the wrist probably hand, the border far from the hull sure background;
2. GrabCut's colour models (a Gaussian mixture each for hand and background) label the rest;
3. only the connected parts that touch the sure-hand seeds are kept.

An image where no hand is found gets GrabCut from a rectangle (the frame minus a 6% border) alone.
GrabCut's k-means start is seeded, so a mask is a pure function of the image. Each mask is cached
by the sha256 of the image's bytes (``~/.cache/asl-edge/masks``, or ``$XDG_CACHE_HOME``), so a data
set is segmented once for every training and evaluation that uses it. The built-in set's masks ship
inside the package (:data:`BUILTIN_MASKS`, written by ``python benchmarks/mask_quality.py --ship``):
a fresh clone trains without segmenting 1,882 photographs first (about 3 CPU minutes), and every
machine cuts out the same hands whatever its OpenCV.

Quality, recorded per image and summarised by :meth:`MaskSet.quality`: whether landmarks were found,
the share of the 21 landmarks inside the mask, and the agreement (IoU) with a second, independent
method (:func:`asl_edge.runtime.shifts.estimate_mask`, colour distance from the border).
"""

from __future__ import annotations

import hashlib
import logging
import os
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from asl_edge.runtime.errors import DataError
from asl_edge.runtime.fsutil import atomic_path

log = logging.getLogger(__name__)

METHOD = "landmarks-grabcut-v1"  # part of the cache file name: a changed method never reads old masks
BUILTIN_MASKS = Path(__file__).parent / "builtin" / f"asl-digits-masks-{METHOD}.npz"
DETECT_SIDE = 256  # images are up-scaled to at least this long side for the hand models
GRABCUT_ITERATIONS = 5
HULL_DILATE = 5  # px: the landmarks' hull grown by this square before it is "probably hand"
BORDER_GAP = 3.0  # px: border pixels further than this from the grown hull are "sure background"
RECT_INSET = 0.06  # no landmarks: GrabCut from the frame minus this share on every side
# Landmark pairs joined by a bone (MediaPipe's hand connections): pixels on them are sure hand.
BONES = ((0, 1), (1, 2), (2, 3), (3, 4), (0, 5), (5, 6), (6, 7), (7, 8), (5, 9), (9, 10), (10, 11), (11, 12),
         (9, 13), (13, 14), (14, 15), (15, 16), (13, 17), (0, 17), (17, 18), (18, 19), (19, 20))
PALM = (0, 1, 5, 9, 13, 17)


@dataclass(frozen=True)
class MaskSet:
    """Masks of a stack of images, aligned with it.

    Attributes:
        masks: ``(N, H, W)`` ``uint8``, 1 on the hand.
        found: whether landmarks were found (else the rectangle start).
        landmarks_inside: share of the 21 landmarks inside the mask (NaN where none were found).
        agreement: IoU with :func:`asl_edge.runtime.shifts.estimate_mask`.
    """

    masks: np.ndarray
    found: np.ndarray
    landmarks_inside: np.ndarray
    agreement: np.ndarray

    def quality(self) -> dict:
        """The summary a report quotes: how many images, with landmarks, the landmarks' share inside
        (mean and lowest), the agreement with the second method (mean, 10th percentile), hand area."""
        inside = self.landmarks_inside[self.found]
        return {
            "method": METHOD,
            "images": int(len(self.masks)),
            "landmarks_found": int(self.found.sum()),
            "landmarks_inside_mean": float(inside.mean()) if len(inside) else None,
            "landmarks_inside_min": float(inside.min()) if len(inside) else None,
            "images_all_landmarks_inside": int((inside >= 1.0).sum()),
            "agreement_iou_mean": float(self.agreement.mean()) if len(self.agreement) else None,
            "agreement_iou_p10": float(np.percentile(self.agreement, 10)) if len(self.agreement) else None,
            "hand_share_mean": float(self.masks.mean()) if len(self.masks) else None,
        }


def cache_dir() -> Path:
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "asl-edge" / "masks"


def _cv2():
    try:
        import cv2
    except ImportError:
        from asl_edge.runtime.extras import install_hint

        raise DataError("hand masks (background shifts, augment.background_prob) use OpenCV's GrabCut, which is "
                        f"not installed: {install_hint('camera')}") from None
    return cv2


def _seeds(cv2, shape: tuple[int, int], lm: np.ndarray) -> np.ndarray:
    """GrabCut's starting labels from the landmarks ``lm`` (21x2, image pixels)."""
    h, w = shape
    init = np.full((h, w), cv2.GC_PR_BGD, np.uint8)
    pts = np.round(lm).astype(np.int32)
    hull = np.zeros((h, w), np.uint8)
    wrist, middle = lm[0], lm[9]
    # the forearm: a quadrilateral from the wrist away from the middle knuckle, one hand length long
    axis = wrist - middle
    side = np.array([-axis[1], axis[0]]) * 0.35
    arm = np.round([wrist + side, wrist - side, wrist - side + axis * 1.5, wrist + side + axis * 1.5]).astype(np.int32)
    cv2.fillConvexPoly(hull, cv2.convexHull(np.concatenate([pts, arm])), 1)
    hull = cv2.dilate(hull, np.ones((HULL_DILATE, HULL_DILATE), np.uint8))
    init[hull > 0] = cv2.GC_PR_FGD
    sure = np.zeros((h, w), np.uint8)
    for a, b in BONES:
        cv2.line(sure, tuple(int(v) for v in pts[a]), tuple(int(v) for v in pts[b]), 1, 1)
    cv2.fillConvexPoly(sure, pts[list(PALM)], 1)
    init[sure > 0] = cv2.GC_FGD
    border = np.zeros((h, w), bool)
    border[:2], border[-2:], border[:, :2], border[:, -2:] = True, True, True, True
    far = cv2.distanceTransform((1 - hull).astype(np.uint8), cv2.DIST_L2, 3) > BORDER_GAP
    init[border & far & (sure == 0)] = cv2.GC_BGD
    return init


def _grabcut(cv2, rgb: np.ndarray, init: np.ndarray | None) -> np.ndarray:
    h, w = rgb.shape[:2]
    bgd, fgd = np.zeros((1, 65), np.float64), np.zeros((1, 65), np.float64)
    cv2.setRNGSeed(0)  # GrabCut's k-means start: the same mask on every run
    bgr = np.ascontiguousarray(rgb[..., ::-1])
    if init is None:
        dx, dy = max(1, round(w * RECT_INSET)), max(1, round(h * RECT_INSET))
        labels = np.zeros((h, w), np.uint8)
        cv2.grabCut(bgr, labels, (dx, dy, w - 2 * dx, h - 2 * dy), bgd, fgd, GRABCUT_ITERATIONS, cv2.GC_INIT_WITH_RECT)
        seeds = None
    else:
        labels = init.copy()
        cv2.grabCut(bgr, labels, None, bgd, fgd, GRABCUT_ITERATIONS, cv2.GC_INIT_WITH_MASK)
        seeds = init == cv2.GC_FGD
    mask = ((labels == cv2.GC_FGD) | (labels == cv2.GC_PR_FGD)).astype(np.uint8)
    count, parts = cv2.connectedComponents(mask, connectivity=8)
    if count > 2:  # keep the parts that hold a sure-hand seed (else the largest one)
        keep = np.unique(parts[seeds & (parts > 0)]) if seeds is not None else []
        if len(keep) == 0:
            keep = [1 + int(np.argmax(np.bincount(parts.ravel())[1:]))]
        mask = np.isin(parts, keep).astype(np.uint8)
    return mask


def mask_localiser():
    """The hand search that seeds a mask. The background shifts are defined by the masks shipped for the
    built-in set: a mask made now seeds from the search they were made with (the found hand not read a
    second time where its landmarks place it, :attr:`LocaliserConfig.refine`)."""
    from asl_edge.runtime.hands import HandLocaliser, LocaliserConfig

    return HandLocaliser(LocaliserConfig(refine=0))


def hand_mask(rgb: np.ndarray, localiser=None) -> tuple[np.ndarray, np.ndarray | None]:
    """One image's mask (``HxW`` ``uint8``, 1 on the hand) and the landmarks that seeded it (21x2
    image pixels, ``None`` when no hand was found)."""
    cv2 = _cv2()
    localiser = localiser or mask_localiser()
    rgb = np.ascontiguousarray(rgb, np.uint8)
    h, w = rgb.shape[:2]
    up = max(1.0, DETECT_SIDE / max(h, w))
    big = rgb if up == 1.0 else np.asarray(
        Image.fromarray(rgb, "RGB").resize((round(w * up), round(h * up)), Image.Resampling.BILINEAR))
    hand = localiser.find_hand(big)
    if hand is None:
        return _grabcut(cv2, rgb, None), None
    lm = hand.landmarks * np.array([w / big.shape[1], h / big.shape[0]])
    return _grabcut(cv2, rgb, _seeds(cv2, (h, w), lm)), lm


def image_key(img: np.ndarray) -> str:
    """The cache's key of one image: a hash of its bytes."""
    return hashlib.sha256(np.ascontiguousarray(img).tobytes()).hexdigest()[:32]


def _cache_file(shape: tuple[int, int]) -> Path:
    return cache_dir() / f"{METHOD}-{shape[0]}x{shape[1]}.npz"


def _read_cache(path: Path) -> dict[str, tuple]:
    if not path.is_file():
        return {}
    try:
        with np.load(path) as z:
            rows = zip(z["keys"], z["masks"], z["found"], z["inside"])
            return {str(k): (m, bool(f), float(i)) for k, m, f, i in rows}
    except (OSError, ValueError, KeyError) as exc:  # a damaged cache is recomputed, never trusted
        log.warning("hand mask cache %s unreadable (%s): masks are computed again", path, exc)
        return {}


def ship_builtin(images: np.ndarray) -> Path:
    """Writes the masks of ``images`` (the built-in set at its stored size) to :data:`BUILTIN_MASKS`."""
    masks = hand_masks(images)
    keys = [image_key(img) for img in images]
    _write_cache(BUILTIN_MASKS, {k: (m, bool(f), float(i)) for k, m, f, i in
                                 zip(keys, masks.masks, masks.found, masks.landmarks_inside)})
    return BUILTIN_MASKS


def _write_cache(path: Path, entries: dict[str, tuple]) -> None:
    keys = sorted(entries)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        np.savez_compressed(f, keys=np.array(keys), masks=np.stack([entries[k][0] for k in keys]),
                            found=np.array([entries[k][1] for k in keys]),
                            inside=np.array([entries[k][2] for k in keys], np.float32))


def _measure(rgb: np.ndarray, localiser) -> tuple:
    """What the cache holds of one image: the mask, whether landmarks were found, their share inside."""
    mask, lm = hand_mask(rgb, localiser)
    h, w = mask.shape
    if lm is None:
        return mask, False, float("nan")
    xy = np.clip(np.round(lm).astype(int), 0, [w - 1, h - 1])
    return mask, True, float(mask[xy[:, 1], xy[:, 0]].mean())


def agreement(rgb: np.ndarray, mask: np.ndarray) -> float:
    """IoU of ``mask`` with the second, independent method (:func:`asl_edge.runtime.shifts.estimate_mask`)."""
    from asl_edge.runtime.shifts import estimate_mask

    other = estimate_mask(rgb) > 0.5
    union = np.logical_or(mask > 0, other).sum()
    return float(np.logical_and(mask > 0, other).sum() / union) if union else 1.0


def hand_masks(images: np.ndarray, cache: bool = True) -> MaskSet:
    """The masks of ``images`` (``(N, H, W, 3)`` ``uint8`` RGB), from the cache where it has them.

    Raises:
        DataError: not a stack of RGB images, or OpenCV missing for an image not in the cache.
    """
    from tqdm import tqdm

    images = np.asarray(images)
    if images.dtype != np.uint8 or images.ndim != 4 or images.shape[3] != 3:
        raise DataError(f"hand masks need (N, H, W, 3) uint8 RGB images, got {images.dtype} {images.shape}")
    path = _cache_file(images.shape[1:3])
    entries = {**_read_cache(BUILTIN_MASKS), **_read_cache(path)} if cache else {}
    keys = [image_key(img) for img in images]
    missing = [i for i, k in enumerate(keys) if k not in entries]
    if missing:
        from asl_edge.runtime.quiet import quiet_native_stderr

        with quiet_native_stderr():
            localiser = mask_localiser()
        for i in tqdm(missing, desc="hand masks", unit="image", file=sys.stderr, disable=None, leave=False):
            entries[keys[i]] = _measure(images[i], localiser)
        if cache:  # the new ones, added to what another process may have added meanwhile
            _write_cache(path, {**_read_cache(path), **{keys[i]: entries[keys[i]] for i in missing}})
        log.info("hand masks: %d computed, %d from the cache (%s)", len(missing), len(keys) - len(missing), path)
    rows = [entries[k] for k in keys]
    empty = (0, *images.shape[1:3])
    return MaskSet(masks=np.stack([r[0] for r in rows]) if rows else np.zeros(empty, np.uint8),
                   found=np.array([r[1] for r in rows], bool),
                   landmarks_inside=np.array([r[2] for r in rows], np.float32),
                   agreement=np.array([agreement(img, r[0]) for img, r in zip(images, rows)], np.float32))
