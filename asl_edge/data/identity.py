"""The identity of a held-out split, carried by every run and artifact, and the data it names.

A split is identified by its data source, a fingerprint of that data, the method and seed that
chose it, and the indices of its test images. Training records it in ``split.json``; export
embeds it in every artifact (metadata entry ``asl_edge.split``), so that ``evaluate`` and
``benchmark`` score a file copied on its own on exactly the images it was held out on, and can
tell when the images they were asked to use include its training images.

Fingerprints:

- a file (the built-in ``.npz``, any ``.npz`` or ``.csv``): ``sha256:<hex>`` of its bytes;
- a folder tree: ``files-sha256:<hex>`` over the sorted list of ``relative path<TAB>size`` lines;
- with a groups file, its sha256 is folded in (it decides which images are held out).
"""

from __future__ import annotations

import hashlib
import logging
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from asl_edge.data.dataset import ImageDataset
from asl_edge.data.loaders import BUILTIN, BUILTIN_ALIASES, _list_paths, check_recorded_source, load_dataset
from asl_edge.runtime.errors import DataError
from asl_edge.runtime.fsutil import sha256_file
from asl_edge.runtime.preprocess import Preprocessing

log = logging.getLogger(__name__)

#: the artifact metadata entry (``asl_edge.split``) and ``split.json`` keys of an identity
IDENTITY_KEYS = ("source", "groups_file", "fingerprint", "method", "seed", "sizes", "test")


def data_fingerprint(source: str | os.PathLike, groups_file: str | os.PathLike | None = None) -> str:
    """A fingerprint of the data ``source`` names (see the module docstring).

    Raises:
        DataError: the source does not exist.
    """
    source = str(source)
    if source in BUILTIN_ALIASES:
        from asl_edge.data.builtin import BUILTIN_FILE

        out = f"sha256:{sha256_file(BUILTIN_FILE)}"
    else:
        path = Path(source)
        if path.is_file():
            out = f"sha256:{sha256_file(path)}"
        elif path.is_dir():
            digest = hashlib.sha256()
            for f in sorted(_list_paths(path)):
                digest.update(f"{Path(f).relative_to(path).as_posix()}\t{Path(f).stat().st_size}\n".encode())
            out = f"files-sha256:{digest.hexdigest()}"
        else:
            raise DataError(f"data not found: {source}")
    if groups_file is not None:
        out = f"{out}+groups-sha256:{sha256_file(groups_file)}"
    return out


def split_identity(record: dict, fingerprint: str | None = None) -> dict:
    """The identity of the test part of a split record (``split.json`` or ``Split.to_dict`` plus
    ``source``/``groups_file``): what :func:`held_out` needs to reload exactly those images.

    Args:
        record: the split record.
        fingerprint: the data's fingerprint when the record lacks one (runs trained before it
            was recorded); ``None`` computes it now when the source is reachable.
    """
    source = BUILTIN if record["source"] in BUILTIN_ALIASES else str(record["source"])
    fp = record.get("fingerprint") or fingerprint
    if fp is None:
        try:
            check_recorded_source(source)
            fp = data_fingerprint(source, record.get("groups_file"))
        except (DataError, OSError):
            fp = None
    test = [int(i) for i in record["test"]]
    return {"source": source, "groups_file": record.get("groups_file"), "fingerprint": fp,
            "method": record["method"], "seed": record["seed"],
            "sizes": record.get("sizes") or {"test": len(test)}, "test": test}


def held_out_name(identity: dict) -> str:
    """``held-out signers of builtin`` (or ``held-out images of <source>`` for an image-level split)."""
    who = "signers" if "signer" in identity["method"] else "images"
    return f"held-out {who} of {identity['source']}"


@dataclass(frozen=True)
class EvalData:
    """The images a score is measured on, and what they are.

    Attributes:
        dataset: the images.
        description: e.g. ``held-out signers of builtin: 267 images``; printed beside every score.
        includes_training_images: ``True`` when the images include the model's training images,
            ``False`` when they do not, ``None`` when that cannot be known (the model records no
            split).
        warning: one line for stderr when the score is not a held-out figure, else ``None``.
    """

    dataset: ImageDataset
    description: str
    includes_training_images: bool | None
    warning: str | None = None

    def to_dict(self) -> dict:
        return {"data": self.description, "num_samples": len(self.dataset),
                "includes_training_images": self.includes_training_images}


def held_out(identity: dict, preprocessing: Preprocessing, stream: bool | None = None) -> ImageDataset:
    """The test images an identity names, loaded with ``preprocessing``.

    Raises:
        DataError: the source is not reachable here, or its data is not the data the split was
            made on (another fingerprint).
    """
    check_recorded_source(identity["source"])  # named by a file anyone can write: not walked blindly
    fp = data_fingerprint(identity["source"], identity.get("groups_file"))
    if identity.get("fingerprint") and fp != identity["fingerprint"]:
        raise DataError(f"{identity['source']} is not the data this model's split was made on "
                        f"(fingerprint {fp[:20]}..., recorded {identity['fingerprint'][:20]}...)")
    ds = load_dataset(identity["source"], preprocessing, groups_file=identity.get("groups_file"), stream=stream)
    test = np.asarray(identity["test"], np.int64)
    if len(test) and test.max() >= len(ds):
        raise DataError(f"{identity['source']} has {len(ds)} images; the split names image {int(test.max())}")
    return ds.subset(test)


def eval_data(preprocessing: Preprocessing, identity: dict | None, data: str | None = None,
              stream: bool | None = None) -> EvalData:
    """The images to score a model on, by default exactly its held-out split.

    Args:
        preprocessing: the model's own preprocessing.
        identity: the model's split identity (:func:`split_identity`), or ``None`` when it
            records none.
        data: a data source chosen by the user; scored whole.
        stream: stream folder trees from disk.

    Returns:
        The images with a description naming the data and the count; ``includes_training_images``
        and a warning say when the score is not a held-out figure. Without ``data`` and without a
        reloadable split of the built-in set, the whole built-in set, said so.

    Raises:
        DataError: the held-out split is of another data set that is not reachable here (or has
            changed) and no ``data`` was given.
    """
    if data is not None:
        ds = load_dataset(data, preprocessing, stream=stream)
        includes = None
        if identity is not None and identity.get("fingerprint"):
            try:
                includes = data_fingerprint(data) == identity["fingerprint"].split("+groups")[0]
            except (DataError, OSError):
                includes = None
        text = f"all of {data}: {len(ds)} images"
        if includes:
            return EvalData(ds, f"{text}, including the model's training images", True,
                            f"WARNING: {text} include the images the model was trained on; this is not a "
                            f"held-out score (leave out --data to score {held_out_name(identity)})")
        if includes is None:
            return EvalData(ds, text, None, f"WARNING: the model records no held-out split; {text} may include "
                                            "images it was trained on")
        return EvalData(ds, text, False)
    if identity is not None:
        try:
            ds = held_out(identity, preprocessing, stream)
            return EvalData(ds, f"{held_out_name(identity)}: {len(ds)} images", False)
        except DataError as exc:
            why = f"its held-out split cannot be reloaded here ({exc})"
            if identity["source"] != BUILTIN:  # another data set's labels: the built-in one cannot stand in
                raise DataError(f"{why}: pass --data to choose the images to score") from None
    else:
        why = "the model records no held-out split"
    ds = load_dataset(BUILTIN, preprocessing, stream=stream)
    text = f"all of {BUILTIN}: {len(ds)} images"
    return EvalData(ds, f"{text} (not a held-out split: {why})", None,
                    f"WARNING: {why}; scored on {text}, which may include images it was trained on")
