"""The report's plots as PNG bytes (matplotlib, Agg backend)."""

from __future__ import annotations

import io

import numpy as np

from asl_edge.report.analysis import DEPLOYED_SUFFIX


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
