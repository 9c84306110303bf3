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


def _turn(points: np.ndarray, degrees: float, centre: tuple[float, float]) -> np.ndarray:
    """``points`` turned as ``Image.rotate(degrees)`` turns the picture about ``centre``."""
    a = np.deg2rad(degrees)
    d = points - np.asarray(centre)
    return np.asarray(centre) + np.stack([d[:, 0] * np.cos(a) + d[:, 1] * np.sin(a),
                                          -d[:, 0] * np.sin(a) + d[:, 1] * np.cos(a)], axis=1)


# A hand's 21 landmarks, upright: the wrist (0) below the middle finger's knuckle (9), the thumb out
# to the left; in pixels of a 160x160 picture.
UPRIGHT_HAND = np.array([[80, 120], [66, 112], [58, 100], [52, 90], [48, 82], [70, 88], [68, 72], [67, 62],
                         [66, 54], [80, 86], [80, 68], [80, 57], [80, 48], [90, 88], [92, 72], [93, 62],
                         [94, 55], [99, 92], [102, 80], [104, 72], [105, 66]], np.float64)


def _patterned(size: int = 160) -> np.ndarray:
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float64)
    rgb = np.stack([128 + 100 * np.sin(xx / 9), 128 + 100 * np.sin(yy / 7), 128 + 100 * np.sin((xx + 2 * yy) / 13)], -1)
    return rgb.clip(0, 255).astype(np.uint8)


@pytest.mark.parametrize("degrees", [-30, 15, 90])
def test_upright_crop_undoes_a_turned_hand(degrees):
    # The picture and its hand turned together: the upright crop is the same pixels either way,
    # while the axis-aligned crop turns with the hand.
    rgb = _patterned()
    turned_rgb = np.asarray(Image.fromarray(rgb).rotate(degrees, resample=Image.Resampling.BILINEAR))
    turned = hands.Hand(_turn(UPRIGHT_HAND, degrees, (80, 80)), 1.0, 1.0).box()
    still = hands.Hand(UPRIGHT_HAND, 1.0, 1.0).box()
    assert still.upright.angle == pytest.approx(0.0, abs=1e-9)
    assert (turned.upright.width, turned.upright.height) == pytest.approx((still.upright.width, still.upright.height))
    a = hands.crop_upright(rgb, still.upright, margin=0.25, size=48).astype(float)
    b = hands.crop_upright(turned_rgb, turned.upright, margin=0.25, size=48).astype(float)
    plain = hands.crop_square(turned_rgb, turned, margin=0.25, size=48).astype(float)
    assert np.abs(a - b).mean() < 6  # resampling twice, not the picture
    assert np.abs(a - plain).mean() > 5 * np.abs(a - b).mean()


@pytest.mark.parametrize("degrees", [-30, 15, 90])
def test_tracking_region_turns_and_moves_with_the_hand(degrees):
    # MediaPipe's landmarks -> region: the hand's own angle, the knuckle box doubled, shifted towards
    # the fingers; turning the hand turns the region about the same point and keeps its side.
    still = hands.tracking_region(hands.Hand(UPRIGHT_HAND, 1.0, 1.0))
    turned_hand = hands.Hand(_turn(UPRIGHT_HAND, degrees, (80, 80)), 1.0, 1.0)
    cx, cy, side, angle = hands.tracking_region(turned_hand)
    assert angle == pytest.approx(turned_hand.box().upright.angle)  # the wrist -> knuckle angle
    assert still[3] == pytest.approx(0.0, abs=1e-9) and side == pytest.approx(still[2])
    assert (cx, cy) == pytest.approx(tuple(_turn(np.array([still[:2]]), degrees, (80, 80))[0]))
    knuckles = UPRIGHT_HAND[list(hands.TRACK_LANDMARKS)]
    assert still[2] == pytest.approx(2.0 * np.ptp(knuckles, axis=0).max())
    assert still[1] == pytest.approx((knuckles[:, 1].min() + knuckles[:, 1].max()) / 2 - 0.1 * np.ptp(knuckles[:, 1]))


def test_upright_crop_of_an_upright_hand_is_the_square_crop():
    rgb = _patterned()
    # Already upright: the same square, up to how the two resample (a warp against a cut and a resize).
    box = hands.Hand(UPRIGHT_HAND, 1.0, 1.0).box()
    upright = hands.crop_upright(rgb, box.upright, 0.25, 48).astype(float)
    assert np.abs(upright - hands.crop_square(rgb, box, 0.25, 48).astype(float)).mean() < 3


def test_localiser_crops_upright_only_when_set(localiser):
    # The default crop is the axis-aligned one it always was; with ``upright`` the crop is the
    # hand's own square, and a close-up turned 30 degrees turns its hand's angle with it (within
    # what the landmark model's wrist and knuckle positions allow).
    from asl_edge.runtime.shifts import get_shift

    rgb = _builtin(CLOSEUPS[2])
    turned = get_shift("rotate_+30").apply(rgb)
    box = localiser.find(turned)
    margin = localiser.config.margin
    assert np.array_equal(localiser.crop(turned, box, size=64), hands.crop_square(turned, box, margin, 64))
    upright = HandLocaliser(LocaliserConfig(upright=True), threads=1)
    box = upright.find(turned)
    assert np.array_equal(upright.crop(turned, box, size=64), hands.crop_upright(turned, box.upright, margin, 64))
    turn = np.rad2deg(box.upright.angle - upright.find(rgb).upright.angle)
    assert abs(turn) == pytest.approx(30, abs=10)


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


def _shifted(shift: str, i: int) -> tuple[np.ndarray, None]:
    from asl_edge.runtime.shifts import get_shift

    return get_shift(shift).apply(_builtin(i)), None


def _hard_scene(i: int, background: str, scene_set: str = "hard") -> tuple[np.ndarray, list]:
    """Built-in close-up ``i`` as the signer of a ``hard`` (or ``scene_set``) scene frame (far, dim, out
    of focus, JPEG) on a TRAIN background, as ``benchmarks/make_scenes.py --set hard`` draws one; and its box."""
    from asl_edge.data import bystanders

    frame, record = bystanders.scene_frame(bystanders.get_scene_set(scene_set), _builtin(i),
                                           scenes.load_background(background), np.random.default_rng(i),
                                           [(_builtin(5), "1")], "signer")
    buf = io.BytesIO()
    Image.fromarray(frame).save(buf, "JPEG", quality=record["jpeg"])
    return np.asarray(Image.open(buf).convert("RGB")), record["box"]


# A frame per retry filter that hides its hand from the search without that retry (and without the
# ones after it) and that this retry gives back: built-in close-ups under a camera shift, and a far
# signer in a dim room (a dimmer one for the stretched levels).
RESCUED = {"smooth": lambda: _shifted("jpeg_10", 235), "sharpen": lambda: _shifted("blur_2.0", 1145),
           "brighten": lambda: _hard_scene(714, "gravel"), "stretch": lambda: _hard_scene(714, "grass", "harsh")}


@pytest.mark.parametrize("name", list(hands.RETRY_FILTERS))
def test_each_retry_finds_a_hand_the_search_without_it_misses(name):
    pytest.importorskip("ai_edge_litert")
    rgb, signer = RESCUED[name]()
    order = list(hands.RETRY_FILTERS)
    before = tuple(order[: order.index(name)])
    assert HandLocaliser(LocaliserConfig(retries=before, second_models=()), threads=1).find(rgb) is None
    # refine 0: the retry copy's own reading, which its gate (retry_min_presence) judged
    box = HandLocaliser(LocaliserConfig(retries=(*before, name), second_models=(), refine=0), threads=1).find(rgb)
    assert box is not None and box.score >= LocaliserConfig().retry_min_presence
    cx, cy = box.center  # in the frame's own pixels
    x0, y0, x1, y1 = signer or (0, 0, rgb.shape[1], rgb.shape[0])
    assert x0 <= cx < x1 and y0 <= cy < y1  # the signer's hand, where the scene says it is


def test_the_second_pair_finds_a_signer_the_first_misses():
    # A far signer in a dim room that the lite pair misses on the frame and every retry copy.
    pytest.importorskip("ai_edge_litert")
    rgb, (x0, y0, x1, y1) = _hard_scene(1146, "grass")
    assert HandLocaliser(LocaliserConfig(second_models=()), threads=1).find(rgb) is None
    box = HandLocaliser(LocaliserConfig(), threads=1).find(rgb)
    assert box is not None and x0 <= box.center[0] < x1 and y0 <= box.center[1] < y1


def test_settings_recorded_before_retries_existed_read_as_none():
    recorded = LocaliserConfig().to_dict()
    # the default is every retry but the opt-in "stretch"; JSON-ready: equal after a round trip
    assert recorded["retries"] == [name for name in hands.RETRY_FILTERS if name != "stretch"]
    assert LocaliserConfig.from_dict(json.loads(json.dumps(recorded))) == LocaliserConfig()
    del recorded["retries"], recorded["upright"]
    assert LocaliserConfig.from_dict(recorded).retries == ()
    assert LocaliserConfig.from_dict(recorded).upright is False  # the axis-aligned crop, as then
    assert LocaliserConfig.from_dict(LocaliserConfig(upright=True).to_dict()).upright is True
    with pytest.raises(DataError, match="unknown localiser retry"):
        LocaliserConfig(retries=("denoise",))
    with pytest.raises(DataError, match="retry_min_presence"):
        LocaliserConfig(retry_min_presence=1.5)


def test_search_settings_set_over_a_recorded_hand_search_take_effect():
    recorded = LocaliserConfig(max_candidates=3, retries=("smooth",), settle_small=True, margin=0.3).to_dict()
    defaults = LocaliserConfig().to_dict()
    searched = {k: v for k, v in defaults.items() if k not in hands.CROP_FIELDS | {"models"}}
    merged = hands.with_search_settings(recorded, searched)
    assert merged == {**defaults, "margin": 0.3}  # every search field set, the crop's margin as recorded
    assert recorded["max_candidates"] == 3  # the record itself is left alone


@pytest.mark.parametrize("field", sorted(hands.CROP_FIELDS))
def test_a_field_that_shapes_the_crop_is_not_set_over_a_recording(field):
    recorded = LocaliserConfig().to_dict()
    with pytest.raises(DataError, match=f"{field} shapes the hand the classifier was trained on"):
        hands.with_search_settings(recorded, {field: recorded[field]})


@pytest.mark.parametrize("settings, message", [
    ({"models": {}}, "unknown localiser field models"),
    ({"colour": 1}, "unknown localiser field colour"),
    ({"max_candidates": -1}, "max_candidates must be >= 0"),
    ({"retries": ["denoise"]}, "unknown localiser retry"),
    ({"max_candidates": "six"}, "max_candidates takes a whole number, got six"),
    ({"max_candidates": 6.5}, "max_candidates takes a whole number"),
    ({"settle_small": 1}, "settle_small takes true or false"),
    ({"min_presence": "high"}, "min_presence takes a number"),
    ({"retries": "smooth"}, "retries takes a list of names"),
])
def test_bad_search_settings_are_one_clear_error(settings, message):
    with pytest.raises(DataError, match=message):
        hands.with_search_settings(LocaliserConfig().to_dict(), settings)


def test_a_retry_hand_below_the_retry_presence_is_no_hand():
    # The sharpened copy's hand in this frame scores below 0.999: demanding that drops it.
    pytest.importorskip("ai_edge_litert")
    rgb, _ = RESCUED["sharpen"]()
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
    assert set(d["models"]) == {"palm_detection_lite", "hand_landmark_lite", "palm_detection_full",
                                "hand_landmark_full"}  # the second pair's files are recorded and checked too
    d["models"]["hand_landmark_full"]["sha256"] = "0" * 64
    d["models"][config.palm_model]["sha256"] = config.models()[config.palm_model]["sha256"]
    with pytest.raises(ModelError, match="hand_landmark_full"):
        LocaliserConfig.from_dict(d)


@pytest.mark.parametrize("path", sorted(hands.ASSETS.glob("*.tflite")), ids=lambda p: p.name)
def test_every_bundled_hand_model_is_the_file_its_source_names(path):
    import hashlib

    source = (hands.ASSETS / "SOURCE.md").read_text()
    data = path.read_bytes()
    assert f"| `{path.name}` | `mediapipe/modules/" in source
    assert f"| {len(data):,} | `{hashlib.sha256(data).hexdigest()}` |" in source


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


def _stream(steps: int, step_px: int = 3) -> list[np.ndarray]:
    """A built-in close-up (shown at 120x120) drifting across a grey 320x240 frame, a few pixels per frame."""
    hand = np.asarray(Image.fromarray(_builtin(CLOSEUPS[1])).resize((120, 120), Image.Resampling.BILINEAR))
    frames = []
    for t in range(steps):
        frame = np.full((240, 320, 3), 120, np.uint8)
        x, y = 60 + t * step_px, 50 + t * step_px // 2
        frame[y:y + 120, x:x + 120] = hand
        frames.append(frame)
    return frames


class _Counting:
    """Counts the palm detector's runs of a localiser."""

    def __init__(self, localiser, monkeypatch):
        self.palm_runs = 0
        palms = localiser.palms

        def counted(*args, **kwargs):
            self.palm_runs += 1
            return palms(*args, **kwargs)

        monkeypatch.setattr(localiser, "palms", counted)


def test_tracker_follows_a_moving_hand_without_the_palm_detector(monkeypatch):
    pytest.importorskip("ai_edge_litert")
    localiser = HandLocaliser(LocaliserConfig(), threads=1)
    counting = _Counting(localiser, monkeypatch)
    tracker = hands.HandTracker(localiser)
    frames = _stream(8)
    first = tracker.update(frames[0])
    assert first is not None and counting.palm_runs >= 1
    runs, centres = counting.palm_runs, [first.box().center]
    for frame in frames[1:]:
        hand = tracker.update(frame)
        assert hand is not None and hand.presence >= localiser.config.min_presence
        centres.append(hand.box().center)
    assert counting.palm_runs == runs  # every later frame: the landmark model alone
    assert tracker.counts == {"tracked": 7, "first_pass": 0, "full_search": 1}
    moved = np.array(centres[-1]) - np.array(centres[0])
    assert moved == pytest.approx((21, 10.5), abs=4)  # the hand moved 21 px right, 10-11 px down
    searched = localiser.find(frames[-1]).center
    assert np.hypot(*(np.array(searched) - np.array(centres[-1]))) < 4  # where a search finds it


def test_tracker_searches_hand_free_frames_fully_every_nth_and_at_once_when_the_hand_is_lost(monkeypatch):
    pytest.importorskip("ai_edge_litert")
    localiser = HandLocaliser(LocaliserConfig(), threads=1)
    tracker = hands.HandTracker(localiser, search_every=3)
    blank = np.full((240, 320, 3), 120, np.uint8)
    assert all(tracker.update(blank) is None for _ in range(7))
    assert tracker.counts == {"tracked": 0, "first_pass": 4, "full_search": 3}  # frames 0, 3 and 6 in full
    hand_frames = _stream(2)
    assert tracker.update(hand_frames[0]) is not None  # the first pass finds this hand at once
    assert tracker.update(hand_frames[1]) is not None and tracker.counts["tracked"] == 1
    assert tracker.update(blank) is None  # the hand is gone: the same frame is searched in full
    assert tracker.counts["full_search"] == 4
    with pytest.raises(DataError, match="search_every must be at least 1"):
        hands.HandTracker(localiser, search_every=0)
