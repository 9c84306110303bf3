"""The report's plots as PNG bytes (matplotlib, Agg backend).

One colour per artifact kind (the export format table's order) in every plot, one marker per
runtime, accuracy with its 95% interval from the number of images scored (so one image more or
less does not look like a chasm), and values written on bars.
"""

from __future__ import annotations

import io
import math

import numpy as np

from asl_edge.report.analysis import DEPLOYED_SUFFIX, pareto_front
from asl_edge.runtime.formats import export_formats

# The tab10 palette in the format table's order: tflite_int8 is always the same colour.
_PALETTE = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22",
            "#17becf")
KIND_COLOURS = {f.name: _PALETTE[i % len(_PALETTE)] for i, f in enumerate(export_formats())}
RUNTIME_MARKERS = {"keras": "s", "litert": "o", "tflite_runtime": "o", "tf.lite": "o", "onnxruntime": "^"}
LEGEND_FONT = 9
# Artifacts drawn per plot: a figure for more is unreadable, and grows with them (the rest stay in the tables).
MAX_DRAWN = 30
MAX_CELL_LABELS = 600  # the heat map writes its values into at most this many cells


def colour(row: dict) -> str:
    """The colour of a result row's artifact kind (grey for an unknown kind)."""
    return KIND_COLOURS.get(row.get("format") or "", "#7f7f7f")


def accuracy_interval(accuracy: float, n: int | None) -> tuple[float, float]:
    """95% Wilson score interval of an accuracy measured on ``n`` images (``(a, a)`` when n is unknown)."""
    if not n:
        return accuracy, accuracy
    z = 1.96
    centre = (accuracy + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(accuracy * (1 - accuracy) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return max(0.0, centre - half), min(1.0, centre + half)


def _png(fig) -> bytes:
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    plt.close(fig)
    return buf.getvalue()


def _samples(row: dict) -> int | None:
    cm = row.get("confusion_matrix")
    return int(np.asarray(cm).sum()) if cm else row.get("num_samples")


def _accuracy_vs_latency(plt, ok: list[dict], title: str) -> bytes:
    fig, ax = plt.subplots(figsize=(7.5, 4.2))
    seen = {}
    for r in ok:
        lo, hi = accuracy_interval(r["accuracy"], _samples(r))
        acc = r["accuracy"] * 100
        # the thread count as the marker's fill: hollow for 1 thread, filled for more, so that points
        # of the same artifact at one latency stay apart from each other
        filled = (r.get("threads") or 1) > 1
        label = f"{r['artifact']} ({r['runtime']})"
        ax.errorbar(r["latency_ms"]["p50"], acc, yerr=[[acc - lo * 100], [hi * 100 - acc]], fmt="none",
                    ecolor=colour(r), alpha=0.5, capsize=3)
        ax.scatter(r["latency_ms"]["p50"], acc, s=60, marker=RUNTIME_MARKERS.get(r["runtime"], "D"),
                   facecolors=colour(r) if filled else "white", edgecolors=colour(r), linewidths=1.8,
                   label=None if label in seen else label, zorder=3)
        seen[label] = True
    floor = min(accuracy_interval(r["accuracy"], _samples(r))[0] for r in ok) * 100
    ax.set_ylim(max(0.0, math.floor(floor / 5) * 5 - 5), 100.5)
    ax.set_xscale("log")
    ax.set(xlabel="p50 latency per image (ms, log scale)", ylabel="accuracy (%), 95% interval",
           title=f"Accuracy vs latency: {title}\n(hollow: 1 thread, filled: more threads)")
    ax.legend(fontsize=LEGEND_FONT, loc="upper left", bbox_to_anchor=(1.02, 1.0), frameon=False)
    ax.grid(alpha=0.3, which="both")
    return _png(fig)


def _first_artifacts(rows: list[dict], limit: int = MAX_DRAWN) -> list[dict]:
    """The rows of the first ``limit`` artifacts (in the order measured)."""
    keep = list(dict.fromkeys(r["artifact"] for r in rows))[:limit]
    return [r for r in rows if r["artifact"] in set(keep)]


def _more(rows: list[dict], drawn: list[dict]) -> str:
    total, shown = len({r["artifact"] for r in rows}), len({r["artifact"] for r in drawn})
    return f" (first {shown} of {total} artifacts)" if shown < total else ""


def _sizes(plt, rows: list[dict]) -> bytes:
    sizes = {}
    for r in _first_artifacts(rows):
        sizes.setdefault(r["artifact"], (r["size_bytes"] / 1024, colour(r)))
    fig, ax = plt.subplots(figsize=(7.5, 0.45 * len(sizes) + 1.2))
    names = list(sizes)
    bars = ax.barh(names, [sizes[n][0] for n in names], color=[sizes[n][1] for n in names])
    ax.bar_label(bars, labels=[f"{sizes[n][0]:,.1f} KB" for n in names], padding=3, fontsize=LEGEND_FONT)
    ax.invert_yaxis()
    ax.set_xlim(0, max(v for v, _ in sizes.values()) * 1.25)
    ax.set(xlabel="size (KB)", title="Size per artifact" + _more(rows, _first_artifacts(rows)))
    return _png(fig)


def _latency_vs_threads(plt, ok: list[dict]) -> bytes:
    fig, ax = plt.subplots(figsize=(7.5, 4.2))
    for key in sorted({(r["artifact"], r["runtime"]) for r in ok}):
        pts = sorted((r["threads"], r["latency_ms"]["p50"], colour(r)) for r in ok
                     if (r["artifact"], r["runtime"]) == key and r.get("threads"))
        if pts:
            ax.plot([p[0] for p in pts], [p[1] for p in pts], marker=RUNTIME_MARKERS.get(key[1], "D"),
                    color=pts[0][2], label=f"{key[0]} ({key[1]})")
    ax.set_yscale("log")
    ax.set(xlabel="threads", ylabel="p50 latency (ms, log scale)", title="Latency per thread count")
    ax.xaxis.get_major_locator().set_params(integer=True)
    ax.legend(fontsize=LEGEND_FONT, loc="upper left", bbox_to_anchor=(1.02, 1.0), frameon=False)
    ax.grid(alpha=0.3, which="both")
    return _png(fig)


def _confusion(plt, row: dict, names) -> bytes:
    from sklearn.metrics import ConfusionMatrixDisplay

    cm = np.asarray(row["confusion_matrix"])
    fig, ax = plt.subplots(figsize=(5, 4.5))
    # Labels that do not match the matrix (another file's) are left out; counts are written into
    # the cells only while they stay legible.
    legible = len(cm) <= 30
    ConfusionMatrixDisplay(cm, display_labels=names if names is not None and len(names) == len(cm) else None).plot(
        ax=ax, cmap="Blues", colorbar=False, include_values=legible)
    if not legible:  # hundreds of tick labels take longer to draw than the rest of the report
        ax.set_xticks([])
        ax.set_yticks([])
    ax.set_title(f"Deployed: {row['artifact']} (accuracy {row['accuracy']:.2%}, {_samples(row)} images)", fontsize=9)
    return _png(fig)


def shift_heatmap(rows: list[dict]) -> bytes | None:
    """Accuracy per artifact (rows) and camera shift (columns), where the benchmark measured them."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    measured = {}
    with_shifts = [r for r in rows if r.get("shifts")]
    for r in _first_artifacts(with_shifts):
        measured.setdefault(r["artifact"], r)
    if not measured:
        return None
    names = list(dict.fromkeys(s for r in measured.values() for s in ["unchanged", *r["shifts"]]))

    def cell(r, s):
        value = r["accuracy"] if s == "unchanged" else (r["shifts"].get(s) or {}).get("accuracy")
        return np.nan if value is None else value

    grid = np.array([[cell(r, s) for s in names] for r in measured.values()], float) * 100
    fig, ax = plt.subplots(figsize=(max(7.5, 0.42 * len(names) + 2), 0.5 * len(measured) + 2.2))
    im = ax.imshow(grid, cmap="RdYlGn", vmin=max(0.0, np.nanmin(grid) - 5), vmax=100, aspect="auto")
    ax.set_xticks(range(len(names)), names, rotation=60, ha="right", fontsize=8)
    ax.set_yticks(range(len(measured)), list(measured), fontsize=8)
    if grid.size <= MAX_CELL_LABELS:
        for (i, j), v in np.ndenumerate(grid):
            if not np.isnan(v):
                ax.text(j, i, f"{v:.0f}", ha="center", va="center", fontsize=7)
    fig.colorbar(im, ax=ax, label="accuracy (%)")
    ax.set_title("Accuracy under camera shifts (held-out signers)" + _more(with_shifts, list(measured.values())))
    return _png(fig)


def architecture_pareto(rows: list[dict]) -> bytes:
    """int8 accuracy against int8 latency (1 thread) and against int8 size, one point per
    architecture, with 95% intervals and each Pareto front drawn as a step line."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2))
    for ax, cost, scale, label in ((axes[0], "latency_ms_p50", 1.0, "int8 p50 latency, 1 thread (ms, log scale)"),
                                   (axes[1], "int8_size_bytes", 1 / 1024, "int8 size (KB, log scale)")):
        for i, r in enumerate(rows):
            acc = r["int8_accuracy"] * 100
            lo, hi = accuracy_interval(r["int8_accuracy"], r.get("num_samples"))
            c = _PALETTE[i % len(_PALETTE)]
            ax.errorbar(r[cost] * scale, acc, yerr=[[acc - lo * 100], [hi * 100 - acc]], fmt="o", color=c, capsize=3)
            ax.annotate(r["model"], (r[cost] * scale, acc), textcoords="offset points", xytext=(5, 4), fontsize=8)
        front = pareto_front(rows, cost)
        ax.step([r[cost] * scale for r in front], [r["int8_accuracy"] * 100 for r in front], where="post",
                color="black", alpha=0.4, linestyle="--", label="Pareto front")
        ax.set_xscale("log")
        ax.set(xlabel=label, ylabel="int8 accuracy (%), 95% interval")
        ax.grid(alpha=0.3, which="both")
        ax.legend(fontsize=LEGEND_FONT, loc="lower right")
    fig.suptitle("Architectures: accuracy against latency and size (held-out signers)")
    return _png(fig)


def plots(rows: list[dict], title: str, labels: dict | None = None) -> dict[str, bytes]:
    """Accuracy vs latency, size per artifact, latency per thread count, camera shifts, deployed
    confusion matrix (PNG bytes by name)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ok = [r for r in rows if r["status"] == "ok"]
    out = {}
    drawn = _first_artifacts(ok)
    if ok:
        out["accuracy_vs_latency"] = _accuracy_vs_latency(plt, drawn, title + _more(ok, drawn))
    out["size"] = _sizes(plt, rows)
    if len({r.get("threads") for r in ok}) > 1:
        out["latency_vs_threads"] = _latency_vs_threads(plt, drawn)
    heat = shift_heatmap(ok)
    if heat is not None:
        out["camera_shifts"] = heat
    deployed = next((r for r in ok if r["artifact"].endswith(DEPLOYED_SUFFIX) and r.get("confusion_matrix")), None)
    if deployed is not None:
        out["confusion_matrix"] = _confusion(plt, deployed, (labels or {}).get(deployed["artifact"]))
    return out
