"""Benchmark and report on a tiny export: structure and sane values, never timings."""

import json
import subprocess
import sys

import pytest

from asl_edge.benchmark import BenchConfig, load_results, run_benchmark, save_results
from asl_edge.errors import DataError
from asl_edge.machine import parse_cpuinfo
from asl_edge.report import best_choice, render

ASL_EDGE = [sys.executable, "-m", "asl_edge"]


@pytest.fixture(scope="module")
def results(tiny_export):
    return run_benchmark([tiny_export], BenchConfig(threads=(1, 2), runs=5, warmup=2, batch=8))


def test_rows_for_every_artifact_runtime_and_thread_count(results, tiny_export):
    manifest = json.loads((tiny_export / "manifest.json").read_text())
    ok = [r for r in results["results"] if r["status"] == "ok"]
    assert {r["artifact"] for r in ok} == {a["path"] for a in manifest["artifacts"]} | {"model.keras"}
    assert {r["threads"] for r in ok} == {1, 2}
    for r in ok:
        lat = r["latency_ms"]
        assert 0 < lat["p50"] <= lat["p90"] <= lat["p99"]
        assert 0 <= r["accuracy"] <= 1 and r["throughput_ips"] > 0 and r["size_bytes"] > 0
    assert all(r["macs"] > 0 for r in ok if r["artifact"].endswith(".tflite"))
    assert results["machine"]["cores"] >= 1 and results["machine"]["arch"]


def test_no_gpu_gives_a_not_measured_row(results):
    gpu = [r for r in results["results"] if r["device"] == "gpu"]
    assert gpu and all(r["status"].startswith("not measured") for r in gpu)  # CI and this machine have no GPU


def test_missing_runtime_is_a_row_not_a_crash(tiny_export, monkeypatch):
    from asl_edge import runtimes

    def no_onnxruntime(path, threads, device):
        raise runtimes.RuntimeUnavailable("not measured: ONNX Runtime is not installed")

    monkeypatch.setitem(runtimes._LOADERS, "onnxruntime", no_onnxruntime)
    doc = run_benchmark([tiny_export], BenchConfig(runs=3, warmup=1, batch=4, gpu=False))
    onnx = [r for r in doc["results"] if r["artifact"].endswith(".onnx")]
    assert onnx and all(r["status"] == "not measured: ONNX Runtime is not installed" for r in onnx)


def test_json_round_trip_and_report(results, tmp_path):
    save_results(results, tmp_path / "r.json")
    doc = load_results(tmp_path / "r.json")
    assert doc == json.loads(json.dumps(results))
    md, page = render([doc, doc], tmp_path / "rep")
    text = md.read_text()
    assert text.count("| artifact | runtime |") == 2 and "Best choice" in text and "not measured" in text
    assert "data:image/png;base64," in page.read_text()
    best = best_choice(doc["results"])
    assert best["status"] == "ok"


@pytest.mark.parametrize("content, message", [("{", "not JSON"), ('{"schema": 1}', "not an asl-edge benchmark"),
                                              ('{"schema": 1, "machine": {}, "results": [{"artifact": "a"}]}', "lacks")])
def test_bad_results_file(tmp_path, content, message):
    (tmp_path / "bad.json").write_text(content)
    with pytest.raises(DataError, match=message):
        load_results(tmp_path / "bad.json")
    r = subprocess.run([*ASL_EDGE, "report", str(tmp_path / "bad.json"), "--out", str(tmp_path)], capture_output=True,
                       text=True)
    assert r.returncode != 0 and len(r.stderr.strip().splitlines()) == 1


X86 = "processor\t: 0\nvendor_id\t: GenuineIntel\nmodel\t\t: 106\nmodel name\t: Intel(R) Xeon(R) Gold 6338\nflags\t\t: fpu avx2 fma avx512f avx512_vnni\n"
PI4 = "processor\t: 0\nBogoMIPS\t: 108.00\nFeatures\t: fp asimd evtstrm crc32 cpuid\nCPU part\t: 0xd08\n\nModel\t\t: Raspberry Pi 4 Model B Rev 1.4\n"


def test_cpuinfo_parsing():
    x86 = parse_cpuinfo(X86)
    assert x86["cpu"] == "Intel(R) Xeon(R) Gold 6338" and {"AVX2", "AVX512-VNNI"} <= set(x86["isa"])
    pi = parse_cpuinfo(PI4)
    assert pi["cpu"] == "Raspberry Pi 4 Model B Rev 1.4" and "NEON" in pi["isa"] and "DOTPROD" not in pi["isa"]
