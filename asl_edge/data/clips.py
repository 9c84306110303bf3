"""Clips: a signer's hand coming into view, signing several digits, leaving; bystanders moving; the light changing.

NumPy and Pillow only; deterministic for a seed. Each clip is built from one held-out signer's
close-ups (one per digit signed) and other signers' close-ups as bystanders, over a window of a
background photograph (:func:`asl_edge.data.scenes._window`), with a ground truth per frame. It is
a synthetic motion (pasted photographs moved and swapped), not a recorded video: what it measures
is the live loop (following, the budget, the vote), not how hands move.

Timeline of a clip (``ClipSpec``, frames at ``fps``): ``empty`` frames without the signer, the hand
sliding in from the left or right over ``enter`` frames, ``hold`` frames per digit (a change of
sign swaps the close-up where the hand is), the hand sliding out over ``leave`` frames, ``empty``
frames again. Throughout, bystanders' close-ups (10-30 px) drift and bounce, the hand sways a few
pixels, and the brightness follows a slow cosine between the spec's two factors.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageEnhance

from asl_edge.data.scenes import FRAME_SIZE, _window
from asl_edge.runtime.errors import DataError


@dataclass(frozen=True)
class ClipSpec:
    """How a clip is drawn; see the module docstring. ``height_frac``: the signer's close-up as a
    share of the frame height; ``light``: the brightness factor's range over the clip."""

    fps: float = 15.0
    empty: int = 4
    enter: int = 6
    hold: int = 22
    leave: int = 6
    height_frac: tuple[float, float] = (0.45, 0.6)
    bystanders: int = 2
    bystander_px: tuple[int, int] = (10, 30)
    light: tuple[float, float] = (0.6, 1.1)


@dataclass(frozen=True)
class Clip:
    """Frames (RGB ``uint8``) and per frame: ``truth`` (the digit signed, ``None`` without the
    signer's hand in view), ``scored`` (counted by the per-frame accuracy: the hand wholly in view
    or wholly out, not sliding in or out), ``segments`` (``(first, end, digit)`` of each held sign,
    ``end`` exclusive), ``fps``."""

    frames: list[np.ndarray]
    truth: list[str | None]
    scored: list[bool]
    segments: list[tuple[int, int, str]]
    fps: float


def _paste(frame: np.ndarray, img: np.ndarray, x0: int, y0: int) -> float:
    """Pastes ``img`` with its top-left at (x0, y0), clipped to the frame; the share of it in view."""
    fh, fw = frame.shape[:2]
    h, w = img.shape[:2]
    ax0, ay0, ax1, ay1 = max(x0, 0), max(y0, 0), min(x0 + w, fw), min(y0 + h, fh)
    if ax1 <= ax0 or ay1 <= ay0:
        return 0.0
    frame[ay0:ay1, ax0:ax1] = img[ay0 - y0:ay1 - y0, ax0 - x0:ax1 - x0]
    return (ax1 - ax0) * (ay1 - ay0) / (w * h)


def make_clip(signs: list[tuple[np.ndarray, str]], background: np.ndarray, others: list[np.ndarray],
              rng: np.random.Generator, spec: ClipSpec = ClipSpec(),
              frame_size: tuple[int, int] = FRAME_SIZE) -> Clip:
    """One clip: the signer's close-ups ``signs`` (``(photo, digit)``, signed in that order) over a
    window of ``background``, ``spec.bystanders`` of ``others`` drifting about.

    Raises:
        DataError: no sign, or more bystanders asked for than ``others`` holds.
    """
    if not signs:
        raise DataError("a clip needs at least one sign")
    if spec.bystanders > len(others):
        raise DataError(f"{spec.bystanders} bystanders asked for, {len(others)} close-ups given")
    fw, fh = frame_size
    window = _window(background, rng, frame_size)
    side = int(round(fh * rng.uniform(*spec.height_frac)))
    hands = [np.asarray(Image.fromarray(p, "RGB").resize((side, side), Image.Resampling.BILINEAR)) for p, _ in signs]
    tx, ty = int(rng.integers(0, fw - side + 1)), int(rng.integers(0, fh - side + 1))
    from_left = bool(rng.random() < 0.5)
    out_x = -side - 2 if from_left else fw + 2
    walkers = []
    for i in rng.choice(len(others), spec.bystanders, replace=False):
        px = int(rng.integers(spec.bystander_px[0], spec.bystander_px[1] + 1))
        img = np.asarray(Image.fromarray(others[int(i)], "RGB").resize((px, px), Image.Resampling.BILINEAR))
        walkers.append([img, rng.uniform(0, fw - px), rng.uniform(0, fh - px), rng.uniform(-1.5, 1.5),
                        rng.uniform(-1.0, 1.0)])
    # (x, which close-up) per frame of the timeline
    plan: list[tuple[float | None, int]] = [(None, 0)] * spec.empty
    plan += [(out_x + (tx - out_x) * (t + 1) / spec.enter, 0) for t in range(spec.enter)]
    segments = []
    for k in range(len(signs)):
        segments.append((len(plan), len(plan) + spec.hold, signs[k][1]))
        plan += [(float(tx), k)] * spec.hold
    plan += [(tx + (out_x - tx) * (t + 1) / spec.leave, len(signs) - 1) for t in range(spec.leave)]
    plan += [(None, 0)] * spec.empty
    frames, truth, scored = [], [], []
    phase = rng.uniform(0, 2 * math.pi)
    for t, (x, k) in enumerate(plan):
        frame = window.copy()
        for w in walkers:  # bystanders drift, bouncing off the edges
            img, px = w[0], w[0].shape[0]
            _paste(frame, img, int(round(w[1])), int(round(w[2])))
            w[1] += w[3]
            w[2] += w[4]
            if not 0 <= w[1] <= fw - px:
                w[3], w[1] = -w[3], min(max(w[1], 0), fw - px)
            if not 0 <= w[2] <= fh - px:
                w[4], w[2] = -w[4], min(max(w[2], 0), fh - px)
        shown = 0.0
        if x is not None:
            sway = 3 * math.sin(2 * math.pi * t / 20 + phase)
            shown = _paste(frame, hands[k], int(round(x + sway)), int(round(ty + sway / 2)))
        light = spec.light[0] + (spec.light[1] - spec.light[0]) * (0.5 - 0.5 * math.cos(2 * math.pi * t / len(plan)))
        frames.append(np.asarray(ImageEnhance.Brightness(Image.fromarray(frame, "RGB")).enhance(light)))
        truth.append(signs[k][1] if shown > 0.5 else None)
        scored.append(shown >= 0.999 or shown == 0.0)
    return Clip(frames, truth, scored, segments, spec.fps)
