"""Hostile files, second round: no command deletes or changes a file asl-edge did not write.

Output folders follow one rule for every writing command (train included): a new or empty folder,
or one asl-edge made, whose files ``--force`` replaces only when their hashes prove they are
asl-edge's and unchanged; the folder is checked again at the swap; recovery of an interrupted
swap touches only folders asl-edge made, and only after the checks; no lock file is left behind.
Each CLI case runs in a fresh process under the memory and time caps of ``hostile_harness``.
"""

import hashlib
import json
import os
import shutil
from pathlib import Path

import pytest
from hostile_harness import TF_VM_BYTES, assert_ok, assert_one_error_line, assert_within, run_capped

from asl_edge.runtime import fsutil
from asl_edge.runtime.errors import AslEdgeError, ExportError, OutputError, TrainingError
from asl_edge.runtime.fsutil import TMP_MARK, SwapRefused
from asl_edge.runtime.outfolder import MARKER, output_folder, read_marker, write_marker

RESULTS = Path(__file__).parent / "fixtures" / "bench_results.json"


def _snapshot(folder: Path) -> dict:
    """Every file and folder below ``folder`` (hidden ones too): contents by relative path."""
    return {p.relative_to(folder).as_posix(): (p.read_bytes() if p.is_file() else "dir")
            for p in sorted(folder.rglob("*"))}


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _write(out, files, force=False, command="report"):
    with output_folder(out, command, force) as tmp:
        for name, text in files.items():
            (tmp / name).write_text(text)


def _locks(root: Path) -> list[str]:
    return [p.name for p in root.rglob("*.lock")]


# -- train --out -----------------------------------------------------------------------------------
@pytest.fixture
def run_copy(tiny_run, tmp_path):
    dest = tmp_path / "run"
    shutil.copytree(tiny_run, dest)
    return dest


def _claim(folder: Path, force: bool) -> None:
    from asl_edge.training.trainer import _claim_run_folder

    _claim_run_folder(folder, folder, force)


def test_a_trained_run_lists_its_own_files_with_their_hashes(tiny_run):
    marker = read_marker(tiny_run)
    assert marker["command"] == "train" and marker["complete"] is True
    assert {"model.keras", "labels.txt", "metrics.json", "config.yaml", "checkpoints/last.keras"} \
        <= set(marker["files"])
    assert all(marker["files"][name] == _sha(tiny_run / name) for name in marker["files"])
    assert not _locks(tiny_run.parent)


@pytest.mark.parametrize("tamper, name", [
    (lambda run: (run / "notes.txt").write_text("mine"), "notes.txt"),
    (lambda run: (run / "labels.txt").write_text("my\nown\nlabels\n"), "labels.txt"),
    (lambda run: (run / "checkpoints" / "mine.keras").write_bytes(b"my model"), "checkpoints/mine.keras"),
    (lambda run: (run / "logs").mkdir(exist_ok=True) or (run / "logs" / "diary.txt").write_text("mine"),
     "logs/diary.txt"),
])
def test_train_force_replaces_only_its_own_unchanged_files(run_copy, tamper, name):
    tamper(run_copy)
    before = _snapshot(run_copy)
    with pytest.raises(OutputError, match=f"changed since \\({name}\\)"):
        _claim(run_copy, force=True)
    assert _snapshot(run_copy) == before


def test_train_force_clears_its_own_run_and_claims_the_folder(run_copy):
    with pytest.raises(TrainingError, match="already holds a run: use --force"):
        _claim(run_copy, force=False)
    _claim(run_copy, force=True)
    assert sorted(_snapshot(run_copy)) == [MARKER]
    assert read_marker(run_copy)["complete"] is False


def test_train_out_a_run_without_a_marker_is_refused(run_copy):
    (run_copy / MARKER).unlink()  # a run folder of an earlier asl-edge, or a user's folder shaped like one
    before = _snapshot(run_copy)
    with pytest.raises(OutputError, match="did not make .*remove it yourself"):
        _claim(run_copy, force=True)
    assert _snapshot(run_copy) == before


def test_an_interrupted_run_is_replaced_with_force_but_a_users_file_is_not(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    write_marker(run, "train", complete=False)
    for name in ("checkpoints/state.json", "checkpoints/last.keras", "history.csv", "config.yaml", "logs/train/ev"):
        (run / name).parent.mkdir(parents=True, exist_ok=True)
        (run / name).write_text("training wrote this")
    (run / "thesis.tex").write_text("mine")
    before = _snapshot(run)
    with pytest.raises(OutputError, match=r"changed since \(thesis.tex\)"):
        _claim(run, force=True)
    assert _snapshot(run) == before
    (run / "thesis.tex").unlink()
    _claim(run, force=True)
    assert sorted(_snapshot(run)) == [MARKER]


@pytest.mark.parametrize("force", [False, True])
def test_train_cli_never_writes_into_a_users_folder(tmp_path, force):
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "thesis.tex").write_text("precious")
    r = run_capped(["train", "--out", mine, "--set", "train.epochs=1", *(["--force"] if force else [])],
                   cwd=tmp_path, vm_bytes=TF_VM_BYTES)
    assert_one_error_line(r, "did not make")
    assert_within(r)
    assert _snapshot(mine) == {"thesis.tex": b"precious"} and not _locks(tmp_path)


def test_train_cli_never_writes_inside_a_run_folder(run_copy, tmp_path):
    before = _snapshot(run_copy)
    r = run_capped(["train", "--out", run_copy / "sub", "--force"], cwd=tmp_path, vm_bytes=TF_VM_BYTES)
    assert_one_error_line(r, "training run folder")
    assert_within(r)
    assert _snapshot(run_copy) == before


# -- export --force --------------------------------------------------------------------------------
@pytest.fixture
def export_copy(tiny_export, tmp_path):
    dest = tmp_path / "export"
    shutil.copytree(tiny_export, dest)
    return dest


def _manifest(folder: Path) -> dict:
    return json.loads((folder / "manifest.json").read_text())


def _save_manifest(folder: Path, manifest: dict) -> None:
    (folder / "manifest.json").write_text(json.dumps(manifest))


def test_the_manifest_lists_every_file_of_an_export_with_its_hash(tiny_export):
    manifest = _manifest(tiny_export)
    listed = {a["path"]: a["sha256"] for a in manifest["artifacts"]} | manifest["files"]
    assert "labels.txt" in manifest["files"]
    assert set(listed) | {"manifest.json"} == {p.name for p in tiny_export.iterdir()}
    assert all(_sha(tiny_export / name) == digest for name, digest in listed.items())


def _users_manifest(out):
    (out / "manifest.json").write_text(json.dumps({"schema": 1, "name": "my dataset", "artifacts": []}))


def _labels_edited(out):
    (out / "labels.txt").write_text("zero\none\ntwo\n")


def _forged_layer_report(out):
    (out / "thesis.csv").write_text("my data")
    manifest = _manifest(out)
    manifest["layer_report"] = {"csv": "thesis.csv", "json": "thesis.csv"}
    _save_manifest(out, manifest)


def _forged_hash(out):
    (out / "thesis.csv").write_text("my data")
    manifest = _manifest(out)
    manifest["files"]["thesis.csv"] = "0" * 64
    _save_manifest(out, manifest)


@pytest.mark.parametrize("tamper, message", [
    (_users_manifest, "did not make \\(no manifest.json of its own\\)"),
    (_labels_edited, "changed since \\(labels.txt\\)"),
    (_forged_layer_report, "changed since \\(thesis.csv\\)"),
    (_forged_hash, "changed since \\(thesis.csv\\)"),
])
def test_export_force_replaces_only_files_the_manifest_proves(export_copy, tamper, message):
    from asl_edge.export.pipeline import check_output_folder

    tamper(export_copy)
    before = _snapshot(export_copy)
    with pytest.raises(ExportError, match=message):
        check_output_folder(export_copy, force=True)
    assert _snapshot(export_copy) == before


@pytest.mark.parametrize("tamper", [_users_manifest, _labels_edited, _forged_layer_report])
def test_export_cli_force_keeps_what_it_cannot_prove(tiny_run, export_copy, tmp_path, tamper):
    tamper(export_copy)
    before = _snapshot(export_copy)
    r = run_capped(["export", tiny_run, "--out", export_copy, "--force"], cwd=tmp_path, vm_bytes=TF_VM_BYTES)
    assert_one_error_line(r, "--force replaces only asl-edge's own files" if tamper is not _users_manifest
                          else "did not make")
    assert_within(r)
    assert _snapshot(export_copy) == before and not _locks(tmp_path)


def test_an_export_of_an_earlier_version_is_replaced_when_its_labels_match(export_copy):
    from asl_edge.export.pipeline import check_output_folder

    manifest = _manifest(export_copy)
    for name in manifest.pop("files"):  # older manifests list no files: labels.txt is proven by its labels
        if name != "labels.txt":
            (export_copy / name).unlink()  # a file that version never wrote
    _save_manifest(export_copy, manifest)
    assert check_output_folder(export_copy, force=True) is not None
    _labels_edited(export_copy)
    with pytest.raises(ExportError, match="labels.txt"):
        check_output_folder(export_copy, force=True)


@pytest.mark.parametrize("earlier", [True, False])
def test_a_file_saved_into_out_while_the_export_runs_is_kept(tiny_run, tmp_path, monkeypatch, earlier):
    from asl_edge.export import ExportConfig, export_run, pipeline

    out = tmp_path / "export"
    config = ExportConfig(families=("onnx",))
    if earlier:
        export_run(tiny_run, config, out)
    before = _snapshot(out) if earlier else {}
    chosen = pipeline.selected_formats

    def user_saves_a_file(*args):  # runs after the checks, while the export works
        out.mkdir(exist_ok=True)
        (out / "notes.txt").write_text("saved meanwhile")
        return chosen(*args)

    monkeypatch.setattr(pipeline, "selected_formats", user_saves_a_file)
    with pytest.raises(SwapRefused, match=r"changed while asl-edge export was running \(notes.txt"):
        export_run(tiny_run, config, out, force=True)
    assert _snapshot(out) == {**before, "notes.txt": b"saved meanwhile"}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["export"]  # no temporary folder, no lock


# -- the swap of every other command -----------------------------------------------------------------
@pytest.mark.parametrize("exchange", [True, False])
@pytest.mark.parametrize("change", ["add", "edit"])
def test_a_file_saved_or_edited_during_the_command_is_kept(tmp_path, monkeypatch, exchange, change):
    if not exchange:
        monkeypatch.setattr(fsutil, "_exchange", lambda a, b: False)
    out = tmp_path / "rep"
    _write(out, {"REPORT.md": "one"})
    with pytest.raises(SwapRefused, match="REPORT.md" if change == "edit" else "notes.txt"):
        with output_folder(out, "report", force=True) as tmp:
            (tmp / "REPORT.md").write_text("two")
            (out / ("REPORT.md" if change == "edit" else "notes.txt")).write_text("the user's")
    assert (out / ("REPORT.md" if change == "edit" else "notes.txt")).read_text() == "the user's"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["rep"]


# -- recovery of an interrupted swap ----------------------------------------------------------------
SIBLINGS = [".rep.asl-edge-new.abcdefgh.tmp", ".rep.asl-edge-old", ".rep.old", ".rep.k3j4h5g6.tmp"]


@pytest.mark.parametrize("sibling", SIBLINGS)
def test_recovery_never_touches_a_folder_asl_edge_did_not_make(tmp_path, sibling):
    (tmp_path / sibling).mkdir()
    (tmp_path / sibling / "thesis.tex").write_text("mine")
    _write(tmp_path / "rep", {"REPORT.md": "one"})
    _write(tmp_path / "rep", {"REPORT.md": "two"}, force=True)
    assert (tmp_path / sibling / "thesis.tex").read_text() == "mine"


def test_a_users_old_folder_is_not_moved_into_a_missing_output(tmp_path):
    (tmp_path / ".rep.asl-edge-old").mkdir()
    (tmp_path / ".rep.asl-edge-old" / "thesis.tex").write_text("mine")
    _write(tmp_path / "rep", {"REPORT.md": "one"})
    assert (tmp_path / ".rep.asl-edge-old" / "thesis.tex").read_text() == "mine"
    assert sorted(p.name for p in (tmp_path / "rep").iterdir()) == [MARKER, "REPORT.md"]


def test_recovery_removes_its_own_leftovers_only_after_the_checks_pass(tmp_path):
    leftover = tmp_path / ".rep.asl-edge-new.abcdefgh.tmp"
    leftover.mkdir()
    (leftover / TMP_MARK).write_text("")
    (leftover / "REPORT.md").write_text("half written")
    out = tmp_path / "rep"
    out.mkdir()
    (out / "thesis.tex").write_text("mine")
    with pytest.raises(OutputError, match="did not make"):
        _write(out, {"REPORT.md": "one"}, force=True)
    assert leftover.is_dir()  # a refused command removes nothing
    (out / "thesis.tex").unlink()
    _write(out, {"REPORT.md": "one"})
    assert sorted(p.name for p in tmp_path.iterdir()) == ["rep"]


def test_an_interrupted_swap_of_an_output_is_put_back(tmp_path, monkeypatch):
    monkeypatch.setattr(fsutil, "_exchange", lambda a, b: False)
    out = tmp_path / "rep"
    _write(out, {"REPORT.md": "one"})
    os.replace(out, tmp_path / ".rep.asl-edge-old")  # killed between the two renames of the swap
    with pytest.raises(OutputError, match="already holds the output of asl-edge report"):
        _write(out, {"REPORT.md": "two"})
    assert (out / "REPORT.md").read_text() == "one"


def test_cli_recovery_is_after_the_checks(tmp_path):
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "a.txt").write_text("mine")
    for sibling in (".mine.old", ".mine.asl-edge-old", ".mine.asl-edge-new.abcdefgh.tmp"):
        (tmp_path / sibling).mkdir()
        (tmp_path / sibling / "b.txt").write_text("mine too")
    before = _snapshot(tmp_path)
    r = run_capped(["report", RESULTS, "--out", mine, "--force"], cwd=tmp_path)
    assert_one_error_line(r, "did not make")
    assert_within(r)
    assert _snapshot(tmp_path) == before


# -- locks -----------------------------------------------------------------------------------------
def test_no_lock_file_is_left_behind(tmp_path):
    _write(tmp_path / "rep", {"REPORT.md": "one"})
    with pytest.raises(OutputError):
        _write(tmp_path / "rep", {"REPORT.md": "two"})
    with pytest.raises(RuntimeError):
        with output_folder(tmp_path / "rep", "report", force=True):
            raise RuntimeError("crash")
    assert not _locks(tmp_path)


def test_a_lock_is_exclusive_and_its_file_goes_with_it(tmp_path):
    with fsutil.output_lock(tmp_path / "a"):
        assert _locks(tmp_path) == [".a.asl-edge.lock"]
        with pytest.raises(AslEdgeError, match="in use by another asl-edge process"):
            with fsutil.output_lock(tmp_path / "a"):
                pass
    assert not _locks(tmp_path)


def test_a_lock_file_removed_by_its_last_holder_is_locked_afresh(tmp_path, monkeypatch):
    # A waiter that opened the lock file just before its holder removed it must not lock that
    # removed file (a third process would lock the new one at the same time): it locks the new one.
    lock = tmp_path / ".a.asl-edge.lock"
    real_flock, calls = fsutil.fcntl.flock, []

    def flock(fd, op):
        if not calls:  # the first attempt: the holder removes the file between our open and our lock
            lock.unlink()
        calls.append(op)
        return real_flock(fd, op)

    monkeypatch.setattr(fsutil.fcntl, "flock", flock)
    with fsutil.output_lock(tmp_path / "a"):
        assert lock.exists() and len([c for c in calls if c & fsutil.fcntl.LOCK_EX]) == 2
    assert not lock.exists()


# -- report --out / ----------------------------------------------------------------------------------
@pytest.mark.parametrize("force", [False, True])
def test_report_out_root_is_refused_before_any_walk(tmp_path, force):
    r = run_capped(["report", RESULTS, "--out", "/", *(["--force"] if force else [])], cwd=tmp_path)
    assert_one_error_line(r, "root of the file system")
    assert_within(r)


def test_a_folder_without_a_marker_is_refused_without_reading_its_tree(tmp_path, monkeypatch):
    from asl_edge.runtime import outfolder

    big = tmp_path / "big"
    (big / "deep").mkdir(parents=True)
    (big / "deep" / "file").write_text("x")
    monkeypatch.setattr(outfolder, "_scan", lambda folder: pytest.fail("walked a folder without a marker"))
    with pytest.raises(OutputError, match="did not make"):
        outfolder.check_output_folder(big, "report", force=True)


def test_force_stops_reading_at_the_first_foreign_files(tmp_path, monkeypatch):
    from asl_edge.runtime import outfolder

    out = tmp_path / "rep"
    _write(out, {"REPORT.md": "one"})
    (out / "many").mkdir()
    for i in range(2000):
        (out / "many" / f"{i}.txt").write_text("mine")
    scanned = []
    real = outfolder._scan

    def counting(folder):
        for item in real(folder):
            scanned.append(item)
            yield item

    monkeypatch.setattr(outfolder, "_scan", counting)
    with pytest.raises(OutputError, match=r"changed since \(.*, \.\.\.\)"):
        outfolder.check_output_folder(out, "report", force=True)
    assert len(scanned) < 50


def test_report_into_a_new_folder_still_works(tmp_path):
    # Not a hostile case: the cap is generous (the plots take several seconds on a loaded machine).
    r = run_capped(["report", RESULTS, "--out", tmp_path / "rep"], cwd=tmp_path, time_s=300)
    assert_ok(r)
    assert {MARKER, "REPORT.md", "report.html"} <= {p.name for p in (tmp_path / "rep").iterdir()}
    assert not _locks(tmp_path)
