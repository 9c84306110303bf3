"""The one image preprocessing path, shared by training, evaluation, export and every runtime.

It uses only NumPy and Pillow, so the runtime-only (``pi``) install applies exactly the same steps
as training did. The spec is saved with every model and inside every artifact.

Steps, in order: decode, apply EXIF orientation, convert to RGB, resize through ``resize_chain``
(the built-in data set is stored at 64x64, so models trained on it record ``(64,)`` here and a raw
photograph takes the same detour), convert to the colour mode, resize to ``image_size``, then
``(pixel / 255 - mean) / std`` in ``channel_order``; with ``normalization="per_image"`` each image is
then standardised by its own mean and standard deviation (over all its pixels and channels), which
makes the model input blind to exposure and contrast (the per-image statistics are part of the
artifact's recorded preprocessing, so every runtime applies them).
"""

from __future__ import annotations

import io
import math
import os
import warnings
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from asl_edge.runtime.errors import DataError, NoHandFound
from asl_edge.runtime.views import SHIFT, VIEWS, check_names, expand

COLOR_MODES = {"rgb": ("RGB", 3), "grayscale": ("L", 1)}
NORMALIZATIONS = ("fixed", "per_image")
# Version of the plain input recipe embedded in artifacts (Preprocessing.input_recipe).
INPUT_SCHEMA_VERSION = 1
# Lower bound of the per-image standard deviation (on the normalised scale): a flat image maps to
# zeros instead of dividing by zero. 1/255 is one grey level.
PER_IMAGE_MIN_STD = 1.0 / 255.0
RESAMPLE = {"bilinear": Image.Resampling.BILINEAR, "bicubic": Image.Resampling.BICUBIC,
            "area": Image.Resampling.BOX, "nearest": Image.Resampling.NEAREST}
# Refuse decompression bombs with a clear error rather than Pillow's warning.
MAX_PIXELS = 64_000_000
# Bounds of image_size and resize_chain sides (a 30000 side would take 3.6 GB per image).
MIN_SIDE, MAX_SIDE = 8, 2048


def _short(value) -> str:
    from asl_edge.runtime.fsutil import printable

    text = printable(repr(value))
    return text if len(text) <= 60 else text[:57] + "..."


@dataclass(frozen=True)
class Preprocessing:
    """How a raw image becomes a model input.

    Attributes:
        image_size: model input (height, width).
        color_mode: ``rgb`` or ``grayscale``.
        resize_chain: square sizes the RGB image is resized through before the colour conversion.
        resample: Pillow resampling filter name.
        mean: per-channel mean, on the 0..1 scale, subtracted after scaling.
        std: per-channel standard deviation, on the 0..1 scale.
        channel_order: ``rgb`` or ``bgr`` (Caffe-style ImageNet backbones).
        normalization: ``fixed`` (only ``mean``/``std``) or ``per_image`` (then each image minus its own
            mean, divided by its own standard deviation, floored at :data:`PER_IMAGE_MIN_STD`).
        localiser: :class:`~asl_edge.runtime.hands.LocaliserConfig` settings: find the hand first.
        landmarks: :class:`~asl_edge.runtime.landmarks.LandmarkFeatures` settings (needs ``localiser``):
            the model reads the found hand's 21 landmarks, normalised, instead of its pixels. A
            sample (:meth:`load`) is then the ``(21, 3)`` landmarks in frame pixels and
            :meth:`normalize` makes the features; the image fields describe the frame the hand
            models read.
        fusion: :class:`~asl_edge.runtime.fusion.FusionSpec` settings (needs ``localiser``, not
            ``landmarks``): a fused landmark + crop model, which reads one hand search's crop
            (the image fields) and landmarks side by side. A sample is then one float32 row: the
            crop's ``uint8`` pixel values, then the ``(21, 3)`` landmarks (:meth:`fused_sample`);
            :meth:`normalize` makes the crop's input and the landmark features of it, in that order.
        views: test-time views of the hand's crop (:data:`asl_edge.runtime.views.VIEWS`, needs
            ``localiser``, not ``landmarks``): :meth:`classify` averages the model's probabilities
            over them. Empty: the crop is read once.
    """

    image_size: tuple[int, int] = (64, 64)
    color_mode: str = "rgb"
    resize_chain: tuple[int, ...] = ()
    resample: str = "bilinear"
    mean: tuple[float, ...] = (0.0,)
    std: tuple[float, ...] = (1.0,)
    channel_order: str = "rgb"
    normalization: str = "fixed"
    localiser: dict | None = None
    landmarks: dict | None = None
    fusion: dict | None = None
    views: tuple[str, ...] = ()

    def __post_init__(self):
        # Every field is checked for type and range: a preprocessing can come from an artifact's
        # metadata, which anyone can write (a resize_chain of [30000] would allocate gigabytes, a std of
        # [0] would divide by zero).
        def sizes(value, name, most):
            if not isinstance(value, tuple) or len(value) > most or \
                    any(isinstance(v, bool) or not isinstance(v, int) or not MIN_SIDE <= v <= MAX_SIDE for v in value):
                raise DataError(f"{name} must be at most {most} sizes between {MIN_SIDE} and {MAX_SIDE} pixels, "
                                f"got {_short(value)}")

        def floats(value, name):
            if not isinstance(value, tuple) or not 1 <= len(value) <= 3 or \
                    any(isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) for v in value):
                raise DataError(f"{name} must be 1 to 3 finite numbers, got {_short(value)}")

        for name in ("color_mode", "resample", "channel_order"):
            if not isinstance(getattr(self, name), str):
                raise DataError(f"{name} must be a name, got {_short(getattr(self, name))}")
        if self.channel_order not in ("rgb", "bgr"):
            raise DataError(f"channel_order must be rgb or bgr, got {_short(self.channel_order)}")
        sizes(self.image_size, "image_size", 2)
        sizes(self.resize_chain, "resize_chain", 4)
        floats(self.mean, "mean")
        floats(self.std, "std")
        if any(v < 1e-6 for v in self.std):
            raise DataError(f"std must be positive, got {_short(self.std)}")
        if self.normalization not in NORMALIZATIONS:
            raise DataError(f"unknown normalization '{self.normalization}'; choose one of: {', '.join(NORMALIZATIONS)}")
        if self.color_mode not in COLOR_MODES:
            raise DataError(f"unknown colour mode '{self.color_mode}'; choose one of: {', '.join(COLOR_MODES)}")
        if self.resample not in RESAMPLE:
            raise DataError(f"unknown resample filter '{self.resample}'; choose one of: {', '.join(RESAMPLE)}")
        if len(self.image_size) != 2:
            raise DataError(f"image_size must be two sizes of at least 8 pixels, got {self.image_size}")
        if len(self.mean) not in (1, self.channels) or len(self.std) not in (1, self.channels):
            raise DataError(f"mean and std need 1 or {self.channels} values for {self.color_mode}")
        if self.landmarks is not None:
            if self.localiser is None:
                raise DataError("preprocessing 'landmarks' needs a 'localiser': the hand models give the landmarks")
            _ = self.landmark_features  # checks the settings
        if self.fusion is not None:
            if self.localiser is None or self.landmarks is not None:
                raise DataError("preprocessing 'fusion' needs a 'localiser' and no 'landmarks' of its own: the fused "
                                "model reads the hand's crop and landmarks from one search")
            _ = self.fusion_spec  # checks the settings
        self._check_views()

    def _check_views(self) -> None:
        check_names(self.views)
        if self.views and (self.localiser is None or self.landmarks is not None):
            raise DataError("preprocessing 'views' are views of the hand's crop: they need a 'localiser' and a "
                            "model that reads the crop's pixels")

    @property
    def channels(self) -> int:
        return COLOR_MODES[self.color_mode][1]

    @property
    def landmark_features(self):
        """The :class:`~asl_edge.runtime.landmarks.LandmarkFeatures` of a landmark model, else ``None``."""
        if self.landmarks is None:
            return None
        from asl_edge.runtime.landmarks import LandmarkFeatures

        return LandmarkFeatures.from_dict(self.landmarks)

    @property
    def fusion_spec(self):
        """The :class:`~asl_edge.runtime.fusion.FusionSpec` of a fused model, else ``None``."""
        if self.fusion is None:
            return None
        from asl_edge.runtime.fusion import FusionSpec

        return FusionSpec.from_dict(self.fusion)

    @property
    def input_shape(self) -> tuple[int, ...]:
        """The model's input, one sample: ``(H, W, C)``, ``(features,)`` for a landmark model, or
        ``(H * W * C + features,)`` for a fused model."""
        if self.landmarks is not None:
            return (self.landmark_features.size,)
        if self.fusion is not None:
            return (self._pixels + self.fusion_spec.features.size + self._flag,)
        return (*self.image_size, self.channels)

    @property
    def _pixels(self) -> int:
        return self.image_size[0] * self.image_size[1] * self.channels

    @property
    def _flag(self) -> int:
        """1 where a fused model's row ends with its hand-found flag (``FusionSpec.hand_flag``), else 0."""
        return int(self.fusion is not None and self.fusion_spec.hand_flag)

    @property
    def sample_shape(self) -> tuple[int, ...]:
        """What :meth:`load` returns for one image: ``input_shape`` pixels, or a landmark model's
        ``(21, 3)`` landmarks (:meth:`normalize` makes them the input)."""
        from asl_edge.runtime.landmarks import NUM_LANDMARKS

        if self.landmarks is not None:
            return (NUM_LANDMARKS, 3)
        if self.fusion is not None:
            return (self._pixels + NUM_LANDMARKS * 3 + self._flag,)
        return self.input_shape

    def classify(self, runner, samples: np.ndarray) -> np.ndarray:
        """``runner``'s probabilities on samples of this preprocessing (:meth:`load`), averaged
        over the crop's :attr:`views` where it records any."""
        if not self.views:
            return runner.predict(self.normalize(samples))
        probs = runner.predict(self.normalize(expand(samples, self.views, (*self.image_size, self.channels))))
        return probs.reshape(len(samples), len(self.views), -1).mean(axis=1)

    def blank(self) -> np.ndarray:
        """A stand-in sample for an image without a hand (its prediction is not used)."""
        floats = self.landmarks is not None or self.fusion is not None
        return np.zeros(self.sample_shape, np.float32 if floats else np.uint8)

    def to_dict(self) -> dict:
        d = {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}
        if d["normalization"] == "fixed":
            del d["normalization"]  # the default: artifacts of fixed-normalisation models stay as they were
        if d["localiser"] is None:
            del d["localiser"]  # likewise for models that classify the whole image
        if d["landmarks"] is None:
            del d["landmarks"]  # and for models that read pixels
        if d["fusion"] is None:
            del d["fusion"]  # and for every model that is not a fusion of two
        if not d["views"]:
            del d["views"]  # and for models that read the crop once
        return d

    @classmethod
    def from_dict(cls, d: dict) -> Preprocessing:
        if not isinstance(d, dict):
            raise DataError(f"a preprocessing must be an object, got {_short(d)}")
        known = {f for f in cls.__dataclass_fields__}
        unknown = {str(k) for k in d} - known
        if unknown:
            raise DataError(f"unknown preprocessing keys: {', '.join(sorted(unknown))}")
        kw = {k: tuple(v) if isinstance(v, list) else v for k, v in d.items()}
        if kw.get("localiser") is not None and not isinstance(kw["localiser"], dict):
            raise DataError("preprocessing 'localiser' must be an object")
        if kw.get("localiser") is not None:  # checked when read, not at the first frame: ranges, bundled models
            from asl_edge.runtime.hands import LocaliserConfig

            LocaliserConfig.from_dict(kw["localiser"])
        for key in ("landmarks", "fusion"):
            if kw.get(key) is not None and not isinstance(kw[key], dict):
                raise DataError(f"preprocessing '{key}' must be an object")
        return cls(**kw)

    def input_recipe(self, labels, input_name: str | None = None, output_name: str | None = None) -> dict:
        """The whole input recipe in plain keys, for programs that are not asl-edge (schema version 1).

        Embedded in every artifact as ``asl_edge.input``; README's "Artifact metadata" documents
        the keys and runs an artifact with them using only ai-edge-litert, numpy and Pillow.
        """
        if self.landmarks is not None:
            return self._landmark_recipe(labels, input_name, output_name)
        recipe = (self._fusion_recipe(labels, input_name, output_name) if self.fusion is not None
                  else self._crop_recipe(labels, input_name, output_name))
        if self.views:
            recipe["views"] = {"shift": SHIFT, "moves": {name: list(VIEWS[name]) for name in self.views}}
            recipe["steps"].append("views: read the crop once per move, moved (x right, y down) by the move times "
                                   "views.shift of its side, edge pixels repeated into the gap; average the "
                                   "probabilities")
        return recipe

    def _crop_recipe(self, labels, input_name: str | None, output_name: str | None) -> dict:
        """:meth:`input_recipe` of a model that reads pixels (the hand's crop, or the whole image)."""
        height, width = self.image_size
        return {
            "schema_version": INPUT_SCHEMA_VERSION,
            "layout": "NHWC", "shape": [1, height, width, self.channels], "dtype": "float32",
            "color": self.color_mode, "channel_order": self.channel_order,
            "resize_chain": list(self.resize_chain), "size": [height, width], "resize_method": self.resample,
            "pixel_scale": 1 / 255, "mean": list(self.mean), "std": list(self.std),
            "normalization": self.normalization, "per_image_min_std": PER_IMAGE_MIN_STD,
            "hand_localiser": self.localiser is not None,
            "landmarks": self.landmarks,
            "steps": [
                "decode, apply the EXIF orientation, convert to RGB",
                "hand_localiser: find the hand and crop the square around it, turned upright where its 'upright' "
                "is set (asl_edge.runtime.hands); a single picture without a hand found is read whole where the "
                "localiser's 'whole_without_hand' is set (absent: true), a live frame says no hand",
                "resize to each side of resize_chain in turn (square), with resize_method",
                "convert to color ('grayscale': luminance, Pillow mode 'L'); resize to size (height, width)",
                "x = (pixel * pixel_scale - mean) / std, per channel, channels in channel_order",
                "normalization 'per_image': x = (x - mean(x)) / max(std(x), per_image_min_std) over the image",
                "int8 artifacts: quantise x with the input tensor's scale and zero point",
            ],
            "input_name": input_name, "output_name": output_name,
            "output": "probabilities (softmax), one per label, in label order",
            "labels": list(labels),
        }

    def _landmark_recipe(self, labels, input_name: str | None, output_name: str | None) -> dict:
        """:meth:`input_recipe` of a landmark model: hand models, then the landmark features."""
        return {
            "schema_version": INPUT_SCHEMA_VERSION,
            "layout": "NC", "shape": [1, *self.input_shape], "dtype": "float32",
            "hand_localiser": True, "landmarks": self.landmarks,
            "steps": [
                "decode, apply the EXIF orientation, convert to RGB",
                "hand_localiser: find the hand and its 21 landmarks (x, y in frame pixels, z the depth estimate "
                "in the same units; asl_edge.runtime.hands)",
                "landmarks: translate the wrist to 0, turn wrist -> landmark 9 upright, divide by the mean "
                "distance from the wrist to landmarks 5, 9, 13, 17, mirror x where landmark 5 lies right of "
                "landmark 17; landmarks 1..20 as (x, y) or, with use_z, (x, y, z) "
                "(asl_edge.runtime.landmarks.landmark_features)",
                "int8 artifacts: quantise x with the input tensor's scale and zero point",
            ],
            "input_name": input_name, "output_name": output_name,
            "output": "probabilities (softmax), one per label, in label order",
            "labels": list(labels),
        }

    def _fusion_recipe(self, labels, input_name: str | None, output_name: str | None) -> dict:
        """:meth:`input_recipe` of a fused model: the crop's recipe and the landmark features in one row."""
        crop = self.without_localiser().input_recipe(labels)
        spec = self.fusion_spec
        return {
            "schema_version": INPUT_SCHEMA_VERSION,
            "layout": "NC", "shape": [1, *self.input_shape], "dtype": "float32",
            "hand_localiser": True, "fusion": spec.to_dict(),
            "crop": {k: crop[k] for k in ("shape", "color", "channel_order", "resize_chain", "size", "resize_method",
                                          "pixel_scale", "mean", "std", "normalization", "per_image_min_std")},
            "steps": [
                "decode, apply the EXIF orientation, convert to RGB",
                "hand_localiser: find the hand, its box and its 21 landmarks (asl_edge.runtime.hands)",
                "the crop around the hand, turned upright where the localiser's 'upright' is set, through the "
                "'crop' recipe (as a crop model's input), flattened in NHWC order: the row's first part",
                "the landmarks as a landmark model reads them (asl_edge.runtime.landmarks.landmark_features with "
                "fusion.landmarks): the row's second part",
                *(["the row's last value (fusion.hand_flag): 1 where a hand was found; a single picture without "
                   "one: the whole picture through the 'crop' recipe, zeros for the landmark features and 0 here"]
                  if self._flag else []),
                "the graph quantises each part for its own model and combines the two models' probabilities "
                "(fusion.combination, fusion.weight: the landmark model's share, times the hand flag where "
                "there is one)",
            ],
            "input_name": input_name, "output_name": output_name,
            "output": "probabilities, one per label, in label order",
            "labels": list(labels),
        }

    @property
    def localises(self) -> bool:
        """Whether a hand is found and cropped before the rest of the preprocessing."""
        return self.localiser is not None

    @property
    def reads_whole_without_hand(self) -> bool:
        """Whether a single picture without a hand found is read whole (:meth:`load_reading`): a crop
        model, or a fused one with a hand flag (its crop model then reads alone), whose localiser
        settings say so (``LocaliserConfig.whole_without_hand``)."""
        from asl_edge.runtime.hands import LocaliserConfig

        reads_pixels = self.fusion is None or self.fusion_spec.hand_flag
        return (self.localiser is not None and self.landmarks is None and reads_pixels
                and bool(self.localiser.get("whole_without_hand", LocaliserConfig.whole_without_hand)))

    def read_whole(self, img: Image.Image) -> np.ndarray:
        """The sample of a picture read whole (no hand found, :attr:`reads_whole_without_hand`): the
        crop model's pixels of the whole picture; a fused model's row adds no landmarks and a hand flag of 0."""
        whole = self.without_localiser().load(img.convert("RGB"))
        if self.fusion is None:
            return whole
        row = self.blank()  # a fused row of zeros: no landmarks, the hand flag at 0
        row[:self._pixels] = whole.reshape(-1)
        return row

    def without_localiser(self) -> Preprocessing:
        """The same steps after the hand crop (what a crop goes through; the model reads it in the
        views of this preprocessing, :meth:`classify`)."""
        return replace(self, localiser=None, landmarks=None, fusion=None, views=())

    def before_localisation(self) -> Preprocessing:
        """What a data set is loaded with for a model with a localiser: the whole frame as RGB at
        the stored size (the first side of ``resize_chain``), nothing else; the localiser, then
        :meth:`without_localiser`, finish it. Training, export calibration, ``evaluate`` and
        ``benchmark`` all stage camera data through this one step."""
        side = self.resize_chain[0] if self.resize_chain else max(self.image_size)
        return replace(self, localiser=None, landmarks=None, fusion=None, views=(), resize_chain=(), color_mode="rgb",
                       normalization="fixed", image_size=(side, side))

    # -- pixels -------------------------------------------------------------------------------
    def load(self, source: str | os.PathLike | bytes | Image.Image, judge=None) -> np.ndarray:
        """Decodes and resizes one image to a ``uint8`` array of ``input_shape``; ``judge`` as for :meth:`locate`.

        Raises:
            DataError: the file is missing, not an image, corrupt or too large.
        """
        if self.landmarks is not None or self.fusion is not None:
            img = open_image(source) if not isinstance(source, Image.Image) else source
            read = self.hand_landmarks if self.landmarks is not None else self.fused_sample
            return read(img, name=source if isinstance(source, (str, os.PathLike)) else None, judge=judge)[0]
        return self.from_pil(self._decode_rgb(source, judge))

    def load_reading(self, source: str | os.PathLike | bytes | Image.Image, judge=None) -> tuple[np.ndarray, bool]:
        """:meth:`load` of a single picture, and whether a hand was found in it: where none is and
        :attr:`reads_whole_without_hand`, the whole picture, as the crop model's training read such
        close-ups. ``judge`` as for :meth:`locate`.

        Raises:
            NoHandFound: no hand, and a model that cannot read the whole picture.
            DataError: as :meth:`load`.
        """
        try:
            return self.load(source, judge), True
        except NoHandFound:
            if not self.reads_whole_without_hand:
                raise
        img = open_image(source) if not isinstance(source, Image.Image) else source
        return self.read_whole(img), False

    def load_rgb(self, source: str | os.PathLike | bytes | Image.Image) -> np.ndarray:
        """Decodes one image up to the colour conversion: the ``uint8`` RGB array after ``resize_chain``.

        :meth:`from_array` finishes it; ``from_array(load_rgb(x))`` equals ``load(x)``. Camera shifts
        (:mod:`asl_edge.runtime.shifts`) are applied between the two.
        """
        return np.asarray(self._decode_rgb(source), np.uint8)

    def _decode_rgb(self, source, judge=None) -> Image.Image:
        img = open_image(source) if not isinstance(source, Image.Image) else source
        img = img.convert("RGB")
        if self.localiser is not None:
            img = self.locate(img, name=source if isinstance(source, (str, os.PathLike)) else None, judge=judge)[0]
        for side in self.resize_chain:
            img = self._resize(img, (side, side))
        return img

    def locate(self, img: Image.Image, name=None, tracker=None, judge=None):
        """The hand crop of an RGB image and the hand's box in it (the localisation stage).

        Args:
            img: the frame.
            name: what to call it in the error.
            tracker: a :class:`~asl_edge.runtime.hands.HandTracker` of this localiser for a stream
                of frames (``img`` is the next one); ``None`` searches the frame on its own.
            judge: the model's top-1 probability on a hand, weighing the signer's choice among
                several (``Predictor.judge``; :meth:`~asl_edge.runtime.hands.HandLocaliser.find_hand`).

        Returns:
            ``(crop, box)``: the square crop (PIL, RGB) around the hand and its
            :class:`~asl_edge.runtime.hands.HandBox` in ``img``'s pixels.

        Raises:
            NoHandFound: the localiser found no hand (a distinct result, not a digit).
        """
        rgb, hand, localiser = self._found_hand(img, name, tracker, judge)
        box = hand.box()
        return Image.fromarray(localiser.crop(rgb, box), "RGB"), box

    def hand_landmarks(self, img: Image.Image, name=None, tracker=None, judge=None):
        """A landmark model's sample of an image: the found hand's ``(21, 3)`` landmarks and its box.

        Args and raises as :meth:`locate`.
        """
        rgb, hand, localiser = self._found_hand(img, name, tracker, judge)
        return localiser.reread_landmarks(rgb, hand).points(), hand.box()

    def fused_sample(self, img: Image.Image, name=None, tracker=None, judge=None):
        """A fused model's sample of an image: one hand search's crop pixels and landmarks in one
        float32 row (:attr:`fusion`), and the hand's box. Args and raises as :meth:`locate`."""
        rgb, hand, localiser = self._found_hand(img, name, tracker, judge)
        return self.fused_from_hand(rgb, hand, localiser), hand.box()

    def _found_hand(self, img: Image.Image, name, tracker, judge):
        """The image as RGB, the hand found in it (by ``tracker`` when given, else by a full search)
        and the localiser that found it; :class:`NoHandFound` when there is none."""
        from asl_edge.runtime.hands import cached_localiser

        rgb = np.asarray(img.convert("RGB"))
        localiser = cached_localiser(self.localiser) if tracker is None else tracker.localiser
        hand = localiser.find_hand(rgb, judge=judge) if tracker is None else tracker.update(rgb, judge)
        if hand is None:
            raise NoHandFound(f"no hand found in {name or 'the image'}")
        return rgb, hand, localiser

    def hand_sample(self, rgb: np.ndarray, hand, localiser) -> np.ndarray:
        """The model's sample of one hand ``localiser`` found in the RGB frame ``rgb``: its
        landmarks (a landmark model), its fused row (a fused model) or its crop's pixels."""
        if self.landmarks is not None:
            return localiser.reread_landmarks(rgb, hand).points()
        if self.fusion is not None:
            return self.fused_from_hand(rgb, hand, localiser)
        return self.without_localiser().load(Image.fromarray(localiser.crop(rgb, hand.box()), "RGB"))

    def fused_from_hand(self, rgb: np.ndarray, hand, localiser) -> np.ndarray:
        """A fused model's sample of a hand found in ``rgb`` by ``localiser`` (the crop it cuts)."""
        crop = self.without_localiser().load(Image.fromarray(localiser.crop(rgb, hand.box()), "RGB"))
        points = localiser.reread_landmarks(rgb, hand).points()
        return np.concatenate([crop.reshape(-1).astype(np.float32), points.reshape(-1),
                               np.ones(self._flag, np.float32)])

    def from_array(self, rgb: np.ndarray) -> np.ndarray:
        """Finishes preprocessing an RGB ``uint8`` array that already went through ``resize_chain``."""
        return self.from_pil(Image.fromarray(rgb, "RGB"))

    def from_pil(self, img: Image.Image) -> np.ndarray:
        pil_mode, _ = COLOR_MODES[self.color_mode]
        if img.mode != pil_mode:
            img = img.convert(pil_mode)
        height, width = self.image_size
        if img.size != (width, height):
            img = self._resize(img, (width, height))
        arr = np.asarray(img, dtype=np.uint8)
        return arr[..., None] if arr.ndim == 2 else arr

    def _resize(self, img: Image.Image, size: tuple[int, int]) -> Image.Image:
        # reducing_gap=None keeps the plain filter, identical for every source size and Pillow build.
        return img.resize(size, RESAMPLE[self.resample], reducing_gap=None)

    def normalize(self, batch: np.ndarray) -> np.ndarray:
        """Maps ``uint8`` pixels of shape ``(..., H, W, C)`` to the float32 model input."""
        if self.landmarks is not None:
            from asl_edge.runtime.landmarks import landmark_features

            return landmark_features(batch, self.landmark_features)
        if self.fusion is not None:
            return self._normalize_fused(batch)
        x = batch.astype(np.float32) / 255.0
        if self.channel_order == "bgr":
            x = x[..., ::-1]
        mean = np.asarray(self.mean, np.float32)
        std = np.asarray(self.std, np.float32)
        x = (x - mean) / std
        if self.normalization == "per_image":
            axes = tuple(range(x.ndim - 3, x.ndim))
            centred = x - x.mean(axis=axes, keepdims=True)
            spread = np.sqrt(np.mean(np.square(centred), axis=axes, keepdims=True))
            x = centred / np.maximum(spread, np.float32(PER_IMAGE_MIN_STD))
        return x.astype(np.float32)


    def _normalize_fused(self, batch: np.ndarray) -> np.ndarray:
        """A fused model's rows (:meth:`fused_sample`) -> its input: the crop as the crop model
        normalises it, flattened, then the landmark features."""
        from asl_edge.runtime.landmarks import NUM_LANDMARKS, landmark_features

        batch = np.asarray(batch, np.float32)
        lead, n = batch.shape[:-1], self._pixels
        pixels = np.clip(np.round(batch[..., :n]), 0, 255).astype(np.uint8).reshape(*lead, *self.image_size,
                                                                                    self.channels)
        crop = self.without_localiser().normalize(pixels).reshape(*lead, n)
        points = batch[..., n:n + NUM_LANDMARKS * 3].reshape(*lead, NUM_LANDMARKS, 3)
        flag = batch[..., n + NUM_LANDMARKS * 3:]  # the hand-found flag, where the row has one, passes through
        return np.concatenate([crop, landmark_features(points, self.fusion_spec.features), flag], axis=-1)


BATCH_BYTES = 128 << 20


def batch_for(input_shape, wanted: int) -> int:
    """Images per batch: ``wanted``, fewer for large inputs, so that a batch and the float32 copies
    made while normalising it (about three) stay within :data:`BATCH_BYTES` (32 images of the
    largest input allowed, 2048x2048 RGB, took 2.4 GB; they go one at a time)."""
    per_image = int(np.prod(input_shape, dtype=np.int64)) * 4 * 3
    return max(1, min(int(wanted), BATCH_BYTES // max(per_image, 1)))


def open_image(source: str | os.PathLike | bytes) -> Image.Image:
    """Opens and fully decodes an image with its EXIF orientation applied.

    Raises:
        DataError: one line naming the file and the problem.
    """
    name = "<bytes>" if isinstance(source, (bytes, bytearray)) else str(source)
    try:
        if not isinstance(source, (bytes, bytearray)):
            path = Path(source)
            if not path.exists():
                raise DataError(f"image not found: {name}")
            if not path.is_file():
                raise DataError(f"not a file: {name}")
        # Pillow warns (rather than fails) on damaged EXIF or TIFF tags and then decodes what it
        # can; the image either decodes or raises below, so the warnings add nothing for a user.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            img = Image.open(io.BytesIO(source) if isinstance(source, (bytes, bytearray)) else source)
            if img.width * img.height > MAX_PIXELS:
                raise DataError(f"image too large ({img.width}x{img.height}): {name}")
            img.load()
            img = ImageOps.exif_transpose(img)
        return to_8bit(img)
    except DataError:
        raise
    except UnidentifiedImageError:
        raise DataError(f"not an image file: {name}") from None
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError, EOFError) as exc:
        raise DataError(f"cannot read image {name}: {exc}") from None


def to_8bit(img: Image.Image) -> Image.Image:
    """16-bit and 32-bit single-channel images scaled to 8 bits (Pillow's ``convert("RGB")``
    clips them instead, so a 16-bit grayscale PNG would become all white)."""
    if img.mode not in ("I", "F") and not img.mode.startswith("I;16"):
        return img
    # float32 and in place: a 64-megapixel float TIFF (a few KB compressed) is 256 MB decoded; float64
    # copies of it at each step took 2.2 GB. float32 holds any 8-bit result exactly enough.
    arr = np.array(img, dtype=np.float32)
    if img.mode.startswith("I;16"):
        top = 65535.0
    else:
        peak, flat = None, arr.reshape(-1)
        for i in range(0, flat.size, 1 << 22):  # in slices: a mask of the whole image is another copy
            part = flat[i:i + (1 << 22)]
            part = part[np.isfinite(part)]
            peak = float(part.max()) if part.size and (peak is None or part.max() > peak) else peak
        peak = 0.0 if peak is None else peak
        top = 1.0 if img.mode == "F" and peak <= 1.0 else 255.0 if peak <= 255 else 65535.0 if peak <= 65535 else peak
    np.nan_to_num(arr, copy=False, nan=0.0, posinf=top, neginf=0.0)
    arr *= np.float32(255.0 / top)
    np.clip(np.round(arr, out=arr), 0, 255, out=arr)
    return Image.fromarray(arr.astype(np.uint8), "L")


IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp", ".tif", ".tiff", ".ppm", ".pgm"}
