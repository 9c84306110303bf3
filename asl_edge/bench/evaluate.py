"""``asl-edge evaluate``: the same metrics for a Keras model, a TFLite or an ONNX artifact.

Runs only through :mod:`asl_edge.runtime.runners`, so artifacts evaluate in the runtime-only install;
the preprocessing comes from the run folder (Keras) or from the artifact's embedded metadata.
Folder trees are always streamed from disk a batch at a time: evaluation reads each image once,
so holding them all would only cost memory.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from asl_edge.data import load_dataset
from asl_edge.data.runs import run_dataset
from asl_edge.runtime import runfolder
from asl_edge.runtime.errors import ModelError
from asl_edge.runtime.fsutil import atomic_write_json
from asl_edge.runtime.metrics import classification_metrics, plot_confusion_matrix

log = logging.getLogger(__name__)


def predict_batches(runner, ds, batch_size: int = 256) -> np.ndarray:
    """Runs ``runner`` over a data set in batches and returns the stacked probabilities."""
    out = []
    for start in range(0, len(ds), batch_size):
        index = np.arange(start, min(start + batch_size, len(ds)))
        out.append(runner.predict(ds.preprocessing.normalize(ds.load_images(index))))
    return np.concatenate(out)


def evaluate_model(model: str | Path, data: str | None = None, out_dir: str | Path | None = None,
                   verify: bool = True) -> dict:
    """Evaluates ``model`` (run folder, ``.keras``, ``.tflite`` or ``.onnx``) on ``data``.

    Args:
        model: what to evaluate.
        data: a data source; by default the run's held-out test split (Keras) or the built-in set.
        out_dir: where to write ``metrics.json`` and ``confusion_matrix.png``.
        verify: check an artifact's sha256 against its export manifest first.

    Returns:
        The metrics dict (top-level ``accuracy`` and ``macro_f1``).
    """
    from asl_edge.runtime.describe import describe
    from asl_edge.runtime.integrity import check_artifact
    from asl_edge.runtime.runners import load_runner

    desc = describe(model)
    class_names = desc.labels
    if desc.is_artifact:
        check_artifact(desc.path, verify=verify)
        ds = load_dataset(data or "builtin", desc.preprocessing, stream=True)
        described = f"{data or 'builtin'} (all images)"
    else:
        ds = run_dataset(desc.run, data, part="test", stream=True)
        described = (f"{data} (all images)" if data else
                     f"{desc.run.split['source']} held-out test split "
                     f"({desc.run.split.get('method', 'unknown method')})")
    runner = load_runner(desc.model_path, probe_first=desc.is_artifact)  # see load_predictor (issue #13)
    if tuple(ds.class_names) != tuple(class_names):
        raise ModelError(f"the data's classes ({', '.join(ds.class_names[:5])}...) do not match the model's "
                         f"({', '.join(class_names[:5])}...)")
    metrics = classification_metrics(ds.labels, predict_batches(runner, ds), class_names)
    metrics.update(model=str(model), runtime=runner.runtime, data=described)
    if out_dir is not None:
        out_dir = Path(out_dir)
        atomic_write_json(out_dir / runfolder.METRICS_FILE, metrics)
        plot_confusion_matrix(metrics, out_dir / runfolder.CONFUSION_FILE, title=Path(model).name)
    return metrics

