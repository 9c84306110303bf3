"""Below the Pi: Cortex-M and Ethos-U rows, each saying what it is.

Three kinds of figure, never mixed up:

- **measured**: from a device's own results file (``asl-edge report board.json ...``), written on
  the board in the benchmark's results schema; it replaces the estimate of the same artifact;
- **compiled estimate**: Vela's performance estimate for an Ethos-U configuration, recorded by
  ``asl-edge export --npu`` (:mod:`asl_edge.export.npu`); the benchmark turns it into rows of its own;
- **scaled estimate**: a Cortex-M latency from the model's MAC count, scaled from a published
  MLPerf Tiny result of a network of known MACs on that board (as the Pi estimates are scaled
  from published Pi figures). Flash and arena beside it are measured (file size; TFLM's arena search).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

MEASURED, COMPILED, SCALED = "measured", "compiled estimate", "scaled estimate"

MLPERF_TINY_PAPER = "https://arxiv.org/abs/2106.07597"
# MLPerf Tiny's image classification network (ResNet-8 on 32x32 CIFAR-10): 12.5 M MACs in the
# paper's Table 1; its convolutions and dense layer add up to 12.50 M (3x3 stem of 16, two stacks
# of 3x3 convolutions at 16/32/64 channels on 32/16/8 pixel sides, two 1x1 shortcuts, dense 64->10).
MLPERF_IC_MACS = 12.5e6


@dataclass(frozen=True)
class McuReference:
    """A published MLPerf Tiny image classification result on a Cortex-M board.

    Attributes:
        device: the row's name in the report.
        board: the board of the published run.
        framework: the inference framework of the published run.
        throughput_ips: the published median throughput (inferences/s, one at a time).
        sram_bytes, flash_bytes: the chip's SRAM and flash (what a model must fit in).
        match: lower-case names that identify a results file of this board (its machine's device or board).
        url: the published result.
    """

    device: str
    board: str
    framework: str
    throughput_ips: float
    sram_bytes: int
    flash_bytes: int
    match: tuple[str, ...]
    url: str

    @property
    def latency_ms(self) -> float:
        return 1000.0 / self.throughput_ips

    @property
    def macs_per_ms(self) -> float:
        return MLPERF_IC_MACS / self.latency_ms


MCU_REFERENCES = (
    McuReference("Cortex-M4 (STM32L4R5, 120 MHz)", "Nucleo-L4R5ZI", "TensorFlow Lite for Microcontrollers 2.3.1",
                 1.420, 640 << 10, 2 << 20, ("cortex-m4", "l4r5", "nano 33", "nrf52840"),
                 "https://github.com/mlcommons/tiny_results_v0.5/blob/f7e06dd3393aee372ab043d95ef3d311f07bc4f5/"
                 "closed/reference/results/Nucleo-L4R5ZI/ic/performance/results.txt"),
    McuReference("Cortex-M7 (STM32H7A3, 280 MHz)", "NUCLEO-H7A3ZI-Q", "X-CUBE-AI 7.3.0 (ST's own compiler, not TFLM)",
                 18.401, 1_247_805, 2 << 20, ("cortex-m7", "h7a3", "stm32h7"),
                 "https://github.com/mlcommons/tiny_results_v1.0/blob/abb8e49aa59f3ad9e8d85ab98ebed0e583358ec3/"
                 "closed/STMicroelectronics/results/NUCLEO-H7A3ZI-Q/ic/performance/results.txt"),
)


def mcu_estimate_ms(macs: float, ref: McuReference) -> float:
    """Estimated single-inference latency (ms) of a model of ``macs`` MACs on ``ref``'s board."""
    return macs / ref.macs_per_ms


def accelerator_label(name: str) -> str:
    """``ethos-u55-128`` -> ``Ethos-U55-128``."""
    return "Ethos-U" + name.removeprefix("ethos-u").upper() if name.startswith("ethos-u") else name


# -- benchmark rows ------------------------------------------------------------------------------
def npu_rows(manifest: dict, export_dir: Path, source: str) -> list[dict]:
    """One row per Vela compile of the export's artifact ``source``: Vela's estimate, labelled as
    such (nothing measured)."""
    from asl_edge.runtime.fsutil import gzip_size

    rows = []
    for entry in manifest.get("npu") or []:
        if entry.get("artifact") != source:
            continue
        f = entry.get("figures") or {}
        ips = f.get("inferences_per_second")
        path = export_dir / str(entry.get("path", ""))
        if not isinstance(ips, (int, float)) or ips <= 0 or not path.is_file():
            continue
        p50 = 1000.0 / ips
        rows.append({
            "artifact": path.name, "format": "vela", "precision": "int8",
            "macs": int(f["nn_macs"]) if isinstance(f.get("nn_macs"), (int, float)) else None,
            "runtime": f"vela {entry.get('vela_version', '?')}",
            "device": accelerator_label(str(entry.get("accelerator", "?"))),
            "threads": None, "size_bytes": path.stat().st_size, "size_gzip_bytes": gzip_size(path),
            "accuracy": None, "load_ms": None, "peak_rss_mb": None, "throughput_ips": ips,
            "latency_ms": {"p50": p50, "p90": p50, "p99": p50},
            "status": f"{COMPILED} (Vela): not measured on an NPU",
            "figure_kind": COMPILED, "basis": entry.get("basis"), "source_artifact": entry.get("artifact"),
            "npu": {k: f.get(k) for k in ("npu_operators", "cpu_operators", "sram_memory_bytes",
                                          "off_chip_flash_memory_bytes", "cycles_total", "core_clock",
                                          "system_config", "memory_mode")},
        })
    return rows


def micro_of(manifest: dict | None, artifact: str) -> dict | None:
    """What the export measured for ``artifact`` with TFLM (flash, arena, agreement), or None."""
    for m in (manifest or {}).get("micro") or []:
        if m.get("artifact") == artifact and m.get("status") == "ok":
            arena, v = m.get("arena") or {}, m.get("verification") or {}
            return {"flash_bytes": m.get("flash_bytes"), "arena_bytes": arena.get("minimum_bytes"),
                    "recommended_arena_bytes": arena.get("recommended_bytes"),
                    "tflm_max_lsb_diff": v.get("max_lsb_diff"), "tflm_top1_agreement": v.get("top1_agreement"),
                    "tflm_images": v.get("images"), "tflm_version": arena.get("tflm_version")}
    return None


def annotate(rows: list[dict], targets) -> list[dict]:
    """Adds each artifact's TFLM figures (``micro``) to its rows and returns the NPU rows of the
    artifacts measured (Vela compiles the int8 TFLite: its rows come with that artifact's)."""
    extra = []
    for path, manifest, _ in targets:
        if manifest is None or path.name not in {a.get("path") for a in manifest.get("artifacts") or []}:
            continue
        info = micro_of(manifest, path.name)
        if info:
            for r in rows:
                if r["artifact"] == path.name:
                    r["micro"] = info
        extra.extend(npu_rows(manifest, path.parent, path.name))
    return extra


# -- the report's device table -------------------------------------------------------------------
def _num(v) -> float | None:
    return float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else None


def _measured_on(docs: list[dict], names: tuple[str, ...]) -> dict[str, dict]:
    """ok rows of the results files whose machine is one of ``names``, by artifact."""
    out = {}
    for d in docs:
        m = d.get("machine") or {}
        label = " ".join(str(m.get(k) or "") for k in ("device", "board", "cpu")).lower()
        if any(n in label for n in names):
            for r in d.get("results") or []:
                lat = _num((r.get("latency_ms") or {}).get("p50"))
                if r.get("status") == "ok" and lat is not None and r.get("figure_kind", MEASURED) == MEASURED:
                    out.setdefault(r["artifact"], {**r, "_machine": m.get("device") or m.get("board")})
    return out


def device_rows(docs: list[dict]) -> list[dict]:
    """The report's rows below the Pi: per full-integer artifact with TFLM figures, each Cortex-M
    reference board (scaled estimate, or measured where a board's results file is given), and per
    Vela compile its Ethos-U row (compiled estimate, or measured likewise)."""
    rows = [r for d in docs for r in d.get("results") or []]
    out, done = [], set()
    for r in rows:
        info, macs = r.get("micro"), _num(r.get("macs"))
        if not isinstance(info, dict) or macs is None or (r["artifact"], "mcu") in done:
            continue
        done.add((r["artifact"], "mcu"))
        for ref in MCU_REFERENCES:
            measured = _measured_on(docs, ref.match).get(r["artifact"])
            flash, arena = _num(info.get("flash_bytes")), _num(info.get("recommended_arena_bytes"))
            fits = None if flash is None or arena is None else flash <= ref.flash_bytes and arena <= ref.sram_bytes
            base = {"device": ref.device, "artifact": r["artifact"], "precision": r.get("precision"),
                    "accuracy": _num(r.get("accuracy")), "flash_bytes": flash, "memory_bytes": arena,
                    "memory": "TFLM arena (measured)", "fits": fits}
            if measured:
                out.append({**base, "kind": MEASURED, "latency_ms": measured["latency_ms"]["p50"],
                            "basis": f"measured on {measured['_machine']}"})
            else:
                out.append({**base, "kind": SCALED, "latency_ms": mcu_estimate_ms(macs, ref),
                            "basis": f"{macs / 1e6:.2f} M MACs x {ref.latency_ms:.1f} ms per "
                                     f"{MLPERF_IC_MACS / 1e6:.1f} M MACs: MLPerf Tiny image classification on "
                                     f"{ref.board} ({ref.framework})",
                            "url": ref.url})
    for r in rows:
        if r.get("figure_kind") != COMPILED:
            continue
        npu = r.get("npu") or {}
        measured = _measured_on(docs, (str(r.get("device", "")).lower(),)).get(r.get("source_artifact"))
        base = {"device": r.get("device"), "artifact": r["artifact"], "precision": "int8", "accuracy": None,
                "flash_bytes": _num(npu.get("off_chip_flash_memory_bytes")),
                "memory_bytes": _num(npu.get("sram_memory_bytes")), "memory": "SRAM (Vela)", "fits": None,
                "npu_operators": npu.get("npu_operators"), "cpu_operators": npu.get("cpu_operators")}
        if measured:
            out.append({**base, "kind": MEASURED, "latency_ms": measured["latency_ms"]["p50"],
                        "basis": f"measured on {measured['_machine']}"})
        else:
            out.append({**base, "kind": COMPILED, "latency_ms": r["latency_ms"]["p50"], "basis": r.get("basis")})
    return out
