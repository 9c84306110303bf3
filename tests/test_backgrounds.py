"""Backgrounds: the background camera shifts, the hand masks they rest on, and background-replacing training."""

import dataclasses
import importlib.util

import numpy as np
import pytest

from asl_edge.runtime.errors import ConfigError, DataError
from asl_edge.runtime.shifts import camera_shifts, estimate_mask, get_shift

MASKED = [s for s in camera_shifts() if s.needs_mask]
HAS_CV2 = importlib.util.find_spec("cv2") is not None


def _hand(side: int = 32, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """A light, noisy wall with a darker 'hand' (an off-centre disc and a finger bar), and its mask."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:side, 0:side]
    mask = ((xx - side * 0.45) ** 2 + (yy - side * 0.6) ** 2) < (side * 0.22) ** 2
    mask |= (abs(xx - side * 0.5) < side * 0.06) & (yy > side * 0.15) & (yy < side * 0.6)
    img = np.full((side, side, 3), (215, 210, 200), np.float32)
    img[mask] = (170, 120, 95)
    img += rng.normal(0, 6, img.shape)
    return np.clip(img, 0, 255).astype(np.uint8), mask.astype(np.uint8)


def test_the_table_has_the_background_and_webcam_shifts():
    names = {s.name for s in camera_shifts()}
    assert {"bg_black", "bg_dark_grey", "bg_mid_grey", "bg_checker", "bg_scene", "webcam_50px"} <= names
    assert {s.family for s in MASKED} == {"background"}
    assert not get_shift("webcam_50px").needs_mask


@pytest.mark.parametrize("shift", MASKED, ids=[s.name for s in MASKED])
def test_a_background_shift_changes_only_the_background(shift):
    img, mask = _hand()
    out = shift.apply(img, mask=mask)
    np.testing.assert_array_equal(out[mask == 1], img[mask == 1])  # every hand pixel as it was
    changed = np.any(out != img, axis=2)
    assert changed[mask == 0].mean() > 0.9
    np.testing.assert_array_equal(shift.apply(img, mask=mask * 255), out)  # 0..255 masks read the same
    np.testing.assert_array_equal(shift.apply(img, mask=np.ones_like(mask)), img)  # all hand: unchanged
    np.testing.assert_array_equal(shift.apply(img.copy(), mask=mask), out)  # deterministic


@pytest.mark.parametrize("shift", MASKED, ids=[s.name for s in MASKED])
def test_a_soft_mask_blends_the_edge(shift):
    img, mask = _hand()
    alpha = mask.astype(np.float32) * 0.5
    out = shift.apply(img, mask=alpha).astype(np.float32)
    full = shift.apply(img, mask=np.zeros_like(mask)).astype(np.float32)
    half = (img.astype(np.float32) + full) / 2
    assert np.abs(out[mask == 1] - half[mask == 1]).max() <= 1.0


def test_flat_backgrounds_have_their_colour():
    img, mask = _hand()
    out = get_shift("bg_black").apply(img, mask=mask)
    assert out[mask == 0].max() == 0
    out = get_shift("bg_mid_grey").apply(img, mask=mask)
    assert np.all(out[mask == 0] == 128)


def test_the_scene_background_is_a_test_photo_window_chosen_by_the_image():
    img, mask = _hand(48)
    shift = get_shift("bg_scene")
    a = shift.apply(img, mask=mask)
    b = shift.apply(_hand(48, seed=1)[0], mask=mask)
    assert a[mask == 0].std() > 10  # a photograph, not a wall
    assert not np.array_equal(a[mask == 0], b[mask == 0])  # another image, another window
    from asl_edge.runtime.backgrounds import BACKGROUNDS
    from asl_edge.runtime.shifts import SCENE_PHOTO

    assert BACKGROUNDS[SCENE_PHOTO].split == "test"


def test_the_scene_photo_ships_inside_asl_edge_as_its_source_records():
    """The runtime-only install has no scikit-learn: the bg_scene photograph is asl-edge's own copy,
    byte for byte the one SOURCE.md names (and scikit-learn's, where it is installed)."""
    import hashlib
    import importlib.util
    import re
    from pathlib import Path

    from asl_edge.runtime.backgrounds import background_path
    from asl_edge.runtime.shifts import SCENE_PHOTO

    path = background_path(SCENE_PHOTO)
    assert Path(importlib.util.find_spec("asl_edge").origin).parent in path.parents
    source = (path.parent / "SOURCE.md").read_text()
    data = path.read_bytes()
    assert f"{len(data):,}, `{hashlib.sha256(data).hexdigest()}`" in source
    assert re.search(r"CC BY 2\.0.*creativecommons\.org/licenses/by/2\.0", source)
    sklearn = importlib.util.find_spec("sklearn")
    if sklearn is not None:
        original = Path(sklearn.submodule_search_locations[0]) / "datasets" / "images" / path.name
        assert original.read_bytes() == data


def test_a_mask_of_the_wrong_shape_is_refused():
    img, mask = _hand()
    with pytest.raises(ValueError, match="mask's shape"):
        get_shift("bg_black").apply(img, mask=mask[:10])


def test_the_estimated_mask_finds_a_hand_on_a_light_wall():
    img, mask = _hand()
    est = estimate_mask(img) > 0.5
    iou = np.logical_and(est, mask).sum() / np.logical_or(est, mask).sum()
    assert iou > 0.85


def test_webcam_shift_loses_detail_but_keeps_the_picture():
    img, _ = _hand(64)
    out = get_shift("webcam_50px").apply(img)
    assert np.abs(out.astype(float) - img).mean() < 8  # the same picture...
    assert np.abs(np.diff(out.astype(float), axis=1)).mean() < np.abs(np.diff(img.astype(float), axis=1)).mean()


# -- hand masks ----------------------------------------------------------------------------------------
def _builtin(indices):
    from asl_edge.data import load_dataset
    from asl_edge.data.builtin import STORAGE

    ds = load_dataset("builtin", STORAGE)
    return ds.load_images(np.asarray(indices))


@pytest.mark.skipif(not HAS_CV2, reason="hand masks use OpenCV's GrabCut (the camera extra)")
def test_hand_masks_cover_the_landmarks_and_agree_with_the_colour_estimate(tmp_path, monkeypatch):
    from asl_edge.data import masks as masks_mod

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    images = _builtin([0, 500, 1000, 1500])
    got = masks_mod.hand_masks(images, cache=False)  # computed here, no cache, no shipped masks
    assert got.masks.shape == images.shape[:3] and set(np.unique(got.masks)) <= {0, 1}
    assert got.found.all()
    assert got.landmarks_inside.min() >= 0.9
    assert got.agreement.mean() > 0.8
    assert 0.15 < got.masks.mean() < 0.7  # a hand, not the frame nor a speck
    # the masks shipped for the built-in set are the ones the method makes (another OpenCV may move an edge)
    shipped = masks_mod.hand_masks(images)
    overlap = (shipped.masks & got.masks).sum(axis=(1, 2)) / (shipped.masks | got.masks).sum(axis=(1, 2))
    assert overlap.min() > 0.95


@pytest.mark.skipif(not HAS_CV2, reason="hand masks use OpenCV's GrabCut (the camera extra)")
def test_hand_masks_are_cached_by_the_image(tmp_path, monkeypatch):
    from asl_edge.data import masks as masks_mod

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    images = np.ascontiguousarray(_builtin([3, 700])[:, :, ::-1])  # mirrored: not among the shipped masks
    got = masks_mod.hand_masks(images)
    assert masks_mod._cache_file(images.shape[1:3]).is_file()
    monkeypatch.setattr(masks_mod, "_measure", lambda *a: pytest.fail("recomputed a cached mask"))
    again = masks_mod.hand_masks(images[::-1])  # in any order
    np.testing.assert_array_equal(again.masks, got.masks[::-1])
    q = again.quality()
    assert q["images"] == 2 and q["landmarks_found"] == 2 and q["method"] == masks_mod.METHOD


def test_hand_masks_refuse_non_rgb_stacks():
    from asl_edge.data.masks import hand_masks

    with pytest.raises(DataError, match=r"\(N, H, W, 3\) uint8"):
        hand_masks(np.zeros((2, 8, 8), np.uint8))


def test_a_damaged_mask_cache_is_recomputed(tmp_path, monkeypatch):
    from asl_edge.data import masks as masks_mod

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    img, mask = _hand()
    path = masks_mod._cache_file(img.shape[:2])
    path.parent.mkdir(parents=True)
    path.write_bytes(b"not an npz")
    monkeypatch.setattr(masks_mod, "_measure", lambda rgb, loc: (mask, True, 1.0))
    monkeypatch.setattr("asl_edge.runtime.hands.HandLocaliser", lambda *a, **k: None)
    got = masks_mod.hand_masks(img[None])
    np.testing.assert_array_equal(got.masks[0], mask)
    assert masks_mod._read_cache(path)  # rewritten, readable


# -- training ---------------------------------------------------------------------------------------
def _plain(**kw):
    from asl_edge.training.config import AugmentSection

    off = dict(rotation=0.0, shift=0.0, zoom=0.0, brightness=0.0, contrast=0.0, flip=False)
    return AugmentSection(**{**off, **kw})


def _batch(n: int = 64, side: int = 32):
    pairs = [_hand(side, seed=i) for i in range(n)]
    return np.stack([p[0] for p in pairs]), np.stack([p[1] for p in pairs])


def test_background_replacement_keeps_the_hand_and_replaces_the_rest():
    from asl_edge.keras_compat import tf
    from asl_edge.training.backgrounds import background_bank
    from asl_edge.training.pipeline import augmenter

    images, masks = _batch()
    bank = background_bank("flat,noise", 32, 32, seed=0, size=16)
    tf.random.set_seed(0)
    apply = augmenter(_plain(background_prob=1.0), seed=0, backgrounds=bank)
    x = images.astype(np.float32) / 255.0
    out = apply(tf.constant(x), mask=tf.constant(masks[..., None], tf.float32)).numpy()
    hand = masks.astype(bool)
    np.testing.assert_allclose(out[hand], x[hand], atol=1e-6)
    assert (np.abs(out - x).max(axis=3)[~hand] > 1e-3).mean() > 0.9
    # without a mask (int8 calibration) or at probability 0 nothing is replaced
    np.testing.assert_allclose(apply(tf.constant(x)).numpy(), x, atol=1e-6)
    none = augmenter(_plain(background_prob=0.0), seed=0, backgrounds=bank)
    np.testing.assert_allclose(none(tf.constant(x), mask=tf.constant(masks[..., None], tf.float32)).numpy(), x,
                               atol=1e-6)


@pytest.mark.parametrize("prob", [0.5, 1.0])
def test_training_batches_have_replaced_backgrounds(prob, monkeypatch):
    """Fails when background replacement is switched off or no longer reaches the training batches."""
    from asl_edge.data.dataset import ImageDataset
    from asl_edge.keras_compat import tf
    from asl_edge.runtime.preprocess import Preprocessing
    from asl_edge.training import config as cfg
    from asl_edge.training import pipeline

    aug = cfg.resolve("fast", [f"augment.background_prob={prob}"]).augment
    images, masks = _batch(96)
    pre = Preprocessing(image_size=(32, 32), color_mode="rgb", mean=(0.0,), std=(1.0,), normalization="fixed")
    ds = ImageDataset(labels=np.arange(len(images)) % 2, class_names=("0", "1"), preprocessing=pre, source="test",
                      images=images)
    # the masks the trainer would compute (MediaPipe + GrabCut), given; every other transform off
    monkeypatch.setattr(pipeline, "training_masks", lambda d, a: masks[..., None] * np.uint8(255))
    only_bg = _plain(background_prob=aug.background_prob, backgrounds=aug.backgrounds)
    tf.random.set_seed(0)
    (x, y), = pipeline.make_dataset(ds, len(ds), training=True, aug=only_bg, seed=0).take(1)
    x = x.numpy()
    # the batch is shuffled: match each output to its source by its (untouched) hand pixels
    src = images.astype(np.float32) / 255.0
    replaced = 0
    for out in x:
        same_hand = [i for i in range(len(src)) if np.allclose(out[masks[i] == 1], src[i][masks[i] == 1], atol=1e-5)]
        assert same_hand, "a hand pixel changed"
        i = same_hand[0]
        changed = np.abs(out - src[i]).max(axis=2)[masks[i] == 0] > 1e-3
        assert changed.mean() > 0.5 or not changed.any()  # a background replaced, or left exactly as it was
        replaced += changed.mean() > 0.5
    assert abs(replaced / len(x) - aug.background_prob) < 0.2


def test_hand_tone_recolours_only_the_hand_within_the_drawn_gains():
    """Every image's hand pixels are its own times one gain per channel (red: the lightness in its range;
    green and blue: the lightness times a tint within 1 +- HAND_TONE_TINT); off the hand nothing changes;
    at probability 0 or without a mask nothing at all."""
    from asl_edge.keras_compat import tf
    from asl_edge.training.pipeline import HAND_TONE_LIGHTNESS, HAND_TONE_TINT, augmenter

    images, masks = _batch()
    x = images.astype(np.float32) / 255.0
    tf.random.set_seed(0)
    apply = augmenter(_plain(hand_tone=1.0), seed=0)
    out = apply(tf.constant(x), mask=tf.constant(masks[..., None], tf.float32)).numpy()
    hand = masks.astype(bool)
    np.testing.assert_allclose(out[~hand], x[~hand], atol=1e-6)
    lightness = []
    for o, i, m in zip(out, x, hand):
        unclipped = m & (o < 0.999).all(axis=2) & (i > 0.05).all(axis=2)
        gains = o[unclipped] / i[unclipped]  # one gain per channel, the same on every pixel of the hand
        np.testing.assert_allclose(gains, np.broadcast_to(gains.mean(axis=0), gains.shape), rtol=1e-4)
        red, tint = gains.mean(axis=0)[0], gains.mean(axis=0)[1:] / gains.mean(axis=0)[0]
        assert HAND_TONE_LIGHTNESS[0] - 1e-4 <= red <= HAND_TONE_LIGHTNESS[1] + 1e-4
        assert np.all(np.abs(tint - 1.0) <= HAND_TONE_TINT + 1e-4)
        lightness.append(red)
    assert np.ptp(lightness) > 0.5  # each image draws its own tone
    np.testing.assert_allclose(apply(tf.constant(x)).numpy(), x, atol=1e-6)
    off = augmenter(_plain(hand_tone=0.0), seed=0)
    np.testing.assert_allclose(off(tf.constant(x), mask=tf.constant(masks[..., None], tf.float32)).numpy(), x,
                               atol=1e-6)


@pytest.mark.parametrize("kept_background", [False, True])
def test_hand_tone_kept_background_tones_only_hands_whose_background_stays(kept_background):
    """Every hand toned, half the backgrounds replaced: on their own the shares overlap (a toned hand
    over another background); with ``hand_tone_kept_background`` every image gets exactly one of them."""
    from asl_edge.keras_compat import tf
    from asl_edge.training.backgrounds import background_bank
    from asl_edge.training.pipeline import augmenter

    images, masks = _batch()
    x = images.astype(np.float32) / 255.0
    bank = background_bank("flat,noise", 32, 32, seed=0, size=16)
    tf.random.set_seed(0)
    apply = augmenter(_plain(hand_tone=1.0, background_prob=0.5, hand_tone_kept_background=kept_background),
                      seed=0, backgrounds=bank)
    out = apply(tf.constant(x), mask=tf.constant(masks[..., None], tf.float32)).numpy()
    hand = masks.astype(bool)
    toned = np.array([not np.allclose(o[m], i[m], atol=1e-3) for o, i, m in zip(out, x, hand)])
    replaced = np.array([not np.allclose(o[~m], i[~m], atol=1e-3) for o, i, m in zip(out, x, hand)])
    assert 0.25 < replaced.mean() < 0.75
    if kept_background:
        np.testing.assert_array_equal(toned, ~replaced)
    else:
        assert toned.all()


def test_hand_tone_alone_brings_the_masks_to_the_training_batches(monkeypatch):
    """With no background replacement, another skin tone still needs the hand masks: fails when they
    stay behind (the hands would reach the model as photographed)."""
    from asl_edge.data.dataset import ImageDataset
    from asl_edge.keras_compat import tf
    from asl_edge.runtime.preprocess import Preprocessing
    from asl_edge.training import pipeline

    images, masks = _batch(32)
    pre = Preprocessing(image_size=(32, 32), color_mode="rgb", mean=(0.0,), std=(1.0,), normalization="fixed")
    ds = ImageDataset(labels=np.arange(len(images)) % 2, class_names=("0", "1"), preprocessing=pre, source="test",
                      images=images)
    monkeypatch.setattr(pipeline, "training_masks", lambda d, a: masks[..., None] * np.uint8(255))
    tf.random.set_seed(0)
    (x, y), = pipeline.make_dataset(ds, len(ds), training=True, aug=_plain(hand_tone=1.0), seed=0).take(1)
    src = images.astype(np.float32) / 255.0
    toned = 0
    for out in x.numpy():
        i = next(j for j in range(len(src)) if np.allclose(out[masks[j] == 0], src[j][masks[j] == 0], atol=1e-6))
        toned += not np.allclose(out[masks[i] == 1], src[i][masks[i] == 1], atol=1e-3)
    assert toned == len(src)


def test_background_kinds_and_range_are_checked():
    from asl_edge.training import config as cfg

    with pytest.raises(ConfigError, match="augment.backgrounds names kinds"):
        cfg.resolve("fast", ["augment.backgrounds=flat,sky"])
    with pytest.raises(ConfigError, match=r"background_prob is a share"):
        cfg.resolve("fast", ["augment.background_prob=1.5"])
    with pytest.raises(ConfigError, match="background_feather"):
        cfg.resolve("fast", ["augment.background_feather=-1"])
    with pytest.raises(ConfigError, match=r"hand_tone is a share"):
        cfg.resolve("fast", ["augment.hand_tone=2"])
    kept = "augment.hand_tone_kept_background=true"
    for alone in ([kept], ["augment.hand_tone=0.5", "augment.background_prob=0", kept]):
        with pytest.raises(ConfigError, match=r"needs augment.hand_tone > 0 and augment.background_prob > 0"):
            cfg.resolve("fast", alone)
    assert cfg.resolve("fast", ["augment.hand_tone=0.5", kept]).augment.hand_tone_kept_background


def test_the_background_bank_is_seeded_and_never_uses_test_photographs(monkeypatch):
    from asl_edge.runtime import backgrounds as bg_mod
    from asl_edge.training.backgrounds import KINDS, background_bank

    seen = []
    real = bg_mod.load_background

    def spy(name):
        seen.append(name)
        return np.full((300, 400, 3), 90, np.uint8) if importlib.util.find_spec("skimage") is None else real(name)

    monkeypatch.setattr(bg_mod, "load_background", spy)
    a = background_bank(",".join(KINDS), 24, 24, seed=3, size=20)
    b = background_bank(",".join(KINDS), 24, 24, seed=3, size=20)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, background_bank(",".join(KINDS), 24, 24, seed=4, size=20))
    assert seen and set(seen) <= set(bg_mod.background_names("train"))
    spread = dict(zip(KINDS, a.reshape(20, -1, 3).std(axis=1).max(axis=1)))  # per image, across its pixels
    assert spread.pop("flat") == 0  # the first is a flat colour...
    spread.pop("warm")  # (any pattern, a flat one too)
    assert min(spread.values()) > 1  # ...the patterns and photographs are not


def test_warm_backgrounds_are_in_skin_and_wood_tones_of_every_depth():
    from asl_edge.training.backgrounds import background_bank

    bank = background_bank("warm", 32, 32, seed=0, size=60).astype(int)
    r, g, b = bank[..., 0], bank[..., 1], bank[..., 2]
    assert (r + 1 >= g).all() and (g + 1 >= b).all()  # hue 5-45 degrees: red over green over blue, every pixel
    assert ((r - b) > 20).mean() > 0.5  # mostly with colour in it, not grey
    depth = bank.reshape(60, -1, 3).mean(axis=(1, 2))
    assert depth.min() < 60 and depth.max() > 170  # dark brown to beige
    spread = bank.reshape(60, -1, 3).std(axis=1).max(axis=1)
    assert (spread == 0).sum() >= 3 and (spread > 10).sum() >= 30  # flat walls and patterns
    other = background_bank("flat,gradient,noise,stripes,leaves", 32, 32, seed=0, size=60).astype(int)
    assert not ((other[..., 0] + 1 >= other[..., 1]) & (other[..., 1] + 1 >= other[..., 2])).all()


def test_dead_leaves_cover_the_frame_with_shapes_at_many_scales():
    from asl_edge.training.backgrounds import leaves

    rng = np.random.default_rng(0)
    frames = [leaves(rng, 64, 64) for _ in range(8)]
    for frame in frames:
        colours, counts = np.unique(frame.reshape(-1, 3), axis=0, return_counts=True)
        assert len(colours) >= 20  # many overlapping shapes...
        assert counts.max() < 0.5 * 64 * 64  # ...none of which, nor the wall, fills half the frame
        edges = np.abs(np.diff(frame, axis=1)).max(axis=2) > 0
        assert 0.05 < edges.mean() < 0.6  # clutter: edges, yet regions of one colour between them
    # the largest region differs from frame to frame (sizes drawn from a wide range)
    largest = [np.unique(f.reshape(-1, 3), axis=0, return_counts=True)[1].max() for f in frames]
    assert max(largest) > 2 * min(largest)


def test_a_streamed_data_set_cannot_replace_backgrounds():
    from asl_edge.data.dataset import ImageDataset
    from asl_edge.runtime.preprocess import Preprocessing
    from asl_edge.training.pipeline import training_masks

    ds = ImageDataset(labels=np.arange(2), class_names=("0", "1"), preprocessing=Preprocessing(), source="x",
                      paths=("a.jpg", "b.jpg"))
    with pytest.raises(DataError, match="in memory"):
        training_masks(ds, dataclasses.replace(_plain(), background_prob=0.5))


@pytest.mark.parametrize("size", [1, 7])
@pytest.mark.parametrize("channels", ["rgb", "grayscale"])
def test_a_run_draws_as_many_backgrounds_as_its_bank_setting(size, channels):
    from asl_edge.data.dataset import ImageDataset
    from asl_edge.runtime.preprocess import Preprocessing
    from asl_edge.training.pipeline import training_backgrounds

    pre = Preprocessing(image_size=(12, 10), color_mode=channels, mean=(0.0,), std=(1.0,), normalization="fixed")
    ds = ImageDataset(labels=np.arange(2), class_names=("0", "1"), preprocessing=pre, source="test",
                      images=np.zeros((2, *pre.input_shape), np.uint8))
    bank = training_backgrounds(ds, _plain(background_prob=0.5, backgrounds="flat,noise", background_bank=size), 0)
    assert bank.shape == (size, 12, 10, 3 if channels == "rgb" else 1) and bank.dtype == np.uint8
