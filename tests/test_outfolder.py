"""Output folders of report, evaluate --out, data-info, tune and benchmark --out: asl-edge
writes only into a new or empty folder or one it made, replaces the latter only with --force, and
never replaces or deletes a file it did not write."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from asl_edge.runtime.errors import AslEdgeError, OutputError
from asl_edge.runtime.fsutil import output_lock
from asl_edge.runtime.outfolder import MARKER, output_folder, read_marker

FIXTURES = Path(__file__).parent / "fixtures"
RESULTS = FIXTURES / "bench_results.json"


def _cli(*args, timeout=120):
    return subprocess.run([sys.executable, "-m", "asl_edge", *map(str, args)], capture_output=True, text=True,
                          timeout=timeout, env={**os.environ, "PYTHONPATH": str(Path(__file__).parents[1])})


def _refused(r, *words):
    lines = r.stderr.strip().splitlines()
    assert r.returncode > 0 and len(lines) == 1 and lines[0].startswith("asl-edge: error: "), (r.returncode, r.stderr)
    for word in words:
        assert word in lines[0], lines[0]


def _write(out, files, force=False, command="report"):
    with output_folder(out, command, force) as tmp:
        for name, text in files.items():
            (tmp / name).write_text(text)


def _snapshot(folder: Path) -> dict:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def _run_folder(root: Path) -> Path:
    run = root / "run"
    run.mkdir()
    for name, text in (("model.keras", "weights"), ("labels.txt", "a\nb\n"), ("metrics.json", '{"accuracy": 0.9}')):
        (run / name).write_text(text)
    return run


# -- the library rule ------------------------------------------------------------------------------
def test_new_folder_gets_the_files_and_a_marker_with_their_hashes(tmp_path):
    out = tmp_path / "rep"
    _write(out, {"REPORT.md": "one", "plot.png": "png"})
    marker = read_marker(out)
    assert sorted(p.name for p in out.iterdir()) == sorted([MARKER, "REPORT.md", "plot.png"])
    assert marker["command"] == "report" and set(marker["files"]) == {"REPORT.md", "plot.png"}
    import hashlib

    assert marker["files"]["REPORT.md"] == hashlib.sha256(b"one").hexdigest()


def test_an_empty_folder_is_taken(tmp_path):
    (tmp_path / "empty").mkdir()
    _write(tmp_path / "empty", {"a.json": "{}"})
    assert (tmp_path / "empty" / "a.json").read_text() == "{}"


def test_a_rerun_needs_force_and_then_replaces_the_whole_folder(tmp_path):
    out = tmp_path / "rep"
    _write(out, {"REPORT.md": "one", "old_plot.png": "png"})
    with pytest.raises(OutputError, match="already holds the output of asl-edge report: use --force"):
        _write(out, {"REPORT.md": "two"})
    assert (out / "REPORT.md").read_text() == "one"
    _write(out, {"REPORT.md": "two"}, force=True)
    # The whole folder is the new output: a plot the new report no longer draws is not left stale.
    assert sorted(p.name for p in out.iterdir()) == sorted([MARKER, "REPORT.md"])
    assert (out / "REPORT.md").read_text() == "two"


@pytest.mark.parametrize("tamper, name", [
    (lambda out: (out / "notes.txt").write_text("mine"), "notes.txt"),
    (lambda out: (out / "REPORT.md").write_text("edited by hand"), "REPORT.md"),
    (lambda out: (out / "sub").mkdir() or (out / "sub" / "deep.txt").write_text("mine"), "sub/deep.txt"),
    (lambda out: os.symlink("/etc/hostname", out / "link"), "link"),
])
def test_force_replaces_only_files_asl_edge_wrote_unchanged(tmp_path, tamper, name):
    out = tmp_path / "rep"
    _write(out, {"REPORT.md": "one"})
    tamper(out)
    before = _snapshot(out)
    with pytest.raises(OutputError, match=f"did not write or that were changed since \\({name}\\)"):
        _write(out, {"REPORT.md": "two"}, force=True)
    assert _snapshot(out) == before


@pytest.mark.parametrize("marker", [None, "not json", '{"schema": 1, "files": ["REPORT.md"]}', '{"files": {}}'])
def test_a_folder_without_a_valid_marker_is_never_written(tmp_path, marker):
    out = tmp_path / "mine"
    out.mkdir()
    (out / "REPORT.md").write_text("my own report")
    if marker is not None:
        (out / MARKER).write_text(marker)
    for force in (False, True):
        with pytest.raises(OutputError, match="asl-edge did not make"):
            _write(out, {"REPORT.md": "new"}, force=force)
    assert (out / "REPORT.md").read_text() == "my own report"


@pytest.mark.parametrize("make", [lambda p: p.write_text("notes"), lambda p: os.symlink(p.parent / "elsewhere", p)])
def test_a_file_or_link_is_not_an_output_folder(tmp_path, make):
    (tmp_path / "elsewhere").mkdir()
    out = tmp_path / "out"
    make(out)
    with pytest.raises(OutputError, match="exists and is not a folder"):
        _write(out, {"a": "b"}, force=True)
    assert os.path.lexists(out) and not (tmp_path / "elsewhere" / "a").exists()


@pytest.mark.parametrize("where", ["run", "run/eval", "run/checkpoints"])
def test_never_into_or_below_a_training_run_folder(tmp_path, where):
    run = _run_folder(tmp_path)
    before = _snapshot(run)
    with pytest.raises(OutputError, match="training run folder"):
        _write(tmp_path / where, {"metrics.json": "{}"}, force=True)
    assert _snapshot(run) == before


def test_an_interrupted_run_counts_as_a_run_folder(tmp_path):
    (tmp_path / "run" / "checkpoints").mkdir(parents=True)
    (tmp_path / "run" / "checkpoints" / "state.json").write_text("{}")
    with pytest.raises(OutputError, match="training run folder"):
        _write(tmp_path / "run", {"metrics.json": "{}"})


def test_a_failed_command_leaves_the_earlier_output(tmp_path):
    out = tmp_path / "rep"
    _write(out, {"REPORT.md": "one"})
    with pytest.raises(RuntimeError):
        with output_folder(out, "report", force=True) as tmp:
            (tmp / "REPORT.md").write_text("half")
            raise RuntimeError("crash")
    assert (out / "REPORT.md").read_text() == "one" and read_marker(out) is not None
    assert sorted(p.name for p in tmp_path.iterdir() if not p.name.endswith(".lock")) == ["rep"]


def test_the_lock_is_taken_before_any_check(tmp_path):
    out = tmp_path / "rep"
    out.write_text("a file: the check would refuse it, but the lock holder must be named first")
    with output_lock(out):
        with pytest.raises(AslEdgeError, match="in use by another asl-edge process"):
            _write(out, {"a": "b"})


# -- the commands ----------------------------------------------------------------------------------
# Each command's refusals come before any work, so these run without a model or data.
COMMANDS = {
    "report": ["report", RESULTS],
    "data-info": ["data-info", "--data", "builtin"],
    "evaluate": ["evaluate", "no-such-model.tflite"],
    "tune": ["tune", "--trials", "1", "--epochs", "1"],
}


@pytest.mark.parametrize("command", sorted(COMMANDS))
@pytest.mark.parametrize("force", [False, True])
def test_commands_refuse_a_file_a_foreign_folder_and_a_run_folder(tmp_path, command, force):
    args = [*COMMANDS[command], *(["--force"] if force else [])]
    notes = tmp_path / "notes.txt"
    notes.write_text("precious")
    _refused(_cli(*args, "--out", notes), "is not a folder")
    assert notes.read_text() == "precious"
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "summary.json").write_text("my own")
    _refused(_cli(*args, "--out", mine), "did not make")
    assert _snapshot(mine) == {"summary.json": b"my own"}
    run = _run_folder(tmp_path)
    before = _snapshot(run)
    _refused(_cli(*args, "--out", run), "training run folder")
    assert _snapshot(run) == before


def test_evaluate_out_into_its_own_run_folder_is_refused(tmp_path):
    run = _run_folder(tmp_path)
    before = _snapshot(run)
    for out in (run, run / "eval"):
        _refused(_cli("evaluate", run, "--out", out, "--force"), "training run folder")
    assert _snapshot(run) == before and not (run / "eval").exists()


def test_report_twice_into_its_folder_needs_force(tmp_path):
    out = tmp_path / "rep"
    assert _cli("report", RESULTS, "--out", out).returncode == 0
    first = _snapshot(out)
    assert {"REPORT.md", "report.html", MARKER} <= set(first)
    _refused(_cli("report", RESULTS, "--out", out), "use --force")
    assert _snapshot(out) == first
    r = _cli("report", RESULTS, "--out", out, "--force")
    assert r.returncode == 0, r.stderr
    assert set(_snapshot(out)) == set(first) and read_marker(out)["command"] == "report"


def test_data_info_writes_its_folder_and_refuses_a_rerun_without_force(tiny_npz, tmp_path):
    out = tmp_path / "info"
    assert _cli("data-info", "--data", tiny_npz, "--out", out).returncode == 0
    assert set(read_marker(out)["files"]) == {"samples.png", "summary.json"}
    _refused(_cli("data-info", "--data", tiny_npz, "--out", out), "use --force")
    assert _cli("data-info", "--data", tiny_npz, "--out", out, "--force").returncode == 0


def test_evaluate_out_writes_a_marked_folder(tiny_export, tmp_path):
    artifact = next(tiny_export.glob("*_int8.tflite"))
    out = tmp_path / "ev"
    r = _cli("evaluate", artifact, "--shifts", "--shift", "mirrored", "--out", out)
    assert r.returncode == 0, r.stderr
    assert set(read_marker(out)["files"]) == {"metrics.json"}
    assert "shifts" in json.loads((out / "metrics.json").read_text())
    _refused(_cli("evaluate", artifact, "--shifts", "--shift", "mirrored", "--out", out), "use --force")
    # An export folder is asl-edge's, but not an evaluate output: --force must not replace its artifacts.
    copy = tmp_path / "export"
    shutil.copytree(tiny_export, copy)
    before = _snapshot(copy)
    _refused(_cli("evaluate", artifact, "--out", copy, "--force"), "did not make")
    assert _snapshot(copy) == before


def test_benchmark_out_replaces_its_own_results_only_with_force(tmp_path):
    dest = tmp_path / "bench.json"
    shutil.copy(RESULTS, dest)
    _refused(_cli("benchmark", tmp_path / "whatever.tflite", "--out", dest), "already holds benchmark results",
             "--force")
    assert dest.read_bytes() == RESULTS.read_bytes()
    run = _run_folder(tmp_path)
    _refused(_cli("benchmark", tmp_path / "whatever.tflite", "--out", run / "bench.json", "--force"),
             "training run folder")
    assert not (run / "bench.json").exists()
