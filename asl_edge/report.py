"""``asl-edge report``: benchmark results from one or several machines as REPORT.md and one HTML page.

Per machine (results files with the same device label are repeated runs of one machine and add a
repeatability table): a table like ``yolo benchmark`` (artifact, runtime, threads, size, accuracy,
p50, p90, images/s, status), the best artifact measured there, the int8-against-fp32 comparison,
the model's MAC count, plots (accuracy against latency, size per artifact, latency per thread
count) and the confusion matrix of the deployed artifact (int8 TFLite). Then Raspberry Pi 4 / Pi 5
latency estimates (labelled as estimates, with their published sources) next to any measured Pi
rows, and the ARM64 emulation check when its JSON is given. The HTML page inlines its images.
"""

from __future__ import annotations

import base64
import html
import io
import logging
import re
from pathlib import Path

import numpy as np

from asl_edge.errors import DataError
from asl_edge.fsutil import atomic_write

log = logging.getLogger(__name__)
CHECK_KIND = "arm64-emulation-check"
DEPLOYED_SUFFIX = "_int8.tflite"
ACCURACY_TOLERANCE_PP = 0.5


# -- loading --------------------------------------------------------------------------------------
def validate_check(doc, name: str = "check") -> dict:
    """Checks that ``doc`` is an ARM64 emulation check document (``benchmarks/arm64_check.sh``).

    Raises:
        DataError: not a check document, or a result without artifact or status.
    """
    if not isinstance(doc, dict) or doc.get("kind") != CHECK_KIND or not isinstance(doc.get("results"), list):
        raise DataError(f"{name} is not an asl-edge ARM64 emulation check file")
    for i, row in enumerate(doc["results"]):
        if not isinstance(row, dict) or "artifact" not in row or "status" not in row:
            raise DataError(f"{name}: check result {i} lacks artifact or status")
    return doc


def load_check(path: str | Path) -> dict:
    """Reads and validates an ARM64 emulation check file.

    Raises:
        DataError: missing, not JSON, or not a check file.
    """
    from asl_edge.benchmark import read_json

    return validate_check(read_json(path), str(path))


def load_inputs(paths) -> tuple[list[dict], list[dict]]:
    """Splits the given files into benchmark results and ARM64 check documents, validating each.

    Raises:
        DataError: a missing file, or one that is neither.
    """
    from asl_edge.benchmark import read_json, validate_results

    results, checks = [], []
    for p in paths:
        doc = read_json(p)
        if isinstance(doc, dict) and doc.get("kind") == CHECK_KIND:
            checks.append(validate_check(doc, str(p)))
        else:
            results.append(validate_results(doc, str(p)))
    if not results and not checks:
        raise DataError("no results given")
    return results, checks


# -- pieces ---------------------------------------------------------------------------------------
def _fmt(v, spec: str) -> str:
    return "-" if v is None else format(v, spec)


TABLE_HEAD = ["artifact", "runtime", "device", "threads", "size KB", "gzip KB", "accuracy", "p50 ms", "p90 ms",
              "p99 ms", "images/s", "load ms", "peak RSS MB", "status"]


def table_rows(rows: list[dict]) -> list[list[str]]:
    """The benchmark table's cells, one list per result row."""
    out = []
    for r in rows:
        lat = r.get("latency_ms") or {}
        out.append([r["artifact"], r.get("runtime") or "-", r.get("device", "cpu"), _fmt(r.get("threads"), "d"),
                    f"{r['size_bytes'] / 1024:.1f}", _fmt((r.get("size_gzip_bytes") or 0) / 1024, ".1f"),
                    _fmt(r["accuracy"], ".4f"), _fmt(lat.get("p50"), ".3f"), _fmt(lat.get("p90"), ".3f"),
                    _fmt(lat.get("p99"), ".3f"), _fmt(r["throughput_ips"], ",.0f"), _fmt(r.get("load_ms"), ".1f"),
                    _fmt(r.get("peak_rss_mb"), ".0f"), r["status"]])
    return out


def _md_table(head: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(c.replace("|", "/") for c in row) + " |" for row in rows]
    return "\n".join(lines)


def table(rows: list[dict]) -> str:
    """The benchmark table as Markdown (also what ``asl-edge benchmark`` prints)."""
    return _md_table(TABLE_HEAD, table_rows(rows))


def best_choice(rows: list[dict], tolerance_pp: float = ACCURACY_TOLERANCE_PP) -> dict | None:
    """The fastest single-image row (p50) among those within ``tolerance_pp`` points of the best accuracy."""
    ok = [r for r in rows if r["status"] == "ok"]
    if not ok:
        return None
    top = max(r["accuracy"] for r in ok)
    eligible = [r for r in ok if (top - r["accuracy"]) * 100 <= tolerance_pp]
    return min(eligible, key=lambda r: r["latency_ms"]["p50"])


def int8_vs_fp32(rows: list[dict]) -> list[dict]:
    """p50 of int8 against fp32 of the same runtime and thread count (measured, never assumed)."""
    ok = {(r["format"].split("_")[0], r["runtime"], r["threads"], r["precision"]): r
          for r in rows if r["status"] == "ok" and r.get("device", "cpu") == "cpu" and "_" in r.get("format", "")}
    out = []
    for (family, runtime, threads, precision), r in sorted(ok.items(), key=lambda kv: (kv[0][0], kv[0][2] or 0)):
        fp32 = ok.get((family, runtime, threads, "fp32"))
        if precision == "int8" and fp32:
            out.append({"family": family, "runtime": runtime, "threads": threads, "int8": r["latency_ms"]["p50"],
                        "fp32": fp32["latency_ms"]["p50"], "ratio": r["latency_ms"]["p50"] / fp32["latency_ms"]["p50"]})
    return out


def _row_key(r: dict) -> tuple:
    return r["artifact"], r.get("runtime"), r.get("device", "cpu"), r.get("threads")


def repeatability(first: list[dict], again: list[dict]) -> list[dict]:
    """p50 of the same rows in two runs, their relative difference, and how far apart the first
    run's rounds were (slowest round p50 / fastest - 1; None for a run of one round)."""
    second = {_row_key(r): r for r in again if r["status"] == "ok"}
    out = []
    for r in first:
        other = second.get(_row_key(r))
        if r["status"] == "ok" and other:
            a, b = r["latency_ms"]["p50"], other["latency_ms"]["p50"]
            rounds = [x["p50"] for x in r.get("rounds") or []]
            out.append({"artifact": r["artifact"], "runtime": r["runtime"], "threads": r.get("threads"),
                        "p50": a, "p50_again": b, "difference": abs(b - a) / a,
                        "round_spread": max(rounds) / min(rounds) - 1 if len(rounds) > 1 else None})
    return out


def _png(fig) -> bytes:
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100, bbox_inches="tight")
    plt.close(fig)
    return buf.getvalue()


def plots(rows: list[dict], title: str, labels: dict | None = None) -> dict[str, bytes]:
    """Accuracy vs latency, size per artifact, latency per thread count, deployed confusion matrix (PNG bytes)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ok = [r for r in rows if r["status"] == "ok"]
    out = {}
    if ok:
        fig, ax = plt.subplots(figsize=(6.5, 4))
        # a legend, not annotations (artifacts of equal accuracy would overlap): one colour per
        # artifact, one marker per thread count
        colours = {name: plt.cm.tab10(i % 10) for i, name in enumerate(dict.fromkeys(r["artifact"] for r in ok))}
        markers = {t: m for t, m in zip(sorted({r.get("threads") or 0 for r in ok}), "os^vDP*X")}
        for r in ok:
            ax.scatter(r["latency_ms"]["p50"], r["accuracy"] * 100, color=colours[r["artifact"]],
                       marker=markers[r.get("threads") or 0], label=f"{r['artifact']} ({r['runtime']}, "
                                                                   f"{r.get('threads') or '-'}t)")
        ax.set(xlabel="p50 latency per image (ms)", ylabel="accuracy (%)", title=f"Accuracy vs latency: {title}")
        ax.legend(fontsize=6, loc="best")
        ax.grid(alpha=0.3)
        out["accuracy_vs_latency"] = _png(fig)
    sizes = {r["artifact"]: r["size_bytes"] / 1024 for r in rows}
    fig, ax = plt.subplots(figsize=(6.5, 0.4 * len(sizes) + 1.2))
    ax.barh(list(sizes), list(sizes.values()), color="tab:blue")
    ax.invert_yaxis()
    ax.set(xlabel="size (KB)", title="Size per artifact")
    out["size"] = _png(fig)
    if len({r.get("threads") for r in ok}) > 1:
        fig, ax = plt.subplots(figsize=(6.5, 4))
        for k in sorted({(r["artifact"], r["runtime"]) for r in ok}):
            pts = sorted((r["threads"], r["latency_ms"]["p50"]) for r in ok
                         if (r["artifact"], r["runtime"]) == k and r.get("threads"))
            ax.plot([p[0] for p in pts], [p[1] for p in pts], marker="o", label=f"{k[0]} ({k[1]})")
        ax.set(xlabel="threads", ylabel="p50 latency (ms)", title="Latency per thread count")
        ax.xaxis.get_major_locator().set_params(integer=True)
        ax.legend(fontsize=6)
        ax.grid(alpha=0.3)
        out["latency_vs_threads"] = _png(fig)
    deployed = next((r for r in ok if r["artifact"].endswith(DEPLOYED_SUFFIX) and r.get("confusion_matrix")), None)
    if deployed is not None:
        from sklearn.metrics import ConfusionMatrixDisplay

        names = (labels or {}).get(deployed["artifact"])
        fig, ax = plt.subplots(figsize=(5, 4.5))
        ConfusionMatrixDisplay(np.asarray(deployed["confusion_matrix"]), display_labels=names).plot(
            ax=ax, cmap="Blues", colorbar=False)
        ax.set_title(f"Deployed: {deployed['artifact']} (accuracy {deployed['accuracy']:.2%})", fontsize=9)
        out["confusion_matrix"] = _png(fig)
    return out


# -- the document ---------------------------------------------------------------------------------
class _Doc:
    """Blocks rendered twice, to Markdown and to HTML, so the two never disagree."""

    def __init__(self):
        self.blocks: list[tuple] = []

    def h(self, level: int, text: str):
        self.blocks.append(("h", level, text))

    def p(self, text: str):
        self.blocks.append(("p", text))

    def table(self, head: list[str], rows: list[list[str]]):
        self.blocks.append(("table", head, rows))

    def img(self, name: str, alt: str, png: bytes):
        self.blocks.append(("img", name, alt, png))

    def markdown(self) -> str:
        out = []
        for b in self.blocks:
            if b[0] == "h":
                out.append("#" * b[1] + " " + b[2])
            elif b[0] == "p":
                out.append(b[1])
            elif b[0] == "table":
                out.append(_md_table(b[1], b[2]))
            else:
                out.append(f"![{b[2]}]({b[1]})")
        return "\n\n".join(out) + "\n"

    def html(self, title: str) -> str:
        style = ("body{font-family:system-ui,sans-serif;max-width:1150px;margin:auto;padding:0 1em}"
                 "table{border-collapse:collapse;font-size:13px;margin:.5em 0}td,th{border:1px solid #ccc;"
                 "padding:3px 6px;text-align:left}th{background:#f3f3f3}img{max-width:100%}"
                 "code{background:#f3f3f3;padding:0 3px}")
        out = [f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>",
               f"<style>{style}</style></head><body>"]
        for b in self.blocks:
            if b[0] == "h":
                out.append(f"<h{b[1]}>{_inline(b[2])}</h{b[1]}>")
            elif b[0] == "p":
                out.append(f"<p>{_inline(b[1])}</p>")
            elif b[0] == "table":
                out.append("<table><tr>" + "".join(f"<th>{html.escape(c)}</th>" for c in b[1]) + "</tr>"
                           + "".join("<tr>" + "".join(f"<td>{_inline(c)}</td>" for c in r) + "</tr>" for r in b[2])
                           + "</table>")
            else:
                out.append(f"<p><img alt='{html.escape(b[2])}' src='data:image/png;base64,"
                           f"{base64.b64encode(b[3]).decode()}'></p>")
        return "\n".join(out) + "\n</body></html>\n"


def _inline(text: str) -> str:
    """The few Markdown inline forms the report uses (bold, code, links), as HTML."""
    text = html.escape(text, quote=False)
    text = re.sub(r"\*\*(.+?)\*\*", r"<b>\1</b>", text)
    text = re.sub(r"`(.+?)`", r"<code>\1</code>", text)
    text = re.sub(r"\*(.+?)\*", r"<i>\1</i>", text)
    return re.sub(r"\[([^\]]+)\]\((https?://[^)\s]+)\)", r"<a href='\2'>\1</a>", text)


def _machine_line(m: dict) -> str:
    runtimes = ", ".join(f"{k} {v}" for k, v in (m.get("runtimes") or {}).items() if v)
    dot = m.get("int8_dot")
    dot_text = "" if dot is None else (" (has int8 dot-product instructions)" if dot else
                                       " (no int8 dot-product instructions: no VNNI / DOTPROD)")
    return (f"CPU {m.get('cpu', '?')}{' on ' + m['board'] if m.get('board') else ''} ({m.get('arch', '?')}, "
            f"{m.get('cores', '?')} cores, ISA: {', '.join(m.get('isa') or []) or 'none detected'}{dot_text}); "
            f"GPU: {m.get('gpu') or 'none'}; {m.get('os', '?')}; Python {m.get('python', '?')}; {runtimes or '-'}.")


def _group(docs: list[dict]) -> dict[str, list[dict]]:
    """Results files by device label (the same label: repeated runs of one machine); a file without
    a label is a machine of its own, named by its position."""
    groups: dict[str, list[dict]] = {}
    for i, d in enumerate(docs):
        groups.setdefault(d["machine"].get("device") or f"machine {i + 1}", []).append(d)
    return groups


def _is_board(doc: dict, device: str) -> bool:
    m = doc["machine"]
    return any(device.lower() in (m.get(k) or "").lower() for k in ("board", "device"))


def _device_section(out: _Doc, i: int, title: str, runs: list[dict], out_dir: Path) -> dict | None:
    doc = runs[0]
    m, rows = doc["machine"], doc["results"]
    out.h(2, title)
    out.p(_machine_line(m))
    cfg = doc.get("config") or {}
    sets = (doc.get("data") or {}).get("sets") or []
    rounds = cfg.get("rounds", 1)
    timing = (f"{cfg.get('runs', '?')} timed single-image runs after {cfg.get('warmup', '?')} warm-up runs; "
              f"throughput: batches of {cfg.get('batch', '?')}")
    if rounds > 1:
        timing = (f"{rounds} rounds per row, interleaved across the rows, each of {timing}; the table gives each "
                  f"row's best round (its lowest p50 and highest throughput; every round is in the JSON)")
    out.p(f"Data: {'; '.join(sets) or '-'}. Latency: {timing}.")
    out.table(TABLE_HEAD, table_rows(rows))
    best = best_choice(rows)
    if best:
        out.p(f"**Best choice on this machine** (measured: the fastest p50 within {ACCURACY_TOLERANCE_PP} points of "
              f"the best accuracy): `{best['artifact']}` on {best['runtime']} with {best.get('threads') or '-'} "
              f"thread(s), {best['latency_ms']['p50']:.3f} ms p50, {best['throughput_ips']:,.0f} images/s, "
              f"accuracy {best['accuracy']:.4f}.")
    comparisons = int8_vs_fp32(rows)
    if comparisons:
        parts = [f"{c['family']} on {c['runtime']} x{c['threads']}: int8 {c['int8']:.3f} ms vs fp32 {c['fp32']:.3f} ms "
                 f"({'slower' if c['ratio'] > 1 else 'faster'}, x{c['ratio']:.2f})" for c in comparisons]
        why = ("" if m.get("int8_dot") is None else
               " This CPU has int8 dot-product instructions." if m.get("int8_dot") else
               " This CPU has no int8 dot-product instructions (VNNI on x86, DOTPROD on ARM), so int8 is not "
               "assumed to be faster.")
        out.p("int8 against fp32, measured: " + "; ".join(parts) + "." + why)
    macs = next((r["macs"] for r in rows if r.get("macs")), None)
    if macs:
        out.p(f"Model cost: {macs / 1e6:.2f} M multiply-accumulates per image (CONV_2D, DEPTHWISE_CONV_2D and "
              f"FULLY_CONNECTED of the .tflite).")
    if len(runs) > 1:
        rep = repeatability(rows, runs[1]["results"])
        if rep:
            worst = max(r["difference"] for r in rep)
            out.p(f"Repeatability: the same benchmark run twice in a row; largest p50 difference {worst:.1%} "
                  f"(target: within 10%).")
            out.table(["artifact", "runtime", "threads", "p50 ms (run 1)", "p50 ms (run 2)", "difference",
                       "slowest round vs best (run 1)"],
                      [[r["artifact"], r["runtime"], _fmt(r["threads"], "d"), f"{r['p50']:.3f}",
                        f"{r['p50_again']:.3f}", f"{r['difference']:.1%}",
                        "-" if r["round_spread"] is None else f"+{r['round_spread']:.1%}"] for r in rep])
    for key, png in plots(rows, title, doc.get("labels")).items():
        name = f"{i}_{key}.png"
        atomic_write(out_dir / name, png)
        out.img(name, key.replace("_", " "), png)
    return best


def _pi_section(out: _Doc, docs: list[dict]) -> None:
    from asl_edge.pi_estimate import DEVICES, MOBILENET_PAPER, REFERENCES, estimates

    rows = next((d["results"] for d in docs if any(r.get("macs") for r in d["results"])), None)
    if rows is None:
        return
    est = estimates(rows)
    if not est:
        return
    measured = {}
    for device in DEVICES:
        for d in (d for d in docs if _is_board(d, device)):
            for r in d["results"]:
                if r["status"] == "ok" and r.get("device", "cpu") == "cpu":
                    best = measured.setdefault((device, r["artifact"]), r["latency_ms"]["p50"])
                    measured[(device, r["artifact"])] = min(best, r["latency_ms"]["p50"])
    out.h(2, "Raspberry Pi 4 and Pi 5: ESTIMATES, not measurements")
    out.p("*Estimated*, not measured: each figure scales a published latency of a reference network on that board "
          "by the ratio of multiply-accumulates (estimate = model MACs / published MACs per ms). The published "
          "runs used 4 threads on networks far larger than these models; a tiny model parallelises less well and "
          "pays a fixed per-call cost, so read them as compute-bound lower bounds. Measured Pi rows, where a Pi's "
          "results file is given, stand beside them.")
    head = ["artifact", "precision", "MACs (M)"]
    for device in DEVICES:
        head += [f"{device} ESTIMATE ms", f"{device} measured p50 ms"]
    table_rows_ = []
    for e in est:
        row = [e["artifact"], e["precision"], f"{e['macs'] / 1e6:.2f}"]
        for device in DEVICES:
            row += [f"~{e['estimate_ms'][device]:.2f} (estimate)", _fmt(measured.get((device, e["artifact"])), ".3f")]
        table_rows_.append(row)
    out.table(head, table_rows_)
    out.p("Sources of the published figures:")
    out.table(["board", "arithmetic", "reference network", "MACs (M)", "published ms", "MACs per ms (M)", "source"],
              [[r.device, r.precision, r.network, f"{r.macs / 1e6:.0f}", f"{r.latency_ms:.1f}",
                f"{r.macs_per_ms / 1e6:.1f}", f"{r.citation}{'; ' + r.derived if r.derived else ''} [link]({r.url})"]
               for r in REFERENCES])
    out.p(f"MobileNet v1 1.0 224: 569 M mult-adds ([Howard et al. 2017]({MOBILENET_PAPER}), Table 8); "
          "`asl_edge.benchmark.count_macs` counts 568.7 M in the Keras MobileNet converted to .tflite. fp16 and "
          "dynamic-range artifacts take the fp32 rate (a CPU computes them in float32); ONNX artifacts take the "
          "rate of their precision although the published figures are TensorFlow Lite/XNNPACK ones.")


def _check_section(out: _Doc, check: dict) -> None:
    emu = check.get("emulation") or {}
    mach = emu.get("machine") or {}
    out.h(2, f"ARM64 emulation check: {check.get('status', '?').upper()} (QEMU user mode, not a Raspberry Pi)")
    out.p(f"The runtime-only install (`asl-edge[pi]`) ran in a {emu.get('userland', 'arm64 userland')} under "
          f"{emu.get('qemu', 'QEMU')} with QEMU_CPU={emu.get('qemu_cpu') or '?'} ({mach.get('cpu', '?')}, ISA: "
          f"{', '.join(mach.get('isa') or []) or '-'}; Python {mach.get('python', '?')}), and its outputs were "
          f"compared with this x86 machine's on {(check.get('data') or {}).get('description', 'the same images')}, "
          f"one image at a time (`make arm64-check`, {check.get('created', '')}). Bar: int8 outputs within 1 LSB, "
          "float outputs within 1e-4. " + check.get("note", "No timings are recorded under emulation."))
    rows = []
    for r in check["results"]:
        rows.append([r["artifact"], r.get("precision", "-"), f"{r.get('runtime') or '-'} {r.get('runtime_version_arm64') or ''}".strip(),
                     _fmt(r.get("max_abs_diff"), ".2e"), _fmt(r.get("max_lsb_diff"), "d"),
                     _fmt(r.get("top1_agreement"), ".4f"),
                     {True: "yes", False: "no", None: "-"}[r.get("xnnpack_arm64")], r["status"]])
    out.table(["artifact", "precision", "runtime (arm64)", "max abs diff", "max diff (LSB)", "top-1 agreement",
               "XNNPACK on arm64", "status"], rows)


def render(docs: list[dict], out_dir: str | Path, checks: list[dict] | tuple = ()) -> tuple[Path, Path]:
    """Writes ``REPORT.md`` (with PNGs beside it) and a self-contained ``report.html``.

    Args:
        docs: benchmark results documents (``load_results``); one section per device label.
        out_dir: destination folder.
        checks: ARM64 emulation check documents (``load_check``).

    Returns:
        The paths of ``REPORT.md`` and ``report.html``.
    """
    out_dir = Path(out_dir)
    out = _Doc()
    out.h(1, "asl-edge benchmark report")
    out.p("Every figure in the machine sections was measured by `asl-edge benchmark` on the machine named there; "
          "rows marked *not measured* say why. Raspberry Pi figures are ESTIMATES unless a Pi's own results are "
          "included, and the ARM64 emulation check compares predictions only.")
    groups = _group(docs)
    bests = [(title, _device_section(out, i, title, runs, out_dir)) for i, (title, runs) in enumerate(groups.items())]
    if len(groups) > 1:
        out.h(2, "Best choice per machine (measured)")
        out.table(["machine", "artifact", "runtime", "threads", "p50 ms", "images/s", "accuracy"],
                  [[name, b["artifact"], b["runtime"], _fmt(b.get("threads"), "d"), f"{b['latency_ms']['p50']:.3f}",
                    f"{b['throughput_ips']:,.0f}", f"{b['accuracy']:.4f}"] if b else [name, "-", "-", "-", "-", "-", "-"]
                   for name, b in bests])
    _pi_section(out, docs)
    for check in checks:
        _check_section(out, check)
    md_path = atomic_write(out_dir / "REPORT.md", out.markdown())
    html_path = atomic_write(out_dir / "report.html", out.html("asl-edge benchmark report"))
    return md_path, html_path
