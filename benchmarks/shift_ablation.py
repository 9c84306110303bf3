#!/usr/bin/env python3
"""Which training ingredients make the fast recipe robust to camera shifts: a measured ablation.

Each variant is a recipe plus ``--set`` overrides. For each one the script trains (split by signer,
seed 0, so every variant holds out the same 267 images of 30 signers; ``train.seed`` picks another
split), exports the int8 TFLite (calibrated as ``asl-edge export`` does by default),
and scores the float Keras model and the int8 artifact on the held-out signers unchanged and under
every shift of :func:`asl_edge.runtime.shifts.camera_shifts`. Results accumulate in one JSON file
(a variant already there is skipped unless ``--force``), so the script can be run a variant at a time.

Usage:
  python benchmarks/shift_ablation.py --list
  python benchmarks/shift_ablation.py --variant flip_photo_geo --out benchmarks/results/shifts/ablation.json
  python benchmarks/shift_ablation.py --reference models/asl-digits-fast \
      export/asl-digits-fast/asl-digits-fast_int8.tflite
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

# Ingredients, each a list of --set overrides on top of the fast recipe. The first measured set
# ("heavy", kept for the record) underfitted the 71k-weight model; the "mild" ones replaced it.
FLIP = ["augment.flip=true"]
PHOTO_HEAVY = [
    "augment.exposure=3.0",
    "augment.gamma=2.0",
    "augment.contrast=0.7",
    "augment.brightness=0.15",
    "augment.color_gain=0.25",
    "augment.grayscale_prob=0.2",
]
GEO_HEAVY = ["augment.scale_min=0.45", "augment.rotation=0.1", "augment.shift=0.15", "augment.zoom=0.0"]
SENSOR_HEAVY = ["augment.blur_prob=0.2", "augment.noise=0.06"]
PHOTO = [
    "augment.exposure=2.0",
    "augment.gamma=1.8",
    "augment.contrast=0.5",
    "augment.brightness=0.1",
    "augment.color_gain=0.2",
    "augment.grayscale_prob=0.15",
]
GEO = [
    "augment.scale_min=0.5",
    "augment.scale_max=1.25",
    "augment.rotation=0.06",
    "augment.shift=0.1",
    "augment.zoom=0.0",
]
SENSOR = ["augment.blur_prob=0.15", "augment.noise=0.05"]
# After the mild round: rotation must reach the 30 degrees of the suite, small hands must be common
# (scale drawn log-uniformly).
GEO2 = [
    "augment.scale_log=true",
    "augment.scale_min=0.4",
    "augment.scale_max=1.25",
    "augment.rotation=0.09",
    "augment.shift=0.1",
    "augment.zoom=0.0",
]
PHOTO2 = PHOTO[:4] + ["augment.color_gain=0.3", "augment.grayscale_prob=0.15"]
# geo2 cost unchanged accuracy (the model underfits the wider geometry in 80 epochs): between the two.
GEO3 = [
    "augment.scale_log=true",
    "augment.scale_min=0.5",
    "augment.scale_max=1.25",
    "augment.rotation=0.083",
    "augment.shift=0.1",
    "augment.zoom=0.0",
]
PER_IMAGE = ["data.normalization=per_image"]
GRAY = ["data.color_mode=grayscale"]
LONGER = ["model.dropout=0.1", "train.epochs=80", "train.early_stopping_patience=25"]

# Every variant below up to fast_w14d5_* was measured on the fast recipe of its time, kept as
# benchmarks/recipes/fast_v1.yaml (the recipe until the 5-block model; mild_all_per_image equals it);
# the rows before the first robust round ran on an older base still, so they reproduce only
# approximately. FAST_V1 + the b64_geo36log035_e140_w14d5 overrides = FAST_V2 below.
FAST_V1 = str(Path(__file__).resolve().parent / "recipes" / "fast_v1.yaml")
GEO_WIDE = ["augment.rotation=0.1", "augment.scale_min=0.45"]
FAST_B64 = ["train.batch_size=64", "train.learning_rate=0.005", "train.epochs=140", "train.early_stopping_patience=40"]
W14D5 = ["model.width=14", "model.depth=5"]
LOG035 = ["augment.scale_log=true", "augment.scale_min=0.35"]  # after GEO_WIDE: replaces its 0.45
LS02_STEM1 = ["train.label_smoothing=0.2", "model.stem_blocks=1"]  # the fast recipe over FAST_V2 since ls02
# The fast recipe from the 5-block model until label smoothing (= FAST_V1 + b64_geo36log035_e140_w14d5);
# the current recipe equals FAST_V2 + the fast_val05 overrides (fast_blur13_stem1_ls02 + 5% validation).
FAST_V2 = str(Path(__file__).resolve().parent / "recipes" / "fast_v2.yaml")
# The fast recipe before background replacement (= FAST_V2 + the fast_val05 overrides): the base of the
# background round (results in benchmarks/results/shifts/background_ablation.json).
FAST_V3 = str(Path(__file__).resolve().parent / "recipes" / "fast_v3.yaml")
LEAVES = ["augment.backgrounds=flat,gradient,noise,stripes,photo,leaves"]
WARM = ["augment.backgrounds=flat,gradient,noise,stripes,photo,warm"]  # + patterns in skin and wood tones
LEAVES_WARM = ["augment.backgrounds=flat,gradient,noise,stripes,photo,leaves,warm"]
BG05 = ["augment.background_prob=0.5"]  # every kind: flat, gradient, noise, stripes, TRAIN photographs
BG08 = ["augment.background_prob=0.8"]
E40 = ["train.epochs=40"]  # the cosine schedule over 40 epochs instead of 140
# The accurate recipe before label smoothing; the current one equals ACCURATE_V1 + accurate_blur13's overrides.
ACCURATE_V1 = str(Path(__file__).resolve().parent / "recipes" / "accurate_v1.yaml")

VARIANTS = {
    "heavy_all_per_image": (FAST_V1, FLIP + PHOTO_HEAVY + GEO_HEAVY + SENSOR_HEAVY + PER_IMAGE),
    "mild_all_per_image": (FAST_V1, FLIP + PHOTO + GEO + SENSOR + PER_IMAGE + LONGER),
    "mild_all_gray_per_image": (FAST_V1, FLIP + PHOTO + GEO + SENSOR + PER_IMAGE + GRAY + LONGER),
    "mild_all_fixed": (FAST_V1, FLIP + PHOTO + GEO + SENSOR + LONGER),
    "mild_no_geo_per_image": (FAST_V1, FLIP + PHOTO + SENSOR + PER_IMAGE + LONGER),
    "mild_all_per_image_w20": (FAST_V1, FLIP + PHOTO + GEO + SENSOR + PER_IMAGE + LONGER + ["model.width=20"]),
    "geo2_per_image": (FAST_V1, FLIP + PHOTO2 + GEO2 + SENSOR + PER_IMAGE + LONGER),
    "geo2_per_image_w20": (FAST_V1, FLIP + PHOTO2 + GEO2 + SENSOR + PER_IMAGE + LONGER + ["model.width=20"]),
    "geo2_gray_per_image": (FAST_V1, FLIP + PHOTO2 + GEO2 + SENSOR + PER_IMAGE + GRAY + LONGER),
    "geo3_per_image": (FAST_V1, FLIP + PHOTO2 + GEO3 + SENSOR + PER_IMAGE + LONGER),
    # the chosen recipe lost the reference's +-30 degree accuracy (its rotation was 0.08): reach 30 degrees
    "mild_rot30_per_image": (FAST_V1, FLIP + PHOTO + GEO + SENSOR + PER_IMAGE + LONGER + ["augment.rotation=0.083"]),
    # Session 4: batch 64 runs more epochs in the same time on 2 cores (fewer, larger steps),
    # spent on the geometry the suite asks for (rotation to 36 degrees, the hand down to 0.45x).
    "b64_geo36_e140": (FAST_V1, GEO_WIDE + FAST_B64),
    "b64_geo36_e140_w20": (FAST_V1, GEO_WIDE + FAST_B64 + ["model.width=20"]),
    # A fifth block (112 channels at 4x4) at width 14: a larger receptive field and more late capacity
    # for fewer MACs than width 16 x 4 blocks, within 150 KB.
    "b64_geo36_e140_w14d5": (FAST_V1, GEO_WIDE + FAST_B64 + W14D5),
    "b64_geo36log_e140_w14d5": (FAST_V1, GEO_WIDE + FAST_B64 + W14D5 + ["augment.scale_log=true"]),
    "b64_geo36log035_e140_w14d5": (FAST_V1, GEO_WIDE + FAST_B64 + W14D5 + LOG035),  # = FAST_V2, the second-round recipe
    "b64_geo36log035_e180_w14d5": (FAST_V1, GEO_WIDE + FAST_B64 + W14D5 + LOG035 + ["train.epochs=180"]),
    "b64_geo36log030_e140_w14d5": (FAST_V1, GEO_WIDE + FAST_B64 + W14D5 + ["augment.scale_log=true",
                                                                           "augment.scale_min=0.3"]),
    "b64_geo36log035p75_e140_w14d5": (FAST_V1, GEO_WIDE + FAST_B64 + W14D5 + LOG035 + ["augment.scale_prob=0.75"]),
    "b64_geo36log035_e140_w15d5": (FAST_V1, GEO_WIDE + FAST_B64 + ["model.width=15", "model.depth=5"] + LOG035),
    "b64_geo36log035_e140_w14d5_head96": (FAST_V1, GEO_WIDE + FAST_B64 + W14D5 + LOG035 + ["model.head_units=96"]),
    "b64_geo36log035_e140_w14d5_seed1": (FAST_V1, GEO_WIDE + FAST_B64 + W14D5 + LOG035 + ["train.seed=1"]),
    # The accurate recipe (deep_cnn): small hands more often and closer ones too, at batch 64 for time.
    "accurate_b64_log035_max14_e120": (ACCURATE_V1, [
        "train.batch_size=64", "train.learning_rate=0.005", "train.epochs=120", "train.early_stopping_patience=40",
        "augment.scale_log=true", "augment.scale_min=0.35", "augment.scale_max=1.4"]),
    "accurate_b64_log035_max14_jpeg_e120": (ACCURATE_V1, [
        "train.batch_size=64", "train.learning_rate=0.005", "train.epochs=120", "train.early_stopping_patience=40",
        "augment.scale_log=true", "augment.scale_min=0.35", "augment.scale_max=1.4", "augment.jpeg_prob=0.2"]),
    # The second-round recipe again: a repeat on the seed-0 split and a third split (run-to-run spread).
    "fast_w14d5_repeat": (FAST_V2, []),
    "fast_w14d5_seed2": (FAST_V2, ["train.seed=2"]),
    "fast_v1_seed2": (FAST_V1, ["train.seed=2"]),  # the previous recipe on that split, for comparison
    # Session 6: global max pooling (or both) keeps a small hand's features from being averaged with
    # the background around it (the half-size hand was the fast recipe's worst shift).
    "fast_max": (FAST_V2, ["model.pooling=max"]),
    "fast_avgmax": (FAST_V2, ["model.pooling=avgmax"]),
    # ... it did not (max pooling lost 12 points unchanged). More detail at 32x32 instead: one more
    # 3x3 block at the stem's resolution (+1.8 M MACs); and label smoothing against over-confidence
    # on the few signers of the training split.
    "fast_stem1": (FAST_V2, ["model.stem_blocks=1"]),
    "fast_ls01": (FAST_V2, ["train.label_smoothing=0.1"]),
    "fast_ls01_seed2": (FAST_V2, ["train.label_smoothing=0.1", "train.seed=2"]),
    "fast_ls01_seed1": (FAST_V2, ["train.label_smoothing=0.1", "train.seed=1"]),
    "accurate_ls01": (ACCURATE_V1, ["train.label_smoothing=0.1"]),
    # With label smoothing on: the hand down to 0.3x (without it, 0.3x bought the half-size hand
    # at a point of unchanged accuracy: b64_geo36log030_e140_w14d5), on two splits.
    "fast_ls01_log030": (FAST_V2, ["train.label_smoothing=0.1", "augment.scale_min=0.3"]),
    "fast_ls01_log030_seed2": (FAST_V2, ["train.label_smoothing=0.1", "augment.scale_min=0.3", "train.seed=2"]),
    # 2026-11-26: the half-size hand is 32 pixels wide at 64x64 and its worst confusion is 8 vs 7
    # (thumb on the middle or the ring finger): more pixels per hand, at about the same MACs.
    "fast_ls01_s72": (FAST_V2, ["train.label_smoothing=0.1", "data.image_size=72"]),
    "fast_ls01_s80w12": (FAST_V2, ["train.label_smoothing=0.1", "data.image_size=80", "model.width=12"]),
    # Zoom in 1.25x sat at the edge of the trained range (scale_max 1.25): closer hands up to 1.4x.
    "fast_ls01_max14": (FAST_V2, ["train.label_smoothing=0.1", "augment.scale_max=1.4"]),
    "fast_ls01_max14_seed2": (FAST_V2, ["train.label_smoothing=0.1", "augment.scale_max=1.4", "train.seed=2"]),
    # From here on the blur augmentation's kernel reaches 3 sigma (13 taps; it was 7, a milder blur
    # than it claimed at sigma 2): the fast recipe again on the three splits, then with closer hands.
    "fast_blur13": (FAST_V2, ["train.label_smoothing=0.1"]),
    "fast_blur13_seed2": (FAST_V2, ["train.label_smoothing=0.1", "train.seed=2"]),
    "fast_blur13_seed1": (FAST_V2, ["train.label_smoothing=0.1", "train.seed=1"]),
    "fast_blur13_max14": (FAST_V2, ["train.label_smoothing=0.1", "augment.scale_max=1.4"]),
    # The cheaper augmentation leaves training time for one more 3x3 block at 32x32 (more detail for
    # a small hand; 93.3% at half size before label smoothing, fast_stem1), on the three splits.
    "fast_blur13_stem1": (FAST_V2, ["train.label_smoothing=0.1", "model.stem_blocks=1"]),
    "fast_blur13_stem1_seed1": (FAST_V2, ["train.label_smoothing=0.1", "model.stem_blocks=1", "train.seed=1"]),
    "fast_blur13_stem1_seed2": (FAST_V2, ["train.label_smoothing=0.1", "model.stem_blocks=1", "train.seed=2"]),
    "accurate_blur13": (ACCURATE_V1, ["train.label_smoothing=0.1"]),  # the accurate recipe, 13-tap blur
    # Second session of 2026-11-26: the seed-0 split's half-size hand (92.1%) with more detail at 32x32 (a
    # second stem block) or a larger input at a narrower width (about the same compute as today's).
    "fast_blur13_stem2": (FAST_V2, ["train.label_smoothing=0.1", "model.stem_blocks=2"]),
    "fast_blur13_stem1_s80w12": (FAST_V2, ["train.label_smoothing=0.1", "model.stem_blocks=1",
                                           "data.image_size=80", "model.width=12"]),
    # The same network with decoupled weight decay, or stronger label smoothing (both cost no time).
    "fast_blur13_stem1_adamw": (FAST_V2, ["train.label_smoothing=0.1", "model.stem_blocks=1", "train.optimizer=adamw"]),
    "fast_blur13_stem1_ls02": (FAST_V2, LS02_STEM1),
    # ls02 on the other two splits and once more on seed 0: adopted as the fast recipe.
    "fast_blur13_stem1_ls02_seed1": (FAST_V2, [*LS02_STEM1, "train.seed=1"]),
    "fast_blur13_stem1_ls02_seed2": (FAST_V2, [*LS02_STEM1, "train.seed=2"]),
    "fast_blur13_stem1_ls02_repeat": (FAST_V2, LS02_STEM1),
    # After adopting ls02: stronger smoothing, or more of the images drawn smaller (seed-0 split).
    "fast_blur13_stem1_ls03": (FAST_V2, ["train.label_smoothing=0.3", "model.stem_blocks=1"]),
    "fast_blur13_stem1_ls02_sp065": (FAST_V2, [*LS02_STEM1, "augment.scale_prob=0.65"]),
    "fast_blur13_stem1_ls02_sp065_seed1": (FAST_V2, [*LS02_STEM1, "augment.scale_prob=0.65", "train.seed=1"]),
    "fast_blur13_stem1_ls02_sp065_seed2": (FAST_V2, [*LS02_STEM1, "augment.scale_prob=0.65", "train.seed=2"]),
    "fast_blur13_stem1_ls02_sp065_repeat": (FAST_V2, [*LS02_STEM1, "augment.scale_prob=0.65"]),
    "fast_blur13_stem1_ls02_sp058": (FAST_V2, [*LS02_STEM1, "augment.scale_prob=0.58"]),
    # A shrunk training hand low-passed as a resize would (augment.scale_antialias): the warp alone
    # sampled every second pixel of a half-size hand, an aliased texture no camera produces.
    "fast_blur13_stem1_ls02_aa": (FAST_V2, [*LS02_STEM1, "augment.scale_antialias=true"]),
    "fast_blur13_stem1_ls02_aa_repeat": (FAST_V2, [*LS02_STEM1, "augment.scale_antialias=true"]),
    # Stochastic weight averaging of the last 30 of 140 epochs at a tenth of the peak rate
    # (train.swa_epochs): two runs' models erred on different half-size hands.
    "fast_blur13_stem1_ls02_swa30": (FAST_V2, [*LS02_STEM1, "train.swa_epochs=30"]),
    "fast_blur13_stem1_ls02_swa30_repeat": (FAST_V2, [*LS02_STEM1, "train.swa_epochs=30"]),
    # Seventh round (2026-11-26): capacity for the half-size hand within the 150 KB / 0.1 ms budget. Width 15
    # costs 15% more weights and, measured with random weights before training, 5% more LiteRT time; three
    # runs on seed 0 so the recipe is judged on more than one draw.
    "fast_w15": (FAST_V2, [*LS02_STEM1, "model.width=15"]),
    "fast_w15_repeat": (FAST_V2, [*LS02_STEM1, "model.width=15"]),
    "fast_w15_repeat2": (FAST_V2, [*LS02_STEM1, "model.width=15"]),
    # width 15 with the fifth round's 65% of the images rescaled (more small hands; 95.1 / 93.3% at width 14)
    "fast_w15_sp065": (FAST_V2, [*LS02_STEM1, "model.width=15", "augment.scale_prob=0.65"]),
    # More signers to learn from: the validation split only picks the epoch to keep (the last few of the
    # cosine schedule, in every run so far), so a smaller one (5%: 95 images of 11 signers) leaves 13% more
    # images of 14% more signers for training. The held-out test split is drawn first and unchanged.
    "fast_val05": (FAST_V2, [*LS02_STEM1, "data.val_fraction=0.05"]),
    "fast_val05_repeat": (FAST_V2, [*LS02_STEM1, "data.val_fraction=0.05"]),
    "fast_val05_repeat2": (FAST_V2, [*LS02_STEM1, "data.val_fraction=0.05"]),
    "fast_val05_seed1": (FAST_V2, [*LS02_STEM1, "data.val_fraction=0.05", "train.seed=1"]),
    "fast_val05_seed2": (FAST_V2, [*LS02_STEM1, "data.val_fraction=0.05", "train.seed=2"]),
    "fast_val05_seed1_repeat": (FAST_V2, [*LS02_STEM1, "data.val_fraction=0.05", "train.seed=1"]),
    "fast_val05_seed2_repeat": (FAST_V2, [*LS02_STEM1, "data.val_fraction=0.05", "train.seed=2"]),
    # the previous recipe (15% validation) a fourth time on seed 0, beside the runs above
    "fast_blur13_stem1_ls02_repeat2": (FAST_V2, LS02_STEM1),
    # Background round (2026-12-02): the hand cut out (landmark-seeded GrabCut masks) and laid over generated
    # backgrounds and TRAIN photographs on the fly, for a share of the images; the suite's bg_* shifts use flat
    # walls, a checkerboard and a TEST photograph. Measured on a machine shared by many jobs (a full 140-epoch
    # training took hours there), so on a 40-epoch schedule: each ingredient against the same schedule
    # without it, on two signer splits (seeds 0 and 1).
    "fast_v3_e40": (FAST_V3, E40),
    "fast_v3_e40_seed1": (FAST_V3, [*E40, "train.seed=1"]),
    "fast_v3_e40_bg05": (FAST_V3, [*E40, *BG05]),
    "fast_v3_e40_bg05_seed1": (FAST_V3, [*E40, *BG05, "train.seed=1"]),
    "fast_v3_e40_bg08": (FAST_V3, [*E40, *BG08]),
    "fast_v3_e40_bg08_seed1": (FAST_V3, [*E40, *BG08, "train.seed=1"]),
    # The same ingredients on the recipe's own 140-epoch schedule, measured on an idle machine (the 40-epoch
    # runs above stopped before replacement had caught up: training accuracy was at chance until epoch ~9).
    "fast_v3_bg05": (FAST_V3, BG05),
    "fast_v3_bg05_seed1": (FAST_V3, [*BG05, "train.seed=1"]),
    "fast_v3_bg03": (FAST_V3, ["augment.background_prob=0.3"]),
    "fast_v3_bg03_seed1": (FAST_V3, ["augment.background_prob=0.3", "train.seed=1"]),
    "fast_v3_bg05_feather": (FAST_V3, [*BG05, "augment.background_feather=1"]),
    "fast_v3_bg05_feather_seed1": (FAST_V3, [*BG05, "augment.background_feather=1", "train.seed=1"]),
    # Clutter behind the hand (2026-12-02, AVX-512 host): the bg_checker and bg_scene shifts stayed far below the
    # flat walls (36-50% and 78%); dead-leaves backgrounds (overlapping shapes at every scale) join the bank.
    "fast_v3_bg05_leaves": (FAST_V3, [*BG05, *LEAVES]),
    "fast_v3_bg05_leaves_seed1": (FAST_V3, [*BG05, *LEAVES, "train.seed=1"]),
    "fast_v3_bg05_leaves_repeat": (FAST_V3, [*BG05, *LEAVES]),
    # (2026-12-03) The checkerboard's two colours and the red wall, the worst flat one, are near skin; training
    # drew few such colours (uniform RGB or grey): the same patterns in skin, wood and beige tones join the bank.
    "fast_v3_bg05_warm": (FAST_V3, [*BG05, *WARM]),
    "fast_v3_bg05_warm_seed1": (FAST_V3, [*BG05, *WARM, "train.seed=1"]),
    "fast_v3_bg05_leaves_warm": (FAST_V3, [*BG05, *LEAVES_WARM]),
    "fast_v3_bg05_leaves_warm_seed1": (FAST_V3, [*BG05, *LEAVES_WARM, "train.seed=1"]),
    # measured with the first robust recipe (mild_all_per_image), before the recipe changed
    "recipe_fast": (FAST_V1, []),
    "recipe_fast_seed1": (FAST_V1, ["train.seed=1"]),  # another signer split: 30-odd other unseen signers
}


def _cli(*args: str) -> str:
    out = subprocess.run([sys.executable, "-m", "asl_edge", *args], check=True, capture_output=True, text=True)
    return out.stdout


def heldout_npz(run: Path, dest: Path) -> Path:
    """The run's held-out test images as stored (RGB, at the run's input size), so an artifact is
    scored on unseen signers."""
    from asl_edge.data import load_dataset
    from asl_edge.runtime.preprocess import Preprocessing

    split = json.loads((run / "split.json").read_text())
    size = json.loads((run / "preprocessing.json").read_text())["image_size"]
    ds = load_dataset(split["source"], Preprocessing(image_size=tuple(size), color_mode="rgb"))
    test = ds.subset(np.asarray(split["test"], np.int64))
    np.savez(dest, images=test.images, labels=test.labels, groups=test.groups, class_names=np.array(test.class_names))
    return dest


def score(run: Path, artifact: Path, tmp: Path) -> dict:
    """Float (run folder) and int8 (artifact) accuracy under every shift on the run's held-out signers."""
    data = heldout_npz(run, tmp / "heldout.npz")
    out = {}
    for kind, target, extra in (("float", run, []), ("int8", artifact, ["--data", str(data)])):
        m = json.loads(_cli("evaluate", str(target), *extra, "--shifts", "--json"))
        out[kind] = {
            "unchanged": m["accuracy"],
            "num_samples": m["num_samples"],
            "shifts": {k: v["accuracy"] for k, v in m["shifts"].items()},
            "worst_shift": m["worst_shift"],
        }
    out["int8_minus_float_max_drop"] = max(
        [out["float"]["unchanged"] - out["int8"]["unchanged"]]
        + [out["float"]["shifts"][k] - out["int8"]["shifts"][k] for k in out["int8"]["shifts"]]
    )
    return out


def run_variant(name: str, recipe: str, sets: list[str], work: Path, reuse: bool = False) -> dict:
    run, export = work / name, work / f"{name}-export"  # export refuses a folder inside the run
    args = ["train", "--recipe", recipe, "--out", str(run), "--force"]
    for s in sets:
        args += ["--set", s]
    reused = reuse and (run / "metrics.json").is_file()
    start = time.perf_counter()
    if not reused:
        _cli(*args)
    wall = None if reused else round(time.perf_counter() - start, 1)
    metrics = json.loads((run / "metrics.json").read_text())
    _cli("export", str(run), "--int8", "--formats", "tflite", "--out", str(export), "--force")
    artifact = next(export.glob("*_int8.tflite"))
    shown = os.path.relpath(recipe) if os.path.isfile(recipe) else recipe  # no machine's absolute path
    result = {
        "recipe": shown,
        "sets": sets,
        "command": " ".join(["asl-edge", *args]).replace(recipe, shown),
        "train_seconds": metrics["train_seconds"],
        "train_wall_seconds": wall,  # None: a finished run was scored again
        "epochs_run": metrics["epochs_run"],
        "params": metrics["params"],
        "int8_bytes": artifact.stat().st_size,
    }
    result.update(score(run, artifact, work))
    return result


def table_row(name: str, v: dict) -> str:
    """One Markdown row: the int8 artifact's unchanged accuracy, each background shift, the mean of the
    background family, and the mean and worst of the other shifts (percent)."""
    shifts = v["int8"]["shifts"]
    background = {k: a for k, a in shifts.items() if k.startswith("bg_")}
    rest = {k: a for k, a in shifts.items() if k not in background}
    worst = min(rest, key=rest.get)
    cells = [f"`{name}`", f"{v['int8']['unchanged']:.2%}", *(f"{a:.1%}" for a in background.values()),
             f"{np.mean(list(background.values())):.1%}", f"{np.mean(list(rest.values())):.1%}",
             f"{worst} {rest[worst]:.1%}", f"{sum(a >= 0.95 for a in shifts.values())}/{len(shifts)}"]
    return "| " + " | ".join(cells) + " |"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--variant", nargs="*", default=[], help="variants to run (see --list)")
    parser.add_argument("--reference", nargs=2, metavar=("RUN", "INT8"), help="score an existing run + artifact")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/shifts/ablation.json"))
    parser.add_argument("--work", type=Path, default=None, help="where run folders go [a temporary folder]")
    parser.add_argument("--force", action="store_true", help="rerun variants already in --out")
    parser.add_argument("--reuse-runs", action="store_true",
                        help="score a variant's finished run folder in --work instead of training it again")
    parser.add_argument("--list", action="store_true")
    parser.add_argument("--merge", nargs="+", type=Path, metavar="JSON",
                        help="add the variants of these result files (runs made in parallel, each with its own "
                             "--out) to --out, then stop")
    parser.add_argument("--table", nargs="+", metavar="VARIANT",
                        help="print a Markdown row per variant of --out (int8: unchanged, each background shift, "
                             "mean and worst of the others), then stop")
    args = parser.parse_args()
    if args.list:
        for name, (recipe, sets) in VARIANTS.items():
            print(f"{name:24} --recipe {recipe} {' '.join('--set ' + s for s in sets)}")
        return 0
    results = json.loads(args.out.read_text()) if args.out.is_file() else {"variants": {}}
    if args.merge:
        for path in args.merge:
            results["variants"].update(json.loads(path.read_text())["variants"])
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(results, indent=2) + "\n")
        return 0
    if args.table:
        for name in args.table:
            print(table_row(name, results["variants"][name]))
        return 0
    work_ctx = tempfile.TemporaryDirectory() if args.work is None else None
    work = Path(work_ctx.name) if work_ctx else args.work
    work.mkdir(parents=True, exist_ok=True)
    if args.reference:
        run, artifact = Path(args.reference[0]), Path(args.reference[1])
        entry = {
            "recipe": "reference (committed model)",
            "sets": [],
            "command": f"(existing) {run} {artifact}",
            "int8_bytes": artifact.stat().st_size,
        }
        entry.update(score(run, artifact, work))
        results["variants"]["reference"] = entry
    for name in args.variant:
        if name in results["variants"] and not args.force:
            print(f"{name}: already measured, skipped", flush=True)
            continue
        recipe, sets = VARIANTS[name]
        results["variants"][name] = run_variant(name, recipe, sets, work, args.reuse_runs)
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(results, indent=2) + "\n")
        v = results["variants"][name]
        print(
            f"{name}: int8 unchanged {v['int8']['unchanged']:.4f}, worst {v['int8']['worst_shift']['name']} "
            f"{v['int8']['worst_shift']['accuracy']:.4f}, {v['train_seconds']} s, {v['int8_bytes'] / 1024:.1f} KB",
            flush=True,
        )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
