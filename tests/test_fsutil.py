"""Crash-safe writes and output-folder locks."""

import subprocess
import sys

import pytest

from asl_edge.runtime.errors import AslEdgeError
from asl_edge.runtime.fsutil import atomic_dir, atomic_path, atomic_write, output_lock


def test_failed_write_keeps_the_old_file(tmp_path):
    dest = tmp_path / "manifest.json"
    atomic_write(dest, "old")
    with pytest.raises(RuntimeError):
        with atomic_path(dest) as tmp:
            tmp.write_text("half")
            raise RuntimeError("crash mid-write")
    assert dest.read_text() == "old" and [p.name for p in tmp_path.iterdir()] == ["manifest.json"]


def test_failed_folder_keeps_the_old_folder(tmp_path):
    dest = tmp_path / "export"
    with atomic_dir(dest) as tmp:
        (tmp / "a.tflite").write_text("v1")
    with pytest.raises(RuntimeError):
        with atomic_dir(dest) as tmp:
            (tmp / "a.tflite").write_text("v2")
            raise RuntimeError("crash")
    assert (dest / "a.tflite").read_text() == "v1" and [p.name for p in tmp_path.iterdir()] == ["export"]


def test_second_writer_is_refused_clearly(tmp_path):
    with output_lock(tmp_path / "run"):
        with pytest.raises(AslEdgeError, match="in use by another asl-edge process"):
            with output_lock(tmp_path / "run"):
                pass
        r = subprocess.run([sys.executable, "-m", "asl_edge", "train", "--out", str(tmp_path / "run")],
                           capture_output=True, text=True)
        assert r.returncode != 0 and "in use by another asl-edge process" in r.stderr
    with output_lock(tmp_path / "run"):  # released again, and its file removed
        pass
    assert sorted(p.name for p in tmp_path.iterdir()) == []
