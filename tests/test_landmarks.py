"""Landmark models: the normalisation's invariances, the extraction cache, the landmark augmentation,
and a landmark artifact trained, exported and run end to end (predict without TensorFlow)."""

import json
import math
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from asl_edge.runtime.errors import ConfigError, DataError
from asl_edge.runtime.landmarks import (
    INDEX_MCP,
    MIDDLE_MCP,
    PALM_KNUCKLES,
    PINKY_MCP,
    LandmarkFeatures,
    landmark_features,
    normalise,
)
from asl_edge.runtime.preprocess import Preprocessing


def right_hand() -> np.ndarray:
    """A right hand, fingers up, in frame pixels (y down): the wrist, the thumb (4 joints), then
    index, middle, ring and little finger (knuckle and 3 joints each); z a small depth."""
    thumb = [(-25, -15), (-45, -30), (-60, -45), (-70, -60)]
    fingers = [[(kx + 2 * j, -60 - 25 * j) for j in range(4)] for kx in (-30, -10, 10, 28)]
    xy = np.array([(0, 0), *thumb, *[p for f in fingers for p in f]], np.float64)
    z = np.linspace(0, -12, 21)
    return np.column_stack([xy, z])


HANDS = arrays(np.float64, (21, 3), elements=st.floats(-6, 6)).map(lambda d: right_hand() + d)
ANGLES = st.floats(-math.pi, math.pi)
SCALES = st.floats(0.2, 5.0)
SHIFTS = st.floats(-500, 500)


def turned(p: np.ndarray, angle: float, scale: float = 1.0, dx: float = 0.0, dy: float = 0.0) -> np.ndarray:
    c, s = math.cos(angle), math.sin(angle)
    out = p * scale
    out[:, :2] = out[:, :2] @ np.array([[c, s], [-s, c]]) + (dx, dy)
    return out


@settings(max_examples=60, deadline=None)
@given(HANDS, SHIFTS, SHIFTS, st.floats(-50, 50))
def test_features_ignore_where_the_hand_is(hand, dx, dy, dz):
    moved = hand + (dx, dy, dz)
    np.testing.assert_allclose(landmark_features(moved), landmark_features(hand), atol=1e-4)


@settings(max_examples=60, deadline=None)
@given(HANDS, SCALES)
def test_features_ignore_the_hands_size(hand, scale):
    np.testing.assert_allclose(landmark_features(hand * scale), landmark_features(hand), atol=1e-4)


@settings(max_examples=60, deadline=None)
@given(HANDS, ANGLES, SCALES, SHIFTS, SHIFTS)
def test_features_ignore_a_turn_in_the_image_plane(hand, angle, scale, dx, dy):
    np.testing.assert_allclose(landmark_features(turned(hand, angle, scale, dx, dy)), landmark_features(hand),
                               atol=1e-4)


@settings(max_examples=60, deadline=None)
@given(HANDS, ANGLES, SHIFTS)
def test_a_left_hand_reads_as_the_mirrored_right_hand(hand, angle, width):
    mirrored = hand.copy()
    mirrored[:, 0] = width - mirrored[:, 0]
    np.testing.assert_allclose(landmark_features(turned(mirrored, angle)), landmark_features(hand), atol=1e-4)


def test_normalised_hand_is_upright_unit_sized_and_right_handed():
    for hand in (right_hand(), turned(right_hand(), 2.0, 3.0, 40, -7) * [-1, 1, 1]):
        p = normalise(hand)
        np.testing.assert_allclose(p[0], 0, atol=1e-9)
        assert abs(p[MIDDLE_MCP, 0]) < 1e-9 and p[MIDDLE_MCP, 1] < 0  # the middle knuckle straight above
        assert np.hypot(p[PALM_KNUCKLES, 0], p[PALM_KNUCKLES, 1]).mean() == pytest.approx(1.0)
        assert p[INDEX_MCP, 0] < p[PINKY_MCP, 0]


# An upright right hand already normalised: the wrist at the origin, the four knuckles at distance 1
# (palm size 1), the index knuckle left of the little finger's, the middle knuckle straight up.
CANONICAL = np.zeros((21, 3))
CANONICAL[1:5] = [(-0.5, -0.2, 0.1), (-0.9, -0.5, 0.2), (-1.1, -0.9, 0.3), (-1.2, -1.3, 0.4)]
CANONICAL[5:9] = [(-0.6, -0.8, -0.1), (-0.65, -1.6, -0.2), (-0.7, -2.2, -0.3), (-0.7, -2.6, -0.4)]
CANONICAL[9:13] = [(0.0, -1.0, -0.1), (0.0, -1.9, -0.2), (0.05, -2.5, -0.3), (0.05, -3.0, -0.5)]
CANONICAL[13:17] = [(0.6, -0.8, 0.0), (0.7, -1.7, -0.1), (0.75, -2.3, -0.2), (0.8, -2.7, -0.3)]
CANONICAL[17:21] = [(0.8, -0.6, 0.2), (1.0, -1.0, 0.1), (1.6, -0.9, 0.0), (2.0, -0.6, -0.1)]


@pytest.mark.parametrize("angle, scale, mirror", [(0.0, 1.0, False), (0.5, 40.0, False), (-2.5, 3.0, True),
                                                  (math.pi / 2, 0.25, True), (math.pi, 1e-5, False)])
def test_normalised_landmarks_are_the_canonical_hand_in_any_pose(angle, scale, mirror):
    """The steps' values: moved, turned, scaled (depth too) and mirrored, the hand normalises back to
    the canonical one, whose features are its landmarks 1..20, (x, y, z) or (x, y)."""
    pose = turned(CANONICAL, angle, scale, 310.0, -45.0) + (0, 0, 7.5)
    if mirror:
        pose[:, 0] = 640 - pose[:, 0]
    np.testing.assert_allclose(normalise(pose), CANONICAL, atol=1e-9)
    np.testing.assert_allclose(landmark_features(pose), CANONICAL[1:].reshape(-1).astype(np.float32), atol=1e-6)
    assert landmark_features(pose).dtype == np.float32
    np.testing.assert_allclose(landmark_features(pose, {"use_z": False}), CANONICAL[1:, :2].reshape(-1), atol=1e-6)


def test_normalised_palm_below_the_minimum_size_is_zeros():
    np.testing.assert_array_equal(normalise(CANONICAL * 0.9e-6), 0)
    np.testing.assert_allclose(normalise(CANONICAL * 1.1e-6), CANONICAL, atol=1e-6)
    both = normalise(np.stack([CANONICAL, CANONICAL * 1e-7]))  # one hand too small: only it is zeros
    np.testing.assert_allclose(both[0], CANONICAL, atol=1e-9)
    np.testing.assert_array_equal(both[1], 0)
    exact = np.zeros((21, 3))  # upright already (no rounding from a turn), palm exactly MIN_PALM: no hand
    exact[[INDEX_MCP, MIDDLE_MCP, 13, PINKY_MCP], :2] = [(-1e-6, 0), (0, -1e-6), (0, 1e-6), (1e-6, 0)]
    np.testing.assert_array_equal(normalise(exact), 0)
    np.testing.assert_allclose(normalise(exact * 1.000001)[MIDDLE_MCP], (0, -1, 0), atol=1e-6)


@pytest.mark.parametrize("bad", [np.full((21, 3), np.inf), np.where(np.arange(63).reshape(21, 3) % 2, 1e308, -1e308)])
def test_normalised_infinite_or_overflowing_landmarks_are_zeros_without_a_warning(bad):
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # NumPy's "invalid value" and "overflow" warnings would be errors
        np.testing.assert_array_equal(normalise(bad), 0)


def test_normalised_landmarks_are_computed_in_float64_whatever_the_input():
    pose = turned(CANONICAL, 0.7, 123.4, 310.0, -45.0).astype(np.float32)
    out = normalise(pose)
    assert out.dtype == np.float64
    np.testing.assert_allclose(out, normalise(pose.astype(np.float64)), rtol=0, atol=1e-12)
    np.testing.assert_allclose(normalise(pose.tolist()), out, rtol=0, atol=1e-12)


def test_normalised_hand_with_index_and_little_finger_in_line_is_not_mirrored():
    hand = CANONICAL.copy()
    hand[INDEX_MCP, 0] = hand[PINKY_MCP, 0] = 0.0  # neither knuckle left of the other: left as it is
    palm = (0.8 + 1 + 1 + 0.6) / 4  # the index and little finger's knuckles now 0.8 and 0.6 from the wrist
    np.testing.assert_allclose(normalise(hand * 5 + (100, 50, 0)), hand / palm, atol=1e-9)


def test_features_tell_signs_apart():
    bent = right_hand()
    bent[6:9, 1] = bent[5, 1] + 10  # the index finger folded down over the palm
    assert np.abs(landmark_features(bent) - landmark_features(right_hand())).max() > 0.5


def test_depth_is_a_feature_only_when_asked():
    deeper = right_hand()
    deeper[8, 2] -= 40
    with_z, without = LandmarkFeatures(use_z=True), LandmarkFeatures(use_z=False)
    assert landmark_features(right_hand(), without).shape == (40,)
    np.testing.assert_array_equal(landmark_features(deeper, without), landmark_features(right_hand(), without))
    assert not np.allclose(landmark_features(deeper, with_z), landmark_features(right_hand(), with_z))


@pytest.mark.parametrize("bad", [np.zeros((21, 3)), np.full((21, 3), np.nan), np.full((21, 3), np.inf)])
def test_no_hand_to_measure_gives_zeros_not_nan(bad):
    np.testing.assert_array_equal(landmark_features(bad), np.zeros(60, np.float32))


def test_batches_equal_one_at_a_time():
    batch = np.stack([right_hand(), turned(right_hand(), 1.0, 2.0), right_hand() * [-1, 1, 1]])
    np.testing.assert_allclose(landmark_features(batch), np.stack([landmark_features(h) for h in batch]))


def test_bad_landmark_settings_fail_in_one_line():
    with pytest.raises(DataError, match="needs a 'localiser'"):
        Preprocessing(landmarks=LandmarkFeatures().to_dict())
    with pytest.raises(DataError, match="version 7 is not supported"):
        LandmarkFeatures(version=7)
    with pytest.raises(DataError, match="unknown landmarks keys: colour"):
        LandmarkFeatures.from_dict({"colour": 1})
    with pytest.raises(DataError, match=r"shape \(\.\.\., 21, 3\)"):
        landmark_features(np.zeros((21, 2)))
    with pytest.raises(DataError, match=r"got \(3,\)"):
        normalise(np.zeros(3))
    with pytest.raises(DataError, match=r"use_z must be true or false, got 1$"):
        LandmarkFeatures(use_z=1)
    with pytest.raises(DataError, match=r"^landmark features version 2 is not supported \(this asl-edge computes "
                                        r"version 1\)$"):
        LandmarkFeatures(version=2)
    with pytest.raises(DataError, match="^preprocessing 'landmarks' must be an object$"):
        LandmarkFeatures.from_dict([("use_z", True)])
    with pytest.raises(DataError, match="^unknown landmarks keys: colour, size$"):
        LandmarkFeatures.from_dict({"size": 1, "use_z": True, "colour": 1})
    assert LandmarkFeatures.from_dict({"use_z": False}) == LandmarkFeatures(use_z=False)
    assert LandmarkFeatures().to_dict() == {"use_z": True, "version": 1}
    assert (LandmarkFeatures().size, LandmarkFeatures(use_z=False).size) == (60, 40)


def test_landmark_preprocessing_round_trips_and_describes_its_input():
    from asl_edge.runtime.hands import LocaliserConfig

    pre = Preprocessing(localiser=LocaliserConfig().to_dict(), landmarks=LandmarkFeatures(use_z=False).to_dict())
    assert Preprocessing.from_dict(pre.to_dict()) == pre
    assert pre.input_shape == (40,) and pre.sample_shape == (21, 3)
    recipe = pre.input_recipe(["a", "b"])
    assert recipe["shape"] == [1, 40] and recipe["landmarks"] == {"use_z": False, "version": 1}
    assert "landmarks" not in Preprocessing().to_dict()  # image models' records stay as they were


# -- the extraction cache --------------------------------------------------------------------------
class FakeLocaliser:
    """Finds a hand in bright images only, and counts its searches; with ``reread``, reads a found hand
    again 1000 pixels to the right (as ``LocaliserConfig.reread`` reads it with another landmark model)."""

    def __init__(self):
        self.calls = 0
        self.reread = False

    def reread_landmarks(self, rgb, hand):
        from asl_edge.runtime.hands import Hand

        return Hand(hand.landmarks + [1000, 0], hand.presence, hand.palm_score, hand.depth) if self.reread else hand

    def find_hand(self, rgb):
        from asl_edge.runtime.hands import Hand

        self.calls += 1
        if rgb.mean() < 100:
            return None
        hand = right_hand() + rgb.mean()
        return Hand(hand[:, :2], 0.95, 0.5, hand[:, 2])


@pytest.fixture
def fake_localiser(monkeypatch):
    fake = FakeLocaliser()
    monkeypatch.setattr("asl_edge.runtime.hands.cached_localiser", lambda settings, threads=1: fake)
    return fake


def test_extraction_is_cached_per_image_and_settings(fake_localiser, tmp_path):
    from asl_edge.data.landmarks import cache_file, extract

    images = np.stack([np.full((8, 8, 3), v, np.uint8) for v in (20, 150, 200)])
    first = extract(images, {"a": 1}, tmp_path)
    assert first.searched == 3 and not first.cache_hit and fake_localiser.calls == 3
    assert first.found.tolist() == [False, True, True] and first.path == cache_file({"a": 1}, tmp_path)
    np.testing.assert_allclose(first.points[1], (right_hand() + 150).astype(np.float32))
    np.testing.assert_array_equal(first.points[0], 0)
    again = extract(images, {"a": 1}, tmp_path)
    assert again.cache_hit and fake_localiser.calls == 3  # nothing searched again
    np.testing.assert_array_equal(again.points, first.points)
    np.testing.assert_array_equal(again.found, first.found)
    part = extract(images[[2, 0]], {"a": 1}, tmp_path)  # a run's held-out part: read back, in its order
    assert part.cache_hit and fake_localiser.calls == 3
    np.testing.assert_array_equal(part.points, first.points[[2, 0]])
    more = extract(np.concatenate([images, np.full((1, 8, 8, 3), 120, np.uint8)]), {"a": 1}, tmp_path)
    assert more.searched == 1 and fake_localiser.calls == 4  # only the new image
    other = extract(images, {"a": 2}, tmp_path)
    assert other.searched == 3 and fake_localiser.calls == 7 and other.path != first.path


def test_the_extraction_keeps_the_landmarks_the_model_reads(fake_localiser, tmp_path):
    from asl_edge.data.landmarks import extract

    images = np.full((1, 8, 8, 3), 150, np.uint8)
    fake_localiser.reread = True
    got = extract(images, {"reread": True}, tmp_path)
    np.testing.assert_allclose(got.points[0], (right_hand() + 150 + [1000, 0, 0]).astype(np.float32))


def test_a_damaged_cache_file_is_searched_again(fake_localiser, tmp_path):
    from asl_edge.data.landmarks import extract

    images = np.full((2, 8, 8, 3), 180, np.uint8)
    path = extract(images, {}, tmp_path).path
    path.write_bytes(b"not an npz")
    again = extract(images, {}, tmp_path)
    assert again.searched == 2 and again.found.all() and fake_localiser.calls == 4
    assert extract(images, {}, tmp_path).cache_hit  # and written back whole


# -- augmentation ----------------------------------------------------------------------------------
def test_augmentation_tilts_rigidly_about_the_wrist_and_adds_noise():
    from asl_edge.training.config import AugmentSection
    from asl_edge.training.landmark_augment import augment_landmarks

    batch = np.stack([right_hand(), turned(right_hand(), 0.5, 2.0, 30, 30)]).astype(np.float32)
    off = augment_landmarks(batch, AugmentSection(), np.random.default_rng(0))
    np.testing.assert_array_equal(off, batch)
    tilted = augment_landmarks(batch, AugmentSection(landmark_tilt=30), np.random.default_rng(0))
    np.testing.assert_allclose(tilted[:, 0], batch[:, 0], atol=1e-4)  # the wrist stays
    np.testing.assert_allclose(np.linalg.norm(tilted - tilted[:, :1], axis=-1),
                               np.linalg.norm(batch - batch[:, :1], axis=-1), rtol=1e-4)  # rigid
    assert np.abs(tilted - batch).max() > 1.0
    noisy = augment_landmarks(batch, AugmentSection(landmark_noise=0.05), np.random.default_rng(0))
    moved = np.abs(landmark_features(noisy) - landmark_features(batch)).max()
    assert 0.0 < moved < 0.6


# -- altered copies: the hand models read the pictures the image augmentation makes ---------------
PICTURES_ONLY = dict(rotation=0.0, shift=0.0, zoom=0.0, brightness=0.0, contrast=0.0)  # what a test switches on


def _pictures(n: int = 3) -> np.ndarray:
    rng = np.random.default_rng(0)
    return rng.integers(120, 255, (n, 16, 16, 3)).astype(np.uint8)


def test_altered_copies_are_the_augmentations_pictures_in_order_and_the_same_each_time():
    from asl_edge.training.config import AugmentSection
    from asl_edge.training.landmarks import altered_copies

    images = _pictures()
    grey = AugmentSection(grayscale_prob=1.0, **PICTURES_ONLY)
    copies = altered_copies(images, None, grey, 2, seed=0)
    assert copies.shape == (6, 16, 16, 3) and copies.dtype == np.uint8
    luma = np.round(images @ np.array([0.299, 0.587, 0.114]))
    for k in range(2):  # copy k of image i at k * N + i
        np.testing.assert_allclose(copies[3 * k:3 * k + 3], np.repeat(luma[..., None], 3, -1), atol=1)
    jpeg = AugmentSection(jpeg_prob=1.0, noise=0.05, **PICTURES_ONLY)
    first = altered_copies(images, None, jpeg, 2, seed=0)
    np.testing.assert_array_equal(first, altered_copies(images, None, jpeg, 2, seed=0))  # cached next time
    assert not np.array_equal(first[:3], first[3:])  # two copies of an image differ
    assert not np.array_equal(first, altered_copies(images, None, jpeg, 2, seed=1))


def test_altered_copies_replace_only_the_background():
    from asl_edge.training.config import AugmentSection
    from asl_edge.training.landmarks import altered_copies

    images = _pictures()
    masks = np.zeros((3, 16, 16, 1), np.uint8)
    masks[:, 4:12, 4:12] = 255  # the "hand", as training_masks gives it
    copies = altered_copies(images, masks, AugmentSection(background_prob=1.0, **PICTURES_ONLY), 1, seed=0)
    hand = masks[..., 0] == 255
    np.testing.assert_array_equal(copies[hand], images[hand])
    assert np.abs(copies[~hand].astype(int) - images[~hand]).mean() > 10


def _landmark_data(n: int = 8):
    from asl_edge.data.dataset import ImageDataset
    from asl_edge.runtime.hands import LocaliserConfig

    pre = Preprocessing(localiser=LocaliserConfig().to_dict(), landmarks=LandmarkFeatures().to_dict())
    images = np.full((n, 16, 16, 3), 180, np.uint8) + np.arange(n, dtype=np.uint8)[:, None, None, None]
    return ImageDataset(labels=np.arange(n) % 2, class_names=["a", "b"], preprocessing=pre, source="test",
                        images=images, groups=np.arange(n).astype(str)), pre


@pytest.mark.parametrize("copies", [0, 2])
def test_altered_copies_join_the_training_part_only(fake_localiser, tmp_path, monkeypatch, copies):
    from asl_edge.training.config import AugmentSection
    from asl_edge.training.landmarks import landmark_sets

    monkeypatch.setenv("ASL_EDGE_LANDMARK_CACHE", str(tmp_path))
    ds, pre = _landmark_data()
    noisy = AugmentSection(noise=0.05, **PICTURES_ONLY)  # still bright: the fake finds a hand in each
    train, val, test, found, stats = landmark_sets(ds, pre, np.arange(4), np.arange(4, 6), np.arange(6, 8), copies,
                                                   noisy)
    assert len(train) == 4 * (1 + copies) and len(val) == 2 and len(test) == 2 and found.all()
    np.testing.assert_array_equal(train.labels, np.tile(ds.labels[:4], 1 + copies))
    np.testing.assert_array_equal(train.groups, np.tile(ds.groups[:4], 1 + copies))  # a copy keeps its signer
    assert stats.get("copies", {}).get("added", 0) == 4 * copies
    if copies:  # the whole data set's copies are searched (once per picture: a faint one may equal its original)
        assert 8 + 4 * copies < fake_localiser.calls <= 8 * (1 + copies)
        assert not np.array_equal(train.images[4:8], train.images[:4])  # the copies' own landmarks
    else:
        assert fake_localiser.calls == 8


# -- configuration ---------------------------------------------------------------------------------
@pytest.mark.parametrize("sets, message", [
    (["model.name=edge_cnn"], "reads images; data.landmarks needs a landmark model"),
    (["data.localise=false"], "needs data.localise=true"),
    (["data.scene_copies=1"], "data.scene_copies is not used by a landmark model"),
    (["data.landmark_copies=2", "augment.enabled=false"], "data.landmark_copies alters the copies with the augment"),
])
def test_landmark_recipe_combinations_are_checked(sets, message):
    from asl_edge.training import config as cfg

    with pytest.raises(ConfigError, match=message):
        cfg.resolve("landmarks", sets)


def test_a_landmark_model_needs_the_landmark_recipe():
    from asl_edge.training import config as cfg

    with pytest.raises(ConfigError, match="reads hand landmarks: train it with the landmarks recipe"):
        cfg.resolve("fast", ["model.name=landmark_mlp"])
    with pytest.raises(ConfigError, match="data.landmark_copies makes altered copies for a landmark model"):
        cfg.resolve("fast", ["data.landmark_copies=2"])


# -- a landmark artifact end to end ----------------------------------------------------------------
HAND_CLASSES = ("0", "1", "5")  # a closed ring, one finger, an open hand


@pytest.fixture(scope="module")
def hands_npz(tmp_path_factory):
    """36 built-in photographs (3 signs x 12 signers): the landmark path needs real hands."""
    from asl_edge.data import load_dataset
    from asl_edge.data.builtin import STORAGE

    ds = load_dataset("builtin", STORAGE, stream=False)
    keep = [c for c in HAND_CLASSES]
    signers = [g for g in dict.fromkeys(ds.groups.tolist())][:12]
    index = [i for i in range(len(ds)) if ds.class_names[ds.labels[i]] in keep and ds.groups[i] in signers]
    labels = np.array([keep.index(ds.class_names[ds.labels[i]]) for i in index])
    path = tmp_path_factory.mktemp("hands") / "hands.npz"
    np.savez(path, images=ds.images[index], labels=labels, groups=ds.groups[index], class_names=np.array(keep))
    return path


@pytest.fixture(scope="module")
def landmark_export(hands_npz, tmp_path_factory):
    from asl_edge.export import ExportConfig, export_run
    from asl_edge.training import config as cfg
    from asl_edge.training.trainer import train

    run = tmp_path_factory.mktemp("runs") / "lm"
    sets = [f"data.source={hands_npz}", "data.val_fraction=0.25", "data.test_fraction=0.25", "train.epochs=60",
            "train.batch_size=8", "model.width=16", "train.early_stopping_patience=0"]
    result = train(cfg.resolve("landmarks", sets), run)
    out = tmp_path_factory.mktemp("export") / "lm"
    manifest = export_run(run, ExportConfig(int8=True, calib_samples=10, max_drop=100.0), out)
    assert not manifest["failed"], manifest["failed"]
    return run, out, manifest, result


def test_landmark_run_trains_on_cached_landmarks_and_exports_verified(landmark_export):
    run, out, manifest, result = landmark_export
    assert result.metrics["localisation"]["landmarks_searched"] in (0, 36)  # the whole set once, or cached
    copies = result.metrics["localisation"]["copies"]  # the recipe's altered copies reached the training part
    assert copies["per_image"] == 3 and copies["copies"] == 3 * 18 and 0 < copies["added"] <= copies["copies"]
    assert result.metrics["accuracy"] >= 0.75  # three clearly different hand shapes, 3 unseen signers
    assert manifest["preprocessing"]["landmarks"] == {"use_z": True, "version": 1}
    assert manifest["input_shape"] == [60]
    by_format = {a["format"]: a for a in manifest["artifacts"]}
    assert {"tflite_fp32", "tflite_int8", "onnx_fp32", "onnx_int8"} <= set(by_format)
    assert by_format["tflite_fp32"]["max_abs_diff"] <= 1e-4
    assert by_format["tflite_int8"]["size_bytes"] < 20_000


def test_an_export_records_the_hand_search_settings_it_was_given(landmark_export, tmp_path):
    from asl_edge.export import ExportConfig, export_run
    from asl_edge.runtime.metadata import read_metadata

    run, _, before, _ = landmark_export
    settings = {"max_candidates": 5, "retries": ["smooth"]}
    manifest = export_run(run, ExportConfig(int8=True, families=("tflite",), calib_samples=10, max_drop=100.0,
                                            localiser=settings), tmp_path / "lm")
    int8 = next(a["path"] for a in manifest["artifacts"] if a["format"] == "tflite_int8")
    embedded = read_metadata(tmp_path / "lm" / int8)["preprocessing"]["localiser"]
    for localiser in (manifest["preprocessing"]["localiser"], embedded):
        assert {k: localiser[k] for k in settings} == settings
        assert localiser["margin"] == before["preprocessing"]["localiser"]["margin"]
    assert manifest["config"]["localiser"] == settings
    assert json.loads((run / "preprocessing.json").read_text())["localiser"]["max_candidates"] != 5  # run unchanged


NO_TF = ("import sys; sys.modules.update({m: None for m in ('tensorflow', 'tf_keras', 'keras')}); "
         "from asl_edge.cli import main; main()")


def test_landmark_artifact_predicts_without_tensorflow(landmark_export, hands_npz, tmp_path):
    from PIL import Image

    _, out, manifest, _ = landmark_export
    data = np.load(hands_npz)
    for i in range(3):  # one photograph of each sign
        Image.fromarray(data["images"][list(data["labels"]).index(i)]).save(tmp_path / f"sign{i}.png")
    Image.fromarray(np.full((64, 64, 3), 128, np.uint8)).save(tmp_path / "empty.png")
    for fmt in ("tflite_int8", "onnx_int8"):
        path = out / next(a["path"] for a in manifest["artifacts"] if a["format"] == fmt)
        r = subprocess.run([sys.executable, "-c", NO_TF, "predict", str(path), str(tmp_path), "--json"],
                           capture_output=True, text=True)
        assert r.returncode == 0, r.stderr
        rows = {json.loads(line)["path"].rsplit("/", 1)[-1]: json.loads(line) for line in r.stdout.splitlines()}
        assert rows["empty.png"]["hand"] is False and rows["empty.png"]["top"] == []
        for i in range(3):
            top = rows[f"sign{i}.png"]["top"]
            assert top[0]["label"] in HAND_CLASSES and abs(sum(t["probability"] for t in top) - 1) < 0.05
