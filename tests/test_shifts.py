"""The camera shift suite, evaluation under shifts, per-image normalisation and the fast recipe's augmentation."""

import json

import numpy as np
import pytest

from asl_edge.runtime.errors import ConfigError
from asl_edge.runtime.preprocess import Preprocessing
from asl_edge.runtime.shifts import FAMILIES, camera_shifts, get_shift

SHIFTS = camera_shifts()


def _photo(seed: int = 0, side: int = 32) -> np.ndarray:
    """A small asymmetric, textured RGB 'photo': a bright background with a darker blob off-centre."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:side, 0:side]
    blob = ((xx - side * 0.35) ** 2 + (yy - side * 0.6) ** 2) < (side * 0.22) ** 2
    img = np.full((side, side, 3), (200, 190, 180), np.float32)
    img[blob] = (150, 100, 80)
    img += rng.normal(0, 12, img.shape) + xx[..., None] * 1.5
    return np.clip(img, 0, 255).astype(np.uint8)


@pytest.mark.parametrize("shift", SHIFTS, ids=[s.name for s in SHIFTS])
def test_shift_is_deterministic_keeps_shape_and_changes_pixels(shift):
    img = _photo()
    before = img.copy()
    a, b = shift.apply(img), shift.apply(img.copy())
    assert a.dtype == np.uint8 and a.shape == img.shape
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(img, before)  # the input is not modified in place
    assert np.any(a != img)
    assert shift.family in FAMILIES and isinstance(shift.severity, float) and shift.description


@pytest.mark.parametrize("shift", SHIFTS, ids=[s.name for s in SHIFTS])
def test_shift_works_on_non_square_and_other_sizes(shift):
    img = _photo(1, side=48)[:40]
    out = shift.apply(img)
    assert out.shape == (40, 48, 3) and out.dtype == np.uint8


def test_names_are_unique_and_lookup_works():
    names = [s.name for s in SHIFTS]
    assert len(names) == len(set(names))
    for required in ("mirrored", "rotate_+15", "rotate_-30", "darker_0.5", "darker_0.3", "brighter_1.5",
                     "contrast_0.3", "gamma_2.0", "grayscale", "warm_0.2", "cool_0.2", "smaller_0.5", "jpeg_10"):
        assert get_shift(required).name == required


def test_unknown_shift_names_the_choices():
    with pytest.raises(ConfigError, match=r"Unknown shift 'sepia'; choose one of: mirrored, "):
        get_shift("sepia")


def test_shift_semantics():
    img = _photo()
    np.testing.assert_array_equal(get_shift("mirrored").apply(img), img[:, ::-1])
    gray = get_shift("grayscale").apply(img)
    assert np.all(gray[..., 0] == gray[..., 1]) and np.all(gray[..., 1] == gray[..., 2])
    assert get_shift("darker_0.5").apply(img).mean() < img.mean() * 0.55
    assert get_shift("contrast_0.3").apply(img).std() < img.std() * 0.35
    warm = get_shift("warm_0.2").apply(img).astype(float)
    assert warm[..., 0].mean() > img[..., 0].mean() and warm[..., 2].mean() < img[..., 2].mean()


def test_shift_rejects_non_rgb_uint8():
    with pytest.raises(ValueError, match="uint8 HxWx3"):
        get_shift("blur_1.0").apply(np.zeros((8, 8), np.uint8))


def test_shifts_module_imports_no_tensorflow():
    import subprocess
    import sys

    code = ("import sys, asl_edge.runtime.shifts, asl_edge.bench.evaluate; "
            "assert 'tensorflow' not in sys.modules, 'tensorflow imported'")
    subprocess.run([sys.executable, "-c", code], check=True)


# -- per-image normalisation -------------------------------------------------------------------
def test_per_image_normalization_is_exposure_invariant_and_matches_tf():
    pre = Preprocessing(image_size=(32, 32), normalization="per_image")
    batch = np.stack([_photo(0), _photo(1)])
    x = pre.normalize(batch)
    assert x.dtype == np.float32
    np.testing.assert_allclose(x.mean(axis=(1, 2, 3)), 0, atol=1e-5)
    np.testing.assert_allclose(x.std(axis=(1, 2, 3)), 1, atol=1e-4)
    darker = pre.normalize((batch.astype(np.float32) * 0.5).round().astype(np.uint8))
    assert np.abs(darker - x).mean() < 0.05
    flat = pre.normalize(np.full((1, 32, 32, 3), 77, np.uint8))
    assert np.all(np.isfinite(flat)) and np.abs(flat).max() < 1e-3

    from asl_edge.keras_compat import tf
    from asl_edge.training.pipeline import _normalize_tf

    x_tf = _normalize_tf(tf.constant(batch, tf.float32) / 255.0, pre).numpy()
    np.testing.assert_allclose(x_tf, x, atol=1e-5)


def test_preprocessing_dict_round_trip_and_old_artifacts():
    old = {"image_size": [64, 64], "color_mode": "rgb", "resize_chain": [64], "resample": "bilinear",
           "mean": [0.0], "std": [1.0], "channel_order": "rgb"}
    assert Preprocessing.from_dict(old).normalization == "fixed"
    assert Preprocessing.from_dict(old).to_dict() == old  # fixed-normalisation metadata unchanged
    new = Preprocessing(normalization="per_image", color_mode="grayscale")
    assert Preprocessing.from_dict(new.to_dict()) == new
    with pytest.raises(Exception, match="unknown normalization"):
        Preprocessing(normalization="whiten")


def test_load_rgb_then_from_array_equals_load(tmp_path):
    from PIL import Image

    path = tmp_path / "a.png"
    Image.fromarray(_photo(side=100)).save(path)
    pre = Preprocessing(image_size=(24, 24), color_mode="grayscale", resize_chain=(64,))
    rgb = pre.load_rgb(path)
    assert rgb.shape == (64, 64, 3)
    np.testing.assert_array_equal(pre.from_array(rgb), pre.load(path))


# -- the fast recipe's augmentation ------------------------------------------------------------
def _ramp_batch(n: int = 64, side: int = 32) -> np.ndarray:
    """Identical images, dark on the left and bright on the right: a flip reverses the ramp."""
    ramp = np.linspace(0.1, 0.9, side, dtype=np.float32)
    img = np.broadcast_to(ramp[None, :, None], (side, side, 3))
    return np.broadcast_to(img, (n, side, side, 3)).copy()


def test_fast_recipe_augmentation_is_on_and_active():
    from asl_edge.keras_compat import tf
    from asl_edge.training import config as cfg
    from asl_edge.training.pipeline import augmenter

    aug = cfg.resolve("fast").augment
    assert aug.enabled and aug.flip, "the fast recipe must train on mirrored hands"
    assert aug.exposure > 1.0 and aug.gamma > 1.0 and aug.contrast > 0, "photometric augmentation is off"
    assert aug.scale_min < 1.0, "the fast recipe must train on smaller hands"
    tf.random.set_seed(1)
    src = _ramp_batch()
    out = augmenter(aug, seed=0)(tf.constant(src)).numpy()
    assert out.shape == src.shape and out.min() >= 0.0 and out.max() <= 1.0
    assert np.abs(out - src).mean() > 0.02
    # flips: the ramp's direction (left-right difference of the central band) reverses for some images
    centre = out[:, 8:24]
    direction = centre[:, :, 20:28].mean(axis=(1, 2, 3)) - centre[:, :, 4:12].mean(axis=(1, 2, 3))
    assert (direction < 0).sum() >= 10 and (direction > 0).sum() >= 10
    # photometric: each image gets its own brightness
    assert out.mean(axis=(1, 2, 3)).std() > 0.03


def test_fast_recipe_training_batches_differ_from_their_source(tiny_npz):
    from asl_edge.data import load_dataset
    from asl_edge.keras_compat import tf
    from asl_edge.training import config as cfg
    from asl_edge.training.pipeline import make_dataset
    from asl_edge.training.trainer import preprocessing_for

    config = cfg.resolve("fast", ["data.image_size=16"])
    ds = load_dataset(str(tiny_npz), preprocessing_for(config))
    tf.random.set_seed(0)
    plain = np.concatenate([x.numpy() for x, _ in make_dataset(ds, 16)])
    augmented = make_dataset(ds, len(ds), training=True, aug=config.augment)
    x, _ = next(iter(augmented))  # one batch of every image, shuffled: compare value distributions
    assert x.shape == plain.shape
    assert not np.allclose(np.sort(x.numpy().ravel()), np.sort(plain.ravel()), atol=1e-3)


def test_augmentation_disabled_is_identity(tiny_npz):
    from asl_edge.training import config as cfg
    from asl_edge.training.pipeline import augmenter

    assert augmenter(cfg.resolve("fast", ["augment.enabled=false"]).augment, seed=0) is None


def test_the_recipes_are_the_measured_ablation_variants():
    from conftest import load_script

    from asl_edge.training import config as cfg

    ablation = load_script("benchmarks/shift_ablation.py")
    recipe, sets = ablation.VARIANTS["fast_v3_bg05"]
    assert cfg.resolve(recipe, sets).to_dict() == cfg.resolve("fast").to_dict()
    # the recipe before background replacement, the base of that round
    recipe, sets = ablation.VARIANTS["fast_val05"]
    assert cfg.resolve(recipe, sets).to_dict() == cfg.resolve(ablation.FAST_V3).to_dict()
    # and its base is the recipe the 5-block model was measured with
    recipe, sets = ablation.VARIANTS["b64_geo36log035_e140_w14d5"]
    assert cfg.resolve(recipe, sets).to_dict() == cfg.resolve(ablation.FAST_V2).to_dict()
    recipe, sets = ablation.VARIANTS["accurate_blur13"]
    assert cfg.resolve(recipe, sets).to_dict() == cfg.resolve("accurate").to_dict()


@pytest.mark.parametrize("scale_prob", [0.0, 0.5, 1.0])
def test_scale_prob_is_the_share_of_images_shrunk(scale_prob):
    from asl_edge.keras_compat import tf
    from asl_edge.training.config import AugmentSection
    from asl_edge.training.pipeline import augmenter

    src = _ramp_batch(200)  # every column differs: a shrunk image's outer ring is one fill colour
    aug = AugmentSection(rotation=0, shift=0, zoom=0, brightness=0, contrast=0, scale_min=0.5, scale_max=0.5,
                         scale_prob=scale_prob)
    tf.random.set_seed(0)  # 200 draws: the share lands within 0.12 of scale_prob, and always the same way
    out = augmenter(aug, seed=0)(tf.constant(src)).numpy()
    shrunk = out[:, :4].std(axis=(1, 2)).max(axis=-1) < 1e-3  # the fill is one colour per image
    assert abs(shrunk.mean() - scale_prob) < 0.12


def test_jpeg_augmentation_reencodes_each_image_at_its_own_quality():
    from asl_edge.keras_compat import tf
    from asl_edge.training.config import AugmentSection
    from asl_edge.training.pipeline import augmenter

    rng = np.random.default_rng(0)
    src = np.clip(_ramp_batch(16) + rng.normal(0, 0.05, (16, 32, 32, 3)), 0, 1).astype(np.float32)
    plain = dict(rotation=0, shift=0, zoom=0, brightness=0, contrast=0)
    out = augmenter(AugmentSection(**plain, jpeg_prob=1.0, jpeg_min_quality=5), seed=0)(tf.constant(src)).numpy()
    error = np.abs(out - src).mean(axis=(1, 2, 3))
    assert (error > 0.002).all() and error.std() > 0.001  # every image compressed, not all alike
    # what a JPEG encoder does: the 8x8 blocks' content is smoothed, the noise the source had is gone
    assert np.abs(np.diff(out, axis=2)).mean() < np.abs(np.diff(src, axis=2)).mean()
    same = augmenter(AugmentSection(**plain, jpeg_prob=0.0), seed=0)(tf.constant(src)).numpy()
    np.testing.assert_allclose(same, src, atol=1e-6)


@pytest.mark.parametrize("key", ["blur_prob", "jpeg_prob", "grayscale_prob"])
@pytest.mark.parametrize("prob", [1e-9, 0.5, 1.0])
def test_a_share_transform_changes_that_share_and_leaves_the_rest(key, prob):
    """Blur, JPEG and grey run on the chosen images only; none, some or all of a batch may be chosen."""
    from asl_edge.keras_compat import tf
    from asl_edge.training.config import AugmentSection
    from asl_edge.training.pipeline import augmenter

    rng = np.random.default_rng(1)
    src = np.clip(_ramp_batch(64) + rng.normal(0, 0.05, (64, 32, 32, 3)), 0, 1).astype(np.float32)
    aug = AugmentSection(rotation=0, shift=0, zoom=0, brightness=0, contrast=0, **{key: prob})
    tf.random.set_seed(0)
    # as tf.data traces it: a graph over batches of unknown size
    graph = tf.function(augmenter(aug, seed=0), input_signature=[tf.TensorSpec([None, None, None, 3])])
    out = graph(tf.constant(src)).numpy()
    assert out.shape == src.shape
    changed = np.abs(out - src).max(axis=(1, 2, 3)) > 1e-3
    unchanged = np.abs(out - src).max(axis=(1, 2, 3)) < 1e-6  # the rest come back exactly
    assert (changed | unchanged).all()
    assert abs(changed.mean() - prob) < 0.15


def test_blur_augmentation_at_its_widest_is_the_suites_blur(monkeypatch):
    """At sigma 2 the training blur is the blur_2.0 shift (Pillow's Gaussian), not a cut-off kernel."""
    from PIL import Image, ImageFilter

    from asl_edge.keras_compat import tf
    from asl_edge.training import pipeline
    from asl_edge.training.config import AugmentSection

    monkeypatch.setattr(pipeline, "BLUR_SIGMA", (2.0, 2.0))
    src = np.random.default_rng(0).random((1, 48, 48, 3)).astype(np.float32)
    aug = AugmentSection(rotation=0, shift=0, zoom=0, brightness=0, contrast=0, blur_prob=1.0)
    out = pipeline.augmenter(aug, seed=0)(tf.constant(src)).numpy()[0]
    pil = Image.fromarray((src[0] * 255).round().astype(np.uint8)).filter(ImageFilter.GaussianBlur(2))
    # inside the borders (the two pad differently); a 7-tap kernel was 0.009 away
    assert np.abs(out - np.asarray(pil, np.float32) / 255)[8:-8, 8:-8].mean() < 0.004


@pytest.mark.parametrize("scale", [0.5, 0.35])
def test_antialiased_shrink_is_the_suites_shrink(scale):
    """With scale_antialias a shrunk training image has the texture of the suite's ``smaller_*``
    shift (Pillow's resize); the warp alone samples every second or third pixel and misses it."""
    from asl_edge.keras_compat import tf
    from asl_edge.runtime.shifts import shrink
    from asl_edge.training.config import AugmentSection
    from asl_edge.training.pipeline import augmenter

    photos = np.stack([_photo(seed, side=64) for seed in range(8)])
    photos[:, 16:48, 16:48] = np.random.default_rng(0).integers(0, 256, (8, 32, 32, 3))  # fine texture mid-frame
    suite = np.stack([shrink(p, scale) for p in photos]).astype(np.float32) / 255
    middle = slice(24, 40)  # inside the shrunk content, away from where the two round its edge

    def error(antialias: bool) -> float:
        aug = AugmentSection(rotation=0, shift=0, zoom=0, brightness=0, contrast=0, scale_min=scale,
                             scale_max=scale, scale_prob=1.0, scale_antialias=antialias)
        # as tf.data traces it: a graph over batches of unknown size
        graph = tf.function(augmenter(aug, seed=0), input_signature=[tf.TensorSpec([None, None, None, 3])])
        out = graph(tf.constant(photos.astype(np.float32) / 255)).numpy()
        return float(np.abs(out - suite)[:, middle, middle].mean())

    assert error(True) < error(False) / 2


def test_antialiasing_leaves_images_that_are_not_shrunk_alone():
    from asl_edge.keras_compat import tf
    from asl_edge.training.config import AugmentSection
    from asl_edge.training.pipeline import augmenter

    src = np.random.default_rng(0).random((4, 32, 32, 3)).astype(np.float32)
    plain = dict(rotation=0.1, shift=0.1, zoom=0, brightness=0, contrast=0, scale_min=1.0, scale_max=1.25)
    tf.random.set_seed(0)
    with_aa = augmenter(AugmentSection(**plain, scale_antialias=True), seed=0)(tf.constant(src)).numpy()
    tf.random.set_seed(0)
    without = augmenter(AugmentSection(**plain), seed=0)(tf.constant(src)).numpy()
    np.testing.assert_allclose(with_aa, without, atol=1e-6)


def test_grayscale_model_skips_colour_ops():
    from asl_edge.keras_compat import tf
    from asl_edge.training import config as cfg
    from asl_edge.training.pipeline import augmenter

    aug = cfg.resolve("fast", ["augment.grayscale_prob=1.0", "augment.color_gain=0.3"]).augment
    out = augmenter(aug, seed=0)(tf.constant(_ramp_batch(8)[..., :1])).numpy()
    assert out.shape == (8, 32, 32, 1)


# -- evaluate --shifts ---------------------------------------------------------------------------
def _check_shift_json(m: dict, n: int):
    assert set(m["shifts"]) == {s.name for s in SHIFTS}
    for name, r in m["shifts"].items():
        assert set(r) == {"accuracy", "family", "severity", "num_samples"}
        assert 0.0 <= r["accuracy"] <= 1.0 and r["num_samples"] == n and r["family"] == get_shift(name).family
    worst = min(m["shifts"].values(), key=lambda r: r["accuracy"])["accuracy"]
    assert m["worst_shift"]["accuracy"] == worst and m["worst_shift"]["name"] in m["shifts"]


def test_evaluate_shifts_json_for_artifact_and_run(tiny_run, tiny_export, tiny_npz):
    from click.testing import CliRunner

    from asl_edge.cli import _register, cli

    _register()
    artifact = next(tiny_export.glob("*_int8.tflite"))
    res = CliRunner().invoke(cli, ["evaluate", str(artifact), "--data", str(tiny_npz), "--shifts", "--json"])
    assert res.exit_code == 0, res.output
    m = json.loads(res.stdout)
    _check_shift_json(m, 144)
    assert "accuracy" in m and m["runtime"] in ("litert", "tflite_runtime", "tf.lite")

    res = CliRunner().invoke(cli, ["evaluate", str(tiny_run), "--shifts"])
    assert res.exit_code == 0, res.output
    assert "held-out" in res.output and "images" in res.output and "worst shift:" in res.output

    res = CliRunner().invoke(cli, ["evaluate", str(tiny_run), "--shift", "mirrored", "--json"])
    assert list(json.loads(res.stdout)["shifts"]) == ["mirrored"]
    res = CliRunner().invoke(cli, ["evaluate", str(tiny_run), "--shift", "sepia"])
    assert res.exit_code != 0


def test_evaluate_shifts_unchanged_matches_evaluate(tiny_export, tiny_npz):
    from asl_edge.bench.evaluate import evaluate_model, evaluate_shifts

    artifact = next(tiny_export.glob("*_fp32.onnx"), None) or next(tiny_export.glob("*_int8.tflite"))
    plain = evaluate_model(artifact, str(tiny_npz))
    shifted = evaluate_shifts(artifact, str(tiny_npz), shifts=[get_shift("mirrored")])
    assert shifted["accuracy"] == pytest.approx(plain["accuracy"])
