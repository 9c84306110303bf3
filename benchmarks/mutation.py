"""Mutation testing of the modules where a silent bug changes numbers: ``make mutation``.

mutmut (https://mutmut.readthedocs.io) changes one thing at a time in a module (a ``<`` into
``<=``, a constant, a dropped argument...) and runs the tests that reach it; a mutant that no test
notices "survives". The score is killed / (killed + survived): the share of such silent changes the
suite catches. Each module runs in its own scratch copy under ``runs/mutation/<name>`` with only
the tests that exercise it (the whole suite per mutant would take days on two cores), and the
results go to ``benchmarks/results/quality/mutation.json`` with every surviving mutant's diff.

A survivor that cannot change behaviour (an equivalent mutant) is listed in ``EQUIVALENT`` with the
reason; it is reported apart and left out of the score.

    python benchmarks/mutation.py                     # every module of the table
    python benchmarks/mutation.py schedules metrics   # some of them
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import fnmatch
import importlib.metadata
import json
import os
import re
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results" / "quality" / "mutation.json"
SCRATCH = Path("runs") / "mutation"
COPIED = ("asl_edge", "tests", "setup.cfg", "pyproject.toml")
PRELOAD = "mutmut-preload.txt"
PRELOADED = ("numpy", "PIL.Image", "sklearn.metrics", "sklearn.utils.class_weight", "imblearn.over_sampling",
             "tensorflow", "tf_keras", "pytest")
METHOD_SEP = "\u01c1"  # mutmut names a method's mutants module.x<SEP>Class<SEP>method__mutmut_N
KIND = "mutation-testing"  # what `asl-edge report` recognises the file by


@dataclass(frozen=True)
class Target:
    """One module and the tests that exercise it (pytest arguments); ``functions``: only these
    functions' mutants (``name`` or ``Class.method``), where the rest of a large module computes no
    figure (its file handling, its messages) and is left to other tests."""

    module: str
    tests: tuple[str, ...]
    functions: tuple[str, ...] = ()

    @property
    def mutant_patterns(self) -> tuple[str, ...]:
        """mutmut's names for the mutants tested, as ``fnmatch`` patterns (none: every mutant)."""
        dotted = self.module.removesuffix(".py").replace("/", ".")
        return tuple(f"{dotted}.x{METHOD_SEP}{f.replace('.', METHOD_SEP)}__mutmut_*" if "." in f
                     else f"{dotted}.x_{f}__mutmut_*" for f in self.functions)

    def tested(self, mutant: str) -> bool:
        return not self.functions or any(fnmatch.fnmatch(mutant, p) for p in self.mutant_patterns)


# Modules where a silent bug changes a figure, each with the fast tests that assert its values.
TARGETS = {
    "schedules": Target("asl_edge/training/schedules.py", (
        "tests/test_training_values.py", "-k",
        "(decay or warmup or cosine or constant or plateau or each_optimizer) and not reaches")),
    "balance": Target("asl_edge/data/balance.py", (
        "tests/test_training_values.py", "-k", "class_weights or resampling")),
    "metrics": Target("asl_edge/runtime/metrics.py", (
        "tests/test_metrics.py",
        *(f"tests/test_training_values.py::test_{t}" for t in (
            "precision_recall_f1_on_a_hand_computed_example", "a_class_never_predicted_scores_zero_not_an_error",
            "images_without_a_hand_count_as_wrong_in_every_figure")))),
    # The pixel steps (resize chain, colour mode, resize, scaling, per-image standardisation, 16/32-bit
    # images, batch sizes); the spec's validation, records and hand localisation have tests of their own.
    "preprocess": Target("asl_edge/runtime/preprocess.py", ("tests/test_preprocess_values.py",), functions=(
        "Preprocessing.normalize", "Preprocessing.from_pil", "Preprocessing.from_array", "Preprocessing._resize",
        "Preprocessing._decode_rgb", "Preprocessing.load_rgb", "batch_for", "to_8bit")),
    "shifts": Target("asl_edge/runtime/shifts.py", (
        "tests/test_shift_values.py",
        *(f"tests/test_shifts.py::test_{t}" for t in (
            "shift_is_deterministic_keeps_shape_and_changes_pixels", "shift_works_on_non_square_and_other_sizes",
            "names_are_unique_and_lookup_works", "unknown_shift_names_the_choices", "shift_semantics",
            "shift_rejects_non_rgb_uint8")),
        *(f"tests/test_backgrounds.py::test_{t}" for t in (
            "the_table_has_the_background_and_webcam_shifts", "a_background_shift_changes_only_the_background",
            "a_soft_mask_blends_the_edge", "flat_backgrounds_have_their_colour",
            "the_scene_background_is_a_test_photo_window_chosen_by_the_image", "a_mask_of_the_wrong_shape_is_refused",
            "the_estimated_mask_finds_a_hand_on_a_light_wall", "webcam_shift_loses_detail_but_keeps_the_picture")))),
    # Export verification: each artifact's accuracy, drop, agreement and difference, and the gates.
    "verify": Target("asl_edge/export/pipeline.py", ("tests/test_export_verify.py",),
                     functions=("_verify", "_predict")),
    # The trainer's configuration: text to typed, range-checked settings and the checks of their
    # combinations; reading files (safe_yaml, recipes, run configs) has the hostile-input tests.
    "config": Target("asl_edge/training/config.py", ("tests/test_config_values.py", "tests/test_config.py"), functions=(
        "_coerce", "_apply", "merge", "parse_set", "_is_text", "flag_sets", "resolve", "adapt_image_size", "check",
        "_check_landmarks")),
    # The late fusion of the landmark and crop models' probabilities, and the settings a fused artifact records.
    "fusion": Target("asl_edge/runtime/fusion.py", (
        "tests/test_fusion.py", "-k",
        "combination and not graph or probabilities or float32 or leading_shape or veto or bad_fusion or recorded "
        "or weight_range"),
        functions=("_mean", "_log", "fuse", "FusionSpec.__post_init__", "FusionSpec.to_dict", "FusionSpec.from_dict")),
    # The crop's test-time views (every reference camera and fused artifact reads its crop in five).
    "views": Target("asl_edge/runtime/views.py", (
        "tests/test_views.py", "-k", "each_view or fused_row or averages or bad_views or parse_names or round_trip")),
    "landmarks": Target("asl_edge/runtime/landmarks.py", (
        "tests/test_landmarks.py", "-k",
        "features or depth or normalised or no_hand or batches or bad_landmark or round_trips")),
}

# Reasons shared by many equivalent mutants of the shifts.
_AS_UINT8 = "an RGB or L Pillow image reads as uint8 whatever dtype asarray is asked for"
_RESIZE_DEFAULT = "resize without reducing_gap=None: None is Pillow's default"
_MODE_INFERRED = ("Image.fromarray without its mode: Pillow infers it (RGB, L) from the uint8 array, the only "
                  "input taken")
_FLOAT64 = ("float64 arithmetic instead of float32: the tests hold the shift to a float64 reference, which float32 "
            "meets at every level of their grid; the mutant is at least as exact")

_LOG_SHIFT = ("the log-probabilities shifted by another constant (+max, or the whole batch's max): renormalising each "
              "row divides it out, and with probabilities floored at 1e-6 every exponent stays within -28..0, far "
              "from float64's under- and overflow")
_FUSE_FLOAT32 = ("float32 arithmetic where the inputs are float32 (the models' outputs): the result is returned as "
                 "float32, within a float32 step of the float64 computation the tests hold it to")

# Survivors that cannot change behaviour: "module:mutant name" -> why.
EQUIVALENT: dict[str, str] = {
    "balance:asl_edge.data.balance.x_resample_index__mutmut_30":
        "index.reshape(-2, 1): NumPy (2.x) reads a negative size as 'whatever is left', exactly as -1",
    "metrics:asl_edge.runtime.metrics.x__ratio__mutmut_7":
        "den as given (integer counts): np.divide of float64 num by it is float64 all the same",
    "metrics:asl_edge.runtime.metrics.x__ratio__mutmut_9": "as mutant 7",
    "metrics:asl_edge.runtime.metrics.x_classification_metrics__mutmut_12":
        "np.zeros(n, None) instead of bool when no found is given: float zeros are as false in np.where, and "
        "no_hand is only counted when found is given",
    "metrics:asl_edge.runtime.metrics.x_classification_metrics__mutmut_14": "as mutant 12 (np.zeros without dtype)",
    "metrics:asl_edge.runtime.metrics.x_classification_metrics__mutmut_30":
        "-2 instead of -1 for 'no hand': any negative marker is the same (no class index is negative; the "
        "confusion matrix and the per-class counts keep only the class indices)",
    "schedules:asl_edge.training.schedules.x_learning_rate__mutmut_95":
        "WarmUp wrapped around the schedule with 0 warm-up steps: step < 0 never holds, every rate is the same",
    "schedules:asl_edge.training.schedules.x_schedule_callbacks__mutmut_7":
        "ReduceLROnPlateau(verbose=None) instead of 0: Keras only tests verbose for truth, both are silent",
    "schedules:asl_edge.training.schedules.x_schedule_callbacks__mutmut_8":
        "ReduceLROnPlateau without monitor=: Keras' default monitor is val_loss, the one given",
    "schedules:asl_edge.training.schedules.x_schedule_callbacks__mutmut_11":
        "ReduceLROnPlateau without verbose=: Keras' default is 0, the one given",
    "shifts:asl_edge.runtime.shifts.x__pil__mutmut_2":
        _MODE_INFERRED,
    "shifts:asl_edge.runtime.shifts.x__pil__mutmut_4":
        _MODE_INFERRED,
    "shifts:asl_edge.runtime.shifts.x_rotate__mutmut_11":
        _AS_UINT8,
    "shifts:asl_edge.runtime.shifts.x_rotate__mutmut_13":
        _AS_UINT8,
    "shifts:asl_edge.runtime.shifts.x_translate__mutmut_25":
        _AS_UINT8,
    "shifts:asl_edge.runtime.shifts.x_translate__mutmut_27":
        _AS_UINT8,
    "shifts:asl_edge.runtime.shifts.x_shrink__mutmut_9":
        _RESIZE_DEFAULT,
    "shifts:asl_edge.runtime.shifts.x_shrink__mutmut_46":
        _AS_UINT8,
    "shifts:asl_edge.runtime.shifts.x_shrink__mutmut_48":
        _AS_UINT8,
    "shifts:asl_edge.runtime.shifts.x_zoom_in__mutmut_21":
        _AS_UINT8,
    "shifts:asl_edge.runtime.shifts.x_zoom_in__mutmut_23":
        _AS_UINT8,
    "shifts:asl_edge.runtime.shifts.x_zoom_in__mutmut_30":
        _RESIZE_DEFAULT,
    "shifts:asl_edge.runtime.shifts.x_crop_aspect__mutmut_15":
        _AS_UINT8,
    "shifts:asl_edge.runtime.shifts.x_crop_aspect__mutmut_17":
        _AS_UINT8,
    "shifts:asl_edge.runtime.shifts.x_crop_aspect__mutmut_24":
        _RESIZE_DEFAULT,
    "shifts:asl_edge.runtime.shifts.x_letterbox_aspect__mutmut_27":
        _AS_UINT8,
    "shifts:asl_edge.runtime.shifts.x_letterbox_aspect__mutmut_29":
        _AS_UINT8,
    "shifts:asl_edge.runtime.shifts.x_letterbox_aspect__mutmut_34":
        _RESIZE_DEFAULT,
    "shifts:asl_edge.runtime.shifts.x_contrast__mutmut_2":
        _FLOAT64,
    "shifts:asl_edge.runtime.shifts.x_white_balance__mutmut_3":
        _FLOAT64,
    "shifts:asl_edge.runtime.shifts.x_white_balance__mutmut_6":
        _FLOAT64,
    "shifts:asl_edge.runtime.shifts.x_white_balance__mutmut_8":
        _FLOAT64,
    "shifts:asl_edge.runtime.shifts.x_grayscale__mutmut_3":
        _AS_UINT8,
    "shifts:asl_edge.runtime.shifts.x_grayscale__mutmut_5":
        _AS_UINT8,
    "shifts:asl_edge.runtime.shifts.x_blur__mutmut_4":
        _AS_UINT8,
    "shifts:asl_edge.runtime.shifts.x_jpeg__mutmut_10":
        "save(buf, 'jpeg'): Pillow reads the format name in any case",
    "shifts:asl_edge.runtime.shifts.x_jpeg__mutmut_13":
        "buf.seek(1): Pillow's JPEG reader skips to the first marker, the same image (checked)",
    "shifts:asl_edge.runtime.shifts.x_jpeg__mutmut_15":
        _AS_UINT8,
    "shifts:asl_edge.runtime.shifts.x_jpeg__mutmut_17":
        _AS_UINT8,
    "shifts:asl_edge.runtime.shifts.x_jpeg__mutmut_18":
        'convert(None) keeps the decoded mode, RGB: the JPEG was written from an RGB image',
    "shifts:asl_edge.runtime.shifts.x_webcam__mutmut_31":
        _AS_UINT8,
    "shifts:asl_edge.runtime.shifts.x_webcam__mutmut_33":
        _AS_UINT8,
    "shifts:asl_edge.runtime.shifts.x_estimate_mask__mutmut_2":
        'chroma in float64: differences of 8-bit levels are exact in float32 as in float64',
    "shifts:asl_edge.runtime.shifts.x_estimate_mask__mutmut_26":
        _MODE_INFERRED,
    "shifts:asl_edge.runtime.shifts.x_estimate_mask__mutmut_28":
        _MODE_INFERRED,
    "shifts:asl_edge.runtime.shifts.x_estimate_mask__mutmut_38":
        'np.asarray(votes, None): uint8 levels compare with 127 as float32 ones do',
    "shifts:asl_edge.runtime.shifts.x_estimate_mask__mutmut_40":
        'np.asarray(votes): as mutant 38',
    "shifts:asl_edge.runtime.shifts.x_estimate_mask__mutmut_41":
        'votes >= 127: a 3x3 box mean of 0/255 pixels is a multiple of 255/9 (113.3, 141.7: never 127 or 128)',
    "shifts:asl_edge.runtime.shifts.x_estimate_mask__mutmut_42":
        'votes > 128: as mutant 41, no vote lies between 127 and 128',
    "shifts:asl_edge.runtime.shifts.x__alpha__mutmut_12":
        "max(initial=1.0) > 1.0 holds exactly when the mask's own maximum is above 1",
    "shifts:asl_edge.runtime.shifts.x_checker_background__mutmut_14":
        'a - b instead of a + b: the same parity',
    "shifts:asl_edge.runtime.shifts.x_checker_background__mutmut_15":
        'row index as float: an integer-valued float has the same parity (% 2 == 1)',
    "shifts:asl_edge.runtime.shifts.x_checker_background__mutmut_16":
        '(yy / cell).astype(int): truncation equals floor for the non-negative indices',
    "shifts:asl_edge.runtime.shifts.x_checker_background__mutmut_17":
        'as mutant 15, for the column index',
    "shifts:asl_edge.runtime.shifts.x_checker_background__mutmut_18":
        'as mutant 16, for the column index',
    "shifts:asl_edge.runtime.shifts.x_scene_background__mutmut_52":
        _MODE_INFERRED,
    "shifts:asl_edge.runtime.shifts.x_scene_background__mutmut_54":
        _MODE_INFERRED,
    "shifts:asl_edge.runtime.shifts.x_scene_background__mutmut_59":
        'random() <= 0.5 instead of < 0.5: differs only on a draw of exactly 0.5',
    "shifts:asl_edge.runtime.shifts.x_scene_background__mutmut_64":
        _AS_UINT8,
    "shifts:asl_edge.runtime.shifts.x_scene_background__mutmut_66":
        _AS_UINT8,
    "shifts:asl_edge.runtime.shifts.x_replace_background__mutmut_11":
        _FLOAT64,
    "shifts:asl_edge.runtime.shifts.x_replace_background__mutmut_15":
        _FLOAT64,
    "shifts:asl_edge.runtime.shifts.x__geometry__mutmut_48":
        "'anticlockwise' if deg >= 0: the table has no rotation of 0 degrees",
    "shifts:asl_edge.runtime.shifts.x__geometry__mutmut_49":
        "'anticlockwise' if deg > 1: the table's rotations are +-15 and +-30 degrees",
    "shifts:asl_edge.runtime.shifts.x__background__mutmut_22":
        'severity sum / 766: rounded to 2 places it is the same for every wall of the table (the table test pins them)',
    "shifts:asl_edge.runtime.shifts.x_gamma__mutmut_3":
        "gamma in float64 instead of float32: the same rounded level for every uint8 input (0..255) at the "
        "suite's gammas 0.5 and 2 (checked for all 256 levels)",
    "shifts:asl_edge.runtime.shifts.x_blur__mutmut_2":
        "np.asarray(blurred, None) instead of uint8: an RGB Pillow image reads as uint8 either way",
    "preprocess:asl_edge.runtime.preprocess.x_batch_for__mutmut_6":
        "np.prod(shape, dtype=None): NumPy's default integer is int64 on 64-bit Linux, the same product (and the "
        "largest input allowed, 2048x2048x3, fits in 32 bits anyway)",
    "preprocess:asl_edge.runtime.preprocess.x_batch_for__mutmut_8":
        "np.prod(shape) without dtype: as mutant 6, NumPy's default integer gives the same product",
    "preprocess:asl_edge.runtime.preprocess.x\u01c1Preprocessing\u01c1load_rgb__mutmut_2":
        "np.asarray(rgb, None): the image is RGB (converted before), which Pillow hands over as uint8 anyway",
    "preprocess:asl_edge.runtime.preprocess.x\u01c1Preprocessing\u01c1load_rgb__mutmut_4":
        "np.asarray(rgb) without uint8: as mutant 2, an RGB Pillow image reads as uint8",
    "preprocess:asl_edge.runtime.preprocess.x\u01c1Preprocessing\u01c1from_array__mutmut_3":
        "Image.fromarray(rgb, None): Pillow infers RGB from a uint8 (H, W, 3) array, the only input taken",
    "preprocess:asl_edge.runtime.preprocess.x\u01c1Preprocessing\u01c1from_array__mutmut_5":
        "Image.fromarray(rgb) without a mode: as mutant 3, inferred as RGB",
    "preprocess:asl_edge.runtime.preprocess.x\u01c1Preprocessing\u01c1from_pil__mutmut_14":
        "np.asarray(img, None): the image was converted to L or RGB (the only colour modes), both uint8",
    "preprocess:asl_edge.runtime.preprocess.x\u01c1Preprocessing\u01c1from_pil__mutmut_16":
        "np.asarray(img) without uint8: as mutant 14, an L or RGB image reads as uint8",
    "preprocess:asl_edge.runtime.preprocess.x\u01c1Preprocessing\u01c1_resize__mutmut_5":
        "resize without reducing_gap=None: None is Pillow's default (the code says it to pin the filter)",
    "preprocess:asl_edge.runtime.preprocess.x_to_8bit__mutmut_22":
        "arr.reshape(None) keeps the 2-D image: the peak is then sought over slices of rows instead of pixels, "
        "and as the loop runs to the pixel count (at least the row count) every row is still read",
    "preprocess:asl_edge.runtime.preprocess.x_to_8bit__mutmut_24":
        "arr.reshape(-2): NumPy (2.x) reads a negative size as 'whatever is left', exactly as -1",
    "preprocess:asl_edge.runtime.preprocess.x_to_8bit__mutmut_38":
        "slices of 2 << 22 pixels: bigger slices, every pixel still read, the same peak",
    "preprocess:asl_edge.runtime.preprocess.x_to_8bit__mutmut_39":
        "slices of 1 << 23 pixels: bigger slices, every pixel still read, the same peak",
    "preprocess:asl_edge.runtime.preprocess.x_to_8bit__mutmut_49":
        "part.max() >= peak: an equal maximum leaves the same peak",
    "preprocess:asl_edge.runtime.preprocess.x_to_8bit__mutmut_53":
        "1.0 instead of 0.0 where no pixel is finite: only an all-NaN/infinite F image has none, and both "
        "are <= 1 (read as 0..1 either way)",
    "preprocess:asl_edge.runtime.preprocess.x_to_8bit__mutmut_73":
        "peak < 65535: a peak of exactly 65535 then takes the last branch, top = peak = 65535, the same",
    "preprocess:asl_edge.runtime.preprocess.x_to_8bit__mutmut_76":
        "nan_to_num(copy=None): NumPy reads None as false and replaces in place, as copy=False (checked)",
    "preprocess:asl_edge.runtime.preprocess.x_to_8bit__mutmut_82":
        "nan_to_num without nan=0.0: NumPy's default is 0.0",
    "preprocess:asl_edge.runtime.preprocess.x_to_8bit__mutmut_95":
        "clip without the upper bound: every pixel is at most the peak, which top scales to at most 255 "
        "(posinf is set to top)",
    "preprocess:asl_edge.runtime.preprocess.x_to_8bit__mutmut_102":
        "np.round(arr) into a new array: clip then writes the rounded values into arr, the same result",
    "preprocess:asl_edge.runtime.preprocess.x_to_8bit__mutmut_104":
        "np.round(arr) without out: as mutant 102, clip writes the rounded values into arr",
    "preprocess:asl_edge.runtime.preprocess.x_to_8bit__mutmut_106":
        "clip at 256: no pixel exceeds 255 (see mutant 95)",
    "preprocess:asl_edge.runtime.preprocess.x_to_8bit__mutmut_108":
        "Image.fromarray(..., None): Pillow infers L from a 2-D uint8 array",
    "preprocess:asl_edge.runtime.preprocess.x_to_8bit__mutmut_110":
        "Image.fromarray without a mode: as mutant 108, L",
    "config:asl_edge.training.config.x__same__mutmut_6":
        "_coerce(None, a, ...) in _same: the key only names the setting in a ConfigError, which _same catches "
        "and drops (it then compares the raw values)",
    "config:asl_edge.training.config.x__same__mutmut_13":
        "_coerce(None, b, ...) in _same: as mutant 6, the key is only read by the message _same drops",
    "config:asl_edge.training.config.x_parse_set__mutmut_24":
        "safe_yaml also for blank text: YAML reads an empty document as None, the value the else gives",
    "config:asl_edge.training.config.x_flag_sets__mutmut_35":
        "s.split('=') without a limit: the first piece, the key, is the same however often it splits",
    "config:asl_edge.training.config.x_flag_sets__mutmut_38":
        "s.split('=', 2): the first piece, the key, is the same however often it splits",
    "config:asl_edge.training.config.x_resolve__mutmut_19":
        "compound.split('__') without a limit: every direct option is section__key and no field name holds '__'",
    "config:asl_edge.training.config.x_resolve__mutmut_20":
        "compound.rsplit('__', 1): the one '__' of section__key splits the same from either end",
    "config:asl_edge.training.config.x_resolve__mutmut_22":
        "compound.split('__', 2): the one '__' of section__key gives the same two pieces",
    "config:asl_edge.training.config.x_check__mutmut_40":
        "0.0 <= decay_rate in the plateau check: the field's own range (0, 1] refuses 0 first (check_fields)",
    "config:asl_edge.training.config.x_check__mutmut_59":
        "0 <= swa_epochs: the check runs only 'if train.swa_epochs', so 0 never reaches it",
    "config:asl_edge.training.config.x__is_text__mutmut_15":
        "known.get(key, 'XXXX') in _is_text: the default is only read for an unknown key, and any text but 'str' "
        "answers False for it, as '' does",
    "landmarks:asl_edge.runtime.landmarks.x__normalise__mutmut_6":
        "the wrist -> middle knuckle direction taken with its depth (p[..., 9, :3]): only its x and y are read",
    "landmarks:asl_edge.runtime.landmarks.x__normalise__mutmut_58":
        "2.0 instead of 1.0 as the stand-in palm where there is none: the outer np.where gives 0 there anyway",
    "landmarks:asl_edge.runtime.landmarks.x_landmark_features__mutmut_19":
        "reshape(..., -2): NumPy (2.x) reads a negative size as 'whatever is left', exactly as -1",
    "fusion:asl_edge.runtime.fusion.x__log__mutmut_19": _LOG_SHIFT,
    "fusion:asl_edge.runtime.fusion.x__log__mutmut_20": _LOG_SHIFT,
    "fusion:asl_edge.runtime.fusion.x__log__mutmut_22": _LOG_SHIFT,
    "fusion:asl_edge.runtime.fusion.x_fuse__mutmut_19": _FUSE_FLOAT32,
    "fusion:asl_edge.runtime.fusion.x_fuse__mutmut_21": _FUSE_FLOAT32,
    "fusion:asl_edge.runtime.fusion.x_fuse__mutmut_23": _FUSE_FLOAT32,
    "fusion:asl_edge.runtime.fusion.x_fuse__mutmut_25": _FUSE_FLOAT32,
    "views:asl_edge.runtime.views.x_expand__mutmut_7":
        "sample.reshape(None)[:pixels]: a fused row is already flat, and a crop's first axis is shorter than "
        "pixels, so the slice keeps it whole and the reshape to crop_shape gives the same crop",
    "views:asl_edge.runtime.views.x_expand__mutmut_9": "reshape(-2): NumPy (2.x) reads it as -1",
    "views:asl_edge.runtime.views.x_expand__mutmut_10":
        "sample.reshape(None)[pixels:]: a fused row is already flat; a crop's first axis is shorter than pixels, "
        "so the rest is empty, as it is flattened",
    "views:asl_edge.runtime.views.x_expand__mutmut_12": "reshape(-2): NumPy (2.x) reads it as -1",
    "views:asl_edge.runtime.views.x_expand__mutmut_20":
        "a crop also goes through the concatenation: with an empty rest it is reshaped back to the same crop",
    "views:asl_edge.runtime.views.x_expand__mutmut_21":
        "reshape(None) instead of reshape(sample.shape) for a fused row: the row is flat, as the result is",
    "views:asl_edge.runtime.views.x_expand__mutmut_25": "reshape(-2): NumPy (2.x) reads it as -1",
}


def _scratch(name: str, target: Target) -> Path:
    """A copy of the package and its tests with a mutmut section for this one module."""
    folder = SCRATCH / name
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    for item in COPIED:
        src = ROOT / item
        if src.is_dir():
            shutil.copytree(src, folder / item, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(src, folder / item)
    section = (
        "\n[tool.mutmut]\n"
        'source_paths = ["asl_edge"]\n'
        f"only_mutate = [{json.dumps(target.module)}]\n"
        f"pytest_add_cli_args_test_selection = {json.dumps(list(target.tests))}\n"
        'pytest_add_cli_args = ["-p", "no:cacheprovider", "-q"]\n'
        # TensorFlow is not fork-safe once initialised: fork each mutant from a server that has only
        # imported the heavy libraries (each mutant would otherwise pay their import again, and mutmut's
        # CPU-time limit, measured with them already loaded, would call it a timeout).
        'process_isolation = "forkserver"\n'
        'forkserver_warmup = "import"\n'
        f'preload_modules_file = "{PRELOAD}"\n'
        # mutmut's CPU limit per mutant is 2 x multiplier x (the tests' time + constant): its default
        # multiplier 15 let a mutant that loops run a quarter of an hour of CPU.
        "timeout_constant = 10.0\n"
        "timeout_multiplier = 3.0\n"
        "use_git_change_detection = false\n"
    )
    with open(folder / "pyproject.toml", "a") as fh:
        fh.write(section)
    (folder / PRELOAD).write_text("\n".join(PRELOADED) + "\n")
    return folder


def _statuses(folder: Path) -> dict[str, str]:
    out = subprocess.run([sys.executable, "-m", "mutmut", "results", "--all", "true"], cwd=folder,
                         capture_output=True, text=True, check=True).stdout
    found = {}
    for line in out.splitlines():
        m = re.match(r"\s*(\S+): (\w[\w ]*)$", line)
        if m:
            found[m.group(1)] = m.group(2).strip()
    return found


def _diff(folder: Path, mutant: str) -> str:
    out = subprocess.run([sys.executable, "-m", "mutmut", "show", mutant], cwd=folder, capture_output=True,
                         text=True, check=False).stdout
    return "\n".join(line for line in out.splitlines()[1:] if line.startswith(("+", "-"))
                     and not line.startswith(("+++", "---")))


def run_target(name: str, target: Target, children: int, resume: bool = False) -> dict:
    """Every mutant of ``target`` in a new scratch copy; ``resume``: in the existing one, with the
    repository's tests copied in afresh, the mutants not yet tested and then the survivors again."""
    folder = SCRATCH / name
    if resume and folder.is_dir():
        shutil.rmtree(folder / "tests")
        shutil.copytree(ROOT / "tests", folder / "tests", ignore=shutil.ignore_patterns("__pycache__"))
    else:
        folder = _scratch(name, target)
    start = time.perf_counter()
    mutmut = [sys.executable, "-m", "mutmut", "run", "--max-children", str(children)]
    subprocess.run([*mutmut, *target.mutant_patterns], cwd=folder, check=False, stdout=subprocess.DEVNULL)
    survivors = [m for m, status in _statuses(folder).items() if status == "survived" and target.tested(m)]
    if resume and survivors:
        subprocess.run([*mutmut, *survivors], cwd=folder, check=False, stdout=subprocess.DEVNULL)
    return collect(name, target, time.perf_counter() - start)


def collect(name: str, target: Target, seconds: float | None = None) -> dict:
    """The results of the last run in the module's scratch folder (``--collect``: after retesting
    survivors there with ``mutmut run NAME...``)."""
    folder = SCRATCH / name
    statuses = {m: status for m, status in _statuses(folder).items() if target.tested(m)}
    counts: dict[str, int] = {}
    for status in statuses.values():
        counts[status] = counts.get(status, 0) + 1
    survivors = []
    for mutant, status in sorted(statuses.items()):
        if status == "survived":
            key = f"{name}:{mutant}"
            survivors.append({"mutant": mutant, "diff": _diff(folder, mutant),
                              **({"equivalent": EQUIVALENT[key]} if key in EQUIVALENT else {})})
    equivalent = sum(1 for s in survivors if "equivalent" in s)
    killed = counts.get("killed", 0) + counts.get("timeout", 0)
    survived = len(survivors) - equivalent
    return {
        "module": target.module,
        "tests": " ".join(target.tests),
        **({"functions": list(target.functions)} if target.functions else {}),
        "mutants": len(statuses),
        "killed": killed,
        "survived": survived,
        "equivalent": equivalent,
        "other": {k: v for k, v in counts.items() if k not in ("killed", "timeout", "survived")},
        "score": round(killed / (killed + survived), 4) if killed + survived else None,
        "seconds": None if seconds is None else round(seconds, 1),
        "survivors": survivors,
    }


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", help=f"modules of the table (default all: {', '.join(TARGETS)})")
    parser.add_argument("--children", type=int, default=max(1, (os.cpu_count() or 2) - 1),
                        help="mutants tested at once")
    parser.add_argument("--out", default=str(RESULTS), help="results JSON (modules not run are kept from it)")
    parser.add_argument("--only", default="",
                        help="comma-separated functions (name or Class.method) to test instead of the module's own "
                             "list: a part of a large module on a busy machine (the results record which)")
    parser.add_argument("--select", default="",
                        help="pytest -k expression: only these of the module's tests (with --only, on a busy machine; "
                             "recorded in the results' tests)")
    parser.add_argument("--min-score", type=float, default=None,
                        help="exit 1 when the score of the modules run is below this (CI's gate)")
    parser.add_argument("--resume", action="store_true",
                        help="go on in runs/mutation/<module> (after new tests): the mutants not yet tested, then "
                             "the survivors again")
    parser.add_argument("--collect", action="store_true",
                        help="read the results already in runs/mutation/<module> instead of running mutmut")
    args = parser.parse_args(argv)
    unknown = [n for n in args.names if n not in TARGETS]
    if unknown:
        parser.error(f"unknown module {', '.join(unknown)}; choose from: {', '.join(TARGETS)}")
    out = Path(args.out)
    doc = json.loads(out.read_text()) if out.is_file() else {"kind": KIND, "modules": {}}
    only = tuple(f.strip() for f in args.only.split(",") if f.strip())
    for name in args.names or list(TARGETS):
        target = dataclasses.replace(TARGETS[name], functions=only) if only else TARGETS[name]
        if args.select:
            target = dataclasses.replace(target, tests=(*target.tests, "-k", args.select))
        print(f"mutation testing {target.module} ...", file=sys.stderr, flush=True)
        result = collect(name, target) if args.collect else run_target(name, target, args.children, args.resume)
        result["command"] = " ".join(["python benchmarks/mutation.py", *(sys.argv[1:] if argv is None else argv)])
        if args.collect and name in doc["modules"]:  # re-read: the run's own time and command
            result["seconds"] = doc["modules"][name].get("seconds")
            result["command"] = doc["modules"][name].get("command", result["command"])
        result["measured"] = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%MZ")
        result["load_average"] = [round(x, 2) for x in os.getloadavg()]
        doc["modules"][name] = result
        print(f"  {result['killed']} killed, {result['survived']} survived, {result['equivalent']} equivalent: "
              f"score {result['score']}", file=sys.stderr, flush=True)
    modules = doc["modules"].values()
    killed, survived = sum(m["killed"] for m in modules), sum(m["survived"] for m in modules)
    doc.update(
        tool=f"mutmut {importlib.metadata.version('mutmut')}",
        command=("python benchmarks/mutation.py " + " ".join(args.names or [])).strip(),
        score=round(killed / (killed + survived), 4) if killed + survived else None,
        killed=killed,
        survived=survived,
        equivalent=sum(m["equivalent"] for m in modules),
        definition="killed / (killed + survived); timeouts count as killed, equivalent mutants are left out",
    )
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(doc, indent=2) + "\n")
    os.replace(tmp, out)
    print(f"score {doc['score']} over {len(doc['modules'])} modules; wrote {out}", file=sys.stderr)
    return _gate([doc["modules"][n] for n in args.names or TARGETS], args.min_score)


def _gate(results: list[dict], min_score: float | None) -> int:
    """1 (with every surviving mutant on stderr) when the modules just run score below ``min_score``."""
    killed, survived = sum(r["killed"] for r in results), sum(r["survived"] for r in results)
    score = killed / (killed + survived) if killed + survived else 1.0
    if min_score is None or score >= min_score:
        return 0
    for r in results:
        for s in r["survivors"]:
            if "equivalent" not in s:
                print(f"survived: {s['mutant']}\n{s['diff']}", file=sys.stderr)
    print(f"mutation: error: score {score:.4f} is below {min_score} ({survived} surviving mutants)", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
