"""Train on what you serve: the hand crops a camera model sees, made by its own localiser.

A camera model records a hand localisation stage in its preprocessing
(:class:`~asl_edge.runtime.hands.LocaliserConfig`); at run time every frame is localised and only
the square crop around the hand is classified. Here the training, validation and test images go
through that same stage:

- each close-up photograph is localised as it is (a photograph where no hand is found falls back
  to the whole image, and the run says how often that happened);
- ``data.scene_copies`` times per training or validation image, the close-up is pasted into a
  random window of a TRAIN background photograph (:mod:`asl_edge.data.scenes`; the scene test
  set uses only the TEST backgrounds) at a random size and place, and localised in that frame;
  a composite where no hand is found is left out (and counted);
- the held-out test images are localised as plain close-ups; one without a hand found has no
  prediction and counts as wrong (``found`` in the metrics).
"""

from __future__ import annotations

import logging
import sys
from dataclasses import dataclass

import numpy as np
from PIL import Image

from asl_edge.data.dataset import ImageDataset
from asl_edge.runtime.preprocess import Preprocessing
from asl_edge.training.config import AugmentSection

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class CameraSets:
    """The localised train/validation/test sets and what happened while making them."""

    train: ImageDataset | None
    val: ImageDataset | None
    test: ImageDataset | None
    test_found: np.ndarray
    stats: dict


def _crops(images: np.ndarray, labels: np.ndarray, groups, pre: Preprocessing, copies: int, rng,
           backgrounds: list[np.ndarray], height: tuple[float, float], plain_fallback: bool, desc: str):
    """Localised crops of the close-ups (and of ``copies`` scene composites of each)."""
    from tqdm import tqdm

    from asl_edge.data.scenes import composite
    from asl_edge.runtime.hands import cached_localiser

    localiser = cached_localiser(pre.localiser)
    finish = pre.without_localiser()
    out, out_labels, out_groups, found = [], [], [], []
    stats = {"images": int(len(images)), "plain_no_hand": 0, "composites": 0, "composite_no_hand": 0}
    for i in tqdm(range(len(images)), desc=desc, unit="image", file=sys.stderr, disable=None, leave=False):
        rgb = images[i]
        box = localiser.find(rgb)
        if box is None:
            stats["plain_no_hand"] += 1
        if box is not None or plain_fallback:
            crop = localiser.crop(rgb, box) if box is not None else rgb
            out.append(finish.load(Image.fromarray(crop, "RGB")))
            out_labels.append(labels[i])
            out_groups.append(None if groups is None else groups[i])
            found.append(box is not None)
        for _ in range(copies):
            frame, _ = composite(rgb, backgrounds[int(rng.integers(len(backgrounds)))], rng, height_frac=height)
            stats["composites"] += 1
            box = localiser.find(frame)
            if box is None:
                stats["composite_no_hand"] += 1
                continue
            out.append(finish.load(Image.fromarray(localiser.crop(frame, box), "RGB")))
            out_labels.append(labels[i])
            out_groups.append(None if groups is None else groups[i])
            found.append(True)
    if not out:  # an empty part (an export needs no validation set)
        return np.zeros((0, *pre.input_shape), np.uint8), np.zeros(0, np.int64), [], np.zeros(0, bool), stats
    return np.stack(out), np.asarray(out_labels, np.int64), out_groups, np.asarray(found, bool), stats


def camera_sets(ds: ImageDataset, pre: Preprocessing, train_index: np.ndarray, val_index: np.ndarray,
                test_index: np.ndarray, copies: int, height: tuple[float, float], seed: int,
                landmark_copies: int = 0, aug: AugmentSection | None = None) -> CameraSets:
    """Builds the localised sets from ``ds`` (loaded with ``pre.before_localisation()``).

    Args:
        ds: the data set at its stored RGB size (in memory).
        pre: the model's preprocessing, with its localiser.
        train_index, val_index, test_index: the split (train may repeat indices, for oversampling).
        copies: scene composites per training and validation image.
        height: the pasted close-up's height as a share of the frame height (low, high).
        seed: the only source of randomness.
        landmark_copies: a landmark model's altered copies per training image, made with ``aug``
            (:func:`asl_edge.training.landmarks.landmark_sets`).
    """
    if pre.landmarks is not None:  # a landmark model: the hand's landmarks, not its crop
        from asl_edge.training.landmarks import landmark_sets

        return CameraSets(*landmark_sets(ds, pre, train_index, val_index, test_index, landmark_copies, aug))
    from asl_edge.data.scenes import background_names, load_background

    backgrounds = [load_background(name) for name in background_names("train")] if copies else []
    rng = np.random.default_rng(seed)
    images = ds.load_images()

    def part(index, n_copies, fallback, desc):
        groups = None if ds.groups is None else ds.groups[index]
        x, y, g, found, stats = _crops(images[index], ds.labels[index], groups, pre, n_copies, rng, backgrounds,
                                       height, fallback, desc)
        if len(y) == 0:
            return None, found, stats
        made = ImageDataset(labels=y, class_names=ds.class_names, preprocessing=pre, source=ds.source, images=x,
                            groups=None if ds.groups is None else np.asarray(g))
        return made, found, stats

    train, _, train_stats = part(train_index, copies, True, "localise train")
    val, _, val_stats = part(val_index, copies, True, "localise val")
    test, test_found, test_stats = part(test_index, 0, True, "localise test")
    stats = {"train": train_stats, "val": val_stats, "test": test_stats,
             "scene_copies": copies, "scene_height": list(height),
             "backgrounds": background_names("train") if copies else []}
    log.info("camera sets: %d train / %d val / %d test crops; no hand in %d of %d training close-ups (whole "
             "image used) and %d of %d composites (left out)", *(len(s) if s else 0 for s in (train, val, test)),
             train_stats["plain_no_hand"], train_stats["images"], train_stats["composite_no_hand"],
             train_stats["composites"])
    return CameraSets(train, val, test, test_found, stats)


def _fused(ds: ImageDataset, pre: Preprocessing) -> tuple[ImageDataset, np.ndarray]:
    """:func:`localised` for a fused landmark + crop model: each image's row (crop pixels and
    landmarks of one hand search; zeros where no hand was found)."""
    from asl_edge.runtime.fusion import fused_rows

    rows, found = fused_rows(pre, ds.load_images())
    return ImageDataset(labels=ds.labels, class_names=ds.class_names, preprocessing=pre, source=ds.source,
                        images=rows, groups=ds.groups), found


def localised(ds: ImageDataset, pre: Preprocessing) -> tuple[ImageDataset, np.ndarray]:
    """Every image of ``ds`` (loaded with :meth:`Preprocessing.before_localisation`) as the crop
    ``pre``'s localiser makes of it, and whether a hand was found in each (where none is, the whole
    image stands in; for a landmark model, its landmarks, zeros where none was found)."""
    if pre.landmarks is not None:
        from asl_edge.training.landmarks import landmarked

        return landmarked(ds, pre)
    if pre.fusion is not None:
        return _fused(ds, pre)
    index = np.arange(len(ds))
    sets = camera_sets(ds, pre, index[:0], index[:0], index, 0, (0.35, 0.7), 0)
    return sets.test, sets.test_found
