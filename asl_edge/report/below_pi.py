"""The report's "Below the Pi" section: Cortex-M and Ethos-U rows, each marked measured, compiled
estimate or scaled estimate, with its basis (:mod:`asl_edge.bench.below_pi`)."""

from __future__ import annotations

from pathlib import Path

from asl_edge.report.analysis import fmt
from asl_edge.report.document import Document

PLOT = "below_pi_accuracy_vs_flash.png"
M4_FLASH_BUDGET_KB = 64  # the Cortex-M4-class budget of the micro recipe


def _kb(v) -> str:
    return "-" if v is None else f"{v / 1024:,.1f}"


def accuracy_vs_flash(docs: list[dict]) -> bytes | None:
    """Held-out accuracy against flash (the artifact's bytes) of every artifact with TFLM figures,
    the Cortex-M4-class flash budget drawn (None when there is no such artifact)."""
    points = {}
    for d in docs:
        for r in d.get("results") or []:
            info = r.get("micro")
            if isinstance(info, dict) and r.get("status") == "ok" and isinstance(r.get("accuracy"), (int, float)) \
                    and isinstance(info.get("flash_bytes"), (int, float)):
                points.setdefault(r["artifact"], (info["flash_bytes"] / 1024, r["accuracy"] * 100))
    if not points:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from asl_edge.report.plots import _png

    fig, ax = plt.subplots(figsize=(7.5, 4.2))
    for i, (name, (kb, acc)) in enumerate(sorted(points.items(), key=lambda item: item[1][0])):
        ax.scatter(kb, acc, s=50, zorder=3)
        # Neighbours by size take turns above and below their point: artifacts often tie on accuracy.
        ax.annotate(name, (kb, acc), textcoords="offset points", xytext=(5, 4 if i % 2 == 0 else -12), fontsize=8)
    ax.axvline(M4_FLASH_BUDGET_KB, color="black", linestyle="--", alpha=0.5)
    ax.text(M4_FLASH_BUDGET_KB, max(a for _, a in points.values()), f" {M4_FLASH_BUDGET_KB} KB flash budget",
            fontsize=8, va="top")
    ax.set(xlabel="flash: the model's bytes (KB)", ylabel="held-out accuracy (%)",
           title="Full-integer artifacts under TFLite Micro: accuracy against flash")
    ax.grid(alpha=0.3)
    return _png(fig)


def below_pi_section(out: Document, docs: list[dict], out_dir: str | Path | None = None) -> None:
    """Writes the section where a benchmark row carries TFLM figures or a Vela compile (else nothing),
    and its accuracy/flash plot into ``out_dir``."""
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
    png = accuracy_vs_flash(docs)
    if png is not None and out_dir is not None:
        from asl_edge.runtime.fsutil import atomic_write

        atomic_write(Path(out_dir) / PLOT, png)
        out.img(PLOT, "held-out accuracy against flash, with the Cortex-M4-class budget", png)
    out.p(f"Published figures behind the scaled estimates ({MLPERF_IC_MACS / 1e6:.1f} M MACs per image classification "
          f"inference, [MLPerf Tiny, Banbury et al. 2021]({MLPERF_TINY_PAPER}), Table 1):")
    out.table(["device", "board", "framework", "published inferences/s", "ms per inference", "source"],
              [[r.device, r.board, r.framework, f"{r.throughput_ips:.3f}", f"{r.latency_ms:.1f}", f"[results]({r.url})"]
               for r in MCU_REFERENCES])
