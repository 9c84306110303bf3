"""The landmarks' own augmentation, on every training batch of a landmark model.

It acts on the landmarks before the normalisation, in NumPy (the runtime's own
:func:`~asl_edge.runtime.landmarks.landmark_features` then makes the features, so training and
serving compute them with the same code), and adds only what the normalisation does not remove: a
turn of the hand out of the image plane and noise on each landmark.
"""

from __future__ import annotations

import numpy as np

from asl_edge.runtime.landmarks import PALM_KNUCKLES, WRIST
from asl_edge.training.config import AugmentSection


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
