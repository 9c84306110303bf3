"""Arm Ethos-U NPUs: compile an int8 TFLite with Vela and keep Vela's own performance estimate.

``asl-edge export RUN --int8 --npu ethos-u55-128`` runs Arm's compiler (``ethos-u-vela``) on the
int8 artifact for each accelerator configuration named, and writes its output (a TFLite whose NPU
part is one ``ethos-u`` custom operator, for TFLM with the Ethos-U driver) beside it. The figures
in the manifest are the compiler's estimate for its default system configuration of that
accelerator (clock, memory bandwidths): cycles, inferences/s, SRAM and flash used, and how many
operators run on the NPU and how many fall back to the CPU. Nothing here runs on an NPU.
"""

from __future__ import annotations

import csv
import re
import subprocess
import sys
import tempfile
from pathlib import Path

from asl_edge.runtime.errors import ConfigError, ExportError
from asl_edge.runtime.extras import missing

EXTRA = "micro"
# Vela's own list when it is installed (ethosu.vela.architecture_features.Accelerator); this copy
# lets a config be checked without it.
KNOWN_ACCELERATORS = ("ethos-u55-32", "ethos-u55-64", "ethos-u55-128", "ethos-u55-256", "ethos-u65-256",
                      "ethos-u65-512", "ethos-u85-128", "ethos-u85-256", "ethos-u85-512", "ethos-u85-1024",
                      "ethos-u85-2048")
VELA_TIMEOUT_S = 600
# The summary CSV's columns that the manifest keeps, under the names it keeps them.
_CSV_FIELDS = {"system_config": str, "memory_mode": str, "core_clock": float, "inferences_per_second": float,
               "inference_time": float, "cycles_total": float, "cycles_npu": float, "nn_macs": float,
               "sram_memory_used": float, "off_chip_flash_memory_used": float, "on_chip_flash_memory_used": float,
               "dram_memory_used": float, "total_original_weights": float, "total_npu_encoded_weights": float}
_OPS = re.compile(r"^(CPU|NPU) operators\s*=\s*(\d+)", re.M)


def accelerators() -> tuple[str, ...]:
    try:
        from ethosu.vela.architecture_features import Accelerator
    except ImportError:
        return KNOWN_ACCELERATORS
    return tuple(Accelerator.member_list())


def check_accelerator(name: str) -> str:
    """Raises ConfigError for a name Vela does not know."""
    known = accelerators()
    if name not in known:
        raise ConfigError(f"--npu {name!r} is not an Ethos-U configuration; choose one of: {', '.join(known)}")
    return name


def vela_version() -> str | None:
    from importlib import metadata

    try:
        return metadata.version("ethos-u-vela")
    except metadata.PackageNotFoundError:
        return None


def compiled_name(artifact: str, accelerator: str) -> str:
    """``asl-digits-fast_int8.tflite`` -> ``asl-digits-fast_int8_vela_ethos-u55-128.tflite``."""
    return f"{artifact.removesuffix('.tflite')}_vela_{accelerator}.tflite"


def parse_summary(csv_text: str, stdout: str) -> dict:
    """Vela's figures from its summary CSV and its printed network summary (operator counts)."""
    rows = list(csv.DictReader(csv_text.splitlines()))
    if not rows:
        raise ExportError("Vela wrote an empty summary")
    row = rows[0]
    out = {key: cast(row[key]) for key, cast in _CSV_FIELDS.items() if row.get(key) not in (None, "")}
    ops = {kind.lower(): int(n) for kind, n in _OPS.findall(stdout)}
    if set(ops) != {"cpu", "npu"}:
        raise ExportError("Vela's output has no operator counts (CPU operators = ..., NPU operators = ...)")
    out.update(npu_operators=ops["npu"], cpu_operators=ops["cpu"])
    # Vela reports memory in KiB; the manifest keeps bytes like every other size in it.
    for key in ("sram_memory_used", "off_chip_flash_memory_used", "on_chip_flash_memory_used", "dram_memory_used"):
        if key in out:
            out[key.replace("_used", "_bytes")] = round(out.pop(key) * 1024)
    return out


def compile_for(artifact: Path, accelerator: str) -> dict:
    """Compiles ``artifact`` for ``accelerator``; writes the result beside it; returns its manifest entry.

    Raises:
        MissingDependencyError: Vela is not installed.
        ExportError: Vela failed (its last line) or wrote no output.
    """
    check_accelerator(accelerator)
    if vela_version() is None:
        raise missing("the Ethos-U compiler (ethos-u-vela)", EXTRA)
    with tempfile.TemporaryDirectory(prefix="asl-edge-vela-") as tmp:
        cmd = [sys.executable, "-m", "ethosu.vela", "--accelerator-config", accelerator, "--output-dir", tmp,
               str(artifact)]
        try:
            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=VELA_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            raise ExportError(f"Vela did not finish within {VELA_TIMEOUT_S} s for {accelerator}") from None
        if proc.returncode != 0:
            last = (proc.stderr.strip() or proc.stdout.strip() or f"exit status {proc.returncode}").splitlines()[-1]
            raise ExportError(f"Vela failed for {accelerator}: {last[:300]}")
        stem = artifact.name.removesuffix(".tflite")
        compiled = Path(tmp) / f"{stem}_vela.tflite"
        summaries = sorted(Path(tmp).glob(f"{stem}_summary_*.csv"))
        if not compiled.is_file() or not summaries:
            raise ExportError(f"Vela wrote no compiled model or summary for {accelerator}")
        figures = parse_summary(summaries[0].read_text(), proc.stdout)
        dest = artifact.parent / compiled_name(artifact.name, accelerator)
        from asl_edge.runtime.fsutil import atomic_write

        atomic_write(dest, compiled.read_bytes())
    return {"artifact": artifact.name, "path": dest.name, "accelerator": accelerator, "figures": figures,
            "all_on_npu": figures["cpu_operators"] == 0, "vela_version": vela_version(),
            "command": f"vela --accelerator-config {accelerator} {artifact.name}",
            "kind": "compiled estimate",
            "basis": f"Vela {vela_version()}'s performance estimate for {figures.get('system_config', '?')} "
                     f"({figures.get('memory_mode', '?')}, {figures.get('core_clock', 0) / 1e6:.0f} MHz): not measured "
                     "on an NPU"}
