"""``asl-edge evaluate MODEL --data A --data B``: one model scored on several data sets at once.

Photographs from different sources (another camera, another room, another group of signers) are
scored each on its own, never pooled into one number that hides the weak source: the result
lists every source with its own accuracy, macro F1 and image count, then their unweighted mean
(each source counts once, whatever its size) and, for reference, the pooled figure over every
image. With camera shifts, each shift's accuracy is given per source and as the mean over sources.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from asl_edge.runtime.errors import ConfigError

log = logging.getLogger(__name__)


def evaluate_sources(model: str | Path, sources: list[str], with_shifts: bool = False, shifts=None,
                     verify: bool = True) -> dict:
    """Scores ``model`` on each data source in ``sources`` (two or more), then their mean.

    Args:
        model: run folder, ``.keras``, ``.tflite`` or ``.onnx``.
        sources: data sources as ``--data`` takes them, each scored whole.
        with_shifts: also score the camera shifts (``shifts``: those, else the whole suite).
        verify: check an artifact's sha256 against its export manifest first.

    Returns:
        ``{"model", "runtime", "sources": [metrics per source, as ``evaluate`` gives them, plus
        "source"], "mean": {"accuracy", "macro_f1", "sources"[, "shifts", "worst_shift"]},
        "pooled": {"accuracy", "num_samples"}, "data", "num_samples"}``.

    Raises:
        ConfigError: fewer than two sources, or one named twice.
    """
    from asl_edge.bench.evaluate import evaluate_model, evaluate_shifts

    sources = [str(s) for s in sources]
    if len(sources) < 2:
        raise ConfigError("scoring several data sets needs at least two --data sources")
    if len(set(sources)) != len(sources):
        raise ConfigError(f"--data {next(s for s in sources if sources.count(s) > 1)} is given twice")
    results = []
    for source in sources:
        log.info("evaluating %s on %s", model, source)
        metrics = evaluate_shifts(model, source, shifts=shifts, verify=verify) if with_shifts else \
            evaluate_model(model, source, verify=verify)
        results.append({"source": source, **metrics})
    total = sum(m["num_samples"] for m in results)
    mean = {"accuracy": float(np.mean([m["accuracy"] for m in results])),
            "macro_f1": float(np.mean([m["macro_f1"] for m in results])),
            "sources": len(results), "weighting": "each source once, whatever its number of images"}
    if with_shifts:
        names = list(results[0]["shifts"])
        mean["shifts"] = {n: float(np.mean([m["shifts"][n]["accuracy"] for m in results])) for n in names}
        worst = min(names, key=lambda n: mean["shifts"][n]) if names else None
        mean["worst_shift"] = {"name": worst, "accuracy": mean["shifts"][worst]} if worst else None
    pooled = sum(m["accuracy"] * m["num_samples"] for m in results) / max(total, 1)
    return {"model": str(model), "runtime": results[0]["runtime"], "sources": results, "mean": mean,
            "pooled": {"accuracy": float(pooled), "num_samples": int(total)},
            "data": f"{len(results)} data sets: " + "; ".join(m["data"] for m in results),
            "num_samples": int(total)}


def format_sources(doc: dict) -> str:
    """The text report of :func:`evaluate_sources`: one row per source, the mean and the pooled figure;
    with shifts, one row per shift with a column per source and the mean."""
    from asl_edge.runtime.fmt import percent

    width = max(len(m["data"]) for m in doc["sources"]) + 2
    lines = [f"{doc['model']} ({doc['runtime']})",
             f"  {'data':{width}} {'images':>7}  {'accuracy':>8}  {'macro F1':>8}"]
    for m in doc["sources"]:
        lines.append(f"  {m['data']:{width}} {m['num_samples']:7d}  {percent(m['accuracy']):>8}  {m['macro_f1']:8.3f}")
    mean = doc["mean"]
    label = f"mean of the {mean['sources']} data sets (each counted once)"
    lines.append(f"  {label:{width}} {doc['num_samples']:7d}  {percent(mean['accuracy']):>8}  {mean['macro_f1']:8.3f}")
    lines.append(f"  {'pooled (every image once)':{width}} {doc['pooled']['num_samples']:7d}  "
                 f"{percent(doc['pooled']['accuracy']):>8}")
    if "shifts" in mean:
        heads = [f"source {i + 1}" for i in range(len(doc["sources"]))]
        lines.append("")
        lines.append("accuracy under camera shifts (" + "; ".join(
            f"source {i + 1}: {m['data']}" for i, m in enumerate(doc["sources"])) + ")")
        lines.append(f"  {'shift':22} " + " ".join(f"{h:>9}" for h in heads) + f" {'mean':>9}")
        for name, value in mean["shifts"].items():
            per = " ".join(f"{percent(m['shifts'][name]['accuracy']):>9}" for m in doc["sources"])
            lines.append(f"  {name:22} {per} {percent(value):>9}")
        if mean.get("worst_shift"):
            lines.append(f"worst shift (mean over the sources): {mean['worst_shift']['name']} "
                         f"({percent(mean['worst_shift']['accuracy'])})")
    return "\n".join(lines)
