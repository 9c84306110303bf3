"""The built-in ``asl-digits`` data set: a compact, lossless copy shipped inside the package.

The source photographs (``../shared/datasets/asl-digits``, Apache 2.0, Mavi 2020) are 22 MB of
JPEG. The package holds each one after the first preprocessing step only, RGB resized to 64x64
with :class:`~asl_edge.runtime.preprocess.Preprocessing`, stored as lossless WebP. A model trained on it
records ``resize_chain=(64,)``, so a raw photograph given to ``evaluate`` or ``predict`` is
resized through exactly the same 64x64 pixels: no train/serve skew.

Signers are not named in the source. Each signer photographed 0, 1, ..., 9 in turn, so sorted by
file number a new signer starts where the label does not increase or the number jumps (the
source README's rule); the packed file stores that signer id per image.
"""

from __future__ import annotations

import io
import logging
import re
from pathlib import Path

import numpy as np
from PIL import Image

from asl_edge.runtime.fsutil import atomic_path
from asl_edge.runtime.preprocess import Preprocessing

log = logging.getLogger(__name__)

BUILTIN_DIR = Path(__file__).parent / "builtin"
BUILTIN_FILE = BUILTIN_DIR / "asl-digits.npz"
STORAGE_SIZE = 64
STORAGE = Preprocessing(image_size=(STORAGE_SIZE, STORAGE_SIZE), color_mode="rgb")
CLASS_NAMES = tuple(str(d) for d in range(10))
_NUMBER = re.compile(r"(\d+)")


def signer_ids(numbers: list[int], labels: list[int]) -> np.ndarray:
    """Assigns a signer id to each image from its file number and label (the source README's rule).

    Args:
        numbers: file number of each image.
        labels: digit of each image.

    Returns:
        ``int64`` signer id per image, in the input order.
    """
    order = np.argsort(numbers, kind="stable")
    ids = np.empty(len(numbers), np.int64)
    signer, prev_n, prev_label = -1, None, None
    for i in order:
        n, label = numbers[i], labels[i]
        if prev_n is None or n != prev_n + 1 or label <= prev_label:
            signer += 1
        ids[i] = signer
        prev_n, prev_label = n, label
    return ids


def pack(source_dir: str | Path, dest: str | Path = BUILTIN_FILE) -> Path:
    """Builds the compact built-in file from the original photographs.

    Args:
        source_dir: folder with ``0/ ... 9/`` of ``IMG_<n>.JPG``.
        dest: the ``.npz`` to write.

    Returns:
        The written path.
    """
    source_dir = Path(source_dir)
    files = sorted(p for d in CLASS_NAMES for p in (source_dir / d).iterdir() if not p.name.startswith("."))
    labels = [int(p.parent.name) for p in files]
    numbers = [int(_NUMBER.search(p.stem).group(1)) for p in files]
    blobs, offsets = [], [0]
    for path in files:
        buf = io.BytesIO()
        Image.fromarray(STORAGE.load(path), "RGB").save(buf, "WEBP", lossless=True, quality=100, method=6)
        blobs.append(buf.getvalue())
        offsets.append(offsets[-1] + len(blobs[-1]))
    with atomic_path(dest) as tmp:
        np.savez(
            tmp,
            blobs=np.frombuffer(b"".join(blobs), np.uint8),
            offsets=np.asarray(offsets, np.int64),
            labels=np.asarray(labels, np.int64),
            signers=signer_ids(numbers, labels),
            filenames=np.asarray([f"{p.parent.name}/{p.name}" for p in files]),
        )
    log.info("packed %d images into %s (%.1f MB)", len(files), dest, Path(dest).stat().st_size / 1e6)
    return Path(dest)


def load_builtin(preprocessing: Preprocessing) -> dict:
    """Decodes the built-in set and finishes ``preprocessing`` on it.

    Returns:
        A dict with ``images``, ``labels``, ``groups``, ``class_names`` and ``preprocessing``
        (the given one with ``resize_chain=(64,)`` recorded, whatever chain it came with: the
        stored pixels already went through that step).
    """
    from dataclasses import replace

    preprocessing = replace(preprocessing, resize_chain=(STORAGE_SIZE,))
    with np.load(BUILTIN_FILE, allow_pickle=False) as z:
        blobs, offsets = z["blobs"].tobytes(), z["offsets"]
        labels, signers = z["labels"], z["signers"]
    images = np.stack([
        preprocessing.from_array(np.asarray(Image.open(io.BytesIO(blobs[a:b])).convert("RGB")))
        for a, b in zip(offsets[:-1], offsets[1:])
    ])
    return dict(images=images, labels=labels, groups=signers, class_names=CLASS_NAMES,
                preprocessing=preprocessing)
