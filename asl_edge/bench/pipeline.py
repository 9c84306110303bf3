"""The camera pipeline row: hand localiser + classifier per frame, as ``predict --camera`` runs it.

For an artifact whose preprocessing records a hand localiser, the benchmark also times whole
frames: held-out close-ups pasted into 320x240 frames cut from the TEST background photographs
(:mod:`asl_edge.data.scenes`; a plain grey frame where scikit-image, which ships them, is not
installed, as on a device), each frame localised, cropped and classified
(:func:`asl_edge.runtime.predict.classify_frame`). The row reports p50/p90/p99 per frame, frames
per second, and the share of frames read right (a frame without a hand found counts as wrong).
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


def localiser_macs(settings: dict) -> int:
    """Multiply-accumulates of the localiser's two models per pass (the minimum per frame)."""
    from asl_edge.bench.macs import count_macs
    from asl_edge.runtime.hands import ASSETS, LocaliserConfig

    config = LocaliserConfig.from_dict(settings)
    return sum(count_macs(ASSETS / f"{name}.tflite") for name in (config.palm_model, config.landmark_model))


def measure_pipeline(path: Path, threads: int | None, frames: list, labels: np.ndarray, runs: int) -> dict:
    """Times localiser + classifier on whole frames; accuracy over the frames (no hand = wrong)."""
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
    return {"runtime": "litert+" + ("litert" if path.suffix == ".tflite" else "onnxruntime"), "device": "cpu",
            "threads": threads, "accuracy": right / len(frames), "latency_ms": lat,
            "throughput_ips": 1e3 / lat["mean"], "load_ms": None, "peak_rss_mb": None, "status": "ok"}
