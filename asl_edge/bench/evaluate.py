"""``asl-edge evaluate``: the same metrics for a Keras model, a TFLite or an ONNX artifact.

Runs only through :mod:`asl_edge.runtime.runners`, so artifacts evaluate in the runtime-only install;
the preprocessing comes from the run folder (Keras) or from the artifact's embedded metadata
(:func:`asl_edge.runtime.describe.describe`). Folder trees are always streamed from disk a batch at
a time: evaluation reads each image once, so holding them all would only cost memory. With camera
shifts (:mod:`asl_edge.runtime.shifts`), each shift is applied to the decoded image and the rest of
the model's own preprocessing follows.
"""

from __future__ import annotations

import logging
import sys
from dataclasses import replace
from pathlib import Path
from typing import NamedTuple

import numpy as np

from asl_edge.bench.targets import split_of
from asl_edge.data.identity import eval_data
from asl_edge.runtime import runfolder
from asl_edge.runtime.errors import ModelError
from asl_edge.runtime.fmt import with_count
from asl_edge.runtime.fsutil import atomic_write_json
from asl_edge.runtime.metrics import classification_metrics, plot_confusion_matrix
from asl_edge.runtime.preprocess import Preprocessing, batch_for

log = logging.getLogger(__name__)


def predict_batches(runner, ds, batch_size: int = 256) -> np.ndarray:
    """Runs ``runner`` over a data set in batches and returns the stacked probabilities."""
    from tqdm import tqdm

    out = []
    batch_size = batch_for(ds.preprocessing.input_shape, batch_size)
    for start in tqdm(range(0, len(ds), batch_size), desc="evaluate", unit="batch", file=sys.stderr, disable=None,
                      leave=False):
        index = np.arange(start, min(start + batch_size, len(ds)))
        out.append(ds.preprocessing.classify(runner, ds.load_images(index)))
    return np.concatenate(out)


def predict_localised(runner, ds, preprocessing: Preprocessing, transform=None,
                      batch_size: int = 64, judge=None) -> tuple[np.ndarray, np.ndarray]:
    """Probabilities and hand-found flags for a model with a hand localiser.

    ``ds`` holds the images before localisation (:meth:`Preprocessing.before_localisation`): each one (after
    ``transform``, a camera shift) goes through the model's whole preprocessing, localiser
    included; an image without a hand (``found`` false) gets the whole picture's reading where the
    preprocessing reads it (:meth:`Preprocessing.load_reading`), else a blank input's. ``judge``: the
    model weighing the signer's choice among several hands (:func:`model_judge`), as ``predict`` does.
    """
    from PIL import Image
    from tqdm import tqdm

    from asl_edge.runtime.errors import NoHandFound
    from asl_edge.runtime.preprocess import open_image

    probs, found = [], []
    batch_size = batch_for(preprocessing.input_shape, batch_size)
    for start in tqdm(range(0, len(ds), batch_size), desc="evaluate", unit="batch", file=sys.stderr, disable=None,
                      leave=False):
        batch = []
        for i in range(start, min(start + batch_size, len(ds))):
            img = open_image(ds.paths[i]).convert("RGB") if ds.streaming else Image.fromarray(ds.images[i], "RGB")
            if transform is not None:
                img = Image.fromarray(transform(np.asarray(img)), "RGB")
            try:
                x, hand = preprocessing.load_reading(img, judge=judge)
                batch.append(x)
                found.append(hand)
            except NoHandFound:
                batch.append(preprocessing.blank())
                found.append(False)
        probs.append(preprocessing.classify(runner, np.stack(batch)))
    return np.concatenate(probs), np.asarray(found, bool)


def _shift_stage(preprocessing: Preprocessing) -> Preprocessing:
    """The preprocessing that stops where camera shifts apply: RGB, after ``resize_chain``.

    With a resize chain (every model trained on the built-in set records ``(64,)``) this is exact;
    without one, the decoded photo has no fixed size, so the RGB stage is taken at the model's size.
    """
    side = preprocessing.resize_chain[-1] if preprocessing.resize_chain else None
    size = (side, side) if side else tuple(preprocessing.image_size)
    return replace(preprocessing, color_mode="rgb", image_size=size, normalization="fixed")


class _Target(NamedTuple):
    runner: object
    class_names: tuple[str, ...]
    preprocessing: Preprocessing
    ds: object
    chosen: object  # asl_edge.data.identity.EvalData: what the data is


def model_judge(target: _Target):
    """The model of ``target`` as the judge of which hand is the signer's (:meth:`Predictor.judge`)."""
    from asl_edge.runtime.predict import Predictor

    return Predictor(target.runner, target.class_names, target.preprocessing).judge


def _load_target(model: str | Path, data: str | None, verify: bool, override=None) -> _Target:
    """The runner, labels, preprocessing and data of ``model``: by default exactly its held-out
    split (:func:`asl_edge.data.identity.eval_data`); ``override`` changes the preprocessing the data
    is loaded with (not the model's own)."""
    from asl_edge.runtime.describe import describe
    from asl_edge.runtime.integrity import check_artifact
    from asl_edge.runtime.runners import load_runner

    desc = describe(model)
    if desc.is_artifact:
        check_artifact(desc.path, verify=verify)
    if desc.preprocessing.localises:
        override = Preprocessing.before_localisation  # shifts, too, apply to the whole frame before the hand is found
    load_pre = override(desc.preprocessing) if override else desc.preprocessing
    chosen = eval_data(load_pre, split_of(desc), data, stream=True)
    if tuple(chosen.dataset.class_names) != tuple(desc.labels):
        raise ModelError(f"the data's classes ({', '.join(chosen.dataset.class_names[:5])}...) do not match the "
                         f"model's ({', '.join(desc.labels[:5])}...)")
    runner = load_runner(desc.model_path, probe_first=desc.is_artifact)  # unverified: probed first, see load_predictor
    return _Target(runner, desc.labels, desc.preprocessing, chosen.dataset, chosen)


def evaluate_model(model: str | Path, data: str | None = None, out_dir: str | Path | None = None,
                   verify: bool = True) -> dict:
    """Evaluates ``model`` (run folder, ``.keras``, ``.tflite`` or ``.onnx``) on ``data``.

    Args:
        model: what to evaluate.
        data: a data source, scored whole; by default exactly the model's held-out split (the
            one embedded in an artifact, or its run's), else the built-in set, said so.
        out_dir: where to write ``metrics.json`` and ``confusion_matrix.png``.
        verify: check an artifact's sha256 against its export manifest first.

    Returns:
        The metrics dict (top-level ``accuracy`` and ``macro_f1``; ``data``, ``num_samples`` and
        ``includes_training_images`` say what was scored, ``warning`` when not a held-out split;
        ``no_hand``/``no_hand_share`` for a model with a hand localiser).
    """
    target = _load_target(model, data, verify)
    if target.preprocessing.localises:
        probs, found = predict_localised(target.runner, target.ds, target.preprocessing, judge=model_judge(target))
        metrics = classification_metrics(target.ds.labels, probs, target.class_names, found=found,
                                         read_whole=target.preprocessing.reads_whole_without_hand)
    else:
        metrics = classification_metrics(target.ds.labels, predict_batches(target.runner, target.ds),
                                         target.class_names)
    metrics.update(model=str(model), runtime=target.runner.runtime, **target.chosen.to_dict())
    if target.chosen.warning:
        metrics["warning"] = target.chosen.warning
    if out_dir is not None:
        out_dir = Path(out_dir)
        atomic_write_json(out_dir / runfolder.METRICS_FILE, metrics)
        plot_confusion_matrix(metrics, out_dir / runfolder.CONFUSION_FILE, title=Path(model).name)
    return metrics


def evaluate_shifts(model: str | Path, data: str | None = None, shifts=None, verify: bool = True,
                    batch_size: int = 256) -> dict:
    """Accuracy of ``model`` on ``data`` unchanged and under each camera shift.

    Each shift is applied to the RGB image as decoded and resized through ``resize_chain``, before
    the colour-mode conversion and the final resize; the rest of the model's own preprocessing then
    follows, so a grayscale model sees a real grayscale shift. Works for Keras run folders and for
    ``.tflite``/``.onnx`` artifacts (the latter without TensorFlow).

    Args:
        model: run folder, ``.keras``, ``.tflite`` or ``.onnx``.
        data: a data source; by default the run's held-out test split (Keras) or the built-in set.
        shifts: the :class:`~asl_edge.runtime.shifts.Shift` objects; the whole suite by default.
        verify: check an artifact's sha256 against its export manifest first.
        batch_size: images per runtime call.

    Returns:
        The plain metrics dict of :func:`evaluate_model` (for the unchanged images) plus ``shifts``
        (``{name: {"accuracy", "family", "severity", "num_samples"}}``, plus ``no_hand`` for a
        model with a hand localiser) and ``worst_shift``
        (``{"name", "accuracy"}``).
    """
    from asl_edge.runtime.shifts import camera_shifts

    shifts = camera_shifts() if shifts is None else tuple(shifts)
    target = _load_target(model, data, verify, override=_shift_stage)
    labels = target.ds.labels
    masks = _MaskLookup(target.ds) if any(s.needs_mask for s in shifts) else None
    probs, found = _predict_shifted(target, None if target.preprocessing.localises else (lambda img: img),
                                    batch_size)
    whole = target.preprocessing.reads_whole_without_hand
    metrics = classification_metrics(labels, probs, target.class_names, found=found, read_whole=whole)
    metrics.update(model=str(model), runtime=target.runner.runtime, **target.chosen.to_dict())
    if target.chosen.warning:
        metrics["warning"] = target.chosen.warning
    results = {}
    for shift in shifts:
        probs, found = _predict_shifted(target, masks.apply(shift) if shift.needs_mask else shift.apply, batch_size)
        results[shift.name] = _shift_result(shift, probs, found, labels, whole)
        log.info("shift %s: accuracy %.4f", shift.name, results[shift.name]["accuracy"])
    metrics["shifts"] = results
    if masks is not None:
        metrics["hand_masks"] = masks.quality()
    if results:
        worst = min(results, key=lambda k: results[k]["accuracy"])
        metrics["worst_shift"] = {"name": worst, "accuracy": results[worst]["accuracy"]}
    else:
        metrics["worst_shift"] = None
    return metrics


def _predict_shifted(target: _Target, transform, batch_size: int) -> tuple[np.ndarray, np.ndarray | None]:
    """Probabilities of ``target``'s model on its images, each changed by ``transform`` first (the
    RGB image as decoded, before the model's colour mode and final resize); with a hand localiser,
    also which images it found a hand in."""
    runner, pre, rgb_ds = target.runner, target.preprocessing, target.ds
    if pre.localises:
        return predict_localised(runner, rgb_ds, pre, transform, judge=model_judge(target))
    out, step = [], batch_for(pre.input_shape, batch_size)
    for start in range(0, len(rgb_ds), step):
        index = np.arange(start, min(start + step, len(rgb_ds)))
        rgb = rgb_ds.load_images(index)
        batch = np.stack([pre.from_array(transform(img)) for img in rgb])
        out.append(pre.classify(runner, batch))
    return np.concatenate(out), None


def _shift_result(shift, probs: np.ndarray, found: np.ndarray | None, labels: np.ndarray,
                  read_whole: bool = False) -> dict:
    """One shift's entry: accuracy (an image without a hand found counts wrong, unless the model read
    the whole picture), and its description."""
    right = probs.argmax(1) == labels
    acc = float((right if found is None or read_whole else right & found).mean())
    result = {"accuracy": acc, "family": shift.family, "severity": shift.severity, "num_samples": int(len(labels))}
    if found is not None:  # a model with a localiser: the images where it found no hand
        result["no_hand"] = int((~found).sum())
    return result


class _MaskLookup:
    """The hand mask of each image of ``ds`` (:mod:`asl_edge.data.masks`, cached), looked up by the
    image's bytes when a background shift asks; an image it does not hold (a frame decoded at
    another size) gets its own on the spot."""

    def __init__(self, ds, batch_size: int = 256):
        from asl_edge.data.masks import hand_masks, image_key

        self._key = image_key
        self._masks: dict[str, np.ndarray] = {}
        self._sets = []
        for start in range(0, len(ds), batch_size):
            images = ds.load_images(np.arange(start, min(start + batch_size, len(ds))))
            masks = hand_masks(images)
            self._sets.append(masks)
            self._masks.update((image_key(img), m) for img, m in zip(images, masks.masks))

    def mask(self, img: np.ndarray) -> np.ndarray:
        key = self._key(img)
        if key not in self._masks:
            from asl_edge.data.masks import hand_masks

            self._masks[key] = hand_masks(img[None]).masks[0]
        return self._masks[key]

    def apply(self, shift):
        return lambda img: shift.apply(img, mask=self.mask(img))

    def quality(self) -> dict:
        """:meth:`asl_edge.data.masks.MaskSet.quality` of the scored images' masks."""
        from asl_edge.data.masks import MaskSet

        return MaskSet(*(np.concatenate([getattr(s, f) for s in self._sets])
                         for f in ("masks", "found", "landmarks_inside", "agreement"))).quality()


def format_shifts(metrics: dict) -> str:
    """The text report of :func:`evaluate_shifts`: one line per shift, grouped by family."""
    from asl_edge.runtime.fmt import percent

    fallback = "the whole picture read" if metrics.get("no_hand_read_whole") else "counted as wrong"

    def line(name: str, family: str, r: dict) -> str:
        no_hand = f"  (no hand found in {r['no_hand']}: {fallback})" if r.get("no_hand") else ""
        return f"  {name:22} {family:9} accuracy {percent(r['accuracy']):>7}{no_hand}"

    lines = [f"{metrics['model']} ({metrics['runtime']})",
             f"data: {with_count(metrics['data'], metrics['num_samples'])}", line("unchanged", "", metrics)]
    lines += [line(name, r["family"], r) for name, r in metrics["shifts"].items()]
    if metrics.get("worst_shift"):
        lines.append(f"worst shift: {metrics['worst_shift']['name']} ({percent(metrics['worst_shift']['accuracy'])})")
    return "\n".join(lines)
