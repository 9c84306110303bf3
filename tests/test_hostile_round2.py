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


CASES = [
    *[Case(f"keras-dual-config-{c}", "code execution: .keras with two config.json", "critical", _dual_config(c))
      for c in ("evaluate", "predict", "export", "benchmark", "teacher", "resume", "api", "sibling")],
    *[Case(f"shadowing-{c}", "code execution: module in the working folder", "critical", _shadowing(c))
      for c in ("predict", "evaluate", "benchmark")],
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
                   vm_bytes=TF_VM_BYTES if setup.tf else None)
    return setup, r


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_hostile_case(case, fx, tmp_path):
    setup, r = run_case(case, tmp_path, fx)
    check(case, setup, r)
    assert_within(r)
