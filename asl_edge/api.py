"""The public Python API, mirroring the CLI: ``load``, ``train``, ``export``, ``benchmark``.

Each function takes the same typed config as its command (:class:`~asl_edge.training.config.Config`,
:class:`~asl_edge.export.ExportConfig`, :class:`~asl_edge.bench.BenchConfig`) and writes under
``./runs/`` by default. ``load`` works in the runtime-only install; the others import what they
need (TensorFlow for ``train``/``export``) only when called.

Example::

    import asl_edge
    model = asl_edge.load("runs/export/edge_cnn-fast")  # an export folder: its int8 TFLite
    result = model.predict("photo.jpg")          # Result(label='3', probability=0.98, top=...)
"""

from __future__ import annotations

import logging
from pathlib import Path

from asl_edge.runtime.extras import PLOT_MODULES, TRAIN_MODULES, need_extra
from asl_edge.runtime.outfolder import default_out
from asl_edge.runtime.predict import Predictor, load_predictor

log = logging.getLogger(__name__)


def load(model: str | Path, threads: int | None = None, verify: bool = True) -> Predictor:
    """Loads a ``.tflite``/``.onnx`` artifact (or a run folder) for prediction.

    Args:
        model: the artifact, an export folder (its recommended artifact:
            :func:`~asl_edge.runtime.integrity.recommended_artifact`) or a run folder.
        threads: CPU threads for the runtime (``None``: its default).
        verify: check the artifact against its export manifest when one is beside it.
    """
    from asl_edge.runtime.integrity import is_export_dir, recommended_artifact

    if is_export_dir(model):
        model, _ = recommended_artifact(model)
        log.info("loading %s, the artifact %s recommends", model.name, model.parent)
    return load_predictor(model, threads=threads, verify=verify)


def train(config="fast", out: str | Path | None = None, *, sets: tuple[str, ...] = (), resume: bool = False,
          force: bool = False):
    """Trains a model; ``config`` is a :class:`Config`, a recipe name or a recipe YAML path.

    Args:
        config: the training config, or a recipe to resolve with ``sets``.
        out: run folder (default ``runs/train/<model>-<recipe>``).
        sets: ``key=value`` overrides, as ``--set`` takes them (recipes only).
        resume: continue an interrupted run in ``out``.
        force: overwrite a finished run in ``out``.

    Returns:
        :class:`~asl_edge.training.trainer.TrainResult`.

    Raises:
        MissingDependencyError: the ``train`` extra is not installed (a runtime-only install).
    """
    need_extra("train", *TRAIN_MODULES, *PLOT_MODULES)
    from asl_edge.training import config as cfg
    from asl_edge.training.trainer import train as run_training

    name = "custom"
    if not isinstance(config, cfg.Config):
        name = Path(str(config)).stem
        config = cfg.with_export_name(cfg.resolve(str(config), sets), str(config))
    out = Path(out) if out else default_out("train", f"{config.model.name}-{name}")
    return run_training(config, out, resume=resume, force=force, recipe=name)


def export(run: str | Path, config=None, out: str | Path | None = None, force: bool = False):
    """Exports a trained run (default: fp32 TFLite and ONNX), every artifact verified.

    Args:
        run: the run folder.
        config: :class:`~asl_edge.export.ExportConfig` (e.g. ``ExportConfig(int8=True)``).
        out: output folder (default ``runs/export/<run name>``).
        force: replace an export asl-edge wrote there before.

    Returns:
        :class:`~asl_edge.export.result.ExportResult`: the folder, ``manifest.json``, each artifact's
        path, format, size and accuracy (``result.path("tflite_int8")``), and the whole manifest.

    Raises:
        MissingDependencyError: the ``train`` extra is not installed (a runtime-only install).
    """
    need_extra("train", *TRAIN_MODULES)
    from asl_edge.export import ExportConfig, export_run
    from asl_edge.export.result import ExportResult

    return ExportResult.from_manifest(export_run(run, config or ExportConfig(), out, force))


def benchmark(paths, config=None, out: str | Path | None = None, force: bool = False):
    """Measures artifacts or export folders.

    Args:
        paths: artifacts and/or export folders.
        config: :class:`~asl_edge.bench.BenchConfig`.
        out: also write the results JSON here (a new file; ``force``: replace an earlier one), the
            file ``asl-edge report`` reads.
        force: replace an earlier results file in ``out``.

    Returns:
        :class:`~asl_edge.bench.results.BenchmarkResult`: every row (artifact, runtime, threads,
        accuracy, p50 latency, throughput, status), the data the accuracy was measured on, and the
        JSON path when ``out`` was given.
    """
    from asl_edge.bench import BenchConfig
    from asl_edge.bench.results import BenchmarkResult
    from asl_edge.bench.run import benchmark_to_file

    paths = [paths] if isinstance(paths, (str, Path)) else paths
    return BenchmarkResult.from_document(benchmark_to_file(paths, config or BenchConfig(), out, force), out)
