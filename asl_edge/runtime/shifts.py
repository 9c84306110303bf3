"""Deterministic camera shifts: the conditions a deployed camera meets that the training photos lack.

One table, :func:`camera_shifts`, in the spirit of ImageNet-C: each :class:`Shift` has a unique
name, a family, a fixed severity and a function from a ``uint8`` ``HxWx3`` RGB image to another of
the same shape. Every function is deterministic (sensor noise draws from a seed derived from the
image's own bytes), so a shift suite gives the same number on every run and machine.

NumPy and Pillow only: the runtime-only (``pi``) install evaluates artifacts under shifts too.

Where a transform uncovers pixels outside the original frame (rotation, shrinking, shifting,
letterboxing) they are filled with the median colour of the image's border, the nearest thing to
"more of the same background" that a single photo offers.

The ``background`` family puts the hand in front of something else than the studio's light wall:
the hand is cut out of its photograph with a mask (``needs_mask``: ``apply(img, mask=...)``) and
laid over flat colours, a texture or a TEST photograph (:mod:`asl_edge.runtime.backgrounds`, never
used in training). ``evaluate --shifts`` passes each image's cached hand mask
(:mod:`asl_edge.data.masks`: MediaPipe landmarks seeding GrabCut); without one, the shift estimates a
rough mask itself (:func:`estimate_mask`: far enough in colour from the border), so every shift
still works on any image.
"""

from __future__ import annotations

import io
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

import numpy as np
from PIL import Image, ImageFilter

from asl_edge.runtime.errors import ConfigError

FAMILIES = ("geometry", "framing", "light", "colour", "sensor", "background")
# estimate_mask: a pixel whose chroma (largest minus smallest channel, 0..255) exceeds the border's
# median chroma by this much belongs to the hand. Skin is coloured and the studio walls nearly grey,
# while their brightness varies across the frame (vignetting: a distance in RGB took the bright
# centre of the wall for the hand). On 46 built-in photographs thresholds of 10-15 agreed best with
# the landmark-seeded masks (IoU 0.91-0.92 on average; 0.84 at 25).
ESTIMATE_THRESHOLD = 12.0
SCENE_PHOTO = "china"  # the bg_scene shift's TEST photograph (shipped inside asl-edge: the `pi` install has it)


@dataclass(frozen=True)
class Shift:
    """One deterministic camera condition.

    Attributes:
        name: unique name, e.g. ``darker_0.5``.
        family: ``geometry``, ``framing``, ``light``, ``colour``, ``sensor`` or ``background``.
        severity: the transform's parameter as a number (factor, degrees, sigma, quality...).
        apply: ``uint8`` ``HxWx3`` RGB -> ``uint8`` ``HxWx3`` RGB of the same shape; with
            ``needs_mask`` it also takes ``mask=`` (the hand's ``HxW`` mask, 0..1 or 0..255).
        description: one line for reports.
        needs_mask: the shift cuts the hand out (``apply(img, mask=m)``; estimated when ``None``).
    """

    name: str
    family: str
    severity: float
    apply: Callable[..., np.ndarray]
    description: str
    needs_mask: bool = False


# -- helpers -------------------------------------------------------------------------------------
def _check(img: np.ndarray) -> np.ndarray:
    img = np.asarray(img)
    if img.dtype != np.uint8 or img.ndim != 3 or img.shape[2] != 3:
        raise ValueError(f"a shift takes a uint8 HxWx3 RGB image, got {img.dtype} {img.shape}")
    return img


def _to_uint8(x: np.ndarray) -> np.ndarray:
    return np.clip(np.round(x), 0, 255).astype(np.uint8)


def border_colour(img: np.ndarray) -> tuple[int, int, int]:
    """The per-channel median of the image's outermost rows and columns."""
    img = _check(img)
    border = np.concatenate([img[0], img[-1], img[:, 0], img[:, -1]])
    return tuple(int(v) for v in np.median(border, axis=0))


def _pil(img: np.ndarray) -> Image.Image:
    return Image.fromarray(_check(img), "RGB")


# -- geometry ------------------------------------------------------------------------------------
def mirror(img: np.ndarray) -> np.ndarray:
    """Left-right mirror: the same sign made with the other hand (or a selfie camera)."""
    return np.ascontiguousarray(_check(img)[:, ::-1])


def rotate(img: np.ndarray, degrees: float) -> np.ndarray:
    """Rotates counter-clockwise by ``degrees`` about the centre, keeping the frame size."""
    out = _pil(img).rotate(degrees, resample=Image.Resampling.BILINEAR, fillcolor=border_colour(img))
    return np.asarray(out, np.uint8)


def translate(img: np.ndarray, dx: float, dy: float) -> np.ndarray:
    """Moves the content by ``dx``, ``dy`` fractions of the width and height (right and down)."""
    h, w = img.shape[:2]
    out = _pil(img).transform((w, h), Image.Transform.AFFINE, (1, 0, -dx * w, 0, 1, -dy * h),
                              resample=Image.Resampling.BILINEAR, fillcolor=border_colour(img))
    return np.asarray(out, np.uint8)


# -- framing -------------------------------------------------------------------------------------
def shrink(img: np.ndarray, scale: float) -> np.ndarray:
    """The hand further from the camera: content scaled by ``scale`` about the centre, border-filled."""
    h, w = _check(img).shape[:2]
    small = _pil(img).resize((max(1, round(w * scale)), max(1, round(h * scale))), Image.Resampling.BILINEAR,
                             reducing_gap=None)
    canvas = Image.new("RGB", (w, h), border_colour(img))
    canvas.paste(small, ((w - small.width) // 2, (h - small.height) // 2))
    return np.asarray(canvas, np.uint8)


def zoom_in(img: np.ndarray, factor: float) -> np.ndarray:
    """The hand closer to the camera: the central ``1/factor`` of the frame scaled back up."""
    h, w = _check(img).shape[:2]
    cw, ch = w / factor, h / factor
    box = ((w - cw) / 2, (h - ch) / 2, (w + cw) / 2, (h + ch) / 2)
    return np.asarray(_pil(img).resize((w, h), Image.Resampling.BILINEAR, box=box, reducing_gap=None), np.uint8)


def crop_aspect(img: np.ndarray, aspect: float) -> np.ndarray:
    """A landscape ``aspect`` camera frame squashed to the square input: the central full-width band of
    height ``width / aspect`` stretched back to the frame (the hand looks taller and thinner)."""
    h, w = _check(img).shape[:2]
    band = w / aspect
    box = (0, (h - band) / 2, w, (h + band) / 2)
    return np.asarray(_pil(img).resize((w, h), Image.Resampling.BILINEAR, box=box, reducing_gap=None), np.uint8)


def letterbox_aspect(img: np.ndarray, aspect: float) -> np.ndarray:
    """The square photo padded with bars to a landscape ``aspect`` frame, then squashed back to the
    square input (the hand looks narrower, with border-coloured bars left and right)."""
    h, w = _check(img).shape[:2]
    wide = round(h * aspect)
    canvas = Image.new("RGB", (wide, h), border_colour(img))
    canvas.paste(_pil(img), ((wide - w) // 2, 0))
    return np.asarray(canvas.resize((w, h), Image.Resampling.BILINEAR, reducing_gap=None), np.uint8)


# -- light ---------------------------------------------------------------------------------------
def exposure(img: np.ndarray, gain: float | np.ndarray) -> np.ndarray:
    """Multiplies every pixel by ``gain`` (under- or over-exposure; clipped at 255); an array gain
    broadcasts over the image (light that varies across the frame)."""
    return _to_uint8(_check(img).astype(np.float32) * gain)


def contrast(img: np.ndarray, factor: float) -> np.ndarray:
    """Scales each pixel's distance from the image's mean grey level by ``factor`` (haze, flat light)."""
    x = _check(img).astype(np.float32)
    mean = float(x.mean())
    return _to_uint8((x - mean) * factor + mean)


def gamma(img: np.ndarray, value: float) -> np.ndarray:
    """``255 * (x / 255) ** value``: below 1 lifts the shadows, above 1 darkens the mid-tones."""
    x = _check(img).astype(np.float32) / 255.0
    return _to_uint8(255.0 * np.power(x, value))


# -- colour --------------------------------------------------------------------------------------
def grayscale(img: np.ndarray) -> np.ndarray:
    """A monochrome camera (or an IR-cut-less one at night): ITU-R 601 luma in all three channels."""
    luma = np.asarray(_pil(img).convert("L"), np.uint8)
    return np.repeat(luma[..., None], 3, axis=2)


def white_balance(img: np.ndarray, gains: tuple[float, float, float]) -> np.ndarray:
    """Per-channel ``(R, G, B)`` gains: a colour cast from the light or a wrong white balance."""
    return _to_uint8(_check(img).astype(np.float32) * np.asarray(gains, np.float32))


# -- sensor --------------------------------------------------------------------------------------
def blur(img: np.ndarray, radius: float) -> np.ndarray:
    """Gaussian blur of ``radius`` pixels (out of focus, motion, a cheap lens)."""
    return np.asarray(_pil(img).filter(ImageFilter.GaussianBlur(radius)), np.uint8)


def noise(img: np.ndarray, sigma: float) -> np.ndarray:
    """Additive Gaussian noise of ``sigma`` grey levels, seeded by the image's bytes (deterministic)."""
    img = _check(img)
    rng = np.random.default_rng(zlib.crc32(img.tobytes()))
    return _to_uint8(img.astype(np.float32) + rng.normal(0.0, sigma, img.shape).astype(np.float32))


def jpeg(img: np.ndarray, quality: int) -> np.ndarray:
    """A JPEG round trip at ``quality`` (a streaming camera's compression)."""
    buf = io.BytesIO()
    _pil(img).save(buf, "JPEG", quality=int(quality))
    buf.seek(0)
    return np.asarray(Image.open(buf).convert("RGB"), np.uint8)


def webcam(img: np.ndarray, side: int) -> np.ndarray:
    """A low-resolution webcam: the frame down to ``side`` pixels on its long side (Pillow's
    antialiased bilinear), then up-scaled back (bilinear), as a small crop of a cheap camera is."""
    h, w = _check(img).shape[:2]
    k = side / max(h, w)
    small = _pil(img).resize((max(1, round(w * k)), max(1, round(h * k))), Image.Resampling.BILINEAR)
    return np.asarray(small.resize((w, h), Image.Resampling.BILINEAR), np.uint8)


# -- background ----------------------------------------------------------------------------------
def estimate_mask(img: np.ndarray) -> np.ndarray:
    """A rough hand mask (``HxW`` float32, 0 or 1) from the image alone: pixels whose chroma exceeds
    the border's median chroma by :data:`ESTIMATE_THRESHOLD`, a 3x3 majority filter against speckle.
    It fits a hand before a grey wall only (a grey image has no hand by it); evaluation passes the
    landmark-seeded mask of :mod:`asl_edge.data.masks` instead, which records how far the two agree."""
    x = _check(img).astype(np.float32)
    chroma = x.max(axis=2) - x.min(axis=2)
    border = np.concatenate([chroma[0], chroma[-1], chroma[:, 0], chroma[:, -1]])
    far = chroma > float(np.median(border)) + ESTIMATE_THRESHOLD
    votes = Image.fromarray(far.astype(np.uint8) * 255, "L").filter(ImageFilter.BoxBlur(1))
    return (np.asarray(votes, np.float32) > 127).astype(np.float32)


def _alpha(img: np.ndarray, mask: np.ndarray | None) -> np.ndarray:
    """The mask as ``HxWx1`` float32 alpha in 0..1 (``uint8`` masks read 0..255 unless they hold only 0/1)."""
    if mask is None:
        return estimate_mask(img)[..., None]
    m = np.asarray(mask)
    if m.shape != img.shape[:2]:
        raise ValueError(f"the mask's shape {m.shape} is not the image's {img.shape[:2]}")
    m = m.astype(np.float32)
    if m.max(initial=0.0) > 1.0:
        m = m / 255.0
    return np.clip(m, 0.0, 1.0)[..., None]


def _image_seed(img: np.ndarray) -> int:
    return zlib.crc32(np.ascontiguousarray(img).tobytes())


def flat_background(img: np.ndarray, colour: tuple[int, int, int]) -> np.ndarray:
    """A wall of one colour, the frame's size."""
    return np.broadcast_to(np.asarray(colour, np.uint8), img.shape)


def checker_background(img: np.ndarray, colours: tuple[tuple[int, int, int], tuple[int, int, int]],
                       squares: int) -> np.ndarray:
    """A checkerboard of ``squares`` squares across the frame's long side, in two colours (a tiled
    floor or wall; training's generated textures hold no checkerboard)."""
    h, w = img.shape[:2]
    cell = max(h, w) / squares
    yy, xx = np.mgrid[0:h, 0:w]
    odd = ((yy // cell).astype(int) + (xx // cell).astype(int)) % 2 == 1
    return np.where(odd[..., None], np.asarray(colours[1], np.uint8), np.asarray(colours[0], np.uint8))


def scene_background(img: np.ndarray, photo: str) -> np.ndarray:
    """A window of the TEST photograph ``photo`` (a third to two thirds of its short side, placed
    and mirrored by a seed from the image's bytes), resized to the frame."""
    from asl_edge.runtime.backgrounds import load_background

    scene = load_background(photo)
    rng = np.random.default_rng(_image_seed(img))
    h, w = img.shape[:2]
    sh, sw = scene.shape[:2]
    k = min(sh / h, sw / w) * rng.uniform(1 / 3, 2 / 3)
    wh, ww = h * k, w * k
    x0, y0 = rng.uniform(0, sw - ww), rng.uniform(0, sh - wh)
    out = Image.fromarray(scene, "RGB").resize((w, h), Image.Resampling.BILINEAR, box=(x0, y0, x0 + ww, y0 + wh))
    if rng.random() < 0.5:
        out = out.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
    return np.asarray(out, np.uint8)


def replace_background(img: np.ndarray, background: Callable[[np.ndarray], np.ndarray],
                       mask: np.ndarray | None = None) -> np.ndarray:
    """The hand cut out with ``mask`` (1: hand) and laid over ``background(img)``:
    ``mask * img + (1 - mask) * background``, so pixels where the mask is 1 keep their value."""
    img = _check(img)
    alpha = _alpha(img, mask)
    out = alpha * img.astype(np.float32) + (1.0 - alpha) * background(img).astype(np.float32)
    return _to_uint8(out)


# -- the table -----------------------------------------------------------------------------------
def _geometry() -> list[Shift]:
    out = [Shift("mirrored", "geometry", 1.0, mirror, "left-right mirror: the sign made with the other hand")]
    for deg in (15, -15, 30, -30):
        out.append(Shift(f"rotate_{deg:+d}", "geometry", float(deg), partial(rotate, degrees=deg),
                         f"camera rolled {abs(deg)} degrees {'anticlockwise' if deg > 0 else 'clockwise'}"))
    out.append(Shift("shift_right_0.125", "geometry", 0.125, partial(translate, dx=0.125, dy=0.0),
                     "hand 12.5% of the frame further right"))
    out.append(Shift("shift_up_0.125", "geometry", 0.125, partial(translate, dx=0.0, dy=-0.125),
                     "hand 12.5% of the frame higher"))
    return out


def _framing() -> list[Shift]:
    out = [Shift(f"smaller_{s}", "framing", s, partial(shrink, scale=s),
                 f"hand further away: {s:g}x the size in the frame") for s in (0.75, 0.5)]
    out.append(Shift("zoom_in_1.25", "framing", 1.25, partial(zoom_in, factor=1.25),
                     "hand closer: the central 80% of the frame fills it"))
    out.append(Shift("crop_4x3", "framing", 4 / 3, partial(crop_aspect, aspect=4 / 3),
                     "a 4:3 landscape frame (centre band) stretched to the square input"))
    out.append(Shift("letterbox_4x3", "framing", 4 / 3, partial(letterbox_aspect, aspect=4 / 3),
                     "the photo letterboxed to 4:3 and squashed to the square input"))
    return out


def _light() -> list[Shift]:
    out = [Shift(f"darker_{g}", "light", g, partial(exposure, gain=g), f"underexposed: pixels x{g:g}")
           for g in (0.5, 0.3)]
    out.append(Shift("brighter_1.5", "light", 1.5, partial(exposure, gain=1.5), "overexposed: pixels x1.5, clipped"))
    out += [Shift(f"contrast_{c}", "light", c, partial(contrast, factor=c), f"flat light: contrast x{c:g}")
            for c in (0.5, 0.3)]
    out += [Shift(f"gamma_{g}", "light", g, partial(gamma, value=g), f"tone curve: gamma {g:g}") for g in (0.5, 2.0)]
    return out


def _colour() -> list[Shift]:
    return [
        Shift("grayscale", "colour", 1.0, grayscale, "monochrome camera: luma in every channel"),
        Shift("warm_0.2", "colour", 0.2, partial(white_balance, gains=(1.2, 1.0, 0.8)),
              "warm cast (tungsten light): red x1.2, blue x0.8"),
        Shift("cool_0.2", "colour", 0.2, partial(white_balance, gains=(0.8, 1.0, 1.2)),
              "cool cast (shade, daylight white balance indoors): red x0.8, blue x1.2"),
    ]


def _sensor() -> list[Shift]:
    out = [Shift(f"blur_{r}", "sensor", float(r), partial(blur, radius=r), f"Gaussian blur, radius {r:g} px")
           for r in (1.0, 2.0)]
    out += [Shift(f"noise_{s}", "sensor", float(s), partial(noise, sigma=s), f"Gaussian noise, sigma {s} grey levels")
            for s in (10, 20)]
    out += [Shift(f"jpeg_{q}", "sensor", float(q), partial(jpeg, quality=q), f"JPEG round trip at quality {q}")
            for q in (20, 10)]
    out.append(Shift("webcam_50px", "sensor", 50.0, partial(webcam, side=50),
                     "low-resolution webcam: the frame at 50 px, up-scaled back"))
    return out


# Flat walls from black to the mid grey where the first reference read 55%, and saturated colours.
FLAT_BACKGROUNDS = {
    "black": (0, 0, 0),
    "dark_grey": (64, 64, 64),
    "mid_grey": (128, 128, 128),
    "red": (200, 30, 30),
    "green": (30, 150, 50),
    "blue": (30, 60, 200),
}


def _background() -> list[Shift]:
    # severity of a flat wall: its mean level, 0 (black) to 1 (white)
    out = [Shift(f"bg_{name}", "background", round(sum(rgb) / 765, 2),
                 partial(replace_background, background=partial(flat_background, colour=rgb)),
                 f"the hand cut out and laid over a flat {name.replace('_', ' ')} wall RGB{rgb}", needs_mask=True)
           for name, rgb in FLAT_BACKGROUNDS.items()]
    out.append(Shift("bg_checker", "background", 8.0,
                     partial(replace_background, background=partial(
                         checker_background, colours=((70, 60, 50), (180, 170, 150)), squares=8)),
                     "the hand cut out and laid over a brown and beige checkerboard, 8 squares across",
                     needs_mask=True))
    out.append(Shift("bg_scene", "background", 1.0,
                     partial(replace_background, background=partial(scene_background, photo=SCENE_PHOTO)),
                     f"the hand cut out and laid over a window of the TEST photograph '{SCENE_PHOTO}' (clutter)",
                     needs_mask=True))
    return out


def camera_shifts() -> tuple[Shift, ...]:
    """The shift suite, in a fixed order (by family)."""
    return tuple(_geometry() + _framing() + _light() + _colour() + _sensor() + _background())


def get_shift(name: str) -> Shift:
    """Looks up one shift by name.

    Raises:
        ConfigError: unknown name.
    """
    table = {s.name: s for s in camera_shifts()}
    if name not in table:
        raise ConfigError(f"Unknown shift '{name}'; choose one of: {', '.join(table)}")
    return table[name]
