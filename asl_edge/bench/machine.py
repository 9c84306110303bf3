"""Describes the machine a benchmark ran on: CPU, ISA features, GPU, OS, Python and runtime versions.

No TensorFlow and nothing heavy is imported: the runtime-only (``pi``) install uses this too.
The host name is never recorded; a short hash of it tells runs from different machines apart.
"""

from __future__ import annotations

import hashlib
import os
import platform
import socket
from pathlib import Path

# /proc/cpuinfo flag -> name shown in reports. These decide which kernels a runtime can use:
# int8 is fast on x86 only with VNNI (AVX512-VNNI or AVX-VNNI) and on ARM with the dot-product
# instructions (asimddp); without them int8 can be slower than fp32.
FEATURES = {
    "avx2": "AVX2", "fma": "FMA", "avx512f": "AVX512F", "avx512_vnni": "AVX512-VNNI", "avx_vnni": "AVX-VNNI",
    "amx_int8": "AMX-INT8", "asimd": "NEON", "asimddp": "DOTPROD", "i8mm": "I8MM", "fphp": "FP16",
}
INT8_DOT = {"AVX512-VNNI", "AVX-VNNI", "AMX-INT8", "DOTPROD", "I8MM"}

# ARM "CPU part" numbers (implementer 0x41) of the cores in Raspberry Pi-class boards.
ARM_PARTS = {"0xd03": "ARM Cortex-A53", "0xd04": "ARM Cortex-A35", "0xd05": "ARM Cortex-A55",
             "0xd07": "ARM Cortex-A57", "0xd08": "ARM Cortex-A72", "0xd09": "ARM Cortex-A73",
             "0xd0a": "ARM Cortex-A75", "0xd0b": "ARM Cortex-A76", "0xd0d": "ARM Cortex-A77"}


def parse_cpuinfo(text: str) -> dict:
    """CPU model and ISA features from the text of ``/proc/cpuinfo`` (x86 or ARM).

    Returns:
        ``{"cpu": model name, "board": board model or None, "isa": sorted feature names,
        "int8_dot": whether an int8 dot-product extension is present}``.
    """
    model = board = part = None
    flags: set[str] = set()
    for line in text.splitlines():
        key, _, value = line.partition(":")
        key, value = key.strip().lower(), value.strip()
        if not value:
            continue
        if key == "model name" and model is None:
            model = value  # x86, and some ARM kernels
        elif key == "model" and not value.isdigit():
            board = value  # Raspberry Pi kernels: "Model : Raspberry Pi 4 Model B Rev 1.4"
        elif key == "cpu part" and part is None:
            part = value.lower()
        elif key in ("flags", "features"):
            flags.update(value.split())
    if model is None and part is not None:
        model = ARM_PARTS.get(part, f"ARM CPU part {part}")
    isa = sorted(name for flag, name in FEATURES.items() if flag in flags)
    return {"cpu": model or board or "unknown", "board": board, "isa": isa, "int8_dot": bool(INT8_DOT & set(isa))}


def gpu_name(proc: str | Path = "/proc") -> str | None:
    """The first NVIDIA GPU's model as the driver reports it, or ``None`` where there is none.

    Args:
        proc: the proc file system's mount point (a test passes a fixture folder).
    """
    gpus = Path(proc) / "driver" / "nvidia" / "gpus"
    if not gpus.is_dir():
        # containers sometimes get the device nodes without the driver's /proc entries
        return "NVIDIA GPU" if proc == "/proc" and Path("/dev/nvidia0").exists() else None
    for info in sorted(gpus.glob("*/information")):
        for line in info.read_text(errors="replace").splitlines():
            if line.startswith("Model:"):
                return line.split(":", 1)[1].strip()
    return "NVIDIA GPU" if any(gpus.iterdir()) else None


def host_id() -> str:
    """A short, non-reversible tag of the host name (the name itself is not recorded)."""
    return hashlib.sha256(socket.gethostname().encode()).hexdigest()[:12]


def machine_info(device_name: str | None = None, cpuinfo_path: str | Path = "/proc/cpuinfo") -> dict:
    """A JSON-ready description of this machine.

    Args:
        device_name: a label for the machine (``--device-name``); default ``<arch> <cpu>``.
        cpuinfo_path: where to read the CPU description (a test passes a fixture).
    """
    from asl_edge.runtime.runners import available_runtimes

    path = Path(cpuinfo_path)
    cpu = parse_cpuinfo(path.read_text(errors="replace") if path.is_file() else "")
    return {
        "device": device_name or f"{platform.machine()} {cpu['board'] or cpu['cpu']}",
        "cpu": cpu["cpu"],
        "board": cpu["board"],
        "arch": platform.machine(),
        "cores": os.cpu_count(),
        "isa": cpu["isa"],
        "int8_dot": cpu["int8_dot"],
        "gpu": gpu_name(),
        "os": platform.platform(),
        "python": platform.python_version(),
        "runtimes": available_runtimes(),
        "host_id": host_id(),
    }
