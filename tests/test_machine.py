"""Machine description: CPU model and ISA features from /proc/cpuinfo, GPU, no host name."""

import json
import socket
import sys
from pathlib import Path

import pytest

from asl_edge.bench.machine import gpu_name, machine_info, parse_cpuinfo

ROOT = Path(__file__).resolve().parents[1]
X86_VNNI = ("processor\t: 0\nvendor_id\t: GenuineIntel\nmodel\t\t: 106\nmodel name\t: Intel(R) Xeon(R) Gold 6338\n"
            "flags\t\t: fpu sse4_2 avx2 fma avx512f avx512_vnni\n")
X86_AVX_VNNI = (
    "processor\t: 0\nmodel\t\t: 151\nmodel name\t: 12th Gen Intel(R) Core(TM) i7-12700\nflags\t\t: avx2 fma avx_vnni\n"
)
X86_NO_VNNI = "processor\t: 0\nmodel\t\t: 49\nmodel name\t: AMD EPYC 7B12\nflags\t\t: fpu sse4_2 avx2 fma\n"
# The very file the ARM64 emulation check gives its chroot (one block per core).
A72 = (ROOT / "benchmarks/arm64/cpuinfo-cortex-a72").read_text().replace("processor\t: N", "processor\t: 0")
PI4 = A72 + "Hardware\t: BCM2835\nRevision\t: c03114\nModel\t\t: Raspberry Pi 4 Model B Rev 1.4\n"
PI5 = (
    "processor\t: 0\nBogoMIPS\t: 108.00\nFeatures\t: fp asimd evtstrm aes pmull sha1 sha2 crc32 atomics fphp "
    "asimdhp cpuid asimdrdm lrcpc dcpop asimddp\nCPU implementer\t: 0x41\nCPU part\t: 0xd0b\n\n"
    "Model\t\t: Raspberry Pi 5 Model B Rev 1.0\n"
)

CASES = [
    # text, cpu, board, must have, must not have, int8 dot product
    (X86_VNNI, "Intel(R) Xeon(R) Gold 6338", None, {"AVX2", "AVX512-VNNI", "AVX512F"}, {"NEON"}, True),
    (X86_AVX_VNNI, "12th Gen Intel(R) Core(TM) i7-12700", None, {"AVX2", "AVX-VNNI"}, {"AVX512-VNNI"}, True),
    (X86_NO_VNNI, "AMD EPYC 7B12", None, {"AVX2", "FMA"}, {"AVX512-VNNI", "AVX-VNNI"}, False),
    (A72, "ARM Cortex-A72", None, {"NEON"}, {"DOTPROD", "AVX2"}, False),
    (PI4, "ARM Cortex-A72", "Raspberry Pi 4 Model B Rev 1.4", {"NEON"}, {"DOTPROD"}, False),
    (PI5, "ARM Cortex-A76", "Raspberry Pi 5 Model B Rev 1.0", {"NEON", "DOTPROD", "FP16"}, {"I8MM"}, True),
]


@pytest.mark.parametrize(
    "text, cpu, board, has, lacks, dot",
    CASES,
    ids=["x86-avx512vnni", "x86-avxvnni", "x86-no-vnni", "cortex-a72", "pi4", "pi5"],
)
def test_parse_cpuinfo(text, cpu, board, has, lacks, dot):
    info = parse_cpuinfo(text)
    assert info["cpu"] == cpu and info["board"] == board
    assert has <= set(info["isa"]) and not lacks & set(info["isa"])
    assert info["int8_dot"] is dot


def test_empty_cpuinfo_is_unknown_not_a_crash():
    assert parse_cpuinfo("") == {"cpu": "unknown", "board": None, "isa": [], "int8_dot": False}


def test_machine_info_from_a_fixture_cpuinfo_records_no_host_name(tmp_path):
    (tmp_path / "cpuinfo").write_text(PI4)
    info = machine_info("Pi 4 bench", tmp_path / "cpuinfo")
    assert info["device"] == "Pi 4 bench" and info["cpu"] == "ARM Cortex-A72" and info["isa"] == ["NEON"]
    assert info["cores"] >= 1 and info["python"] and "litert" in info["runtimes"]
    assert len(info["host_id"]) == 12
    host = socket.gethostname()
    if len(host) >= 6:  # a short name could occur inside other fields by chance
        assert host not in json.dumps(info)
    assert machine_info(None, tmp_path / "cpuinfo")["device"].endswith("Raspberry Pi 4 Model B Rev 1.4")


def test_gpu_name_from_the_driver(tmp_path):
    assert gpu_name(tmp_path) is None
    card = tmp_path / "driver/nvidia/gpus/0000:01:00.0"
    card.mkdir(parents=True)
    (card / "information").write_text("Model: \t\t NVIDIA H100 80GB HBM3\nIRQ:   42\n")
    assert gpu_name(tmp_path) == "NVIDIA H100 80GB HBM3"


def _fake_install(folder: Path, dist: str, version: str) -> Path:
    """A folder holding an ``onnxruntime`` module and the dist-info of the distribution ``dist``."""
    (folder / "onnxruntime").mkdir(parents=True)
    (folder / "onnxruntime" / "__init__.py").write_text("")
    info = folder / f"{dist.replace('-', '_')}-{version}.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: {version}\n")
    return folder


@pytest.mark.parametrize("first", ["onnxruntime", "onnxruntime-gpu"])
def test_runtimes_mark_the_onnxruntime_that_is_not_imported(tmp_path, monkeypatch, first):
    # Both distributions provide the `onnxruntime` module (a GPU machine whose image ships the CPU
    # package, say): the record must say which one an import loads, i.e. which measured the rows.
    from asl_edge.runtime.runners import available_runtimes

    cpu = _fake_install(tmp_path / "cpu", "onnxruntime", "9.0.1")
    gpu = _fake_install(tmp_path / "gpu", "onnxruntime-gpu", "9.0.2")
    order = [cpu, gpu] if first == "onnxruntime" else [gpu, cpu]
    monkeypatch.setattr(sys, "path", [str(p) for p in order] + sys.path)
    monkeypatch.delitem(sys.modules, "onnxruntime", raising=False)
    found = available_runtimes()
    versions = {"onnxruntime": "9.0.1", "onnxruntime-gpu": "9.0.2"}
    second = "onnxruntime-gpu" if first == "onnxruntime" else "onnxruntime"
    assert found[first] == versions[first]
    assert found[second].startswith(versions[second] + " (not imported")
    assert f"onnxruntime {versions[first]} of {first}" in found[second]
