"""A .keras file must not run code while it loads (allow-list checked before Keras)."""

import json
import zipfile
from pathlib import Path

import pytest

from asl_edge.models.allowlist import check_config
from asl_edge.runtime.errors import ModelError


def _evil_model(path: Path, marker: Path) -> Path:
    """A Lambda layer whose function is os.system with author-chosen arguments, saved by tf_keras."""
    from asl_edge.keras_compat import keras

    inputs = keras.Input((4,))
    out = keras.layers.Lambda(lambda x: x)(inputs)
    model = keras.Model(inputs, out)
    model.save(path)
    # Point the Lambda's function at a plain standard-library function, as the red team did.
    with zipfile.ZipFile(path) as zf:
        files = {n: zf.read(n) for n in zf.namelist()}
    config = json.loads(files["config.json"])
    for layer in config["config"]["layers"]:
        if layer["class_name"] == "Lambda":
            layer["config"]["function"] = {"module": "os", "class_name": "function", "config": "system",
                                           "registered_name": "function"}
            layer["config"]["function_type"] = "function"
            layer["config"]["arguments"] = {"command": f"touch {marker}"}
    files["config.json"] = json.dumps(config).encode()
    with zipfile.ZipFile(path, "w") as zf:
        for n, b in files.items():
            zf.writestr(n, b)
    return path


def _run_with(tmp_path: Path, tiny_run: Path, marker: Path) -> Path:
    import shutil

    run = tmp_path / "evil_run"
    shutil.copytree(tiny_run, run)
    _evil_model(run / "model.keras", marker)
    return run


def test_lambda_with_stdlib_function_is_refused_before_anything_runs(tmp_path):
    from asl_edge.models.io import load_keras_model

    marker = tmp_path / "pwned"
    model = _evil_model(tmp_path / "evil.keras", marker)
    with pytest.raises(ModelError, match="refusing to load"):
        load_keras_model(model)
    assert not marker.exists()


@pytest.mark.parametrize("argv", [
    ["evaluate", "{run}"],
    ["export", "{run}", "--out", "{tmp}/out"],
    ["predict", "{run}", "{img}"],
    ["benchmark", "{run}/model.keras"],
])
def test_cli_paths_refuse_the_evil_model(tmp_path, tiny_run, argv, capsys):
    import numpy as np
    from PIL import Image

    from asl_edge.cli import main

    marker = tmp_path / "pwned"
    run = _run_with(tmp_path, tiny_run, marker)
    img = tmp_path / "x.png"
    Image.fromarray(np.zeros((16, 16, 3), np.uint8)).save(img)
    args = [a.format(run=run, tmp=tmp_path, img=img) for a in argv]
    try:
        main(args)
    except SystemExit as exc:
        assert exc.code != 0
    else:  # benchmark goes on with the other rows and reports this one as not measured
        assert "refusing to load" in capsys.readouterr().out
    assert not marker.exists()


def test_resume_refuses_an_evil_checkpoint(tmp_path, tiny_npz):
    from asl_edge.models.io import load_keras_model

    marker = tmp_path / "pwned"
    ckpt = _evil_model(tmp_path / "last.keras", marker)
    with pytest.raises(ModelError):
        load_keras_model(ckpt, compile=True)
    assert not marker.exists()


@pytest.mark.parametrize("obj", [
    {"class_name": "Lambda", "config": {}},
    {"class_name": "TFOpLambda", "module": "keras.layers", "config": {}},
    {"class_name": "Dense", "module": "os", "config": {}},
    {"class_name": "Dense", "module": "keras.layers", "registered_name": "evil>Dense", "config": {}},
    {"class_name": "Dense", "module": "keras.layers", "config": {"activation": {"module": "subprocess",
                                                                                  "class_name": "function",
                                                                                  "config": "call"}}},
    {"class_name": "Functional", "config": {"layers": [{"class_name": "Wrapper", "config": {}}]}},
    {"class_name": "Dense", "config": {"function": "x"}},
    {"class_name": 3},
])
def test_allowlist_refuses(obj):
    with pytest.raises(ModelError):
        check_config({"class_name": "Functional", "config": {"layers": [obj]}}, Path("m.keras"))


def test_allowlist_accepts_the_package_models(tiny_run):
    from asl_edge.models.allowlist import check_keras_file

    check_keras_file(tiny_run / "model.keras")
    ckpt = tiny_run / "checkpoints" / "last.keras"
    if ckpt.is_file():
        check_keras_file(ckpt)


def test_deeply_nested_config_is_one_clear_error(tmp_path):
    deep = "[" * 100000 + "]" * 100000
    path = tmp_path / "deep.keras"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("config.json", deep)
    from asl_edge.models.io import load_keras_model

    with pytest.raises(ModelError):
        load_keras_model(path)


def test_fifo_model_is_refused(tmp_path):
    import os

    from asl_edge.models.io import load_keras_model

    fifo = tmp_path / "model.keras"
    os.mkfifo(fifo)
    with pytest.raises(ModelError, match="not a regular file"):
        load_keras_model(fifo)
