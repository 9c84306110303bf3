"""asl-edge predict, and the runtime-only path that must never import TensorFlow."""

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from asl_edge.models import io as model_io
from asl_edge.runtime.errors import ModelError
from asl_edge.runtime.extras import EXTRAS, install_hint
from asl_edge.runtime.formats import export_formats, get_format
from asl_edge.runtime.predict import load_predictor
from asl_edge.runtime.stream import camera_loop

# The int8_mixed rows are written only when full int8 fails --max-drop: tests/test_quant_layers.py.
ARTIFACTS = [f for f in export_formats() if f.family != "keras" and f.flag != "max_drop"]
ROOT = Path(__file__).resolve().parent.parent
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
    assert r.returncode != 0 and r.stderr.rstrip().endswith(f"is not installed: {install_hint('train')}")
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
    assert install_hint("camera") in r.stderr or "cannot open camera 7" in r.stderr


@pytest.mark.parametrize("bad", [np.zeros((16, 16, 3), np.float32), np.zeros((2, 16, 16, 3), np.uint8)],
                         ids=["float", "4d"])
def test_an_image_array_that_is_not_uint8_hw_or_hwc_is_one_clear_error(tiny_export, bad):
    from asl_edge.runtime.errors import DataError

    model = load_predictor(artifact(tiny_export, ARTIFACTS[0]))
    with pytest.raises(DataError, match="must be uint8"):
        model.predict(bad)
    assert model.predict(np.zeros((16, 16), np.uint8)).top  # a grey (H, W) array is read


# -- the command line's conventions -----------------------------------------------------------------
def run_main(capsys, *args):
    """``asl-edge ARGS`` in this process (seconds faster than a subprocess): exit code, stdout, stderr."""
    from asl_edge.cli import main

    try:
        main([str(a) for a in args])
        code = 0
    except SystemExit as exc:
        code = exc.code
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def log_level():
    """The root logger, its level and ASL_EDGE_NATIVE_LOGS (-vv sets it) restored afterwards: later
    tests' subprocesses would inherit TensorFlow's start-up lines."""
    import logging
    import os

    before, native = logging.getLogger().level, os.environ.get("ASL_EDGE_NATIVE_LOGS")
    yield logging.getLogger()
    logging.getLogger().setLevel(before)
    if native is None:
        os.environ.pop("ASL_EDGE_NATIVE_LOGS", None)
    else:
        os.environ["ASL_EDGE_NATIVE_LOGS"] = native


@pytest.mark.parametrize("argv, level", [
    (["-q", "shifts"], "ERROR"), (["shifts", "-q"], "ERROR"), (["shifts", "--json", "--quiet"], "ERROR"),
    (["-v", "shifts"], "INFO"), (["shifts", "-v"], "INFO"), (["shifts", "-vv"], "DEBUG"), (["shifts"], "WARNING"),
])
def test_verbosity_goes_before_or_after_the_command(capsys, log_level, argv, level):
    code, out, _ = run_main(capsys, *argv)
    assert code == 0 and "mirrored" in out
    assert logging_name(log_level.level) == level


def logging_name(level: int) -> str:
    import logging

    return logging.getLevelName(level)


def test_every_command_takes_debug_quiet_and_verbose_after_its_name(capsys, log_level):
    from asl_edge.cli import _register, cli

    _register()
    for name in cli.commands:
        code, out, err = run_main(capsys, name, "--debug", "-q", "-v", "--help")
        assert code == 0 and "Usage: asl-edge" in out, (name, err)


@pytest.fixture
def failing_predict(monkeypatch):
    """predict's model loading fails with an unexpected error (a bug, not bad input)."""
    import asl_edge.runtime.predict as runtime_predict

    def boom(*args, **kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(runtime_predict, "load_predictor", boom)
    monkeypatch.delenv("ASL_EDGE_DEBUG", raising=False)


@pytest.mark.parametrize("argv", [["--debug", "predict", "m.tflite", "x.png"],
                                  ["predict", "m.tflite", "x.png", "--debug"],
                                  ["predict", "--debug", "m.tflite", "x.png"]], ids=["before", "last", "between"])
def test_debug_anywhere_shows_the_traceback_the_hint_promises(capsys, failing_predict, argv):
    code, _, err = run_main(capsys, "predict", "m.tflite", "x.png")
    assert code == 1 and err.strip() == "asl-edge: error: RuntimeError: boom (run with --debug for the traceback)"
    with pytest.raises(RuntimeError, match="boom"):
        run_main(capsys, *argv)
    code, _, err = run_main(capsys, "predict", "m.tflite", "x.png")  # the next call starts without it
    assert code == 1 and "(run with --debug" in err


def test_debug_from_the_environment(capsys, failing_predict, monkeypatch):
    monkeypatch.setenv("ASL_EDGE_DEBUG", "1")
    with pytest.raises(RuntimeError, match="boom"):
        run_main(capsys, "predict", "m.tflite", "x.png")


def test_val_is_evaluate_and_help_says_so(capsys, tiny_export):
    code, out, _ = run_main(capsys, "--help")
    assert code == 0 and re.search(r"Aliases:\s+val\s+the same command as evaluate", out)
    int8 = artifact(tiny_export, get_format("tflite_int8"))
    runs = [run_main(capsys, command, int8, "--json") for command in ("evaluate", "val")]
    assert runs[0][0] == runs[1][0] == 0 and json.loads(runs[0][1]) == json.loads(runs[1][1])


@pytest.mark.parametrize("command", ["predict", "evaluate"])
def test_an_export_folder_stands_for_its_recommended_artifact(capsys, tiny_export, images, command):
    int8 = artifact(tiny_export, get_format("tflite_int8"))
    extra = [images / "bright.png", images / "dark.jpg"] if command == "predict" else []
    code, by_folder, err = run_main(capsys, command, tiny_export, *extra, "--json")
    assert code == 0 and err.strip().splitlines() == [
        f"{tiny_export}: using {int8.name} (tflite_int8, the export's artifact to deploy; `asl-edge benchmark` on "
        "the folder compares them all)"]
    code, by_file, err = run_main(capsys, command, int8, *extra, "--json")
    assert code == 0 and by_folder == by_file and not err


def _manifest_folder(tmp_path, statuses: dict) -> Path:
    entries = [{"path": f"m{fmt.suffix}", "format": fmt.name, "status": status}
               for fmt, status in ((get_format(name), status) for name, status in statuses.items())]
    tmp_path.joinpath("manifest.json").write_text(json.dumps({"artifacts": entries}))
    return tmp_path


@pytest.mark.parametrize("statuses, chosen", [
    ({"tflite_fp32": "ok", "onnx_int8": "ok", "tflite_int8": "ok", "tflite_fp16": "ok"}, "m_int8.tflite"),
    ({"tflite_fp32": "ok", "tflite_int8": "failed: accuracy", "tflite_int8_mixed": "ok"}, "m_int8_mixed.tflite"),
    ({"tflite_fp32": "ok", "tflite_fp16": "ok", "tflite_int4": "ok"}, "m_fp16.tflite"),
    ({"onnx_fp32": "ok", "onnx_int8": "ok"}, "m_int8.onnx"),
    ({"tflite_int4": "ok", "onnx_fp32": "failed: x"}, "m_int4.tflite"),
])
def test_the_recommended_artifact_is_the_first_that_passed_in_deploy_order(tmp_path, statuses, chosen):
    from asl_edge.runtime.integrity import recommended_artifact

    path, entry = recommended_artifact(_manifest_folder(tmp_path, statuses))
    assert path == tmp_path / chosen and entry["status"] == "ok"


def test_an_export_where_nothing_passed_is_one_error(tmp_path):
    from asl_edge.runtime.integrity import recommended_artifact

    with pytest.raises(ModelError, match="lists no artifact that passed"):
        recommended_artifact(_manifest_folder(tmp_path, {"tflite_int8": "failed: accuracy"}))


def test_info_reports_the_metadata_and_what_the_export_recorded(capsys, tiny_export, tiny_run):
    from asl_edge.runtime.info import artifact_info

    manifest = json.loads((tiny_export / "manifest.json").read_text())
    int8 = artifact(tiny_export, get_format("tflite_int8"))
    entry = next(a for a in manifest["artifacts"] if a["path"] == int8.name)
    info = artifact_info(tiny_export)  # a folder: its recommended artifact
    assert info["artifact"] == str(int8) and info["chosen_from"] == str(tiny_export)
    assert info["labels"] == ["dark", "mid", "bright"] == manifest["labels"]
    assert (info["precision"], info["size_bytes"], info["accuracy"]) == ("int8", int8.stat().st_size, entry["accuracy"])
    assert info["source_run"] == manifest["source"]["run"] and info["manifest_check"] == "matches manifest.json"
    assert info["input"]["shape"] == [1, 16, 16, 3] and info["preprocessing"]["image_size"] == [16, 16]
    assert info["split"]["sizes"]["test"] == 36 and "test" not in info["split"]  # the indices are left out
    code, out, _ = run_main(capsys, "info", int8)
    assert code == 0 and f"accuracy        {entry['accuracy']:.2%} on {manifest['evaluation']['data']}" in out
    assert "labels          3: dark mid bright" in out and "held-out split" in out


def test_info_on_an_artifact_copied_alone_or_changed_says_so(capsys, tiny_export, tmp_path):
    alone = tmp_path / "alone_int8.tflite"
    alone.write_bytes(artifact(tiny_export, get_format("tflite_int8")).read_bytes())
    code, out, _ = run_main(capsys, "info", alone)
    assert code == 0 and "accuracy        not recorded" in out and "no manifest.json beside it" in out
    code, _, err = run_main(capsys, "info", tmp_path / "missing")
    assert code == 2 and err == f"asl-edge: error: not found: {tmp_path / 'missing'}\n"
    copy = tmp_path / "copy"
    shutil.copytree(tiny_export, copy)
    fp32 = artifact(copy, get_format("tflite_fp32"))
    fp32.write_bytes(fp32.read_bytes() + b"\0")
    code, out, _ = run_main(capsys, "info", fp32, "--json")
    assert code == 0 and json.loads(out)["manifest_check"] == ("DIFFERS from manifest.json: the file changed "
                                                               "after export")


# -- install hints that work from a clone -----------------------------------------------------------
def _setup_cfg_extras() -> set[str]:
    import configparser

    parser = configparser.ConfigParser()
    parser.read(ROOT / "setup.cfg")
    return set(parser["options.extras_require"])


@pytest.mark.parametrize("extra", EXTRAS)
def test_every_install_hint_names_an_extra_of_this_checkout(extra, monkeypatch):
    from asl_edge.runtime import extras

    assert extra in _setup_cfg_extras()
    assert extras.install_hint(extra) == f"pip install -e '{ROOT}[{extra}]'"  # run from this checkout
    monkeypatch.setattr(extras, "checkout", lambda: None)  # installed into site-packages from a clone
    assert extras.install_hint(extra) == f"pip install '.[{extra}]' in your asl-edge checkout"


def test_no_message_sends_users_to_a_package_index():
    sources = {p: p.read_text() for p in (ROOT / "asl_edge").rglob("*.py")}
    assert not [p for p, text in sources.items() if re.search(r"pip install \\?[\"']?asl-edge\[", text)]


@pytest.mark.parametrize("call", ["train", "export"])
def test_the_api_in_a_runtime_only_install_names_the_extra_to_install(monkeypatch, call):
    import asl_edge
    from asl_edge.runtime.errors import MissingDependencyError
    from asl_edge.runtime.extras import install_hint

    monkeypatch.setitem(sys.modules, "yaml", None)  # as on a Raspberry Pi with only the `pi` extra
    with pytest.raises(MissingDependencyError) as caught:
        getattr(asl_edge, call)("fast" if call == "train" else "runs/train/edge_cnn-fast")
    assert str(caught.value) == f"'yaml' (the train extra: {EXTRAS['train']}) is not installed: {install_hint('train')}"
