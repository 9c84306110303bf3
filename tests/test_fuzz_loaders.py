"""Fuzz tests: malformed input thrown at every data loader gives a correct load or a DataError.

Hypothesis generates the inputs (random bytes, odd image sizes and modes, broken CSV cells,
ill-shaped arrays, folder trees with junk and symlink loops); each test asserts that the loader
either returns a well-formed data set or raises :class:`~asl_edge.runtime.errors.DataError` (the one-line
error the CLI prints). Any other exception fails the test, and Hypothesis shrinks it to a minimal
example.
"""

from __future__ import annotations

import io
import os
import shutil
import tempfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from asl_edge.data import load_dataset
from asl_edge.data.loaders import SIGN_MNIST_LABELS
from asl_edge.runtime.errors import DataError
from asl_edge.runtime.preprocess import Preprocessing

PRE = Preprocessing(image_size=(16, 16))
PRE_GRAY = Preprocessing(image_size=(12, 12), color_mode="grayscale")
FUZZ = settings(max_examples=int(os.environ.get("FUZZ_EXAMPLES", "100")), deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])

MODES = ["1", "L", "LA", "P", "RGB", "RGBA", "CMYK", "I", "I;16", "F", "YCbCr"]
FORMATS = ["PNG", "JPEG", "BMP", "GIF", "TIFF", "WEBP", "PPM"]


@st.composite
def image_bytes(draw) -> bytes:
    """Bytes of an image file: a valid one in an odd size/mode/format, a truncated one, or garbage."""
    kind = draw(st.sampled_from(["valid", "truncated", "garbage", "empty", "flipped"]))
    if kind == "garbage":
        return draw(st.binary(min_size=1, max_size=300))
    if kind == "empty":
        return b""
    width, height = draw(st.integers(1, 70)), draw(st.integers(1, 70))
    mode, fmt = draw(st.sampled_from(MODES)), draw(st.sampled_from(FORMATS))
    seed = draw(st.integers(0, 2**16))
    rgb = Image.fromarray(np.random.default_rng(seed).integers(0, 256, (height, width, 3), np.uint8), "RGB")
    buf = io.BytesIO()
    try:
        rgb.convert(mode).save(buf, format=fmt)
    except (OSError, ValueError, KeyError):
        rgb.save(buf, format="PNG")  # a mode this format cannot store
    data = buf.getvalue()
    if kind == "truncated":
        return data[: draw(st.integers(0, max(0, len(data) - 1)))]
    if kind == "flipped":  # one corrupted byte somewhere in the file
        at = draw(st.integers(0, len(data) - 1))
        return data[:at] + bytes([data[at] ^ 0xFF]) + data[at + 1:]
    return data


def _is_loaded(ds, pre: Preprocessing) -> None:
    """The invariants of a successful load."""
    x = ds.load_images()
    assert x.dtype == np.uint8 and x.shape == (len(ds), *pre.input_shape)
    assert ds.labels.dtype == np.int64 and len(ds.labels) == len(ds)
    assert ds.labels.min() >= 0 and ds.labels.max() < ds.num_classes
    assert len(np.unique(ds.labels)) >= 2


# -- single images ---------------------------------------------------------------------------------
@FUZZ
@given(data=image_bytes(), pre=st.sampled_from([PRE, PRE_GRAY]))
def test_fuzz_image_decoding(data, pre):
    try:
        x = pre.load(data)
    except DataError as exc:
        assert str(exc) and "\n" not in str(exc)
        return
    assert x.dtype == np.uint8 and x.shape == pre.input_shape


# -- class-per-folder trees ------------------------------------------------------------------------
@st.composite
def folder_trees(draw) -> list[tuple[str, str, object]]:
    """A tree as ``(kind, relative path, payload)`` entries: image files, junk, sub-folders, links."""
    entries = []
    for c in range(draw(st.integers(0, 3))):
        cls = draw(st.sampled_from(["a", "b", "c", "Ünï cödé", "with space", ".hidden"])) + str(c)
        entries.append(("dir", cls, None))
        for i in range(draw(st.integers(0, 3))):
            name = draw(st.sampled_from(["img.png", "img.JPG", "photo.jpeg", "notes.txt", "Thumbs.db", ".DS_Store",
                                         "noext", "x.webp"]))
            sub = draw(st.sampled_from(["", "nested/", "nested/deeper/"]))
            entries.append(("file", f"{cls}/{sub}{i}_{name}", draw(image_bytes())))
        link = draw(st.sampled_from([None, "loop_to_self", "loop_to_root", "dangling"]))
        if link:
            entries.append((link, f"{cls}/{link}", None))
    if draw(st.booleans()):
        entries.append(("file", "stray_top_level_file.png", draw(image_bytes())))
    return entries


def _build_tree(root: Path, entries) -> None:
    for kind, rel, payload in entries:
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        if kind == "dir":
            path.mkdir(exist_ok=True)
        elif kind == "file":
            path.write_bytes(payload)
        elif kind == "loop_to_self":
            path.symlink_to(path.parent, target_is_directory=True)
        elif kind == "loop_to_root":
            path.symlink_to(root, target_is_directory=True)
        elif kind == "dangling":
            path.symlink_to(root / "does-not-exist.png")


@FUZZ
@given(entries=folder_trees(), stream=st.sampled_from([None, True, False]))
def test_fuzz_folder_trees(entries, stream):
    root = Path(tempfile.mkdtemp())
    try:
        _build_tree(root, entries)
        try:
            ds = load_dataset(root, PRE, stream=stream)
        except DataError as exc:
            assert str(exc) and "\n" not in str(exc)
            return
        try:
            _is_loaded(ds, PRE)
        except DataError:
            assert ds.streaming  # a streamed set may meet a broken file only when it decodes it
    finally:
        shutil.rmtree(root)


@pytest.mark.parametrize("header", [b"P4\n\xce 1\n\x80", b"P5\n1 1\n-3\n", b"BM\x00"])
def test_crafted_image_header_in_a_streamed_folder_is_one_clear_error(tmp_path, header):
    """Found by the fuzz test above: Pillow's PPM plugin raises ValueError on a crafted size."""
    for cls in ("a", "b"):
        (tmp_path / cls).mkdir()
        Image.new("RGB", (9, 9)).save(tmp_path / cls / "x.png")
    (tmp_path / "a" / "notes.txt").write_bytes(header)
    with pytest.raises(DataError, match="not an image file: .*notes.txt"):
        load_dataset(tmp_path, PRE, stream=True)


def test_symlink_loops_do_not_hang_or_duplicate(tmp_path):
    """A class folder that links back to itself and to the root is read once, not followed."""
    for cls in ("a", "b"):
        (tmp_path / cls).mkdir()
        Image.new("RGB", (9, 9), (10, 20, 30)).save(tmp_path / cls / "x.png")
        (tmp_path / cls / "self").symlink_to(tmp_path / cls, target_is_directory=True)
        (tmp_path / cls / "root").symlink_to(tmp_path, target_is_directory=True)
    ds = load_dataset(tmp_path, PRE)
    assert len(ds) == 2 and ds.class_names == ("a", "b")


# -- Sign Language MNIST CSVs ----------------------------------------------------------------------
HEADER = ["label"] + [f"pixel{i}" for i in range(1, 785)]


@st.composite
def csv_texts(draw) -> tuple[str, bool]:
    """CSV text, and whether it is a valid Sign Language MNIST file with two classes or more."""
    header = list(HEADER)
    header_fault = draw(st.sampled_from([None, "drop", "rename", "extra", "missing"]))
    if header_fault == "drop":
        header = header[:-1]
    elif header_fault == "rename":
        header[draw(st.integers(0, 784))] = draw(st.sampled_from(["Label", "pix", "", "label "]))
    elif header_fault == "extra":
        header = header + ["extra"]
    # the loader ignores spaces around names, as spreadsheet exports add them
    rows, valid = [], header_fault != "missing" and [h.strip() for h in header] == HEADER
    labels = []
    for _ in range(draw(st.integers(0, 4))):
        label = draw(st.one_of(st.sampled_from(SIGN_MNIST_LABELS), st.integers(-3, 40)))
        row = [str(label)] + [str(v) for v in np.random.default_rng(draw(st.integers(0, 99))).integers(0, 256, 784)]
        fault = draw(st.sampled_from([None, None, "short", "long", "text", "float", "big", "negative", "blank"]))
        if fault == "short":
            row = row[:draw(st.integers(0, 784))]
            if not row:  # a blank line, which CSV readers skip
                rows.append("")
                continue
        elif fault == "long":
            row = row + ["0"]
        elif fault in ("text", "float", "big", "negative", "blank"):
            value = {"text": "abc", "float": "1.5", "big": "9" * 25, "negative": "-7", "blank": ""}[fault]
            row[draw(st.integers(0, 784))] = value
        valid = valid and fault is None and label in SIGN_MNIST_LABELS
        labels.append(label)
        rows.append(",".join(row))
    valid = valid and len(set(labels)) >= 2
    text = "" if header_fault == "missing" else ",".join(header) + "\n" + "\n".join(rows)
    if draw(st.booleans()):
        text = "\ufeff" + text  # a byte-order mark, as spreadsheet programs write
    return text, valid


@FUZZ
@given(case=csv_texts())
def test_fuzz_sign_mnist_csv(tmp_path, case):
    text, valid = case
    path = tmp_path / "sign.csv"
    path.write_text(text, encoding="utf-8")
    try:
        ds = load_dataset(path, PRE_GRAY)
    except DataError as exc:
        assert str(exc) and "\n" not in str(exc)
        assert not valid, f"a valid CSV was refused: {exc}"
        return
    assert valid, "an invalid CSV was accepted"
    _is_loaded(ds, PRE_GRAY)


# -- .npz arrays -----------------------------------------------------------------------------------
DTYPES = [np.uint8, np.int16, np.int64, np.float32, np.float64, np.bool_, np.complex64, "U3"]


@st.composite
def npz_arrays(draw) -> dict:
    n = draw(st.integers(0, 6))
    shape = draw(st.sampled_from([(n, 5, 7), (n, 9, 9, 1), (n, 9, 9, 3), (n, 9, 9, 4), (n, 9, 9, 2), (n, 0, 9, 3),
                                  (n, 9), (n,), (n, 4, 4, 3, 1)]))
    dtype = draw(st.sampled_from(DTYPES))
    rng = np.random.default_rng(draw(st.integers(0, 999)))
    scale = draw(st.sampled_from([1.0, 255.0, 1000.0, -5.0]))
    raw = rng.random(shape) * scale
    if draw(st.booleans()) and raw.size:
        raw.flat[0] = draw(st.sampled_from([np.nan, np.inf, -np.inf]))
    with np.errstate(invalid="ignore"):
        images = raw.astype(dtype) if dtype != "U3" else raw.astype(str).astype("U3")
    label_kind = draw(st.sampled_from(["ints", "ints", "negative", "float", "onehot", "text", "scalar", "wrong_len"]))
    labels = {
        "ints": rng.integers(0, 3, n), "negative": rng.integers(-2, 3, n), "float": rng.random(n),
        "onehot": np.eye(3)[rng.integers(0, 3, n)], "text": np.array(["a"] * n), "scalar": np.array(1),
        "wrong_len": rng.integers(0, 3, n + 1),
    }[label_kind]
    arrays = {draw(st.sampled_from(["images", "x", "pics"])): images, draw(st.sampled_from(["labels", "y"])): labels}
    if draw(st.booleans()):
        arrays["class_names"] = np.array(draw(st.sampled_from([["a", "b", "c"], ["a"], [], ["a", "b", "c", "d"]])))
    if draw(st.booleans()):
        arrays["groups"] = rng.integers(0, 3, draw(st.sampled_from([n, n + 1, 0])))
    return arrays


@FUZZ
@given(arrays=npz_arrays())
def test_fuzz_npz(tmp_path, arrays):
    path = tmp_path / "data.npz"
    np.savez(path, **arrays)
    try:
        ds = load_dataset(path, PRE)
    except DataError as exc:
        assert str(exc) and "\n" not in str(exc)
        return
    _is_loaded(ds, PRE)
    if ds.groups is not None:
        assert len(ds.groups) == len(ds)


def test_npz_with_pickled_objects_is_refused(tmp_path):
    """Object arrays need pickle, and unpickling runs code: never loaded."""
    path = tmp_path / "evil.npz"
    np.savez(path, images=np.zeros((4, 8, 8, 3), np.uint8), labels=np.array([0, 1, {"x": 1}, 1], dtype=object))
    with pytest.raises(DataError, match="pickle|object"):
        load_dataset(path, PRE)


@pytest.mark.parametrize("suffix", [".csv", ".npz"])
@FUZZ
@given(data=st.binary(max_size=400))
def test_fuzz_random_bytes_as_a_data_file(tmp_path, suffix, data):
    path = tmp_path / f"junk{suffix}"
    path.write_bytes(data)
    with pytest.raises(DataError):
        load_dataset(path, PRE)


# -- groups files ----------------------------------------------------------------------------------
@FUZZ
@given(lines=st.lists(st.one_of(
    st.tuples(st.integers(-2, 30).map(str), st.text(max_size=4)).map(",".join),
    st.text(max_size=20),
), max_size=30))
def test_fuzz_groups_file(tmp_path, tiny_npz, lines):
    groups = tmp_path / "groups.csv"
    groups.write_text("\n".join(lines), encoding="utf-8")
    try:
        ds = load_dataset(tiny_npz, PRE, groups_file=groups)
    except DataError as exc:
        assert str(exc) and "\n" not in str(exc)
        return
    assert len(ds.groups) == len(ds)

