"""Classification metrics (NumPy) and the confusion-matrix figure, for every model format.

Keras models, TFLite and ONNX artifacts all go through :func:`classification_metrics`, so
``asl-edge evaluate`` reports the same figures whatever it is given. The figures are computed in
NumPy, so the runtime-only install (a Raspberry Pi) needs neither scikit-learn nor SciPy (194 MB
of a Pi's venv); they equal scikit-learn's ``accuracy_score``, ``precision_recall_fscore_support``
(``zero_division=0``) and ``confusion_matrix`` (tests/test_metrics.py checks that on random
labels). matplotlib and scikit-learn draw the figure, imported when called (the train extra).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from asl_edge.runtime.fsutil import atomic_path


def confusion_matrix(y_true: np.ndarray, y_pred: np.ndarray, num_classes: int) -> np.ndarray:
    """``(num_classes, num_classes)`` counts, rows true class, columns predicted class; a sample
    whose true or predicted index is outside ``0..num_classes-1`` (no prediction: -1) is left out."""
    y_true, y_pred = np.asarray(y_true, np.int64), np.asarray(y_pred, np.int64)
    keep = (y_true >= 0) & (y_true < num_classes) & (y_pred >= 0) & (y_pred < num_classes)
    cells = y_true[keep] * num_classes + y_pred[keep]
    return np.bincount(cells, minlength=num_classes * num_classes).reshape(num_classes, num_classes)


def _ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    """``num / den``, 0 where ``den`` is 0 (scikit-learn's ``zero_division=0``)."""
    num, den = np.asarray(num, np.float64), np.asarray(den, np.float64)
    return np.divide(num, den, out=np.zeros_like(num), where=den > 0)


def precision_recall_f1(y_true: np.ndarray, y_pred: np.ndarray, num_classes: int):
    """Per-class precision, recall, F1 and support (true samples of the class). A sample without a
    prediction (-1) still counts in its class's support, so it lowers that class's recall."""
    y_true, y_pred = np.asarray(y_true, np.int64), np.asarray(y_pred, np.int64)
    tp = np.diag(confusion_matrix(y_true, y_pred, num_classes))
    support = np.bincount(y_true[(y_true >= 0) & (y_true < num_classes)], minlength=num_classes)
    predicted = np.bincount(y_pred[(y_pred >= 0) & (y_pred < num_classes)], minlength=num_classes)
    return _ratio(tp, predicted), _ratio(tp, support), _ratio(2 * tp, predicted + support), support


def classification_metrics(y_true: np.ndarray, probs: np.ndarray, class_names, found: np.ndarray | None = None,
                           read_whole: bool = False) -> dict:
    """Accuracy, per-class precision/recall/F1/support, macro and weighted averages, confusion matrix.

    Args:
        y_true: true class index per sample.
        probs: ``(N, classes)`` scores (probabilities or logits).
        class_names: name of each class index.
        found: for a model with a hand localiser, whether a hand was found in each sample; a sample
            without one has no prediction and counts as wrong (it is left out of the confusion
            matrix, whose rows then sum to the found samples)...
        read_whole: ...unless the model read the whole picture where it found no hand
            (``LocaliserConfig.whole_without_hand``): ``probs`` are then that reading, and count.

    Returns:
        A JSON-ready dict with top-level ``accuracy`` and ``macro_f1`` (and ``no_hand``,
        ``no_hand_share`` and ``no_hand_read_whole`` when ``found`` is given).
    """
    y_true = np.asarray(y_true)
    y_pred = np.asarray(probs).argmax(axis=1)
    no_hand = np.zeros(len(y_pred), bool) if found is None else ~np.asarray(found, bool)
    if not read_whole:
        y_pred = np.where(no_hand, -1, y_pred)
    n = len(class_names)
    p, r, f, s = precision_recall_f1(y_true, y_pred, n)
    weights = _ratio(s, s.sum())
    return {
        "accuracy": float(np.mean(y_true == y_pred)) if len(y_true) else 0.0,
        "macro_precision": float(p.mean()),
        "macro_recall": float(r.mean()),
        "macro_f1": float(f.mean()),
        "weighted_f1": float((f * weights).sum()),
        "num_samples": int(len(y_true)),
        "per_class": {
            name: {"precision": float(p[i]), "recall": float(r[i]), "f1": float(f[i]), "support": int(s[i])}
            for i, name in enumerate(class_names)
        },
        "confusion_matrix": confusion_matrix(y_true, y_pred, n).tolist(),
        "class_names": list(class_names),
        **({} if found is None else {"no_hand": int(no_hand.sum()), "no_hand_share": float(no_hand.mean()),
                                     "no_hand_read_whole": bool(read_whole)}),
    }


def plot_confusion_matrix(metrics: dict, dest: str | Path, title: str = "Confusion matrix") -> Path:
    """Writes the confusion matrix in ``metrics`` as a PNG (atomically)."""
    from asl_edge.runtime.extras import require

    matplotlib = require("matplotlib", "train")

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from sklearn.metrics import ConfusionMatrixDisplay

    cm = np.asarray(metrics["confusion_matrix"])
    n = len(cm)
    fig, ax = plt.subplots(figsize=(max(5, 0.5 * n + 2), max(4, 0.5 * n + 1.5)))
    ConfusionMatrixDisplay(cm, display_labels=metrics["class_names"]).plot(
        ax=ax, cmap="Blues", colorbar=False, values_format="d")
    ax.set_title(f"{title} (accuracy {metrics['accuracy']:.2%})")
    fig.tight_layout()
    with atomic_path(dest) as tmp:
        fig.savefig(tmp, dpi=110, format="png")
    plt.close(fig)
    return Path(dest)


def format_report(metrics: dict) -> str:
    """A terminal table of per-class figures and the averages."""
    from asl_edge.runtime.fmt import percent, plural

    lines = [f"{'class':>10} {'precision':>9} {'recall':>9} {'f1':>9} {'support':>8}"]
    for name, m in metrics["per_class"].items():
        lines.append(f"{name:>10} {m['precision']:9.3f} {m['recall']:9.3f} {m['f1']:9.3f} {m['support']:8d}")
    lines.append(f"{'macro':>10} {metrics['macro_precision']:9.3f} {metrics['macro_recall']:9.3f} "
                 f"{metrics['macro_f1']:9.3f} {metrics['num_samples']:8d}")
    lines.append(f"accuracy {percent(metrics['accuracy'])}   macro F1 {metrics['macro_f1']:.3f}"
                 + (f"   on {metrics['data']}" if metrics.get("data") else ""))
    if "no_hand" in metrics:
        lines.append(f"no hand found in {metrics['no_hand']} of {plural(metrics['num_samples'], 'image')} "
                     f"({percent(metrics['no_hand_share'], 1)}; "
                     f"{'the whole picture read' if metrics.get('no_hand_read_whole') else 'counted as wrong'})")
    return "\n".join(lines)
