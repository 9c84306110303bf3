"""Training sets of a landmark model: the cached landmarks of each part, and of altered copies.

A landmark model (``data.landmarks``) reads the landmarks the hand models find in each
photograph (:mod:`asl_edge.data.landmarks`: extracted once per data set, then cached). Training
and validation use the images where a hand was found; a held-out image without one stays in the
test part with no prediction (``found`` false: counted wrong, as at run time, where such an
image gets "no hand").

Altered copies of the training photographs (:func:`altered_copies`: the training augmentation's
image transforms, once per copy) are extracted too, so the model also learns the landmarks the
hand models place in poor pictures. The landmarks' own augmentation, on every batch, is in
:mod:`asl_edge.training.landmark_augment`.
"""

from __future__ import annotations

import logging

import numpy as np

from asl_edge.data.dataset import ImageDataset
from asl_edge.data.landmarks import extract
from asl_edge.runtime.preprocess import Preprocessing
from asl_edge.training.config import AugmentSection

log = logging.getLogger(__name__)

COPY_BATCH = 32  # images altered at once (the augmentation draws one blur sigma per batch)
COPY_SEED = 0  # the altered copies are the data set's, the same for every split and run


def landmark_sets(ds: ImageDataset, pre: Preprocessing, train_index: np.ndarray, val_index: np.ndarray,
                  test_index: np.ndarray, copies: int = 0, aug: AugmentSection | None = None) -> tuple:
    """The train/validation/test landmark sets of ``ds`` (loaded with ``pre.before_localisation()``),
    whether a hand was found in each test image, and the counts: the fields of
    :class:`~asl_edge.training.camera.CameraSets`, in order. The extraction covers the whole data set
    once (one cache file), the parts are cut from it; ``copies`` altered copies of each training image
    (:func:`altered_copies`, ``aug``'s image transforms) are extracted too and join the training part
    where a hand was found in them."""
    images = ds.load_images()
    got = extract(images, pre.localiser, desc="landmarks")

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
    train = part(train_index, False)
    if copies and train is not None:
        train, stats["copies"] = _with_copies(train, ds, images, np.asarray(train_index, np.int64), pre, copies, aug)
    return (train, part(val_index, False), part(test_index, True),
            got.found[np.asarray(test_index, np.int64)], stats)


def _with_copies(train: ImageDataset, ds: ImageDataset, images: np.ndarray, index: np.ndarray, pre: Preprocessing,
                 copies: int, aug: AugmentSection) -> tuple[ImageDataset, dict]:
    """``train`` and the landmarks found in ``copies`` altered copies of each image ``images[index]``.

    The copies are made of the whole data set from one fixed seed (:data:`COPY_SEED`), like its
    landmarks: every split and run gets the same copies, so their extraction (a few hundred
    milliseconds each, most of them on the hand search's retries) is done once and cached."""
    from asl_edge.training.pipeline import training_masks, uses_masks

    masks = training_masks(ds, aug) if uses_masks(aug) else None
    altered = altered_copies(images, masks, aug, copies, COPY_SEED)
    got = extract(altered, pre.localiser, desc="landmarks of the altered copies")
    rows = (np.arange(copies)[:, None] * len(images) + index[None]).ravel()
    rows = rows[got.found[rows]]
    keep = rows % len(images)
    points = np.concatenate([train.images, got.points[rows]])
    groups = None if ds.groups is None else np.concatenate([train.groups, ds.groups[keep]])
    made = ImageDataset(labels=np.concatenate([train.labels, ds.labels[keep]]), class_names=ds.class_names,
                        preprocessing=pre, source=ds.source, images=points, groups=groups)
    stats = {"per_image": copies, "copies": int(copies * len(index)), "added": int(len(rows)), "searched": got.searched}
    log.info("altered copies: a hand found in %d of the %d copies of the training images (added to their %d)",
             len(rows), copies * len(index), len(train))
    return made, stats


def altered_copies(images: np.ndarray, masks: np.ndarray | None, aug: AugmentSection, copies: int,
                   seed: int) -> np.ndarray:
    """``copies`` altered copies of each ``(N, H, W, 3)`` ``uint8`` image, copy ``k`` of image ``i`` at
    ``k * N + i``: the training augmentation's image transforms (:func:`~asl_edge.training.pipeline.augmenter`:
    the background replaced where ``masks`` are given (:func:`~asl_edge.training.pipeline.training_masks`:
    ``(N, H, W, 1)`` ``uint8`` 0..255), then light, colour, blur, noise, JPEG), drawn from ``seed`` (the
    same seed gives the same copies, so their landmarks come from the extraction cache the next time)."""
    from asl_edge.keras_compat import tf
    from asl_edge.training.backgrounds import background_bank
    from asl_edge.training.pipeline import augmenter

    n, h, w = images.shape[:3]
    bank = background_bank(aug.backgrounds, h, w, seed, aug.background_bank) if masks is not None else None
    apply = augmenter(aug, seed, bank)
    tf.random.set_seed(seed)
    out = []
    for start in range(0, n * copies, COPY_BATCH):
        which = np.arange(start, min(start + COPY_BATCH, n * copies)) % n
        x = tf.constant(images[which], tf.float32) / 255.0
        mask = None if masks is None else tf.constant(masks[which], tf.float32) / 255.0
        y = apply(x) if mask is None else apply(x, mask=mask)
        out.append(np.round(y.numpy() * 255.0).astype(np.uint8))
    return np.concatenate(out) if out else np.zeros((0, h, w, 3), np.uint8)


def landmarked(ds: ImageDataset, pre: Preprocessing) -> tuple[ImageDataset, np.ndarray]:
    """Every image of ``ds`` as a landmark model's sample and whether a hand was found in each (where
    none was, zeros stand in): :func:`asl_edge.training.camera.localised` for a landmark model."""
    got = extract(ds.load_images(), pre.localiser, desc="landmarks")
    return ImageDataset(labels=ds.labels, class_names=ds.class_names, preprocessing=pre, source=ds.source,
                        images=got.points, groups=ds.groups), got.found
