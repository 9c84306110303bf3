"""``asl-edge report``: benchmark results from one or several machines as REPORT.md and one HTML page.

Per machine: a table like ``yolo benchmark`` (artifact, runtime, threads, size, accuracy, p50,
p90, images/s, status), the best artifact measured on that machine, the model's MAC count,
plots (accuracy against latency, size per artifact, latency per thread count) and the confusion
matrix of the deployed artifact (int8 TFLite). The HTML page inlines its images.
"""

from __future__ import annotations

import base64
import html
import io
import logging
from pathlib import Path

import numpy as np

from asl_edge.fsutil import atomic_write

log = logging.getLogger(__name__)


def _fmt(v, spec):
    return "-" if v is None else format(v, spec)


def table(rows: list[dict]) -> str:
    head = "| artifact | runtime | device | threads | size KB | gzip KB | accuracy | p50 ms | p90 ms | p99 ms | images/s | status |\n"
    head += "|---|---|---|---|---|---|---|---|---|---|---|---|\n"
    lines = []
    for r in rows:
        lat = r.get("latency_ms") or {}
        lines.append(f"| {r['artifact']} | {r.get('runtime') or '-'} | {r.get('device', 'cpu')} | {r['threads']} | "
                     f"{r['size_bytes'] / 1024:.1f} | {_fmt(r.get('size_gzip_bytes', 0) / 1024, '.1f')} | "
                     f"{_fmt(r['accuracy'], '.4f')} | {_fmt(lat.get('p50'), '.3f')} | {_fmt(lat.get('p90'), '.3f')} | "
                     f"{_fmt(lat.get('p99'), '.3f')} | {_fmt(r['throughput_ips'], ',.0f')} | {r['status']} |")
    return head + "\n".join(lines)


def best_choice(rows: list[dict], tolerance_pp: float = 0.5) -> dict | None:
    """The fastest single-image row (p50) among those within ``tolerance_pp`` of the best accuracy."""
    ok = [r for r in rows if r["status"] == "ok"]
    if not ok:
        return None
    top = max(r["accuracy"] for r in ok)
    eligible = [r for r in ok if (top - r["accuracy"]) * 100 <= tolerance_pp]
    return min(eligible, key=lambda r: r["latency_ms"]["p50"])


def _png(fig) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100, bbox_inches="tight")
    import matplotlib.pyplot as plt

    plt.close(fig)
    return buf.getvalue()


def plots(rows: list[dict], title: str) -> dict[str, bytes]:
    """Accuracy vs latency, size per artifact, latency per thread count, as PNG bytes."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ok = [r for r in rows if r["status"] == "ok"]
    out = {}
    if not ok:
        return out
    fig, ax = plt.subplots(figsize=(6.5, 4))
    for r in ok:  # a legend, not annotations: artifacts of equal accuracy would overlap
        ax.scatter(r["latency_ms"]["p50"], r["accuracy"] * 100, label=f"{r['artifact']} ({r['runtime']}, {r['threads']}t)")
    ax.set(xlabel="p50 latency per image (ms)", ylabel="accuracy (%)", title=f"Accuracy vs latency: {title}")
    ax.legend(fontsize=6, loc="best")
    ax.grid(alpha=0.3)
    out["accuracy_vs_latency"] = _png(fig)
    sizes = {r["artifact"]: r["size_bytes"] / 1024 for r in rows}
    fig, ax = plt.subplots(figsize=(6.5, 3.5))
    ax.barh(list(sizes), list(sizes.values()), color="tab:blue")
    ax.set(xlabel="size (KB)", title="Size per artifact")
    out["size"] = _png(fig)
    fig, ax = plt.subplots(figsize=(6.5, 4))
    for key in sorted({(r["artifact"], r["runtime"]) for r in ok}):
        pts = sorted((r["threads"], r["latency_ms"]["p50"]) for r in ok if (r["artifact"], r["runtime"]) == key)
        ax.plot([p[0] for p in pts], [p[1] for p in pts], marker="o", label=f"{key[0]} ({key[1]})")
    ax.set(xlabel="threads", ylabel="p50 latency (ms)", title="Latency per thread count")
    ax.legend(fontsize=6)
    ax.grid(alpha=0.3)
    out["latency_vs_threads"] = _png(fig)
    deployed = next((r for r in ok if r["artifact"].endswith("_int8.tflite") and r.get("confusion_matrix")), None)
    if deployed is not None:
        from sklearn.metrics import ConfusionMatrixDisplay

        fig, ax = plt.subplots(figsize=(5, 4.5))
        ConfusionMatrixDisplay(np.asarray(deployed["confusion_matrix"])).plot(ax=ax, cmap="Blues", colorbar=False)
        ax.set_title(f"{deployed['artifact']} (accuracy {deployed['accuracy']:.2%})")
        out["confusion_matrix"] = _png(fig)
    return out


def render(docs: list[dict], out_dir: str | Path) -> tuple[Path, Path]:
    """Writes ``REPORT.md`` (with PNGs beside it) and a self-contained ``report.html``."""
    out_dir = Path(out_dir)
    md = ["# asl-edge benchmark report", "",
          "Every figure below was measured by `asl-edge benchmark` on the machine named in its section; "
          "rows marked *not measured* say why. Latency: single image, after warm-up, `time.perf_counter`.", ""]
    page = ["<!doctype html><meta charset='utf-8'><title>asl-edge benchmark report</title>",
            "<style>body{font-family:sans-serif;max-width:1100px;margin:auto}table{border-collapse:collapse;font-size:13px}"
            "td,th{border:1px solid #ccc;padding:3px 6px}</style><h1>asl-edge benchmark report</h1>"]
    for i, doc in enumerate(docs):
        m = doc["machine"]
        title = m.get("device") or f"machine {i + 1}"
        md += [f"## {title}", "",
               f"CPU {m['cpu']} ({m['arch']}, {m['cores']} cores, ISA: {', '.join(m['isa']) or 'none detected'}), "
               f"GPU: {m.get('gpu') or 'none'}, {m['os']}, Python {m['python']}. Data: {', '.join(doc.get('data', [])) or '-'}.", ""]
        macs = next((r["macs"] for r in doc["results"] if r.get("macs")), None)
        md += [table(doc["results"]), ""]
        best = best_choice(doc["results"])
        if best:
            md += [f"**Best choice on this machine** (fastest p50 within 0.5 points of the best accuracy): "
                   f"`{best['artifact']}` on {best['runtime']} with {best['threads']} thread(s), "
                   f"{best['latency_ms']['p50']:.3f} ms p50, accuracy {best['accuracy']:.4f}.", ""]
        if macs:
            md += [f"Model cost: {macs / 1e6:.2f} M multiply-accumulates per image.", ""]
        images = plots(doc["results"], title)
        for key, png in images.items():
            name = f"{i}_{key}.png"
            atomic_write(out_dir / name, png)
            md += [f"![{key}]({name})", ""]
        page.append(f"<h2>{html.escape(title)}</h2>" + _md_table_to_html(table(doc["results"])))
        if best:
            page.append(f"<p><b>Best choice</b>: {html.escape(best['artifact'])} on {best['runtime']} "
                        f"({best['threads']} threads), p50 {best['latency_ms']['p50']:.3f} ms</p>")
        page += [f"<img alt='{k}' src='data:image/png;base64,{base64.b64encode(v).decode()}'>" for k, v in images.items()]
    md_path = atomic_write(out_dir / "REPORT.md", "\n".join(md) + "\n")
    html_path = atomic_write(out_dir / "report.html", "\n".join(page) + "\n")
    return md_path, html_path


def _md_table_to_html(md_table: str) -> str:
    rows = [line.strip("|").split("|") for line in md_table.splitlines() if not line.startswith("|---")]
    head, body = rows[0], rows[1:]
    return ("<table><tr>" + "".join(f"<th>{html.escape(c.strip())}</th>" for c in head) + "</tr>"
            + "".join("<tr>" + "".join(f"<td>{html.escape(c.strip())}</td>" for c in r) + "</tr>" for r in body)
            + "</table>")
