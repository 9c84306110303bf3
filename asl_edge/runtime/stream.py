"""The live loop's frame: a budget per frame, the hand followed, the label voted over recent frames.

``asl-edge predict --camera`` classifies one frame after another. :class:`LiveLoop` is one such
stream: the hand localiser's :class:`~asl_edge.runtime.hands.HandTracker` under a
:class:`FrameBudget` (the expensive search spread over frames instead of stalling one), the
classifier on the chosen hand's crop, and a :class:`LabelVote` over the last frames' labels.
A single image keeps the full search (:func:`asl_edge.runtime.predict.classify_frame` without a
tracker). :func:`camera_loop` runs a :class:`LiveLoop` over a camera's frames (any pixel format
:func:`frame_to_rgb` can read) and hands each :class:`FrameResult` to the views.
"""

from __future__ import annotations

import logging
import time
from collections import Counter, deque
from dataclasses import dataclass

import numpy as np

from asl_edge.runtime.errors import DataError
from asl_edge.runtime.predict import Predictor, classify_frame

log = logging.getLogger(__name__)

# The crop and the classifier run after the hand models, outside their budget: about 1-2 ms for the
# camera int8 model on one x86 core; the live loop measures it and reserves the most of its last
# frames (LiveLoop), this is the least it reserves.
RESERVE_MS = 4.0
RECENT_FRAMES = 30
# A frame that searches may cost this many frames that follow a hand (one landmark model call, the
# crop and the classifier), measured as the loop runs: a frame with nothing to follow then pays about
# one palm detector run, and the rest of the search goes on in the next frames. Two would put the
# slowest frames at the p99 <= 2 x p50 line itself; a little under leaves room for a call that takes
# longer than the last ones did.
STEADY_FRAMES = 1.8


@dataclass(frozen=True)
class FrameBudget:
    """Time per frame for a live loop.

    Attributes:
        fps: the frame rate to keep: ``1000 / fps`` milliseconds per frame.
        reserve_ms: of those, the least kept for the crop and the classifier (the live loop keeps
            the most they took in its last frames, if more); the hand models get at most the rest.
        search_ms: at most this much of it for the hand models. ``None`` (the default): a steady
            slice measured as the loop runs, ``steady`` times a frame that follows a hand (its
            landmark model call, crop and classifier) less the crop and classifier: every frame
            costs about as much as any other (no frame stalls to finish a search; p99 near p50),
            on whatever device, and the search is spread over more frames. A number: that many ms
            (the whole frame, e.g. ``1000 / fps``: the search goes as far as the frame allows).
        steady: see ``search_ms``: a searching frame's cost in frames that follow a hand.
    """

    fps: float = 15.0
    reserve_ms: float = RESERVE_MS
    search_ms: float | None = None
    steady: float = STEADY_FRAMES

    def __post_init__(self):
        if not (isinstance(self.fps, (int, float)) and 0 < self.fps <= 1000):
            raise DataError(f"frames per second must lie in (0, 1000], got {self.fps!r}")
        if not 0 <= self.reserve_ms < self.ms:
            raise DataError(f"the reserve ({self.reserve_ms} ms) must be under the frame's {self.ms:.1f} ms")
        if self.search_ms is not None and not 0 < self.search_ms:
            raise DataError(f"the search's time per frame must be positive, got {self.search_ms!r} ms")
        if not self.steady >= 1:
            raise DataError(f"a searching frame's cost must be at least one frame's, got {self.steady!r}")

    @property
    def ms(self) -> float:
        return 1000.0 / self.fps

    @property
    def localiser_s(self) -> float:
        """The most seconds per frame the hand models may have (before the measured slice)."""
        rest = self.ms - self.reserve_ms
        return (rest if self.search_ms is None else min(rest, self.search_ms)) / 1000.0

    def hand_models_s(self, rest_s: float, landmark_s: float | None) -> float:
        """Seconds for the hand models on the next frame, the crop and classifier having taken at
        most ``rest_s`` lately (at least ``reserve_ms`` is kept back for them) and a landmark model
        call ``landmark_s`` (``None``: not measured yet; the steady slice is then one model call
        per frame, as the first call of a frame always runs)."""
        cap = min(self.localiser_s, self.ms / 1000 - max(rest_s, self.reserve_ms / 1000))
        if self.search_ms is None:
            steady = 0.0 if landmark_s is None else self.steady * (landmark_s + rest_s) - rest_s
            cap = min(cap, steady)
        return max(cap, 1e-3)


class LabelVote:
    """Temporal smoothing: the label most of the last ``frames`` frames gave ("no hand" is a vote
    too), ties to the most recent; its probability is the mean over the frames that voted for it.
    One frame: no smoothing."""

    def __init__(self, frames: int = 1):
        if isinstance(frames, bool) or not isinstance(frames, int) or frames < 1:
            raise DataError(f"the vote needs a whole number of frames of at least 1, got {frames!r}")
        self.frames = frames
        self._recent: deque[tuple[str | None, float]] = deque(maxlen=frames)

    def update(self, label: str | None, probability: float) -> tuple[str | None, float]:
        self._recent.append((label, probability))
        counts = Counter(lab for lab, _ in self._recent)
        best = max(counts.values())
        winner = next(lab for lab, _ in reversed(self._recent) if counts[lab] == best)
        probs = [p for lab, p in self._recent if lab == winner]
        return winner, sum(probs) / len(probs)


@dataclass(frozen=True)
class StreamResult:
    """One frame of a stream: the answer after the vote (``label``, ``probability``), the frame's
    own (``raw_label``), and the hand's box (``None``: no hand in this frame)."""

    label: str | None
    probability: float
    raw_label: str | None
    box: tuple[float, float, float, float] | None


class LiveLoop:
    """One camera stream through a model: see the module docstring.

    Args:
        predictor: the model (:func:`asl_edge.runtime.predict.load_predictor`).
        budget: time per frame (``None``: no budget; the full search on every 4th hand-free frame).
        vote: frames the label is voted over (1: none).
        track: follow the hand from frame to frame (``False``: every frame searched on its own,
            in full, as a single image; the budget then does not apply).
        clock: the budget's clock (default ``time.perf_counter``).
    """

    def __init__(self, predictor, budget: FrameBudget | None = FrameBudget(), vote: int = 1, track: bool = True,
                 clock=None):
        import time

        self.predictor = predictor
        self.vote = LabelVote(vote)
        self.budget, self.clock = budget, clock or time.perf_counter
        self._rest: deque[float] = deque(maxlen=RECENT_FRAMES)  # seconds per frame outside the localiser
        self.tracker = None
        if track and predictor.preprocessing.localises:
            from asl_edge.runtime.hands import HandTracker, cached_localiser

            localiser = cached_localiser(predictor.preprocessing.localiser)
            self.tracker = HandTracker(localiser, clock=clock,
                                       budget_s=None if budget is None else budget.hand_models_s(0.0, None))

    def step(self, rgb) -> StreamResult:
        """The answer for the next frame (a PIL RGB image)."""
        start = self.clock()
        raw, prob, box = classify_frame(self.predictor, rgb, self.tracker)
        meter = None if self.tracker is None else self.tracker.meter
        if meter is not None:
            self._rest.append(self.clock() - start - self.tracker.frame_s)
            meter.budget_s = self.budget.hand_models_s(max(self._rest), meter.expected.get("landmark"))
        label, voted = self.vote.update(raw, prob)
        return StreamResult(label, voted, raw, box)


def model_vote(predictor) -> int:
    """The vote a model records for its live loop (``LocaliserConfig.vote_frames``); 1 without a localiser."""
    pre = predictor.preprocessing
    if not pre.localises:
        return 1
    from asl_edge.runtime.hands import LocaliserConfig

    return LocaliserConfig.from_dict(pre.localiser).vote_frames


@dataclass(frozen=True)
class FrameResult:
    """One camera frame: the label (``None`` when no hand was found), its probability, the hand's
    box in the frame (models with a localiser), and frames per second so far."""

    index: int
    label: str | None
    probability: float
    box: tuple[float, float, float, float] | None
    fps: float


MAX_UNREADABLE_FRAMES = 100


def describe_frame(frame) -> str:
    """``None``, or an array's shape and dtype: what a log line says about a frame."""
    if frame is None:
        return "no frame"
    arr = np.asarray(frame)
    return f"shape {tuple(arr.shape)}, {arr.dtype}"


def frame_to_rgb(frame):
    """A camera frame as an RGB PIL image; ``None`` for one that is not a picture.

    OpenCV delivers BGR ``uint8``, but drivers and files also give grayscale (``HxW`` or
    ``HxWx1``), BGRA (the alpha is dropped), 16-bit and float frames (``0..1`` scaled to
    ``0..255``, else clipped; NaN is black): all converted. ``None``, an empty array, another
    rank or channel count, or more pixels than any image asl-edge reads: ``None``.
    """
    from PIL import Image

    from asl_edge.runtime.preprocess import MAX_PIXELS

    if frame is None:
        return None
    arr = np.asarray(frame)
    if arr.ndim == 3 and arr.shape[2] == 1:
        arr = arr[..., 0]
    if arr.ndim not in (2, 3) or (arr.ndim == 3 and arr.shape[2] not in (3, 4)) or 0 in arr.shape \
            or arr.shape[0] * arr.shape[1] > MAX_PIXELS:
        return None
    if np.issubdtype(arr.dtype, np.floating):
        arr = np.nan_to_num(arr.astype(np.float32), nan=0.0, posinf=255.0, neginf=0.0)
        arr = arr * 255.0 if arr.size and arr.max() <= 1.0 else arr
        arr = np.clip(np.round(arr), 0, 255).astype(np.uint8)
    elif arr.dtype == np.uint16:
        arr = (arr >> 8).astype(np.uint8)
    elif np.issubdtype(arr.dtype, np.integer) or arr.dtype == bool:
        arr = np.clip(arr, 0, 255).astype(np.uint8) if arr.dtype != bool else arr.astype(np.uint8) * 255
    else:
        return None
    if arr.ndim == 2:
        return Image.fromarray(np.ascontiguousarray(arr), "L").convert("RGB")
    return Image.fromarray(np.ascontiguousarray(arr[..., 2::-1]), "RGB")  # BGR(A) -> RGB


def camera_loop(predictor: Predictor, capture, max_frames: int | None = None, show: bool = False,
                on_result=None, track: bool = True, budget=None, vote: int = 1, views=()) -> dict:
    """Classifies frames from an OpenCV-style ``capture`` (``read() -> (ok, bgr_frame)``).

    A model with a localiser finds the hand in every frame first (MediaPipe's hand models through
    LiteRT) and classifies the crop around it; a frame without a hand gives no label.

    Args:
        predictor: the model.
        capture: a source from :func:`asl_edge.runtime.cameras.open_camera`, or anything with
            ``read()`` and ``release()``.
        max_frames: stop after this many frames (``None``: until the stream ends or ``q``).
        show: draw the hand's box, the label and frames per second in a window (needs a display;
            :class:`~asl_edge.runtime.liveview.Window`).
        on_result: called with a :class:`FrameResult` per frame.
        track: follow the hand from frame to frame (:class:`~asl_edge.runtime.hands.HandTracker`)
            instead of searching every frame on its own.
        budget: a :class:`~asl_edge.runtime.stream.FrameBudget`: the hand models' time per frame,
            the search spread over frames (``None``: the full search on every 4th hand-free frame).
        vote: the label is the majority of the last ``vote`` frames' (1: each frame's own).
        views: each called with every frame (an RGB PIL image, not changed afterwards) and its
            :class:`FrameResult`; one returning true stops the loop (a window's ``q``). An
            :class:`~asl_edge.runtime.mjpeg.MjpegServer` streams them to browsers.

    Returns:
        ``{"frames": n, "fps": mean frames per second, "no_hand": frames without a hand}``, and with
        tracking ``"localiser"``: how the frames' hands were found (followed, searched);
        ``"skipped"``: frames that were not pictures (:func:`frame_to_rgb`), logged once.

    Raises:
        DataError: :data:`MAX_UNREADABLE_FRAMES` unreadable frames in a row (a camera that sends
            nothing usable would otherwise spin forever).
    """
    from asl_edge.runtime.liveview import Window

    loop = LiveLoop(predictor, budget=budget, vote=vote, track=track)
    counts, window = {"frames": 0, "no_hand": 0, "skipped": 0}, None
    start = time.perf_counter()
    try:
        window = Window() if show else None
        views = [*views, window] if window is not None else list(views)
        while max_frames is None or counts["frames"] < max_frames:
            rgb = _next_picture(capture, counts)
            if rgb is None:
                break
            if _one_frame(loop, rgb, counts, start, on_result, views):
                break
    finally:
        capture.release()
        if window is not None:
            window.close()
    stats = {**counts, "fps": counts["frames"] / max(time.perf_counter() - start, 1e-9)}
    if loop.tracker is not None:
        stats["localiser"] = dict(loop.tracker.counts)
    return stats


def _one_frame(loop, rgb, counts: dict, start: float, on_result, views) -> bool:
    """Reads one frame through ``loop``, counts it, hands its :class:`FrameResult` to ``on_result``
    and every view; whether a view asks to stop (a window's ``q``)."""
    r = loop.step(rgb)
    counts["frames"] += 1
    counts["no_hand"] += r.label is None
    result = FrameResult(counts["frames"], r.label, r.probability, r.box,
                         counts["frames"] / max(time.perf_counter() - start, 1e-9))
    if on_result is not None:
        on_result(result)
    return any([view(rgb, result) for view in views])  # a list: every view sees the frame


def _next_picture(capture, counts: dict):
    """The next frame that is a picture, as RGB (``None`` at the stream's end); frames that are not
    are counted in ``counts["skipped"]`` and logged once."""
    unreadable = 0
    while True:
        ok, frame = capture.read()
        if not ok:
            return None
        rgb = frame_to_rgb(frame)
        if rgb is not None:
            return rgb
        counts["skipped"], unreadable = counts["skipped"] + 1, unreadable + 1
        if counts["skipped"] == 1:
            log.warning("skipping a camera frame asl-edge cannot read (%s); more are counted in 'skipped'",
                        describe_frame(frame))
        if unreadable >= MAX_UNREADABLE_FRAMES:
            raise DataError(f"the camera sent {unreadable} frames in a row that asl-edge cannot read "
                            f"({describe_frame(frame)}): check its pixel format")
