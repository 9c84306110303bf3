"""Training sets of a landmark model: the cached landmarks of each part, and their augmentation.

A landmark model (``data.landmarks``) reads the landmarks the hand models find in each
photograph (:mod:`asl_edge.data.landmarks`: extracted once per data set, then cached). Training
and validation use the images where a hand was found; a held-out image without one stays in the
test part with no prediction (``found`` false: counted wrong, as at run time, where such an
image gets "no hand").

Augmentation acts on the landmarks before the normalisation, in NumPy (the runtime's own
:func:`~asl_edge.runtime.landmarks.landmark_features` then makes the features, so training and
serving compute them with the same code). It adds only what the normalisation does not remove: a
turn of the hand out of the image plane and noise on each landmark.
"""

from __future__ import annotations

import logging

import numpy as np

from asl_edge.data.dataset import ImageDataset
from asl_edge.data.landmarks import extract
from asl_edge.runtime.landmarks import PALM_KNUCKLES, WRIST
from asl_edge.runtime.preprocess import Preprocessing
from asl_edge.training.config import AugmentSection

log = logging.getLogger(__name__)


def landmark_sets(ds: ImageDataset, pre: Preprocessing, train_index: np.ndarray, val_index: np.ndarray,
                  test_index: np.ndarray) -> tuple:
    """The train/validation/test landmark sets of ``ds`` (loaded with ``pre.before_localisation()``),
    whether a hand was found in each test image, and the counts: the fields of
    :class:`~asl_edge.training.camera.CameraSets`, in order. The extraction covers the whole data set
    once (one cache file), the parts are cut from it."""
    got = extract(ds.load_images(), pre.localiser, desc="landmarks")

    def part(index: np.ndarray, keep_missing: bool) -> ImageDataset | None:
        index = np.asarray(index, np.int64)
        use = index if keep_missing else index[got.found[index]]
        if len(use) == 0:
            return None
        return ImageDataset(labels=ds.labels[use], class_names=ds.class_names, preprocessing=pre, source=ds.source,
                            images=got.points[use], groups=None if ds.groups is None else ds.groups[use])

    def counts(index: np.ndarray) -> dict:
        return {"images": int(len(index)), "no_hand": int((~got.found[np.asarray(index, np.int64)]).sum())}

    stats = {"train": counts(train_index), "val": counts(val_index), "test": counts(test_index),
             "landmarks_searched": got.searched,
             "no_hand_in_data_set": int((~got.found).sum()), "data_set_images": int(len(ds))}
    log.info("landmark sets: no hand in %d of %d images (left out of training and validation; the %d held-out "
             "ones count as wrong)", stats["no_hand_in_data_set"], len(ds), stats["test"]["no_hand"])
    return (part(train_index, False), part(val_index, False), part(test_index, True),
            got.found[np.asarray(test_index, np.int64)], stats)


def landmarked(ds: ImageDataset, pre: Preprocessing) -> tuple[ImageDataset, np.ndarray]:
    """Every image of ``ds`` as a landmark model's sample and whether a hand was found in each (where
    none was, zeros stand in): :func:`asl_edge.training.camera.localised` for a landmark model."""
    got = extract(ds.load_images(), pre.localiser, desc="landmarks")
    return ImageDataset(labels=ds.labels, class_names=ds.class_names, preprocessing=pre, source=ds.source,
                        images=got.points, groups=ds.groups), got.found


def _rotation(ax: np.ndarray, ay: np.ndarray) -> np.ndarray:
    """``(B, 3, 3)``: a turn by ``ax`` about the image's x axis, then by ``ay`` about its y axis (radians)."""
    cx, sx, cy, sy = np.cos(ax), np.sin(ax), np.cos(ay), np.sin(ay)
    one, zero = np.ones_like(ax), np.zeros_like(ax)
    rx = np.stack([np.stack([one, zero, zero], -1), np.stack([zero, cx, -sx], -1), np.stack([zero, sx, cx], -1)], -2)
    ry = np.stack([np.stack([cy, zero, sy], -1), np.stack([zero, one, zero], -1), np.stack([-sy, zero, cy], -1)], -2)
    return ry @ rx


def augment_landmarks(points: np.ndarray, aug: AugmentSection, rng: np.random.Generator) -> np.ndarray:
    """A batch ``(B, 21, 3)`` of landmarks (frame pixels) with ``aug``'s tilt and noise, each
    sample drawing its own; ``float32``, the same shape."""
    p = np.asarray(points, np.float64)
    n = len(p)
    wrist = p[:, WRIST:WRIST + 1, :]
    if aug.landmark_tilt:
        limit = np.deg2rad(aug.landmark_tilt)
        turn = _rotation(rng.uniform(-limit, limit, n), rng.uniform(-limit, limit, n))
        p = (p - wrist) @ np.transpose(turn, (0, 2, 1)) + wrist
    if aug.landmark_noise:
        palm = np.linalg.norm(p[:, PALM_KNUCKLES, :2] - p[:, WRIST:WRIST + 1, :2], axis=-1).mean(axis=1)
        sigma = rng.uniform(0.0, aug.landmark_noise, n) * palm
        p = p + rng.standard_normal(p.shape) * sigma[:, None, None]
    return p.astype(np.float32)
