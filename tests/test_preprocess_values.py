"""Preprocessing's values: what the pixel steps make of an image, against references computed here.

Every model, artifact and runtime goes through these steps (resize chain, colour mode, resize,
scaling, per-image standardisation); a silent change in one would change every accuracy."""

import numpy as np
import pytest
from PIL import Image

from asl_edge.runtime import preprocess as P
from asl_edge.runtime.preprocess import Preprocessing, batch_for, to_8bit

FILTERS = {"bilinear": Image.Resampling.BILINEAR, "bicubic": Image.Resampling.BICUBIC,
           "area": Image.Resampling.BOX, "nearest": Image.Resampling.NEAREST}


def _picture(h: int = 40, w: int = 56, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w]
    img = np.stack([xx * 4, yy * 5, (xx + yy) * 2], axis=-1) + rng.integers(0, 40, (h, w, 3))
    return np.clip(img, 0, 255).astype(np.uint8)


def _resize(img: Image.Image, size, name="bilinear") -> Image.Image:
    return img.resize(size, FILTERS[name], reducing_gap=None)


def test_the_filters_are_pillows():
    assert P.RESAMPLE == FILTERS


@pytest.mark.parametrize("resample", list(FILTERS))
def test_from_pil_resizes_to_height_by_width_with_the_recorded_filter(resample):
    pre = Preprocessing(image_size=(24, 32), resample=resample)
    img = Image.fromarray(_picture())
    out = pre.from_pil(img)
    assert out.shape == (24, 32, 3) and out.dtype == np.uint8
    np.testing.assert_array_equal(out, np.asarray(_resize(img, (32, 24), resample)))


def test_from_pil_converts_to_the_colour_mode_before_resizing():
    pre = Preprocessing(image_size=(20, 28), color_mode="grayscale")
    img = Image.fromarray(_picture())
    out = pre.from_pil(img)
    assert out.shape == (20, 28, 1)
    np.testing.assert_array_equal(out[..., 0], np.asarray(_resize(img.convert("L"), (28, 20))))
    same = Preprocessing(image_size=(40, 56))
    np.testing.assert_array_equal(same.from_pil(img), _picture())  # already the size: the pixels as they are
    np.testing.assert_array_equal(same.from_array(_picture()), _picture())


def test_decoding_goes_through_the_resize_chain_then_to_the_input_size(tmp_path):
    path = tmp_path / "p.png"
    Image.fromarray(_picture()).save(path)
    pre = Preprocessing(image_size=(16, 16), resize_chain=(48, 24))
    chain = _resize(_resize(Image.fromarray(_picture()), (48, 48)), (24, 24))
    np.testing.assert_array_equal(pre.load_rgb(path), np.asarray(chain))
    np.testing.assert_array_equal(pre.load(path), np.asarray(_resize(chain, (16, 16))))
    grey = Image.fromarray(_picture()).convert("L")  # a grey source is made RGB before the chain
    np.testing.assert_array_equal(pre.load_rgb(grey), np.asarray(_resize(_resize(grey.convert("RGB"), (48, 48)),
                                                                         (24, 24))))


def test_a_localised_image_is_the_hand_crop_named_after_its_file(tmp_path, monkeypatch):
    from asl_edge.runtime.hands import LocaliserConfig

    seen = []

    def locate(self, img, name=None, tracker=None, judge=None):
        seen.append((np.asarray(img).copy(), name))
        return Image.new("RGB", (30, 30), (10, 20, 30)), "the box"

    monkeypatch.setattr(Preprocessing, "locate", locate)
    pre = Preprocessing(image_size=(16, 16), resize_chain=(24,), localiser=LocaliserConfig().to_dict())
    path = tmp_path / "p.png"
    Image.fromarray(_picture()).save(path)
    crop = pre.load_rgb(path)
    assert crop.shape == (24, 24, 3) and (crop == (10, 20, 30)).all()  # the crop, through the chain
    np.testing.assert_array_equal(seen[-1][0], _picture())  # the whole decoded frame was searched...
    assert seen[-1][1] == path  # ...and a missing hand is reported by the file's name
    pre.load_rgb(path.read_bytes())
    pre.load_rgb(Image.fromarray(_picture()))
    assert [name for _, name in seen[1:]] == [None, None]  # bytes and images have no name


def test_a_fused_row_normalises_to_the_crop_input_then_the_landmark_features():
    from asl_edge.runtime.hands import LocaliserConfig
    from asl_edge.runtime.landmarks import landmark_features

    pre = Preprocessing(image_size=(8, 9), normalization="per_image", localiser=LocaliserConfig().to_dict(),
                        fusion={"landmarks": {"use_z": False}, "combination": "log", "weight": 0.3})
    rng = np.random.default_rng(0)
    pixels, points = rng.integers(0, 256, (4, 8, 9, 3)), rng.normal(100, 30, (4, 21, 3))
    rows = np.concatenate([pixels.reshape(4, -1), points.reshape(4, -1)], axis=1)
    crop = Preprocessing(image_size=(8, 9), normalization="per_image").normalize(pixels.astype(np.uint8))
    np.testing.assert_allclose(pre.normalize(rows), np.concatenate(
        [crop.reshape(4, -1), landmark_features(points, {"use_z": False})], axis=1), rtol=1e-6, atol=1e-6)


def _batch() -> np.ndarray:
    return np.stack([_picture(8, 8, seed) for seed in range(3)])


def test_fixed_normalisation_is_pixel_over_255_minus_mean_over_std_per_channel():
    mean, std = (0.5, 0.4, 0.3), (0.2, 0.25, 0.5)
    batch = _batch()
    x = Preprocessing(mean=mean, std=std).normalize(batch)
    assert x.dtype == np.float32
    np.testing.assert_allclose(x, (batch / 255.0 - mean) / std, rtol=1e-5, atol=1e-6)
    bgr = Preprocessing(mean=mean, std=std, channel_order="bgr").normalize(batch)
    np.testing.assert_allclose(bgr, (batch[..., ::-1] / 255.0 - mean) / std, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(Preprocessing().normalize(batch), batch / 255.0, rtol=1e-6)


def test_fixed_normalisation_is_float32_arithmetic_bit_for_bit():
    # A device computes the recorded recipe in float32: the host must give the very same input, not
    # float64 arithmetic rounded at the end (which differs in the last bit for some levels).
    mean, std = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
    levels = np.arange(256, dtype=np.uint8).reshape(1, 16, 16, 1).repeat(3, axis=-1)
    expected = (levels.astype(np.float32) / np.float32(255.0) - np.asarray(mean, np.float32)) / \
        np.asarray(std, np.float32)
    np.testing.assert_array_equal(Preprocessing(mean=mean, std=std).normalize(levels), expected)


def _standardised(img: np.ndarray) -> np.ndarray:
    x = img / 255.0
    spread = max(x.std(), 1 / 255)  # over all the image's pixels and channels
    return (x - x.mean()) / spread


def test_per_image_normalisation_standardises_each_image_on_its_own():
    batch = _batch()
    batch[1] = batch[1] // 4  # a darker, flatter image: the same input after standardising it is not
    pre = Preprocessing(normalization="per_image")
    x = pre.normalize(batch)
    for i in range(3):
        np.testing.assert_allclose(x[i], _standardised(batch[i]), rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(pre.normalize(batch[2]), x[2], rtol=1e-6)  # one (H, W, C) image: the same
    np.testing.assert_allclose(pre.normalize(batch[None]), x[None], rtol=1e-6)  # and with more leading axes
    shifted = Preprocessing(normalization="per_image", mean=(0.3, 0.3, 0.3), std=(0.5, 0.5, 0.5))
    np.testing.assert_allclose(shifted.normalize(batch), x, rtol=1e-4, atol=1e-4)  # mean and std cancel out


def test_a_nearly_flat_image_is_divided_by_one_grey_level_not_by_its_own_spread():
    flat = np.full((1, 8, 8, 3), 77, np.uint8)
    np.testing.assert_allclose(Preprocessing(normalization="per_image").normalize(flat), 0.0, atol=1e-5)
    almost = flat.copy()
    almost[0, 0, 0, 0] = 78  # spread 1/255/sqrt(192) of the 0..1 scale: below one grey level
    x = Preprocessing(normalization="per_image").normalize(almost)
    x64 = almost / 255.0
    np.testing.assert_allclose(x, (x64 - x64.mean()) * 255.0, rtol=1e-4, atol=1e-5)


def test_a_landmark_model_normalises_to_its_landmark_features():
    from asl_edge.runtime.hands import LocaliserConfig
    from asl_edge.runtime.landmarks import landmark_features

    points = np.random.default_rng(0).normal(100, 30, (2, 21, 3))
    pre = Preprocessing(localiser=LocaliserConfig().to_dict(), landmarks={"use_z": False})
    np.testing.assert_array_equal(pre.normalize(points), landmark_features(points, {"use_z": False}))


@pytest.mark.parametrize("shape, wanted, expected", [
    ((64, 64, 3), 256, 256),
    ((64, 64, 3), 5000, (128 << 20) // (64 * 64 * 3 * 12)),  # 910: three float32 copies within 128 MB
    ((2048, 2048, 3), 32, 1),  # one image is past the budget: still one at a time
    ((1024, 1024, 3), 32, 3),
    ((60,), 10**9, (128 << 20) // 720),
    ((0, 3), 10**9, 128 << 20),  # an empty input costs nothing: the whole budget's worth
])
def test_batch_size_keeps_three_float_copies_within_128_mb(shape, wanted, expected):
    assert batch_for(shape, wanted) == expected


def test_an_8_bit_image_is_left_as_it_is():
    img = Image.fromarray(_picture())
    assert to_8bit(img) is img
    grey = img.convert("L")
    assert to_8bit(grey) is grey


def _levels(img: Image.Image) -> list[int]:
    import warnings

    with warnings.catch_warnings():  # no NaN, infinity or out-of-range value reaches a cast or an overflow
        warnings.simplefilter("error")
        out = to_8bit(img)
    assert out.mode == "L"
    return np.asarray(out).reshape(-1).tolist()


def test_16_bit_images_scale_65535_to_255():
    img = Image.fromarray(np.array([[0, 257, 32768, 65407, 65535]], np.uint16)).convert("I;16")
    assert _levels(img) == [0, 1, 128, 255, 255]  # 32768 * 255 / 65535 = 127.5019; 65407 / 257 = 254.502
    dark = Image.fromarray(np.array([[0, 100, 200]], np.uint16)).convert("I;16")
    assert _levels(dark) == [0, 0, 1]  # 16 bits whatever the values: a dark image stays dark


@pytest.mark.parametrize("values, expected", [
    ([0, 100, 255], [0, 100, 255]),  # an I image within 8 bits: as it is
    ([0, 256, 65535], [0, 1, 255]),  # above 255: read as 16 bits
    ([0, 70000, 140000], [0, 128, 255]),  # above 16 bits: scaled by its own peak
    ([-5, 100, 300], [0, 0, 1]),  # a peak of 300 reads as 16 bits; a negative clips to 0
    ([0, 128, 256], [0, 0, 1]),  # 256: just past 8 bits
    ([0, 65407], [0, 255]),  # 65407 / 257 = 254.502: scaled by 65535, not 65536
    ([0, 65407, 65536], [0, 254, 255]),  # just past 16 bits: by its own peak (65407 * 255 / 65536 = 254.498)
    ([-70000, 65535], [0, 255]),  # far below zero: clipped, not wrapped round
])
def test_32_bit_integer_images_scale_by_their_range(values, expected):
    img = Image.fromarray(np.array([values], np.int32), "I")
    assert _levels(img) == expected


@pytest.mark.parametrize("values, expected", [
    ([0.0, 0.5, 1.0], [0, 128, 255]),  # float in 0..1
    ([0.0, 1.5, 255.0], [0, 2, 255]),  # float in 0..255
    ([0.0, 1000.0, 65535.0], [0, 4, 255]),  # float in 0..65535
    ([np.nan, np.inf, -np.inf, 0.25], [0, 255, 0, 64]),  # not finite: 0, the top, 0; top from the finite 0.25
    ([0.0, 1.5], [0, 2]),  # a peak just past 1: read as 0..255
    ([-100.0, 255.0], [0, 255]),  # below zero: clipped, not wrapped round
    ([np.nan, np.nan], [0, 0]),  # no finite pixel at all
    ([np.inf, 0.5], [255, 128]),
    ([-np.inf, 1.0], [0, 255]),
])
def test_float_images_scale_by_their_range(values, expected):
    img = Image.fromarray(np.array([values], np.float32), "F")
    assert _levels(img) == expected


def test_the_peak_is_found_across_every_slice_of_a_large_image():
    arr = np.zeros((2100, 2100), np.float32)  # 4.4 million pixels: two slices of 4,194,304
    arr[0, 0] = 100.0
    arr[-1, -1] = 1000.0  # the peak in the second slice: the image is read as 16 bits
    arr[-1, -2] = np.nan
    out = np.asarray(to_8bit(Image.fromarray(arr, "F")))
    assert (out[0, 0], out[-1, -1], out[-1, -2]) == (0, 4, 0)
    arr[-1, -1] = 0.5  # the peak 100 in the first slice only: 8 bits
    out = np.asarray(to_8bit(Image.fromarray(arr, "F")))
    assert (out[0, 0], out[-1, -1]) == (100, 0)
