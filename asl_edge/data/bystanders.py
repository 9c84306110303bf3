"""Scene sets with bystanders: the signer's hand near the camera, other people's hands small behind.

NumPy and Pillow only. A camera in a room sees more than one hand: the signer's, large, and those
of people further away (10-30 pixels in a 320x240 frame). :data:`SCENE_SETS` is the one table of
the scene test sets ``benchmarks/make_scenes.py --set NAME`` builds; :func:`scene_frame` makes one
frame of a set: the signer's close-up pasted by :func:`asl_edge.data.scenes.composite`, then
bystanders (close-ups of *other* held-out signers showing another digit, pasted small where they do
not cover the signer's), then the set's camera (dimmer, blurred; the JPEG quality is applied when
the frame is saved). The ``base`` set draws exactly the random numbers it drew before bystanders
existed, so its frames (and figures) are unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageEnhance, ImageFilter

from asl_edge.data.scenes import FRAME_SIZE, composite
from asl_edge.runtime.errors import DataError


@dataclass(frozen=True)
class SceneSet:
    """One scene test set: how the signer's hand, the bystanders and the camera are drawn.

    Attributes:
        name: the name ``make_scenes.py --set`` takes.
        height_frac: the signer's close-up as a share of the frame height, drawn uniformly.
        bystanders: how many bystanders' close-ups, drawn uniformly from this range (inclusive).
        bystander_px: a bystander's close-up height in pixels, drawn uniformly.
        brightness: the frame's brightness factor range (``None``: unchanged).
        blur: Gaussian blur sigma range in pixels (``None``: sharp).
        jpeg: JPEG quality range, drawn per frame.
        description: what it stands for.
    """

    name: str
    height_frac: tuple[float, float]
    bystanders: tuple[int, int] = (0, 0)
    bystander_px: tuple[int, int] = (10, 30)
    brightness: tuple[float, float] | None = None
    blur: tuple[float, float] | None = None
    jpeg: tuple[int, int] = (90, 90)
    description: str = ""


SCENE_SETS: dict[str, SceneSet] = {s.name: s for s in (
    SceneSet("base", (0.35, 0.7), description="the signer's close-up alone in the photograph (the first scene set)"),
    SceneSet("bystanders", (0.40, 0.65), (1, 3),
             description="1-3 bystanders' hands of 10-30 px around the signer's, hand at 40-65% of the frame"),
    SceneSet("hard", (0.28, 0.40), (1, 3), brightness=(0.45, 0.8), blur=(0.5, 1.5), jpeg=(50, 80),
             description="bystanders as above; the signer further away (28-40%), a dimmer room (x0.45-0.8), "
                         "out of focus (sigma 0.5-1.5 px), JPEG quality 50-80"),
    # Harsher than ``hard``, for choosing the hand search on development frames (validation signers,
    # TRAIN photographs): ``hard`` there leaves too few signers unfound to tell settings apart.
    SceneSet("harsh", (0.26, 0.38), (1, 3), brightness=(0.3, 0.6), blur=(0.8, 1.8), jpeg=(40, 70),
             description="bystanders as above; the signer at 26-38%, a dim room (x0.3-0.6), out of focus "
                         "(sigma 0.8-1.8 px), JPEG quality 40-70 (a development set for the hand search)"),
)}


def get_scene_set(name: str) -> SceneSet:
    if name not in SCENE_SETS:
        raise DataError(f"unknown scene set '{name}'; choose one of: {', '.join(SCENE_SETS)}")
    return SCENE_SETS[name]


def _overlaps(a: tuple[int, int, int, int], b: tuple[int, int, int, int], gap: int = 4) -> bool:
    return a[0] < b[2] + gap and b[0] < a[2] + gap and a[1] < b[3] + gap and b[1] < a[3] + gap


def paste_small(frame: np.ndarray, photo: np.ndarray, height: int, rng: np.random.Generator,
                avoid: list[tuple[int, int, int, int]], tries: int = 50) -> tuple[int, int, int, int] | None:
    """Pastes ``photo`` at ``height`` pixels where it overlaps none of ``avoid`` (in place); its box,
    or ``None`` when no free place was drawn in ``tries`` attempts."""
    fh, fw = frame.shape[:2]
    pw = max(1, int(round(height * photo.shape[1] / photo.shape[0])))
    for _ in range(tries):
        x0, y0 = int(rng.integers(0, fw - pw + 1)), int(rng.integers(0, fh - height + 1))
        box = (x0, y0, x0 + pw, y0 + height)
        if not any(_overlaps(box, a) for a in avoid):
            small = Image.fromarray(photo, "RGB").resize((pw, height), Image.Resampling.BILINEAR)
            frame[y0:y0 + height, x0:x0 + pw] = np.asarray(small)
            return box
    return None


def camera(frame: np.ndarray, scene: SceneSet, rng: np.random.Generator) -> np.ndarray:
    """The set's camera on a frame: dimmer, then blurred (each only where the set says)."""
    if scene.brightness is None and scene.blur is None:
        return frame
    img = Image.fromarray(frame, "RGB")
    if scene.brightness is not None:
        img = ImageEnhance.Brightness(img).enhance(float(rng.uniform(*scene.brightness)))
    if scene.blur is not None:
        img = img.filter(ImageFilter.GaussianBlur(float(rng.uniform(*scene.blur))))
    return np.asarray(img)


def scene_frame(scene: SceneSet, photo: np.ndarray, background: np.ndarray, rng: np.random.Generator,
                others: list[tuple[np.ndarray, str]], label: str,
                frame_size: tuple[int, int] = FRAME_SIZE) -> tuple[np.ndarray, dict]:
    """One frame of ``scene``: the signer's ``photo`` (digit ``label``) in ``background``, bystanders
    drawn from ``others`` (close-ups with their digits; only other digits than ``label`` are used, so
    an answer read from a bystander is wrong), the set's camera.

    Returns:
        The frame and its record: ``box`` (the signer's close-up), ``bystanders`` (boxes and
        digits), ``jpeg`` (the quality to save it with).
    """
    frame, box = composite(photo, background, rng, scene.height_frac, frame_size)
    record = {"box": list(box), "bystanders": [], "jpeg": scene.jpeg[0]}
    if scene.bystanders[1] > 0:
        pool = [(p, d) for p, d in others if d != label]
        if not pool:
            raise DataError("bystanders need close-ups of another digit than the signer's")
        taken = [box]
        for _ in range(int(rng.integers(scene.bystanders[0], scene.bystanders[1] + 1))):
            other, digit = pool[int(rng.integers(len(pool)))]
            placed = paste_small(frame, other, int(rng.integers(scene.bystander_px[0], scene.bystander_px[1] + 1)),
                                 rng, taken)
            if placed is not None:
                taken.append(placed)
                record["bystanders"].append({"box": list(placed), "label": digit})
        frame = camera(frame, scene, rng)
        record["jpeg"] = int(rng.integers(scene.jpeg[0], scene.jpeg[1] + 1))
    return frame, record
