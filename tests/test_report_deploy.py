"""The report answers per use case and per device: close-up images and camera frames in tables of
their own units, never ranked together; ties within timing noise go to the smaller file; one
sentence per device whose numbers are the JSON's; figures titled with the pick they show."""

import copy
import re
from pathlib import Path

import pytest

from asl_edge.bench import load_results, pi_estimate
from asl_edge.report import render
from asl_edge.report.analysis import TIE_RELATIVE, USE_CASE, int8_vs_fp32, pick, use_case_of
from asl_edge.report.deploy import pi_candidates

FIXTURES = Path(__file__).parent / "fixtures"
FRAMES = "120 320x240 frames of held-out close-ups pasted into TEST background photographs"
SENTENCE = re.compile(
    r"For (?P<use>close-up photographs|a camera in a room), ship `(?P<artifact>[^`]+)`"
    r"(?: with its hand localiser \(the hand models ship inside the package\))?, (?P<kb>[\d,.]+) KB, "
    r"(?P<acc>[\d.]+)% on (?P<data>.+?), about (?P<ms>[\d.]+) ms per (?P<unit>image|frame) on (?P<device>.+?) "
    r"\((?P<basis>measured|estimated)")


@pytest.fixture
def doc():
    return load_results(FIXTURES / "bench_results.json")


def row(artifact: str, p50: float, size: int, threads: int = 1, rounds=None, accuracy: float = 0.99, **extra):
    r = {"artifact": artifact, "format": "tflite_int8", "precision": "int8", "runtime": "litert", "device": "cpu",
         "threads": threads, "status": "ok", "size_bytes": size, "accuracy": accuracy, "throughput_ips": 1000 / p50,
         "latency_ms": {"p50": p50, "p90": p50, "p99": p50}, **extra}
    if rounds:
        r["rounds"] = [{"p50": p} for p in rounds]
    return r


def with_camera(doc: dict) -> dict:
    """The fixture plus a camera model: its classifier timed on hand crops, and its pipeline per frame
    (fp16 a hair faster than int8 but larger)."""
    doc = copy.deepcopy(doc)
    extra = []
    for precision, size, crop_p50, frame_p50 in (("int8", 170_000, 0.07, 16.4), ("fp16", 320_000, 0.2, 16.1)):
        name = f"asl-digits-camera_{precision}.tflite"
        base = {"format": f"tflite_{precision}", "precision": precision, "macs": 16_000_000, "hand_localiser": True,
                "data": "held-out signers: 267 images, the 267 localised hand crops (no hand found in 0)"}
        extra.append(row(name, crop_p50, size, accuracy=0.9925, **base))
        for threads in (1, 2):
            extra.append(row(f"{name} + hand localiser", frame_p50 + threads / 10, size, threads, accuracy=0.95,
                             **{**base, "format": "pipeline", "runtime": "litert+litert", "data": FRAMES,
                                "num_samples": 120, "localiser_macs": 428_776_640}))
    doc["results"] += extra
    return doc


def section(text: str, heading: str) -> str:
    """The Markdown from ``heading`` to the next heading of its level or above."""
    start = text.index(heading)
    level = len(heading) - len(heading.lstrip("#"))
    nxt = re.search(rf"^#{{1,{level}}} ", text[start + len(heading):], re.M)
    return text[start: start + len(heading) + (nxt.start() if nxt else len(text))]


# -- ties ----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("int8_p50, rounds, picked", [
    (0.109, [0.100, 0.112, 0.104], "m_int8.tflite"),  # within the fastest's slowest round: a tie, the smaller file
    (0.113, [0.100, 0.112, 0.104], "m_fp16.tflite"),  # slower than that round: no tie
    (0.100 * (1 + TIE_RELATIVE) - 0.001, None, "m_int8.tflite"),  # one round: the stated relative margin
    (0.100 * (1 + TIE_RELATIVE) + 0.001, None, "m_fp16.tflite"),
])
def test_a_tie_within_timing_noise_goes_to_the_smaller_file(int8_p50, rounds, picked):
    fp16 = row("m_fp16.tflite", 0.100, 231_000, rounds=rounds, format="tflite_fp16", precision="fp16")
    int8 = row("m_int8.tflite", int8_p50, 128_000, rounds=[int8_p50, int8_p50 * 1.3] if rounds else None)
    rec = pick([fp16, int8])
    assert rec["row"]["artifact"] == picked
    assert ("smallest file" in rec["why"]) == (picked == "m_int8.tflite")


def test_a_tie_of_one_file_goes_to_fewer_threads_and_accuracy_comes_first():
    two = row("m_int8.tflite", 0.050, 128_000, threads=2)
    one = row("m_int8.tflite", 0.052, 128_000, threads=1)
    assert pick([two, one])["row"]["threads"] == 1
    worse = row("tiny_int8.tflite", 0.010, 50_000, accuracy=0.90)  # fast and small, but 9 points less accurate
    assert pick([two, one, worse])["row"]["artifact"] == "m_int8.tflite"


# -- use cases -----------------------------------------------------------------------------------------
def test_rows_are_classified_by_what_one_call_handles(doc):
    doc = with_camera(doc)
    kinds = {(r["artifact"], use_case_of(r).key) for r in doc["results"]}
    assert ("asl-digits-fast_int8.tflite", "closeup") in kinds
    assert ("asl-digits-camera_int8.tflite", "crop") in kinds
    assert ("asl-digits-camera_int8.tflite + hand localiser", "camera") in kinds
    older = {k: v for k, v in doc["results"][-1].items() if k != "hand_localiser"}  # a file from before the field
    assert use_case_of({**older, "format": "tflite_int8"}).key == "closeup"
    assert use_case_of({**older, "format": "tflite_int8", "data": "x, the 5 localised hand crops"}).key == "crop"


def test_closeups_and_frames_have_tables_of_their_own_units_and_picks(doc, tmp_path):
    text = render([with_camera(doc)], tmp_path)[0].read_text()
    closeups = section(text, "### Close-up photographs: ms per image")
    frames = section(text, "### A camera in a room: ms and frames/s per frame")
    crops = section(text, "### Camera models' classifier alone: ms per crop")
    assert "| held-out accuracy | p50 ms per image | p90 ms per image | p99 ms per image | images/s |" in closeups
    assert "| frames read right | p50 ms per frame | p90 ms per frame | p99 ms per frame | frames/s |" in frames
    assert "p50 ms per crop" in crops and "Deploy on this machine" not in crops  # a part, never shipped alone
    assert "hand localiser" not in closeups and "camera" not in closeups
    assert frames.count("+ hand localiser |") == 4 and "asl-digits-fast" not in frames
    # each use case its own pick: the 16 ms pipeline is not beaten by a 0.1 ms close-up classifier
    assert "**Deploy on this machine for close-up photographs:** `asl-digits-fast_fp32.tflite`" in closeups
    # fp16's pipeline is 0.3 ms faster per frame, within 10% (one round): a tie, the smaller int8 file
    assert "**Deploy on this machine for a camera in a room:** `asl-digits-camera_int8.tflite` on litert+litert " \
           "with 1 thread: 16.5 ms p50 per frame" in frames
    box = section(text, "### Deploy for a camera in a room (ms and frames/s per frame)")
    assert "| p50 ms per frame | frames/s |" in box and "asl-digits-fast" not in box


def test_each_sentence_is_the_json_and_names_an_artifact_of_its_devices_table(doc, tmp_path):
    doc = with_camera(doc)
    text = render([doc], tmp_path)[0].read_text()
    found = [m.groupdict() for m in SENTENCE.finditer(section(text, "## Deploy this"))]
    devices = {(s["device"], s["use"]) for s in found}
    assert devices == {(d, u) for d in ("fixture-x86", *pi_estimate.DEVICES)
                       for u in ("close-up photographs", "a camera in a room")}
    pi_rows = {r["artifact"]: r for r in pi_candidates([doc])}
    for s in found:
        use = USE_CASE["closeup" if s["use"] == "close-up photographs" else "camera"]
        assert s["unit"] == use.unit
        name = s["artifact"] + (" + hand localiser" if use.key == "camera" else "")
        r = next(r for r in doc["results"] if r["artifact"] == name and r["status"] == "ok")
        assert s["kb"] == f"{r['size_bytes'] / 1024:,.1f}" and s["acc"] == f"{r['accuracy'] * 100:.2f}"
        assert s["data"] == r.get("data", doc["data"]["sets"][0])
        if s["basis"] == "measured":
            measured = [x["latency_ms"]["p50"] for x in doc["results"] if x["artifact"] == name and x["status"] == "ok"]
            assert float(s["ms"]) == pytest.approx(min(measured, key=lambda v: abs(v - float(s["ms"]))), abs=1e-3)
            assert f"| {name} |" in section(text, f"## {s['device']}")
        else:
            est = pi_rows[name]["estimate_ms"][s["device"]]
            assert float(s["ms"]) == float(f"{est:.2g}")  # two significant digits: an estimate is no finer
            table = section(text, "### Close-up photographs: ms per image, ESTIMATED" if use.key == "closeup"
                            else "### A camera in a room: ms per frame, ESTIMATED")
            assert f"| {name} |" in table


def test_a_machine_without_a_cpu_row_says_it_has_nothing_to_ship(doc, tmp_path):
    gpu_only = copy.deepcopy(doc)
    gpu_only["machine"]["device"] = "gpu-box"
    gpu_only["results"] = [{**r, "device": "gpu", "threads": None} for r in doc["results"] if r["status"] == "ok"]
    text = render([doc, gpu_only], tmp_path)[0].read_text()
    assert "**gpu-box:** nothing to ship: no CPU row was measured there" in section(text, "## Deploy this")
    assert "**fixture-x86:** For close-up photographs, ship" in text


def test_pi_estimates_take_the_macs_of_their_own_model():
    fast = row("fast_int8.tflite", 0.1, 1000, macs=8_000_000)
    cam = row("cam_int8.tflite", 0.1, 1000, macs=16_000_000)
    cam_onnx = row("cam_int8.onnx", 0.1, 1000, format="onnx_int8", runtime="onnxruntime", macs=None)
    est = {e["artifact"]: e["macs"] for e in pi_estimate.estimates([fast, cam, cam_onnx])}
    assert est["cam_int8.onnx"] == 16_000_000


def test_int8_is_compared_with_the_fp32_of_its_own_model(doc):
    doc = with_camera(doc)
    for r in doc["results"]:
        if r["artifact"] == "asl-digits-camera_fp16.tflite":
            r.update(artifact="asl-digits-camera_fp32.tflite", format="tflite_fp32", precision="fp32")
    pairs = {(c["model"], c["threads"]): c["fp32"] for c in int8_vs_fp32(doc["results"])}
    assert pairs[("asl-digits-camera", 1)] == 0.2
    assert pairs[("asl-digits-fast", 1)] == 0.166


# -- figures -------------------------------------------------------------------------------------------
def test_the_confusion_matrix_is_the_picks(doc, tmp_path):
    for r in doc["results"]:  # int8 as fast as fp32: a tie, so the smaller int8 file is the pick
        if r["artifact"] == "asl-digits-fast_int8.tflite" and r["status"] == "ok":
            r["latency_ms"]["p50"] = 0.095 if r["threads"] == 2 else 0.17
    text = render([doc], tmp_path)[0].read_text()
    alts = dict((name, alt) for alt, name in re.findall(r"!\[([^\]]*)\]\(([^)]+)\)", text))
    assert "confusion matrix of the pick for close-up photographs, asl-digits-fast_int8.tflite" in \
        alts["0_confusion_matrix.png"]
    assert "pick: asl-digits-fast_int8.tflite" in alts["0_accuracy_vs_latency.png"]
    assert all(alt.startswith("fixture-x86: ") for alt in alts.values())  # every figure says what it shows


def _figure(rows, pick_row=None):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from asl_edge.report.plots import accuracy_vs_latency_figure

    return plt, accuracy_vs_latency_figure(plt, rows, "m", USE_CASE["closeup"], pick_row)


def overlapping_ticks(ax) -> list[tuple[str, str]]:
    ax.figure.canvas.draw()
    renderer = ax.figure.canvas.get_renderer()
    lo, hi = ax.get_xlim()
    labels = [t for t in ax.xaxis.get_ticklabels(which="both")
              if t.get_visible() and t.get_text() and lo <= t.get_position()[0] <= hi]
    boxes = sorted(((t.get_window_extent(renderer), t.get_text()) for t in labels), key=lambda b: b[0].x0)
    return [(a[1], b[1]) for a, b in zip(boxes, boxes[1:]) if a[0].x1 > b[0].x0]


@pytest.mark.parametrize("latencies", [(0.05, 0.8), (0.11, 0.29), (0.05, 0.062), (0.02, 400.0)])
def test_latency_ticks_never_overlap(latencies):
    lo, hi = latencies
    rows = [row(f"m{i}_int8.tflite", lo * (hi / lo) ** (i / 5), 1000 + i) for i in range(6)]
    plt, fig = _figure(rows)
    ax = fig.axes[0]
    assert not overlapping_ticks(ax)
    assert len([t for t in ax.xaxis.get_ticklabels() if t.get_text()]) >= 2
    plt.close(fig)


def test_legend_shows_only_what_was_measured_and_names_the_pick():
    rows = [row(f"m{i}_int8.tflite", 0.1 + i / 100, 1000 + i) for i in range(15)]  # 15 entries of one format
    plt, fig = _figure(rows, rows[3])
    legend = fig.axes[0].get_legend()
    texts = [t.get_text() for t in legend.get_texts()]
    assert not any("thread" in t and ("hollow" in t or "filled" in t) for t in texts)  # one thread count
    assert "the pick, m3_int8.tflite (litert, 1 thread)" in " ".join(texts)
    assert "pick: m3_int8.tflite" in fig.axes[0].get_title()
    styles = {(tuple(h.get_edgecolor()[0]), h.get_paths()[0].vertices.tobytes())
              for h in legend.legend_handles[:15]}
    assert len(styles) == 15  # no two entries alike
    plt.close(fig)
    plt, fig = _figure(rows + [row("m0_int8.tflite", 0.05, 1000, threads=2)])
    texts = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert "hollow: 1 thread" in texts and "filled: 2 threads" in texts
    plt.close(fig)
