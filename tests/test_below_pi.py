"""Below the Pi rows: Vela's estimate as rows of its own, Cortex-M scaled estimates, measured boards replacing them."""

from __future__ import annotations

import json

import pytest

from asl_edge.bench import below_pi, pi_estimate
from asl_edge.report.render import render

ART = "m_int8.tflite"
MACS = 2_500_000


def results_doc(rows, device="x86_64 test CPU"):
    return {"schema": 1, "kind": "benchmark", "machine": {"device": device}, "config": {}, "results": rows,
            "labels": {}, "data": {"sets": []}, "warnings": []}


def cpu_row(**extra):
    return {"artifact": ART, "format": "tflite_int8", "precision": "int8", "runtime": "litert", "device": "cpu",
            "threads": 1, "size_bytes": 40_000, "size_gzip_bytes": 30_000, "macs": MACS, "accuracy": 0.99,
            "latency_ms": {"p50": 0.05, "p90": 0.06, "p99": 0.07}, "throughput_ips": 20000.0, "load_ms": 1.0,
            "peak_rss_mb": 100.0, "status": "ok", **extra}


MICRO = {"flash_bytes": 40_000, "arena_bytes": 20_000, "recommended_arena_bytes": 23_040}


def manifest_with_npu(tmp_path, ips=2500.0):
    (tmp_path / "m_int8_vela_ethos-u55-128.tflite").write_bytes(b"\x1c\x00\x00\x00TFL3" + bytes(100))
    return {"artifacts": [{"path": ART}], "npu": [{
        "artifact": ART, "path": "m_int8_vela_ethos-u55-128.tflite", "accelerator": "ethos-u55-128",
        "vela_version": "5.2.0", "basis": "Vela 5.2.0's performance estimate",
        "figures": {"inferences_per_second": ips, "npu_operators": 12, "cpu_operators": 0, "nn_macs": MACS,
                    "sram_memory_bytes": 30_000, "off_chip_flash_memory_bytes": 45_000, "cycles_total": 200_000}}]}


def test_npu_rows_carry_the_compilers_estimate_labelled(tmp_path):
    (row,) = below_pi.npu_rows(manifest_with_npu(tmp_path, ips=2500.0), tmp_path, ART)
    assert row["figure_kind"] == below_pi.COMPILED and row["status"] != "ok" and "not measured" in row["status"]
    assert row["latency_ms"]["p50"] == pytest.approx(0.4) and row["throughput_ips"] == 2500.0
    assert row["device"] == "Ethos-U55-128" and row["accuracy"] is None
    assert row["size_bytes"] == 108


def test_a_compiled_row_gets_no_pi_estimate(tmp_path):
    (row,) = below_pi.npu_rows(manifest_with_npu(tmp_path), tmp_path, ART)
    assert [e["artifact"] for e in pi_estimate.estimates([cpu_row(), row])] == [ART]


@pytest.mark.parametrize("ref", below_pi.MCU_REFERENCES, ids=lambda r: r.board)
def test_mcu_estimate_scales_the_published_figure_by_macs(ref):
    assert below_pi.mcu_estimate_ms(below_pi.MLPERF_IC_MACS, ref) == pytest.approx(1000 / ref.throughput_ips)
    assert below_pi.mcu_estimate_ms(2 * MACS, ref) == pytest.approx(2 * below_pi.mcu_estimate_ms(MACS, ref))
    assert ref.url.startswith("https://github.com/mlcommons/tiny_results_")


def test_device_rows_mark_each_figure_and_a_board_replaces_its_estimate(tmp_path):
    npu = below_pi.npu_rows(manifest_with_npu(tmp_path), tmp_path, ART)
    docs = [results_doc([cpu_row(micro=MICRO), *npu])]
    rows = below_pi.device_rows(docs)
    kinds = {r["device"]: r["kind"] for r in rows}
    m4, m7 = (r.device for r in below_pi.MCU_REFERENCES)
    assert kinds == {m4: below_pi.SCALED, m7: below_pi.SCALED, "Ethos-U55-128": below_pi.COMPILED}
    m4_row = next(r for r in rows if r["device"] == m4)
    assert m4_row["latency_ms"] == pytest.approx(MACS / below_pi.MCU_REFERENCES[0].macs_per_ms)
    assert m4_row["fits"] is True and m4_row["memory_bytes"] == 23_040
    board = results_doc([cpu_row(latency_ms={"p50": 123.0, "p90": 130.0, "p99": 140.0})],
                        device="Arduino Nano 33 BLE Sense (Cortex-M4)")
    again = below_pi.device_rows([*docs, board])
    m4_again = next(r for r in again if r["device"] == m4)
    assert m4_again["kind"] == below_pi.MEASURED and m4_again["latency_ms"] == 123.0
    assert next(r for r in again if r["device"] == m7)["kind"] == below_pi.SCALED


def test_a_model_too_big_for_the_chip_does_not_fit():
    big = {**MICRO, "recommended_arena_bytes": 10 << 20}
    rows = below_pi.device_rows([results_doc([cpu_row(micro=big)])])
    assert rows and all(r["fits"] is False for r in rows)


def test_report_shows_the_section_with_each_kind(tmp_path):
    npu = below_pi.npu_rows(manifest_with_npu(tmp_path), tmp_path, ART)
    md = render([results_doc([cpu_row(micro=MICRO), *npu])], tmp_path / "report")[0].read_text()
    section = md.split("## Below the Pi")[1]
    assert "SCALED ESTIMATE" in section and "COMPILED ESTIMATE" in section and "12 ops on the NPU" in section
    assert "tiny_results_v0.5" in section  # the published source of the Cortex-M4 figure


def test_report_plots_accuracy_against_flash(tmp_path):
    small = cpu_row(artifact="small_int8.tflite", accuracy=0.97, micro={**MICRO, "flash_bytes": 30_000})
    md = render([results_doc([cpu_row(micro=MICRO), small])], tmp_path / "report")[0].read_text()
    assert "below_pi_accuracy_vs_flash.png" in md
    assert (tmp_path / "report" / "below_pi_accuracy_vs_flash.png").read_bytes()[:4] == b"\x89PNG"


def test_nothing_below_the_pi_without_tflm_or_vela_figures(tmp_path):
    md = render([results_doc([cpu_row()])], tmp_path / "report")[0].read_text()
    assert "Below the Pi" not in md


def test_benchmark_of_an_export_adds_npu_rows_and_tflm_figures(tiny_export):
    from asl_edge.bench.config import BenchConfig
    from asl_edge.bench.run import run_benchmark

    doc = run_benchmark([tiny_export], BenchConfig(threads=(1,), runs=5, warmup=1, rounds=1, batch=4, gpu=False))
    manifest = json.loads((tiny_export / "manifest.json").read_text())
    vela = [r for r in doc["results"] if r.get("figure_kind") == below_pi.COMPILED]
    assert [r["artifact"] for r in vela] == [manifest["npu"][0]["path"]]
    int8 = next(r for r in doc["results"] if r["artifact"].endswith("_int8.tflite"))
    bundle = next(m for m in manifest["micro"] if m["artifact"] == int8["artifact"])
    assert int8["micro"]["arena_bytes"] == bundle["arena"]["minimum_bytes"]


def test_npu_rows_come_only_with_the_artifact_vela_compiled(tmp_path):
    assert below_pi.npu_rows(manifest_with_npu(tmp_path), tmp_path, "m_fp32.tflite") == []
