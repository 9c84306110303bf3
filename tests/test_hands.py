"""Hand localiser (asl_edge.runtime.hands) and scene compositor (asl_edge.data.scenes)."""

from __future__ import annotations

import importlib.util
import io
import json

import numpy as np
import pytest
from PIL import Image

from asl_edge.data import scenes
from asl_edge.runtime import hands
from asl_edge.runtime.errors import DataError, ModelError
from asl_edge.runtime.hands import HandBox, HandLocaliser, LocaliserConfig, Palm

# Built-in images (index into asl-digits.npz) on which the default localiser finds the hand.
CLOSEUPS = (0, 1, 2, 3, 4)


@pytest.fixture(scope="module")
def localiser():
    pytest.importorskip("ai_edge_litert")
    return HandLocaliser(LocaliserConfig(), threads=1)


def _builtin(i: int) -> np.ndarray:
    from asl_edge.data.builtin import BUILTIN_FILE

    with np.load(BUILTIN_FILE, allow_pickle=False) as z:
        a, b = z["offsets"][i], z["offsets"][i + 1]
        blob = z["blobs"][a:b].tobytes()
    return np.asarray(Image.open(io.BytesIO(blob)).convert("RGB"))


def test_anchors_count_and_layout():
    anchors = hands.palm_anchors()
    assert anchors.shape == (2016, 2)
    assert np.all((anchors > 0) & (anchors < 1))
    # stride 8: 24x24 cells, 2 anchors each, row-major; then stride 16: 12x12 cells, 6 anchors each.
    np.testing.assert_allclose(anchors[0], [0.5 / 24, 0.5 / 24])
    np.testing.assert_allclose(anchors[1], anchors[0])
    np.testing.assert_allclose(anchors[2], [1.5 / 24, 0.5 / 24])
    np.testing.assert_allclose(anchors[1152], [0.5 / 12, 0.5 / 12])
    np.testing.assert_allclose(anchors[1152:1158], np.repeat(anchors[1152:1153], 6, axis=0))
    np.testing.assert_allclose(anchors[-1], [11.5 / 12, 11.5 / 12])


def test_decode_places_box_and_keypoints():
    anchors = hands.palm_anchors()
    raw_boxes = np.zeros((2016, 18), np.float32)
    raw_scores = np.full((2016, 1), -50.0, np.float32)
    k = 1152 + 6 * (12 * 5 + 7)  # stride-16 cell (x=7, y=5): centre (7.5/12, 5.5/12)
    raw_boxes[k, :4] = [19.2, -9.6, 38.4, 57.6]  # shift +0.1 / -0.05, size 0.2 x 0.3 of 192
    raw_boxes[k, 4:6] = [0.0, 19.2]  # keypoint 0 at +0.1 below the anchor
    raw_scores[k] = 3.0
    boxes, kps, scores = hands.decode_palms(raw_boxes, raw_scores, anchors, min_score=0.5)
    assert len(boxes) == 1
    cx, cy = 7.5 / 12 + 0.1, 5.5 / 12 - 0.05
    np.testing.assert_allclose(boxes[0], [cx - 0.1, cy - 0.15, cx + 0.1, cy + 0.15], atol=1e-6)
    np.testing.assert_allclose(kps[0, 0], [7.5 / 12, 5.5 / 12 + 0.1], atol=1e-6)
    np.testing.assert_allclose(scores[0], 1 / (1 + np.exp(-3.0)), rtol=1e-6)


def test_weighted_nms_merges_overlaps_and_keeps_separate_boxes():
    boxes = np.array([[0.1, 0.1, 0.3, 0.3], [0.12, 0.1, 0.32, 0.3], [0.6, 0.6, 0.8, 0.8]], np.float32)
    kps = np.zeros((3, 7, 2), np.float32)
    scores = np.array([0.9, 0.6, 0.7], np.float32)
    out = hands.weighted_nms(boxes, kps, scores, iou=0.3)
    assert [round(s, 2) for _, _, s in out] == [0.9, 0.7]
    np.testing.assert_allclose(out[0][0][0], (0.1 * 0.9 + 0.12 * 0.6) / 1.5, rtol=1e-6)


def test_palm_region_upright_palm():
    # Wrist straight below the middle-finger MCP: no rotation, centre moves up half a box height.
    kps = np.zeros((7, 2), np.float32)
    kps[hands.WRIST], kps[hands.MIDDLE_MCP] = (100, 120), (100, 80)
    cx, cy, side, angle = hands.palm_region(Palm(100, 100, 40, 50, kps, 0.9))
    assert abs(angle) < 1e-6 and cx == pytest.approx(100)
    assert cy == pytest.approx(100 - 25) and side == pytest.approx(50 * 2.6)
    # Hand pointing right: rotated by +90 degrees, the shift goes right.
    kps[hands.MIDDLE_MCP] = (140, 120)
    cx, cy, _, angle = hands.palm_region(Palm(100, 100, 40, 50, kps, 0.9))
    assert angle == pytest.approx(np.pi / 2) and cx == pytest.approx(125) and cy == pytest.approx(100)


def test_tile_views_cover_a_wide_frame():
    tiles = hands.tile_views(320, 240, 0.75)
    assert {t[2] for t in tiles} == {180.0}
    assert min(t[0] - 90 for t in tiles) == 0 and max(t[0] + 90 for t in tiles) == 320
    assert min(t[1] - 90 for t in tiles) == 0 and max(t[1] + 90 for t in tiles) == 240
    assert hands.tile_views(100, 100, 1.0) == []


def test_crop_is_square_and_edge_padded():
    rgb = np.zeros((60, 80, 3), np.uint8)
    rgb[:, :, 0] = np.arange(80, dtype=np.uint8)[None, :]
    rgb[:, :, 1] = np.arange(60, dtype=np.uint8)[:, None]
    crop = hands.crop_square(rgb, HandBox(-10, -5, 20, 25, 1.0), margin=0.5)
    assert crop.shape == (45, 45, 3)
    assert np.all(crop[:, :18, 0] == 0) and np.all(crop[:13, :, 1] == 0)  # replicated first column/row
    inner = crop[20, 30]
    assert tuple(inner[:2]) == (30 - 17, 20 - 12)  # crop starts at (-17, -12)
    assert hands.crop_square(rgb, HandBox(70, 50, 90, 70, 1.0), margin=0.0, size=32).shape == (32, 32, 3)


@pytest.mark.parametrize("i", CLOSEUPS)
def test_find_on_builtin_closeups(localiser, i):
    rgb = _builtin(i)
    box = localiser.find(rgb)
    assert box is not None and box.score >= localiser.config.min_presence
    assert box.width > 10 and box.height > 10
    cx, cy = box.center
    assert 0 <= cx < rgb.shape[1] and 0 <= cy < rgb.shape[0]
    crop = localiser.crop(rgb, box)
    assert crop.shape[0] == crop.shape[1] and crop.dtype == np.uint8


@pytest.mark.parametrize("value", [0, 128, 255])
def test_find_on_blank_frames_is_none(localiser, value):
    assert localiser.find(np.full((240, 320, 3), value, np.uint8)) is None


def test_find_rejects_non_rgb(localiser):
    with pytest.raises(DataError):
        localiser.find(np.zeros((240, 320), np.uint8))


# A built-in close-up per retry filter, under a camera shift that hides its hand from the search
# without retries and that this retry (after the ones before it) gives back.
RESCUED = {"smooth": ("jpeg_10", 235), "sharpen": ("blur_2.0", 1145)}


@pytest.mark.parametrize("name", list(hands.RETRY_FILTERS))
def test_each_retry_finds_a_hand_the_search_without_it_misses(name):
    pytest.importorskip("ai_edge_litert")
    from asl_edge.runtime.shifts import get_shift

    shift, i = RESCUED[name]
    rgb = get_shift(shift).apply(_builtin(i))
    order = list(hands.RETRY_FILTERS)
    before = tuple(order[: order.index(name)])
    assert HandLocaliser(LocaliserConfig(retries=before), threads=1).find(rgb) is None
    box = HandLocaliser(LocaliserConfig(retries=(*before, name)), threads=1).find(rgb)
    assert box is not None and box.score >= LocaliserConfig().retry_min_presence
    cx, cy = box.center  # in the frame's own pixels
    assert 0 <= cx < rgb.shape[1] and 0 <= cy < rgb.shape[0]


def test_settings_recorded_before_retries_existed_read_as_none():
    recorded = LocaliserConfig().to_dict()
    assert recorded["retries"] == list(hands.RETRY_FILTERS)  # JSON-ready: equal after a round trip
    assert LocaliserConfig.from_dict(json.loads(json.dumps(recorded))) == LocaliserConfig()
    del recorded["retries"]
    assert LocaliserConfig.from_dict(recorded).retries == ()
    with pytest.raises(DataError, match="unknown localiser retry"):
        LocaliserConfig(retries=("denoise",))
    with pytest.raises(DataError, match="retry_min_presence"):
        LocaliserConfig(retry_min_presence=1.5)


def test_a_retry_hand_below_the_retry_presence_is_no_hand():
    # The sharpened copy's hand in this frame scores below 0.999: demanding that drops it.
    pytest.importorskip("ai_edge_litert")
    from asl_edge.runtime.shifts import get_shift

    shift, i = RESCUED["sharpen"]
    rgb = get_shift(shift).apply(_builtin(i))
    assert HandLocaliser(LocaliserConfig(retry_min_presence=0.999), threads=1).find(rgb) is None


def test_config_round_trip_with_model_provenance():
    config = LocaliserConfig(min_palm_score=0.4, margin=0.3)
    d = json.loads(json.dumps(config.to_dict()))
    assert LocaliserConfig.from_dict(d) == config
    for info in d["models"].values():
        assert info["licence"] == "Apache-2.0" and info["package"] == "mediapipe" and len(info["sha256"]) == 64
    d["models"][config.palm_model]["sha256"] = "0" * 64
    with pytest.raises(ModelError):
        LocaliserConfig.from_dict(d)
    with pytest.raises(DataError):
        LocaliserConfig.from_dict({"colour": 1})
    with pytest.raises(ModelError):
        LocaliserConfig(palm_model="no_such_model")


def test_composite_is_deterministic_and_places_the_photo():
    photo = np.full((100, 100, 3), 200, np.uint8)
    background = np.random.default_rng(0).integers(0, 256, (400, 600, 3), dtype=np.uint8)
    f1, b1 = scenes.composite(photo, background, np.random.default_rng(7))
    f2, b2 = scenes.composite(photo, background, np.random.default_rng(7))
    assert f1.shape == (240, 320, 3) and b1 == b2 and np.array_equal(f1, f2)
    x0, y0, x1, y1 = b1
    assert 0 <= x0 < x1 <= 320 and 0 <= y0 < y1 <= 240
    assert 0.35 * 240 - 1 <= y1 - y0 <= 0.7 * 240 + 1
    assert np.all(f1[y0:y1, x0:x1] == 200)
    f3, _ = scenes.composite(photo, background, np.random.default_rng(8))
    assert not np.array_equal(f1, f3)


def test_train_and_test_backgrounds_are_disjoint():
    train, test = scenes.background_names("train"), scenes.background_names("test")
    assert train and test and not set(train) & set(test)
    assert set(train) | set(test) == set(scenes.BACKGROUNDS)
    paths = {(bg.package, bg.path) for bg in scenes.BACKGROUNDS.values()}
    assert len(paths) == len(scenes.BACKGROUNDS)  # no photograph listed twice
    for bg in scenes.BACKGROUNDS.values():
        assert bg.licence and bg.source
    with pytest.raises(DataError):
        scenes.background_names("val")


@pytest.mark.skipif(importlib.util.find_spec("skimage") is None or importlib.util.find_spec("sklearn") is None,
                    reason="the background photographs ship in scikit-image and scikit-learn")
def test_backgrounds_load_from_installed_packages():
    for name in scenes.BACKGROUNDS:
        img = scenes.load_background(name)
        assert img.dtype == np.uint8 and img.ndim == 3 and img.shape[2] == 3 and min(img.shape[:2]) >= 240
