"""The live loop's frame: a budget per frame, the hand followed, the label voted over recent frames.

``asl-edge predict --camera`` classifies one frame after another. :class:`LiveLoop` is one such
stream: the hand localiser's :class:`~asl_edge.runtime.hands.HandTracker` under a
:class:`FrameBudget` (the expensive search spread over frames instead of stalling one), the
classifier on the chosen hand's crop, and a :class:`LabelVote` over the last frames' labels.
A single image keeps the full search (:func:`asl_edge.runtime.predict.classify_frame` without a
tracker).
"""

from __future__ import annotations

from collections import Counter, deque
from dataclasses import dataclass

from asl_edge.runtime.errors import DataError

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
        from asl_edge.runtime.predict import classify_frame

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
