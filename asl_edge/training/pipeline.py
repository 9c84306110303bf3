"""``tf.data`` input pipelines: in-memory arrays or images streamed from disk.

Augmentation runs here, on training batches only, so it never becomes part of the exported
graph. It acts on the model-ready pixels (after the colour-mode conversion: the data set holds
them), on the 0..1 scale, before the normalisation; for a grayscale-input model the colour ops are
skipped, because the conversion itself removes what they would perturb. Decoding always goes
through :meth:`Preprocessing.load` (Pillow), also when streaming, so training sees exactly the
pixels that evaluation and every runtime see.
"""

from __future__ import annotations

import math
import re
from contextlib import contextmanager
from functools import partial

import numpy as np

from asl_edge.data.dataset import ImageDataset
from asl_edge.runtime.errors import ConfigError, DataError
from asl_edge.training.config import AugmentSection

BLUR_SIGMA = (0.5, 2.0)  # the range of augment.blur_prob's Gaussian, in pixels
# The antialiasing kernel's half-width: 3 sigma of the widest one, a shrink to 0.35 (sigma 1.09).
ANTIALIAS_RADIUS = 4
# augment.hand_tone: the hand's lightness gain (log-uniform) and the green and blue tint (1 +- it).
# Skin of every depth: from a little lighter than the built-in hands to about a fifth of their
# brightness (the darkest swatches of the Monk Skin Tone Scale against the built-in hands' nearest).
HAND_TONE_LIGHTNESS = (0.15, 1.3)
HAND_TONE_TINT = 0.25


def augmenter(aug: AugmentSection, seed: int, backgrounds: np.ndarray | None = None):
    """The batched augmentation for ``aug``: a function of a ``(B, H, W, C)`` float batch on the 0..1
    scale (and, for background replacement, ``mask=``: the ``(B, H, W, 1)`` hand masks, 0..1) that
    returns the augmented batch (same shape, clipped to 0..1), or ``None`` when off.

    Every transform is a vectorised TensorFlow op on the whole batch with per-image random
    parameters, in camera order: the signer (a share ``hand_tone`` of the hands in another skin tone,
    where a mask is given), the scene (a share ``background_prob`` of the hands laid over one
    of ``backgrounds``, a ``(K, H, W, C)`` ``uint8`` bank, where a mask is given), geometry (flip,
    one affine warp for rotation/shift/scale with a varied fill, the legacy Keras zoom), light
    (exposure gain, contrast, additive brightness, gamma), colour (white-balance gains, grey), then
    the sensor (blur, noise) and the encoder (JPEG).
    """
    from asl_edge.keras_compat import keras, tf

    if not aug.enabled:
        return None
    zoom = keras.layers.RandomZoom(aug.zoom, fill_mode="reflect", seed=seed + 3) if aug.zoom else None
    bank = tf.constant(backgrounds) if backgrounds is not None and aug.background_prob else None

    def apply(x, mask=None):
        if mask is not None:
            x = _hand_and_background(x, mask, bank, aug)
        x = _geometry(x, aug)
        if zoom is not None:
            x = zoom(x, training=True)
        x = _photometric(x, aug)
        x = _sensor(x, aug)
        from asl_edge.keras_compat import tf

        return tf.clip_by_value(x, 0.0, 1.0)

    return apply


def _uniform(n, low, high):
    from asl_edge.keras_compat import tf

    return tf.random.uniform([n], low, high)


def _per_image(v):
    return v[:, None, None, None]


def _chosen(n, prob):
    """A ``(B,)`` bool: which images of the batch get a transform applied with probability ``prob``."""
    return _uniform(n, 0.0, 1.0) < prob


def _pick(chosen, new, old):
    """Per image, ``new`` where ``chosen`` else ``old``, as arithmetic: a ``tf.where`` that
    broadcasts a per-image condition over the pixels took several times longer on the 2-core CPU
    (TF 2.21), and the augmentation shares those cores with the training step."""
    from asl_edge.keras_compat import tf

    return old + _per_image(tf.cast(chosen, old.dtype)) * (new - old)


def _on_chosen(chosen, transform, x):
    """``transform`` applied only to the ``chosen`` images of ``x`` (the rest pass through): the
    expensive sensor and encoder transforms touch a share of the batch, so they run on that share."""
    from asl_edge.keras_compat import tf

    where = tf.where(chosen)
    # none chosen: skipped (on an empty batch, depthwise_conv2d gave a wrongly shaped output, TF 2.21)
    return tf.cond(tf.shape(where)[0] > 0,
                   lambda: tf.tensor_scatter_nd_update(x, where, transform(tf.gather_nd(x, where))),
                   lambda: x)


def _hand_and_background(x, mask, bank, aug: AugmentSection):
    """The signer, then the scene: a share ``hand_tone`` of the hands in another skin tone, a share
    ``background_prob`` laid over ``bank``; with ``hand_tone_kept_background`` the two shares fall on
    different images (only hands whose background stays are toned)."""
    from asl_edge.keras_compat import tf

    # Drawn ahead only when the shares must not overlap: otherwise each transform draws its own share
    # where it always did, so the recipes without the option keep their random stream.
    replaced = None
    if bank is not None and aug.hand_tone and aug.hand_tone_kept_background:
        replaced = _chosen(tf.shape(x)[0], aug.background_prob)
    if aug.hand_tone:
        x = _hand_tone(x, mask, aug.hand_tone, spare=replaced)
    if bank is not None:
        x = _replace_background(x, mask, bank, aug.background_prob, chosen=replaced)
    return x


def _hand_tone(x, mask, prob: float, spare=None):
    """A share ``prob`` of the images (none of the ``(B,)`` bool ``spare``): the hand (``mask``) in
    another skin tone, each channel times the image's lightness gain and green and blue times their
    own tint (:data:`HAND_TONE_LIGHTNESS`, :data:`HAND_TONE_TINT`); off the mask the pixels stay as
    they were. Grey inputs get the lightness alone."""
    from asl_edge.keras_compat import tf

    n = tf.shape(x)[0]
    low, high = HAND_TONE_LIGHTNESS
    lightness = tf.exp(_uniform(n, math.log(low), math.log(high)))
    gains = lightness[:, None] * tf.ones([1, x.shape[-1]])
    if x.shape[-1] == 3:
        tint = tf.random.uniform(tf.stack([n, 2]), 1.0 - HAND_TONE_TINT, 1.0 + HAND_TONE_TINT)
        gains = gains * tf.concat([tf.ones([n, 1]), tint], axis=1)
    toned = x * (1.0 - mask) + tf.clip_by_value(x * gains[:, None, None, :], 0.0, 1.0) * mask
    chosen = _chosen(n, prob)
    return _pick(chosen if spare is None else chosen & ~spare, toned, x)


def _replace_background(x, mask, bank, prob: float, chosen=None):
    """A share ``prob`` of the images (or the ``(B,)`` bool ``chosen``): ``mask * x + (1 - mask) *
    background``, each background a random one of ``bank`` (``uint8``), mirrored and flipped at
    random. Where the mask is 1 the pixels are the image's own, exactly."""
    from asl_edge.keras_compat import tf

    n = tf.shape(x)[0]
    bg = tf.cast(tf.gather(bank, tf.random.uniform([n], 0, tf.shape(bank)[0], dtype=tf.int32)), x.dtype) / 255.0
    bg = _pick(_chosen(n, 0.5), tf.reverse(bg, axis=[2]), bg)
    bg = _pick(_chosen(n, 0.5), tf.reverse(bg, axis=[1]), bg)
    return _pick(_chosen(n, prob) if chosen is None else chosen, mask * x + (1.0 - mask) * bg, x)


def uses_masks(aug: AugmentSection) -> bool:
    """Whether ``aug`` cuts the hand out of its picture (background replacement or another skin tone)."""
    return aug.background_prob > 0 or aug.hand_tone > 0


def training_masks(ds: ImageDataset, aug: AugmentSection) -> np.ndarray:
    """The hand masks of ``ds``'s images for background replacement and skin tones: ``(N, H, W, 1)`` ``uint8``
    0..255, feathered by ``aug.background_feather`` (computed once per data set and cached,
    :mod:`asl_edge.data.masks`).

    Raises:
        DataError: a streamed data set (the masks need every image in memory).
    """
    from PIL import Image, ImageFilter

    from asl_edge.data.masks import hand_masks

    if ds.streaming:
        raise DataError("augment.background_prob and augment.hand_tone need the images in memory (hand masks): "
                        "set data.stream=false, or both to 0")
    images = ds.load_images()
    if images.shape[-1] == 1:  # a grayscale-input model: the hand models read the grey as RGB
        images = np.repeat(images, 3, axis=-1)
    masks = hand_masks(images).masks * np.uint8(255)
    if aug.background_feather > 0:
        blur = ImageFilter.GaussianBlur(aug.background_feather)
        masks = np.stack([np.asarray(Image.fromarray(m, "L").filter(blur)) for m in masks])
    return masks[..., None]


def training_backgrounds(ds: ImageDataset, aug: AugmentSection, seed: int) -> np.ndarray:
    """The bank of training backgrounds at ``ds``'s input size and channels (grey as luma)."""
    from asl_edge.training.backgrounds import background_bank

    h, w, c = ds.preprocessing.input_shape
    bank = background_bank(aug.backgrounds, h, w, seed, aug.background_bank)
    if c == 1:
        bank = np.round(bank @ np.array([0.299, 0.587, 0.114]))[..., None].astype(np.uint8)
    return bank


def _geometry(x, aug: AugmentSection):
    from asl_edge.keras_compat import tf

    n = tf.shape(x)[0]
    if aug.flip:
        x = _pick(_chosen(n, 0.5), tf.reverse(x, axis=[2]), x)
    if not (aug.rotation or aug.shift or aug.scale_min < 1.0 or aug.scale_max > 1.0):
        return x
    h = tf.cast(tf.shape(x)[1], tf.float32)
    w = tf.cast(tf.shape(x)[2], tf.float32)
    angle = _uniform(n, -1.0, 1.0) * (aug.rotation * 2.0 * math.pi)
    scale = tf.ones([n])
    if aug.scale_min < 1.0 or aug.scale_max > 1.0:
        if aug.scale_log:  # halving the size as likely as doubling it: more small hands
            drawn = tf.exp(_uniform(n, math.log(aug.scale_min), math.log(aug.scale_max)))
        else:
            drawn = _uniform(n, aug.scale_min, aug.scale_max)
        scale = tf.where(_chosen(n, aug.scale_prob), drawn, scale)
        if aug.scale_antialias:
            x = _antialias(x, scale)
    tx = _uniform(n, -1.0, 1.0) * aug.shift * w
    ty = _uniform(n, -1.0, 1.0) * aug.shift * h
    # The output pixel p maps to the input pixel R(-angle)(p - c - t) / scale + c.
    cx, cy = (w - 1.0) / 2.0, (h - 1.0) / 2.0
    cos, sin, k = tf.cos(angle), tf.sin(angle), 1.0 / scale
    a0, a1, b0, b1 = k * cos, k * sin, -k * sin, k * cos
    ox, oy = cx + tx, cy + ty
    transforms = tf.stack(
        [a0, a1, cx - a0 * ox - a1 * oy, b0, b1, cy - b0 * ox - b1 * oy, tf.zeros([n]), tf.zeros([n])], axis=1
    )

    # One warp of the image with a constant alpha channel: where alpha falls below 1 the output
    # left the frame, and the fill shows through.
    warped = tf.raw_ops.ImageProjectiveTransformV3(
        images=tf.concat([x, tf.ones_like(x[..., :1])], axis=-1),
        transforms=transforms,
        output_shape=tf.shape(x)[1:3],
        fill_value=0.0,
        interpolation="BILINEAR",
        fill_mode="CONSTANT",
    )
    border = tf.concat([x[:, 0], x[:, -1], x[:, :, 0], x[:, :, -1]], axis=1)  # (B, 2H+2W, C)
    fill = tf.reduce_mean(border, axis=1)
    random_fill = tf.random.uniform(tf.shape(fill))
    fill = tf.where(_chosen(n, 0.5)[:, None], fill, random_fill)
    return warped[..., :-1] + (1.0 - warped[..., -1:]) * fill[:, None, None, :]


def _antialias(x, scale):
    """Each image of ``x`` low-passed for its shrink by ``scale`` (images at ``scale >= 1`` unchanged).

    Pillow's bilinear resize by ``1/k`` averages over a triangle of half-width ``k`` input pixels
    (variance ``k**2 / 6``); the warp's bilinear sampling is a triangle of half-width 1 (variance
    ``1 / 6``). A Gaussian of the missing variance, ``(k**2 - 1) / 6``, before the warp gives the
    shrunk image the smoothness of a resized one. Each image has its own kernel: the batch is
    stacked along the channels, so that one depthwise convolution filters every image at once.
    """
    from asl_edge.keras_compat import tf

    k = 1.0 / scale
    sigma = tf.sqrt(tf.maximum(k * k - 1.0, 0.0) / 6.0)  # (B,); 0 for an image that is not shrunk
    radius = ANTIALIAS_RADIUS
    t = tf.range(-radius, radius + 1, dtype=tf.float32)
    kernel = tf.exp(-0.5 * tf.square(t[None, :] / tf.maximum(sigma, 1e-3)[:, None]))  # sigma 0: a unit impulse
    kernel = kernel / tf.reduce_sum(kernel, axis=1, keepdims=True)  # (B, taps)
    shape = tf.shape(x)
    n, h, w, c = shape[0], shape[1], shape[2], shape[3]
    stacked = tf.reshape(tf.transpose(x, [1, 2, 0, 3]), tf.stack([1, h, w, n * c]))  # channel b*c + j
    out = _separable_filter(stacked, tf.transpose(tf.repeat(kernel, c, axis=0)), radius)  # kernel: (taps, B*C)
    return tf.ensure_shape(tf.transpose(tf.reshape(out, tf.stack([h, w, n, c])), [2, 0, 1, 3]), x.shape)


def _separable_filter(x, kernel, radius: int):
    """``x`` (``(B, H, W, C)``) filtered along columns, then rows, by ``kernel`` (``(taps, C)``: one
    1-D kernel of ``2 * radius + 1`` taps per channel), the borders mirrored."""
    from asl_edge.keras_compat import tf

    padded = tf.pad(x, [[0, 0], [radius, radius], [radius, radius], [0, 0]], mode="SYMMETRIC")
    along_x = tf.nn.depthwise_conv2d(padded, kernel[None, :, :, None], [1, 1, 1, 1], "VALID")
    return tf.nn.depthwise_conv2d(along_x, kernel[:, None, :, None], [1, 1, 1, 1], "VALID")


def _photometric(x, aug: AugmentSection):
    from asl_edge.keras_compat import tf

    n = tf.shape(x)[0]
    if aug.exposure > 1.0:
        x = tf.clip_by_value(x * _per_image(tf.exp(_uniform(n, -1.0, 1.0) * math.log(aug.exposure))), 0.0, 1.0)
    if aug.contrast:
        mean = tf.reduce_mean(x, axis=[1, 2], keepdims=True)
        x = tf.clip_by_value(
            (x - mean) * _per_image(_uniform(n, 1.0 - aug.contrast, 1.0 + aug.contrast)) + mean, 0.0, 1.0
        )
    if aug.brightness:
        x = tf.clip_by_value(x + _per_image(_uniform(n, -aug.brightness, aug.brightness)), 0.0, 1.0)
    if aug.gamma > 1.0:
        # x ** g as exp(g * log x): the same curve, several times faster than tf.pow on the 2-core CPU
        # (TF 2.21); 0 maps to less than 1e-3.
        x = tf.exp(tf.math.log(tf.maximum(x, 1e-6)) * _per_image(tf.exp(_uniform(n, -1.0, 1.0) * math.log(aug.gamma))))
    if x.shape[-1] == 3:
        if aug.color_gain:
            gains = tf.random.uniform(tf.stack([n, 3]), 1.0 - aug.color_gain, 1.0 + aug.color_gain)
            x = tf.clip_by_value(x * gains[:, None, None, :], 0.0, 1.0)
        if aug.grayscale_prob:
            luma = tf.reduce_sum(x * tf.constant([0.299, 0.587, 0.114]), axis=-1, keepdims=True)
            x = _pick(_chosen(n, aug.grayscale_prob), luma, x)  # luma broadcasts over the channels
    return x


def _gaussian_kernel(sigma, radius: int):
    from asl_edge.keras_compat import tf

    t = tf.range(-radius, radius + 1, dtype=tf.float32)
    k = tf.exp(-0.5 * tf.square(t / sigma))
    return k / tf.reduce_sum(k)


def _sensor(x, aug: AugmentSection):
    from asl_edge.keras_compat import tf

    n = tf.shape(x)[0]
    if aug.blur_prob:
        x = _on_chosen(_chosen(n, aug.blur_prob), _blur, x)
    if aug.noise:
        x = x + tf.random.normal(tf.shape(x)) * _per_image(_uniform(n, 0.0, aug.noise))
    if aug.jpeg_prob:
        x = tf.clip_by_value(x, 0.0, 1.0)  # the encoder sees 8-bit pixels
        x = _on_chosen(_chosen(n, aug.jpeg_prob), partial(_jpeg, min_quality=aug.jpeg_min_quality), x)
    return x


def _blur(x):
    """A Gaussian blur of one random sigma in 0.5-2 pixels (per batch) over a ``(B, H, W, C)`` batch.

    The kernel reaches 3 sigma of the widest blur (13 taps); the 7 taps it had before cut a sigma-2
    Gaussian at 1.5 sigma, a milder blur than the suite's ``blur_2.0`` (Pillow's) and a camera's.
    """
    from asl_edge.keras_compat import tf

    radius = min([math.ceil(3 * BLUR_SIGMA[1])] + [side - 1 for side in x.shape[1:3] if side])
    k = _gaussian_kernel(tf.random.uniform([], *BLUR_SIGMA), radius)
    return _separable_filter(x, tf.tile(k[:, None], [1, x.shape[-1]]), radius)


def _jpeg(x, min_quality: int):
    """A JPEG round trip per image, each at its own quality in ``[min_quality, 95]``."""
    from asl_edge.keras_compat import tf

    quality = tf.random.uniform(tf.shape(x)[:1], min_quality, 96, dtype=tf.int32)
    return tf.map_fn(lambda a: tf.image.adjust_jpeg_quality(a[0], a[1]), (x, quality), fn_output_signature=tf.float32)


def _normalize_tf(x, preprocessing):
    # Same arithmetic, in the same order, as Preprocessing.normalize after the division by 255.
    from asl_edge.keras_compat import tf
    from asl_edge.runtime.preprocess import PER_IMAGE_MIN_STD

    if preprocessing.channel_order == "bgr":
        x = x[..., ::-1]
    x = (x - tf.constant(preprocessing.mean, tf.float32)) / tf.constant(preprocessing.std, tf.float32)
    if preprocessing.normalization == "per_image":
        centred = x - tf.reduce_mean(x, axis=[-3, -2, -1], keepdims=True)
        spread = tf.sqrt(tf.reduce_mean(tf.square(centred), axis=[-3, -2, -1], keepdims=True))
        x = centred / tf.maximum(spread, PER_IMAGE_MIN_STD)
    return x


def make_dataset(
    ds: ImageDataset,
    batch_size: int,
    *,
    training: bool = False,
    aug: AugmentSection | None = None,
    seed: int = 0,
    sample_weights: dict[int, float] | None = None,
    pairs: bool = False,
):
    """Builds a batched ``tf.data.Dataset`` of ``(normalised image, label[, weight])``.

    Args:
        ds: the samples (in memory or streamed).
        batch_size: batch size.
        training: shuffle and augment.
        aug: augmentation settings (training only).
        seed: shuffling and augmentation seed.
        sample_weights: per-class weights, for class balancing by weight.
        pairs: each batch of ``B`` images augmented twice and stacked, ``2B`` rows, row ``i + B`` the
            other copy of row ``i`` (:mod:`asl_edge.training.consistency`; training with
            augmentation only).
    """
    from asl_edge.keras_compat import tf

    pre = ds.preprocessing
    if pairs and (pre.landmarks is not None or not (training and aug is not None and aug.enabled)):
        raise ConfigError("paired batches are two augmentations of each image: they need training with "
                          "augmentation, of an image model")
    if pre.landmarks is not None:
        return _landmark_dataset(ds, batch_size, training, aug, seed, sample_weights)
    labels = ds.labels.astype(np.int64)
    images = _image_source(ds)
    with_masks = training and aug is not None and aug.enabled and uses_masks(aug)
    backgrounds = None
    if with_masks:  # each image travels with its hand mask
        backgrounds = training_backgrounds(ds, aug, seed) if aug.background_prob > 0 else None
        images = tf.data.Dataset.zip((images, tf.data.Dataset.from_tensor_slices(training_masks(ds, aug))))
    data = tf.data.Dataset.zip((images, tf.data.Dataset.from_tensor_slices(labels)))
    if sample_weights is not None:
        weights = np.asarray([sample_weights[int(c)] for c in labels], np.float32)
        data = tf.data.Dataset.zip(
            (images, tf.data.Dataset.from_tensor_slices(labels), tf.data.Dataset.from_tensor_slices(weights))
        )
    if training:
        # Shuffle file names/indices, not decoded images, so memory stays flat when streaming.
        data = data.shuffle(min(len(ds), 10_000), seed=seed, reshuffle_each_iteration=True)
    data = data.batch(batch_size, drop_remainder=False)
    layers = augmenter(aug, seed, backgrounds) if training and aug is not None else None
    return data.map(_batch_step(pre, layers, with_masks, pairs),
                    num_parallel_calls=tf.data.AUTOTUNE).prefetch(tf.data.AUTOTUNE)


def _batch_step(pre, layers, with_masks: bool, pairs: bool):
    """What :func:`make_dataset` does to each batch: scaled to 0..1, augmented by ``layers`` (with the
    masks where the images travel with them; twice, stacked, for ``pairs``), normalised."""
    from asl_edge.keras_compat import tf

    def augment(x, mask):
        return x if layers is None else layers(x) if mask is None else layers(x, mask=mask)

    def step(x, *rest):
        x, mask = x if with_masks else (x, None)
        x = tf.cast(x, tf.float32) / 255.0
        mask = None if mask is None else tf.cast(mask, tf.float32) / 255.0
        if pairs:
            return (_normalize_tf(tf.concat([augment(x, mask), augment(x, mask)], 0), pre),
                    *(tf.concat([r, r], 0) for r in rest))
        return (_normalize_tf(augment(x, mask), pre), *rest)

    return step


def _image_source(ds: ImageDataset):
    """The uint8 images of ``ds`` as a ``tf.data.Dataset``: decoded from their files as they are
    read when ``ds`` streams, else sliced from the array in memory."""
    from asl_edge.keras_compat import tf

    pre = ds.preprocessing
    if not ds.streaming:
        return tf.data.Dataset.from_tensor_slices(ds.images)
    paths = tf.data.Dataset.from_tensor_slices(list(ds.paths))

    def _load(path):
        return pre.load(path.decode())

    def _decode(path):
        img = tf.numpy_function(_load, [path], tf.uint8)
        img.set_shape(pre.input_shape)
        return img

    return paths.map(_decode, num_parallel_calls=tf.data.AUTOTUNE)


def _landmark_dataset(ds: ImageDataset, batch_size: int, training: bool, aug: AugmentSection | None, seed: int,
                      sample_weights: dict[int, float] | None):
    """:func:`make_dataset` of a landmark model: ``ds`` holds ``(N, 21, 3)`` landmarks; each batch is
    augmented (training) and turned into features by the runtime's own NumPy code."""
    from asl_edge.keras_compat import tf
    from asl_edge.training.landmark_augment import augment_landmarks

    pre = ds.preprocessing
    parts = [ds.load_images().astype(np.float32), ds.labels.astype(np.int64)]
    if sample_weights is not None:
        parts.append(np.asarray([sample_weights[int(c)] for c in ds.labels], np.float32))
    data = tf.data.Dataset.from_tensor_slices(tuple(parts))
    if training:
        data = data.shuffle(len(ds), seed=seed, reshuffle_each_iteration=True)
    data = data.batch(batch_size, drop_remainder=False)
    rng = np.random.default_rng(seed)
    augment = training and aug is not None and aug.enabled

    def features(points):
        return pre.normalize(augment_landmarks(points, aug, rng) if augment else points)

    def _prepare(x, *rest):
        f = tf.numpy_function(features, [x], tf.float32)
        f.set_shape([None, *pre.input_shape])
        return (f, *rest)

    return data.map(_prepare).prefetch(tf.data.AUTOTUNE)


@contextmanager
def streamed_decode_errors(advice: str):
    """Turns a streamed image that fails to decode inside ``tf.data`` back into its one-line DataError.

    TensorFlow wraps the Python exception of a ``tf.numpy_function`` in an ``OpError`` whose
    message holds the original one; without this a user sees "UnknownError: Graph execution error".

    Args:
        advice: what to do next, appended to the message.
    """
    from asl_edge.keras_compat import tf

    try:
        yield
    except tf.errors.OpError as exc:
        match = re.search(r"DataError: ([^\n]+)", str(exc))
        if match is None:
            raise
        raise DataError(f"{match.group(1)}; {advice}") from None
