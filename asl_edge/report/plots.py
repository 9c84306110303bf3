"""The report's plots as PNG bytes (matplotlib, Agg backend).

Every figure is titled with the machine, the use case and the pick it shows, the pick ringed or
named in it. One colour per artifact kind (the export format table's order) and one marker per
runtime where that tells the entries apart, distinct colours and markers in turn where it does not;
accuracy with its 95% interval from the number of images scored (so one image more or less does not
look like a chasm); log axes with plain tick labels that never crowd; a legend entry only for what
was measured (hollow and filled markers only where two thread counts were).
"""

from __future__ import annotations

import io
import math

import numpy as np

from asl_edge.report.analysis import pareto_front
from asl_edge.runtime.formats import export_formats

# The tab10 palette in the format table's order: tflite_int8 is always the same colour.
_PALETTE = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22",
            "#17becf")
KIND_COLOURS = {f.name: _PALETTE[i % len(_PALETTE)] for i, f in enumerate(export_formats())}
MARKERS = ("o", "s", "^", "D", "v", "P", "X", "<", ">", "h", "*", "p")  # cycled where colours run out
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


def styles(rows: list[dict]) -> dict[tuple, tuple[str, str]]:
    """A (colour, marker) per legend entry (artifact, runtime), no two alike: the format's colour and
    the runtime's marker where the formats' colours are all different, else colours and markers in
    turn (a camera pipeline per precision, or many artifacts of one format)."""
    keys = list(dict.fromkeys((r["artifact"], r.get("runtime")) for r in rows))
    first = {}
    for r in rows:
        first.setdefault((r["artifact"], r.get("runtime")), r)
    kind = {k: (colour(first[k]), RUNTIME_MARKERS.get(k[1], "D")) for k in keys}
    if len(set(kind.values())) == len(keys) and len({c for c, _ in kind.values()}) == len(keys):
        return kind
    return {k: (_PALETTE[i % len(_PALETTE)], MARKERS[(i // len(_PALETTE)) % len(MARKERS)]) for i, k in enumerate(keys)}


def log_ticks(axis, lo: float, hi: float) -> None:
    """Log-scale ticks that never crowd: 1-2-5 steps over a narrow range, decades over a wide one,
    plain numbers (0.05, not 5x10^-2), no minor labels; the range padded so at least two ticks show."""
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    lo, hi = lo / 1.6, hi * 1.6
    subs = (1.0, 2.0, 5.0) if math.log10(hi / lo) <= 3 else (1.0,)
    axis.set_major_locator(LogLocator(base=10, subs=subs))
    axis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    axis.set_minor_formatter(NullFormatter())
    (axis.axes.set_xlim if axis is axis.axes.xaxis else axis.axes.set_ylim)(lo, hi)


def _threads_legend(threads: list[int]) -> list:
    """Legend entries for the markers' fill, only where more than one thread count was measured."""
    from matplotlib.lines import Line2D

    if len(threads) < 2:
        return []
    more = " or ".join(str(t) for t in threads[1:])
    return [Line2D([], [], marker="o", linestyle="", markerfacecolor="white", markeredgecolor="black",
                   label=f"hollow: {threads[0]} thread{'s' if threads[0] > 1 else ''}"),
            Line2D([], [], marker="o", linestyle="", markerfacecolor="black", markeredgecolor="black",
                   label=f"filled: {more} threads")]


def pick_label(row: dict) -> str:
    threads = row.get("threads")
    return f"{row['artifact']} ({row.get('runtime')}, {threads or '-'} thread{'s' if (threads or 0) > 1 else ''})"


def accuracy_vs_latency_figure(plt, rows: list[dict], title: str, use, pick: dict | None):
    """Accuracy (95% interval) against p50 latency per call of one use case, the pick ringed and named."""
    fig, ax = plt.subplots(figsize=(8, 4.4))
    style = styles(rows)
    threads = sorted({r.get("threads") or 1 for r in rows})
    seen = set()
    for r in rows:
        c, marker = style[(r["artifact"], r.get("runtime"))]
        lo, hi = accuracy_interval(r["accuracy"], _samples(r))
        acc, x = r["accuracy"] * 100, r["latency_ms"]["p50"]
        ax.errorbar(x, acc, yerr=[[acc - lo * 100], [hi * 100 - acc]], fmt="none", ecolor=c, alpha=0.5, capsize=3)
        label = f"{r['artifact']} ({r.get('runtime')})"
        filled = len(threads) > 1 and (r.get("threads") or 1) > threads[0]
        ax.scatter(x, acc, s=60, marker=marker, facecolors=c if filled else "white", edgecolors=c, linewidths=1.8,
                   label=None if label in seen else label, zorder=3)
        seen.add(label)
    if pick is not None:
        ax.scatter(pick["latency_ms"]["p50"], pick["accuracy"] * 100, s=380, marker="o", facecolors="none",
                   edgecolors="black", linewidths=1.6, zorder=4, label=f"ringed: the pick, {pick_label(pick)}")
        ax.annotate("pick", (pick["latency_ms"]["p50"], pick["accuracy"] * 100), textcoords="offset points",
                    xytext=(0, -22), ha="center", fontsize=LEGEND_FONT, fontweight="bold")
    floor = min(accuracy_interval(r["accuracy"], _samples(r))[0] for r in rows) * 100
    ax.set_ylim(max(0.0, math.floor(floor / 5) * 5 - 5), 100.5)
    ax.set_xscale("log")
    lat = [r["latency_ms"]["p50"] for r in rows]
    log_ticks(ax.xaxis, min(lat), max(lat))
    one = "" if len(threads) > 1 else f", {threads[0]} thread{'s' if threads[0] > 1 else ''}"
    ax.set(xlabel=f"p50 latency (ms per {use.unit}, log scale)", ylabel=f"{use.accuracy} (%), 95% interval",
           title=f"{title}: {use.title}, on the CPU{one}\n{use.accuracy} against ms per {use.unit}"
                 + (f"; pick: {pick['artifact']}" if pick else ""))
    handles, _ = ax.get_legend_handles_labels()
    ax.legend(handles=handles + _threads_legend(threads), fontsize=LEGEND_FONT, loc="upper left",
              bbox_to_anchor=(1.02, 1.0), frameon=False, ncol=2 if len(handles) > 16 else 1)
    ax.grid(alpha=0.3, which="major")
    return fig


def _first_artifacts(rows: list[dict], limit: int = MAX_DRAWN) -> list[dict]:
    """The rows of the first ``limit`` artifacts (in the order measured)."""
    keep = list(dict.fromkeys(r["artifact"] for r in rows))[:limit]
    return [r for r in rows if r["artifact"] in set(keep)]


def _more(rows: list[dict], drawn: list[dict]) -> str:
    total, shown = len({r["artifact"] for r in rows}), len({r["artifact"] for r in drawn})
    return f" (first {shown} of {total} artifacts)" if shown < total else ""


def _sizes(plt, rows: list[dict], title: str, picked: dict[str, str]) -> tuple[bytes, str]:
    """File size per artifact (a camera pipeline ships its classifier's file: not drawn twice), the picks named."""
    from asl_edge.report.analysis import use_case_of

    files = [r for r in rows if use_case_of(r).key != "camera"]
    sizes = {}
    for r in _first_artifacts(files):
        sizes.setdefault(r["artifact"], (r["size_bytes"] / 1024, colour(r)))
    fig, ax = plt.subplots(figsize=(7.5, 0.45 * len(sizes) + 1.4))
    names = list(sizes)
    bars = ax.barh(names, [sizes[n][0] for n in names], color=[sizes[n][1] for n in names])
    ax.bar_label(bars, labels=[f"{sizes[n][0]:,.1f} KB" + (f"  <- pick: {picked[n]}" if n in picked else "")
                               for n in names], padding=3, fontsize=LEGEND_FONT)
    for label in ax.get_yticklabels():
        if label.get_text() in picked:
            label.set_fontweight("bold")
    ax.invert_yaxis()
    ax.set_xlim(0, max(v for v, _ in sizes.values()) * 1.9)
    text = f"{title}: file size per artifact" + _more(files, _first_artifacts(files))
    ax.set(xlabel="size (KB)", title=text + ("\npicks in bold" if picked else ""))
    return _png(fig), text


def _latency_vs_threads(plt, ok: list[dict], title: str, use, pick: dict | None) -> tuple[bytes, str]:
    fig, ax = plt.subplots(figsize=(8, 4.4))
    style = styles(ok)
    for key, (c, marker) in style.items():
        pts = sorted((r["threads"], r["latency_ms"]["p50"]) for r in ok
                     if (r["artifact"], r.get("runtime")) == key and r.get("threads"))
        if pts:
            ax.plot([p[0] for p in pts], [p[1] for p in pts], marker=marker, color=c, label=f"{key[0]} ({key[1]})")
    if pick is not None and pick.get("threads"):
        ax.scatter(pick["threads"], pick["latency_ms"]["p50"], s=380, marker="o", facecolors="none",
                   edgecolors="black", linewidths=1.6, zorder=4, label=f"ringed: the pick, {pick_label(pick)}")
    ax.set_yscale("log")
    lat = [r["latency_ms"]["p50"] for r in ok]
    log_ticks(ax.yaxis, min(lat), max(lat))
    text = f"{title}: {use.title}, p50 ms per {use.unit} against threads"
    ax.set(xlabel="threads", ylabel=f"p50 latency (ms per {use.unit}, log scale)",
           title=text + (f"\npick: {pick['artifact']}" if pick else ""))
    ax.xaxis.get_major_locator().set_params(integer=True)
    ax.legend(fontsize=LEGEND_FONT, loc="upper left", bbox_to_anchor=(1.02, 1.0), frameon=False,
              ncol=2 if len(style) > 16 else 1)
    ax.grid(alpha=0.3, which="major")
    return _png(fig), text


def _confusion(plt, row: dict, names, title: str, use) -> tuple[bytes, str]:
    from sklearn.metrics import ConfusionMatrixDisplay

    cm = np.asarray(row["confusion_matrix"])
    fig, ax = plt.subplots(figsize=(5.5, 5))
    # Labels that do not match the matrix (another file's) are left out; counts are written into
    # the cells only while they stay legible.
    legible = len(cm) <= 30
    ConfusionMatrixDisplay(cm, display_labels=names if names is not None and len(names) == len(cm) else None).plot(
        ax=ax, cmap="Blues", colorbar=False, include_values=legible)
    if not legible:  # hundreds of tick labels take longer to draw than the rest of the report
        ax.set_xticks([])
        ax.set_yticks([])
    text = (f"{title}: confusion matrix of the pick for {use.title}, {row['artifact']} "
            f"({row['accuracy']:.2%} of {_samples(row)} images)")
    ax.set_title(f"{title}: confusion matrix of the pick for {use.title}\n{row['artifact']}: "
                 f"{row['accuracy']:.2%} of {_samples(row)} images", fontsize=9)
    return _png(fig), text


def shift_heatmap(rows: list[dict], title: str = "", picked: dict[str, str] | None = None) -> bytes | None:
    """Accuracy per artifact (rows) and camera shift (columns), where the benchmark measured them;
    ``picked``: the use case an artifact is picked for, by artifact (named on its row)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    measured = {}
    from asl_edge.report.analysis import use_case_of

    picked = picked or {}
    # a camera pipeline row carries its classifier file's shifts: drawn once, on the file's row
    with_shifts = [r for r in rows if r.get("shifts") and use_case_of(r).key != "camera"]
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
    ax.set_yticks(range(len(measured)), [n + (f"  (pick: {picked[n]})" if n in picked else "") for n in measured],
                  fontsize=8)
    if grid.size <= MAX_CELL_LABELS:
        for (i, j), v in np.ndenumerate(grid):
            if not np.isnan(v):
                ax.text(j, i, f"{v:.0f}", ha="center", va="center", fontsize=7)
    fig.colorbar(im, ax=ax, label="accuracy (%)")
    ax.set_title(f"{title + ': ' if title else ''}accuracy under camera shifts, per artifact"
                 + _more(with_shifts, list(measured.values())))
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


def plots(rows: list[dict], title: str, labels: dict | None = None,
          picks: dict[str, dict] | None = None) -> dict[str, tuple[bytes, str]]:
    """A machine's figures, each titled with the machine, the use case and the pick it shows:
    accuracy against latency per use case, size per artifact, latency per thread count (close-ups),
    camera shifts, and the confusion matrix of the close-up pick.

    Args:
        rows: the machine's result rows.
        title: the machine.
        labels: class names by artifact.
        picks: the picked row by use case key (``closeup``, ``camera``).

    Returns:
        ``{name: (png, what it shows)}``.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from asl_edge.report.analysis import USE_CASE, rows_of

    picks = picks or {}
    ok = [r for r in rows if r["status"] == "ok"]
    cpu = [r for r in ok if r.get("device", "cpu") == "cpu"]  # what the picks are made from; GPU rows: the tables
    out = {}
    for key, name in (("closeup", "accuracy_vs_latency"), ("camera", "camera_accuracy_vs_latency")):
        mine = _first_artifacts(rows_of(cpu, USE_CASE[key]))
        if mine:
            fig = accuracy_vs_latency_figure(plt, mine, title + _more(rows_of(cpu, USE_CASE[key]), mine),
                                             USE_CASE[key], picks.get(key))
            out[name] = (_png(fig), fig.axes[0].get_title().replace("\n", "; "))
    picked = {}
    for key, r in picks.items():
        picked.setdefault(r["artifact"].split(" + ")[0], USE_CASE[key].title)
    if rows:
        out["size"] = _sizes(plt, rows, title, picked)
    closeups = _first_artifacts(rows_of(cpu, USE_CASE["closeup"]))
    if len({r.get("threads") for r in closeups}) > 1:
        out["latency_vs_threads"] = _latency_vs_threads(plt, closeups, title, USE_CASE["closeup"],
                                                        picks.get("closeup"))
    heat = shift_heatmap(ok, title, picked)
    if heat is not None:
        out["camera_shifts"] = (heat, f"{title}: accuracy under camera shifts, per artifact")
    pick = picks.get("closeup")
    shown = pick if pick is None or pick.get("confusion_matrix") else next(
        (r for r in ok if r["artifact"] == pick["artifact"] and r.get("confusion_matrix")), None)
    if shown is not None and shown.get("confusion_matrix"):
        out["confusion_matrix"] = _confusion(plt, shown, (labels or {}).get(shown["artifact"]), title,
                                             USE_CASE["closeup"])
    return out
