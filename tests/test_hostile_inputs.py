"""Hostile files, second round: settings, report inputs, class names and groups files each end in
one clear line naming what is wrong (or a correct result), within the caps of ``hostile_harness``."""

import json
from pathlib import Path

import numpy as np
import pytest
from conftest import make_tiny_npz
from hostile_harness import TF_VM_BYTES, assert_one_error_line, assert_within, run_capped

from asl_edge.report import load_inputs, render
from asl_edge.report import schema as report_schema
from asl_edge.runtime.errors import DataError

FIXTURES = Path(__file__).parent / "fixtures"
RESULTS = FIXTURES / "bench_results.json"
CHECK = FIXTURES / "arm64_check.json"


def _results() -> dict:
    return json.loads(RESULTS.read_text())


def _ok_row(doc: dict) -> dict:
    return next(r for r in doc["results"] if r["status"] == "ok")


# -- settings ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("item, range_", [
    ("train.epochs=0", "[1, 100000]"), ("train.epochs=-1", "[1, 100000]"),
    ("train.learning_rate=-1", "(0, 10]"), ("train.label_smoothing=5", "[0, 1)"),
    ("train.batch_size=0", "[1, 65536]"), ("train.seed=-1", "[0, 4294967295]"),
    ("model.width=0", "[1, 1024]"), ("model.dropout=1.5", "[0, 1)"),
])
def test_train_refuses_a_setting_out_of_range_in_one_line(tmp_path, item, range_):
    from asl_edge.training.flags import BY_KEY

    key = item.split("=")[0]
    named = f"{key} ({BY_KEY[key].flag})" if key in BY_KEY else key  # a key with a flag names both
    r = run_capped(["train", "--set", item, "--out", tmp_path / "run"], cwd=tmp_path, vm_bytes=TF_VM_BYTES)
    line = assert_one_error_line(r, f"{named} must lie in {range_}")
    assert "Traceback" not in r.stderr and line.count(":") <= 3
    assert_within(r)
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("kwargs", [dict(batch_size=0), dict(seed=-1), dict(batch_size=10**6)])
def test_export_settings_out_of_range_are_one_line(kwargs):
    from asl_edge.export import ExportConfig
    from asl_edge.runtime.errors import ConfigError

    with pytest.raises(ConfigError, match=r"export batch_size must lie in \[1, 65536\] and seed in"):
        ExportConfig(**kwargs)


# -- report inputs: one schema -------------------------------------------------------------------------
def _set(path: str, value):
    """A change to the fixture results: ``path`` like ``results.ok.accuracy`` (``ok``: the first ok row)."""
    def change(doc):
        *parents, key = path.split(".")
        node = doc
        for p in parents:
            node = _ok_row(doc) if p == "ok" else node[p]
        node[key] = value
        return doc

    return change


WRONG = [
    (_set("ok.accuracy", "high"), r"result 0 \(asl-digits-fast_fp32.tflite\) has an accuracy outside \[0, 1\]"),
    (_set("ok.latency_ms", {"p50": "fast", "p90": 1, "p99": 1}), r"result 0 \(.*\) has no latency_ms p50/p90/p99"),
    (_set("ok.throughput_ips", "many"), r"results\[0\]\.throughput_ips: expected a number in \[0, inf\)"),
    (_set("ok.threads", "2"), r"results\[\d+\]\.threads: expected an integer in \[1, 4096\], got '2'"),
    (_set("ok.size_bytes", None), r"results\[\d+\]\.size_bytes: expected an integer"),
    (_set("ok.artifact", ["a"]), r"results\[\d+\]\.artifact: expected a string"),
    (_set("ok.shifts", {"dark": {"accuracy": "x"}}), r"results\[\d+\]\.shifts\.dark\.accuracy: expected a number"),
    (_set("ok.confusion_matrix", [[1, 2], [3]]), r"results\[\d+\]\.confusion_matrix: expected a square matrix"),
    (_set("ok.confusion_matrix", [[1, -2], [3, 4]]), 
     r"results\[0\]\.confusion_matrix: expected a square matrix of counts \(integers >= 0\), got -2"),
    (_set("ok.status", 7), r"results\[\d+\]\.status: expected a string"),
    (_set("ok.hand_localiser", "yes"), r"results\[\d+\]\.hand_localiser: expected true or false"),
    (_set("ok.localiser_macs", "many"), r"results\[\d+\]\.localiser_macs: expected an integer"),
    (_set("ok.data", ["267 images"]), r"results\[\d+\]\.data: expected a string"),
    (_set("machine.cores", "two"), r"machine\.cores: expected an integer"),
    (_set("machine.isa", "AVX2"), r"machine\.isa: expected a list"),
    (_set("labels", {"a": "0123"}), r"labels\.a: expected a list"),
    (_set("warnings", "careful"), r"warnings: expected a list"),
    (_set("config", {"rounds": "3"}), r"config\.rounds: expected an integer"),
    (_set("note", {"x": 1}), r"note: expected a string"),
]


@pytest.mark.parametrize("change, message", WRONG)
def test_a_results_field_of_the_wrong_type_is_one_line_naming_file_and_field(tmp_path, change, message):
    bad = tmp_path / "pi4.json"
    bad.write_text(json.dumps(change(_results())))
    with pytest.raises(DataError, match=f"^{bad}: {message}") as e:
        load_inputs([RESULTS, bad])  # a file of the right kind with a bad field is an error, not skipped
    assert "\n" not in str(e.value)


SIDE = [
    ("arm64-emulation-check", lambda d: d["results"][0].update(max_lsb_diff="one"), r"results\[0\]\.max_lsb_diff"),
    ("arm64-emulation-check", lambda d: d.update(status=3), r"status: expected a string"),
    ("layer-report", lambda d: d["layers"][0].update(nsr="big"), r"layers\[0\]\.nsr: expected a number"),
    ("architecture-comparison", lambda d: d["results"][0].update(int8_accuracy=2),
     r"results\[0\]\.int8_accuracy: expected a number in \[0, 1\], got 2"),
]


def _side(kind: str) -> dict:
    if kind == "arm64-emulation-check":
        return json.loads(CHECK.read_text())
    if kind == "layer-report":
        return {"kind": kind, "model": "m", "layers": [{"layer": "conv", "nsr": 0.1, "rmse_scale": 0.3,
                                                        "macs_share": 0.5, "size_share": 0.4}]}
    return {"kind": kind, "recipe": "fast", "results": [
        {"model": "edge_cnn", "params": 1000, "macs": 10000, "accuracy": 0.9, "int8_accuracy": 0.9,
         "int8_size_bytes": 2000, "latency_ms_p50": 0.1, "train_seconds": 10}]}


@pytest.mark.parametrize("kind, change, message", SIDE)
def test_a_side_document_of_the_wrong_type_is_one_line(tmp_path, kind, change, message):
    doc = _side(kind)
    good = tmp_path / "good.json"
    good.write_text(json.dumps(doc))
    assert load_inputs([RESULTS, good])[1]  # the untouched document is accepted
    change(doc)
    bad = tmp_path / "side.json"
    bad.write_text(json.dumps(doc))
    with pytest.raises(DataError, match=f"^{bad}: {message}"):
        load_inputs([RESULTS, bad])


def _oversized(kind: str) -> dict:
    doc = _results()
    row = _ok_row(doc)
    if kind == "confusion":  # 1500 classes
        row["confusion_matrix"] = [[0] * 1500 for _ in range(1500)]
    elif kind == "heatmap":  # 1100 artifacts under 1100 shifts
        shifts = {f"s{j}": {"accuracy": 0.5} for j in range(1100)}
        doc["results"] = [{**row, "artifact": f"m{i}.tflite", "shifts": shifts} for i in range(1100)]
    else:  # 3000 artifacts
        doc["results"] = [{**row, "artifact": f"m{i}.tflite"} for i in range(3000)]
    return doc


@pytest.mark.parametrize("kind, message", [
    ("confusion", "confusion_matrix: expected a square matrix of at most 100 rows, got 1500 items"),
    ("heatmap", "results: expected a list of at most 200 items, got 1100 items"),
    ("artifacts", "results: expected a list of at most 200 items, got 3000 items"),
])
def test_a_results_file_too_large_to_draw_is_refused_before_drawing(tmp_path, kind, message):
    bad = tmp_path / "big.json"
    bad.write_text(json.dumps(_oversized(kind)))
    r = run_capped(["report", bad, "--out", tmp_path / "rep"], cwd=tmp_path)
    assert_one_error_line(r, message)
    assert_within(r)
    assert not (tmp_path / "rep").exists()


def test_the_largest_input_the_schema_takes_is_drawn(tmp_path):
    doc = _results()
    row = _ok_row(doc)
    side = report_schema.MAX_CLASSES
    doc["results"] = [{**row, "artifact": f"m{i}_int8.tflite",
                       "shifts": {f"s{j}": {"accuracy": 0.5 + j / 1000} for j in range(report_schema.MAX_SHIFTS)},
                       "confusion_matrix": np.eye(side, dtype=int).tolist()}
                      for i in range(report_schema.MAX_ROWS)]
    doc["labels"] = {"m0_int8.tflite": [f"c{k}" for k in range(side)]}
    (tmp_path / "max.json").write_text(json.dumps(doc))
    docs, checks = load_inputs([tmp_path / "max.json"])
    md, page = render(docs, tmp_path / "rep", checks)
    text = md.read_text()
    assert text.count("| m") >= report_schema.MAX_ROWS  # every row in the table
    assert {p.name for p in (tmp_path / "rep").glob("*.png")} == {"0_accuracy_vs_latency.png", "0_size.png",
                                                                  "0_camera_shifts.png", "0_confusion_matrix.png"}


def test_the_committed_results_files_fit_the_schema():
    """`asl-edge report benchmarks/results/**/*.json`, as people type it, reads every committed file."""
    root = Path(__file__).parents[1] / "benchmarks" / "results"
    files = sorted(root.rglob("*.json"))
    docs, checks = load_inputs(files)
    assert docs and checks


def test_more_results_files_than_a_report_takes_are_refused_before_any_is_read(tmp_path):
    too_many = [tmp_path / f"r{i}.json" for i in range(report_schema.MAX_FILES + 1)]  # none exists
    with pytest.raises(DataError, match=f"^{len(too_many)} results files: a report takes at most "):
        load_inputs(too_many)


# -- report text: escaped ----------------------------------------------------------------------------
def test_html_in_results_files_is_shown_as_text(tmp_path):
    doc = _results()
    row = _ok_row(doc)
    for r in doc["results"]:
        if r["artifact"] == row["artifact"]:
            r["artifact"] = "<script>alert(1)</script>_int8.tflite"
        r["data"] = "267 images <img src=x onerror=alert(1)> [click](javascript:alert(1))"  # in Deploy this
    doc["note"] = "<img src=x onerror=alert(1)> `code` [click](javascript:alert(1))"
    doc["machine"]["device"] = "pi\x1b[31m<b>4</b>"
    (tmp_path / "r.json").write_text(json.dumps(doc))
    docs, checks = load_inputs([tmp_path / "r.json"])
    md, page = render(docs, tmp_path / "rep", checks)
    text, html = md.read_text(), page.read_text()
    for raw in ("<script>", "<img src=x", "<b>4", "\x1b", "](javascript"):
        assert raw not in text and raw not in html, raw
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html and "&lt;img src=x onerror=alert(1)&gt;" in text
    assert "'code'" in text  # a backtick from a file cannot open a code span


def test_terminal_tables_escape_control_characters():
    from asl_edge.cli.common import table

    out = table(["name"], [["evil\nrow\x1b[2J"]])
    assert out.splitlines()[-1] == "evil\\nrow\\x1b[2J"


# -- class names and groups files -----------------------------------------------------------------------
@pytest.mark.parametrize("names, message", [
    (["dark", "mid\nfake", "bright"], r"class 1 name 'mid\\nfake' holds a newline or control characters"),
    (["dark", "", "bright"], "class 1 has an empty or blank name"),
    (["dark", "   ", "bright"], "class 1 has an empty or blank name"),
    (["dark", " mid", "bright"], "class 1 name ' mid' starts or ends with blanks"),
    (["dark", "mid", "dark"], "classes 0 and 2 have the same name 'dark'"),
])
def test_class_names_a_run_could_not_use_are_refused(tmp_path, names, message):
    from asl_edge.data import load_dataset
    from asl_edge.runtime.preprocess import Preprocessing

    path = make_tiny_npz(tmp_path / "d.npz")
    with np.load(path) as z:
        arrays = dict(z)
    np.savez(path, **{**arrays, "class_names": np.array(names)})
    with pytest.raises(DataError, match=message) as e:
        load_dataset(path, Preprocessing(image_size=(16, 16)))
    assert "\n" not in str(e.value)


@pytest.mark.parametrize("name", ["mid\tx", " mid", "mid "])
def test_class_folders_a_run_could_not_use_are_refused(tmp_path, name):
    from PIL import Image

    for cls in ("dark", name):
        (tmp_path / "data" / cls).mkdir(parents=True)
        Image.new("RGB", (8, 8)).save(tmp_path / "data" / cls / "a.png")
    r = run_capped(["data-info", "--data", tmp_path / "data", "--json"], cwd=tmp_path)
    assert_one_error_line(r, f"name {name!r}".replace("\t", "\\t"))
    assert_within(r)


def test_a_groups_file_that_is_not_utf8_is_one_line(tmp_path):
    from asl_edge.data import load_dataset
    from asl_edge.runtime.preprocess import Preprocessing

    data = make_tiny_npz(tmp_path / "d.npz")
    groups = tmp_path / "signers.csv"
    groups.write_bytes(b"index,signer\n" + b"".join(f"{i},s\xe9{i % 4}\n".encode("latin-1")
                                                            for i in range(144)))
    with pytest.raises(DataError, match=f"groups file {groups} is not UTF-8 text"):
        load_dataset(data, Preprocessing(image_size=(16, 16)), groups_file=groups)
    groups.write_bytes(groups.read_bytes().decode("latin-1").encode("utf-8"))  # the same file saved as UTF-8
    ds = load_dataset(data, Preprocessing(image_size=(16, 16)), groups_file=groups)
    assert ds.groups[1] == "sé1"


def test_groups_cli_case(tmp_path):
    data = make_tiny_npz(tmp_path / "d.npz")
    groups = tmp_path / "signers.csv"
    groups.write_bytes(b"index,signer\n0,\xff\xfe\n")
    r = run_capped(["train", "--data", data, "--groups", groups, "--out", tmp_path / "run"], cwd=tmp_path,
                   vm_bytes=TF_VM_BYTES, time_s=60)
    assert_one_error_line(r, "is not UTF-8 text")
    assert not (tmp_path / "run" / "model.keras").exists()
