"""The in-memory (or on-disk, for streaming) labelled image set every stage works on."""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from asl_edge.runtime.errors import DataError
from asl_edge.runtime.preprocess import Preprocessing


@dataclass(frozen=True)
class ImageDataset:
    """Labelled images plus what is known about who is in them.

    Exactly one of ``images`` (``uint8``, ``(N, H, W, C)`` at ``preprocessing.input_shape``) and
    ``paths`` (raw files, decoded lazily with ``preprocessing`` when streaming) is set.

    Attributes:
        labels: ``int64`` class index per sample.
        class_names: name of each class index.
        groups: signer (or other group) id per sample, or ``None`` when unknown.
        source: where the data came from (``builtin`` or a path), recorded with models.
        preprocessing: how raw images become model inputs.
    """

    labels: np.ndarray
    class_names: tuple[str, ...]
    preprocessing: Preprocessing
    source: str
    images: np.ndarray | None = None
    paths: tuple[str, ...] | None = None
    groups: np.ndarray | None = None

    def __post_init__(self):
        if (self.images is None) == (self.paths is None):
            raise ValueError("exactly one of images and paths must be set")
        n = len(self.labels)
        if n == 0:
            raise DataError(f"no images found in {self.source}")
        if self.groups is not None and len(self.groups) != n:
            raise DataError(f"{self.source}: {len(self.groups)} group ids for {n} images")
        present = np.unique(self.labels)
        if len(present) < 2:
            raise DataError(f"{self.source} holds only one class; a classifier needs at least two")

    def __len__(self) -> int:
        return len(self.labels)

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    @property
    def streaming(self) -> bool:
        return self.images is None

    def subset(self, index: np.ndarray) -> ImageDataset:
        """Returns the samples at ``index`` (which may repeat, for oversampling)."""
        index = np.asarray(index)
        return replace(
            self,
            labels=self.labels[index],
            images=None if self.images is None else self.images[index],
            paths=None if self.paths is None else tuple(self.paths[i] for i in index),
            groups=None if self.groups is None else self.groups[index],
        )

    def load_images(self, index: np.ndarray | None = None) -> np.ndarray:
        """Returns ``uint8`` pixels for ``index`` (all by default), decoding files if streaming."""
        index = np.arange(len(self)) if index is None else np.asarray(index)
        if self.images is not None:
            return self.images[index]
        return np.stack([self.preprocessing.load(self.paths[i]) for i in index])
