"""The report's "Below the Pi" section: Cortex-M and Ethos-U rows, each marked measured, compiled
estimate or scaled estimate, with its basis (:mod:`asl_edge.bench.below_pi`)."""

from __future__ import annotations

from asl_edge.report.analysis import fmt
from asl_edge.report.document import Document


def _kb(v) -> str:
    return "-" if v is None else f"{v / 1024:,.1f}"


def below_pi_section(out: Document, docs: list[dict]) -> None:
    """Writes the section where a benchmark row carries TFLM figures or a Vela compile (else nothing)."""
    from asl_edge.bench.below_pi import (
        COMPILED,
        MCU_REFERENCES,
        MEASURED,
        MLPERF_IC_MACS,
        MLPERF_TINY_PAPER,
        SCALED,
        device_rows,
    )

    rows = device_rows(docs)
    if not rows:
        return
    out.h(2, "Below the Pi: Cortex-M and Ethos-U (measured, compiled estimate, scaled estimate)")
    out.p(f"Each row says what it is. *{MEASURED}*: a board's own results file, given to `asl-edge report`, "
          f"replaces the estimate of the same artifact. *{COMPILED}*: Vela's performance estimate for that "
          f"Ethos-U configuration (`asl-edge export --npu`), nothing run on an NPU. *{SCALED}*: the model's MACs "
          "times the latency per MAC of a published MLPerf Tiny image classification run on that board (like the "
          "Pi estimates: a MAC count does not see memory stalls or per-layer overheads). Flash is the artifact's "
          "size; the arena is the smallest in which the TFLite Micro interpreter allocated and ran it (measured by "
          "`asl-edge export --micro`, x86-64 build: an upper bound for a 32-bit MCU), plus CMSIS-NN scratch and a "
          "margin; 'fits' compares them with the chip's flash and SRAM.")
    table = []
    for r in rows:
        ops = "" if r.get("npu_operators") is None else \
            f"; {r['npu_operators']} ops on the NPU, {r.get('cpu_operators', '?')} on the CPU"
        fits = {True: "yes", False: "NO", None: "-"}[r.get("fits")]
        table.append([r["device"], f"`{r['artifact']}`", r["kind"].upper() if r["kind"] != MEASURED else MEASURED,
                      fmt(r.get("latency_ms"), ".2f"), _kb(r.get("flash_bytes")),
                      f"{_kb(r.get('memory_bytes'))} ({r.get('memory', '-')})", fits,
                      f"{r.get('basis') or '-'}{ops}"])
    out.table(["device", "artifact", "figure", "latency ms", "flash KB", "RAM KB", "fits", "basis"], table)
    out.p(f"Published figures behind the scaled estimates ({MLPERF_IC_MACS / 1e6:.1f} M MACs per image classification "
          f"inference, [MLPerf Tiny, Banbury et al. 2021]({MLPERF_TINY_PAPER}), Table 1):")
    out.table(["device", "board", "framework", "published inferences/s", "ms per inference", "source"],
              [[r.device, r.board, r.framework, f"{r.throughput_ips:.3f}", f"{r.latency_ms:.1f}", f"[results]({r.url})"]
               for r in MCU_REFERENCES])
