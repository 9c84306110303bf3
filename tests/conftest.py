"""Shared fixtures: a tiny trained run and its export to every format, built once per session."""

import importlib.util
import os
import sys
import tempfile
from pathlib import Path

import numpy as np
import pytest

# The artifact probe remembers what passed (asl_edge.runtime.runners.probe): keep that out of ~/.cache.
os.environ.setdefault("ASL_EDGE_PROBE_CACHE", tempfile.mkdtemp(prefix="asl-edge-probe-"))


ROOT = Path(__file__).resolve().parent.parent


def load_script(path: str):
    """A script under the repository root (``benchmarks/...py``) imported as a module, registered in
    ``sys.modules`` (dataclasses look their module up) with its own folder importable (scripts import
    their neighbours, as distill_experiment imports compare_architectures)."""
    file = ROOT / path
    spec = importlib.util.spec_from_file_location(file.stem, file)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    sys.path.insert(0, str(file.parent))
    try:
        spec.loader.exec_module(module)
    finally:
        sys.path.remove(str(file.parent))
    return module


def make_tiny_npz(path: Path, side: int = 16, signers: int = 12, seed: int = 0) -> Path:
    """Three easy classes (dark, mid, bright images) photographed by ``signers`` people."""
    rng = np.random.default_rng(seed)
    labels = np.tile(np.arange(3), signers * 4)
    images = np.clip(labels[:, None, None, None] * 100 + rng.normal(30, 12, (len(labels), side, side, 3)), 0, 255)
    np.savez(path, images=images.astype(np.uint8), labels=labels, groups=np.repeat(np.arange(signers), 12),
             class_names=np.array(["dark", "mid", "bright"]))
    return path


TINY_SETS = ["data.image_size=16", "model.name=edge_cnn", "model.width=4", "model.depth=2", "model.stem_blocks=0",
             "train.epochs=6", "train.batch_size=16", "data.val_fraction=0.25", "data.test_fraction=0.25",
             "model.batch_norm=false", "augment.enabled=false", "model.dropout=0", "train.learning_rate=0.03",
             # with the fast recipe's label smoothing, six epochs do not always separate the three classes
             "train.label_smoothing=0",
             # the three classes differ only in brightness, which per-image normalisation removes
             "data.normalization=fixed"]


@pytest.fixture(scope="session")
def tiny_npz(tmp_path_factory) -> Path:
    return make_tiny_npz(tmp_path_factory.mktemp("data") / "tiny.npz")


@pytest.fixture(scope="session")
def tiny_run(tiny_npz, tmp_path_factory) -> Path:
    """A trained run folder of a tiny edge CNN (16x16 RGB, 3 classes)."""
    from asl_edge.keras_compat import keras
    from asl_edge.training import config as cfg
    from asl_edge.training.trainer import train

    # Keras numbers layer names per process: the tests that name layers (conv2d_1, ...) need the
    # tiny model's names the same whichever tests built models before it.
    keras.backend.clear_session()
    out = tmp_path_factory.mktemp("runs") / "tiny"
    train(cfg.resolve("fast", [f"data.source={tiny_npz}", *TINY_SETS]), out)
    return out


@pytest.fixture(scope="session")
def tiny_export(tiny_run, tmp_path_factory) -> Path:
    """The tiny run exported to every format in the table (no accuracy gate: the model is tiny), with
    its TFLite Micro bundles and an Ethos-U55-128 compile."""
    from asl_edge.export import ExportConfig, export_run

    out = tmp_path_factory.mktemp("export") / "tiny"
    manifest = export_run(tiny_run, ExportConfig(int8=True, fp16=True, dynamic=True, int4=True, micro=True,
                                                 npu=("ethos-u55-128",), calib_samples=20, max_drop=100.0), out)
    assert not manifest["failed"], manifest["failed"]
    return out
