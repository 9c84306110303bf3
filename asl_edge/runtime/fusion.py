"""Late fusion of two classifiers that read the same hand: their probabilities combined into one answer.

A landmark model (the hand's 21 joints, :mod:`asl_edge.runtime.landmarks`) and a crop model (the
pixels around the hand) read the same hand search and fail under different camera conditions: the
crop model on backgrounds it never saw, the landmark model where blur and JPEG move the joints. A
late fusion keeps both classifiers as they are and combines their outputs per image with one
weight ``w`` (the first model's share). :data:`COMBINATIONS` is the one table of the ways to
combine; ``benchmarks/landmarks_vs_crops.py`` measures each, and anything that fuses calls
:func:`fuse`. NumPy only: the runtime-only install fuses as the benchmark did.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from asl_edge.runtime.errors import DataError, refuse_unknown_keys

# A probability of exactly 0 (an int8 output's lowest step) would make a log-probability -inf, and one
# such class would veto the other model's answer outright; 1e-6 is far below any int8 output step.
LOG_FLOOR = 1e-6


def _mean(a: np.ndarray, b: np.ndarray, w: float) -> np.ndarray:
    return w * a + (1.0 - w) * b


def _log(a: np.ndarray, b: np.ndarray, w: float) -> np.ndarray:
    z = w * np.log(np.maximum(a, LOG_FLOOR)) + (1.0 - w) * np.log(np.maximum(b, LOG_FLOOR))
    z = np.exp(z - z.max(axis=-1, keepdims=True))
    return z / z.sum(axis=-1, keepdims=True)


@dataclass(frozen=True)
class Combination:
    """One way to combine two probability vectors with a weight (the first model's share)."""

    name: str
    description: str
    combine: Callable[[np.ndarray, np.ndarray, float], np.ndarray]


COMBINATIONS = {c.name: c for c in (
    Combination("mean", "weighted mean of the two models' probabilities", _mean),
    Combination("log", "weighted mean of the log-probabilities (a weighted geometric mean), renormalised", _log),
)}


def fuse(first: np.ndarray, second: np.ndarray, weight: float, combination: str = "mean") -> np.ndarray:
    """The fused probabilities of two models' ``(n, classes)`` outputs on the same images (any leading
    shape: the classes are the last axis), as float32.

    Args:
        first: the first model's probabilities (the landmark model's, by convention).
        second: the second model's, same shape and class order.
        weight: the first model's share, 0..1 (0: the second alone, 1: the first alone).
        combination: a name of :data:`COMBINATIONS`.

    Raises:
        DataError: an unknown combination, a weight outside 0..1, or outputs of different shapes.
    """
    if combination not in COMBINATIONS:
        raise DataError(f"unknown fusion '{combination}'; choose one of: {', '.join(COMBINATIONS)}")
    if isinstance(weight, bool) or not isinstance(weight, (int, float)) or not 0.0 <= float(weight) <= 1.0:
        raise DataError(f"a fusion weight must be a number from 0 to 1, got {weight!r}")
    a, b = np.asarray(first, np.float64), np.asarray(second, np.float64)
    if a.shape != b.shape:
        raise DataError(f"the two models' outputs differ in shape: {a.shape} and {b.shape}")
    return COMBINATIONS[combination].combine(a, b, float(weight)).astype(np.float32)


FUSION_VERSION = 1


@dataclass(frozen=True)
class FusionSpec:
    """A fused artifact's recorded fusion (the preprocessing's ``fusion``): its input row is the
    hand crop's pixels (the preprocessing's image fields) followed by the landmark features
    (``landmarks``, :class:`~asl_edge.runtime.landmarks.LandmarkFeatures` settings); its graph
    combines the two models' probabilities as ``combination`` with the landmark model's share
    ``weight`` (constants inside the graph: recorded here to describe it, not applied again).

    ``hand_flag``: the row ends with one more value, 1 where a hand was found and 0 where the whole
    picture stands in for the crop (a single picture without a hand found, read whole as the crop
    model's training read such close-ups); the graph multiplies the landmark model's share by it, so a
    0 reads the crop model alone. Artifacts fused before it have no flag and no hand, no reading."""

    landmarks: dict
    combination: str
    weight: float
    version: int = FUSION_VERSION
    hand_flag: bool = False

    def __post_init__(self):
        from asl_edge.runtime.landmarks import LandmarkFeatures

        LandmarkFeatures.from_dict(self.landmarks)
        if self.combination not in COMBINATIONS:
            raise DataError(f"unknown fusion '{self.combination}'; choose one of: {', '.join(COMBINATIONS)}")
        if isinstance(self.weight, bool) or not isinstance(self.weight, (int, float)) or \
                not 0.0 <= float(self.weight) <= 1.0:
            raise DataError(f"a fusion weight must be a number from 0 to 1, got {self.weight!r}")
        if not isinstance(self.hand_flag, bool):
            raise DataError(f"fusion 'hand_flag' must be true or false, got {self.hand_flag!r}")
        if self.version != FUSION_VERSION:
            raise DataError(f"fusion version {self.version!r} is not supported (this asl-edge reads {FUSION_VERSION})")

    @property
    def features(self):
        from asl_edge.runtime.landmarks import LandmarkFeatures

        return LandmarkFeatures.from_dict(self.landmarks)

    def to_dict(self) -> dict:
        d = {"landmarks": dict(self.landmarks), "combination": self.combination, "weight": self.weight,
             "version": self.version}
        return {**d, "hand_flag": True} if self.hand_flag else d  # a fusion without one reads as it was written

    @classmethod
    def from_dict(cls, d: dict) -> FusionSpec:
        if not isinstance(d, dict):
            raise DataError("preprocessing 'fusion' must be an object")
        refuse_unknown_keys(d, cls.__dataclass_fields__, "fusion")
        if not isinstance(d.get("landmarks"), dict):
            raise DataError("fusion 'landmarks' must be an object")
        return cls(**d)


def fused_rows(pre, images) -> tuple[np.ndarray, np.ndarray]:
    """A fused model's samples of RGB frames (its preprocessing ``pre``, one hand search each) and
    which had a hand (where none was found: the whole picture's row where the model reads it, else zeros)."""
    from PIL import Image

    from asl_edge.runtime.hands import cached_localiser

    localiser = cached_localiser(pre.localiser)
    rows, found = [], []
    for rgb in images:
        hand = localiser.find_hand(rgb)
        found.append(hand is not None)
        if hand is not None:
            rows.append(pre.fused_from_hand(rgb, hand, localiser))
        else:
            rows.append(pre.read_whole(Image.fromarray(rgb, "RGB")) if pre.reads_whole_without_hand else pre.blank())
    return np.stack(rows), np.asarray(found, bool)
