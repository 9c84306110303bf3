"""``tf.data`` input pipelines: in-memory arrays or images streamed from disk.

Augmentation runs here, on training batches only, so it never becomes part of the exported
graph. Decoding always goes through :meth:`Preprocessing.load` (Pillow), also when streaming,
so training sees exactly the pixels that evaluation and every runtime see.
"""

from __future__ import annotations

import re
from contextlib import contextmanager

import numpy as np

from asl_edge.data.dataset import ImageDataset
from asl_edge.runtime.errors import DataError
from asl_edge.training.config import AugmentSection


def augmenter(aug: AugmentSection, seed: int):
    """The Keras preprocessing layers for ``aug`` (inputs on the 0..1 scale), or ``None``."""
    from asl_edge.keras_compat import keras

    if not aug.enabled:
        return None
    layers = []
    if aug.flip:
        layers.append(keras.layers.RandomFlip("horizontal", seed=seed))
    if aug.rotation:
        layers.append(keras.layers.RandomRotation(aug.rotation, fill_mode="reflect", seed=seed + 1))
    if aug.shift:
        layers.append(keras.layers.RandomTranslation(aug.shift, aug.shift, fill_mode="reflect", seed=seed + 2))
    if aug.zoom:
        layers.append(keras.layers.RandomZoom(aug.zoom, fill_mode="reflect", seed=seed + 3))
    if aug.brightness:
        layers.append(keras.layers.RandomBrightness(aug.brightness, value_range=(0.0, 1.0), seed=seed + 4))
    if aug.contrast:
        layers.append(keras.layers.RandomContrast(aug.contrast, seed=seed + 5))
    return keras.Sequential(layers, name="augment") if layers else None


def _normalize_tf(x, preprocessing):
    # Same arithmetic, in the same order, as Preprocessing.normalize after the division by 255.
    from asl_edge.keras_compat import tf

    if preprocessing.channel_order == "bgr":
        x = x[..., ::-1]
    return (x - tf.constant(preprocessing.mean, tf.float32)) / tf.constant(preprocessing.std, tf.float32)


def make_dataset(ds: ImageDataset, batch_size: int, *, training: bool = False, aug: AugmentSection | None = None,
                 seed: int = 0, sample_weights: dict[int, float] | None = None):
    """Builds a batched ``tf.data.Dataset`` of ``(normalised image, label[, weight])``.

    Args:
        ds: the samples (in memory or streamed).
        batch_size: batch size.
        training: shuffle and augment.
        aug: augmentation settings (training only).
        seed: shuffling and augmentation seed.
        sample_weights: per-class weights, for class balancing by weight.
    """
    from asl_edge.keras_compat import tf

    pre = ds.preprocessing
    labels = ds.labels.astype(np.int64)
    if ds.streaming:
        paths = tf.data.Dataset.from_tensor_slices(list(ds.paths))

        def _load(path):
            return pre.load(path.decode())

        def _decode(path):
            img = tf.numpy_function(_load, [path], tf.uint8)
            img.set_shape(pre.input_shape)
            return img

        images = paths.map(_decode, num_parallel_calls=tf.data.AUTOTUNE)
    else:
        images = tf.data.Dataset.from_tensor_slices(ds.images)
    data = tf.data.Dataset.zip((images, tf.data.Dataset.from_tensor_slices(labels)))
    if sample_weights is not None:
        weights = np.asarray([sample_weights[int(c)] for c in labels], np.float32)
        data = tf.data.Dataset.zip((images, tf.data.Dataset.from_tensor_slices(labels),
                                    tf.data.Dataset.from_tensor_slices(weights)))
    if training:
        # Shuffle file names/indices, not decoded images, so memory stays flat when streaming.
        data = data.shuffle(min(len(ds), 10_000), seed=seed, reshuffle_each_iteration=True)
    data = data.batch(batch_size, drop_remainder=False)
    layers = augmenter(aug, seed) if training and aug is not None else None

    def _prepare(x, *rest):
        x = tf.cast(x, tf.float32) / 255.0
        if layers is not None:
            x = tf.clip_by_value(layers(x, training=True), 0.0, 1.0)
        return (_normalize_tf(x, pre), *rest)

    return data.map(_prepare, num_parallel_calls=tf.data.AUTOTUNE).prefetch(tf.data.AUTOTUNE)


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
