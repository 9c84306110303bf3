"""Hand landmarks as a classifier's input: the 21 points of MediaPipe's hand landmark model, normalised.

A landmark model classifies the sign from where the hand's joints are, not from its pixels, as
MediaPipe's gesture recogniser does: the hand localiser (:mod:`asl_edge.runtime.hands`) finds the
hand and its 21 landmarks ``(x, y, z)`` in frame pixels, and :func:`landmark_features` maps them
to a vector that does not change when the hand moves in the frame, is nearer or further, is turned
in the image plane, or is the other hand (mirrored). The background never reaches the classifier.

Steps (:data:`FEATURES_VERSION` 1), each on ``(..., 21, 3)`` arrays:

1. translate: the wrist (landmark 0) to the origin, depth included;
2. rotate in the image plane so that wrist -> middle-finger knuckle (landmark 9) points up, as
   MediaPipe turns its hand regions (:func:`asl_edge.runtime.hands.upright_box`);
3. scale by the palm's size: the mean image-plane distance from the wrist to the four finger
   knuckles (5, 9, 13, 17), which a bent finger does not change (a measure over all 21 points
   would, and would blur a fist into an open hand);
4. mirror to one handedness, by geometry: in the upright hand the index knuckle (5) lies left of
   the little finger's (17) for a right palm facing the camera; a hand where it lies right is
   flipped. A left hand then reads as the right hand's mirror image, which is what a selfie camera
   shows. Geometry rather than the landmark model's handedness score, because it maps a mirrored
   input onto exactly the same numbers (the score is a second model's guess that can disagree
   between an image and its mirror);
5. the features: landmarks 1..20 (the wrist is always 0) as ``(x, y)`` or, with ``use_z``, ``(x, y, z)``.

NumPy only: the runtime-only install computes the same features as training did.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from asl_edge.runtime.errors import DataError, refuse_unknown_keys

NUM_LANDMARKS = 21
WRIST, INDEX_MCP, MIDDLE_MCP, RING_MCP, PINKY_MCP = 0, 5, 9, 13, 17
PALM_KNUCKLES = (INDEX_MCP, MIDDLE_MCP, RING_MCP, PINKY_MCP)
FEATURES_VERSION = 1
# A palm smaller than this many pixels is no hand to measure (it maps to zeros, not to a division by 0).
MIN_PALM = 1e-6


@dataclass(frozen=True)
class LandmarkFeatures:
    """How landmarks become the classifier's input; recorded in the preprocessing (``landmarks``).

    Attributes:
        use_z: include the landmark model's depth estimate (relative to the wrist, in the same
            units as ``x``/``y``) beside the image-plane coordinates.
        version: :data:`FEATURES_VERSION` of the steps above (an artifact of another version is refused).
    """

    use_z: bool = True
    version: int = FEATURES_VERSION

    def __post_init__(self):
        if not isinstance(self.use_z, bool):
            raise DataError(f"landmarks use_z must be true or false, got {self.use_z!r}")
        if self.version != FEATURES_VERSION:
            raise DataError(f"landmark features version {self.version!r} is not supported (this asl-edge "
                            f"computes version {FEATURES_VERSION})")

    @property
    def size(self) -> int:
        """Length of the feature vector."""
        return (NUM_LANDMARKS - 1) * (3 if self.use_z else 2)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> LandmarkFeatures:
        if not isinstance(d, dict):
            raise DataError("preprocessing 'landmarks' must be an object")
        refuse_unknown_keys(d, cls.__dataclass_fields__, "landmarks")
        return cls(**d)


def _check(points: np.ndarray) -> np.ndarray:
    points = np.asarray(points, np.float64)
    if points.ndim < 2 or points.shape[-2:] != (NUM_LANDMARKS, 3):
        raise DataError(f"expected landmarks of shape (..., {NUM_LANDMARKS}, 3), got {points.shape}")
    return points


def normalise(points: np.ndarray) -> np.ndarray:
    """Steps 1-4: ``(..., 21, 3)`` landmarks in frame pixels -> the upright, unit-palm, right-hand
    landmarks (same shape, float64). Non-finite input or a palm of no size gives zeros."""
    p = _check(points)
    with np.errstate(invalid="ignore", over="ignore"):  # inf - inf: cleared at the end
        return _normalise(p)


def _normalise(p: np.ndarray) -> np.ndarray:
    p = p - p[..., WRIST:WRIST + 1, :]
    up = p[..., MIDDLE_MCP, :2]
    # Image y grows downwards: the rotation takes the wrist -> knuckle direction to (0, -1).
    angle = np.arctan2(up[..., 0], -up[..., 1])  # the direction's angle from "up", clockwise on screen
    c, s = np.cos(angle)[..., None], np.sin(angle)[..., None]
    x, y = p[..., 0], p[..., 1]
    xr, yr = c * x + s * y, c * y - s * x  # turned back by that angle
    palm = np.mean(np.hypot(xr[..., PALM_KNUCKLES], yr[..., PALM_KNUCKLES]), axis=-1)[..., None]
    ok = np.isfinite(palm) & (palm > MIN_PALM)
    scale = np.where(ok, 1.0 / np.where(ok, palm, 1.0), 0.0)
    xr, yr, z = xr * scale, yr * scale, p[..., 2] * scale
    mirrored = (xr[..., INDEX_MCP] > xr[..., PINKY_MCP])[..., None]
    xr = np.where(mirrored, -xr, xr)
    out = np.stack([xr, yr, z], axis=-1)
    return np.where(np.isfinite(out), out, 0.0)


def landmark_features(points: np.ndarray, features: LandmarkFeatures | dict | None = None) -> np.ndarray:
    """``(..., 21, 3)`` landmarks in frame pixels -> ``(..., size)`` float32 classifier input."""
    features = LandmarkFeatures.from_dict(features) if isinstance(features, dict) else features or LandmarkFeatures()
    p = normalise(points)[..., 1:, :]  # the wrist is the origin: always zero
    if not features.use_z:
        p = p[..., :2]
    return p.reshape(*p.shape[:-2], -1).astype(np.float32)
