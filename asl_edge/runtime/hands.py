"""Hand localisation for frames from a camera: MediaPipe's hand models, run through LiteRT.

NumPy, Pillow and ``ai_edge_litert`` only (no ``mediapipe`` package, no TensorFlow), so it runs in
the runtime-only install on a Raspberry Pi. The models are MediaPipe's palm detector and hand
landmark model (Apache 2.0, see ``assets/hands/SOURCE.md``); the pipeline around them is written
here from the parameters MediaPipe publishes in its graph configs
(``modules/palm_detection/palm_detection_cpu.pbtxt``, ``palm_detection_detection_to_roi.pbtxt``,
``modules/hand_landmark/hand_landmark_cpu.pbtxt``):

1. the frame is letterboxed (zero border) into the palm detector's 192x192 input, values 0..1;
2. 2016 SSD anchors (4 layers, strides 8/16/16/16, fixed size) decode 18 raw values per anchor
   into a box and 7 palm keypoints; scores are clipped to +-100 and passed through a sigmoid;
3. weighted non-max suppression (IoU 0.3) merges overlapping palms;
4. each palm becomes a rotated square region: rotation makes wrist (keypoint 0) -> middle-finger
   MCP (keypoint 2) point up, the centre shifts by -0.5 box heights along that axis, the long side
   is kept and scaled by 2.6;
5. the hand landmark model reads that region (224x224, edge-replicated border) and gives a
   presence score and 21 landmarks, projected back into the frame; their bounding box is the hand.

If the first pass finds nothing, ``LocaliserConfig.fallback`` tries a few more views (overlapping
zoomed-in tiles, for small hands; a zoomed-out frame, for close-ups whose hand fills the picture),
then the best weak palms of all views, then the whole frame straight into the landmark model, and
keeps a hand only when the landmark model's presence score passes. Only frames the first pass
misses pay for this. A frame where none of that finds a hand is searched again, without the tiles,
on the retry copies of ``LocaliserConfig.retries`` (:data:`RETRY_FILTERS`: smoothed, then
sharpened), keeping a hand only above ``retry_min_presence``: sensor noise and JPEG blocks hide a
hand from the palm detector, and so does blur.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from functools import cache
from pathlib import Path

import numpy as np
from PIL import Image, ImageFilter

from asl_edge.runtime.errors import DataError, ModelError

ASSETS = Path(__file__).parent / "assets" / "hands"
MODEL_SOURCE = {
    "package": "mediapipe",
    "version": "0.10.14",
    "licence": "Apache-2.0",
    "url": "https://pypi.org/project/mediapipe/0.10.14/",
}
PALM_INPUT = 192
LANDMARK_INPUT = 224
NUM_KEYPOINTS = 7
# Palm detection graph parameters (palm_detection_cpu.pbtxt).
ANCHOR_STRIDES = (8, 16, 16, 16)
RAW_SCORE_CLIP = 100.0
# Palm -> hand region (palm_detection_detection_to_roi.pbtxt).
ROI_SCALE = 2.6
ROI_SHIFT_Y = -0.5
ROI_TARGET_ANGLE = math.pi / 2
# Landmarks -> next frame's hand region (hand_landmark_landmarks_to_roi.pbtxt): the box of the wrist,
# the thumb's first joints and each finger's knuckle and middle joint (no fingertips, which move the
# most), turned upright, shifted by -0.1 box heights along the hand, the long side scaled by 2.0.
TRACK_LANDMARKS = (0, 1, 2, 3, 5, 6, 9, 10, 13, 14, 17, 18)
TRACK_SCALE = 2.0
TRACK_SHIFT_Y = -0.1
WRIST, MIDDLE_MCP = 0, 2  # palm keypoints
LM_WRIST, LM_MIDDLE_MCP = 0, 9  # hand landmarks


@dataclass(frozen=True)
class RetryFilter:
    """A copy of the frame searched again when the frame itself gave no hand.

    Attributes:
        name: the name ``LocaliserConfig.retries`` uses.
        filter: the Pillow filter that makes the copy.
        against: what it undoes.
    """

    name: str
    filter: ImageFilter.Filter
    against: str


# Chosen on the camera model's held-out close-ups under the shift suite (benchmarks/localiser_retries.py,
# benchmarks/results/hands/retries*.json): a Gaussian of sigma 1 pixel gave JPEG-10 frames their hand
# back more often than sigma 1.5 or a 3x3 median; unsharp masking (radius 2, 200%) does for blurred
# frames what smoothing cannot.
RETRY_FILTERS = {f.name: f for f in (
    RetryFilter("smooth", ImageFilter.GaussianBlur(1.0), "sensor noise, JPEG blocks"),
    RetryFilter("sharpen", ImageFilter.UnsharpMask(radius=2, percent=200, threshold=0), "blur (out of focus, motion)"),
)}


@dataclass(frozen=True)
class UprightBox:
    """The landmarks' box in the hand's own frame: the axes turned by ``angle`` (radians, as
    :func:`sample_square` takes it) so that the wrist lies straight below the middle finger's
    knuckle; ``cx``/``cy`` in frame pixels, ``width``/``height`` along the hand's own axes."""

    cx: float
    cy: float
    width: float
    height: float
    angle: float


@dataclass(frozen=True)
class HandBox:
    """A hand in pixels of the source frame (``x1``/``y1`` exclusive edges) and its score;
    ``upright`` (boxes from landmarks) is the same hand in its own frame, for upright crops."""

    x0: float
    y0: float
    x1: float
    y1: float
    score: float
    upright: UprightBox | None = None

    @property
    def width(self) -> float:
        return self.x1 - self.x0

    @property
    def height(self) -> float:
        return self.y1 - self.y0

    @property
    def center(self) -> tuple[float, float]:
        return (self.x0 + self.x1) / 2, (self.y0 + self.y1) / 2


@dataclass(frozen=True)
class Palm:
    """One palm detection: box centre/size and 7 keypoints, in source-frame pixels."""

    cx: float
    cy: float
    w: float
    h: float
    keypoints: np.ndarray = field(repr=False)
    score: float


@dataclass(frozen=True)
class Hand:
    """The landmark model's answer for one region: 21 (x, y) landmarks in frame pixels; ``depth``:
    each landmark's z, the model's depth estimate relative to the wrist, in the same pixel units."""

    landmarks: np.ndarray = field(repr=False)
    presence: float
    palm_score: float
    depth: np.ndarray | None = field(default=None, repr=False)

    def points(self) -> np.ndarray:
        """``(21, 3)`` float32: ``x``, ``y`` and ``depth`` (0 where unknown)."""
        z = np.zeros(len(self.landmarks)) if self.depth is None else self.depth
        return np.column_stack([self.landmarks, z]).astype(np.float32)

    def box(self) -> HandBox:
        lo, hi = self.landmarks.min(axis=0), self.landmarks.max(axis=0)
        return HandBox(float(lo[0]), float(lo[1]), float(hi[0]), float(hi[1]), self.presence,
                       upright_box(self.landmarks))


def tracking_region(hand: Hand) -> tuple[float, float, float, float]:
    """A hand's landmarks -> the region ``(cx, cy, side, angle)`` where the landmark model looks for
    it in the next frame, as MediaPipe's hand tracking does."""
    box = upright_box(hand.landmarks, TRACK_LANDMARKS)
    return _region(box.cx, box.cy, box.width, box.height, box.angle, TRACK_SHIFT_Y, TRACK_SCALE)


def upright_box(landmarks: np.ndarray, only: tuple[int, ...] | None = None) -> UprightBox:
    """The box of the 21 landmarks (or of those numbered in ``only``) in the hand's own frame, turned
    as MediaPipe turns its hand regions (``hand_landmark_landmarks_to_roi.pbtxt``: wrist ->
    middle-finger knuckle pointing up)."""
    (x0, y0), (x1, y1) = landmarks[LM_WRIST], landmarks[LM_MIDDLE_MCP]
    angle = _upright_angle(x0, y0, x1, y1)
    c, s = math.cos(angle), math.sin(angle)
    # sample_square reads source = centre + R(angle) @ offset, so the hand's own coordinates of a
    # frame point p are R(angle)^T @ p.
    points = landmarks if only is None else landmarks[list(only)]
    own = points @ np.array([[c, -s], [s, c]], np.float64)
    lo, hi = own.min(axis=0), own.max(axis=0)
    mx, my = (lo + hi) / 2
    return UprightBox(float(c * mx - s * my), float(s * mx + c * my), float(hi[0] - lo[0]), float(hi[1] - lo[1]),
                      angle)


@dataclass(frozen=True)
class LocaliserConfig:
    """Everything that decides which box :class:`HandLocaliser` returns; recorded with a model.

    Attributes:
        palm_model: palm detector file stem in ``assets/hands`` (bundled: ``palm_detection_lite``;
            ``palm_detection_full`` works if its file is added there).
        landmark_model: landmark model stem (bundled: ``hand_landmark_lite``).
        min_palm_score: palm detections below this sigmoid score are dropped (MediaPipe: 0.5; lower
            here because the landmark model's presence score checks every palm anyway).
        nms_iou: IoU above which palms are merged by weighted NMS (MediaPipe: 0.3).
        min_presence: hand presence score the landmark model must reach (MediaPipe: 0.5; higher
            here, which removed most hands "found" in hand-free frames of the development set).
        max_palms: palms (best first) whose regions go through the landmark model.
        fallback: when the first pass finds no hand, also try the extra views (tiles, zoomed out,
            weak palms, whole frame into the landmark model), stopping at the first hand.
        tile_frac: the fallback's tiles are squares of this share of the frame's short side.
        candidate_score: palms of any view scoring between this and ``min_palm_score`` are kept...
        max_candidates: ...and the best this many (one per place) go through the landmark model
            when no view found a hand (0: never).
        zoom_out: the fallback's zoomed-out view pads the frame to this many times its long side.
        margin: :meth:`HandLocaliser.crop` side is ``max(w, h) * (1 + margin)`` of the landmark box.
        retries: names in :data:`RETRY_FILTERS`, in order: when the frame gives no hand, the same
            search on each filtered copy until one does (boxes are in the frame's own pixels, the
            crop is cut from the frame itself). Settings recorded before retries existed read as
            none, so an older artifact finds exactly the hands it found before.
        retry_min_presence: presence a hand found on a retry copy must reach: a filtered copy of
            a hand-free frame shows hand-like shapes (the retries' false hands in 200 hand-free
            windows of the TRAIN backgrounds scored 0.83-0.90, while 34 of 52 hands they gave back
            in JPEG-10 validation close-ups scored 0.92 or more;
            benchmarks/results/hands/retry_presence.json).
        upright: :meth:`HandLocaliser.crop` turns the hand upright (wrist below the middle
            finger's knuckle, as MediaPipe turns the hand for its landmark model) and frames it
            along its own axes, so a tilted hand or camera reaches the classifier as an upright
            one. Settings recorded before it existed read as false (the axis-aligned crop).
    """

    palm_model: str = "palm_detection_lite"
    landmark_model: str = "hand_landmark_lite"
    min_palm_score: float = 0.3
    nms_iou: float = 0.3
    min_presence: float = 0.8
    max_palms: int = 2
    fallback: bool = True
    tile_frac: float = 0.75
    candidate_score: float = 0.05
    max_candidates: int = 3
    zoom_out: float = 1.6
    margin: float = 0.25
    retries: tuple[str, ...] = ("smooth", "sharpen")
    retry_min_presence: float = 0.92
    upright: bool = False

    def __post_init__(self):
        object.__setattr__(self, "retries", tuple(self.retries))  # a list read back from JSON
        unknown = [r for r in self.retries if r not in RETRY_FILTERS]
        if unknown:
            raise DataError(f"unknown localiser retry '{unknown[0]}'; known: {', '.join(RETRY_FILTERS)}")
        for name in (self.palm_model, self.landmark_model):
            if not (ASSETS / f"{name}.tflite").is_file():
                known = sorted(p.stem for p in ASSETS.glob("*.tflite"))
                raise ModelError(f"unknown hand model '{name}'; bundled: {', '.join(known)}")
        if not all(0 < v < 1 for v in (self.min_palm_score, self.min_presence, self.nms_iou, self.retry_min_presence)):
            raise DataError("min_palm_score, min_presence, retry_min_presence and nms_iou must lie between 0 and 1")
        if self.max_candidates < 0 or not 0 < self.candidate_score < 1:
            raise DataError("max_candidates must be >= 0 and candidate_score between 0 and 1")
        if self.max_palms < 1 or self.zoom_out < 1 or self.margin < 0 or not 0.2 <= self.tile_frac <= 1:
            raise DataError("max_palms must be >= 1, zoom_out >= 1, margin >= 0 and tile_frac in 0.2..1")

    def models(self) -> dict:
        """Source, licence and sha256 of the two model files."""
        return {name: {**MODEL_SOURCE, "file": f"{name}.tflite", "sha256": _sha256(ASSETS / f"{name}.tflite")}
                for name in (self.palm_model, self.landmark_model)}

    def to_dict(self) -> dict:
        """JSON-ready settings plus the models' provenance (``models``), for run folders and artifacts."""
        return {**asdict(self), "retries": list(self.retries), "models": self.models()}

    @classmethod
    def from_dict(cls, d: dict) -> LocaliserConfig:
        """Reverses :meth:`to_dict`; a recorded ``models`` entry must match the bundled files.

        Raises:
            DataError: unknown keys.
            ModelError: a recorded model sha256 that differs from the bundled file.
        """
        d = dict(d)
        recorded = d.pop("models", None)
        unknown = set(d) - set(cls.__dataclass_fields__)
        if unknown:
            raise DataError(f"unknown localiser keys: {', '.join(sorted(unknown))}")
        d.setdefault("retries", ())  # recorded before retries existed: behave as then
        config = cls(**d)
        if recorded is not None:
            for name, info in config.models().items():
                if name in recorded and recorded[name].get("sha256") != info["sha256"]:
                    raise ModelError(f"the recorded {name} (sha256 {recorded[name].get('sha256')}) is not the "
                                     f"bundled one ({info['sha256']})")
        return config


@cache
def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# -- palm detection: anchors, decoding, NMS ---------------------------------------------------------
def palm_anchors(input_size: int = PALM_INPUT, strides: tuple[int, ...] = ANCHOR_STRIDES,
                 per_layer: int = 2) -> np.ndarray:
    """SSD anchor centres ``(N, 2)`` (x, y in 0..1) in the model's output order.

    Consecutive layers with the same stride share one feature map; each layer puts ``per_layer``
    anchors (aspect ratio 1 and the interpolated scale) on every cell. With fixed anchor size
    every anchor is 1x1, so only the centres matter: 24*24*2 + 12*12*6 = 2016 for 192 inputs.
    """
    out, i = [], 0
    while i < len(strides):
        j = i
        while j < len(strides) and strides[j] == strides[i]:
            j += 1
        side = math.ceil(input_size / strides[i])
        ys, xs = np.meshgrid((np.arange(side) + 0.5) / side, (np.arange(side) + 0.5) / side, indexing="ij")
        cells = np.stack([xs.ravel(), ys.ravel()], axis=1)
        out.append(np.repeat(cells, (j - i) * per_layer, axis=0))
        i = j
    return np.concatenate(out).astype(np.float32)


def decode_palms(raw_boxes: np.ndarray, raw_scores: np.ndarray, anchors: np.ndarray, min_score: float,
                 input_size: int = PALM_INPUT) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Raw model outputs -> boxes ``(K, 4)`` (xmin, ymin, xmax, ymax) and keypoints ``(K, 7, 2)``,
    both 0..1 on the model input, and sigmoid scores ``(K,)``, for anchors scoring ``>= min_score``.
    """
    raw_boxes = np.asarray(raw_boxes, np.float32).reshape(len(anchors), -1)
    scores = 1.0 / (1.0 + np.exp(-np.clip(np.asarray(raw_scores, np.float32).reshape(-1),
                                          -RAW_SCORE_CLIP, RAW_SCORE_CLIP)))
    keep = np.flatnonzero(scores >= min_score)
    raw, anc = raw_boxes[keep] / input_size, anchors[keep]
    cx, cy = raw[:, 0] + anc[:, 0], raw[:, 1] + anc[:, 1]
    w, h = raw[:, 2], raw[:, 3]
    boxes = np.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], axis=1)
    kps = raw[:, 4:4 + 2 * NUM_KEYPOINTS].reshape(-1, NUM_KEYPOINTS, 2) + anc[:, None, :]
    return boxes, kps, scores[keep]


def _iou(box: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    ix = np.clip(np.minimum(box[2], boxes[:, 2]) - np.maximum(box[0], boxes[:, 0]), 0, None)
    iy = np.clip(np.minimum(box[3], boxes[:, 3]) - np.maximum(box[1], boxes[:, 1]), 0, None)
    inter = ix * iy
    area = lambda b: (b[..., 2] - b[..., 0]) * (b[..., 3] - b[..., 1])  # noqa: E731
    union = area(box) + area(boxes) - inter
    return np.where(union > 0, inter / np.maximum(union, 1e-12), 0.0)


def weighted_nms(boxes: np.ndarray, keypoints: np.ndarray, scores: np.ndarray,
                 iou: float) -> list[tuple[np.ndarray, np.ndarray, float]]:
    """MediaPipe's WEIGHTED non-max suppression: the best remaining detection absorbs every one
    overlapping it by more than ``iou``; box and keypoints become the score-weighted mean of the
    group, the score stays the best one's. Returns ``(box, keypoints, score)``, best first."""
    order = np.argsort(-scores, kind="stable")
    out = []
    while len(order):
        overlap = _iou(boxes[order[0]], boxes[order])
        group, order = order[overlap > iou], order[overlap <= iou]
        group = group if len(group) else order[:1]
        weights = scores[group][:, None]
        box = (boxes[group] * weights).sum(0) / weights.sum()
        kps = (keypoints[group] * weights[:, :, None]).sum(0) / weights.sum()
        out.append((box, kps, float(scores[group[0]])))
    return out


# -- image sampling ---------------------------------------------------------------------------------
def sample_square(rgb: np.ndarray, cx: float, cy: float, side: float, angle: float, size: int,
                  replicate: bool) -> np.ndarray:
    """Bilinear sample of a square region (centre, side in pixels, rotated by ``angle`` radians,
    clockwise on screen) into a ``size x size`` float32 array in 0..1. Outside the frame the
    border is edge-replicated (``replicate``) or black.

    The output pixel centre ``(u + 0.5, v + 0.5)`` reads the source point
    ``centre + R(angle) @ ((u + 0.5) * side / size - side / 2, ...)`` (continuous coordinates).
    """
    return np.asarray(_warp_square(rgb, cx, cy, side, angle, size, replicate), np.float32) * (1 / 255)


def _warp_square(rgb: np.ndarray, cx: float, cy: float, side: float, angle: float, size: int,
                 replicate: bool) -> Image.Image:
    """:func:`sample_square` as a ``uint8`` Pillow image."""
    h, w = rgb.shape[:2]
    step = side / size
    c, s = math.cos(angle), math.sin(angle)
    # Source point of output (0, 0) corner, continuous coordinates.
    ox = cx - side / 2 * (c - s)
    oy = cy - side / 2 * (s + c)
    if replicate:
        # Cut the part of the source under the rotated square, edge-replicated where it leaves the
        # frame (index clipping), so Pillow's transform below never reads outside its input.
        half = side / 2 * (abs(c) + abs(s)) + 2
        x0, y0 = int(math.floor(cx - half)), int(math.floor(cy - half))
        x1, y1 = int(math.ceil(cx + half)), int(math.ceil(cy + half))
        rows = np.clip(np.arange(y0, y1), 0, h - 1)
        cols = np.clip(np.arange(x0, x1), 0, w - 1)
        src = rgb[rows[:, None], cols[None, :]] if (x0 < 0 or y0 < 0 or x1 > w or y1 > h) else rgb[y0:y1, x0:x1]
        ox, oy = ox - x0, oy - y0
    else:
        src = rgb
    return Image.fromarray(np.ascontiguousarray(src), "RGB").transform(
        (size, size), Image.Transform.AFFINE, (c * step, -s * step, ox, s * step, c * step, oy),
        Image.Resampling.BILINEAR, fillcolor=(0, 0, 0))


def tile_views(width: int, height: int, tile_frac: float = 1.0) -> list[tuple[float, float, float]]:
    """Square tiles ``(cx, cy, side)`` covering the frame, side ``tile_frac`` x the short side,
    neighbours overlapping by at least half a tile. A square frame with ``tile_frac`` 1 has none
    (the tile would be the first pass again)."""
    side = min(width, height) * tile_frac
    if side >= max(width, height) * 0.95:
        return []

    def centres(length: float) -> np.ndarray:
        if side >= length:
            return np.array([length / 2])
        n = math.ceil((length - side) / (side / 2)) + 1
        return np.linspace(side / 2, length - side / 2, n)

    return [(float(x), float(y), float(side)) for y in centres(height) for x in centres(width)]


def _upright_angle(x0: float, y0: float, x1: float, y1: float) -> float:
    """The rotation (radians, in -pi..pi) that makes the direction from (x0, y0) to (x1, y1) point up."""
    angle = ROI_TARGET_ANGLE - math.atan2(-(y1 - y0), x1 - x0)
    return (angle + math.pi) % (2 * math.pi) - math.pi


def palm_region(palm: Palm) -> tuple[float, float, float, float]:
    """Palm -> hand region ``(cx, cy, side, angle)`` in pixels, as palm_detection_detection_to_roi."""
    (x0, y0), (x1, y1) = palm.keypoints[WRIST], palm.keypoints[MIDDLE_MCP]
    return _region(palm.cx, palm.cy, palm.w, palm.h, _upright_angle(x0, y0, x1, y1), ROI_SHIFT_Y, ROI_SCALE)


def _region(cx: float, cy: float, width: float, height: float, angle: float, shift_y: float,
            scale: float) -> tuple[float, float, float, float]:
    """A box turned by ``angle`` -> the square region ``(cx, cy, side, angle)`` the landmark model
    reads, as MediaPipe's rect transformation: the centre moved ``shift_y`` box heights along the
    hand's own vertical axis, the longer side scaled by ``scale`` (palm detections and tracked hands alike)."""
    c, s = math.cos(angle), math.sin(angle)
    return cx - height * shift_y * s, cy + height * shift_y * c, max(width, height) * scale, angle


def _as_rgb(rgb: np.ndarray) -> np.ndarray:
    rgb = np.asarray(rgb)
    if rgb.dtype != np.uint8 or rgb.ndim != 3 or rgb.shape[2] != 3 or min(rgb.shape[:2]) < 8:
        raise DataError(f"expected an RGB uint8 image of shape (H, W, 3) with sides >= 8, "
                        f"got {rgb.dtype} {rgb.shape}")
    return np.ascontiguousarray(rgb)


class HandLocaliser:
    """Finds the most confident hand in an RGB frame and crops a square around it."""

    def __init__(self, config: LocaliserConfig | None = None, threads: int | None = 1):
        from asl_edge.runtime.runners import interpreter_class

        self.config = config or LocaliserConfig()
        cls, self.runtime_version, self.runtime = interpreter_class()

        def load(name: str):
            try:
                interp = cls(model_path=str(ASSETS / f"{name}.tflite"), num_threads=threads)
                interp.allocate_tensors()
            except Exception as exc:  # the interpreter raises RuntimeError/ValueError on damaged files
                raise ModelError(f"cannot load hand model {name}: {exc}") from None
            return interp

        self._palm = load(self.config.palm_model)
        self._landmark = load(self.config.landmark_model)
        self._palm_in = self._palm.get_input_details()[0]["index"]
        outs = sorted(self._palm.get_output_details(), key=lambda d: -int(d["shape"][-1]))
        self._palm_boxes, self._palm_scores = outs[0]["index"], outs[1]["index"]
        self._lm_in = self._landmark.get_input_details()[0]["index"]
        lm_outs = self._landmark.get_output_details()  # landmarks, presence, handedness, world
        self._lm_points, self._lm_presence = lm_outs[0]["index"], lm_outs[1]["index"]
        self.anchors = palm_anchors()

    # -- stages ---------------------------------------------------------------------------------
    def palms(self, rgb: np.ndarray, cx: float | None = None, cy: float | None = None,
              side: float | None = None, min_score: float | None = None) -> list[Palm]:
        """Palms in a square view of the frame (default: the whole frame letterboxed), best first,
        scoring at least ``min_score`` (default ``min_palm_score``)."""
        rgb = _as_rgb(rgb)
        h, w = rgb.shape[:2]
        side = side or float(max(h, w))
        cx = w / 2 if cx is None else cx
        cy = h / 2 if cy is None else cy
        x = sample_square(rgb, cx, cy, side, 0.0, PALM_INPUT, replicate=False)
        self._palm.set_tensor(self._palm_in, x[None])
        self._palm.invoke()
        boxes, kps, scores = decode_palms(self._palm.get_tensor(self._palm_boxes)[0],
                                          self._palm.get_tensor(self._palm_scores)[0], self.anchors,
                                          self.config.min_palm_score if min_score is None else min_score)
        out = []
        x0, y0 = cx - side / 2, cy - side / 2
        for box, k, score in weighted_nms(boxes, kps, scores, self.config.nms_iou):
            b = box * side
            out.append(Palm(x0 + (b[0] + b[2]) / 2, y0 + (b[1] + b[3]) / 2, b[2] - b[0], b[3] - b[1],
                            k * side + np.array([x0, y0], np.float32), score))
        return out

    def landmarks(self, rgb: np.ndarray, cx: float, cy: float, side: float, angle: float = 0.0,
                  palm_score: float = 0.0) -> Hand:
        """Runs the landmark model on one square region; landmarks in frame pixels."""
        x = sample_square(_as_rgb(rgb), cx, cy, side, angle, LANDMARK_INPUT, replicate=True)
        self._landmark.set_tensor(self._lm_in, x[None])
        self._landmark.invoke()
        raw = self._landmark.get_tensor(self._lm_points).reshape(21, 3)
        pts = raw[:, :2] / LANDMARK_INPUT - 0.5
        presence = float(self._landmark.get_tensor(self._lm_presence).reshape(-1)[0])
        c, s = math.cos(angle), math.sin(angle)
        px = cx + (c * pts[:, 0] - s * pts[:, 1]) * side
        py = cy + (s * pts[:, 0] + c * pts[:, 1]) * side
        return Hand(np.stack([px, py], axis=1), presence, palm_score, raw[:, 2] * (side / LANDMARK_INPUT))

    def hands(self, rgb: np.ndarray) -> list[Hand]:
        """Every hand of the first pass (the whole frame letterboxed; up to ``max_palms``) that
        passes ``min_presence``."""
        rgb = _as_rgb(rgb)
        out = []
        for palm in self.palms(rgb)[: self.config.max_palms]:
            hand = self.landmarks(rgb, *palm_region(palm), palm_score=palm.score)
            if hand.presence >= self.config.min_presence:
                out.append(hand)
        return out

    def first_pass(self, rgb: np.ndarray) -> Hand | None:
        """The most confident hand of :meth:`hands` (the whole frame, no fallback views), or ``None``."""
        return max(self.hands(rgb), key=lambda hd: hd.presence, default=None)

    def find_hand(self, rgb: np.ndarray) -> Hand | None:
        """The most confident hand, trying the fallback views when the first pass finds none, then
        the same on each retry copy (``retries``) of a frame that gave none; a retry's hand counts
        only from ``retry_min_presence``."""
        for name, hand in self.attempts(rgb):
            if hand is not None and (name == "frame" or hand.presence >= self.config.retry_min_presence):
                return hand
        return None

    def attempts(self, rgb: np.ndarray) -> Iterator[tuple[str, Hand | None]]:
        """The searches :meth:`find_hand` makes, in order and only as far as they are consumed:
        ``("frame", hand)``, then ``(retry name, hand)`` per retry copy, before any threshold on a
        retry's hand (``benchmarks/retry_presence.py`` reads them to set that threshold)."""
        rgb = _as_rgb(rgb)
        yield "frame", self._search(rgb)
        for name in self.config.retries:
            copy = np.asarray(Image.fromarray(rgb, "RGB").filter(RETRY_FILTERS[name].filter))
            # Without the tiles: a hand-free frame (the camera loop's slowest case) pays for every
            # retry, and the tiles are most of a search's palm detector runs.
            yield name, self._search(copy, tiles=False)

    def _search(self, rgb: np.ndarray, tiles: bool = True) -> Hand | None:
        """One frame's search: the first pass, then (``fallback``) the extra views (the zoomed-in
        tiles only with ``tiles``)."""
        if not self.config.fallback:
            return self.first_pass(rgb)
        h, w = rgb.shape[:2]
        long_side = float(max(h, w))
        weak: list[Palm] = []
        # 0. The first pass: the whole frame letterboxed.
        # 1. Zoomed in: overlapping square tiles; a small hand in a wide frame gets more pixels.
        # 2. Zoomed out: a hand that fills a close-up is too big for the palm detector.
        views = [(w / 2, h / 2, long_side), *(tile_views(w, h, self.config.tile_frac) if tiles else []),
                 (w / 2, h / 2, long_side * self.config.zoom_out)]
        for cx, cy, side in views:
            found = self._palm_view(rgb, cx, cy, side, weak)
            if found:
                return max(found, key=lambda hd: hd.presence)
        # 3. The best palms every view scored below min_palm_score (one per place).
        tried: list[Palm] = []
        for palm in sorted(weak, key=lambda p: -p.score):
            if len(tried) >= self.config.max_candidates:
                break
            if any(abs(palm.cx - q.cx) < q.w / 2 and abs(palm.cy - q.cy) < q.h / 2 for q in tried):
                continue
            tried.append(palm)
            hand = self.landmarks(rgb, *palm_region(palm), palm_score=palm.score)
            if hand.presence >= self.config.min_presence:
                return hand
        # 4. The whole frame as the landmark model's region (a hand filling the picture).
        hand = self.landmarks(rgb, w / 2, h / 2, long_side)
        return hand if hand.presence >= self.config.min_presence else None

    def _palm_view(self, rgb: np.ndarray, cx: float, cy: float, side: float, weak: list[Palm]) -> list[Hand]:
        """Hands among the best ``max_palms`` palms of one square view that pass ``min_palm_score``
        and ``min_presence``; palms between ``candidate_score`` and ``min_palm_score`` go to ``weak``."""
        low = min(self.config.candidate_score, self.config.min_palm_score)
        palms = self.palms(rgb, cx, cy, side, min_score=low)
        out = []
        for palm in [p for p in palms if p.score >= self.config.min_palm_score][: self.config.max_palms]:
            hand = self.landmarks(rgb, *palm_region(palm), palm_score=palm.score)
            if hand.presence >= self.config.min_presence:
                out.append(hand)
        weak.extend(p for p in palms if p.score < self.config.min_palm_score)
        return out

    # -- public API -----------------------------------------------------------------------------
    def find(self, rgb: np.ndarray) -> HandBox | None:
        """The box around the landmarks of the most confident hand, or ``None``."""
        hand = self.find_hand(rgb)
        return hand.box() if hand is not None else None

    def crop(self, rgb: np.ndarray, box: HandBox, size: int | None = None) -> np.ndarray:
        """A square crop centred on ``box``: side ``max(w, h) * (1 + margin)``, edge-replicated
        where it leaves the frame; resized to ``size`` x ``size`` (bilinear) when given. With
        ``upright`` (and a box from landmarks) the square is the hand's own, turned upright."""
        if self.config.upright and box.upright is not None:
            return crop_upright(rgb, box.upright, self.config.margin, size)
        return crop_square(rgb, box, self.config.margin, size)


class HandTracker:
    """Video mode for one camera stream, as MediaPipe's hand tracking: the landmark model follows
    the last frame's hand in the region its landmarks give (:func:`tracking_region`), with no palm
    detection; the search runs only when there is no hand to follow.

    A frame without a hand is the live loop's slowest (every fallback view and retry of
    :meth:`HandLocaliser.find_hand`), so while no hand is in view the full search runs on every
    ``search_every``-th frame and the others get the first pass alone (one palm detector run).
    A hand that only the full search finds is then found at most ``search_every - 1`` frames late.

    Args:
        localiser: the model's localiser (its thresholds apply to tracked hands too).
        search_every: full search on every n-th hand-free frame (1: on all of them).
    """

    def __init__(self, localiser: HandLocaliser, search_every: int = 4):
        if search_every < 1:
            raise DataError(f"search_every must be at least 1, got {search_every}")
        self.localiser = localiser
        self.search_every = search_every
        self.counts = {"tracked": 0, "first_pass": 0, "full_search": 0}
        self._last: Hand | None = None
        self._hand_free = 0  # hand-free frames since the last full search

    def update(self, rgb: np.ndarray) -> Hand | None:
        """The hand in this frame (the next in the stream), or ``None``."""
        rgb = _as_rgb(rgb)
        if self._last is not None:
            hand = self.localiser.landmarks(rgb, *tracking_region(self._last))
            if hand.presence >= self.localiser.config.min_presence:
                self.counts["tracked"] += 1
                self._last = hand
                return hand
            self._hand_free = 0  # lost it: search the whole frame now
        if self._hand_free % self.search_every == 0:
            self.counts["full_search"] += 1
            hand = self.localiser.find_hand(rgb)
        else:
            self.counts["first_pass"] += 1
            hand = self.localiser.first_pass(rgb)
        self._hand_free = 0 if hand is not None else self._hand_free + 1
        self._last = hand
        return hand


def crop_square(rgb: np.ndarray, box: HandBox, margin: float, size: int | None = None) -> np.ndarray:
    """See :meth:`HandLocaliser.crop`; usable without loading any model."""
    rgb = _as_rgb(rgb)
    h, w = rgb.shape[:2]
    side = max(2, int(round(max(box.width, box.height) * (1 + margin))))
    cx, cy = box.center
    x0, y0 = math.floor(cx - side / 2 + 0.5), math.floor(cy - side / 2 + 0.5)
    rows = np.clip(np.arange(y0, y0 + side), 0, h - 1)
    cols = np.clip(np.arange(x0, x0 + side), 0, w - 1)
    out = rgb[rows[:, None], cols[None, :]]
    if size is not None and size != side:
        out = np.asarray(Image.fromarray(out, "RGB").resize((size, size), Image.Resampling.BILINEAR))
    return out


def crop_upright(rgb: np.ndarray, hand: UprightBox, margin: float, size: int | None = None) -> np.ndarray:
    """The upright square around ``hand`` (side ``max(w, h) * (1 + margin)`` along its own axes),
    bilinear, edge-replicated where it leaves the frame; ``size`` x ``size``, or its own side in
    pixels when ``size`` is ``None`` (as :func:`crop_square`)."""
    side = max(2.0, max(hand.width, hand.height) * (1 + margin))
    out_size = size if size is not None else max(2, int(round(side)))
    return np.asarray(_warp_square(_as_rgb(rgb), hand.cx, hand.cy, side, hand.angle, out_size, replicate=True))


_CACHE: dict[str, HandLocaliser] = {}


def cached_localiser(settings: dict, threads: int | None = 1) -> HandLocaliser:
    """One :class:`HandLocaliser` per recorded setting (the models load once per process).

    Args:
        settings: :meth:`LocaliserConfig.to_dict` as recorded in a model's preprocessing.
        threads: LiteRT threads of the two hand models.
    """
    import json

    key = json.dumps(settings, sort_keys=True) + f"|{threads}"
    if key not in _CACHE:
        from asl_edge.runtime.quiet import quiet_native_stderr

        with quiet_native_stderr():  # LiteRT's "Created TensorFlow Lite XNNPACK delegate" line
            _CACHE[key] = HandLocaliser(LocaliserConfig.from_dict(settings), threads=threads)
    return _CACHE[key]
