"""Clip metrics: how a live loop's answers follow the signs of a clip (:mod:`asl_edge.data.clips`).

- ``accuracy``: scored frames (the hand wholly in view, or wholly out) answered right; a frame
  without the signer's hand is right when it says "no hand".
- ``time_to_right_s``: per held sign, the time from its first frame (a change of sign, or the hand
  coming into view) to the first frame answered right; a sign never read counts its whole length
  and is counted in ``never_right``.
- ``flicker_per_s``: while a sign is held, from its first right answer to its end, changes of the
  answer (to another digit or to "no hand" and back) per second.
- ``budget``: frame times (milliseconds) against a budget: p50/p90/p99 and the share within it.
"""

from __future__ import annotations

import numpy as np


def clip_metrics(answers: list[str | None], truth: list[str | None], scored: list[bool],
                 segments: list[tuple[int, int, str]], fps: float) -> dict:
    """The metrics above for one clip or clips laid end to end (segments in frame indices)."""
    if not len(answers) == len(truth) == len(scored):
        raise ValueError("answers, truth and scored must have one entry per frame")
    idx = [i for i, s in enumerate(scored) if s]
    right = sum(answers[i] == truth[i] for i in idx)
    delays, changes, held_s, never = [], 0, 0.0, 0
    for first, end, digit in segments:
        hit = next((i for i in range(first, end) if answers[i] == digit), None)
        if hit is None:
            never += 1
            delays.append((end - first) / fps)
            continue
        delays.append((hit - first) / fps)
        changes += sum(answers[i] != answers[i - 1] for i in range(hit + 1, end))
        held_s += (end - hit) / fps
    d = np.asarray(delays) if delays else np.zeros(1)
    return {"frames": len(answers), "scored_frames": len(idx), "accuracy": right / max(1, len(idx)),
            "signs": len(segments), "never_right": never,
            "time_to_right_s": {"mean": float(d.mean()), "p50": float(np.median(d)), "p90": float(np.percentile(d, 90)),
                                "max": float(d.max())},
            "flicker_per_s": changes / held_s if held_s else 0.0, "label_changes_while_held": changes}


def budget_metrics(frame_ms: list[float], budget_ms: float) -> dict:
    """p50/p90/p99/max of the frame times and the share of frames within ``budget_ms``."""
    ms = np.asarray(frame_ms, np.float64)
    return {"p50": float(np.percentile(ms, 50)), "p90": float(np.percentile(ms, 90)),
            "p99": float(np.percentile(ms, 99)), "max": float(ms.max()), "mean": float(ms.mean()),
            "budget_ms": budget_ms, "within_budget": float((ms <= budget_ms).mean())}
