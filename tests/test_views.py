"""Test-time views of the hand's crop (asl_edge.runtime.views): what each view does to a crop, a fused
row's landmarks left alone, the model averaged over the views, and the checks of a recorded list."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import replace

import numpy as np
import pytest

from asl_edge.runtime.errors import DataError
from asl_edge.runtime.hands import LocaliserConfig
from asl_edge.runtime.preprocess import Preprocessing
from asl_edge.runtime.views import SHIFT, VIEWS, expand, parse_names, view

ASL_EDGE = [sys.executable, "-m", "asl_edge"]
CROP = (64, 64, 3)


def _ramp(side: int = CROP[0]) -> np.ndarray:
    """A crop whose every pixel differs from its neighbours (x in red, y in green)."""
    y, x = np.mgrid[0:side, 0:side]
    return np.stack([x * 3, y * 3, (x + y) % 7], axis=-1).astype(np.uint8)


# A model's crop side -> the pixels a view moves it: 3 of a 64-pixel crop, 1 of a 24-pixel one.
MOVES = {64: 3, 24: 1}


@pytest.mark.parametrize("side", MOVES)
@pytest.mark.parametrize("name", list(VIEWS))
def test_each_view_moves_the_crop_by_its_shift_and_repeats_the_edge(name, side):
    crop = _ramp(side)
    moved = view(crop, name)
    dx, dy = (round(u * SHIFT * side) for u in VIEWS[name])
    assert moved.shape == crop.shape and moved.dtype == crop.dtype
    # inside, the pixel at (x, y) is the crop's at (x - dx, y - dy)
    inner = moved[4:-4, 4:-4]
    assert np.array_equal(inner, crop[4 - dy:side - 4 - dy, 4 - dx:side - 4 - dx])
    if (dx, dy) == (0, 0):
        assert np.array_equal(moved, crop)
    else:
        assert abs(dx) + abs(dy) == MOVES[side]
        # the gap is filled with the edge the content moved away from
        edge = moved[:, 0] if dx > 0 else moved[:, -1] if dx < 0 else moved[0] if dy > 0 else moved[-1]
        source = crop[:, 0] if dx > 0 else crop[:, -1] if dx < 0 else crop[0] if dy > 0 else crop[-1]
        assert np.array_equal(edge, source)


def test_views_of_a_fused_row_move_only_its_crop():
    crop = _ramp()
    tail = np.arange(64, dtype=np.float32) / 7
    row = np.concatenate([crop.reshape(-1).astype(np.float32), tail])
    out = expand(np.stack([row, row * 0]), tuple(VIEWS), CROP)
    assert out.shape == (2 * len(VIEWS), row.size)
    for i, name in enumerate(VIEWS):
        assert np.array_equal(out[i, :crop.size], view(crop, name).reshape(-1))
        assert np.array_equal(out[i, crop.size:], tail)


class _PositionRunner:
    """A stand-in model whose answer depends on where the bright pixels are: the share of the
    image's brightness in its left half, as a two-class probability. Records each batch's size."""

    def __init__(self):
        self.batches = []

    def predict(self, x):
        self.batches.append(len(x))
        flat = x.reshape(len(x), CROP[0], CROP[1], -1)
        left = flat[:, :, :CROP[1] // 2].sum(axis=(1, 2, 3))
        share = left / np.maximum(flat.sum(axis=(1, 2, 3)), 1e-9)
        return np.stack([share, 1 - share], axis=1)


def test_classify_averages_the_model_over_the_recorded_views():
    pre = Preprocessing(image_size=CROP[:2], localiser=LocaliserConfig().to_dict(), views=tuple(VIEWS))
    crops = np.stack([_ramp(), _ramp()[:, ::-1]])
    runner = _PositionRunner()
    probs = pre.classify(runner, crops)
    assert runner.batches == [len(crops) * len(VIEWS)]
    for crop, p in zip(crops, probs, strict=True):
        each = [runner.predict(pre.normalize(view(crop, name)[None]))[0] for name in VIEWS]
        np.testing.assert_allclose(p, np.mean(each, axis=0), rtol=1e-6)
    once = replace(pre, views=()).classify(runner, crops)
    assert not np.allclose(once, probs)  # the shifts change this model's answer: averaging shows
    np.testing.assert_allclose(once, runner.predict(pre.normalize(crops)))


@pytest.mark.parametrize(
    ("views", "extra", "message"),
    [
        (("sideways",), {}, "views takes each of centre, left, right, up, down at most once, got sideways$"),
        (("left", "left"), {}, "views takes each of centre, left.* got left,left$"),
        (("x" * 200,), {}, "at most once, got x{80}$"),  # a long name cut to 80 characters
        (("centre",), {"localiser": None}, "'views' are views of the hand's crop"),
        (("centre",), {"landmarks": {"use_z": False}}, "'views' are views of the hand's crop"),
        ("centre", {}, "views must be a list of names, got 'centre'$"),
        ("x" * 200, {}, "views must be a list of names, got 'x{59}$"),  # cut to 60 characters
    ],
)
def test_bad_views_are_refused(views, extra, message):
    kw = {"localiser": LocaliserConfig().to_dict(), **extra}
    with pytest.raises(DataError, match=message):
        Preprocessing(views=views, **kw)


def test_parse_names_reads_the_command_lines_list():
    assert parse_names(" centre, left,,up ") == ("centre", "left", "up")
    assert parse_names("") == parse_names(" , ") == ()


def test_views_round_trip_and_are_absent_when_none_are_recorded():
    pre = Preprocessing(localiser=LocaliserConfig().to_dict(), views=("centre", "left"))
    assert pre.to_dict()["views"] == ["centre", "left"]
    assert Preprocessing.from_dict(pre.to_dict()) == pre
    assert "views" not in replace(pre, views=()).to_dict()


def test_export_views_of_a_model_without_a_crop_say_so_in_one_line(tiny_run, tmp_path):
    r = subprocess.run([*ASL_EDGE, "export", str(tiny_run), "--views", "centre,left", "--out", str(tmp_path / "x")],
                       capture_output=True, text=True, check=False)
    assert r.returncode != 0 and "Traceback" not in r.stderr
    assert r.stderr.strip().splitlines() == [
        "asl-edge: error: --views: preprocessing 'views' are views of the hand's crop: they need a 'localiser' "
        "and a model that reads the crop's pixels"]
    assert not (tmp_path / "x").exists()


def test_an_artifact_that_records_views_is_read_in_them_and_says_so(tiny_export, tmp_path):
    """The tiny int8 classifier given a localiser and five views: the API averages its probabilities
    over the crop's views, and ``asl-edge info`` and the embedded input recipe say so."""
    import asl_edge
    from asl_edge.runtime.metadata import read_metadata, write_metadata

    art = tmp_path / "views_int8.tflite"
    art.write_bytes(next(tiny_export.glob("*_int8.tflite")).read_bytes())
    meta = read_metadata(art)
    once = replace(Preprocessing.from_dict(meta["preprocessing"]), localiser=LocaliserConfig().to_dict())
    write_metadata(art, meta["labels"], replace(once, views=tuple(VIEWS)).to_dict())
    model = asl_edge.load(art)
    crop = np.random.default_rng(0).integers(0, 256, (*once.image_size, once.channels), dtype=np.uint8)
    label, prob = model.top_k(crop[None], k=1)[0][0]
    runner = model.runner
    each = np.stack([runner.predict(once.normalize(view(crop, name)[None]))[0] for name in VIEWS])
    assert (label, prob) == (model.labels[int(each.mean(0).argmax())], pytest.approx(float(each.mean(0).max())))
    recipe = read_metadata(art)["input"]
    assert recipe["views"] == {"shift": SHIFT, "moves": {name: list(move) for name, move in VIEWS.items()}}
    assert recipe["steps"][-1].startswith("views: read the crop once per move")
    r = subprocess.run([*ASL_EDGE, "info", str(art)], capture_output=True, text=True, check=False)
    assert r.returncode == 0, r.stderr
    assert "the crop read 5 times and averaged: centre, left, right, up, down" in r.stdout


class _Frames:
    """A data set of frames held in memory, as ``predict_localised`` reads one."""

    streaming = False

    def __init__(self, images):
        self.images = images

    def __len__(self):
        return len(self.images)


def test_evaluate_reads_each_localised_image_in_the_recorded_views(monkeypatch):
    """``evaluate`` (and ``--shifts``) score a localising model through the same views as ``predict``:
    the probabilities of each image are the views' average, from one model call per batch."""
    from asl_edge.bench.evaluate import predict_localised

    pre = Preprocessing(image_size=CROP[:2], localiser=LocaliserConfig().to_dict(), views=tuple(VIEWS))
    crops = {0: _ramp(), 1: _ramp()[:, ::-1]}
    # the hand search stands aside: image i's "crop" is crops[i], found
    monkeypatch.setattr(Preprocessing, "load_reading", lambda self, img, judge=None: (crops[img.size[0] - 1], True))
    ds = _Frames([np.zeros((1, i + 1, 3), np.uint8) for i in crops])
    runner = _PositionRunner()
    probs, found = predict_localised(runner, ds, pre)
    assert found.all() and runner.batches == [len(crops) * len(VIEWS)]
    np.testing.assert_allclose(probs, pre.classify(_PositionRunner(), np.stack(list(crops.values()))), rtol=1e-6)
    assert not np.allclose(probs, replace(pre, views=()).classify(_PositionRunner(), np.stack(list(crops.values()))))
