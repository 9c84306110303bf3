"""Loaders for the data users already have, chosen by what ``--data`` points at.

- ``builtin`` (or ``asl-digits``): the packaged ASL digits, with signer ids.
- a folder with one sub-folder per class (the ASL Alphabet layout), any format Pillow opens;
  above :data:`STREAM_THRESHOLD` images it is streamed from disk instead of held in memory.
- a ``.csv`` in the Sign Language MNIST layout (``label,pixel1..pixel784``; 24 letters, J and Z
  absent because they need motion), read in chunks straight into one ``uint8`` array.
- a ``.npz`` with ``images`` (or ``x``) and ``labels`` (or ``y``), optional ``class_names`` and
  ``groups``; loaded with ``allow_pickle=False``.

A groups file (CSV ``path,group``; the path relative to the data folder, or a row index for CSV
and npz) gives the signer of each image for data sets that do not carry it.
"""

from __future__ import annotations

import csv
import io
import itertools
import logging
import os
import string
import warnings
import zipfile
import zlib
from pathlib import Path

import numpy as np

from asl_edge.data.dataset import ImageDataset
from asl_edge.runtime.errors import DataError
from asl_edge.runtime.fsutil import printable
from asl_edge.runtime.preprocess import IMAGE_SUFFIXES, Preprocessing

log = logging.getLogger(__name__)

BUILTIN = "builtin"
BUILTIN_ALIASES = {BUILTIN, "asl-digits"}
STREAM_THRESHOLD = 20_000
_JUNK = {"thumbs.db", "desktop.ini"}
# Sign Language MNIST labels are 0..25 for A..Z with 9 (J) and 25 (Z) never present.
SIGN_MNIST_LETTERS = tuple(c for c in string.ascii_uppercase if c not in "JZ")
SIGN_MNIST_LABELS = tuple(i for i in range(26) if i not in (9, 25))
MAX_GROUPS_BYTES = 256 << 20  # one "path,signer" line per image: millions of images


def load_dataset(
    source: str | os.PathLike,
    preprocessing: Preprocessing,
    groups_file: str | os.PathLike | None = None,
    stream: bool | None = None,
) -> ImageDataset:
    """Loads a labelled image set.

    Args:
        source: ``builtin``, a class-per-folder tree, a Sign Language MNIST ``.csv`` or a ``.npz``.
        preprocessing: how raw images become model inputs.
        groups_file: optional CSV naming the signer of each image.
        stream: stream images from disk (folders only); ``None`` decides by size.

    Raises:
        DataError: the source is missing, empty, has one class, or holds a bad file.
    """
    source = str(source)
    if source in BUILTIN_ALIASES:
        from asl_edge.data.builtin import load_builtin

        ds = ImageDataset(source=BUILTIN, **load_builtin(preprocessing))
    else:
        path = Path(source)
        if not path.exists():
            raise DataError(f"data not found: {printable(source)}")
        if not path.is_dir():
            from asl_edge.runtime.fsutil import require_regular_file

            require_regular_file(path, DataError, "data file")  # a FIFO or device would hang the read
        if path.is_dir():
            ds = load_folder(path, preprocessing, stream)
        elif path.suffix.lower() == ".csv":
            ds = load_sign_mnist_csv(path, preprocessing)
        elif path.suffix.lower() == ".npz":
            ds = load_npz(path, preprocessing)
        else:
            raise DataError(f"unsupported data '{source}': give 'builtin', a class-per-folder tree, a .csv or a .npz")
    if groups_file is not None:
        ds = _with_groups(ds, Path(groups_file), Path(source))
    log.info("loaded %d images in %d classes from %s%s", len(ds), ds.num_classes, ds.source,
             " (streaming from disk)" if ds.streaming else "")
    return ds


def _is_regular(path: Path) -> bool:
    import stat

    try:
        return stat.S_ISREG(os.stat(path).st_mode)
    except OSError:
        return False


# A class-per-folder tree is walked to list its images, also when its path comes from an artifact's
# metadata (its held-out split), which anyone can write: "/" would walk the whole file system. The
# walk stays on the tree's own file system (as ``find -xdev``: not /proc, /sys, mounts), at most
# MAX_FOLDER_DEPTH folders below a class folder, and stops after MAX_FOLDER_ENTRIES entries (about
# twice the largest public sign-language image sets, 87,000 images).
MAX_FOLDER_ENTRIES = 200_000
MAX_FOLDER_DEPTH = 4
MAX_RECORDED_FILE_BYTES = 2 << 30


def check_recorded_source(source: str) -> None:
    """Refuses a data source named by a model's metadata (its held-out split) that is not data,
    before anything hashes or walks it: a file must be a ``.npz``/``.csv`` of at most 2 GB, and
    each class folder of a tree must itself hold an image (``/`` or ``/usr`` holds none in ``bin``).

    Raises:
        DataError: one line naming the problem (and how to choose the data instead).
    """
    if source in BUILTIN_ALIASES:
        return
    path = Path(source)
    hint = "pass --data to choose the images to score"
    if path.is_file():
        if path.suffix.lower() not in (".npz", ".csv") or path.stat().st_size > MAX_RECORDED_FILE_BYTES:
            raise DataError(f"the recorded data {printable(source)} is not an .npz or .csv data file: {hint}")
        return
    if not path.is_dir():
        return  # "data not found" where it is used
    for class_dir in sorted(d for d in path.iterdir() if d.is_dir() and not d.name.startswith(".")):
        with os.scandir(class_dir) as entries:
            found = any(Path(e.name).suffix.lower() in IMAGE_SUFFIXES
                        for e in itertools.islice(entries, MAX_FOLDER_ENTRIES // 20))
        if not found:
            raise DataError(f"the recorded data {printable(source)} is not a class-per-folder image tree "
                            f"({printable(class_dir.name)} holds no image): {hint}")


def _same_device(path: str, device: int) -> bool:
    try:
        return os.lstat(path).st_dev == device
    except OSError:
        return False


def _list_class_folder(folder: Path, budget: list[int] | None = None) -> list[Path]:
    """Regular files only: a FIFO or a link to a device would hang the first read.

    Args:
        budget: ``[entries left]`` shared by the class folders of one tree (see above).

    Raises:
        DataError: the tree holds more than :data:`MAX_FOLDER_ENTRIES` entries.
    """
    budget = [MAX_FOLDER_ENTRIES] if budget is None else budget
    files, skipped = [], []
    try:
        device, base = os.stat(folder).st_dev, str(folder).rstrip(os.sep).count(os.sep)
    except OSError:
        return []
    for dirpath, dirnames, filenames in os.walk(folder, followlinks=False):
        budget[0] -= len(dirnames) + len(filenames)
        if budget[0] < 0:
            raise DataError(f"{printable(folder.parent)} holds more than {MAX_FOLDER_ENTRIES:,} files and folders: "
                            "not a class-per-folder image tree")
        deep = dirpath.rstrip(os.sep).count(os.sep) - base >= MAX_FOLDER_DEPTH
        dirnames[:] = [] if deep else sorted(d for d in dirnames if not d.startswith(".")
                                             and _same_device(os.path.join(dirpath, d), device))
        for f in sorted(filenames):
            if f.startswith(".") or f.lower() in _JUNK:
                continue
            path = Path(dirpath) / f
            (files if _is_regular(path) else skipped).append(path)
    if skipped:
        log.warning("skipped %d entries of %s that are not regular files (pipes, devices, broken links), "
                    "e.g. %s", len(skipped), printable(folder), printable(skipped[0].name))
    return files


def load_folder(root: Path, preprocessing: Preprocessing, stream: bool | None = None) -> ImageDataset:
    """Loads a tree with one sub-folder per class."""
    class_dirs = sorted(d for d in root.iterdir() if d.is_dir() and not d.name.startswith("."))
    if not class_dirs:
        raise DataError(f"{root} has no class sub-folders (expected one folder per class)")
    paths, labels, budget = [], [], [MAX_FOLDER_ENTRIES]
    for index, class_dir in enumerate(class_dirs):
        for f in _list_class_folder(class_dir, budget):
            paths.append(str(f))
            labels.append(index)
    if not paths:
        raise DataError(f"no images found under {root}")
    if len(class_dirs) < 2 or len(set(labels)) < 2:
        raise DataError(f"{root} holds only one class with images; a classifier needs at least two")
    labels = np.asarray(labels, np.int64)
    names = tuple(d.name for d in class_dirs)
    if stream if stream is not None else len(paths) > STREAM_THRESHOLD:
        for p in paths:
            if Path(p).suffix.lower() not in IMAGE_SUFFIXES:
                _check_header(p)
        return ImageDataset(labels=labels, class_names=names, preprocessing=preprocessing,
                            source=str(root), paths=tuple(paths))
    images = np.stack([preprocessing.load(p) for p in paths])
    return ImageDataset(labels=labels, class_names=names, preprocessing=preprocessing,
                        source=str(root), images=images)


def _check_header(path: str) -> None:
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path):
            pass
    # Pillow's format plugins raise more than OSError on a crafted header (a PPM size of b"\xce":
    # ValueError); the same set as preprocess.open_image.
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, EOFError, Image.DecompressionBombError):
        raise DataError(f"not an image file: {printable(path)}") from None


CSV_CHUNK = 512  # rows parsed at a time: about 1.5 MB of text and 0.8 MB of int16, whatever the file's size
_SIGN_MNIST_INDEX = np.full(26, -1, np.int64)  # raw label -> class index; -1 for J (9) and Z (25)
_SIGN_MNIST_INDEX[list(SIGN_MNIST_LABELS)] = np.arange(len(SIGN_MNIST_LABELS))


def load_sign_mnist_csv(path: Path, preprocessing: Preprocessing) -> ImageDataset:
    """Loads the Sign Language MNIST CSV layout (``label,pixel1..pixel784``), streamed.

    The file is read :data:`CSV_CHUNK` rows at a time and each row goes straight into one
    preallocated ``uint8`` image array, so memory is that array plus one chunk, whatever the
    number of rows (rows held as Python ints took about 32 KB each: 3.2 GB for 100k).
    Every cell is checked (integer, label one of the 24 letters, pixel in 0..255), and an error
    names the first bad line.

    Raises:
        DataError: not a readable CSV, wrong columns, no rows, or a bad row (named by its line).
    """
    from PIL import Image

    expected = ["label"] + [f"pixel{i}" for i in range(1, 785)]
    capacity = _max_rows(path)
    images = np.empty((capacity, *preprocessing.input_shape), np.uint8)
    labels = np.empty(capacity, np.int64)
    filled = 0
    try:
        # utf-8-sig: spreadsheet programs start their CSV exports with a byte-order mark
        with open(path, newline="", encoding="utf-8-sig") as fh:
            first = fh.readline()
            header = next(csv.reader([first]), None) if first else None
            if header is None:
                raise DataError(f"{path} is empty")
            if [h.strip() for h in header] != expected:
                raise DataError(f"{path}: expected columns label,pixel1..pixel784 (Sign Language MNIST), "
                                f"got {len(header)} columns starting {','.join(header[:3])}")
            lineno = 2
            for lines in iter(lambda: list(itertools.islice(fh, CSV_CHUNK)), []):
                numbers, values = _csv_rows(path, lines, lineno)
                lineno += len(lines)
                if not len(values):
                    continue
                classes = _check_csv_rows(path, numbers, values)
                if filled + len(values) > capacity:
                    capacity = max(filled + len(values), capacity * 3 // 2)
                    images, labels = _grown(images, capacity), _grown(labels, capacity)
                labels[filled:filled + len(values)] = classes
                for row in values[:, 1:].astype(np.uint8):
                    images[filled] = preprocessing.load(Image.fromarray(row.reshape(28, 28), "L"))
                    filled += 1
    except (UnicodeDecodeError, csv.Error) as exc:
        raise DataError(f"{path} is not a readable text CSV file: {exc}") from None
    if not filled:
        raise DataError(f"{path} has a header but no rows")
    return ImageDataset(labels=labels[:filled], class_names=SIGN_MNIST_LETTERS,
                        preprocessing=preprocessing, source=str(path), images=images[:filled])


def _max_rows(path: Path) -> int:
    """An upper bound on the data rows of a CSV, so the arrays are allocated once.

    The line breaks are counted in binary 1 MiB blocks (nothing decoded or kept); a valid row has
    at least 1,569 characters (785 values), which bounds the count for a file of blank lines. Files
    whose lines end in a bare carriage return are not counted right: their arrays grow.
    """
    from asl_edge.runtime.fsutil import open_regular

    lines, size, last = 0, 0, b"\n"
    with open_regular(path, DataError, "data file") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            lines += block.count(b"\n")
            size += len(block)
            last = block[-1:]
    lines += last != b"\n"
    return max(1, min(lines - 1, size // 1569 + 1))


def _grown(array: np.ndarray, rows: int) -> np.ndarray:
    out = np.empty((rows, *array.shape[1:]), array.dtype)
    out[:len(array)] = array
    return out


def _csv_rows(path: Path, lines: list[str], first_line: int) -> tuple[np.ndarray, np.ndarray]:
    """The line numbers and integer values ``(rows, 785)`` of one chunk of CSV lines (blank lines skipped).

    numpy's C parser reads a well-formed chunk, as int16 (a fourth of int64's memory; a value
    beyond int16 is refused there and named below). Any chunk it refuses, or parses to another
    width, is read again row by row, which names the first bad line (and accepts what Python's
    ``int`` and ``csv`` accept, such as quoted cells).
    """
    keep = [i for i, line in enumerate(lines) if line.strip()]
    numbers = first_line + np.asarray(keep, np.int64)
    if not keep:
        return numbers, np.empty((0, 785), np.int64)
    rows = lines if len(keep) == len(lines) else [lines[i] for i in keep]
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # a deprecated conversion (float to int) is a bad cell, not a warning
            values = np.loadtxt(rows, delimiter=",", dtype=np.int16, ndmin=2, comments=None)
        if values.shape[1] == 785:
            return numbers, values
    except (ValueError, Warning):
        pass
    values = np.empty((len(rows), 785), np.int64)
    for i, (lineno, row) in enumerate(zip(numbers.tolist(), csv.reader(rows))):
        if len(row) != 785:
            raise DataError(f"{path}:{lineno}: expected 785 values, got {len(row)}")
        try:
            values[i] = [int(v) for v in row]
        except ValueError:
            raise DataError(f"{path}:{lineno}: non-integer value") from None
        except OverflowError:
            raise DataError(f"{path}:{lineno}: value out of range") from None
    return numbers, values


def _check_csv_rows(path: Path, numbers: np.ndarray, values: np.ndarray) -> np.ndarray:
    """The class index of each row; the first row with a bad label or pixel is named by its line."""
    raw = values[:, 0]
    known = (raw >= 0) & (raw < len(_SIGN_MNIST_INDEX))
    classes = np.where(known, _SIGN_MNIST_INDEX[np.where(known, raw, 9)], -1)
    pixels = values[:, 1:]
    bad_pixels = (pixels.min(axis=1) < 0) | (pixels.max(axis=1) > 255)
    bad = (classes < 0) | bad_pixels
    if bad.any():
        i = int(bad.argmax())
        if classes[i] < 0:
            raise DataError(f"{path}:{numbers[i]}: label {int(raw[i])} out of range "
                            "(Sign Language MNIST uses 0-24 without 9 (J))")
        raise DataError(f"{path}:{numbers[i]}: pixel values must lie in 0..255")
    return classes


def load_npz(path: Path, preprocessing: Preprocessing) -> ImageDataset:
    """Loads ``images``/``x`` (``(N,H,W)`` or ``(N,H,W,C)``) and ``labels``/``y`` from an ``.npz``.

    Images are ``uint8``-range integers or floats (``0..1`` or ``0..255``); labels are integer
    class indices or one-hot rows. Nothing is pickled: object arrays are refused.
    """
    from PIL import Image

    _check_npz_sizes(path)
    try:
        with np.load(path, allow_pickle=False) as z:
            if not hasattr(z, "files"):  # a bare .npy saved under an .npz name
                raise DataError(f"{path} is a single .npy array, not an .npz archive of images and labels")
            keys = set(z.files)
            x_key = next((k for k in ("images", "x", "X") if k in keys), None)
            y_key = next((k for k in ("labels", "y", "Y") if k in keys), None)
            if x_key is None or y_key is None:
                raise DataError(f"{path}: expected arrays 'images' and 'labels' (or 'x' and 'y'), found {sorted(keys)}")
            x, y = z[x_key], z[y_key]
            names = z["class_names"] if "class_names" in keys else None
            groups = z["groups"] if "groups" in keys else None
    except DataError:
        raise
    except (OSError, ValueError, EOFError, KeyError, zipfile.BadZipFile, zlib.error) as exc:
        # ValueError includes numpy's refusal of object arrays (they would need pickle)
        raise DataError(f"cannot read {path}: {exc}") from None
    x, y = _npz_images(path, x), _npz_labels(path, y, len(x))
    if names is not None:
        names = tuple(str(n) for n in np.atleast_1d(names))
    names = names or tuple(str(i) for i in range(int(y.max()) + 1))
    if y.max() >= len(names):
        raise DataError(f"{path}: label {int(y.max())} out of range for {len(names)} class names")
    if groups is not None and groups.ndim != 1:
        raise DataError(f"{path}: groups must be one id per image, got shape {groups.shape}")
    images = np.stack([preprocessing.load(Image.fromarray(img)) for img in x])
    return ImageDataset(labels=y, class_names=names, preprocessing=preprocessing,
                        source=str(path), images=images, groups=groups)


# What np.load may allocate, bounded from the zip's directory and each array's .npy header before a
# byte is decompressed: numpy allocates the shape its header declares, then fills it, so a 1 KB
# member declaring 10**10 elements, or a 50 KB member inflating to 3 GB, would take that memory.
MAX_NPZ_IMAGES_BYTES = 512 << 20  # uint8 images (about 10,000 photographs at 128x128 RGB); others 4x fewer
MAX_NPZ_ARRAY_BYTES = 64 << 20  # labels, groups, class names
NPZ_IMAGE_KEYS = ("images", "x", "X")


def _check_npz_sizes(path: Path) -> None:
    """Refuses an ``.npz`` whose arrays would need more memory than any data set asl-edge loads.

    Raises:
        DataError: one line naming the array and its size.
    """
    try:
        with zipfile.ZipFile(path) as archive:
            for info in archive.infolist():
                key = info.filename.removesuffix(".npy")
                limit = MAX_NPZ_IMAGES_BYTES if key in NPZ_IMAGE_KEYS else MAX_NPZ_ARRAY_BYTES
                if info.file_size > limit + 4096:
                    raise DataError(f"{path}: array '{printable(key)}' unpacks to {info.file_size >> 20} MB, more "
                                    f"than the {limit >> 20} MB asl-edge loads")
                with archive.open(info) as fh:
                    version = np.lib.format.read_magic(fh)
                    read_header = (np.lib.format.read_array_header_1_0 if version == (1, 0)
                                   else np.lib.format.read_array_header_2_0)
                    shape, _fortran, dtype = read_header(fh, max_header_size=1 << 16)  # the header only
                need = int(np.prod(shape, dtype=np.float64)) * dtype.itemsize
                if key in NPZ_IMAGE_KEYS and dtype.itemsize > 1 and need > limit // 4:
                    # converted to uint8 through float copies of the whole array (three at the peak)
                    raise DataError(f"{path}: {dtype} images of {need >> 20} MB; asl-edge loads up to "
                                    f"{limit // 4 >> 20} MB of them (or {limit >> 20} MB as uint8)")
                if need > info.file_size:
                    raise DataError(f"{path}: array '{printable(key)}' declares {need:,} bytes but holds "
                                    f"{info.file_size:,}: the file is damaged or crafted")
    except DataError:
        raise
    except (zipfile.BadZipFile, OSError, ValueError, EOFError, zlib.error) as exc:
        if not zipfile.is_zipfile(path):
            return  # not a zip (a bare .npy): np.load says what it is
        raise DataError(f"cannot read {path}: {str(exc)[:200]}") from None


def _npz_images(path: Path, x: np.ndarray) -> np.ndarray:
    """Checks an .npz image array and returns it as ``uint8`` ``(N,H,W)`` or ``(N,H,W,3|4)``."""
    if x.ndim not in (3, 4) or (x.ndim == 4 and x.shape[-1] not in (1, 3, 4)) or 0 in x.shape[1:]:
        raise DataError(f"{path}: images must be (N,H,W) or (N,H,W,C) with C 1, 3 or 4, got shape {x.shape}")
    if len(x) == 0:
        raise DataError(f"{path} holds no images")
    if not (np.issubdtype(x.dtype, np.integer) or np.issubdtype(x.dtype, np.floating) or x.dtype == bool):
        raise DataError(f"{path}: images must be numeric, got dtype {x.dtype}")
    if np.issubdtype(x.dtype, np.floating):
        if not np.isfinite(x).all():
            raise DataError(f"{path}: images contain NaN or infinite values")
        x = x * 255.0 if x.max() <= 1.0 else x  # 0..1 floats, as most training code saves them
    if x.min() < 0 or x.max() > 255:
        raise DataError(f"{path}: pixel values must lie in 0..255 (or 0..1 for floats), "
                        f"got {x.min():g}..{x.max():g}")
    x = np.rint(x).astype(np.uint8) if np.issubdtype(x.dtype, np.floating) else x.astype(np.uint8)
    return x[..., 0] if x.ndim == 4 and x.shape[-1] == 1 else x


def _npz_labels(path: Path, y: np.ndarray, n: int) -> np.ndarray:
    """Checks .npz labels (class indices or one-hot rows) and returns ``int64`` indices."""
    if y.ndim == 2 and y.shape[1] > 0 and (np.issubdtype(y.dtype, np.number) or y.dtype == bool):
        y = y.argmax(axis=1)  # one-hot rows
    if y.ndim != 1 or len(y) != n:
        raise DataError(f"{path}: expected one label per image ({n}), got labels of shape {y.shape}")
    if not np.issubdtype(y.dtype, np.integer) or y.min() < 0:
        raise DataError(f"{path}: labels must be non-negative integer class indices")
    return y.astype(np.int64)


def _with_groups(ds: ImageDataset, groups_file: Path, root: Path) -> ImageDataset:
    from dataclasses import replace

    from asl_edge.runtime.fsutil import read_regular

    if not groups_file.is_file():
        raise DataError(f"groups file not found: {printable(groups_file)}")
    raw = read_regular(groups_file, DataError, "groups file", MAX_GROUPS_BYTES)
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise DataError(f"groups file {printable(groups_file)} is not UTF-8 text (byte {exc.start}): save it as "
                        "UTF-8") from None
    mapping = {}
    try:
        for row in csv.reader(io.StringIO(text, newline="")):
            if len(row) < 2 or row[0].strip().lower() in {"path", "index", "file"}:
                continue
            mapping[row[0].strip()] = row[1].strip()
    except csv.Error as exc:
        raise DataError(f"groups file {printable(groups_file)} is not a CSV of path,group rows: {exc}") from None
    if ds.source != BUILTIN and Path(ds.source).is_dir():  # folder trees: paths relative to the root
        keys = [os.path.relpath(p, root) for p in (ds.paths or _list_paths(root))]
    else:  # .csv, .npz and the built-in set: row indices
        keys = [str(i) for i in range(len(ds))]
    missing = [k for k in keys if k not in mapping]
    if missing:
        raise DataError(f"groups file {groups_file} has no group for {len(missing)} images, e.g. {missing[0]}")
    return replace(ds, groups=np.asarray([mapping[k] for k in keys]))


def _list_paths(root: Path) -> list[str]:
    class_dirs = sorted(d for d in root.iterdir() if d.is_dir() and not d.name.startswith("."))
    budget = [MAX_FOLDER_ENTRIES]
    return [str(f) for d in class_dirs for f in _list_class_folder(d, budget)]
