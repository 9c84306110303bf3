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
        check_class_names(self.class_names, self.source)

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


def check_class_names(names, source: str) -> tuple[str, ...]:
    """Refuses class names a run could not use: each becomes one line of ``labels.txt`` and an
    artifact's label list, is printed in tables, and names a class folder.

    Raises:
        DataError: one line naming the class: an empty or blank name, one with leading or trailing
            blanks (``labels.txt`` would read it back stripped), control characters or a newline,
            more than 200 characters, or two classes with the same name.
    """
    from asl_edge.runtime.fsutil import printable
    from asl_edge.runtime.validate import MAX_LABEL_CHARS, MAX_LABELS

    where = printable(source)
    if not 1 <= len(names) <= MAX_LABELS:
        raise DataError(f"{where}: {len(names)} classes (at most {MAX_LABELS})")
    seen: dict[str, int] = {}
    for i, name in enumerate(names):
        shown = printable(repr(name))
        if not isinstance(name, str) or not name.strip():
            raise DataError(f"{where}: class {i} has an empty or blank name ({shown}): name every class")
        if not name.isprintable():
            raise DataError(f"{where}: class {i} name {shown} holds a newline or control characters: rename it")
        if name != name.strip():
            raise DataError(f"{where}: class {i} name {shown} starts or ends with blanks: rename it")
        if len(name) > MAX_LABEL_CHARS:
            raise DataError(f"{where}: class {i} name is longer than {MAX_LABEL_CHARS} characters")
        if name in seen:
            raise DataError(f"{where}: classes {seen[name]} and {i} have the same name {shown}: names must differ")
        seen[name] = i
    return tuple(names)
