"""The camera pipeline row: hand localiser + classifier per frame, as ``predict --camera`` runs it.

For an artifact whose preprocessing records a hand localiser, the benchmark also times whole
frames: held-out close-ups pasted into 320x240 frames cut from the TEST background photographs
(:mod:`asl_edge.data.scenes`; a plain grey frame where scikit-image, which ships them, is not
installed, as on a device), each frame localised, cropped and classified
(:func:`asl_edge.runtime.predict.classify_frame`). The row reports p50/p90/p99 per frame, frames
per second, and the share of frames read right (a frame without a hand found counts as wrong).
``live_loop`` times the live loop (:class:`asl_edge.runtime.stream.LiveLoop`, ``predict --camera``)
on clips of the same close-ups (:mod:`asl_edge.data.clips`: a hand coming in, signing, leaving,
bystanders drifting) under the 15 and the 30 fps budget: p50/p90/p99 per frame and the share of
frames within the budget.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

import numpy as np
from PIL import Image

from asl_edge.bench.timing import percentiles
from asl_edge.runtime.errors import DataError

log = logging.getLogger(__name__)
PIPELINE_FORMAT = "pipeline"


def scene_frames(images: np.ndarray, count: int, seed: int = 0) -> tuple[list[Image.Image], str]:
    """``count`` frames (cycling through ``images``, RGB close-ups) and a description of them."""
    from asl_edge.data import scenes

    rng = np.random.default_rng(seed)
    try:
        backgrounds = [scenes.load_background(n) for n in scenes.background_names("test")]
        kind = "TEST background photographs"
    except DataError:  # runtime-only install: no scikit-image, so no photographs
        backgrounds = [np.full((240, 320, 3), 128, np.uint8)]
        kind = "a plain grey background"
    frames = []
    for i in range(count):
        frame, _ = scenes.composite(images[i % len(images)], backgrounds[i % len(backgrounds)], rng)
        frames.append(Image.fromarray(frame, "RGB"))
    return frames, f"{count} 320x240 frames of held-out close-ups pasted into {kind}"


LIVE_LOOP_FPS = (15.0, 30.0)


def scene_clips(images: np.ndarray, count: int = 2, seed: int = 0) -> list:
    """``count`` clips of the close-ups ``images`` (3 signs each, 2 bystanders; backgrounds as
    :func:`scene_frames`)."""
    from asl_edge.data import scenes
    from asl_edge.data.clips import ClipSpec, make_clip

    rng = np.random.default_rng(seed)
    try:
        backgrounds = [scenes.load_background(n) for n in scenes.background_names("test")]
    except DataError:
        backgrounds = [np.full((240, 320, 3), 128, np.uint8)]
    out = []
    for c in range(count):
        picks = rng.choice(len(images), 5, replace=len(images) < 5)
        signs = [(images[int(i)], str(k)) for k, i in enumerate(picks[:3])]
        out.append(make_clip(signs, backgrounds[c % len(backgrounds)], [images[int(i)] for i in picks[3:]], rng,
                             ClipSpec(hold=15)))
    return out


def measure_live_loop(predictor, clips: list) -> dict:
    """Frame times of the live loop over ``clips`` per budget of :data:`LIVE_LOOP_FPS` (wall time)."""
    from asl_edge.bench.clips import budget_metrics
    from asl_edge.runtime.stream import FrameBudget, LiveLoop

    out = {"clips": f"{len(clips)} clips, {sum(len(c.frames) for c in clips)} frames"}
    for fps in LIVE_LOOP_FPS:
        times = []
        for clip in clips:
            loop = LiveLoop(predictor, budget=FrameBudget(fps))
            for frame in clip.frames:
                img = Image.fromarray(frame, "RGB")
                start = time.perf_counter()
                loop.step(img)
                times.append((time.perf_counter() - start) * 1e3)
        out[f"{fps:g}fps"] = {k: round(v, 3) for k, v in budget_metrics(times, 1000 / fps).items()}
    return out


def localiser_macs(settings: dict) -> int:
    """Multiply-accumulates of the localiser's two models per pass (the minimum per frame)."""
    from asl_edge.bench.macs import count_macs
    from asl_edge.runtime.hands import ASSETS, LocaliserConfig

    config = LocaliserConfig.from_dict(settings)
    return sum(count_macs(ASSETS / f"{name}.tflite") for name in (config.palm_model, config.landmark_model))


def measure_pipeline(path: Path, threads: int | None, frames: list, labels: np.ndarray, runs: int,
                     clips: list | None = None) -> dict:
    """Times localiser + classifier on whole frames; accuracy over the frames (no hand = wrong);
    with ``clips``, the live loop on them too (``live_loop``)."""
    from asl_edge.runtime.hands import cached_localiser
    from asl_edge.runtime.predict import classify_frame, load_predictor

    predictor = load_predictor(path, threads=threads, verify=False)
    cached_localiser(predictor.preprocessing.localiser, threads=threads)
    right = 0
    for frame, label in zip(frames, labels):  # warm-up and accuracy
        got, _, _ = classify_frame(predictor, frame)
        right += got == predictor.labels[int(label)]
    times = []
    for i in range(max(runs, 1)):
        start = time.perf_counter()
        classify_frame(predictor, frames[i % len(frames)])
        times.append((time.perf_counter() - start) * 1e3)
    lat = percentiles(np.asarray(times))
    row = {"runtime": "litert+" + ("litert" if path.suffix == ".tflite" else "onnxruntime"), "device": "cpu",
           "threads": threads, "accuracy": right / len(frames), "latency_ms": lat,
           "throughput_ips": 1e3 / lat["mean"], "load_ms": None, "peak_rss_mb": None, "status": "ok"}
    if clips:
        row["live_loop"] = measure_live_loop(predictor, clips)
    return row
