"""Describes the machine a benchmark ran on: CPU, ISA features, OS, Python and runtime versions."""

from __future__ import annotations

import os
import platform
from pathlib import Path

# ISA features that decide which int8/fp32 kernels a runtime can use.
FEATURES = {
    "avx2": "AVX2", "fma": "FMA", "avx512f": "AVX512F", "avx512_vnni": "AVX512-VNNI", "avx_vnni": "AVX-VNNI",
    "amx_int8": "AMX-INT8", "asimd": "NEON", "asimddp": "DOTPROD", "i8mm": "I8MM", "fphp": "FP16",
}


def parse_cpuinfo(text: str) -> dict:
    """CPU model and ISA features from the text of ``/proc/cpuinfo`` (x86 or ARM)."""
    model, flags = None, set()
    for line in text.splitlines():
        key, _, value = line.partition(":")
        key, value = key.strip().lower(), value.strip()
        if key == "model name" and value:
            model = value  # x86 and some ARM kernels; x86's numeric "model" field is not a name
        elif key in ("hardware", "model") and value and model is None and not value.isdigit():
            model = value  # Raspberry Pi kernels: "Model : Raspberry Pi 4 Model B Rev 1.4"
        elif key in ("flags", "features"):
            flags.update(value.split())
    if model is None and "CPU part" in text:
        part = next(l.split(":")[1].strip() for l in text.splitlines() if l.startswith("CPU part"))
        model = {"0xd08": "ARM Cortex-A72", "0xd0b": "ARM Cortex-A76", "0xd03": "ARM Cortex-A53"}.get(part, f"ARM part {part}")
    return {"cpu": model or platform.processor() or "unknown",
            "isa": sorted(name for flag, name in FEATURES.items() if flag in flags)}


def machine_info(device_name: str | None = None) -> dict:
    """A JSON-ready description of this machine; no hostname is recorded."""
    from asl_edge.runtimes import available_runtimes

    cpuinfo = Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").is_file() else ""
    cpu = parse_cpuinfo(cpuinfo)
    try:
        import onnxruntime as ort

        gpu = "CUDA" if "CUDAExecutionProvider" in ort.get_available_providers() else None
    except ImportError:
        gpu = None
    return {
        "device": device_name or f"{platform.machine()} {cpu['cpu']}",
        "cpu": cpu["cpu"],
        "arch": platform.machine(),
        "cores": os.cpu_count(),
        "isa": cpu["isa"],
        "gpu": gpu,
        "os": platform.platform(),
        "python": platform.python_version(),
        "runtimes": available_runtimes(),
    }
