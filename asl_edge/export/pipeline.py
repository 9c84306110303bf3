"""``asl-edge export``: a trained run in, verified TFLite and ONNX artifacts and a manifest out.

Steps: optional pruning / clustering / quantisation-aware training (tfmot), conversion of each
requested format, then every artifact is loaded back through its runtime and run on the
held-out split. Float artifacts must match the Keras model they came from within the format
table's tolerance; quantised ones are gated on accuracy (``max_drop`` points below the float
model). Everything is written into a temporary folder that replaces the output folder only at the
end; an artifact that fails is left out, recorded under ``failed``, and fails the command after
the good ones are in place.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import math
import os
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
from tqdm import tqdm

from asl_edge import __version__
from asl_edge.data.identity import held_out_name
from asl_edge.data.runs import run_dataset
from asl_edge.models import io as model_io
from asl_edge.runtime import fsutil, outfolder, runfolder
from asl_edge.runtime.errors import AslEdgeError, ConfigError, DataError, ExportError, OutputError
from asl_edge.runtime.formats import ExportFormat, artifact_name, check_stem, compression_tag, selected_formats
from asl_edge.runtime.fsutil import (
    atomic_dir,
    atomic_write,
    atomic_write_json,
    gzip_size,
    output_lock,
    printable,
    recover_dir,
    restore_dir,
    sha256_file,
)
from asl_edge.runtime.hands import LocaliserConfig, with_search_settings
from asl_edge.runtime.integrity import _SHA256, MANIFEST
from asl_edge.runtime.outfolder import Listing
from asl_edge.runtime.views import check_names

log = logging.getLogger(__name__)
MIN_CALIBRATION = 10


@dataclass(frozen=True)
class ExportConfig:
    """What ``asl-edge export`` writes and how.

    Attributes:
        int8: add the full-integer TFLite and the static int8 ONNX artifacts.
        int4: add the int4-weight TFLite artifact (int8 activations: :mod:`asl_edge.export.int4`).
        micro: write a TFLite Micro bundle beside each full-integer TFLite (:mod:`asl_edge.export.micro`).
        npu: Ethos-U accelerator configurations to compile the int8 TFLite for with Vela
            (:mod:`asl_edge.export.npu`), e.g. ``("ethos-u55-128",)``.
        fp16: add the fp16 TFLite artifact.
        dynamic: add the dynamic-range TFLite artifact.
        prune: target sparsity of magnitude pruning (0: none).
        structured: 2:4 structured sparsity instead of ``prune``'s target.
        cluster: weight clusters per kernel (0: none).
        qat: quantisation-aware training before the int8 conversion.
        families: ``tflite`` and/or ``onnx``.
        calib_samples: training images used to calibrate post-training int8 quantisation.
        calib_augmented: share of those images shown through the run's training augmentation (the
            camera conditions it was trained for), the rest as they are: the int8 artifact then
            follows its float model more closely under camera shifts (benchmarks/REPORT_HISTORY.md, third round).
        epochs: fine-tuning epochs of each compression step.
        max_drop: largest allowed accuracy loss of a quantised artifact, in points; where full int8
            exceeds it, an ``int8_mixed`` artifact keeps the fewest layers in float that meet it.
        layer_report: write ``layer_report.csv``/``.json``: each Keras layer's int8 error, MACs and size.
        name: the artifacts' name (``<name>_int8.tflite``) [default: the run's ``model.export_name``,
            which `train` sets from the data and the recipe, else the run folder's name].
        data: another data set for fine-tuning, calibration and evaluation (split like training).
        batch_size: fine-tuning batch size.
        seed: seed of the calibration sample draw and fine-tuning.
        localiser: hand-search settings (field -> value) over the run's recorded ones, for a model
            with a hand localiser: where the search looks and when it stops, never how the hand is
            cropped (:func:`~asl_edge.runtime.hands.with_search_settings`). The artifacts record the
            result; calibration and verification use it.
        views: test-time views of the hand's crop (:data:`asl_edge.runtime.views.VIEWS`) recorded in
            the artifacts' preprocessing: ``predict``, ``evaluate`` and ``benchmark``'s pipeline rows
            average the classifier over them. Verification compares each artifact with Keras on single crops.
    """

    int8: bool = False
    int4: bool = False
    micro: bool = False
    npu: tuple[str, ...] = ()
    fp16: bool = False
    dynamic: bool = False
    prune: float = 0.0
    structured: bool = False
    cluster: int = 0
    qat: bool = False
    families: tuple[str, ...] = ("tflite", "onnx")
    calib_samples: int = 200
    calib_augmented: float = 0.5
    epochs: int = 3
    max_drop: float = 1.0
    data: str | None = None
    batch_size: int = 32
    seed: int = 0
    layer_report: bool = False
    name: str | None = None
    localiser: dict = field(default_factory=dict)
    views: tuple[str, ...] = ()

    def __post_init__(self):
        if self.name is not None:
            check_stem(self.name)
        if not 0.0 <= self.prune < 1.0:
            raise ConfigError(f"--prune must lie in [0, 1), got {self.prune}")
        if self.cluster < 0 or self.cluster == 1:
            raise ConfigError(f"--cluster needs at least 2 clusters, got {self.cluster}")
        unknown = set(self.families) - {"tflite", "onnx"}
        if unknown or not self.families:
            raise ConfigError(f"--formats takes tflite and/or onnx, got {', '.join(self.families) or 'nothing'}")
        if self.calib_samples < 1:
            raise ConfigError("--calib-samples must be at least 1: int8 calibration needs images")
        if not 0.0 <= self.calib_augmented <= 1.0:
            raise ConfigError(f"--calib-augmented is a share of the calibration images: it must lie in [0, 1], "
                              f"got {self.calib_augmented}")
        if self.epochs < 1:
            raise ConfigError("--epochs must be at least 1")
        if not 1 <= self.batch_size <= 65_536 or not 0 <= self.seed <= 2**32 - 1:
            raise ConfigError(f"export batch_size must lie in [1, 65536] and seed in [0, 4294967295], got "
                              f"{self.batch_size} and {self.seed}")
        # NaN would switch the gate off (every comparison is false) and is not valid JSON.
        if not 0.0 <= self.max_drop <= 100.0:
            raise ConfigError(f"--max-drop must be a number of points in [0, 100], got {self.max_drop}")
        if (self.micro or self.npu) and "tflite" not in self.families:
            raise ConfigError("--micro and --npu work on the int8 TFLite: keep tflite in --formats")
        from asl_edge.export.npu import check_accelerator

        for name in self.npu:
            check_accelerator(name)
        # Checked here too, so that a bad --localiser fails before the run loads.
        search_settings(LocaliserConfig().to_dict(), self.localiser)
        try:
            check_names(self.views)
        except DataError as exc:
            raise ConfigError(f"--views: {exc}") from None

    @property
    def fine_tunes(self) -> bool:
        """A compression step (pruning, clustering, QAT) trains the model before conversion."""
        return bool(self.prune or self.structured or self.cluster or self.qat)

    @property
    def flags(self) -> tuple[str, ...]:
        int8 = self.int8 or self.qat or self.layer_report or self.micro or bool(self.npu)
        return tuple(f for f, on in (("int8", int8), ("fp16", self.fp16), ("dynamic", self.dynamic),
                                     ("int4", self.int4)) if on)


def _data(run: runfolder.Run, config: ExportConfig):
    """Train and test parts and the test part's identity: the run's own split, or ``--data`` split
    the same way.

    A model with a hand localiser is calibrated and verified on the crops its localiser makes of
    the close-ups (test images without a hand found are left out of the verification).
    """
    from asl_edge.data.identity import data_fingerprint, split_identity

    if run.preprocessing.localises and config.data is None and run.split is not None:
        return (*_localised_data(run), split_identity(run.split))
    if config.data is None:
        if run.split is None:
            raise ExportError(f"{run.folder} records no data split: pass --data")
        return run_dataset(run, part="train"), run_dataset(run, part="test"), split_identity(run.split)
    from asl_edge.data import load_dataset
    from asl_edge.data.split import split_dataset

    ds = load_dataset(config.data, run.preprocessing)
    if tuple(ds.class_names) != run.class_names:
        raise ExportError(f"--data has classes {', '.join(ds.class_names[:5])}..., the model "
                          f"{', '.join(run.class_names[:5])}...")
    split = split_dataset(ds.labels, ds.groups, seed=config.seed)
    record = {"source": config.data, "groups_file": None, **split.to_dict(ds.groups)}
    return ds.subset(split.train), ds.subset(split.test), split_identity(record, data_fingerprint(config.data))


def _uses_qat_model(fmt: ExportFormat) -> bool:
    """Only the int8 TFLite artifact is converted from the quantisation-aware model."""
    return fmt.precision == "int8" and fmt.family == "tflite"


def _tag(config: ExportConfig, fmt: ExportFormat) -> str:
    """The compression part of an artifact's name (empty for the trained model as it is)."""
    return compression_tag(config.prune, config.structured, config.cluster, config.qat and _uses_qat_model(fmt))


def _with_search_settings(run: runfolder.Run, settings: dict) -> runfolder.Run:
    """``run`` with ``--localiser`` settings over its recorded hand search."""
    from dataclasses import replace

    if not settings:
        return run
    pre = run.preprocessing
    if pre.localiser is None:
        raise ExportError(f"--localiser: {run.folder} has no hand localiser (train it with --recipe camera)")
    return replace(run, preprocessing=replace(pre, localiser=search_settings(pre.localiser, settings)))


def _with_views(run: runfolder.Run, views: tuple[str, ...]) -> runfolder.Run:
    """``run`` with ``--views`` recorded in its preprocessing (a crop classifier's only)."""
    from dataclasses import replace

    if not views:
        return run
    try:
        return replace(run, preprocessing=replace(run.preprocessing, views=views))
    except DataError as exc:
        raise ConfigError(f"--views: {exc}") from None


def search_settings(recorded: dict, settings: dict) -> dict:
    """``with_search_settings`` with its refusal as a ConfigError of ``--localiser``."""
    try:
        return with_search_settings(recorded, settings)
    except DataError as exc:
        raise ConfigError(f"--localiser: {exc}") from None


def _source_record(run: runfolder.Run, source, measured) -> dict:
    return {"run": str(run.folder), "model_sha256": sha256_file(run.model_path),
            "params": int(source.count_params()),
            "accuracy": float((measured.source_probs.argmax(1) == measured.y_test).mean())}


def _localised_data(run: runfolder.Run):
    from dataclasses import replace

    from asl_edge.training.camera import localised

    staged = replace(run, preprocessing=run.preprocessing.before_localisation())
    train, _ = localised(run_dataset(staged, part="train"), run.preprocessing)
    test, found = localised(run_dataset(staged, part="test"), run.preprocessing)
    return train, test.subset(np.flatnonzero(found))


def _calibration(train_ds, config: ExportConfig, aug) -> tuple[np.ndarray, int]:
    """Calibration images (normalised) and how many of them went through the augmentation ``aug``."""
    n = config.calib_samples
    if len(train_ds) < MIN_CALIBRATION:
        raise ExportError(f"calibration set too small: {len(train_ds)} training images (need {MIN_CALIBRATION})")
    if n < MIN_CALIBRATION:
        raise ExportError(f"--calib-samples {n} is too small for int8 calibration (need at least {MIN_CALIBRATION})")
    index = np.sort(np.random.default_rng(config.seed).choice(len(train_ds), size=min(n, len(train_ds)),
                                                              replace=False))
    shown = round(config.calib_augmented * len(index)) if aug.enabled else 0
    samples = [train_ds.preprocessing.normalize(train_ds.load_images(index[shown:]))]
    if shown and train_ds.preprocessing.landmarks is not None:  # a landmark model's own augmentation
        from asl_edge.training.landmark_augment import augment_landmarks

        seen = augment_landmarks(train_ds.load_images(index[:shown]), aug, np.random.default_rng(config.seed))
        samples.append(train_ds.preprocessing.normalize(seen))
    elif shown:
        from asl_edge.keras_compat import tf
        from asl_edge.training.pipeline import augmenter

        # Eagerly, a chunk at a time, from the global seed: the same draws, so the same artifact, on
        # every run (a parallel tf.data map hands the random draws to its batches in any order).
        tf.random.set_seed(config.seed)
        apply = augmenter(aug, config.seed)
        for start in range(0, shown, 64):
            raw = train_ds.load_images(index[start:min(start + 64, shown)])
            seen = apply(tf.constant(raw, tf.float32) / 255.0).numpy()
            # as a camera delivers it: 8-bit pixels, normalised by the runtime's own code
            samples.append(train_ds.preprocessing.normalize(np.round(seen * 255.0).astype(np.uint8)))
    samples = np.concatenate(samples)
    return samples.astype(np.float32, copy=False), shown


def _predict(runner, x: np.ndarray, batch: int = 256) -> np.ndarray:
    return np.concatenate([runner.predict(x[i:i + batch]) for i in range(0, len(x), batch)])


def _run_augmentation(run_folder: Path):
    """The run's own training augmentation, and where it came from (for fine-tuning and calibration).

    Fine-tuning a camera-robust model on unaltered photographs unlearns the robustness: pruning,
    clustering and QAT of the fast reference without it lost 11 points on mirrored hands.
    """
    from asl_edge.training.config import AugmentSection, load_run_config

    saved = load_run_config(run_folder)
    if saved is None:
        log.warning("%s has no %s: fine-tuning and calibration see the images without augmentation",
                    run_folder, runfolder.CONFIG_FILE)
        return AugmentSection(enabled=False), f"none ({runfolder.CONFIG_FILE} missing)"
    return saved.augment, f"the run's ({runfolder.CONFIG_FILE})"


def _compress(model, train_ds, test_ds, config: ExportConfig, aug, aug_source: str):
    """Returns (float model for float artifacts, model for int8 artifacts, applied steps)."""
    if not config.fine_tunes:
        return model, model, {}
    from asl_edge.export import compression
    from asl_edge.training.pipeline import make_dataset

    train = make_dataset(train_ds, config.batch_size, training=True, aug=aug, seed=config.seed)
    val = make_dataset(test_ds, config.batch_size)
    steps = math.ceil(len(train_ds) / config.batch_size)
    applied: dict = {"fine_tune_epochs": config.epochs, "fine_tune_augmentation": aug_source}
    preserve = None
    if config.prune or config.structured:
        model = compression.prune(model, train, val, config.prune, config.epochs, steps, config.structured)
        applied["pruning"] = "2:4 structured" if config.structured else f"magnitude, target {config.prune:.2f}"
        applied["sparsity"] = round(compression.sparsity(model), 4)
        preserve = "prune"
    if config.cluster:
        pruned = preserve == "prune"
        model = compression.cluster(model, train, val, config.cluster, config.epochs, preserve_sparsity=pruned)
        applied["clusters"] = config.cluster
        applied["max_unique_weights"] = compression.unique_weights(model)
        if pruned:
            applied["sparsity_after_clustering"] = round(compression.sparsity(model), 4)
        preserve = "prune+cluster" if pruned else "cluster"
    int8_model = model
    if config.qat:
        int8_model = compression.quantize_aware(model, train, val, config.epochs, preserve)
        applied["qat"] = f"{preserve}-preserving" if preserve else "default 8-bit"
    return model, int8_model, applied


def _write_artifact(fmt: ExportFormat, model, samples, dest: Path) -> None:
    from asl_edge.export.onnx import export_onnx
    from asl_edge.export.tflite import export_tflite

    if fmt.family == "tflite":
        atomic_write(dest, export_tflite(model, fmt, samples))
    else:
        export_onnx(model, fmt, dest, samples)


def _verify(fmt: ExportFormat, path: Path, x_test, y_test, float_probs, source_probs, float_acc, max_drop) -> dict:
    from asl_edge.runtime.runners import load_runner

    runner = load_runner(path)
    probs = _predict(runner, x_test)
    acc = float((probs.argmax(1) == y_test).mean())
    entry = {
        "runtime": runner.runtime,
        "input": {"shape": [None, *runner.input_shape], "dtype": runner.input_dtype.name,
                  "quantization": None if runner.input_quantization is None else
                  {"scale": float(runner.input_quantization[0]), "zero_point": int(runner.input_quantization[1])}},
        "accuracy": acc,
        "accuracy_drop_pp": round((float_acc - acc) * 100, 3),
        "agreement": float((probs.argmax(1) == source_probs.argmax(1)).mean()),
        "max_abs_diff": float(np.abs(probs - float_probs).max()),
        "tolerance": fmt.tolerance,
    }
    if fmt.tolerance is not None and entry["max_abs_diff"] > fmt.tolerance:
        entry["status"] = f"failed: max |diff| {entry['max_abs_diff']:.2e} from Keras exceeds {fmt.tolerance:g}"
    elif fmt.quantized and entry["accuracy_drop_pp"] > max_drop:
        entry["status"] = (f"failed: accuracy {acc:.4f} is {entry['accuracy_drop_pp']:.2f} points below the float "
                           f"model ({float_acc:.4f}); --max-drop is {max_drop:g}")
    else:
        entry["status"] = "ok"
    return entry


def _versions() -> dict:
    from importlib import metadata

    out = {"asl_edge": __version__}
    for dist in ("tensorflow", "tf-keras", "tensorflow-model-optimization", "tf2onnx", "onnx", "onnxruntime",
                 "ai-edge-litert"):
        try:
            out[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            out[dist] = None
    return out


def _refuse_run_folder(out: Path, run_folder: Path) -> None:
    """An export never goes into, above or below the run folder it reads: clearing or filling such a
    folder could destroy the model being exported."""
    a, b = out.resolve(), run_folder.resolve()
    if a == b or a in b.parents or b in a.parents:
        raise ExportError(f"--out {printable(out)} overlaps the run folder {printable(run_folder)}: "
                          "choose an output folder outside it")


def manifest_listing(folder: Path) -> Listing | None:
    """What an earlier export wrote into ``folder``, as its ``manifest.json`` lists it: each artifact
    and every other file (labels, layer report) with its sha256. ``None`` when the folder has no
    manifest, or one asl-edge did not write (another tool's, or not an export's).

    A manifest written before exports listed their files has no ``files``: its ``labels.txt`` is vouched for by
    the labels it records (the file's exact bytes); its other files by nothing.
    """
    from asl_edge.runtime.integrity import read_manifest

    if not (folder / MANIFEST).is_file():
        return None
    try:
        manifest = read_manifest(folder)
    except AslEdgeError:
        return None
    versions, listed = manifest.get("versions"), manifest.get("files")
    if manifest.get("schema") != 1 or not isinstance(versions, dict) or "asl_edge" not in versions:
        return None
    files = {a["path"]: a["sha256"] for a in manifest["artifacts"] if "sha256" in a}
    if listed is None:
        labels = manifest.get("labels")
        if labels:
            files[runfolder.LABELS_FILE] = hashlib.sha256(_labels_text(labels).encode("utf-8")).hexdigest()
    elif isinstance(listed, dict) and all(isinstance(k, str) and isinstance(v, str) and _SHA256.fullmatch(v)
                                          for k, v in listed.items()):
        files.update(listed)
    else:
        return None
    return Listing("export", files, frozenset({MANIFEST}), kind="an export")


def check_output_folder(out: Path, force: bool, shown: str | Path | None = None) -> Listing | None:
    """Refuses to write where asl-edge would destroy files it did not write (the rule of every
    writing command, :func:`asl_edge.runtime.outfolder.check_output_folder`, with the manifest as
    the list of what asl-edge wrote).

    ``out`` may be missing, an empty folder, or an earlier export (with ``--force``) whose files are
    all listed in its manifest with their sha256, unchanged. A file, a link, a folder of the user's
    files, a folder with another tool's manifest.json, or an export the user added files to or
    edited is refused, ``--force`` or not.

    Returns:
        The earlier export's listing, or None for a new or empty folder.

    Raises:
        ExportError: one line saying why.
    """
    try:
        return outfolder.check_output_folder(out, "export", force, shown, listing=manifest_listing, marker=MANIFEST)
    except OutputError as exc:
        raise ExportError(str(exc)) from None


def _labels_text(labels) -> str:
    return "\n".join(labels) + "\n"


def export_name(run: runfolder.Run, config: ExportConfig) -> str:
    """The artifacts' name: ``config.name``, else the one training recorded (``model.export_name``
    in config.yaml: the data and the recipe, so a run folder called ``train`` does not make
    ``train_int8.tflite``), else the run folder's name (runs trained before it was recorded)."""
    if config.name:
        return config.name
    from asl_edge.training.config import load_run_config

    saved = load_run_config(run.folder)
    return saved.model.export_name if saved is not None and saved.model.export_name else run.name


def default_out(run_dir: str | Path) -> Path:
    return outfolder.default_out("export", runfolder.load_run(run_dir).name)


@dataclass
class _Writer:
    """Writes artifacts into the export's temporary folder, each stamped with its metadata and
    verified against the models it came from; keeps the verified ones and the failures apart."""

    folder: Path
    run: runfolder.Run
    identity: dict
    measured: _Measured
    max_drop: float
    name: str
    artifacts: list = field(default_factory=list)
    failed: list = field(default_factory=list)

    def emit(self, fmt: ExportFormat, write, info: dict | None = None, tag: str = "") -> None:
        """Writes one artifact with ``write(dest)``; a conversion or verification error becomes a
        ``failed`` entry (and the file goes), not an exception: the other formats still ship."""
        from asl_edge.runtime.metadata import write_metadata

        dest = self.folder / artifact_name(self.name, fmt, tag)
        log.info("exporting %s", fmt.name)
        m = self.measured
        try:
            write(dest)
            write_metadata(dest, self.run.class_names, self.run.preprocessing.to_dict(),
                           {"model": self.name, "input_name": "input", "split": self.identity})
            entry = _verify(fmt, dest, m.x_test, m.y_test, m.float_probs, m.source_probs, m.float_acc, self.max_drop)
        except AslEdgeError as exc:
            entry = {"status": f"failed: {exc}"}
        entry = {"path": dest.name, "format": fmt.name, "family": fmt.family, "precision": fmt.precision,
                 **entry, **(info or {})}
        if entry["status"] != "ok":
            dest.unlink(missing_ok=True)
            self.failed.append(entry)
            return
        entry.update(size_bytes=dest.stat().st_size, size_gzip_bytes=gzip_size(dest), sha256=sha256_file(dest))
        self.artifacts.append(entry)


@dataclass(frozen=True)
class _Measured:
    """The held-out images and what the trained model and its compressed float copy say about them:
    the references every artifact is verified against."""

    x_test: np.ndarray
    y_test: np.ndarray
    source_probs: np.ndarray
    float_probs: np.ndarray
    float_acc: float


def export_run(run_dir: str | Path, config: ExportConfig, out: str | Path | None = None,
               force: bool = False) -> dict:
    """Exports a trained run to every requested format, verified; returns the manifest.

    The steps, each its own function: data (the run's split), compress (pruning, clustering,
    QAT), measure (the references), calibrate, convert and verify every format, mixed precision
    (where full int8 failed the gate), then the manifest.

    Args:
        run_dir: the run folder (or its ``model.keras``).
        config: what to write.
        out: output folder (default ``runs/export/<run name>``).
        force: replace an existing export.

    Returns:
        The manifest; artifacts that failed conversion, verification or the accuracy gate are
        listed under ``failed`` (and not written), the others are in place. A full int8 artifact
        that failed the gate may be ``replaced_by`` an ``int8_mixed`` one (:mod:`asl_edge.export.layers`);
        ``layer_report`` says where the per-layer report went.

    Raises:
        ModelError: not a run folder, or a corrupt model.
        ExportError: ``out`` already holds an export, or the data cannot calibrate.
    """
    run = _with_views(_with_search_settings(runfolder.load_run(run_dir), config.localiser), config.views)
    # Read first, and only where it is used: a bad config.yaml fails before any work.
    needs_aug = config.fine_tunes or "int8" in config.flags or "int4" in config.flags
    aug, aug_source = _run_augmentation(run.folder) if needs_aug else (None, "")
    name = export_name(run, config)
    out = Path(out) if out else default_out(run_dir)
    target = Path(os.path.abspath(out))
    outfolder.refuse_root(target, out)
    _refuse_run_folder(target, run.folder)
    owned = outfolder.owned_output(manifest_listing)
    with output_lock(target):
        restore_dir(target, owned)
        found = check_output_folder(target, force, shown=out)
        recover_dir(target, owned)
        source = model_io.load_keras_model(run.model_path)
        train_ds, test_ds, identity = _data(run, config)
        x_test, source_probs = _measure_source(source, test_ds)
        float_model, int8_model, applied = _compress(source, train_ds, test_ds, config, aug, aug_source)
        measured = _measure(x_test, test_ds.labels, source_probs, float_model)
        formats = selected_formats(config.families, config.flags)
        needs_calib = any(f.full_integer for f in formats)
        samples, augmented = _calibration(train_ds, config, aug) if needs_calib else (None, 0)
        with atomic_dir(target, recheck=outfolder.swap_check(found, "export", out)) as tmp:
            writer = _Writer(tmp, run, identity, measured, config.max_drop, name)
            _convert(writer, formats, config, float_model, int8_model, samples)
            layer_report = _mixed_precision(writer, config, float_model, int8_model, samples)
            manifest = _manifest(run, config, writer, source_record=_source_record(run, source, measured),
                                 applied=applied, calibration=_calibration_record(samples, augmented, aug_source),
                                 layer_report=layer_report)
            from asl_edge.export.devices import below_the_pi

            manifest.update(below_the_pi(tmp, writer.artifacts, writer.failed, config, list(run.class_names),
                                         measured.x_test, measured.y_test))
            _write_manifest(tmp, run, manifest)
    manifest["out"] = str(out)
    return manifest


def _measure_source(source, test_ds) -> tuple[np.ndarray, np.ndarray]:
    """The held-out images and the trained model's outputs on them, measured before any compression
    step runs (those work on copies, see compression.copy_model, and this is the proof)."""
    x_test = test_ds.preprocessing.normalize(test_ds.load_images())
    return x_test, source.predict(x_test, batch_size=256, verbose=0)


def _measure(x_test, y_test, source_probs, float_model) -> _Measured:
    """The references every artifact is verified against: the trained and the compressed float model."""
    float_probs = float_model.predict(x_test, batch_size=256, verbose=0)
    return _Measured(x_test, y_test, source_probs, float_probs, float((float_probs.argmax(1) == y_test).mean()))


def _convert(writer: _Writer, formats, config: ExportConfig, float_model, int8_model, samples) -> None:
    """Every selected format, converted and verified (the int8 TFLite from the QAT model, if any)."""
    for fmt in tqdm(formats, desc="export", unit="artifact", file=sys.stderr, disable=None, leave=False):
        model = int8_model if _uses_qat_model(fmt) else float_model
        writer.emit(fmt, lambda dest, fmt=fmt, model=model: _write_artifact(fmt, model, samples, dest),
                    tag=_tag(config, fmt))


def _mixed_precision(writer: _Writer, config: ExportConfig, float_model, int8_model, samples) -> dict:
    """The per-layer int8 report, and ``int8_mixed`` artifacts (the layers int8 hurts most kept in
    float) where full int8 failed ``--max-drop``; returns where the report went (empty: none)."""
    if samples is None:
        return {}
    from asl_edge.export import layers

    layer_report, mixed = layers.layer_report_and_mixed(writer.run, config, int8_model, float_model, samples,
                                                        writer.failed, writer.folder)
    for m in mixed:
        writer.emit(m.format, lambda dest, m=m: atomic_write(dest, m.content), m.info, tag=_tag(config, m.format))
    layers.mark_replaced(writer.failed, writer.artifacts)
    return layer_report


def _calibration_record(samples, augmented: int, aug_source: str) -> dict | None:
    if samples is None:
        return None
    return {"samples": int(len(samples)), "from": "training split", "augmented": augmented,
            "augmentation": aug_source}


def _manifest(run: runfolder.Run, config: ExportConfig, writer: _Writer, *, source_record: dict, applied,
              calibration: dict | None, layer_report: dict) -> dict:
    m, identity = writer.measured, writer.identity
    manifest = {
        "schema": 1,
        "name": writer.name,
        "created": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "source": source_record,
        "float_accuracy": m.float_acc,
        "input_shape": list(run.preprocessing.input_shape),
        "labels": list(run.class_names),
        "preprocessing": run.preprocessing.to_dict(),
        "compression": applied,
        "calibration": calibration,
        "evaluation": {"data": f"{held_out_name(identity)}: {len(m.y_test)} images",
                       "samples": int(len(m.y_test)), "includes_training_images": False,
                       "split": {k: v for k, v in identity.items() if k != "test"},
                       "agreement_with": "source (the trained model, before compression)"},
        "max_drop_pp": config.max_drop,
        "config": asdict(config),
        "versions": _versions(),
        "artifacts": writer.artifacts,
        "failed": writer.failed,
    }
    if layer_report:
        manifest["layer_report"] = layer_report
    return manifest


def _write_manifest(folder: Path, run: runfolder.Run, manifest: dict) -> None:
    """labels.txt, then the manifest, which lists every file besides the artifacts with its hash:
    what ``--force`` may replace later."""
    atomic_write(folder / runfolder.LABELS_FILE, _labels_text(run.class_names))
    listed = {a["path"] for a in manifest["artifacts"]} | {MANIFEST, fsutil.TMP_MARK}
    manifest["files"] = {p.name: sha256_file(p) for p in sorted(folder.iterdir()) if p.name not in listed}
    atomic_write_json(folder / MANIFEST, manifest)
