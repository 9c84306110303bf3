"""Hostile files: each class of crafted input ends in one clear error or a correct result."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from asl_edge.runtime.errors import AslEdgeError, ConfigError, DataError, IntegrityError, ModelError


def _cli(*args, timeout=60):
    return subprocess.run([sys.executable, "-m", "asl_edge", *map(str, args)], capture_output=True, text=True,
                          timeout=timeout, env={**os.environ, "PYTHONPATH": str(Path(__file__).parents[1])})


def _one_error_line(r):
    assert r.returncode not in (0,) and r.returncode > 0, (r.returncode, r.stderr[-500:])
    assert r.stderr.strip().splitlines()[-1].startswith("asl-edge: error: "), r.stderr[-500:]


@pytest.fixture
def export_copy(tiny_export, tmp_path):
    dest = tmp_path / "export"
    shutil.copytree(tiny_export, dest)
    return dest


# -- output folders ---------------------------------------------------------------------------------
@pytest.mark.parametrize("kind", ["user_folder", "file", "run_folder", "run_parent"])
def test_export_never_destroys_files_it_did_not_write(tiny_run, tmp_path, kind):
    from asl_edge.export import ExportConfig, export_run

    run = tmp_path / "runs" / "tiny"
    shutil.copytree(tiny_run, run)
    if kind == "user_folder":
        out = tmp_path / "mine"
        out.mkdir()
        (out / "thesis.tex").write_text("precious")
    elif kind == "file":
        out = tmp_path / "notes.txt"
        out.write_text("precious")
    elif kind == "run_folder":
        out = run
    else:
        out = tmp_path / "runs"
    before = {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file() and not p.name.endswith(".lock")}
    for force in (False, True):
        with pytest.raises(AslEdgeError):
            export_run(run, ExportConfig(families=("onnx",)), out, force=force)
    after = {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file() and not p.name.endswith(".lock")}
    assert after == before


def test_force_replaces_only_an_exports_own_files(tiny_export, tmp_path):
    from asl_edge.export.pipeline import check_output_folder

    out = tmp_path / "export"
    shutil.copytree(tiny_export, out)
    with pytest.raises(AslEdgeError, match="already holds an export"):
        check_output_folder(out, force=False)
    check_output_folder(out, force=True)
    (out / "my_notes.md").write_text("mine")
    with pytest.raises(AslEdgeError, match="did not write"):
        check_output_folder(out, force=True)
    (out / "my_notes.md").unlink()
    artifact = next(out.glob("*_int8.tflite"))
    artifact.write_bytes(artifact.read_bytes() + b"my edit")  # listed in the manifest, but changed since
    with pytest.raises(AslEdgeError, match=f"changed since \\({artifact.name}\\)"):
        check_output_folder(out, force=True)
    empty = tmp_path / "empty"
    empty.mkdir()
    check_output_folder(empty, force=False)


def test_swap_interrupted_between_the_renames_is_undone(tmp_path):
    from asl_edge.runtime.fsutil import atomic_dir, recover_dir

    dest = tmp_path / "export"
    with atomic_dir(dest) as tmp:
        (tmp / "manifest.json").write_text("v1")
    # the state a kill -9 leaves between "dest -> .old" and "new -> dest" (the non-Linux path),
    # plus a stale new folder and a legacy temporary folder
    os.replace(dest, tmp_path / ".export.asl-edge-old")
    (tmp_path / ".export.asl-edge-new.abcd1234.tmp").mkdir()
    (tmp_path / ".export.k3j4h5g6.tmp").mkdir()
    (tmp_path / "unrelated.tmp").mkdir()
    recover_dir(dest, owned=lambda folder: (folder / "manifest.json").read_text() == "v1")  # the caller's proof
    assert (dest / "manifest.json").read_text() == "v1"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["export", "unrelated.tmp"]


def test_swap_without_exchange_is_crash_safe(tmp_path, monkeypatch):
    from asl_edge.runtime import fsutil

    monkeypatch.setattr(fsutil, "_exchange", lambda a, b: False)
    dest = tmp_path / "export"
    for v in ("v1", "v2"):
        with fsutil.atomic_dir(dest) as tmp:
            (tmp / "a").write_text(v)
    assert (dest / "a").read_text() == "v2" and sorted(p.name for p in tmp_path.iterdir()) == ["export"]


def test_locks_are_per_output_folder(tmp_path):
    from asl_edge.runtime.fsutil import output_lock

    with output_lock(tmp_path / "a"):
        with output_lock(tmp_path / "b"):  # a sibling is not blocked
            pass
        with pytest.raises(AslEdgeError, match="in use"):
            with output_lock(tmp_path / "a"):
                pass


# -- manifests and escapes ---------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["../../etc/passwd", "/etc/passwd", "..", "sub/x.tflite"])
def test_manifest_paths_must_stay_inside(export_copy, name):
    from asl_edge.bench.targets import expand_targets
    from asl_edge.runtime.integrity import verify_export_dir

    manifest = json.loads((export_copy / "manifest.json").read_text())
    manifest["artifacts"][0]["path"] = name
    (export_copy / "manifest.json").write_text(json.dumps(manifest))
    rows = verify_export_dir(export_copy)
    assert rows[0][1] is False and "outside" in rows[0][2]
    with pytest.raises(IntegrityError, match="not a file inside"):
        expand_targets([export_copy])


def test_symlink_out_of_the_folder_is_refused(export_copy, tmp_path):
    from asl_edge.runtime.integrity import artifact_path

    (tmp_path / "elsewhere.tflite").write_bytes(b"x")
    os.symlink(tmp_path / "elsewhere.tflite", export_copy / "link.tflite")
    with pytest.raises(IntegrityError):
        artifact_path(export_copy, {"path": "link.tflite"})


@pytest.mark.parametrize("mutate", [
    lambda m: m.update(artifacts="x"),
    lambda m: m.update(artifacts=[1]),
    lambda m: m["artifacts"][0].update(sha256=5),
    lambda m: m["artifacts"][0].update(size_bytes="big"),
    lambda m: m.update(source=[]),
    lambda m: m.update(labels=[1, 2]),
])
def test_malformed_manifest_is_one_clear_error(export_copy, mutate):
    from asl_edge.runtime.integrity import read_manifest

    manifest = json.loads((export_copy / "manifest.json").read_text())
    mutate(manifest)
    (export_copy / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(ModelError, match="damaged"):
        read_manifest(export_copy)


@pytest.mark.parametrize("raw", [b"\xff\xfe{}", b"[" * 100000, b"{" + b'"a":' * 3])
def test_undecodable_manifest_is_one_clear_error(export_copy, raw):
    from asl_edge.runtime.integrity import read_manifest

    (export_copy / "manifest.json").write_bytes(raw)
    with pytest.raises(ModelError):
        read_manifest(export_copy)


def test_benchmark_refuses_a_source_model_that_is_not_the_exported_one(export_copy, tiny_run, tmp_path):
    from asl_edge.bench.targets import expand_targets

    other = tmp_path / "hidden"
    shutil.copytree(tiny_run, other)
    (other / "model.keras").write_bytes((other / "model.keras").read_bytes() + b"\0")
    manifest = json.loads((export_copy / "manifest.json").read_text())
    manifest["source"]["run"] = str(other)
    (export_copy / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(IntegrityError, match="model_sha256"):
        expand_targets([export_copy])


# -- non-regular files -----------------------------------------------------------------------------
@pytest.mark.parametrize("kind", ["fifo", "dev_zero"])
def test_fifo_or_device_artifact_is_refused_quickly(export_copy, kind):
    art = export_copy / "tiny_int8.tflite"
    art.unlink()
    if kind == "fifo":
        os.mkfifo(art)
    else:
        os.symlink("/dev/zero", art)
    for args in (["predict", art, "x.png"], ["predict", art, "x.png", "--no-verify"], ["verify", export_copy]):
        r = _cli(*args, timeout=30)
        assert r.returncode != 0, r.stderr


def test_fifo_in_a_data_folder_is_skipped(tmp_path):
    from PIL import Image

    from asl_edge.data.loaders import _list_class_folder

    (tmp_path / "a").mkdir()
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(tmp_path / "a" / "x.png")
    os.mkfifo(tmp_path / "a" / "y.png")
    assert [p.name for p in _list_class_folder(tmp_path / "a")] == ["x.png"]


# -- artifacts and their metadata --------------------------------------------------------------------
def _tflite_with(tiny_export, tmp_path, labels=None, **pre):
    from asl_edge.runtime.metadata import read_metadata, write_metadata

    src = tiny_export / "tiny_fp32.tflite"
    meta = read_metadata(src)
    dest = tmp_path / "alone.tflite"
    shutil.copy(src, dest)
    # write_metadata validates nothing on purpose here: it stands for a hostile author
    write_metadata(dest, labels if labels is not None else meta["labels"], {**meta["preprocessing"], **pre})
    return dest


@pytest.mark.parametrize("pre", [{"resize_chain": [30000]}, {"std": [0]}, {"std": [0.0, 1.0, -1.0]},
                                 {"image_size": [16, 100000]}, {"mean": ["x"]}, {"color_mode": 3},
                                 {"resize_chain": [16] * 100}])
def test_hostile_preprocessing_metadata_is_refused(tiny_export, tmp_path, pre):
    from asl_edge.runtime.predict import load_predictor

    with pytest.raises(ModelError, match="preprocessing"):
        load_predictor(_tflite_with(tiny_export, tmp_path, **pre))


@pytest.mark.parametrize("labels", [["a\nFORGED", "b", "c"], ["\x1b[31mred", "b", "c"], [1, 2, 3], [],
                                    ["x" * 1000, "b", "c"]])
def test_hostile_labels_are_refused(tiny_export, tmp_path, labels):
    from asl_edge.runtime.predict import load_predictor

    with pytest.raises(ModelError, match="label"):
        load_predictor(_tflite_with(tiny_export, tmp_path, labels=labels))


def test_threads_are_bounded(tiny_export):
    from asl_edge.runtime.runners import load_runner

    for threads in (100000, 0, -1):
        with pytest.raises(ConfigError, match="threads"):
            load_runner(tiny_export / "tiny_fp32.onnx", threads=threads)
    load_runner(tiny_export / "tiny_fp32.onnx", threads=1)


def test_tflite_shape_tampering_is_caught_before_litert(tiny_export):
    from ai_edge_litert import schema_py_generated as schema

    from asl_edge.runtime.validate import validate_tflite

    buf = (tiny_export / "tiny_fp32.tflite").read_bytes()
    validate_tflite(buf)
    model = schema.Model.GetRootAs(buf, 0)
    sub = model.Subgraphs(0)
    # make a constant tensor's shape claim more data than its buffer holds
    for t in range(sub.TensorsLength()):
        tensor = sub.Tensors(t)
        if tensor.ShapeLength() and model.Buffers(tensor.Buffer()).DataLength():
            pos = tensor._tab.Vector(tensor._tab.Offset(4))
            bad = bytearray(buf)
            bad[pos:pos + 4] = (1 << 20).to_bytes(4, "little")
            with pytest.raises(ModelError, match="not a valid .tflite"):
                validate_tflite(bytes(bad))
            break
    else:
        pytest.fail("no constant tensor")


def test_onnx_external_data_and_garbage_are_refused(tmp_path):
    from asl_edge.runtime.validate import validate_onnx

    for raw in (b"", b"\x08", b"garbage" * 10, b"\x3a\x02\x0a\x00"):
        with pytest.raises(ModelError):
            validate_onnx(raw)


# -- YAML, images, output, HTML, CSV -----------------------------------------------------------------
BOMB = "\n".join(["a: &a [lol,lol,lol,lol,lol,lol,lol,lol,lol]"]
                 + [f"{c}: &{c} [{', '.join(['*' + p] * 9)}]" for p, c in zip("abcdefgh", "bcdefghi")])


def test_yaml_bomb_is_refused_quickly(tmp_path):
    import time

    from asl_edge.training import config as cfg

    recipe = tmp_path / "bomb.yaml"
    recipe.write_text(BOMB)
    start = time.perf_counter()
    with pytest.raises(ConfigError):
        cfg.load_recipe(str(recipe))
    with pytest.raises(ConfigError):
        cfg.parse_set([f"train.epochs={{{BOMB.replace(chr(10), ', ')}}}"])
    with pytest.raises(ConfigError):
        cfg.safe_yaml("[" * 5000 + "]" * 5000, "deep")
    assert time.perf_counter() - start < 5


def test_sixteen_bit_grayscale_png_keeps_its_pixels(tmp_path):
    from PIL import Image

    from asl_edge.runtime.preprocess import Preprocessing

    grey = np.full((32, 32), 32768, np.uint16)  # mid grey in 16 bits
    Image.fromarray(grey).save(tmp_path / "g.png")
    img = Preprocessing(image_size=(16, 16)).load(tmp_path / "g.png")
    assert abs(int(img.mean()) - 128) <= 1


def test_printable_escapes_control_characters():
    from asl_edge.runtime.fsutil import printable

    assert printable("a\nb\x1b[31m") == "a\\nb\\x1b[31m"
    assert printable("ok é") == "ok é"


def test_top_k_below_one_is_refused(tiny_export, tmp_path):
    from PIL import Image

    Image.fromarray(np.zeros((16, 16, 3), np.uint8)).save(tmp_path / "x.png")
    r = _cli("predict", tiny_export / "tiny_fp32.tflite", tmp_path / "x.png", "--top-k", "-1")
    assert r.returncode != 0 and "top-k" in r.stderr.lower()
    from asl_edge.runtime.predict import load_predictor

    with pytest.raises(DataError):
        load_predictor(tiny_export / "tiny_fp32.tflite").top_k(np.zeros((1, 16, 16, 3), np.uint8), k=-1)


def test_newline_in_image_name_cannot_forge_lines(tiny_export, tmp_path):
    from PIL import Image

    name = tmp_path / "a\nFORGED: 100.png"
    Image.fromarray(np.zeros((16, 16, 3), np.uint8)).save(name, format="PNG")
    r = _cli("predict", tiny_export / "tiny_fp32.tflite", name)
    assert r.returncode == 0, r.stderr
    assert len(r.stdout.strip().splitlines()) == 1 and "\\n" in r.stdout


def test_report_html_cannot_gain_attributes():
    from asl_edge.report.document import inline

    out = inline("[x](https://e.com/'onmouseover='alert(1))")
    assert "'" not in out.replace("&#x27;", "") and "onmouseover='" not in out
    assert '" onmouseover' not in inline('[x](https://e.com/"onmouseover="alert(1))')


def test_csv_rows_are_stored_compactly(tmp_path):
    from asl_edge.data.loaders import load_sign_mnist_csv
    from asl_edge.runtime.preprocess import Preprocessing

    rows = ["label," + ",".join(f"pixel{i}" for i in range(1, 785))]
    rows += [f"{i % 3}," + ",".join(["7"] * 784) for i in range(50)]
    (tmp_path / "s.csv").write_text("\n".join(rows) + "\n")
    ds = load_sign_mnist_csv(tmp_path / "s.csv", Preprocessing(image_size=(28, 28), color_mode="grayscale"))
    assert ds.images.dtype == np.uint8 and ds.images.shape == (50, 28, 28, 1) and (ds.images == 7).all()


CSV_HEADER = "label," + ",".join(f"pixel{i}" for i in range(1, 785))
GRAY28 = dict(image_size=(28, 28), color_mode="grayscale")


def test_large_csv_is_streamed_into_one_compact_array(tmp_path):
    """20,000 rows (56 MB of text): memory grows by the uint8 image array plus one bounded chunk."""
    import tracemalloc

    from asl_edge.data.loaders import load_sign_mnist_csv
    from asl_edge.runtime.preprocess import Preprocessing

    rng = np.random.default_rng(0)
    letters = [v for v in range(25) if v != 9]
    block = [f"{letters[i % 24]}," + ",".join(map(str, rng.integers(0, 256, 784))) for i in range(100)]
    path = tmp_path / "big.csv"
    path.write_text(CSV_HEADER + "\n" + ("\n".join(block) + "\n") * 200)
    pre = Preprocessing(**GRAY28)
    small = tmp_path / "small.csv"
    small.write_text(CSV_HEADER + "\n" + "\n".join(block[:2]) + "\n")
    load_sign_mnist_csv(small, pre)  # the imports (Pillow) are paid outside the measurement
    tracemalloc.start()
    try:
        ds = load_sign_mnist_csv(path, pre)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert ds.images.shape == (20_000, 28, 28, 1) and ds.images.dtype == np.uint8
    assert ds.images.base is None or ds.images.base.nbytes == ds.images.nbytes  # one array, no spare rows
    expected = np.array([int(v) for v in block[57].split(",")[1:]], np.uint8).reshape(28, 28, 1)
    # row 12,357 is block row 57: raw label 10, the letter K (Sign Language MNIST counts J as 9)
    assert (ds.images[12_357] == expected).all() and ds.class_names[ds.labels[12_357]] == "K"
    # Rows as Python ints took about 32 KB each (640 MB here); whole-file uint8 copies doubled the array.
    assert peak < ds.images.nbytes + (8 << 20), f"peak {peak / 1e6:.1f} MB for a {ds.images.nbytes / 1e6:.1f} MB array"


def _csv_lines(n):
    return [f"{i % 3}," + ",".join([str(i % 200)] * 784) for i in range(n)]


@pytest.mark.parametrize("fault, message", [
    (lambda row: row.rsplit(",", 1)[0], "expected 785 values, got 784"),
    (lambda row: row + ",0", "expected 785 values, got 786"),
    (lambda row: row.replace(",5,", ",abc,", 1), "non-integer value"),
    (lambda row: row.replace(",5,", ",1.5,", 1), "non-integer value"),
    (lambda row: row.replace(",5,", "," + "9" * 25 + ",", 1), "value out of range"),
    (lambda row: row.replace(",5,", ",70000,", 1), "pixel values must lie in 0..255"),
    (lambda row: row.replace(",5,", ",-7,", 1), "pixel values must lie in 0..255"),
    (lambda row: row.replace(",5,", ",256,", 1), "pixel values must lie in 0..255"),
    (lambda row: "9" + row[1:], "label 9 out of range"),
    (lambda row: "30" + row[1:], "label 30 out of range"),
    (lambda row: "#" + row, "non-integer value"),
])
@pytest.mark.parametrize("bad_line", [2, 1_234])  # in the first chunk, and a later one
def test_malformed_csv_row_is_one_line_naming_it(tmp_path, fault, message, bad_line):
    from asl_edge.data.loaders import load_sign_mnist_csv
    from asl_edge.runtime.preprocess import Preprocessing

    rows = _csv_lines(1_500)
    rows[bad_line - 2] = fault("1,5," + ",".join(["1"] * 783))
    rows[1_400] = "30" + rows[1_400][1:]  # a later bad row must not be the one named
    (tmp_path / "s.csv").write_text(CSV_HEADER + "\n" + "\n".join(rows) + "\n")
    with pytest.raises(DataError, match=message) as err:
        load_sign_mnist_csv(tmp_path / "s.csv", Preprocessing(**GRAY28))
    assert f"s.csv:{bad_line}: " in str(err.value) and "\n" not in str(err.value)


def test_csv_blank_lines_crlf_and_quoted_cells_load_as_the_rows_say(tmp_path):
    from asl_edge.data.loaders import load_sign_mnist_csv
    from asl_edge.runtime.preprocess import Preprocessing

    rows = _csv_lines(1_100)
    rows[700] = ",".join(f'"{v}"' for v in rows[700].split(","))  # quoted: the row-by-row reader takes it
    text = CSV_HEADER + "\r\n" + "\r\n\r\n".join(rows) + "\r\n\r\n"
    (tmp_path / "s.csv").write_bytes(text.encode())
    ds = load_sign_mnist_csv(tmp_path / "s.csv", Preprocessing(**GRAY28))
    assert len(ds) == 1_100 and ds.images.shape[0] == 1_100
    assert [int(ds.images[i, 0, 0, 0]) for i in (0, 699, 700, 1_099)] == [0, 99, 100, 99]
    assert ds.labels.tolist() == [i % 3 for i in range(1_100)]
    # Lines ending in a bare carriage return are not counted ahead: the arrays grow instead.
    (tmp_path / "cr.csv").write_bytes((CSV_HEADER + "\r" + "\r".join(rows[:600]) + "\r").encode())
    ds = load_sign_mnist_csv(tmp_path / "cr.csv", Preprocessing(**GRAY28))
    assert len(ds) == 600 and int(ds.images[599, 0, 0, 0]) == 599 % 200


# -- the probe: an unverified artifact runs first in a memory-capped child -------------------------------
@pytest.mark.parametrize("body,match", [
    ("import os, signal; os.kill(os.getpid(), signal.SIGSEGV)", "SIGSEGV"),
    ("raise MemoryError", "more memory"),
    ("import resource, sys\nlimit = int(sys.argv[4])\nresource.setrlimit(resource.RLIMIT_AS, (limit, limit))\n"
     "import sys; sys.exit(3 if bytearray(limit) else 0)", "more memory|cannot be loaded"),
])
def test_probe_turns_a_dying_child_into_one_error(tiny_export, monkeypatch, body, match):
    from asl_edge.runtime import runners

    monkeypatch.setenv("ASL_EDGE_PROBE_CACHE", "off")  # an earlier test may have remembered this file
    monkeypatch.setattr(runners, "_PROBE", "import sys\n" + body.replace("raise MemoryError", "sys.exit(4)"))
    with pytest.raises(ModelError, match=match):
        runners.load_runner(tiny_export / "tiny_fp32.tflite", probe_first=True)


def test_every_artifact_is_probed_and_keras_runs_are_not(tiny_export, tiny_run, tmp_path, monkeypatch):
    """A manifest beside an artifact can be crafted as easily as the artifact: it exempts nothing."""
    from asl_edge.runtime import runners
    from asl_edge.runtime.predict import load_predictor

    calls = []
    monkeypatch.setattr(runners, "probe", lambda *a: calls.append(a[0]))
    load_predictor(tiny_export / "tiny_fp32.tflite")
    shutil.copy(tiny_export / "tiny_fp32.tflite", tmp_path / "alone.tflite")
    load_predictor(tmp_path / "alone.tflite")
    load_predictor(tiny_export / "tiny_fp32.onnx", verify=False)
    assert len(calls) == 3


def test_probe_is_remembered_per_sha256(tiny_export, tmp_path, monkeypatch):
    import subprocess as sp

    from asl_edge.runtime import runners

    monkeypatch.setenv("ASL_EDGE_PROBE_CACHE", str(tmp_path / "cache"))
    runs = []
    real = sp.run
    monkeypatch.setattr(sp, "run", lambda *a, **k: runs.append(1) or real(*a, **k))
    for _ in range(2):
        runners.load_runner(tiny_export / "tiny_int8.tflite", probe_first=True)
    assert len(runs) == 1 and len(list((tmp_path / "cache").iterdir())) == 1


def test_probe_passes_a_good_artifact(tiny_export, tmp_path):
    from asl_edge.runtime.runners import load_runner

    shutil.copy(tiny_export / "tiny_int8.onnx", tmp_path / "alone.onnx")
    assert load_runner(tmp_path / "alone.onnx", probe_first=True).predict(np.zeros((1, 16, 16, 3))).shape == (1, 3)


def test_onnx_checks_without_the_onnx_package(tiny_export, monkeypatch):
    """The runtime-only install has onnxruntime but not onnx: the protobuf-free scan still holds."""
    from asl_edge.runtime.validate import validate_onnx

    monkeypatch.setitem(sys.modules, "onnx", None)  # import onnx -> ImportError
    buf = (tiny_export / "tiny_fp32.onnx").read_bytes()
    validate_onnx(buf)
    for bad in (buf[: len(buf) // 2], b"\x0f" + buf[1:], b"\x3a\xff\xff\xff\x0f" + buf):
        with pytest.raises(ModelError):
            validate_onnx(bad)


def test_export_takes_the_lock_before_any_check(tiny_run, tmp_path):
    from asl_edge.export import ExportConfig, export_run
    from asl_edge.runtime.fsutil import output_lock

    out = tmp_path / "out"
    with output_lock(out):
        with pytest.raises(AslEdgeError, match="in use by another asl-edge process"):
            export_run(tiny_run, ExportConfig(families=("onnx",)), out)
    assert not out.exists()


@pytest.mark.parametrize("entries", [
    {"asl_edge.labels": "[" * 50000, "asl_edge.preprocessing": "{}"},
    {"asl_edge.labels": "not json", "asl_edge.preprocessing": "{}"},
    {"asl_edge.labels": '["a", "b"]', "asl_edge.preprocessing": "[]"},
    {"asl_edge.labels": '{"a": 1}', "asl_edge.preprocessing": "{}"},
    {"asl_edge.labels": '["a", "b"]', "asl_edge.preprocessing": '{"image_size": "big"}'},
    {"asl_edge.labels": '["a", "b"]', "asl_edge.preprocessing": '{"evil": 1}'},
])
def test_malformed_metadata_is_one_clear_error(entries):
    from asl_edge.runtime.metadata import _decode

    with pytest.raises(ModelError):
        _decode(entries, Path("m.tflite"))


def test_onnx_metadata_that_is_not_utf8_is_one_clear_error(tmp_path):
    """Found by the ONNX fuzz test: protobuf returns bytes for a string field that is not UTF-8."""
    from onnx import TensorProto, helper

    from asl_edge.runtime.metadata import read_metadata

    graph = helper.make_graph([helper.make_node("Relu", ["x"], ["y"])], "g",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)], ir_version=8)
    helper.set_model_props(model, {"asl_edge.labels": '["a", "bQ"]', "asl_edge.preprocessing": "{}", "otherQ": "1"})
    raw = model.SerializeToString()
    (tmp_path / "m.onnx").write_bytes(raw.replace(b'bQ"]', b'b\xff"]'))
    with pytest.raises(ModelError, match="asl_edge.labels is not UTF-8 text"):
        read_metadata(tmp_path / "m.onnx")
    (tmp_path / "m.onnx").write_bytes(raw.replace(b"otherQ", b"other\xff"))  # a foreign key: ignored
    assert read_metadata(tmp_path / "m.onnx")["labels"] == ["a", "bQ"]


def test_damaged_split_is_one_clear_error(tiny_run, tmp_path):
    from asl_edge.data.runs import run_dataset
    from asl_edge.runtime.runfolder import load_run

    run = tmp_path / "run"
    shutil.copytree(tiny_run, run)
    split = json.loads((run / "split.json").read_text())
    split["test"] = [10**9]
    (run / "split.json").write_text(json.dumps(split))
    with pytest.raises(ModelError, match="indices"):
        run_dataset(load_run(run), part="test")
    (run / "split.json").write_text("[1, 2]")
    with pytest.raises(ModelError):
        load_run(run)


def test_data_file_that_is_a_fifo_is_refused(tmp_path):
    from asl_edge.data import load_dataset
    from asl_edge.runtime.preprocess import Preprocessing

    os.mkfifo(tmp_path / "d.csv")
    with pytest.raises(DataError, match="not a regular file"):
        load_dataset(tmp_path / "d.csv", Preprocessing())


def test_keras_zip_bomb_is_refused(tmp_path):
    import zipfile

    from asl_edge.models.allowlist import check_keras_file

    path = tmp_path / "bomb.keras"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("config.json", json.dumps({"class_name": "Functional", "config": {"layers": []}}))
        zf.writestr("model.weights.h5", b"\0" * (80 << 20))
    with pytest.raises(ModelError, match="unpacks"):
        check_keras_file(path)


def test_tflite_stride_zero_is_refused(tiny_export):
    """A stride of 0 is a division by zero inside LiteRT (SIGFPE); the options are checked first."""
    import flatbuffers
    from ai_edge_litert import schema_py_generated as schema

    from asl_edge.runtime.validate import validate_tflite

    buf = (tiny_export / "tiny_fp32.tflite").read_bytes()
    model = schema.ModelT.InitFromObj(schema.Model.GetRootAsModel(buf, 0))
    convs = [op for op in model.subgraphs[0].operators
             if isinstance(op.builtinOptions, (schema.Conv2DOptionsT, schema.DepthwiseConv2DOptionsT,
                                               schema.Pool2DOptionsT))]
    assert convs
    convs[0].builtinOptions.strideW = 0
    builder = flatbuffers.Builder(len(buf) + 1024)
    builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
    with pytest.raises(ModelError, match="Stride"):
        validate_tflite(bytes(builder.Output()))


@pytest.mark.parametrize("key,value", [("units", 10**10), ("filters", [10**9]), ("kernel_size", [1, 10**6]),
                                       ("batch_input_shape", [None, 10**6, 10**6, 3])])
def test_keras_layer_sizes_are_bounded(key, value):
    from asl_edge.models.allowlist import check_config

    layer = {"class_name": "Dense", "module": "keras.layers", "config": {key: value}}
    with pytest.raises(ModelError, match="out of range"):
        check_config({"class_name": "Functional", "config": {"layers": [layer]}}, Path("m.keras"))


def test_benchmark_out_never_overwrites_a_foreign_file(tmp_path):
    from asl_edge.bench.results import check_results_dest

    notes = tmp_path / "notes.txt"
    notes.write_text("precious")
    with pytest.raises(DataError, match="refusing to overwrite"):
        check_results_dest(notes)
    with pytest.raises(DataError, match="folder"):
        check_results_dest(tmp_path)
    check_results_dest(tmp_path / "new.json")
    r = _cli("benchmark", tmp_path / "whatever.tflite", "--out", notes)
    assert r.returncode != 0 and notes.read_text() == "precious"
