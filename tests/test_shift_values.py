"""The camera shifts' values: each shift's exact parameters and what each transform does to pixels.

The shift table decides every "worst camera shift" figure; a silently changed severity, direction
or formula would change those figures with every other test still passing. These tests pin the
table as published (README, REPORT) and check each transform against a reference computed here."""

from functools import partial

import numpy as np
import pytest
from PIL import Image, ImageFilter

from asl_edge.runtime import shifts as S

BILINEAR = Image.Resampling.BILINEAR
WALL = (200, 190, 180)
FLAT = "the hand cut out and laid over a flat {} wall RGB{}"
# name -> (family, severity, transform, its parameters, description), as the suite is published.
TABLE = {
    "mirrored": ("geometry", 1.0, "mirror", {}, "left-right mirror: the sign made with the other hand"),
    "rotate_+15": ("geometry", 15.0, "rotate", {"degrees": 15}, "camera rolled 15 degrees anticlockwise"),
    "rotate_-15": ("geometry", -15.0, "rotate", {"degrees": -15}, "camera rolled 15 degrees clockwise"),
    "rotate_+30": ("geometry", 30.0, "rotate", {"degrees": 30}, "camera rolled 30 degrees anticlockwise"),
    "rotate_-30": ("geometry", -30.0, "rotate", {"degrees": -30}, "camera rolled 30 degrees clockwise"),
    "shift_right_0.125": ("geometry", 0.125, "translate", {"dx": 0.125, "dy": 0.0},
                          "hand 12.5% of the frame further right"),
    "shift_up_0.125": ("geometry", 0.125, "translate", {"dx": 0.0, "dy": -0.125}, "hand 12.5% of the frame higher"),
    "smaller_0.75": ("framing", 0.75, "shrink", {"scale": 0.75}, "hand further away: 0.75x the size in the frame"),
    "smaller_0.5": ("framing", 0.5, "shrink", {"scale": 0.5}, "hand further away: 0.5x the size in the frame"),
    "zoom_in_1.25": ("framing", 1.25, "zoom_in", {"factor": 1.25},
                     "hand closer: the central 80% of the frame fills it"),
    "crop_4x3": ("framing", 4 / 3, "crop_aspect", {"aspect": 4 / 3},
                 "a 4:3 landscape frame (centre band) stretched to the square input"),
    "letterbox_4x3": ("framing", 4 / 3, "letterbox_aspect", {"aspect": 4 / 3},
                      "the photo letterboxed to 4:3 and squashed to the square input"),
    "darker_0.5": ("light", 0.5, "exposure", {"gain": 0.5}, "underexposed: pixels x0.5"),
    "darker_0.3": ("light", 0.3, "exposure", {"gain": 0.3}, "underexposed: pixels x0.3"),
    "brighter_1.5": ("light", 1.5, "exposure", {"gain": 1.5}, "overexposed: pixels x1.5, clipped"),
    "contrast_0.5": ("light", 0.5, "contrast", {"factor": 0.5}, "flat light: contrast x0.5"),
    "contrast_0.3": ("light", 0.3, "contrast", {"factor": 0.3}, "flat light: contrast x0.3"),
    "gamma_0.5": ("light", 0.5, "gamma", {"value": 0.5}, "tone curve: gamma 0.5"),
    "gamma_2.0": ("light", 2.0, "gamma", {"value": 2.0}, "tone curve: gamma 2"),
    "grayscale": ("colour", 1.0, "grayscale", {}, "monochrome camera: luma in every channel"),
    "warm_0.2": ("colour", 0.2, "white_balance", {"gains": (1.2, 1.0, 0.8)},
                 "warm cast (tungsten light): red x1.2, blue x0.8"),
    "cool_0.2": ("colour", 0.2, "white_balance", {"gains": (0.8, 1.0, 1.2)},
                 "cool cast (shade, daylight white balance indoors): red x0.8, blue x1.2"),
    "blur_1.0": ("sensor", 1.0, "blur", {"radius": 1.0}, "Gaussian blur, radius 1 px"),
    "blur_2.0": ("sensor", 2.0, "blur", {"radius": 2.0}, "Gaussian blur, radius 2 px"),
    "noise_10": ("sensor", 10.0, "noise", {"sigma": 10}, "Gaussian noise, sigma 10 grey levels"),
    "noise_20": ("sensor", 20.0, "noise", {"sigma": 20}, "Gaussian noise, sigma 20 grey levels"),
    "jpeg_20": ("sensor", 20.0, "jpeg", {"quality": 20}, "JPEG round trip at quality 20"),
    "jpeg_10": ("sensor", 10.0, "jpeg", {"quality": 10}, "JPEG round trip at quality 10"),
    "webcam_50px": ("sensor", 50.0, "webcam", {"side": 50},
                    "low-resolution webcam: the frame at 50 px, up-scaled back"),
    "bg_black": ("background", 0.0, "flat_background", {"colour": (0, 0, 0)}, FLAT.format("black", (0, 0, 0))),
    "bg_dark_grey": ("background", 0.25, "flat_background", {"colour": (64, 64, 64)},
                     FLAT.format("dark grey", (64, 64, 64))),
    "bg_mid_grey": ("background", 0.5, "flat_background", {"colour": (128, 128, 128)},
                    FLAT.format("mid grey", (128, 128, 128))),
    "bg_red": ("background", 0.34, "flat_background", {"colour": (200, 30, 30)}, FLAT.format("red", (200, 30, 30))),
    "bg_green": ("background", 0.3, "flat_background", {"colour": (30, 150, 50)},
                 FLAT.format("green", (30, 150, 50))),
    "bg_blue": ("background", 0.38, "flat_background", {"colour": (30, 60, 200)}, FLAT.format("blue", (30, 60, 200))),
    "bg_checker": ("background", 8.0, "checker_background", {"colours": ((70, 60, 50), (180, 170, 150)), "squares": 8},
                   "the hand cut out and laid over a brown and beige checkerboard, 8 squares across"),
    "bg_scene": ("background", 1.0, "scene_background", {"photo": "china"},
                 "the hand cut out and laid over a window of the TEST photograph 'china' (clutter)"),
}


def _spec(shift: S.Shift) -> tuple:
    """A shift as (family, severity, transform, parameters, description); a background shift by its
    background (every one of them is replace_background over it)."""
    apply = shift.apply
    if shift.needs_mask:
        assert apply.func is S.replace_background and set(apply.keywords) == {"background"}
        apply = apply.keywords["background"]
    name, params = (apply.func.__name__, apply.keywords) if isinstance(apply, partial) else (apply.__name__, {})
    return shift.family, shift.severity, name, params, shift.description


def test_the_shift_table_is_the_published_suite_in_order():
    assert [s.name for s in S.camera_shifts()] == list(TABLE)
    assert {s.name: _spec(s) for s in S.camera_shifts()} == TABLE
    assert [s.name for s in S.camera_shifts() if s.needs_mask] == [n for n in TABLE if n.startswith("bg_")]
    assert S.get_shift("jpeg_10").severity == 10.0 and S.get_shift("rotate_-30").apply.keywords == {"degrees": -30}


def _photo(h: int = 32, w: int = 32, seed: int = 0) -> np.ndarray:
    """A wall of one colour with a noisy, coloured block off-centre (no pixel equals the wall)."""
    rng = np.random.default_rng(seed)
    img = np.empty((h, w, 3), np.uint8)
    img[:] = WALL
    img[h // 4:h * 3 // 4, w // 8:w // 2] = rng.integers(20, 150, (h * 3 // 4 - h // 4, w // 2 - w // 8, 3))
    return img


def _resized(img: np.ndarray, size, box=None) -> np.ndarray:
    return np.asarray(Image.fromarray(img).resize(size, BILINEAR, box=box, reducing_gap=None), np.uint8)


def test_border_colour_is_the_median_of_the_outermost_rows_and_columns():
    img = np.full((5, 9, 3), 99, np.uint8)
    img[0], img[-1] = 10, 20  # 7 pixels each besides the corners,
    img[:, 0], img[:, -1] = 30, 40  # and the columns, with the corners: 7 of each level in all
    img[..., 1] += 1
    img[..., 2] //= 2
    assert S.border_colour(img) == (25, 26, 12)
    img[:, -1] = 10  # red: 14 of 10, 7 of 20, 7 of 30; green 10, 11, 21, 31; blue 5, 10 (14), 15
    assert S.border_colour(img) == (15, 16, 10)


@pytest.mark.parametrize("degrees", [15, -30, 90])
def test_rotate_is_bilinear_about_the_centre_counter_clockwise_filled_with_the_wall(degrees):
    img = _photo()
    out = S.rotate(img, degrees)
    ref = Image.fromarray(img).rotate(degrees, resample=BILINEAR, fillcolor=WALL)
    np.testing.assert_array_equal(out, np.asarray(ref))
    if degrees == 90:  # a quarter turn is exact: counter-clockwise, as np.rot90
        np.testing.assert_array_equal(out, np.rot90(img))
    else:
        np.testing.assert_array_equal(out[0, 0], WALL)  # a corner the turn uncovers


def test_translate_moves_the_content_right_and_down_by_fractions_of_the_frame():
    img = _photo(32, 64)
    out = S.translate(img, 0.125, 0.0)  # 8 px right
    np.testing.assert_array_equal(out[:, 8:], img[:, :-8])
    assert (out[:, :8] == WALL).all()
    out = S.translate(img, 0.0, -0.25)  # 8 px up
    np.testing.assert_array_equal(out[:-8], img[8:])
    assert (out[-8:] == WALL).all()


def test_translate_by_a_fraction_of_a_pixel_interpolates_bilinearly():
    ramp = np.repeat((np.arange(30) * 8)[None, :, None], 3, axis=2).repeat(4, axis=0).astype(np.uint8)
    out = S.translate(ramp, 0.125, 0.0)  # 3.75 px right: each pixel reads 3.75 px to its left
    np.testing.assert_allclose(out[:, 5:-1, 0], np.broadcast_to(np.arange(5, 29) * 8 - 30.0, (4, 24)), atol=1.0)


@pytest.mark.parametrize("scale, h, w", [(0.5, 32, 32), (0.75, 32, 48), (0.01, 20, 20)])
def test_shrink_pastes_the_scaled_frame_in_the_centre_of_the_wall(scale, h, w):
    img = _photo(h, w)
    out = S.shrink(img, scale)
    sw, sh = max(1, round(w * scale)), max(1, round(h * scale))
    x0, y0 = (w - sw) // 2, (h - sh) // 2
    np.testing.assert_array_equal(out[y0:y0 + sh, x0:x0 + sw], _resized(img, (sw, sh)))
    outside = np.ones((h, w), bool)
    outside[y0:y0 + sh, x0:x0 + sw] = False
    assert (out[outside] == WALL).all()


def test_zoom_in_fills_the_frame_with_its_central_part():
    img = _photo(32, 48)
    np.testing.assert_array_equal(S.zoom_in(img, 2.0), _resized(img, (48, 32), box=(12, 8, 36, 24)))
    np.testing.assert_array_equal(S.zoom_in(img, 1.25), _resized(img, (48, 32), box=(4.8, 3.2, 43.2, 28.8)))


def test_crop_aspect_stretches_the_central_full_width_band():
    img = _photo(40, 40)
    # a 4:3 band of a 40 px wide frame is 30 px high: rows 5..35
    np.testing.assert_array_equal(S.crop_aspect(img, 4 / 3), _resized(img, (40, 40), box=(0, 5, 40, 35)))
    np.testing.assert_array_equal(S.crop_aspect(img, 2.0), _resized(img, (40, 40), box=(0, 10, 40, 30)))


def test_letterbox_adds_wall_coloured_bars_left_and_right_then_squashes():
    img = _photo(30, 30)
    wide = np.empty((30, 40, 3), np.uint8)
    wide[:] = WALL
    wide[:, 5:35] = img
    np.testing.assert_array_equal(S.letterbox_aspect(img, 4 / 3), _resized(wide, (30, 30)))
    assert (S.letterbox_aspect(img, 4 / 3)[:, 0] == WALL).all()


def _grid() -> np.ndarray:
    """Every grey level 0..255 in every channel, in a 16x16 picture (channels in other orders)."""
    levels = np.arange(256, dtype=np.uint8).reshape(16, 16)
    return np.stack([levels, levels.T, levels[::-1]], axis=-1)


@pytest.mark.parametrize("gain", [0.5, 0.3, 1.5])
def test_exposure_multiplies_rounds_and_clips(gain):
    img = _grid()
    ref = np.clip(np.round(img.astype(np.float32) * np.float32(gain)), 0, 255)
    np.testing.assert_array_equal(S.exposure(img, gain), ref)
    assert S.exposure(img, gain).max() == min(255, round(255 * gain))


@pytest.mark.parametrize("factor", [0.5, 0.3, 2.0])
def test_contrast_scales_the_distance_from_the_images_mean_level(factor):
    img = _grid()
    mean = img.astype(np.float64).mean()
    ref = np.clip(np.round((img - mean) * factor + mean), 0, 255)
    np.testing.assert_array_equal(S.contrast(img, factor), ref)
    assert abs(S.contrast(img, factor).astype(float).mean() - mean) < 1.0


@pytest.mark.parametrize("value", [0.5, 2.0])
def test_gamma_is_the_power_of_the_level_in_0_1(value):
    img = _grid()
    ref = np.clip(np.round(255.0 * (img / 255.0) ** value), 0, 255)
    np.testing.assert_array_equal(S.gamma(img, value), ref)  # every level 0..255
    assert S.gamma(img, value)[0, 0, 0] == 0 and S.gamma(img, value)[15, 15, 0] == 255


def test_grayscale_is_the_itu_601_luma_in_every_channel():
    img = _grid()
    luma = np.round(img @ np.array([0.299, 0.587, 0.114]))
    out = S.grayscale(img)
    assert out.shape == img.shape
    np.testing.assert_array_equal(out[..., 0], luma)
    np.testing.assert_array_equal(out[..., 1], out[..., 0])
    np.testing.assert_array_equal(out[..., 2], out[..., 0])


def test_white_balance_gains_are_red_green_blue():
    img = _grid()
    ref = np.clip(np.round(img * np.array([1.2, 1.0, 0.8])), 0, 255)
    np.testing.assert_array_equal(S.white_balance(img, (1.2, 1.0, 0.8)), ref)
    np.testing.assert_array_equal(S.white_balance(img, (1.2, 1.0, 0.8))[..., 1], img[..., 1])


@pytest.mark.parametrize("radius", [1.0, 2.0])
def test_blur_is_pillows_gaussian_of_that_radius(radius):
    img = _photo()
    ref = np.asarray(Image.fromarray(img).filter(ImageFilter.GaussianBlur(radius)))
    np.testing.assert_array_equal(S.blur(img, radius), ref)


@pytest.mark.parametrize("sigma", [10, 20])
def test_noise_has_zero_mean_and_that_sigma_and_is_seeded_by_the_image(sigma):
    img = np.full((64, 64, 3), 128, np.uint8)
    diff = S.noise(img, sigma).astype(np.float64) - 128
    assert abs(diff.mean()) < 0.5
    assert abs(diff.std() - sigma) < 0.05 * sigma
    other = img.copy()
    other[0, 0, 0] = 129
    assert np.abs(S.noise(other, sigma).astype(int) - S.noise(img, sigma)).mean() > sigma / 2  # another seed
    photo = _photo()  # the draw: NumPy's default generator seeded with the CRC-32 of the image's bytes
    draw = np.random.default_rng(__import__("zlib").crc32(photo.tobytes())).normal(0.0, sigma, photo.shape)
    ref = np.clip(np.round(photo.astype(np.float32) + draw.astype(np.float32)), 0, 255)
    np.testing.assert_array_equal(S.noise(photo, sigma), ref)


def test_jpeg_round_trips_at_the_quality_given():
    img = _photo(48, 48)

    def at(q):
        buf = __import__("io").BytesIO()
        Image.fromarray(img).save(buf, "JPEG", quality=q)
        return np.asarray(Image.open(buf).convert("RGB"))

    np.testing.assert_array_equal(S.jpeg(img, 10), at(10))
    np.testing.assert_array_equal(S.jpeg(img, 20), at(20))
    assert not np.array_equal(at(10), at(75))  # the quality reaches the encoder


@pytest.mark.parametrize("h, w", [(100, 100), (80, 120)])
def test_webcam_goes_down_to_side_pixels_on_the_long_side_and_back(h, w):
    img = np.random.default_rng(0).integers(0, 256, (h, w, 3)).astype(np.uint8)
    k = 50 / max(h, w)
    small = Image.fromarray(img).resize((round(w * k), round(h * k)), BILINEAR)
    np.testing.assert_array_equal(S.webcam(img, 50), np.asarray(small.resize((w, h), BILINEAR)))


@pytest.mark.parametrize("h, w", [(200, 4), (4, 200)])
def test_webcam_keeps_one_pixel_of_a_strip_thinner_than_its_share(h, w):
    img = np.random.default_rng(0).integers(0, 256, (h, w, 3)).astype(np.uint8)
    out = S.webcam(img, 50)  # the short side: 4 px x 50/200 = 1 px, one value across it
    across = out.std(axis=1) if w < h else out.std(axis=0)
    assert out.shape == img.shape and across.max() == 0 and out.std() > 0


def test_estimated_mask_is_chroma_above_the_border_plus_the_threshold_by_3x3_majority():
    img = np.full((24, 24, 3), 150, np.uint8)  # a grey wall: chroma 0
    img[2:8, 2:8] = (150 + 12, 150, 150)  # chroma exactly the threshold: not the hand
    img[2:8, 12:18] = (150 + 13, 150, 150)  # chroma one above: the hand
    img[12:22, 5] = img[12:22, 6] = (250, 100, 100)  # a line two pixels wide: kept by the 3x3 majority
    img[15, 15] = (250, 100, 100)  # one stray pixel: removed
    mask = S.estimate_mask(img)
    assert mask.dtype == np.float32 and set(np.unique(mask)) == {0.0, 1.0}
    assert mask[2:8, 2:8].sum() == 0
    assert mask[3:7, 13:17].all()
    assert mask[13:21, 5:7].all()
    assert mask[15, 15] == 0
    img[0] = img[-1] = (180, 150, 150)  # a coloured border (chroma 30) lifts the threshold above the block
    assert S.estimate_mask(img)[3:7, 13:17].sum() == 0


def test_the_estimated_mask_reads_the_wall_from_the_outermost_columns():
    img = np.full((40, 6, 3), 128, np.uint8)  # tall: the columns are most of the border
    img[:, 0] = img[:, -1] = (178, 128, 78)  # a vivid frame (chroma 100) on the outermost columns only
    img[15:25, 2:4] = (158, 128, 98)  # a patch of chroma 60: below the frame's 100 + 12
    assert S.estimate_mask(img).sum() == 0
    img[:, 0] = img[:, -1] = 128  # the same patch before a grey frame: above 0 + 12
    assert S.estimate_mask(img)[17:23, 2:4].all()  # (its ends eroded by the 3x3 majority)


def test_a_mask_of_zeros_and_ones_or_of_0_255_is_the_same_alpha():
    img = _photo()
    m = np.zeros((32, 32), np.uint8)
    m[4:10, 4:10] = 1
    a = S._alpha(img, m)
    assert a.shape == (32, 32, 1) and a.dtype == np.float32
    np.testing.assert_array_equal(a[..., 0], m)
    np.testing.assert_array_equal(S._alpha(img, m * 255), a)
    np.testing.assert_allclose(S._alpha(img, m * 128)[..., 0], m * 128 / 255)
    np.testing.assert_allclose(S._alpha(img, np.full((32, 32), 2.0))[..., 0], 2 / 255)
    np.testing.assert_array_equal(S._alpha(img, np.full((32, 32), -1.0)), 0)
    np.testing.assert_array_equal(S._alpha(img, None)[..., 0], S.estimate_mask(img))


def test_a_mask_past_255_is_clipped_to_the_whole_hand():
    img = _photo(8, 8)
    m = np.zeros((8, 8), np.float32)
    m[2:6, 2:6] = 1000.0  # a 16-bit or float mask: read as 0..255, then no more than all of the hand
    a = S._alpha(img, m)[..., 0]
    assert a.max() == 1.0 and (a[2:6, 2:6] == 1.0).all() and (a[m == 0] == 0).all()
    out = S.replace_background(img, partial(S.flat_background, colour=(0, 0, 0)), m)
    np.testing.assert_array_equal(out[2:6, 2:6], img[2:6, 2:6])


def test_a_mask_of_another_shape_is_refused_naming_both_shapes():
    with pytest.raises(ValueError, match=r"^the mask's shape \(3, 4\) is not the image's \(8, 8\)$"):
        S._alpha(_photo(8, 8), np.zeros((3, 4)))


def test_an_empty_image_gives_an_empty_image():
    img = np.zeros((0, 4, 3), np.uint8)
    out = S.replace_background(img, partial(S.flat_background, colour=(1, 2, 3)), np.zeros((0, 4)))
    assert out.shape == (0, 4, 3) and out.dtype == np.uint8


def test_a_background_is_an_image():
    bg = S.flat_background(_photo(4, 6), (1, 2, 300 % 256))
    assert bg.shape == (4, 6, 3) and bg.dtype == np.uint8 and (bg == (1, 2, 44)).all()


def test_replace_background_blends_the_image_over_the_background_by_the_mask():
    img = _photo(8, 8)
    mask = np.linspace(0, 1, 64, dtype=np.float32).reshape(8, 8)
    out = S.replace_background(img, partial(S.flat_background, colour=(0, 100, 255)), mask)
    ref = mask[..., None] * img + (1 - mask[..., None]) * np.array([0, 100, 255])
    assert np.abs(out.astype(float) - ref).max() <= 0.5 + 1e-4


def test_checkerboard_squares_follow_the_long_side():
    img = np.zeros((16, 32, 3), np.uint8)
    board = S.checker_background(img, ((1, 2, 3), (4, 5, 6)), 8)  # squares of 32 / 8 = 4 px
    first, second = np.array((1, 2, 3)), np.array((4, 5, 6))
    for (y, x), colour in {(0, 0): first, (3, 3): first, (0, 4): second, (4, 0): second, (4, 4): first,
                           (15, 31): first, (12, 31): first, (11, 31): second}.items():
        np.testing.assert_array_equal(board[y, x], colour, err_msg=f"pixel {(y, x)}")
    assert board.shape == img.shape and board.dtype == np.uint8


@pytest.mark.parametrize("h, w", [(24, 32), (8, 64)])  # the photograph's height or its width limits the window
def test_scene_background_is_a_seeded_window_of_the_photograph(h, w):
    pytest.importorskip("sklearn")
    from asl_edge.runtime.backgrounds import load_background

    img = _photo(h, w)
    scene = load_background("china")
    rng = np.random.default_rng(S._image_seed(img))
    k = min(scene.shape[0] / h, scene.shape[1] / w) * rng.uniform(1 / 3, 2 / 3)
    x0, y0 = rng.uniform(0, scene.shape[1] - w * k), rng.uniform(0, scene.shape[0] - h * k)
    ref = Image.fromarray(scene).resize((w, h), BILINEAR, box=(x0, y0, x0 + w * k, y0 + h * k))
    if rng.random() < 0.5:
        ref = ref.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
    np.testing.assert_array_equal(S.scene_background(img, "china"), np.asarray(ref))
