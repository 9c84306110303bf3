"""``asl-edge predict``: top-k labels for images or a camera, from one self-describing artifact.

Works in the runtime-only (``pi``) install: labels and preprocessing come from the artifact's own
metadata (or from the run folder for a Keras model, which needs the train extra).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from asl_edge.runtime.errors import DataError, ModelError, NoHandFound
from asl_edge.runtime.preprocess import IMAGE_SUFFIXES, Preprocessing

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Predictor:
    """A runner with the labels and preprocessing that belong to it."""

    runner: object
    labels: tuple[str, ...]
    preprocessing: Preprocessing

    def top_k(self, images: np.ndarray, k: int = 3) -> list[list[tuple[str, float]]]:
        """Top-``k`` (label, probability) per ``uint8`` image of the preprocessing's shape.

        Raises:
            DataError: ``k`` below 1 (``-1`` would drop a label silently).
        """
        if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
            raise DataError(f"top-k must be a whole number of at least 1, got {k!r}")
        probs = self.preprocessing.classify(self.runner, images)
        if probs.ndim != 2 or probs.shape[1] != len(self.labels):
            raise ModelError(f"the model gives {probs.shape[-1] if probs.ndim else 0} outputs for "
                             f"{len(self.labels)} labels: the artifact and its metadata do not match")
        if not np.isfinite(probs).all() or probs.min() < -1e-3 or probs.max() > 1 + 1e-3:
            raise ModelError("the model gives outputs that are not probabilities (NaN, infinite or outside 0..1): "
                             "the artifact is damaged; re-export it")
        order = np.argsort(-probs, axis=1)[:, :k]
        return [[(self.labels[j], float(p[j])) for j in row] for row, p in zip(order, probs)]

    def judge(self, rgb: np.ndarray, hand) -> float:
        """How sure the model is of one hand's sign: its top-1 probability on the sample of ``hand``,
        found in the RGB frame ``rgb`` by this model's localiser (the signer's hand shows a sign; a
        bystander's resting hand reads unsure; ``LocaliserConfig.sign_weight``)."""
        from asl_edge.runtime.hands import cached_localiser

        sample = self.preprocessing.hand_sample(rgb, hand, cached_localiser(self.preprocessing.localiser))
        return self.top_k(sample[None], 1)[0][0][1]

    def predict(self, images, k: int = 3, all_hands: bool = False):
        """Labels with probabilities for one image or many (the public API's ``Model.predict``).

        Args:
            images: a path, a PIL image or an RGB/grayscale ``uint8`` array ``(H, W[, C])``, or a
                list of them.
            k: labels per image, best first.
            all_hands: a model with a hand localiser also reads every other hand it finds
                (``Result.hands``: box and labels of each, the signer's first); the answer stays
                the signer's.

        Returns:
            One :class:`Result` for one image, a list of them for a list.

        Raises:
            DataError: an image that cannot be read, or ``all_hands`` for a model without a localiser.
        """
        if all_hands:
            return self._predict_all_hands(images, k)
        single = not isinstance(images, (list, tuple))
        loaded = [(source_name(img), *self._sample(img)) for img in ([images] if single else images)]
        read = [x for _, x, _, _ in loaded if x is not None]
        tops = iter(self.top_k(np.stack(read), k)) if read else iter(())
        results = [Result(None, 0.0, (), source=name, hand_found=False) if x is None
                   else _result(next(tops), name, None if box is None else _box(box), found)
                   for name, x, box, found in loaded]
        return results[0] if single else results

    def _predict_all_hands(self, images, k: int):
        if not self.preprocessing.localises:
            raise DataError("every hand (--all-hands) needs a model that finds the hand first (the camera recipe)")
        single = not isinstance(images, (list, tuple))
        results = [replace(self.read_hands(self._rgb(img), k), source=source_name(img))
                   for img in ([images] if single else images)]
        return results[0] if single else results

    def read_hands(self, rgb: np.ndarray, k: int = 3) -> Result:
        """Every hand of an RGB ``uint8`` frame (full search, :meth:`HandLocaliser.find_hands`),
        each read by the model; the result answers for the signer's (:meth:`HandLocaliser.choose`,
        judged by these readings), listed first."""
        from asl_edge.runtime.hands import cached_localiser

        localiser = cached_localiser(self.preprocessing.localiser)
        found = localiser.find_hands(rgb)
        if not found:
            return Result(None, 0.0, (), source="array", hand_found=False)
        tops = self.top_k(np.stack([self.preprocessing.hand_sample(rgb, hand, localiser) for hand in found]), k)
        sure = {id(hand): top[0][1] for hand, top in zip(found, tops)}
        signer = localiser.choose(found, rgb.shape[1], rgb.shape[0], judge=lambda hand: sure[id(hand)])
        order = sorted(range(len(found)), key=lambda i: found[i] is not signer)
        read = tuple(HandResult(tops[i][0][0], tops[i][0][1], tuple(tops[i]), _box(found[i].box()), found[i] is signer)
                     for i in order)
        return Result(read[0].label, read[0].probability, read[0].top, read, "array", read[0].box, True)

    def _rgb(self, image) -> np.ndarray:
        from PIL import Image

        from asl_edge.runtime.preprocess import open_image

        image = _array_as_picture(image)
        img = image if isinstance(image, Image.Image) else open_image(image)
        return np.asarray(img.convert("RGB"))

    def _sample(self, image):
        """The model's input for one image (``None``: no hand, and a model that cannot read without
        one), the hand's box in it, and whether a hand was found (``None``: a model without a localiser).

        The same pixels as :meth:`Preprocessing.load_reading` (the crop, then the preprocessing
        without the localiser; the whole picture where no hand is found and the model reads it), with
        the box that step finds and would otherwise drop.
        """
        from PIL import Image

        from asl_edge.runtime.preprocess import open_image

        pre, picture = self.preprocessing, _array_as_picture(image)
        if not pre.localises:
            return pre.load(picture), None, None
        name = picture if isinstance(picture, (str, os.PathLike)) else None
        img = picture if isinstance(picture, Image.Image) else open_image(picture)
        try:
            if pre.landmarks is not None:
                return *pre.hand_landmarks(img, name=name, judge=self.judge), True
            if pre.fusion is not None:
                return *pre.fused_sample(img, name=name, judge=self.judge), True
            crop, box = pre.locate(img.convert("RGB"), name=name, judge=self.judge)
        except NoHandFound:
            whole = pre.read_whole(img) if pre.reads_whole_without_hand else None
            return whole, None, False
        return pre.without_localiser().load(crop), box, True


@dataclass(frozen=True)
class HandResult:
    """One hand of an image (``predict(..., all_hands=True)``): its label, probability, top-k,
    box ``(x0, y0, x1, y1)`` in the image's pixels, and whether it is the one the answer is for
    (``signer``: :meth:`asl_edge.runtime.hands.HandLocaliser.choose`)."""

    label: str
    probability: float
    top: tuple[tuple[str, float], ...]
    box: tuple[float, float, float, float]
    signer: bool


@dataclass(frozen=True)
class Result:
    """One image's answer: the best label, its probability and the top-k list; ``label`` is
    ``None`` when a model with a hand localiser found no hand and cannot read the picture without
    one (a landmark model, or a fused one without the hand flag: no hand, no guess). ``hands``:
    every hand read, the signer's first (only when asked for, ``all_hands``).

    ``source``: the file's path, or ``"array"``, ``"image"`` (a PIL image) or ``"bytes"``;
    ``box``: the hand read, ``(x0, y0, x1, y1)`` in the image's pixels (``None`` without a hand or a
    localiser); ``hand_found``: whether the localiser found a hand (``None``: the model reads the
    whole image and searches for none; ``False`` with a label: no hand found, the whole picture
    read, as ``LocaliserConfig.whole_without_hand`` says)."""

    label: str | None
    probability: float
    top: tuple[tuple[str, float], ...]
    hands: tuple[HandResult, ...] = ()
    source: str = ""
    box: tuple[float, float, float, float] | None = None
    hand_found: bool | None = None

    @property
    def no_hand(self) -> bool:
        """Whether a model with a hand localiser found no hand (with a label: the whole picture read)."""
        return self.hand_found is False


def _result(top: list[tuple[str, float]], source: str = "", box=None, hand_found: bool | None = None) -> Result:
    return Result(top[0][0], top[0][1], tuple(top), source=source, box=box, hand_found=hand_found)


def source_name(image) -> str:
    """What a :class:`Result` says it read: a path as given, else the kind of object."""
    if isinstance(image, (str, os.PathLike)):
        return os.fspath(image)
    return "array" if isinstance(image, np.ndarray) else "bytes" if isinstance(image, bytes) else "image"


def _box(box) -> tuple[float, float, float, float]:
    return (round(box.x0, 1), round(box.y0, 1), round(box.x1, 1), round(box.y1, 1))


def _array_as_picture(image):
    """A uint8 (H, W) or (H, W, C) array as a PIL picture; paths and pictures pass through."""
    if not isinstance(image, np.ndarray):
        return image
    from PIL import Image

    arr = np.asarray(image)
    if arr.dtype != np.uint8 or arr.ndim not in (2, 3):
        raise DataError(f"an image array must be uint8 (H, W) or (H, W, C), got {arr.dtype} {arr.shape}")
    return Image.fromarray(arr[..., 0] if arr.ndim == 3 and arr.shape[2] == 1 else arr)


def load_predictor(artifact: str | Path, threads: int | None = None, verify: bool = True) -> Predictor:
    """Loads an artifact (``.tflite``/``.onnx``) or a run folder / ``.keras`` model for prediction.

    Raises:
        ModelError: missing metadata, or an input shape that does not match the preprocessing.
        IntegrityError: the artifact no longer matches its manifest (unless ``verify`` is false).
    """
    from asl_edge.runtime.describe import describe
    from asl_edge.runtime.integrity import check_artifact
    from asl_edge.runtime.runners import load_runner

    desc = describe(artifact)
    if desc.is_artifact:
        check_artifact(desc.path, verify=verify)
    labels, preprocessing, path = desc.labels, desc.preprocessing, desc.path
    # An artifact is validated and then run once in a memory-capped child before this process
    # loads it: a manifest beside it can be crafted as easily as the file, so it does
    # not exempt it. The probe is remembered per sha256, so a device pays it once per artifact.
    runner = load_runner(desc.model_path, threads=threads, probe_first=desc.is_artifact)
    if tuple(runner.input_shape) != tuple(preprocessing.input_shape):
        raise ModelError(f"{path.name} takes {tuple(runner.input_shape)} inputs but its metadata describes "
                         f"{tuple(preprocessing.input_shape)}: the artifact and its metadata do not match")
    return Predictor(runner, labels, preprocessing)


def expand_images(sources: Iterable[str | Path]) -> Iterator[Path]:
    """Files as given; folders walked (sorted) for files with image suffixes."""
    for source in sources:
        path = Path(source)
        if path.is_dir():
            for dirpath, dirnames, filenames in os.walk(path):
                dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
                for name in sorted(filenames):
                    if Path(name).suffix.lower() in IMAGE_SUFFIXES and not name.startswith("."):
                        yield Path(dirpath) / name
        else:
            yield path


@dataclass(frozen=True)
class Prediction:
    """One file's answer: ``top`` labels, or an ``error``; ``no_hand``: a model with a localiser found
    none (``top`` is then the whole picture's reading where the model reads it, else ``None``)."""

    path: str
    top: list[tuple[str, float]] | None = None
    error: str | None = None
    no_hand: bool = False


def predict_files(predictor: Predictor, sources: Iterable[str | Path], k: int = 3,
                  batch_size: int = 32) -> Iterator[Prediction]:
    """Predicts every image; an unreadable one yields a ``Prediction`` with ``error`` and the rest go on."""
    from asl_edge.runtime.preprocess import batch_for

    batch: list[tuple[Path, np.ndarray, bool]] = []
    batch_size = batch_for(predictor.preprocessing.input_shape, batch_size)

    def flush():
        if batch:
            tops = predictor.top_k(np.stack([img for _, img, _ in batch]), k)
            for (p, _, found), top in zip(batch, tops):
                yield Prediction(str(p), top, no_hand=not found)
            batch.clear()

    for path in expand_images(sources):
        try:
            batch.append((path, *predictor.preprocessing.load_reading(path, judge=predictor.judge)))
        except NoHandFound:
            yield from flush()
            yield Prediction(str(path), no_hand=True)
            continue
        except DataError as exc:
            yield from flush()
            yield Prediction(str(path), error=str(exc))
            continue
        if len(batch) >= batch_size:
            yield from flush()
    yield from flush()


def classify_frame(predictor: Predictor, rgb, tracker=None) -> tuple[str | None, float, tuple | None]:
    """Label, probability and hand box of one RGB frame (PIL image); ``(None, 0.0, None)`` without a hand.

    ``tracker`` (a :class:`~asl_edge.runtime.hands.HandTracker`): ``rgb`` is the next frame of its
    stream; without one the frame is searched on its own."""
    pre = predictor.preprocessing
    box = None
    if pre.landmarks is not None or pre.fusion is not None:
        read = pre.hand_landmarks if pre.landmarks is not None else pre.fused_sample
        try:
            # the landmarks (and crop) are this model's "pixels"
            pixels, hand = read(rgb, tracker=tracker, judge=predictor.judge)
        except NoHandFound:
            return None, 0.0, None
        box = (hand.x0, hand.y0, hand.x1, hand.y1)
    elif pre.localises:
        try:
            crop, hand = pre.locate(rgb, tracker=tracker, judge=predictor.judge)
        except NoHandFound:
            return None, 0.0, None
        box = (hand.x0, hand.y0, hand.x1, hand.y1)
        pixels = pre.without_localiser().load(crop)
    else:
        pixels = pre.load(rgb)
    label, prob = predictor.top_k(pixels[None], 1)[0][0]
    return label, prob, box
