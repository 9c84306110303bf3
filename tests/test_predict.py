"""asl-edge predict, and the runtime-only path that must never import TensorFlow."""

import json
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from asl_edge.models import io as model_io
from asl_edge.runtime.errors import ModelError
from asl_edge.runtime.formats import export_formats
from asl_edge.runtime.predict import camera_loop, load_predictor

# The int8_mixed rows are written only when full int8 fails --max-drop: tests/test_quant_layers.py.
ARTIFACTS = [f for f in export_formats() if f.family != "keras" and f.flag != "max_drop"]
# Run asl-edge with TensorFlow made unimportable, as on a Raspberry Pi with only the `pi` extra.
NO_TF = ("import sys; sys.modules.update({m: None for m in ('tensorflow', 'tf_keras', 'keras')}); "
         "from asl_edge.cli import main; main()")


def artifact(export_dir, fmt):
    manifest = json.loads((export_dir / "manifest.json").read_text())
    return export_dir / next(a["path"] for a in manifest["artifacts"] if a["format"] == fmt.name)


@pytest.fixture(scope="module")
def images(tmp_path_factory):
    d = tmp_path_factory.mktemp("imgs")
    Image.fromarray(np.full((40, 30, 3), 230, np.uint8)).save(d / "bright.png")
    Image.fromarray(np.full((20, 20), 25, np.uint8)).save(d / "dark.jpg")
    (d / "broken.jpg").write_bytes(b"\xff\xd8 not a jpeg")
    return d


def run_no_tf(*args):
    return subprocess.run([sys.executable, "-c", NO_TF, *map(str, args)], capture_output=True, text=True)


@pytest.mark.parametrize("fmt", ARTIFACTS, ids=lambda f: f.name)
def test_predict_without_tensorflow(tiny_export, images, fmt):
    r = run_no_tf("predict", artifact(tiny_export, fmt), images / "bright.png", images / "dark.jpg", "--json")
    assert r.returncode == 0, r.stderr
    rows = [json.loads(line) for line in r.stdout.splitlines()]
    assert [row["top"][0]["label"] for row in rows] == ["bright", "dark"]
    assert all(abs(sum(t["probability"] for t in row["top"]) - 1) < 0.05 for row in rows)


def test_folder_with_a_bad_image_predicts_the_rest(tiny_export, images):
    r = run_no_tf("predict", artifact(tiny_export, ARTIFACTS[0]), images)
    assert r.returncode == 1
    assert "broken.jpg" in r.stderr and "1 of 3 images could not be read" in r.stderr
    assert len(r.stdout.strip().splitlines()) == 2 and "Traceback" not in r.stderr


def test_help_and_evaluate_without_tensorflow(tiny_export, tiny_npz):
    assert run_no_tf("--help").returncode == 0
    r = run_no_tf("evaluate", artifact(tiny_export, ARTIFACTS[0]), "--data", tiny_npz, "--json")
    assert r.returncode == 0, r.stderr
    m = json.loads(r.stdout)
    assert m["accuracy"] >= 0.9 and m["num_samples"] == 144  # three trivially separable classes, all images
    assert m["includes_training_images"] is True and "WARNING" in r.stderr
    held_out = run_no_tf("evaluate", artifact(tiny_export, ARTIFACTS[0]), "--json")
    assert held_out.returncode == 0, held_out.stderr
    m = json.loads(held_out.stdout)
    assert m["includes_training_images"] is False and m["num_samples"] == 36 and "WARNING" not in held_out.stderr


def test_training_command_without_tensorflow_says_which_extra():
    r = run_no_tf("train", "--out", "/tmp/never")
    assert r.returncode != 0 and 'pip install "asl-edge[train]"' in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize("content, message", [(b"", "empty"), (b"junk" * 10, "not a valid .tflite")])
def test_bad_artifacts(tmp_path, content, message):
    bad = tmp_path / "bad.tflite"
    bad.write_bytes(content)
    with pytest.raises(ModelError, match=message):
        load_predictor(bad)


def test_artifact_without_metadata(tiny_run, tmp_path):
    from asl_edge.export.tflite import to_fp32
    from asl_edge.runtime import runfolder

    plain = tmp_path / "plain.tflite"
    plain.write_bytes(to_fp32(model_io.load_keras_model(runfolder.load_run(tiny_run).model_path)))
    r = run_no_tf("predict", plain, tmp_path)
    assert r.returncode != 0 and "has no asl-edge metadata" in r.stderr


def test_camera_loop_with_a_fake_capture(tiny_export):
    class FakeCapture:
        def __init__(self):
            self.frames, self.released = 0, False

        def read(self):
            self.frames += 1
            return True, np.full((48, 64, 3), 230, np.uint8)  # BGR

        def release(self):
            self.released = True

    seen = []
    cap = FakeCapture()
    stats = camera_loop(load_predictor(artifact(tiny_export, ARTIFACTS[0])), cap, max_frames=5, on_result=seen.append)
    assert stats["frames"] == 5 and cap.released and stats["no_hand"] == 0
    assert [r.index for r in seen] == [1, 2, 3, 4, 5] and {r.label for r in seen} == {"bright"}
    assert all(r.box is None and 0 < r.probability <= 1 and r.fps > 0 for r in seen)  # no localiser: no box


def test_missing_camera_extra_or_camera_is_one_line(tiny_export):
    r = run_no_tf("predict", artifact(tiny_export, ARTIFACTS[0]), "--camera", "7", "--max-frames", "1")
    assert r.returncode != 0 and len(r.stderr.strip().splitlines()) == 1
    assert "asl-edge[camera]" in r.stderr or "cannot open camera 7" in r.stderr


@pytest.mark.parametrize("bad", [np.zeros((16, 16, 3), np.float32), np.zeros((2, 16, 16, 3), np.uint8)],
                         ids=["float", "4d"])
def test_an_image_array_that_is_not_uint8_hw_or_hwc_is_one_clear_error(tiny_export, bad):
    from asl_edge.runtime.errors import DataError

    model = load_predictor(artifact(tiny_export, ARTIFACTS[0]))
    with pytest.raises(DataError, match="must be uint8"):
        model.predict(bad)
    assert model.predict(np.zeros((16, 16), np.uint8)).top  # a grey (H, W) array is read
