"""The camera path: a model whose preprocessing finds the hand first.

Real close-ups from the built-in set (the localiser needs real hands), tiny models; the localiser
itself is tested in test_hands.py.
"""

import contextlib
import io
import json
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from asl_edge.runtime.errors import NoHandFound
from asl_edge.runtime.metrics import classification_metrics
from asl_edge.runtime.preprocess import Preprocessing

ASL_EDGE = [sys.executable, "-m", "asl_edge"]


@pytest.fixture(scope="module")
def localiser():
    from asl_edge.runtime.hands import LocaliserConfig

    # The lite pair alone: the tiny synthetic sets hold no hand, so every image would also pay for the
    # second pair's whole search, to the same end (no hand); test_hands and test_stream test that pair.
    return LocaliserConfig(second_models=()).to_dict()


@pytest.fixture(scope="module")
def close_ups():
    """Twelve built-in close-ups (RGB 64x64) with their labels and signers."""
    from asl_edge.data.builtin import BUILTIN_FILE

    with np.load(BUILTIN_FILE, allow_pickle=False) as z:
        blobs, offsets, labels, signers = z["blobs"].tobytes(), z["offsets"], z["labels"], z["signers"]
    pick = np.arange(0, 1880, 157)[:12]
    images = np.stack([np.asarray(Image.open(io.BytesIO(blobs[offsets[i]:offsets[i + 1]])).convert("RGB"))
                       for i in pick])
    return images, labels[pick], signers[pick]


def test_localiser_is_recorded_and_absent_from_models_without_one(localiser):
    pre = Preprocessing(resize_chain=(64,), localiser=localiser)
    assert Preprocessing.from_dict(json.loads(json.dumps(pre.to_dict()))) == pre
    assert "localiser" not in Preprocessing().to_dict()  # older artifacts keep their exact metadata
    assert pre.without_localiser().localiser is None and pre.localises


def test_camera_data_is_staged_as_the_whole_rgb_frame_at_the_stored_size(localiser):
    pre = Preprocessing(image_size=(48, 48), color_mode="grayscale", resize_chain=(64, 56),
                        normalization="per_image", localiser=localiser)
    staged = pre.before_localisation()
    assert (staged.localiser, staged.resize_chain, staged.color_mode, staged.normalization) == (
        None, (), "rgb", "fixed")
    assert staged.image_size == (64, 64)  # the first (stored) side, not the model's
    assert Preprocessing(image_size=(40, 40), localiser=localiser).before_localisation().image_size == (40, 40)


def test_a_hand_is_cropped_and_a_blank_frame_has_no_hand(localiser, close_ups):
    pre = Preprocessing(resize_chain=(64,), localiser=localiser)
    images, _, _ = close_ups
    found = 0
    for img in images:
        try:
            x = pre.load(Image.fromarray(img))
        except NoHandFound:
            continue
        found += 1
        assert x.shape == pre.input_shape and x.dtype == np.uint8
        # the crop is not the whole image: the model sees the hand's framing, not the photo's
        assert not np.array_equal(x, Preprocessing(resize_chain=(64,)).load(Image.fromarray(img)))
    assert found >= len(images) // 2
    with pytest.raises(NoHandFound, match="no hand"):
        pre.load(Image.fromarray(np.full((240, 320, 3), 128, np.uint8)))


def test_no_hand_counts_as_wrong_and_is_reported():
    y = np.array([0, 1, 1, 0])
    probs = np.eye(2)[[0, 1, 1, 0]]  # all right...
    m = classification_metrics(y, probs, ["a", "b"], found=np.array([True, True, False, False]))
    assert m["accuracy"] == 0.5 and m["no_hand"] == 2 and m["no_hand_share"] == 0.5
    assert np.asarray(m["confusion_matrix"]).sum() == 2  # only the frames with a hand
    assert "no_hand" not in classification_metrics(y, probs, ["a", "b"])


def test_training_sets_are_made_by_the_same_localiser_on_train_backgrounds_only(localiser, close_ups):
    pytest.importorskip("skimage")
    from asl_edge.data.dataset import ImageDataset
    from asl_edge.data.scenes import background_names
    from asl_edge.training.camera import camera_sets

    images, labels, signers = close_ups
    pre = Preprocessing(resize_chain=(64,), localiser=localiser, normalization="per_image")
    ds = ImageDataset(labels=labels.astype(np.int64), class_names=tuple(str(i) for i in range(10)),
                      preprocessing=replace(pre, localiser=None), source="builtin", images=images, groups=signers)
    idx = np.arange(len(images))
    sets = camera_sets(ds, pre, idx[:8], idx[8:10], idx[10:], copies=2, height=(0.4, 0.6), seed=0)
    train = sets.stats["train"]
    assert train["images"] == 8 and train["composites"] == 16
    # close-ups without a hand fall back to the whole image; composites without one are left out
    assert len(sets.train) == 8 + 16 - train["composite_no_hand"]
    assert sets.train.images.shape[1:] == pre.input_shape and sets.train.preprocessing.localises
    assert set(sets.stats["backgrounds"]) == set(background_names("train"))
    assert not set(background_names("train")) & set(background_names("test"))
    assert len(sets.test) == 2 and sets.test_found.dtype == bool


def _with_localiser(tiny_export, folder: Path, localiser: dict) -> Path:
    """The tiny int8 classifier given a localiser stage in its metadata."""
    from asl_edge.runtime.metadata import read_metadata, write_metadata

    art = folder / "cam_int8.tflite"
    art.write_bytes(next(tiny_export.glob("*_int8.tflite")).read_bytes())
    meta = read_metadata(art)
    pre = replace(Preprocessing.from_dict(meta["preprocessing"]), localiser=localiser)
    write_metadata(art, meta["labels"], pre.to_dict())
    return art


@pytest.fixture(scope="module")
def camera_artifact(tiny_export, localiser, tmp_path_factory):
    """The tiny classifier with the default localiser (a picture without a hand is read whole)."""
    return _with_localiser(tiny_export, tmp_path_factory.mktemp("camera"), localiser)


@pytest.fixture(scope="module")
def camera_artifact_no_whole(tiny_export, localiser, tmp_path_factory):
    """The same with ``whole_without_hand`` off: no hand, no guess."""
    return _with_localiser(tiny_export, tmp_path_factory.mktemp("camera_no_whole"),
                           {**localiser, "whole_without_hand": False})


@pytest.fixture(scope="module")
def hand_and_blank(camera_artifact, close_ups, tmp_path_factory):
    """A built-in close-up the localiser finds a hand in, a grey frame it finds none in (files), and
    the hand's crop as the model reads it."""
    from asl_edge.runtime.metadata import read_metadata

    folder = tmp_path_factory.mktemp("pictures")
    pre = Preprocessing.from_dict(read_metadata(camera_artifact)["preprocessing"])
    Image.fromarray(np.full((240, 320, 3), 128, np.uint8)).save(folder / "blank.png")
    crops = []
    for img in close_ups[0]:
        with contextlib.suppress(NoHandFound):
            crops.append((img, pre.load(Image.fromarray(img))))
    assert crops, "the localiser finds a hand in some built-in close-up"
    Image.fromarray(crops[0][0]).save(folder / "hand.png")
    return folder / "hand.png", folder / "blank.png", crops[0]


def test_predict_says_no_hand_instead_of_guessing(camera_artifact_no_whole, hand_and_blank):
    """A tiny classifier given a localiser stage that does not read whole pictures: a blank frame
    gets "no hand found", not a digit."""
    from asl_edge.runtime.metadata import read_metadata

    art = camera_artifact_no_whole
    hand_png, blank_png, (picture, crop) = hand_and_blank
    pre = Preprocessing.from_dict(read_metadata(art)["preprocessing"])
    assert not pre.reads_whole_without_hand
    r = subprocess.run([*ASL_EDGE, "predict", str(art), str(blank_png), "--json"], capture_output=True,
                       text=True, check=False)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout) == {"path": str(blank_png), "hand": False, "top": []}
    r = subprocess.run([*ASL_EDGE, "predict", str(art), str(blank_png)], capture_output=True, text=True,
                       check=False)
    assert r.stdout.strip().endswith("no hand found")

    import asl_edge

    model = asl_edge.load(art)
    blank, hand = model.predict([str(blank_png), str(hand_png)])
    assert blank.no_hand and blank.label is None
    # a close-up with a hand gets the classifier's answer on the hand's crop
    ((label, probability),) = model.top_k(crop[None], k=1)[0]
    assert not hand.no_hand and (hand.label, hand.probability) == (label, pytest.approx(probability))
    # each answer says what it read, whether a hand was found and where (the localiser's box)
    assert (blank.source, blank.hand_found, blank.box) == (str(blank_png), False, None)
    _, box = pre.locate(Image.open(hand_png).convert("RGB"))
    assert hand.source == str(hand_png) and hand.hand_found is True
    assert hand.box == (round(box.x0, 1), round(box.y0, 1), round(box.x1, 1), round(box.y1, 1))
    assert hand.box[0] < hand.box[2] and hand.box[1] < hand.box[3]
    from_array = model.predict(picture)
    assert (from_array.source, from_array.box, from_array.label) == ("array", hand.box, hand.label)


def test_a_picture_without_a_hand_is_read_whole_and_says_so(camera_artifact, hand_and_blank):
    """The default: a single picture without a hand found is read whole (as training read such
    close-ups), and every answer says that no hand was found."""
    import asl_edge
    from asl_edge.runtime.metadata import read_metadata

    hand_png, blank_png, (_, crop) = hand_and_blank
    pre = Preprocessing.from_dict(read_metadata(camera_artifact)["preprocessing"])
    assert pre.reads_whole_without_hand
    model = asl_edge.load(camera_artifact)
    whole = pre.without_localiser().load(Image.open(blank_png).convert("RGB"))
    top = model.top_k(whole[None], k=3)[0]
    blank, hand = model.predict([str(blank_png), str(hand_png)], k=3)
    assert (blank.label, blank.hand_found, blank.box, blank.no_hand) == (top[0][0], False, None, True)
    assert blank.top == tuple((label, pytest.approx(p)) for label, p in top)
    assert hand.hand_found is True and hand.top[0][0] == model.top_k(crop[None], k=1)[0][0][0]
    # the same reading from files, on the command line
    r = subprocess.run([*ASL_EDGE, "predict", str(camera_artifact), str(blank_png), "--json", "--top-k", "3"],
                       capture_output=True, text=True, check=False)
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    assert (doc["hand"], [t["label"] for t in doc["top"]]) == (False, [label for label, _ in top])
    r = subprocess.run([*ASL_EDGE, "predict", str(camera_artifact), str(blank_png)], capture_output=True, text=True,
                       check=False)
    assert r.stdout.strip().endswith("(no hand found: the whole picture read)")
    assert r.stdout.startswith(f"{blank_png}: {top[0][0]} (")
    # a landmark model cannot read a picture without a hand, whatever the setting says; a fused one only
    # where its row carries the hand flag (its crop model then reads alone)
    from asl_edge.runtime.fusion import FusionSpec
    from asl_edge.runtime.landmarks import LandmarkFeatures

    assert not replace(pre, landmarks=LandmarkFeatures().to_dict()).reads_whole_without_hand
    for flag in (False, True):
        spec = FusionSpec(LandmarkFeatures().to_dict(), "log", 0.3, hand_flag=flag)
        assert replace(pre, fusion=spec.to_dict()).reads_whole_without_hand is flag


@pytest.fixture(scope="module")
def few_npz(tmp_path_factory) -> Path:
    """The tiny set's kind of images, 36 of them: each costs a whole hand search (about 0.5 s) per shift."""
    from tests.conftest import make_tiny_npz

    return make_tiny_npz(tmp_path_factory.mktemp("few") / "few.npz", signers=3)


@pytest.mark.parametrize("whole", [False, True])
def test_shift_scores_count_the_images_without_a_hand(camera_artifact, camera_artifact_no_whole, tiny_export,
                                                      few_npz, whole):
    # The tiny set holds no hands: under every shift each image is "no hand found", and the count
    # says why the accuracy is what it is: counted wrong, or the whole picture read, which is then
    # exactly what the same classifier without a localiser reads.
    from asl_edge.bench.evaluate import evaluate_shifts, format_shifts
    from asl_edge.runtime.shifts import get_shift

    art = camera_artifact if whole else camera_artifact_no_whole
    mirrored = [get_shift("mirrored")]
    m = evaluate_shifts(art, data=str(few_npz), shifts=mirrored, verify=False)
    r = m["shifts"]["mirrored"]
    assert r["no_hand"] == r["num_samples"] == m["num_samples"] > 0
    fallback = "the whole picture read" if whole else "counted as wrong"
    assert f"(no hand found in {r['no_hand']}: {fallback})" in format_shifts(m)
    assert (m["no_hand"], m["no_hand_read_whole"]) == (m["num_samples"], whole)
    if not whole:
        assert r["accuracy"] == 0.0 == m["accuracy"]
        return
    plain = evaluate_shifts(next(tiny_export.glob("*_int8.tflite")), data=str(few_npz), shifts=mirrored,
                            verify=False)
    assert plain["accuracy"] > 0.5
    assert (r["accuracy"], m["accuracy"]) == (plain["shifts"]["mirrored"]["accuracy"], plain["accuracy"])


@pytest.mark.parametrize("track", [True, False])
def test_camera_loop_follows_the_hand_or_searches_every_frame(camera_artifact, close_ups, track):
    # A close-up drifting across a grey frame, then an empty frame: with tracking the first frame is
    # searched and the rest follow the hand; without, every frame is searched on its own. Either way
    # every hand frame has a box where the hand is, and the empty frame has no label.
    from asl_edge.runtime.predict import load_predictor
    from asl_edge.runtime.stream import camera_loop

    hand = np.asarray(Image.fromarray(close_ups[0][1]).resize((120, 120), Image.Resampling.BILINEAR))
    frames = []
    for t in range(5):
        frame = np.full((240, 320, 3), 120, np.uint8)
        frame[50 + 2 * t:170 + 2 * t, 60 + 4 * t:180 + 4 * t] = hand
        frames.append(frame)
    frames.append(np.full((240, 320, 3), 120, np.uint8))

    class FakeCapture:
        def __init__(self):
            self.next = 0

        def read(self):
            if self.next == len(frames):
                return False, None
            self.next += 1
            return True, np.ascontiguousarray(frames[self.next - 1][..., ::-1])  # BGR, as OpenCV gives

        def release(self):
            pass

    seen = []
    stats = camera_loop(load_predictor(camera_artifact, verify=False), FakeCapture(), on_result=seen.append,
                        track=track)
    assert stats["frames"] == 6 and stats["no_hand"] == 1 and seen[-1].label is None
    for t, r in enumerate(seen[:5]):
        x0, y0, x1, y1 = r.box  # its centre on the pasted close-up, which moved 4 px right and 2 down a frame
        assert 60 + 4 * t < (x0 + x1) / 2 < 180 + 4 * t and 50 + 2 * t < (y0 + y1) / 2 < 170 + 2 * t
    if track:
        assert stats["localiser"] == {"tracked": 4, "first_pass": 0, "full_search": 2}
    else:
        assert "localiser" not in stats
