"""Hostile files, second round: no code from a model or a working folder runs, and no input takes
unbounded memory or time.

Every case is one row of ``CASES``: a builder crafts a tiny file (or folder) and says which
``asl-edge`` command meets it, in which working folder, and what must come out (a clear refusal, a
benchmark row refused, or a correct result). Each runs in a fresh process under the targets of
:mod:`hostile_harness` (20 s, 1.5 GB resident); code-execution cases also plant a shell command or
module that would create a marker file, and the marker must not exist afterwards.
``benchmarks/hostile_cases.py`` runs the same table and records outcome, time and memory.
"""

from __future__ import annotations

import json
import shutil
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from hostile_harness import TF_VM_BYTES, assert_ok, assert_one_error_line, assert_within, run_capped


@dataclass
class Setup:
    """What a builder made: the command, its folder, and what must come out.

    ``expect``: ``error`` (one ``asl-edge: error:`` line containing ``match``), ``ok`` (exit 0,
    stdout containing ``match``) or ``row`` (benchmark: the row reported not measured or failed,
    with ``match`` in its output, no traceback, no signal).
    """

    argv: list
    cwd: Path
    expect: str = "error"
    match: str | None = None
    marker: Path | None = None
    tf: bool = False
    snippet: str | None = None
    time_s: float = 20.0
    vm_bytes: int | None = None


@dataclass(frozen=True)
class Case:
    id: str
    cls: str  # which class of attack of the issue it stands for
    severity: str
    build: object  # (tmp: Path, fx: Fixtures) -> Setup


@dataclass
class Fixtures:
    run: Path
    export: Path
    npz: Path


def _image(folder: Path, name: str = "x.png", shape=(16, 16, 3)) -> Path:
    from PIL import Image

    path = folder / name
    Image.fromarray(np.full(shape, 90, np.uint8)).save(path)
    return path


# -- critical: code execution --------------------------------------------------------------------
def _lambda_config(config: dict, marker: Path) -> dict:
    """The config with its last layer replaced by a Lambda whose function is ``pydoc.pipepager``:
    tf_keras' safe mode imports it by name, and it runs its ``cmd`` argument in a shell before it
    fails on the tensor it is given (so the command runs while the model is built)."""
    evil = json.loads(json.dumps(config))
    layers = evil["config"]["layers"]
    layers[-1] = {**layers[-1], "class_name": "Lambda", "module": "keras.layers", "registered_name": None,
                  "config": {"name": layers[-1]["name"], "trainable": True, "dtype": "float32",
                             "function": {"module": "pydoc", "class_name": "function", "config": "pipepager",
                                          "registered_name": "function"},
                             "function_type": "function", "module": "pydoc", "output_shape": None,
                             "output_shape_type": "raw", "output_shape_module": None,
                             "arguments": {"cmd": f"touch {marker}"}}}
    return evil


def _dual_config_keras(src: Path, dest: Path, marker: Path) -> Path:
    """A .keras archive with two config.json members: the harmless original first, a Lambda that
    runs a shell command second (zipfile, and so Keras, reads the last)."""
    import warnings

    with zipfile.ZipFile(src) as zf:
        members = {n: zf.read(n) for n in zf.namelist()}
    config = json.loads(members["config.json"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # zipfile warns about the duplicate name: that is the attack
        with zipfile.ZipFile(dest, "w") as zf:
            zf.writestr("config.json", members["config.json"])
            for name, data in members.items():
                if name != "config.json":
                    zf.writestr(name, data)
            zf.writestr("config.json", json.dumps(_lambda_config(config, marker)))
    return dest


def _evil_run(tmp: Path, fx: Fixtures, marker: Path) -> Path:
    run = tmp / "evil_run"
    shutil.copytree(fx.run, run)
    _dual_config_keras(fx.run / "model.keras", run / "model.keras", marker)
    return run


def _dual_config(command: str):
    def build(tmp: Path, fx: Fixtures) -> Setup:
        marker = tmp / "pwned"
        run = _evil_run(tmp, fx, marker)
        img = _image(tmp)
        match = "2 times"
        if command == "evaluate":
            argv = ["evaluate", run, "--data", fx.npz]
        elif command == "predict":
            argv = ["predict", run, img]
        elif command == "export":
            argv = ["export", run, "--out", tmp / "out"]
        elif command == "benchmark":
            return Setup(["benchmark", run / "model.keras", "--data", fx.npz, "--out", tmp / "b.json", "--runs", "3",
                          "--warmup", "1"], tmp, "row", match, marker, tf=True, time_s=60)
        elif command == "teacher":
            from conftest import TINY_SETS  # the teacher's own split settings: the student must share them

            argv = ["train", "--data", fx.npz, "--teacher", run, "--out", tmp / "student",
                    *[a for s in TINY_SETS for a in ("--set", s)], "--set", "train.epochs=1"]
        elif command == "resume":
            ckpt = tmp / "resume"
            shutil.copytree(fx.run, ckpt)
            last = ckpt / "checkpoints" / "last.keras"
            last.parent.mkdir(exist_ok=True)
            _dual_config_keras(fx.run / "model.keras", last, marker)
            argv = ["train", "--data", fx.npz, "--out", ckpt, "--resume"]
        elif command == "api":
            return Setup([run], tmp, "error", match, marker, tf=True, time_s=40,
                         snippet="import sys, asl_edge\nfrom asl_edge.runtime.errors import AslEdgeError\n"
                                 "try:\n    asl_edge.load(sys.argv[1])\nexcept AslEdgeError as e:\n"
                                 "    sys.exit(f'asl-edge: error: {e}')\n")
        elif command == "sibling":
            # an export folder whose manifest names a sibling run: benchmark loads that run's model
            export = tmp / "export"
            shutil.copytree(fx.export, export)
            manifest = json.loads((export / "manifest.json").read_text())
            manifest.setdefault("source", {})["run"] = str(run)
            (export / "manifest.json").write_text(json.dumps(manifest))
            return Setup(["benchmark", export, "--out", tmp / "b.json"], tmp, "row", None, marker, tf=True,
                         time_s=60)
        return Setup(argv, tmp, "error", match, marker, tf=True, time_s=40)

    return build


# Modules a helper process imports at start: a file of that name in the working folder would run.
_PLANTED = {"resource.py": "", "multiprocessing/__init__.py": "", "numpy.py": "", "encodings/idna.py": ""}


def _shadowing(command: str):
    def build(tmp: Path, fx: Fixtures) -> Setup:
        folder = tmp / "download"
        folder.mkdir()
        marker = tmp / "pwned"
        for name in _PLANTED:
            (folder / name).parent.mkdir(parents=True, exist_ok=True)
            (folder / name).write_text(f"open({str(marker)!r}, 'a').write({name!r} + '\\n')\n")
        shutil.copy(fx.export / "tiny_fp32.tflite", folder / "model.tflite")
        _image(folder, "photo.png")
        if command == "predict":
            return Setup(["predict", "model.tflite", "photo.png"], folder, "ok", "photo.png", marker)
        if command == "evaluate":
            return Setup(["evaluate", "model.tflite", "--data", fx.npz], folder, "ok", None, marker)
        shutil.copytree(fx.run, folder / "run")
        return Setup(["benchmark", "run/model.keras", "model.tflite", "--data", fx.npz, "--out", tmp / "b.json",
                      "--runs", "3", "--warmup", "1"], folder, "ok", None, marker, tf=True, time_s=90)

    return build


# -- high: data-dependent sizes and control flow ----------------------------------------------------
def _with_tiny_metadata(fx: Fixtures, dest: Path, **pre) -> Path:
    """``dest`` given the tiny export's labels and preprocessing (changed by ``pre``)."""
    from asl_edge.runtime.metadata import read_metadata, write_metadata

    meta = read_metadata(fx.export / "tiny_fp32.tflite")
    write_metadata(dest, meta["labels"], {**meta["preprocessing"], **pre})
    return dest


def _tflite_from(fn, dest: Path, fx: Fixtures) -> Path:
    """A .tflite converted from a ``tf.function`` of a (1, 16, 16, 3) image, with the tiny metadata."""
    from asl_edge.keras_compat import tf

    concrete = tf.function(fn, input_signature=[tf.TensorSpec([1, 16, 16, 3], tf.float32)]).get_concrete_function()
    converter = tf.lite.TFLiteConverter.from_concrete_functions([concrete])
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
    dest.write_bytes(converter.convert())
    return _with_tiny_metadata(fx, dest)


def _tflite_fill(tmp: Path, fx: Fixtures) -> Setup:
    """FILL sized by a pixel: the one-shot probe's zero image asks for 1 KB, a bright photo for 4 GB."""
    from asl_edge.keras_compat import tf

    def fn(x):
        n = tf.cast(tf.reduce_max(x) * 4e6, tf.int32) + 1
        big = tf.fill(tf.stack([n, 256]), x[0, 0, 0, 0])  # (the converter folds a fill of a constant away)
        return tf.nn.softmax(tf.zeros([1, 3]) + tf.reduce_mean(big))

    model = _tflite_from(fn, tmp / "fill.tflite", fx)
    return Setup(["predict", model, _image(tmp)], tmp, "error", "FILL")


def _tflite_while(tmp: Path, fx: Fixtures) -> Setup:
    """A WHILE loop whose trip count is a pixel value: a hang on the first real image."""
    from asl_edge.keras_compat import tf

    def fn(x):
        n = tf.cast(tf.reduce_max(x) * 1e9, tf.int32)
        _, total = tf.while_loop(lambda i, a: i < n, lambda i, a: (i + 1, a + 1.0), [tf.constant(0), 0.0])
        return tf.nn.softmax(tf.zeros([1, 3]) + total * 0.0)

    model = _tflite_from(fn, tmp / "while.tflite", fx)
    return Setup(["predict", model, _image(tmp)], tmp, "error", "WHILE")


def _onnx_model(nodes, dest: Path, fx: Fixtures, initializers=(), side: int = 16, **pre) -> Path:
    """An ONNX model ``input`` (N, side, side, 3) -> ``probs`` (N, 3) from ``nodes``, with the tiny metadata."""
    import onnx
    from onnx import TensorProto, helper

    graph = helper.make_graph(nodes, "hostile", [helper.make_tensor_value_info("input", TensorProto.FLOAT,
                                                                                ["N", side, side, 3])],
                              [helper.make_tensor_value_info("probs", TensorProto.FLOAT, ["N", 3])],
                              list(initializers))
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, dest)
    return _with_tiny_metadata(fx, dest, **pre)


def _onnx_tail(value: str):
    """Nodes turning ``value`` (any float tensor) into probabilities (N, 3): softmax(mean(input) + 0 * sum(value))."""
    from onnx import helper

    return [helper.make_node("ReduceSum", [value], ["total"], keepdims=0),
            helper.make_node("Mul", ["total", "zero"], ["nothing"]),
            helper.make_node("ReduceMean", ["input"], ["mean"], axes=[1, 2], keepdims=0),
            helper.make_node("Add", ["mean", "nothing"], ["logits"]),
            helper.make_node("Softmax", ["logits"], ["probs"], axis=-1)]


def _onnx_consts():
    from onnx import TensorProto, helper

    return [helper.make_tensor("zero", TensorProto.FLOAT, [], [0.0]),
            helper.make_tensor("scale", TensorProto.FLOAT, [], [4e6]),
            helper.make_tensor("width", TensorProto.INT64, [1], [256])]


def _pixel_count():
    """Nodes: ``count`` (int64, shape [1]) = max pixel * 4e6."""
    from onnx import TensorProto, helper

    return [helper.make_node("ReduceMax", ["input"], ["peak"], keepdims=0),
            helper.make_node("Mul", ["peak", "scale"], ["scaled"]),
            helper.make_node("Cast", ["scaled"], ["count0"], to=TensorProto.INT64),
            helper.make_node("Reshape", ["count0", "one"], ["count"])]


def _onnx_case(kind: str):
    def build(tmp: Path, fx: Fixtures) -> Setup:
        from onnx import TensorProto, helper

        consts = [*_onnx_consts(), helper.make_tensor("one", TensorProto.INT64, [1], [1])]
        if kind == "if":  # a ConstantOfShape sized by a pixel, hidden in an If branch
            branch = helper.make_graph(
                [helper.make_node("Concat", ["count", "width"], ["shape"], axis=0),
                 helper.make_node("ConstantOfShape", ["shape"], ["big"])], "then", [],
                [helper.make_tensor_value_info("big", TensorProto.FLOAT, None)])
            nodes = [*_pixel_count(), helper.make_node("Greater", ["peak", "zero"], ["cond"]),
                     helper.make_node("If", ["cond"], ["picked"], then_branch=branch, else_branch=branch),
                     *_onnx_tail("picked")]
            match = "ConstantOfShape"
        elif kind == "loop":  # a Loop whose trip count is a pixel value
            body = helper.make_graph(
                [helper.make_node("Identity", ["cond_in"], ["cond_out"]),
                 helper.make_node("Identity", ["acc_in"], ["acc_out"])], "body",
                [helper.make_tensor_value_info("i", TensorProto.INT64, []),
                 helper.make_tensor_value_info("cond_in", TensorProto.BOOL, []),
                 helper.make_tensor_value_info("acc_in", TensorProto.FLOAT, [])],
                [helper.make_tensor_value_info("cond_out", TensorProto.BOOL, []),
                 helper.make_tensor_value_info("acc_out", TensorProto.FLOAT, [])])
            consts.append(helper.make_tensor("true", TensorProto.BOOL, [], [True]))
            nodes = [*_pixel_count(), helper.make_node("Squeeze", ["count"], ["trips"]),
                     helper.make_node("Loop", ["trips", "true", "zero"], ["looped"], body=body),
                     *_onnx_tail("looped")]
            match = "Loop"
        elif kind == "range":  # Range up to a pixel value
            consts.append(helper.make_tensor("start", TensorProto.FLOAT, [], [0.0]))
            consts.append(helper.make_tensor("step", TensorProto.FLOAT, [], [1.0]))
            nodes = [helper.make_node("ReduceMax", ["input"], ["peak"], keepdims=0),
                     helper.make_node("Mul", ["peak", "scale"], ["limit"]),
                     helper.make_node("Range", ["start", "limit", "step"], ["values"]), *_onnx_tail("values")]
            match = "Range"
        else:  # Resize by constant scales: 16x16 -> 16000x16000 (3 GB)
            consts.append(helper.make_tensor("scales", TensorProto.FLOAT, [4], [1.0, 1000.0, 1000.0, 1.0]))
            nodes = [helper.make_node("Resize", ["input", "", "scales"], ["huge"], mode="nearest"),
                     *_onnx_tail("huge")]
            match = "scales"
        model = _onnx_model(nodes, tmp / f"{kind}.onnx", fx, consts)
        return Setup(["predict", model, _image(tmp)], tmp, "error", match)

    return build


def _localiser(tmp: Path, fx: Fixtures, **settings) -> Path:
    from asl_edge.runtime.hands import LocaliserConfig

    model = tmp / "camera.tflite"
    shutil.copy(fx.export / "tiny_fp32.tflite", model)
    return _with_tiny_metadata(fx, model, localiser={**LocaliserConfig().to_dict(), **settings})


def _palm_path(tmp: Path, fx: Fixtures) -> Setup:
    """A camera artifact naming its palm model by a path out of the package: a .tflite of the attacker's."""
    evil = tmp / "evil_palm.tflite"
    shutil.copy(fx.export / "tiny_fp32.tflite", evil)
    model = _localiser(tmp, fx, palm_model=f"../../../../../../../..{tmp}/evil_palm")
    return Setup(["predict", model, _image(tmp)], tmp, "error", "unknown hand model")


def _margin(tmp: Path, fx: Fixtures) -> Setup:
    return Setup(["predict", _localiser(tmp, fx, margin=1e4), _image(tmp)], tmp, "error", "margin")


def _split_root(tmp: Path, fx: Fixtures) -> Setup:
    """An artifact whose embedded held-out split names / as its data: evaluate would walk every file."""
    from asl_edge.runtime.metadata import read_metadata, write_metadata

    model = tmp / "alone.tflite"
    shutil.copy(fx.export / "tiny_fp32.tflite", model)
    meta = read_metadata(model)
    split = {**meta["split"], "source": "/", "fingerprint": None}
    write_metadata(model, meta["labels"], meta["preprocessing"], {"split": split})
    return Setup(["evaluate", model], tmp, "error", "not a class-per-folder")


def _npz_member(zf: zipfile.ZipFile, name: str, dtype: str, shape: tuple, data_bytes: int) -> None:
    """A .npy member whose header declares ``shape`` but which holds ``data_bytes`` zero bytes."""
    with zf.open(f"{name}.npy", "w", force_zip64=True) as fh:
        np.lib.format.write_array_header_1_0(fh, {"descr": dtype, "fortran_order": False, "shape": shape})
        for left in range(data_bytes, 0, -(1 << 20)):
            fh.write(bytes(min(left, 1 << 20)))


def _npz_bomb(kind: str):
    def build(tmp: Path, fx: Fixtures) -> Setup:
        path = tmp / f"{kind}.npz"
        with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
            if kind == "header":  # 1 KB of data declaring 2 GB of images
                _npz_member(zf, "images", "|u1", (40000, 128, 128, 3), 1024)
            else:
                _npz_member(zf, "images", "|u1", (12, 16, 16, 3), 12 * 16 * 16 * 3)
            _npz_member(zf, "labels", "<i8", (12,), 12 * 8)
            if kind == "names":  # a 160 MB class-name array that deflates to 160 KB
                _npz_member(zf, "class_names", "<U10000000", (4,), 4 * 40_000_000)
            if kind == "inflate":  # 300 MB of zeros behind a 300 KB member
                _npz_member(zf, "groups", "<i8", (300 << 17,), 300 << 20)
        model = fx.export / "tiny_fp32.tflite"
        return Setup(["evaluate", model, "--data", path], tmp, "error", {"header": "declares"}.get(kind, "unpacks"))

    return build


def _float_tiff(tmp: Path, fx: Fixtures) -> Setup:
    """A 49-megapixel float TIFF of a few hundred KB: 196 MB decoded; float64 copies took 2.2 GB."""
    from PIL import Image

    path = tmp / "float.tiff"
    Image.fromarray(np.full((7000, 7000), 0.5, np.float32), "F").save(path, compression="tiff_adobe_deflate")
    return Setup(["predict", fx.export / "tiny_fp32.tflite", path], tmp, "ok", "float.tiff")


def _split_json(tmp: Path, fx: Fixtures) -> Setup:
    """A run whose split.json is 20 MB of numbers (250 MB of them took 3 GB as Python objects)."""
    run = tmp / "run"
    shutil.copytree(fx.run, run)
    record = json.loads((run / "split.json").read_text())
    with open(run / "split.json", "w") as fh:
        fh.write(json.dumps({k: v for k, v in record.items() if k != "test"})[:-1] + ', "test": [')
        fh.write("0," * (10 << 20) + "0]}")
    return Setup(["evaluate", run, "--data", fx.npz], tmp, "error", "split", tf=True, time_s=40)


def _large_batch(tmp: Path, fx: Fixtures) -> Setup:
    """16 images at the largest input asl-edge allows (2048x2048): one batch of them took 1.6 GB."""
    from PIL import Image

    from asl_edge.runtime.preprocess import MAX_SIDE

    model = _onnx_model(_onnx_tail("input"), tmp / "large.onnx", fx, _onnx_consts(), side=MAX_SIDE,
                        image_size=[MAX_SIDE, MAX_SIDE])
    folder = tmp / "photos"
    folder.mkdir()
    img = Image.fromarray(np.random.default_rng(0).integers(0, 255, (64, 64, 3), np.uint8))
    for i in range(16):
        img.save(folder / f"{i:02d}.png")
    return Setup(["predict", model, folder], tmp, "ok", "15.png", time_s=60)


def _keras_sizes(tmp: Path, fx: Fixtures) -> Setup:
    """Layer sizes each within bounds (16384 units, a 65536-wide input) that multiply to 4 GB of weights."""
    run = tmp / "run"
    shutil.copytree(fx.run, run)
    with zipfile.ZipFile(fx.run / "model.keras") as zf:
        members = {n: zf.read(n) for n in zf.namelist()}
    config = json.loads(members["config.json"])
    dense = next(layer for layer in config["config"]["layers"] if layer["class_name"] == "Dense")
    dense["config"]["units"] = 16384
    dense["build_config"] = {"input_shape": [None, 65536]}
    members["config.json"] = json.dumps(config).encode()
    with zipfile.ZipFile(run / "model.keras", "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return Setup(["evaluate", run, "--data", fx.npz], tmp, "error", "weights", tf=True, time_s=40)


# -- medium and low ---------------------------------------------------------------------------------
_CAMERA = """
import sys, numpy as np
from asl_edge.runtime.predict import load_predictor
from asl_edge.runtime.stream import camera_loop
frames = [np.full((48, 64), 90, np.uint8), np.full((48, 64, 4), 90, np.uint8), np.full((48, 64, 3), 0.4, np.float32),
          None, np.full((48, 64, 1), 90, np.uint16), np.zeros((0, 0, 3), np.uint8), np.full((48, 64, 3), 90, np.uint8)]
class Capture:
    def read(self):
        return (True, frames.pop(0)) if frames else (False, None)
    def release(self):
        pass
labels = []
stats = camera_loop(load_predictor(sys.argv[1]), Capture(), on_result=lambda r: labels.append(r.label))
assert stats["frames"] == 5 and stats["skipped"] == 2, stats
assert all(label in ("dark", "mid", "bright") for label in labels), labels
print("camera ok", stats["frames"], stats["skipped"])
"""


def _camera_frames(tmp: Path, fx: Fixtures) -> Setup:
    """Grayscale, BGRA, float, None, 16-bit, empty and BGR frames: five classified, two skipped."""
    return Setup([fx.export / "tiny_fp32.tflite"], tmp, "ok", "camera ok 5 2", snippet=_CAMERA)


def _ulimit(tmp: Path, fx: Fixtures) -> Setup:
    """A hard address-space limit (2 GB) below the probe's own minimum (3 GB): a good artifact must load."""
    model = tmp / "alone.tflite"
    shutil.copy(fx.export / "tiny_int8.tflite", model)
    return Setup(["predict", model, _image(tmp)], tmp, "ok", "x.png", vm_bytes=2 << 30)


CASES = [
    *[Case(f"keras-dual-config-{c}", "code execution: .keras with two config.json", "critical", _dual_config(c))
      for c in ("evaluate", "predict", "export", "benchmark", "teacher", "resume", "api", "sibling")],
    *[Case(f"shadowing-{c}", "code execution: module in the working folder", "critical", _shadowing(c))
      for c in ("predict", "evaluate", "benchmark")],
    Case("tflite-fill-by-pixel", "data-dependent size: FILL", "high", _tflite_fill),
    Case("tflite-while", "data-dependent control flow: WHILE", "high", _tflite_while),
    *[Case(f"onnx-{k}", f"data-dependent size or control flow: ONNX {k}", "high", _onnx_case(k))
      for k in ("if", "loop", "range", "resize")],
    Case("camera-palm-path", "metadata path: palm model out of the package", "high", _palm_path),
    Case("split-root", "metadata path: embedded split names /", "high", _split_root),
    *[Case(f"npz-{k}", f"npz bomb: {k}", "high", _npz_bomb(k)) for k in ("header", "names", "inflate")],
    Case("float-tiff", "decoded size: float TIFF", "high", _float_tiff),
    Case("split-json", "JSON size: split.json", "high", _split_json),
    Case("localiser-margin", "unbounded crop: localiser margin", "high", _margin),
    Case("large-batch", "batch memory at the largest input", "high", _large_batch),
    Case("keras-implied-weights", "Keras layer sizes multiplying to gigabytes", "high", _keras_sizes),
    Case("camera-frames", "camera loop: grayscale, BGRA, float, None frames", "medium", _camera_frames),
    Case("ulimit-below-probe", "hard ulimit -v below the probe's limit", "low", _ulimit),
]


@pytest.fixture(scope="module")
def fx(tiny_run, tiny_export, tiny_npz) -> Fixtures:
    return Fixtures(tiny_run, tiny_export, tiny_npz)


def check(case: Case, setup: Setup, r) -> None:
    """Holds one case's result to its expectation (used by the test and by benchmarks/hostile_cases.py)."""
    if setup.marker is not None:
        assert not setup.marker.exists(), f"code ran: {setup.marker.read_text()!r} ({r.summary()})"
    if setup.expect == "error":
        assert_one_error_line(r, setup.match)
    elif setup.expect == "ok":
        out = assert_ok(r)
        assert setup.match is None or setup.match in out, out[-2000:]
    else:  # a benchmark row refused on its own (the other rows measured), or the whole command refused
        assert not r.timed_out and r.returncode is not None and r.returncode >= 0, r.summary()
        assert "Traceback" not in r.stderr, r.stderr[-2000:]
        assert setup.match is None or setup.match in r.stdout + r.stderr, r.stdout[-2000:]


def run_case(case: Case, tmp: Path, fixtures: Fixtures):
    setup = case.build(tmp, fixtures)
    r = run_capped(setup.argv, setup.cwd, time_s=setup.time_s, snippet=setup.snippet,
                   vm_bytes=setup.vm_bytes or (TF_VM_BYTES if setup.tf else None))
    return setup, r


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_hostile_case(case, fx, tmp_path):
    setup, r = run_case(case, tmp_path, fx)
    check(case, setup, r)
    assert_within(r)


@pytest.mark.parametrize("command,hint", [("train", "train.batch_size"), ("predict", "more memory than")])
def test_out_of_memory_says_where_and_what_to_change(command, hint):
    """A MemoryError names the innermost asl-edge function it came from; only training blames the batch."""
    from asl_edge.cli import _out_of_memory

    scope = {"__name__": "asl_edge.data.loaders"}
    exec("def load_npz():\n    raise MemoryError", scope)  # a function of that module, as Python sees it
    try:
        scope["load_npz"]()
    except MemoryError as exc:
        line = _out_of_memory(exc, [command, "x"])
    assert line.startswith("out of memory in data.loaders.load_npz: ") and hint in line, line
    assert (command == "train") == ("batch_size" in line)


def test_isolated_helpers_drop_the_working_folder_but_keep_asl_edges_own(tmp_path, monkeypatch):
    """A helper process's path leaves out the working folder (a planted module there would run), unless
    that folder is the one asl_edge is imported from (an editable install of the checkout one works in)."""
    import json
    import sys
    from pathlib import Path

    import asl_edge
    from asl_edge.runtime.runners import isolated_python

    own = str(Path(asl_edge.__file__).resolve().parents[1])
    elsewhere = tmp_path / "downloads"
    elsewhere.mkdir()
    monkeypatch.setattr(sys, "path", [*sys.path, str(elsewhere), own])
    monkeypatch.chdir(elsewhere)
    path = json.loads(isolated_python("pass")[-1])
    assert str(elsewhere) not in path and own in path
    monkeypatch.chdir(own)
    assert own in json.loads(isolated_python("pass")[-1])
