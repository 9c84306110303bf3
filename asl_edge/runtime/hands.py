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
misses, or where it finds only hands small for the frame (``signer_share``: a bystander's), pay
for this; among several hands the signer's is chosen (:func:`signer_score`: large, confident,
where the stream's last hand was; a hand too unsure to settle the search also weighed by how surely
the classifier reads it, ``sign_weight``). Whatever its presence, an answer of the landmark model whose
21 landmarks are shaped like no hand's is none (``max_shape_distance``: a Gaussian of real hands'
shapes, :data:`SHAPE_FILE`). A frame where none of that finds a hand is searched again, without the tiles,
on the retry copies of ``LocaliserConfig.retries`` (:data:`RETRY_FILTERS`: smoothed, then
sharpened, brightened; the levels stretched if asked for), keeping a hand only above ``retry_min_presence``:
sensor noise and JPEG blocks hide a hand from the palm detector, and so do blur and a dim room. A frame that still has
no hand is searched once more, all of the above, by a second pair of models
(``LocaliserConfig.second_models``: MediaPipe's full palm detector and landmark model), which
misses other hands than the lite pair.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, replace
from functools import cache, partial
from pathlib import Path

import numpy as np
from PIL import Image, ImageFilter, ImageOps

from asl_edge.runtime.errors import DataError, ModelError, refuse_unknown_keys
from asl_edge.runtime.fsutil import printable
from asl_edge.runtime.landmarks import normalise

ASSETS = Path(__file__).parent / "assets" / "hands"
MAX_PALMS, MAX_CANDIDATES, MAX_ZOOM_OUT, MAX_MARGIN, MAX_SIGN_WEIGHT, MAX_WIDEN = 16, 64, 4.0, 2.0, 8.0, 6.0
MAX_REFINE = 3
# A wider look's hand replaces the one found only when its box's long side is at least this many times
# the found one's. Development scenes: of the sure wider readings, those of a hand already read right
# came back 1.2-2.0 times as large (p5-p95), those only the wider reading read right 1.7-2.5 times;
# 1.5 was chosen among 1.2-2.0 (benchmarks/results/hands/widen_dev.json, widen_camera_dev.json).
WIDEN_GAIN = 1.5
MAX_SHAPE_DISTANCE = 1000.0
MODEL_SOURCE = {
    "package": "mediapipe",
    "version": "0.10.14",
    "licence": "Apache-2.0",
    "url": "https://pypi.org/project/mediapipe/0.10.14/",
}
# Landmark shapes of real hands (benchmarks/hand_shape.py: a Gaussian fitted to the training signers'
# hands; provenance in hand_shape.json beside it).
SHAPE_FILE = ASSETS / "hand_shape.npz"
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
        filter: the Pillow filter that makes the copy, or a function of the image that does.
        against: what it undoes.
    """

    name: str
    filter: ImageFilter.Filter | Callable[[Image.Image], Image.Image]
    against: str

    def apply(self, img: Image.Image) -> Image.Image:
        return img.filter(self.filter) if isinstance(self.filter, ImageFilter.Filter) else self.filter(img)


# Chosen on the camera model's held-out close-ups under the shift suite (benchmarks/localiser_retries.py,
# benchmarks/results/hands/retries*.json): a Gaussian of sigma 1 pixel gave JPEG-10 frames their hand
# back more often than sigma 1.5 or a 3x3 median; unsharp masking (radius 2, 200%) does for blurred
# frames what smoothing cannot. A gamma of 0.6 ("brighten") gives a far signer in a dim room back: chosen
# on development scene sets (validation signers on TRAIN photographs), confirmed on the test sets, hand-free
# windows included (benchmarks/results/hands/retries_brighten.json). Stretching each channel's levels
# ("stretch") is not in the default retries, only offered: it gave a flat, dim frame's hand back where the
# gamma did not on development scenes (harsh set: 456 -> 462 of 540 read right, the others unchanged,
# 2 more false hands in 200 hand-free windows: benchmarks/results/hands/stretch_dev.json), but the test
# scene sets read exactly as without it (benchmarks/results/scenes/bystanders_stretch.json).
RETRY_FILTERS = {f.name: f for f in (
    RetryFilter("smooth", ImageFilter.GaussianBlur(1.0), "sensor noise, JPEG blocks"),
    RetryFilter("sharpen", ImageFilter.UnsharpMask(radius=2, percent=200, threshold=0), "blur (out of focus, motion)"),
    RetryFilter("brighten", ImageFilter.Color3DLUT.generate(17, lambda r, g, b: (r ** 0.6, g ** 0.6, b ** 0.6)),
                "a dim room, an underexposed frame"),
    RetryFilter("stretch", partial(ImageOps.autocontrast, cutoff=1),
                "a flat, dim frame: each channel's levels stretched to the full range (1% clipped at each end)"),
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

    @property
    def side(self) -> float:
        """The long side."""
        return max(self.width, self.height)


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


@cache
def _shape_model() -> tuple[np.ndarray, np.ndarray]:
    """The mean and precision matrix of real hands' shapes (:data:`SHAPE_FILE`)."""
    try:
        with np.load(SHAPE_FILE, allow_pickle=False) as z:
            return z["mean"], z["precision"]
    except (OSError, KeyError, ValueError) as exc:
        raise ModelError(f"cannot load the hand-shape model {SHAPE_FILE.name}: {exc}") from None


def shape_features(hand: Hand) -> np.ndarray:
    """The hand's shape: x and y of landmarks 1-20 upright, at unit palm size, as a right hand."""
    return normalise(hand.points())[1:, :2].ravel()


def shape_distance(hand: Hand) -> float:
    """How far the hand's landmarks lie from real hands' shapes (Mahalanobis distance; the training
    hands of :data:`SHAPE_FILE` lie within 17.1, 99% of them within 8.7)."""
    mean, precision = _shape_model()
    x = shape_features(hand) - mean
    return float(np.sqrt(max(float(x @ precision @ x), 0.0)))


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
        small_tile_frac: after the zoomed-out view, on the frame itself (not its retry copies),
            tiles of this share of the short side, for a hand further away (0: none).
            The palm detector finds a far hand's palm when the view is about as high as the hand:
            of 26 dim, blurred frames with the hand at 28-40% of the frame height that the search
            missed, in 23 with such a view, 10 at the size of the ``tile_frac`` tiles, 4 in the
            whole frame. On those development scenes (validation signers, TRAIN photographs, 540
            frames) 0.45 found a hand in 94.1% instead of 90.6% and read 88.2% instead of 85.6%
            right, for 39 ms more CPU a frame on average (0.35: the same, for more); the test scene
            sets then gained too (benchmarks/results/scenes/bystanders_small_tiles.json). Recorded
            settings without it read this default (the localiser is not trained).
        candidate_score: palms of any view scoring between this and ``min_palm_score`` are kept...
        max_candidates: ...and the best this many (one per place) go through the landmark model
            when no view found a hand (0: never). Six rather than three: on the development scenes
            (validation signers, TRAIN photographs) 3 more `hard` frames of 540 and 3 more `harsh`
            ones, for 2 more false hands in 200 hand-free windows
            (benchmarks/results/hands/candidates6_dev.json).
        zoom_out: the fallback's zoomed-out view pads the frame to this many times its long side.
        margin: :meth:`HandLocaliser.crop` side is ``max(w, h) * (1 + margin)`` of the landmark box.
        retries: names in :data:`RETRY_FILTERS`, in order: when the frame gives no hand, the same
            search on each filtered copy until one does (boxes are in the frame's own pixels, the
            crop is cut from the frame itself). Settings recorded before retries existed read as
            none, so an older artifact finds exactly the hands it found before.
        second_models: a second pair of hand models (palm detector stem, landmark model stem;
            empty: none) that searches the frame again, every step of the plan with its own
            palms and landmarks, when the first pair (on the frame and its retry copies) found no
            hand. MediaPipe's full pair misses other hands than the lite one: of the dim, blurred,
            far signers the lite pair missed in development scenes (validation signers, TRAIN
            photographs) it found most (benchmarks/results/hands/second_models.json). It costs
            only frames without a hand found. Settings recorded without it read this default (the
            localiser is not trained: a hand found where none was before gets the crop or landmarks
            of any other hand, as a frame with a hand always did).
        retry_min_presence: presence a hand found on a retry copy must reach: a filtered copy of
            a hand-free frame shows hand-like shapes (the retries' false hands in 200 hand-free
            windows of the TRAIN backgrounds scored 0.83-0.90, while 34 of 52 hands they gave back
            in JPEG-10 validation close-ups scored 0.92 or more;
            benchmarks/results/hands/retry_presence.json).
        second_min_presence: presence a hand found by the ``second_models`` must reach (on any copy;
            a retry copy's hand must reach ``retry_min_presence`` as well); at ``min_presence`` (the
            default) its hands count as the first pair's do. Raising it trades hands found for fewer
            false hands in hand-free frames: 0.88 removed the 3 false hands the second pair added in
            200 hand-free windows of development scenes and no right answer there, but on the test
            scenes 1 false hand of 200 for 3 hard frames of 534 read right, so it is not the default
            (benchmarks/results/hands/second_floor_*.json).
        max_shape_distance: a hand whose landmarks lie further than this from real hands' shapes
            (:func:`shape_distance`; the training signers' own hands: median 3.9, 99% within 8.7, all
            within 17.1) is not a hand, whatever its presence: the landmark model reads some textures
            (petals, bark, skin-toned clutter) as a large hand at presence 0.95 or more, with landmarks
            scattered as no hand holds them, and such a hand ended the search before the signer's was
            found. Development scenes, on top of ``settle_small``: ``hard`` 506 -> 516 of 540 read
            right, ``harsh`` 442 -> 456, ``bystanders`` 528 unchanged, the held-out close-ups 98.50%
            unchanged (benchmarks/results/hands/shape_dev.json; 12 read the same scenes and one
            close-up more, shape_dev_12.json, but rejects more real hands). 0: no check (recorded
            settings without it read this default: the localiser is not trained).
        signer_share: a hand whose box's long side is under this share of the frame's short side
            is small for the frame (a bystander's, 10-30 pixels, rather than the signer's): the
            search looks wider (every view) before answering, and the signer is chosen among all
            it found (:func:`signer_score`). 0: stop at the first view that finds any hand, as
            before it existed (an artifact recorded without it reads the default: the choice
            needs no retraining).
        settle_presence: a hand found settles the search (no wider views, retry copies or second
            pair for its sake) only from this presence; a weaker one is kept, the search goes on and
            the signer is chosen among all it found. Of the 44 dim, blurred development scenes
            whose signer the search missed, 35 were answered with another hand, most of them seen
            in a texture at presence 0.80-0.90, which had ended the search; 0.9 was measured there
            (benchmarks/results/hands/settle_dev_0.9.json) and confirmed on the test scenes
            (benchmarks/results/scenes/bystanders_settle.json). At ``min_presence`` or below every
            hand settles it, as before it existed; recorded settings without it read this default
            (the localiser is not trained).
        settle_small: a sure hand small for the frame (``signer_share``) ends the search too, as
            before this field existed. False (the default): it ends only the wider views' need, never the
            retry copies and second pair that a large hand would make needless, since the signer's
            hand, far, dim and blurred, may be found only there while a bystander's small hand was
            found sure at once. Development scenes (validation signers, TRAIN photographs): ``hard``
            504 -> 506 of 540 read right, ``bystanders`` 525 -> 528, ``harsh`` 442 unchanged, the same
            8 false hands in 200 hand-free windows (benchmarks/results/hands/settle_small_dev.json).
            Recorded settings without it read this default (the localiser is not trained).
        sign_weight: among hands in several places, the score (:func:`signer_score`) of a hand too
            unsure to settle a search (``settle_presence``) is multiplied by the classifier's top-1
            probability on it to this power, when the caller passes the model as a judge
            (``asl-edge predict``, ``evaluate``, the live loop): a hand seen in a texture reads unsure.
            Sure hands are not weighed: a bystander's clear sign must not outweigh the signer's hand
            read unsure. Dim, blurred development scenes: 498 -> 504 of 540 frames read right, those
            with bystanders unchanged (benchmarks/results/hands/sign_weight_dev.json; weighing every
            hand read 505, to the power 4 503: sign_weight_dev_every_place.json); the test ones
            90.45 -> 91.20% (camera) and 89.70 -> 90.64% (fused), the others unchanged
            (benchmarks/results/scenes/bystanders_sign.json, bystanders_fusion_sign.json). 0: the
            model plays no part, as before it existed (recorded settings without it read this
            default: the localiser is not trained).
        vote_frames: the live loop (``predict --camera``) answers the label most of the last this
            many frames gave (:class:`asl_edge.runtime.stream.LabelVote`; 1: each frame's own).
            Recorded here, with the other settings of the model's camera pipeline, so a model
            carries the smoothing it was measured with; ``--vote`` overrides it. 3: on synthetic
            clips a one-frame slip never shows (label changes while a sign is held 0.10 -> 0.03
            per second) for one frame's delay at a change of sign; 5 removed the rest but cost
            two (benchmarks/results/scenes/clips_budget.json).
        widen: the hand a search answers with is read once more by the landmark model in a region this
            many times its box's long side around it (turned as the hand), and the reading replaces it when it is
            a hand, sure enough to settle a search (``settle_presence``) and at least ``WIDEN_GAIN`` times as
            large. The palm detector sometimes gives a region that holds the palm and not the raised fingers; the
            landmark model then reads a fist there, sure of it, and the crop misses the fingers (a "2" read as
            "1"). Development scenes (validation signers, TRAIN photographs; base, hard, harsh, bystanders, 540
            frames each), frames read right: the fused reference 534/507/454/531 -> 534/509/454/532, the camera
            reference 533/507/459/530 -> 533/508/460/532; 3 with ``settle_presence`` and ``WIDEN_GAIN`` within
            one frame of the best of 60 rules (1.6-3 times, presence 0.8-0.95, gain 1.2-2;
            benchmarks/results/hands/widen_dev.json, widen_camera_dev.json). One landmark call more per search
            (the live loop: in the search's frame if its budget has room, else in the next; a hand followed from
            frame to frame is not read again); on the held-out close-ups under the checkerboard the fused
            reference reads 6 of 267 fewer (the whole hand brings more of the pattern in). 0: never; recorded
            settings without it read this default (the localiser is not trained).
        refine: the hand a search answers with is read again this many times by the landmark model in the
            region its own landmarks give (:func:`tracking_region`, as MediaPipe's tracking reads the next
            frame), each reading kept while it is a hand (:meth:`HandLocaliser.is_hand`). A search's region
            comes from a palm box or a wider look and frames the hand loosely; the region its landmarks give
            frames it as the landmark model was trained, and the second reading places the joints better,
            most where the background has edges of the fingers' size. Chosen on validation signers: the fused
            reference over 18 camera shifts and the unchanged close-ups (270 images), mean 98.58 / 98.97 /
            99.01% and worst 95.19 / 96.67 / 96.30% (the checkerboard 95.19 -> 97.41%) for 0 / 1 / 2
            readings again (benchmarks/results/hands/refine_val.json); development scenes (base, hard, harsh,
            bystanders; 540 frames each) 533/508/460/532 / 535/509/458/532 / 534/509/458/532 read right
            (refine_dev_0/1/2.json). On the held-out close-ups under the checkerboard the fused reference
            reads 92.9% instead of 89.9% (shifts/fusion_refine.json). One landmark call more per search; the
            live loop's search under a frame budget leaves it to the next frame, which reads a followed hand
            in that region anyway. 0: never; recorded settings without it read this default (the localiser
            is not trained).
        reread: the landmarks a landmark or fused model reads are the found hand's read once more by the
            second pair's landmark model (``second_models``: MediaPipe's full one) in the region its landmarks
            give (:func:`tracking_region`), where that reading is a hand (:meth:`HandLocaliser.is_hand`); the
            crop is cut as before. The lite model places the folded fingers wrong before busy, skin-coloured
            backgrounds. One full landmark call more per hand read. False: the search's own landmarks; recorded
            settings without it read this default. It changes what the classifier reads, not where the search
            looks, but both models are MediaPipe's with the same landmarks, so an export or a fusion may set it
            (``--localiser reread=true``): the fused reference, whose landmark classifier learned the lite
            model's landmarks, reads the held-out checkerboard at 95.5% instead of 92.9% and 37 of 37 camera
            shifts at 95% or more instead of 36 (benchmarks/results/shifts/fusion_reread.json).
        upright: :meth:`HandLocaliser.crop` turns the hand upright (wrist below the middle
            finger's knuckle, as MediaPipe turns the hand for its landmark model) and frames it
            along its own axes, so a tilted hand or camera reaches the classifier as an upright
            one. Settings recorded before it existed read as false (the axis-aligned crop).
        whole_without_hand: a single picture (a file, ``Model.predict``, ``evaluate``) in which no
            hand is found is read whole by a crop model, as its training read the close-ups whose
            hand was not found, and the answer says no hand was found; a stream of frames (the live
            loop) never is: there a frame without a hand says no hand. A close-up whose hand the
            localiser misses (JPEG blocks, noise, blur) is still a close-up: on the camera model's
            held-out close-ups the whole picture read 78 of 82 such images right at JPEG quality
            10 and 26 of 26 under noise 20 (benchmarks/results/shifts/whole_without_hand.json).
            A landmark model cannot (no landmarks without a hand); a fused one reads it with its
            crop model alone where its row has the hand flag (``FusionSpec.hand_flag``). Settings
            recorded before it existed read this default (the classifier was trained that way).
    """

    palm_model: str = "palm_detection_lite"
    landmark_model: str = "hand_landmark_lite"
    min_palm_score: float = 0.3
    nms_iou: float = 0.3
    min_presence: float = 0.8
    max_palms: int = 2
    fallback: bool = True
    tile_frac: float = 0.75
    small_tile_frac: float = 0.45
    candidate_score: float = 0.05
    max_candidates: int = 6
    zoom_out: float = 1.6
    margin: float = 0.25
    retries: tuple[str, ...] = ("smooth", "sharpen", "brighten")
    second_models: tuple[str, ...] = ("palm_detection_full", "hand_landmark_full")
    retry_min_presence: float = 0.92
    second_min_presence: float = 0.8
    max_shape_distance: float = 16.0
    signer_share: float = 0.15
    settle_presence: float = 0.9
    settle_small: bool = False
    sign_weight: float = 1.0
    vote_frames: int = 3
    widen: float = 3.0
    refine: int = 1
    reread: bool = False
    upright: bool = False
    whole_without_hand: bool = True

    def __post_init__(self):
        object.__setattr__(self, "retries", tuple(self.retries))  # lists read back from JSON
        object.__setattr__(self, "second_models", tuple(self.second_models))
        unknown = [r for r in self.retries if r not in RETRY_FILTERS]
        if unknown:
            raise DataError(f"unknown localiser retry '{unknown[0]}'; known: {', '.join(RETRY_FILTERS)}")
        # Settings are read from artifacts and runs, which anyone can write: a model is named by the
        # stem of a file shipped in the package, never a path (``../../x`` would load any .tflite).
        known = sorted(p.stem for p in ASSETS.glob("*.tflite"))
        if len(self.second_models) not in (0, 2):
            raise DataError("second_models names a palm detector and a landmark model, or nothing")
        for name in self.model_names():
            if not isinstance(name, str) or name not in known:
                raise ModelError(f"unknown hand model {str(name)[:80]!r}; bundled: {', '.join(known)}")
        if not all(0 < v < 1 for v in (self.min_palm_score, self.min_presence, self.nms_iou, self.retry_min_presence,
                                        self.second_min_presence)):
            raise DataError("min_palm_score, min_presence, retry_min_presence, second_min_presence and nms_iou must "
                            "lie between 0 and 1")
        if isinstance(self.vote_frames, bool) or not isinstance(self.vote_frames, int) or self.vote_frames < 1:
            raise DataError(f"vote_frames must be a whole number of at least 1, got {self.vote_frames!r}")
        for flag in ("whole_without_hand", "settle_small", "reread"):
            if not isinstance(getattr(self, flag), bool):
                raise DataError(f"{flag} must be true or false, got {getattr(self, flag)!r}")
        if self.reread and not self.second_models:
            raise DataError("reread reads the found hand again with the second pair's landmark model: it needs "
                            "second_models")
        if not 0 <= self.settle_presence <= 1:
            raise DataError(f"settle_presence must lie between 0 and 1, got {self.settle_presence}")
        if not 0 <= self.sign_weight <= MAX_SIGN_WEIGHT:
            raise DataError(f"sign_weight must lie between 0 and {MAX_SIGN_WEIGHT}, got {self.sign_weight}")
        if not 0 <= self.max_shape_distance <= MAX_SHAPE_DISTANCE:
            raise DataError(f"max_shape_distance must lie between 0 and {MAX_SHAPE_DISTANCE:g}, "
                            f"got {self.max_shape_distance}")
        if not 0 <= self.signer_share <= 1:
            raise DataError(f"signer_share must lie between 0 and 1, got {self.signer_share}")
        if not (self.widen == 0 or 1 < self.widen <= MAX_WIDEN):
            raise DataError(f"widen must be 0 (never) or lie above 1 and at most {MAX_WIDEN:g}, got {self.widen}")
        if isinstance(self.refine, bool) or not isinstance(self.refine, int) or not 0 <= self.refine <= MAX_REFINE:
            raise DataError(f"refine must be a whole number from 0 to {MAX_REFINE}, got {self.refine!r}")
        if self.max_candidates < 0 or not 0 < self.candidate_score < 1:
            raise DataError("max_candidates must be >= 0 and candidate_score between 0 and 1")
        # Upper bounds too: a crop's side is the hand's times (1 + margin), and a search runs the
        # models once per palm, candidate and zoomed view (a margin of 1e4 asked for 3 GB crops).
        if not (1 <= self.max_palms <= MAX_PALMS and 1 <= self.zoom_out <= MAX_ZOOM_OUT
                and 0 <= self.margin <= MAX_MARGIN and 0.2 <= self.tile_frac <= 1
                and (self.small_tile_frac == 0 or 0.2 <= self.small_tile_frac <= 1)
                and self.max_candidates <= MAX_CANDIDATES):
            raise DataError(f"max_palms must lie in 1..{MAX_PALMS}, zoom_out in 1..{MAX_ZOOM_OUT:g}, margin in "
                            f"0..{MAX_MARGIN:g}, tile_frac (and small_tile_frac, or 0) in 0.2..1 and max_candidates at "
                            f"most {MAX_CANDIDATES}")

    def pairs(self) -> list[tuple[str, str]]:
        """The (palm detector, landmark model) pairs a search uses, in order."""
        return [(self.palm_model, self.landmark_model)] + ([self.second_models] if self.second_models else [])

    def model_names(self) -> list[str]:
        return [name for pair in self.pairs() for name in pair]

    def models(self) -> dict:
        """Source, licence and sha256 of the model files."""
        return {name: {**MODEL_SOURCE, "file": f"{name}.tflite", "sha256": _sha256(ASSETS / f"{name}.tflite")}
                for name in self.model_names()}

    def to_dict(self) -> dict:
        """JSON-ready settings plus the models' provenance (``models``), for run folders and artifacts."""
        return {**asdict(self), "retries": list(self.retries), "second_models": list(self.second_models),
                "models": self.models()}

    @classmethod
    def from_dict(cls, d: dict) -> LocaliserConfig:
        """Reverses :meth:`to_dict`; a recorded ``models`` entry must match the bundled files.

        Raises:
            DataError: unknown keys.
            ModelError: a recorded model sha256 that differs from the bundled file.
        """
        d = dict(d)
        recorded = d.pop("models", None)
        refuse_unknown_keys(d, cls.__dataclass_fields__, "localiser")
        d.setdefault("retries", ())  # recorded before retries existed: behave as then
        try:
            config = cls(**d)
        except TypeError:  # a crafted value of the wrong type (a string margin, a list of palms)
            raise DataError("localiser settings of the wrong type: the file is damaged or crafted") from None
        if recorded is not None:
            for name, info in config.models().items():
                if name in recorded and recorded[name].get("sha256") != info["sha256"]:
                    raise ModelError(f"the recorded {name} (sha256 {recorded[name].get('sha256')}) is not the "
                                     f"bundled one ({info['sha256']})")
        return config


# What a found hand's crop and landmarks are made of: the classifier was trained on them, so only a
# new training run may change these. Every other field decides where the search looks and when it
# stops, which an export may set over the run's record (``with_search_settings``).
CROP_FIELDS = frozenset({"palm_model", "landmark_model", "margin", "upright"})


def with_search_settings(recorded: dict, settings: dict) -> dict:
    """``recorded`` localiser settings with ``settings`` (field -> value) over them, checked as a
    recorded one is.

    Raises:
        DataError: a field that shapes the crop (:data:`CROP_FIELDS`), an unknown field, or a bad value.
    """
    unknown = sorted(set(settings) - set(LocaliserConfig.__dataclass_fields__))
    if unknown:
        raise DataError(f"unknown localiser field {printable(unknown[0])}; known: "
                        f"{', '.join(sorted(set(LocaliserConfig.__dataclass_fields__) - CROP_FIELDS))}")
    shaping = sorted(set(settings) & CROP_FIELDS)
    if shaping:
        raise DataError(f"the localiser's {shaping[0]} shapes the hand the classifier was trained on: "
                        "train again to change it")
    defaults = LocaliserConfig()
    for name, value in settings.items():
        _check_kind(name, value, getattr(defaults, name))
    merged = {**recorded, **settings}
    LocaliserConfig.from_dict(merged)  # a value out of its range stops here
    return merged


def _check_kind(name: str, value, default) -> None:
    """``value`` is of ``default``'s kind: true/false, a whole number, a number, or a list of names."""
    if isinstance(default, bool):
        ok, kind = isinstance(value, bool), "true or false"
    elif isinstance(default, int):
        ok, kind = isinstance(value, int) and not isinstance(value, bool), "a whole number"
    elif isinstance(default, float):
        ok, kind = isinstance(value, (int, float)) and not isinstance(value, bool), "a number"
    else:
        ok, kind = isinstance(value, (list, tuple)) and all(isinstance(v, str) for v in value), "a list of names"
    if not ok:
        raise DataError(f"localiser field {name} takes {kind}, got {printable(str(value))[:80]}")


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


# -- which hand is the signer's ---------------------------------------------------------------------
# A hand that continues the stream's last hand (box IoU 1) gains this much over one that does not: it
# keeps a signer's hand chosen against a larger passer-by for a frame or two, and is small against
# the size term, so a bystander's small hand followed so far loses to a signer's hand found later.
FOLLOW_WEIGHT = 0.25
# A judge: the classifier's top-1 probability on one hand of an RGB frame (``Predictor.judge``).
Judge = Callable[[np.ndarray, "Hand"], float]
SAME_HAND_OVERLAP = 0.5  # hands whose boxes share this much of the smaller one are one hand (two views' or palms')


def box_iou(a: HandBox, b: HandBox) -> float:
    """Intersection over union of two boxes."""
    ix = max(0.0, min(a.x1, b.x1) - max(a.x0, b.x0))
    iy = max(0.0, min(a.y1, b.y1) - max(a.y0, b.y0))
    union = a.width * a.height + b.width * b.height - ix * iy
    return ix * iy / union if union > 0 else 0.0


def same_hand(a: HandBox, b: HandBox) -> bool:
    """Whether two boxes are one hand: their intersection is most of the smaller box (a second palm
    on the same hand gives a part of it, whose IoU with the whole is small)."""
    ix = max(0.0, min(a.x1, b.x1) - max(a.x0, b.x0))
    iy = max(0.0, min(a.y1, b.y1) - max(a.y0, b.y0))
    smaller = min(a.width * a.height, b.width * b.height)
    return smaller > 0 and ix * iy >= SAME_HAND_OVERLAP * smaller


def one_per_place(hands: list[Hand], key: Callable[[Hand], float]) -> list[Hand]:
    """The best of ``hands`` by ``key`` in each place (:func:`same_hand`), best first."""
    kept: list[Hand] = []
    for hand in sorted(hands, key=lambda hd: -key(hd)):
        if not any(same_hand(hand.box(), k.box()) for k in kept):
            kept.append(hand)
    return kept


def _on_frame(judge: Judge | None, rgb: np.ndarray) -> Callable[[Hand], float] | None:
    """``judge`` for the hands of one frame."""
    return None if judge is None else (lambda hand: judge(rgb, hand))


def signer_score(hand: Hand, width: int, height: int, follow: Hand | None = None) -> float:
    """How likely ``hand`` is the signer's in a ``width`` x ``height`` frame: its box's long side as
    a share of the frame's short side (the signer is near the camera; a bystander's hand is 10-30
    pixels), times the landmark model's presence (a hand seen clearly, facing the camera), plus
    :data:`FOLLOW_WEIGHT` times its overlap with ``follow``, the stream's last hand (held steady)."""
    box = hand.box()
    score = min(1.0, box.side / min(width, height)) * hand.presence
    if follow is not None:
        score += FOLLOW_WEIGHT * box_iou(box, follow.box())
    return score


@dataclass(frozen=True)
class SearchStep:
    """One step of a frame's search (:meth:`HandLocaliser.search_plan`): the palms of one square
    ``view`` (centre x, y and side in frame pixels; ``kind`` "view"), the weak palms the views
    gathered ("weak"), or the whole frame into the landmark model ("whole"), on the frame itself
    (``copy`` "frame") or on a retry copy (a name in :data:`RETRY_FILTERS`), by the hand models of
    ``pair`` (0: the first pair, 1: ``LocaliserConfig.second_models``)."""

    copy: str
    kind: str
    view: tuple[float, float, float] | None = None
    pair: int = 0

    @property
    def source(self) -> tuple[int, str]:
        """The pair and copy whose weak palms this step gathers, and that a too weak retry closes."""
        return self.pair, self.copy


@dataclass
class SearchState:
    """What a search has gathered: hands found, weak palms per copy, copies given up, steps taken,
    and the step under way (its regions still to read).
    ``exhaustive``: take every view of the frame whatever was found (:meth:`HandLocaliser.find_hands`)."""

    exhaustive: bool = False
    hands: list[Hand] = field(default_factory=list)
    weak: dict[tuple[int, str], list[Palm]] = field(default_factory=dict)
    closed: set[tuple[int, str]] = field(default_factory=set)
    steps: int = 0
    pending: dict = field(default_factory=dict)  # step -> regions it still has to read (stopped by the budget)


class _Copies(dict):
    """A frame and its retry copies, each filtered when a step first needs it."""

    def __init__(self, rgb: np.ndarray):
        super().__init__(frame=rgb)

    def __missing__(self, name: str) -> np.ndarray:
        self[name] = np.asarray(RETRY_FILTERS[name].apply(Image.fromarray(self["frame"], "RGB")))
        return self[name]


class BudgetSpent(Exception):
    """A model call would not fit in what is left of the frame's budget (:class:`FrameMeter`)."""


class FrameMeter:
    """Times the hand models' calls within one frame against a budget in seconds.

    A frame's first call always runs; every later one only when the time used so far plus that
    model's expected duration fits, so a frame exceeds the budget by at most one call (and only
    when that call takes longer than expected). The expectation follows the measured durations:
    up at once to a longer call, down slowly.

    Args:
        budget_s: seconds per frame for the hand models.
        clock: seconds, monotonic (``time.perf_counter``; a fake clock in tests).
    """

    def __init__(self, budget_s: float, clock=None):
        import time

        self.budget_s = budget_s
        self.clock = clock or time.perf_counter
        self.expected: dict[str, float] = {}
        self.start()

    def start(self) -> None:
        """A new frame begins now."""
        self.started, self.calls = self.clock(), 0

    def used(self) -> float:
        return self.clock() - self.started

    def before(self, kind: str) -> None:
        """Raises :class:`BudgetSpent` unless a call of ``kind`` fits in what is left."""
        if self.calls and self.used() + self.expected.get(kind, 0.0) > self.budget_s:
            raise BudgetSpent(kind)

    def after(self, kind: str, seconds: float) -> None:
        self.calls += 1
        old = self.expected.get(kind, 0.0)
        self.expected[kind] = seconds if seconds > old else 0.9 * old + 0.1 * seconds


# The frame budget's names for each pair's model calls (FrameMeter learns each one's duration).
PAIR_KINDS = (("palm", "landmark"), ("second palm", "second landmark"))


class ModelPair:
    """A palm detector and a hand landmark model, loaded (LiteRT interpreters), with their tensors."""

    def __init__(self, palm, landmark):
        self.palm, self.landmark = palm, landmark
        self._palm_in = palm.get_input_details()[0]["index"]
        outs = sorted(palm.get_output_details(), key=lambda d: -int(d["shape"][-1]))
        self._palm_boxes, self._palm_scores = outs[0]["index"], outs[1]["index"]
        self._lm_in = landmark.get_input_details()[0]["index"]
        lm_outs = landmark.get_output_details()  # landmarks, presence, handedness, world
        self._lm_points, self._lm_presence = lm_outs[0]["index"], lm_outs[1]["index"]

    def detect(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The palm detector's raw boxes and scores for one 192x192 input."""
        self.palm.set_tensor(self._palm_in, x[None])
        self.palm.invoke()
        return self.palm.get_tensor(self._palm_boxes)[0], self.palm.get_tensor(self._palm_scores)[0]

    def mark(self, x: np.ndarray) -> tuple[np.ndarray, float]:
        """The landmark model's raw ``(21, 3)`` landmarks and presence for one 224x224 input."""
        self.landmark.set_tensor(self._lm_in, x[None])
        self.landmark.invoke()
        raw = self.landmark.get_tensor(self._lm_points).reshape(21, 3)
        return raw, float(self.landmark.get_tensor(self._lm_presence).reshape(-1)[0])


class ModelPairs(Sequence):
    """The localiser's pairs of hand models, each loaded when a search first needs it: most frames
    never reach the second pair, so a start-up (``predict`` of one file) does not pay for loading it.

    Args:
        names: (palm detector, landmark model) stems per pair, in order.
        load: a model stem -> its allocated interpreter.
    """

    def __init__(self, names: list[tuple[str, str]], load):
        self.names, self.load = names, load
        self.loaded: dict[int, ModelPair] = {0: self._load(0)}  # the first pair at once: a bad file fails early

    def _load(self, index: int) -> ModelPair:
        palm, landmark = self.names[index]
        return ModelPair(self.load(palm), self.load(landmark))

    def __len__(self) -> int:
        return len(self.names)

    def __getitem__(self, index: int) -> ModelPair:
        if not 0 <= index < len(self.names):
            raise IndexError(index)
        if index not in self.loaded:
            self.loaded[index] = self._load(index)
        return self.loaded[index]


class HandLocaliser:
    """Finds the signer's hand in an RGB frame (every hand with :meth:`find_hands`) and crops a square around it."""

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

        self.pairs = ModelPairs(self.config.pairs(), load)
        self.anchors = palm_anchors()
        self.meter: FrameMeter | None = None  # set by a HandTracker with a frame budget, per frame

    @contextmanager
    def _metered(self, kind: str):
        """One hand model's whole call (sampling its input, the model, decoding its output); with a
        :attr:`meter`, only if it fits the frame's budget. The sampling and decoding are timed with
        the model: they are a millisecond or two of each call, and a budget that left them out would
        be overrun by that much on every call."""
        if self.meter is None:
            yield
            return
        self.meter.before(kind)
        start = self.meter.clock()
        yield
        self.meter.after(kind, self.meter.clock() - start)

    # -- stages ---------------------------------------------------------------------------------
    def palms(self, rgb: np.ndarray, cx: float | None = None, cy: float | None = None,
              side: float | None = None, min_score: float | None = None, pair: int = 0) -> list[Palm]:
        """Palms in a square view of the frame (default: the whole frame letterboxed), best first,
        scoring at least ``min_score`` (default ``min_palm_score``), by the palm detector of ``pair``
        (0: the first pair, 1: ``second_models``)."""
        rgb = _as_rgb(rgb)
        h, w = rgb.shape[:2]
        side = side or float(max(h, w))
        cx = w / 2 if cx is None else cx
        cy = h / 2 if cy is None else cy
        with self._metered(PAIR_KINDS[pair][0]):
            raw_boxes, raw_scores = self.pairs[pair].detect(sample_square(rgb, cx, cy, side, 0.0, PALM_INPUT,
                                                                          replicate=False))
            boxes, kps, scores = decode_palms(raw_boxes, raw_scores, self.anchors,
                                              self.config.min_palm_score if min_score is None else min_score)
            merged = weighted_nms(boxes, kps, scores, self.config.nms_iou)
        out = []
        x0, y0 = cx - side / 2, cy - side / 2
        for box, k, score in merged:
            b = box * side
            out.append(Palm(x0 + (b[0] + b[2]) / 2, y0 + (b[1] + b[3]) / 2, b[2] - b[0], b[3] - b[1],
                            k * side + np.array([x0, y0], np.float32), score))
        return out

    def landmarks(self, rgb: np.ndarray, cx: float, cy: float, side: float, angle: float = 0.0,
                  palm_score: float = 0.0, pair: int = 0) -> Hand:
        """Runs the landmark model of ``pair`` on one square region; landmarks in frame pixels."""
        with self._metered(PAIR_KINDS[pair][1]):
            raw, presence = self.pairs[pair].mark(sample_square(_as_rgb(rgb), cx, cy, side, angle, LANDMARK_INPUT,
                                                                replicate=True))
        pts = raw[:, :2] / LANDMARK_INPUT - 0.5
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
            if self.is_hand(hand):
                out.append(hand)
        return out

    def first_pass(self, rgb: np.ndarray) -> Hand | None:
        """The most confident hand of :meth:`hands` (the whole frame, no fallback views), or ``None``."""
        return max(self.hands(rgb), key=lambda hd: hd.presence, default=None)

    def find_hand(self, rgb: np.ndarray, follow: Hand | None = None, judge: Judge | None = None) -> Hand | None:
        """The signer's hand (:meth:`choose`), trying the fallback views when the first pass finds
        none, or only hands small for the frame or too unsure to settle the search (``settle_presence``),
        then the same on each retry copy (``retries``) of a frame that gave none; a retry's hand counts
        only from ``retry_min_presence``.

        Args:
            rgb: the frame.
            follow: the hand of the stream's previous frame, if any (preferred where it still is).
            judge: the classifier's top-1 probability on a hand of ``rgb``, ``judge(rgb, hand)``
                (``Predictor.judge``), weighing the choice among hands in several places (``sign_weight``).
        """
        rgb = _as_rgb(rgb)
        h, w = rgb.shape[:2]
        state, copies = SearchState(), _Copies(rgb)
        for step in self.search_plan(w, h):
            self.step(copies, step, state)
        return self.refined(rgb, self.widened(rgb, self.choose(state.hands, w, h, follow, _on_frame(judge, rgb))))

    def find_hands(self, rgb: np.ndarray) -> list[Hand]:
        """Every hand the search finds (every view of the frame, whatever it found first; the
        retry copies when none), one per place, the signer's (:meth:`choose`) first."""
        rgb = _as_rgb(rgb)
        h, w = rgb.shape[:2]
        state, copies = SearchState(exhaustive=True), _Copies(rgb)
        for step in self.search_plan(w, h):
            self.step(copies, step, state)
        places = one_per_place(state.hands, key=lambda hd: hd.presence)
        kept = [self.refined(rgb, self.widened(rgb, hd)) for hd in places]
        return sorted(one_per_place(kept, key=lambda hd: hd.presence), key=lambda hd: -signer_score(hd, w, h))

    def widened(self, rgb: np.ndarray, hand: Hand | None) -> Hand | None:
        """``hand``, or the landmark model's reading of a region ``widen`` times its box around it where
        that reads the whole hand of which ``hand`` was a part (the fingers a palm's region left out)."""
        if hand is None or not self.config.widen:
            return hand
        box = hand.box()
        angle = box.upright.angle if box.upright is not None else 0.0
        wide = self.landmarks(rgb, *box.center, box.side * self.config.widen, angle, palm_score=hand.palm_score)
        if (self.is_hand(wide) and wide.presence >= self.config.settle_presence
                and wide.box().side >= WIDEN_GAIN * box.side):
            return wide
        return hand

    def refined(self, rgb: np.ndarray, hand: Hand | None) -> Hand | None:
        """``hand`` read again ``refine`` times in the region its landmarks give (:func:`tracking_region`),
        each reading kept while it is a hand."""
        for _ in range(self.config.refine if hand is not None else 0):
            again = self._read_again(rgb, hand)
            if again is None:
                break
            hand = again
        return hand

    def reread_landmarks(self, rgb: np.ndarray, hand: Hand) -> Hand:
        """The hand whose landmarks a landmark or fused model reads: ``hand``, or with ``reread`` its reading by
        the second pair's landmark model in the region its landmarks give, where that reading is a hand."""
        again = self._read_again(rgb, hand, pair=1) if self.config.reread else None
        return hand if again is None else again

    def _read_again(self, rgb: np.ndarray, hand: Hand, pair: int = 0) -> Hand | None:
        """``hand`` read by the landmark model of ``pair`` in the region its landmarks give
        (:func:`tracking_region`), or ``None`` where that reading is no hand."""
        again = self.landmarks(rgb, *tracking_region(hand), palm_score=hand.palm_score, pair=pair)
        return again if self.is_hand(again) else None

    def choose(self, found: list[Hand], width: int, height: int, follow: Hand | None = None,
               judge: Callable[[Hand], float] | None = None) -> Hand | None:
        """The signer among ``found`` (:func:`signer_score`: large for the frame, confident, where
        the stream's last hand was), or ``None``. With a ``judge`` (the classifier's top-1
        probability on a hand of this frame) and hands in more than one place, the score of a place
        whose hand is too unsure to settle a search (``settle_presence``) is weighed by it to the
        power ``sign_weight``: one classifier call per such place."""
        def score(hand: Hand) -> float:
            return signer_score(hand, width, height, follow)

        def judged(hand: Hand) -> float:
            if hand.presence >= self.config.settle_presence:
                return score(hand)
            return score(hand) * judge(hand) ** self.config.sign_weight

        places = one_per_place(found, key=score)
        if judge is None or not self.config.sign_weight or len(places) < 2:
            return max(found, key=score, default=None)
        return max(places, key=judged)

    def is_hand(self, hand: Hand) -> bool:
        """Whether the landmark model's answer is a hand: presence from ``min_presence`` and, with
        ``max_shape_distance``, landmarks shaped like a hand's."""
        if hand.presence < self.config.min_presence:
            return False
        return not self.config.max_shape_distance or shape_distance(hand) <= self.config.max_shape_distance

    def is_large(self, hand: Hand, width: int, height: int) -> bool:
        """Whether ``hand`` is large enough for the frame to stop looking wider (``signer_share``)."""
        return hand.box().side >= self.config.signer_share * min(width, height)

    def attempts(self, rgb: np.ndarray) -> Iterator[tuple[str, Hand | None]]:
        """The first pair's searches :meth:`find_hand` makes, copy by copy and only as far as they are
        consumed: ``("frame", hand)``, then ``(retry name, hand)`` per retry copy, before any threshold on a
        retry's hand (``benchmarks/retry_presence.py`` reads them to set that threshold)."""
        rgb = _as_rgb(rgb)
        h, w = rgb.shape[:2]
        copies = _Copies(rgb)
        for copy in ("frame", *self.config.retries):
            state = SearchState()  # each copy searched as if it were the frame: no retry threshold
            for step in self.search_plan(w, h):
                if step.copy == copy and step.pair == 0:
                    self.step(_Copies(copies[copy]), replace(step, copy="frame"), state)
            yield copy, self.choose(state.hands, w, h)

    def search_plan(self, width: int, height: int) -> list[SearchStep]:
        """Every step a search may take, in order: on the frame, the first pass (the whole frame
        letterboxed), the zoomed-in tiles (a small hand in a wide frame gets more pixels), the
        zoomed-out view (a hand that fills a close-up is too big for the palm detector), the weak
        palms, the whole frame into the landmark model; then the same without the tiles on each
        retry copy; then all of that again with the ``second_models``. Without ``fallback``: the
        first pass of each copy. :meth:`step` skips the steps a search no longer needs."""
        return [step for pair in range(len(self.pairs)) for copy in ("frame", *self.config.retries)
                for step in self._copy_steps(copy, pair, width, height)]

    def _copy_steps(self, copy: str, pair: int, width: int, height: int) -> list[SearchStep]:
        """The steps of :meth:`search_plan` on one copy of the frame by one pair of models."""
        first = (width / 2, height / 2, float(max(width, height)))
        if not self.config.fallback:
            return [SearchStep(copy, "view", first, pair)]
        # Retry copies without the tiles: a hand-free frame (the camera loop's slowest case) pays for
        # every retry, and the tiles are most of a search's palm detector runs.
        tiles, small = [], []
        if copy == "frame":
            tiles = tile_views(width, height, self.config.tile_frac)
            small = tile_views(width, height, self.config.small_tile_frac) if self.config.small_tile_frac else []
        views = [first, *tiles, (first[0], first[1], first[2] * self.config.zoom_out), *small]
        return ([SearchStep(copy, "view", v, pair) for v in views]
                + [SearchStep(copy, "weak", pair=pair), SearchStep(copy, "whole", pair=pair)])

    def wants(self, step: SearchStep, state: SearchState, width: int, height: int) -> bool:
        """Whether a search that has gathered ``state`` still takes ``step``: a retry copy and the
        last resorts (weak palms, whole frame) only while no hand settles it (:meth:`settled`); another
        view while every settling hand is small for the frame (or always, for an ``exhaustive``
        search); the second pair's steps only while no hand settles it."""
        last_resort = step.copy != "frame" or step.kind != "view" or step.pair
        settled = self.settled(state, width, height)
        if step.source in state.closed or (settled and last_resort):
            return False
        return state.exhaustive or not any(self.is_large(hd, width, height) for hd in settled)

    def settled(self, state: SearchState, width: int, height: int) -> list[Hand]:
        """The hands of ``state`` that end the search: sure enough (``settle_presence``) and, unless
        ``settle_small``, large for the frame."""
        return [hd for hd in state.hands if hd.presence >= self.config.settle_presence
                and (self.config.settle_small or self.is_large(hd, width, height))]

    def step(self, copies: _Copies, step: SearchStep, state: SearchState) -> None:
        """Takes ``step`` on its copy of the frame (``copies[step.copy]``, filtered only now) if
        :meth:`wants` says so; the hands it finds go to ``state``. Resumable: a step stopped by the
        frame budget (:class:`BudgetSpent`, between two model calls) keeps the regions it still has to
        read in ``state.pending[step]`` and goes on from there when taken again."""
        h, w = copies["frame"].shape[:2]
        if not self.wants(step, state, w, h):
            state.pending.pop(step, None)
            return
        if step.copy not in copies and self.meter is not None:
            # A copy costs a filter of the whole frame (a few ms): none for a call this frame cannot afford.
            pair_kinds = PAIR_KINDS[step.pair]
            self.meter.before(pair_kinds[0] if step.kind == "view" else pair_kinds[1])
        rgb = copies[step.copy]
        if step not in state.pending:
            state.pending[step] = self._regions(rgb, step, state)
        todo, rejected = state.pending[step], False
        while todo:
            region, score = todo[0]
            hand = self.landmarks(rgb, *region, palm_score=score, pair=step.pair)
            todo.pop(0)
            if not self.is_hand(hand):
                continue
            if hand.presence < self.presence_floor(step):
                rejected = True  # too weak for a retry copy or for the second pair
                continue
            state.hands.append(hand)
            if step.kind == "weak":
                todo.clear()  # the first hand among the weak palms
        del state.pending[step]
        state.steps += 1
        if rejected and step.copy != "frame" and not self.settled(state, w, h):
            state.closed.add(step.source)  # that copy's answer was too weak for a retry: go to the next copy

    def presence_floor(self, step: SearchStep) -> float:
        """The presence a hand found by ``step`` must reach: ``min_presence``, on a retry copy
        ``retry_min_presence``, by the second pair ``second_min_presence`` (the highest that applies)."""
        floors = [self.config.min_presence]
        if step.copy != "frame":
            floors.append(self.config.retry_min_presence)
        if step.pair:
            floors.append(self.config.second_min_presence)
        return max(floors)

    def _regions(self, rgb: np.ndarray, step: SearchStep, state: SearchState) -> list[tuple[tuple, float]]:
        """The landmark regions ``(region, palm score)`` a step reads: a view's best ``max_palms``
        palms passing ``min_palm_score`` (one palm detector run; with ``fallback``, its palms between
        ``candidate_score`` and ``min_palm_score`` go to the copy's weak palms), the best weak palms
        (one per place), or the whole frame."""
        h, w = rgb.shape[:2]
        weak = state.weak.setdefault(step.source, [])
        if step.kind == "whole":  # a hand filling the picture
            return [((w / 2, h / 2, float(max(h, w)), 0.0), 0.0)]
        if step.kind == "weak":
            tried: list[Palm] = []
            for palm in sorted(weak, key=lambda p: -p.score):
                if len(tried) >= self.config.max_candidates:
                    break
                if not any(abs(palm.cx - q.cx) < q.w / 2 and abs(palm.cy - q.cy) < q.h / 2 for q in tried):
                    tried.append(palm)
            return [(palm_region(p), p.score) for p in tried]
        low = min(self.config.candidate_score, self.config.min_palm_score) if self.config.fallback else None
        palms = self.palms(rgb, *step.view, min_score=low, pair=step.pair)
        if self.config.fallback:
            weak.extend(p for p in palms if p.score < self.config.min_palm_score)
        strong = [p for p in palms if p.score >= self.config.min_palm_score][: self.config.max_palms]
        return [(palm_region(p), p.score) for p in strong]

    # -- public API -----------------------------------------------------------------------------
    def find(self, rgb: np.ndarray) -> HandBox | None:
        """The box around the landmarks of the signer's hand (:meth:`find_hand`), or ``None``."""
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
    detection; the search runs only when there is no hand to follow, or the hand followed is small
    for the frame (a bystander's, perhaps: the signer's may be elsewhere).

    A frame without a hand is the live loop's slowest (every fallback view and retry of
    :meth:`HandLocaliser.find_hand`). Two ways to bound it:

    - ``budget_s`` (the live loop's default, :class:`asl_edge.runtime.stream.FrameBudget`): every
      frame's hand models stop at a budget (:class:`FrameMeter`: exceeded by at most one model
      call). The search is spread over frames: a frame with nothing to follow takes the first pass,
      then the next steps of :meth:`HandLocaliser.search_plan` that fit, and the next frame goes on
      from there (tiles, zoomed out, weak palms, retry copies) until a hand large for the frame is
      found or the plan is done, when it starts again; a followed hand small for the frame or too
      unsure to settle the search (``settle_presence``) lets it go on beside it. Hands found on any
      frame are compared with the one followed (:func:`signer_score`).
    - without a budget: the full search on every ``search_every``-th hand-free frame, the first pass
      alone on the others (a hand only the full search finds is then found up to
      ``search_every - 1`` frames late).

    Args:
        localiser: the model's localiser (its thresholds apply to tracked hands too).
        search_every: without a budget, the full search on every n-th hand-free frame (1: on all).
        budget_s: seconds per frame for the hand models (``None``: no budget).
        clock: the budget's clock (default ``time.perf_counter``).
    """

    def __init__(self, localiser: HandLocaliser, search_every: int = 4, budget_s: float | None = None,
                 clock=None):
        if search_every < 1:
            raise DataError(f"search_every must be at least 1, got {search_every}")
        if budget_s is not None and not budget_s > 0:
            raise DataError(f"the frame budget must be a positive number of seconds, got {budget_s}")
        self.localiser = localiser
        self.search_every = search_every
        self.meter = FrameMeter(budget_s, clock) if budget_s is not None else None
        if self.meter is not None:
            list(localiser.pairs)  # every pair loaded now: a load inside a frame would blow its budget
        self.counts = ({"tracked": 0, "first_pass": 0, "full_search": 0} if self.meter is None
                       else {"tracked": 0, "search_steps": 0, "deferred": 0})
        self._last: Hand | None = None
        self._hand_free = 0  # hand-free frames since the last full search
        self._round: list[SearchStep] = []  # steps of the spread search still to take
        self._starved = False  # the last frame's budget left the spread search no model call
        self.frame_s = 0.0  # with a budget: the last frame's time in the localiser
        self._state = SearchState()
        self._fresh = False  # the hand followed still wants the wider look its frame had no budget for

    def update(self, rgb: np.ndarray, judge: Judge | None = None) -> Hand | None:
        """The signer's hand in this frame (the next in the stream), or ``None``; ``judge`` as for
        :meth:`HandLocaliser.find_hand`."""
        rgb = _as_rgb(rgb)
        hand = self._every_nth(rgb, judge) if self.meter is None else self._within_budget(rgb, judge)
        self._last = hand
        return hand

    def _follow(self, rgb: np.ndarray) -> Hand | None:
        """The last frame's hand where it is now, or ``None`` (none, or lost)."""
        if self._last is None:
            return None
        hand = self.localiser.landmarks(rgb, *tracking_region(self._last))
        if not self.localiser.is_hand(hand):
            return None
        self.counts["tracked"] += 1
        return hand

    def _every_nth(self, rgb: np.ndarray, judge: Judge | None) -> Hand | None:
        had = self._last is not None
        hand = self._follow(rgb)
        if hand is not None:
            return hand
        if had:
            self._hand_free = 0  # lost it: search the whole frame now
        if self._hand_free % self.search_every == 0:
            self.counts["full_search"] += 1
            hand = self.localiser.find_hand(rgb, follow=self._last, judge=judge)
        else:
            self.counts["first_pass"] += 1
            hand = self.localiser.first_pass(rgb)
        self._hand_free = 0 if hand is not None else self._hand_free + 1
        return hand

    def _within_budget(self, rgb: np.ndarray, judge: Judge | None) -> Hand | None:
        loc, (h, w) = self.localiser, rgb.shape[:2]
        self.meter.start()
        found: list[Hand] = []
        followed = None
        with self._metering():
            try:
                followed = self._follow(rgb)
                if followed is None:
                    self._fresh = False
                elif self._fresh:
                    followed = self._look_wider(rgb, followed)
                if followed is not None:
                    if loc.is_large(followed, w, h) and followed.presence >= loc.config.settle_presence:
                        self._round = []  # the signer is in view: a later search starts afresh
                        return followed
                    found.append(followed)  # small or unsure: the search goes on beside it
                self._search_on(rgb, found)
            except BudgetSpent:
                self.counts["deferred"] += 1  # the rest of the search goes on in the next frames
        hand = loc.choose(found, w, h, self._last, _on_frame(judge, rgb))
        if hand is None or hand is followed:
            return hand
        with self._metering():
            return self._look_wider(rgb, hand)

    @contextmanager
    def _metering(self):
        """The localiser's model calls inside, metered against this frame's budget (the classifier's
        calls between two such blocks are not the localiser's time)."""
        self.localiser.meter = self.meter
        try:
            yield
        finally:
            self.localiser.meter = None
            self.frame_s = self.meter.used()

    def _look_wider(self, rgb: np.ndarray, hand: Hand) -> Hand:
        """The localiser's wider look (:meth:`HandLocaliser.widened`) at a hand a search found: in this frame
        if its budget has room, else in the next frame that follows the hand (a search's frame has usually
        spent its budget; a followed hand's own region comes from its landmarks, whole or not)."""
        try:
            wide = self.localiser.widened(rgb, hand)
        except BudgetSpent:
            self._fresh = True
            return hand
        self._fresh = False
        return wide

    def _search_on(self, rgb: np.ndarray, found: list[Hand]) -> None:
        """The next steps of the spread search on this frame, hands found added to ``found``.

        A frame with nothing followed takes the first pass first (a hand coming into view is found
        at once), then the search goes on where the last frame stopped. Every step is resumable
        (:meth:`HandLocaliser.step`), so a budget of one model call per frame (a slow device) still
        gets through each; when the last frame's budget went to the first pass alone, this frame
        does not start it again, so the rest of the plan is never starved."""
        loc, (h, w) = self.localiser, rgb.shape[:2]
        plan = loc.search_plan(w, h)
        if not self._round:
            self._round, self._state = plan[1:], SearchState()
        state, copies = self._state, _Copies(rgb)
        state.hands = found  # the hands of this frame; weak palms, copies given up and a step under way carry over
        if not found and not self._starved and self._round[0] != plan[0]:
            self._round.insert(0, plan[0])
        before, progressed = state.steps, False
        try:
            while self._round:
                step, calls = self._round[0], self.meter.calls
                try:
                    loc.step(copies, step, state)
                finally:
                    progressed |= step != plan[0] and self.meter.calls > calls
                self._round.pop(0)
        finally:
            self._starved = bool(self._round) and not progressed
            self.counts["search_steps"] += state.steps - before


def crop_square(rgb: np.ndarray, box: HandBox, margin: float, size: int | None = None) -> np.ndarray:
    """See :meth:`HandLocaliser.crop`; usable without loading any model."""
    rgb = _as_rgb(rgb)
    h, w = rgb.shape[:2]
    side = max(2, int(round(box.side * (1 + margin))))
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
