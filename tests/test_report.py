"""The report renders from committed fixture results: tables, best choice, Pi estimates with their
sources, the ARM64 check, merged machines; bad files are one clear error."""

import copy
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from asl_edge.bench import load_results, pi_estimate
from asl_edge.report import (
    int8_vs_fp32,
    load_check,
    load_inputs,
    recommend,
    render,
    repeatability,
)
from asl_edge.runtime.errors import DataError
from asl_edge.runtime.formats import export_formats

FIXTURES = Path(__file__).parent / "fixtures"
RESULTS = FIXTURES / "bench_results.json"
CHECK = FIXTURES / "arm64_check.json"
ASL_EDGE = [sys.executable, "-m", "asl_edge"]


@pytest.fixture
def doc():
    return load_results(RESULTS)


def test_report_from_fixture_results(doc, tmp_path):
    md, page = render([doc], tmp_path, [load_check(CHECK)], include_gpu=True)
    text, html = md.read_text(), page.read_text()
    assert text.count("| artifact | runtime | device | threads |") == 1
    for row in doc["results"]:  # every result row is in the table
        assert f"| {row['artifact']} | {row['runtime'] or '-'} | {row['device']} |" in text
    assert "not measured: no GPU" in text and "**Deploy on this machine for close-up photographs:**" in text
    assert "Model cost: 7.52 M multiply-accumulates" in text
    # Pi figures: labelled as estimates and cited
    assert "ESTIMATES, not measurements" in text and "(estimate)" in text
    for ref in pi_estimate.REFERENCES:
        assert ref.url in text and ref.url in html
    # the ARM64 check, never as Pi timings
    assert "ARM64 emulation check: PASS" in text and "not Raspberry Pi timings" in text
    # images beside REPORT.md, inlined in the HTML page (self-contained: no other source)
    for name in re.findall(r"!\[[^\]]*\]\(([^)]+)\)", text):
        assert (tmp_path / name).is_file()
    srcs = re.findall(r"src='([^']*)'", html)
    # accuracy/latency, size, latency/threads; no confusion matrix: the pick (fp32 TFLite, the fastest
    # of the accurate rows) has none in the fixture, and another artifact's would be titled wrongly
    assert len(srcs) == 3 and all(s.startswith("data:image/png;base64,") for s in srcs)
    assert "<table>" in html and "<b>Deploy on this machine for close-up photographs:</b>" in html
    # the answer first: the "Deploy this" table comes before any machine section
    assert text.index("## Deploy this") < text.index("## " + doc["machine"]["device"])


def test_recommendation_is_measured_and_int8_is_not_assumed_faster(doc):
    best = recommend(doc["results"])["row"]
    ok = [r for r in doc["results"] if r["status"] == "ok" and r.get("device", "cpu") == "cpu"]
    top = max(r["accuracy"] for r in ok)
    eligible = [r for r in ok if top - r["accuracy"] <= 0.005]
    assert best["latency_ms"]["p50"] <= min(r["latency_ms"]["p50"] for r in eligible) * 1.05
    rows = copy.deepcopy(doc["results"])
    for r in rows:  # make int8 TFLite the most accurate: it must win only if also fastest among the accurate
        if r["status"] == "ok" and r["artifact"].endswith("int8.tflite"):
            r["accuracy"] = 1.0
    assert recommend(rows)["row"]["artifact"].endswith("int8.tflite")
    comparisons = int8_vs_fp32(doc["results"])
    assert {(c["family"], c["threads"]) for c in comparisons} == {("tflite", 1), ("tflite", 2)}
    assert all(c["ratio"] == pytest.approx(c["int8"] / c["fp32"]) for c in comparisons)


def test_machines_merge_into_sections_and_repeats_into_repeatability(doc, tmp_path):
    other = copy.deepcopy(doc)
    other["machine"]["device"] = "second machine"
    other["note"] = "measured in a runtime-only install"  # a machine file's own remark stays with it
    text = render([doc, other], tmp_path / "two")[0].read_text()
    assert "## fixture-x86" in text and "## second machine" in text and "## Deploy this" in text
    assert text.count("Note: measured in a runtime-only install") == 1
    assert text.index("Note: measured") > text.index("## second machine")
    again = copy.deepcopy(doc)
    for r in again["results"]:
        if r["status"] == "ok":
            r["latency_ms"]["p50"] *= 1.05
    text = render([doc, again], tmp_path / "repeat")[0].read_text()
    assert text.count("| artifact | runtime | device | threads |") == 1 and "largest p50 difference 5.0%" in text
    rep = repeatability(doc["results"], again["results"])
    assert len(rep) == sum(r["status"] == "ok" for r in doc["results"])
    assert {r["round_spread"] for r in rep} == {None}  # a file from before timing rounds still renders


def test_timing_rounds_are_described_and_their_spread_shown(doc, tmp_path):
    rounds = copy.deepcopy(doc)
    rounds["config"]["rounds"] = 3
    for r in rounds["results"]:
        if r["status"] == "ok":
            p50, ips = r["latency_ms"]["p50"], r["throughput_ips"]
            r["rounds"] = [{"p50": p50 * 1.2, "throughput_ips": ips}, {"p50": p50, "throughput_ips": ips},
                           {"p50": p50 * 1.1, "throughput_ips": ips}]
    rep = repeatability(rounds["results"], doc["results"])
    assert [r["round_spread"] for r in rep] == pytest.approx([0.2] * len(rep))
    text = render([rounds, doc], tmp_path)[0].read_text()
    assert "3 rounds per row, interleaved across the rows" in text and "| +20.0% |" in text


def test_measured_pi_rows_stand_beside_the_estimates(doc, tmp_path):
    pi = copy.deepcopy(doc)
    pi["machine"].update(device="pi4-lab", board="Raspberry Pi 4 Model B Rev 1.4", arch="aarch64")
    for r in pi["results"]:
        if r["status"] == "ok":
            r["latency_ms"]["p50"] = 0.777
    text = render([doc, pi], tmp_path)[0].read_text()
    line = next(line for line in text.splitlines() if line.startswith("| asl-digits-fast_int8.tflite | int8 | 7.52"))
    cells = [c.strip() for c in line.strip("|").split("|")]
    # artifact, precision, MACs, accuracy, then per Pi its estimate and its measured p50, then the picks
    assert cells[4].endswith("(estimate)") and cells[5] == "0.777"  # Pi 4 measured next to the Pi 4 estimate
    assert cells[6].endswith("(estimate)") and cells[7] == "-"  # Pi 5 not measured
    assert cells[8] == "Raspberry Pi 5"  # the measured Pi 4 answers for itself: only the Pi 5 picks by estimate
    assert "**pi4-lab:** For close-up photographs, ship" in text


@pytest.mark.parametrize("fmt", [f for f in export_formats() if f.family != "keras"], ids=lambda f: f.name)
def test_every_exported_precision_has_a_published_basis(fmt):
    for device in pi_estimate.DEVICES:
        ref = pi_estimate.reference(device, fmt.precision)
        assert ref.url.startswith("https://") and ref.citation
        assert pi_estimate.estimate_ms(2_000_000, fmt.precision, device) == pytest.approx(
            2 * pi_estimate.estimate_ms(1_000_000, fmt.precision, device))
    assert pi_estimate.estimate_ms(10**7, fmt.precision, "Raspberry Pi 5") < \
        pi_estimate.estimate_ms(10**7, fmt.precision, "Raspberry Pi 4")


def test_estimates_cover_every_deployable_artifact(doc):
    est = pi_estimate.estimates(doc["results"])
    assert [e["artifact"] for e in est] == ["asl-digits-fast_fp32.tflite", "asl-digits-fast_int8.tflite",
                                             "asl-digits-fast_int8.onnx"]
    int8 = est[1]
    assert int8["estimate_ms"]["Raspberry Pi 4"] == pytest.approx(int8["macs"] / (569e6 / 24.0))


BAD = [("{", "is not JSON"), ('{"schema": 2, "machine": {}, "results": []}', "not an asl-edge benchmark"),
       ('{"schema": 1, "results": []}', "'machine' or 'results' is missing"),
       ('{"schema": 1, "machine": {}, "results": [{"artifact": "a"}]}', "lacks"),
       ('{"schema": 1, "machine": {}, "data": [], "results": []}', "'data' must be an object"),
       ('{"kind": "arm64-emulation-check", "results": [{}]}', "lacks artifact or status")]


@pytest.mark.parametrize("content, message", BAD)
def test_bad_results_file_is_one_clear_error(tmp_path, content, message):
    bad = tmp_path / "bad.json"
    bad.write_text(content)
    with pytest.raises(DataError, match=message):
        load_inputs([bad])
    r = subprocess.run([*ASL_EDGE, "report", str(bad), "--out", str(tmp_path / "out")], capture_output=True, text=True,
                       check=False)
    assert r.returncode != 0 and r.stderr.strip().startswith("asl-edge: error:")
    assert len(r.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "out" / "REPORT.md").exists()


def test_ok_row_with_impossible_values_is_refused(tmp_path):
    doc = json.loads(RESULTS.read_text())
    doc["results"][0]["accuracy"] = 1.5
    (tmp_path / "r.json").write_text(json.dumps(doc))
    with pytest.raises(DataError, match=r"accuracy outside \[0, 1\]"):
        load_results(tmp_path / "r.json")


def test_report_command_writes_both_files(tmp_path):
    r = subprocess.run(
        [*ASL_EDGE, "report", str(RESULTS), str(CHECK), "--out", str(tmp_path)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "REPORT.md").is_file() and (tmp_path / "report.html").is_file()


def test_recommendation_prefers_the_artifact_that_survives_camera_shifts(doc):
    rows = copy.deepcopy(doc["results"])
    ok = [r for r in rows if r["status"] == "ok"]
    fastest = min(ok, key=lambda r: r["latency_ms"]["p50"])
    for r in ok:
        r["accuracy"] = 0.99
        r["shifts"] = {"mirrored": {"accuracy": 0.95}, "dark": {"accuracy": 0.97}}
    fastest["shifts"]["mirrored"]["accuracy"] = 0.40  # fast but fails with a left hand
    rec = recommend(rows)
    assert rec["row"]["artifact"] != fastest["artifact"] or rec["row"]["runtime"] != fastest["runtime"]
    assert "worst camera shift" in rec["why"]


def test_report_skips_files_that_are_not_results_with_one_warning(tmp_path):
    other = tmp_path / "holdout.json"
    other.write_text(json.dumps({"recipe": "fast", "splits": [0.99]}))
    r = subprocess.run(
        [*ASL_EDGE, "report", str(RESULTS), str(other), "--out", str(tmp_path / "rep")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert r.returncode == 0, r.stderr
    warnings = [line for line in r.stderr.splitlines() if "skipped" in line]
    assert len(warnings) == 1 and "holdout.json" in warnings[0]
    r = subprocess.run(
        [*ASL_EDGE, "report", str(other), "--out", str(tmp_path / "none")], capture_output=True, text=True, check=False
    )
    assert r.returncode != 0 and r.stderr.strip().startswith("asl-edge: error:")


def test_gpu_rows_that_were_not_measured_are_left_out_unless_asked(doc, tmp_path):
    doc = copy.deepcopy(doc)
    doc["results"].append(
        {
            **doc["results"][0],
            "device": "gpu",
            "threads": None,
            "status": "not measured: no GPU",
            "accuracy": None,
            "latency_ms": None,
            "throughput_ips": None,
        }
    )
    text = render([doc], tmp_path / "a")[0].read_text()
    assert "not measured: no GPU" not in text
    text = render([doc], tmp_path / "b", include_gpu=True)[0].read_text()
    assert "not measured: no GPU" in text


def test_accuracy_interval_is_wide_for_few_images_and_narrow_for_many():
    from asl_edge.report.plots import accuracy_interval

    lo_few, hi_few = accuracy_interval(0.98, 50)
    lo_many, hi_many = accuracy_interval(0.98, 5000)
    assert lo_few < lo_many < 0.98 < hi_many < hi_few <= 1.0
    assert accuracy_interval(0.9, None) == (0.9, 0.9)


def test_every_format_has_its_own_colour_in_every_plot():
    from asl_edge.report.plots import KIND_COLOURS

    assert set(KIND_COLOURS) == {f.name for f in export_formats()}
    assert len(set(KIND_COLOURS.values())) == len(KIND_COLOURS)
