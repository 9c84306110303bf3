"""``asl-edge train``: data in, a trained and evaluated model out, resumable after a kill.

Per epoch the trainer saves ``checkpoints/last.keras`` (model and optimizer) and
``checkpoints/state.json`` (epoch, early-stopping state) atomically, so a killed run resumes
with ``--resume`` from its last completed epoch. ``checkpoints/best.keras`` holds the best
weights by validation loss; an early stop restores them, and with ``train.swa_epochs`` the final
model is the mean of the last epochs' weights instead (:mod:`asl_edge.training.averaging`). A NaN
loss stops the run with a one-line error and keeps the best checkpoint.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import os
import shutil
import sys
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

from asl_edge.data import ImageDataset, load_dataset
from asl_edge.data.balance import class_weights, resample_index
from asl_edge.data.identity import data_fingerprint, held_out_name
from asl_edge.data.split import Split, split_dataset
from asl_edge.models import create_model, get_spec
from asl_edge.models import io as model_io
from asl_edge.runtime import outfolder, runfolder
from asl_edge.runtime.errors import ConfigError, Interrupted, TrainingError
from asl_edge.runtime.fmt import percent
from asl_edge.runtime.fsutil import atomic_path, atomic_write, atomic_write_json, output_lock, printable
from asl_edge.runtime.metrics import classification_metrics, plot_confusion_matrix
from asl_edge.runtime.preprocess import Preprocessing
from asl_edge.training import config as cfg
from asl_edge.training.pipeline import make_dataset, streamed_decode_errors
from asl_edge.training.progress import PROGRESS, plan_line, training_progress
from asl_edge.training.schedules import learning_rate, optimizer, register_schedules, schedule_callbacks

log = logging.getLogger(__name__)

CHECKPOINTS = runfolder.CHECKPOINTS
STATE_FILE = runfolder.STATE_FILE


@dataclass(frozen=True)
class TrainResult:
    """What a finished run produced: its folder, the held-out metrics (``metrics``, as in
    ``metrics.json``), the epochs run and the training time. Its repr is one short line."""

    folder: Path
    metrics: dict = field(repr=False)
    epochs_run: int
    seconds: float
    weights_sha256: str = field(default="", repr=False)
    epochs_this_run: int | None = field(default=None, repr=False)  # None: not counted (a multi-worker non-chief)

    @property
    def model(self) -> str:
        """The registry name of the model trained."""
        return self.metrics.get("model", "")

    @property
    def accuracy(self) -> float:
        """Accuracy on the held-out split (``evaluated_on`` says which images)."""
        return self.metrics["accuracy"]

    @property
    def evaluated_on(self) -> str:
        return self.metrics.get("evaluated_on", "")

    def __repr__(self) -> str:
        return (f"TrainResult(folder='{self.folder}', model='{self.model}', accuracy={percent(self.accuracy)} on "
                f"{self.evaluated_on or 'the held-out split'}, epochs={self.epochs_run}, "
                f"seconds={self.seconds:.0f})")


def preprocessing_for(config: cfg.Config) -> Preprocessing:
    """The preprocessing a model of ``config`` needs (ImageNet normalisation for backbones)."""
    spec = get_spec(config.model.name)
    size = config.data.image_size
    extra = {k: tuple(v) if isinstance(v, list) else v for k, v in spec.preprocessing.items()}
    localiser = None
    if config.data.localise:
        from asl_edge.runtime.hands import LocaliserConfig

        localiser = LocaliserConfig(upright=config.data.upright).to_dict()
    landmarks = None
    if config.data.landmarks:
        from asl_edge.runtime.landmarks import LandmarkFeatures

        landmarks = LandmarkFeatures(use_z=config.data.landmark_z).to_dict()
    return Preprocessing(image_size=(size, size), color_mode=config.data.color_mode,
                         normalization=config.data.normalization, localiser=localiser, landmarks=landmarks, **extra)


def load_training_data(config: cfg.Config) -> tuple[ImageDataset, Split]:
    """Loads the configured data and splits it (by signer where signers are known).

    A model with a localiser gets its data at the stored RGB size (in memory), to be localised by
    :func:`asl_edge.training.camera.camera_sets`; the data set still records the model's preprocessing.
    """
    pre = preprocessing_for(config)
    if pre.localises:
        ds = load_dataset(config.data.source, pre.before_localisation(), groups_file=config.data.groups_file,
                          stream=False)
        # The built-in set records the chain its photographs were stored through; a folder keeps the recipe's.
        ds = replace(ds, preprocessing=replace(pre, resize_chain=ds.preprocessing.resize_chain or pre.resize_chain))
    else:
        ds = load_dataset(config.data.source, pre, groups_file=config.data.groups_file, stream=config.data.stream)
    split_seed = config.train.seed if config.data.split_seed is None else config.data.split_seed
    split = split_dataset(ds.labels, ds.groups, config.data.val_fraction, config.data.test_fraction, split_seed)
    return ds, split


def _strategy(name: str):
    from asl_edge.keras_compat import tf

    if name == "mirrored":
        return tf.distribute.MirroredStrategy()
    if name == "multi_worker":
        return tf.distribute.MultiWorkerMirroredStrategy()
    return tf.distribute.get_strategy()


def _callbacks(folder: Path, state: dict, patience: int, resume: bool, phase: str, averager=None):
    from asl_edge.keras_compat import keras

    ckpt = folder / CHECKPOINTS

    class ResumableEarlyStopping(keras.callbacks.EarlyStopping):
        """EarlyStopping whose counters survive a restart (plain EarlyStopping resets them)."""

        def on_train_begin(self, logs=None):
            super().on_train_begin(logs)
            if state.get("phase") == phase:
                self.best = state.get("best", self.best)
                self.wait = state.get("wait", 0)
                self.best_epoch = state.get("best_epoch", self.best_epoch)
                best_file = ckpt / runfolder.BEST_CHECKPOINT
                if self.restore_best_weights and best_file.is_file():
                    self.best_weights = model_io.load_keras_model(best_file).get_weights()

    class SaveState(keras.callbacks.Callback):
        """After each epoch: the full model with its optimizer, then the counters, both atomically."""

        def __init__(self, stopper):
            super().__init__()
            self.stopper = stopper

        def on_epoch_end(self, epoch, logs=None):
            logs = logs or {}
            if not all(math.isfinite(float(v)) for v in logs.values()):
                return  # never checkpoint a diverged model; TerminateOnNaN stops the run
            val = float(logs.get("val_loss", math.inf))
            if val < state.get("best_saved", math.inf):
                state["best_saved"] = val
                model_io.save_model(self.model, ckpt / runfolder.BEST_CHECKPOINT)
            model_io.save_model(self.model, ckpt / runfolder.LAST_CHECKPOINT)
            state.update(phase=phase, epoch=epoch + 1, best=float(self.stopper.best),
                         wait=int(self.stopper.wait), best_epoch=int(self.stopper.best_epoch))
            atomic_write_json(ckpt / STATE_FILE, state)

    stopper = ResumableEarlyStopping(monitor="val_loss", patience=patience or 10**9, restore_best_weights=True)
    return [
        keras.callbacks.TerminateOnNaN(),
        stopper,
        # The history row before the saved state: a kill between the two may log an epoch twice
        # on resume, never lose one.
        keras.callbacks.CSVLogger(str(folder / runfolder.HISTORY_FILE), append=resume or phase != "head"),
        *([averager] if averager is not None else []),  # its count goes into the state SaveState writes
        SaveState(stopper),
        keras.callbacks.TensorBoard(str(folder / runfolder.LOGS), write_graph=False, profile_batch=0),
    ], stopper


def _compile(model, config: cfg.Config, steps: int, epochs: int, peak: float, num_classes: int,
             averaged_epochs: int = 0):
    from asl_edge.keras_compat import keras

    lr = learning_rate(config.train, steps, epochs, peak, averaged_epochs)
    train = config.train
    if train.teacher:
        from asl_edge.training.distill import distillation_loss, hard_label_accuracy

        loss = distillation_loss(num_classes, train.distill_temperature, train.distill_weight, train.label_smoothing)
        metrics = [hard_label_accuracy(num_classes)]
    elif train.consistency:
        from asl_edge.training.consistency import consistency_loss
        from asl_edge.training.distill import hard_label_accuracy

        loss = consistency_loss(num_classes, train.consistency, train.label_smoothing)
        metrics = [hard_label_accuracy(num_classes)]
    else:
        loss = keras.losses.CategoricalCrossentropy(label_smoothing=train.label_smoothing) \
            if train.label_smoothing else keras.losses.SparseCategoricalCrossentropy()
        metrics = ["accuracy"]
    model.compile(optimizer(train, lr), loss, metrics=metrics)
    return loss


def _targets(dataset, num_classes: int, smoothing: float, teacher=None, paired: bool | None = None):
    """Labels as the loss wants them: class indices, one-hot for label smoothing, one-hot
    followed by the teacher's outputs for distillation, or (``paired`` not None: consistency
    training) one-hot followed by whether the batches are paired."""
    from asl_edge.keras_compat import tf

    if paired is not None:
        from asl_edge.training.consistency import paired_targets

        return paired_targets(dataset, num_classes, paired)
    if teacher is not None:
        from asl_edge.training.distill import with_teacher

        return with_teacher(dataset, teacher, num_classes)
    if not smoothing:
        return dataset
    return dataset.map(lambda x, y, *w: (x, tf.one_hot(y, num_classes), *w))


def train(config: cfg.Config, out: str | Path, *, resume: bool = False, force: bool = False,
          recipe: str = "") -> TrainResult:
    """Trains, evaluates on the held-out split and writes a complete run folder.

    Args:
        config: the resolved configuration.
        out: the run folder.
        resume: continue the interrupted run in ``out`` (its saved config is used).
        force: overwrite a finished run in ``out``.
        recipe: the recipe ``config`` came from, for the line that says what is trained.

    Raises:
        ConfigError, DataError: bad configuration or data.
        TrainingError: NaN loss, or ``out`` already holds a run.
    """
    folder = Path(out)
    if not is_chief(config.train.distribute):
        if resume:
            raise TrainingError("--resume is not supported with train.distribute=multi_worker")
        return _train_as_worker(config, folder)
    ckpt = folder / CHECKPOINTS
    target = Path(os.path.abspath(folder))
    outfolder.refuse_root(target, folder)
    outfolder.refuse_run_folder(target.parent, shown=folder)  # never a run inside another run
    with output_lock(target):
        if resume:
            saved = cfg.load_run_config(folder)
            if not (ckpt / STATE_FILE).is_file() and saved is None:
                raise TrainingError(f"nothing to resume in {folder}: no checkpoint was saved there")
            config = saved or config
        else:
            _claim_run_folder(target, folder, force)
        with streamed_decode_errors(f"the last completed epoch is kept: fix or remove the file, then "
                                    f"'{resume_command(folder)}'"):
            try:
                return _train(config, folder, resume, recipe)
            except KeyboardInterrupt:
                raise Interrupted(interrupted_message(folder, config)) from None


def resume_command(folder: Path) -> str:
    """The command line that continues the run in ``folder`` (its saved config is used)."""
    import shlex

    return f"asl-edge train --out {shlex.quote(str(folder))} --resume"


def interrupted_message(folder: Path, config: cfg.Config) -> str:
    """One line for Ctrl-C: which epoch's checkpoint is kept (read back from disk) and the command
    that continues from it. The run folder's lock is released on the way out (``output_lock``)."""
    ckpt = folder / CHECKPOINTS
    try:
        state = json.loads((ckpt / STATE_FILE).read_text())
        done, phase = int(state["epoch"]), state.get("phase", "head")
    except (OSError, ValueError, KeyError, TypeError):
        if not (folder / runfolder.CONFIG_FILE).is_file():  # stopped while the data was loading
            return (f"training interrupted before it started: nothing was saved in {folder}; run the same "
                    "command again with --force")
        return (f"training interrupted before its first epoch finished: nothing to keep but the settings "
                f"({folder / runfolder.CONFIG_FILE}); start it again with: {resume_command(folder)}")
    total = config.train.fine_tune_epochs if phase == "fine_tune" else config.train.epochs
    what = "fine-tuning epoch" if phase == "fine_tune" else "epoch"
    return (f"training interrupted: {what} {done} of {total} is saved ({ckpt / runfolder.LAST_CHECKPOINT}); "
            f"continue with: {resume_command(folder)}")


def _claim_run_folder(target: Path, shown: Path, force: bool) -> None:
    """Makes ``target`` this run's folder under the output-folder rule of every command
    (:func:`asl_edge.runtime.outfolder.check_output_folder`): a new or empty folder, or (with
    ``--force``) one asl-edge made whose files are all its own and unchanged, which are removed
    first. The marker written then claims the folder; training lists its files when it finishes.

    Raises:
        TrainingError: a finished or interrupted run without ``--force``.
        OutputError: anything else the rule refuses.
    """
    if not force and os.path.isdir(target) and outfolder.is_run_folder(target):
        raise TrainingError(f"{printable(shown)} already holds a run: use --force to overwrite or --resume to "
                            "continue")
    found = outfolder.check_output_folder(target, "train", force, shown, run_folders=True)
    if found is not None:
        outfolder.clear_listed(target, found)
    target.mkdir(parents=True, exist_ok=True)
    outfolder.write_marker(target, "train", complete=False)


def is_chief(distribute: str) -> bool:
    """Whether this process writes the run folder: always, except for the non-chief workers of
    ``multi_worker`` training (``TF_CONFIG``: the ``chief`` task, else ``worker`` 0).

    Raises:
        ConfigError: ``multi_worker`` without a usable ``TF_CONFIG``.
    """
    if distribute != "multi_worker":
        return True
    try:
        tf_config = json.loads(os.environ.get("TF_CONFIG") or "{}")
        task, cluster = tf_config["task"], tf_config["cluster"]
        kind, index = task["type"], int(task.get("index", 0))
    except (ValueError, KeyError, TypeError):
        raise ConfigError("train.distribute=multi_worker needs TF_CONFIG with 'cluster' and 'task' "
                          "(https://www.tensorflow.org/guide/distributed_training#TF_CONFIG)") from None
    return kind == "chief" or (kind == "worker" and index == 0 and "chief" not in cluster)


def _train_as_worker(config: cfg.Config, out: Path) -> TrainResult:
    """A non-chief worker trains in step with the chief but writes into a temporary folder that is
    removed afterwards: every worker must save (saving may run collective ops), only the chief's
    files count, and only the chief takes the run folder's lock. The pattern of
    https://www.tensorflow.org/tutorials/distribute/multi_worker_with_keras#model_saving_and_loading
    """
    import tempfile

    tmp = Path(tempfile.mkdtemp(prefix="asl-edge-worker-"))
    try:
        result = _train(config, tmp, resume=False)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return TrainResult(out, result.metrics, result.epochs_run, result.seconds, result.weights_sha256)


@dataclass(frozen=True)
class Prepared:
    """One run's data, ready for Keras: the split, the three sets and the training and validation
    pipelines (balanced, localised, with the targets the loss wants)."""

    ds: ImageDataset
    split: Split
    split_record: dict
    train_ds: ImageDataset
    val_ds: ImageDataset
    test_ds: ImageDataset
    train_data: object
    val_data: object
    steps: int
    camera: object = None


@dataclass(frozen=True)
class Fitted:
    """A trained model before its held-out evaluation, with the validation history it was chosen by."""

    model: object
    data: Prepared
    epochs_run: int  # in all, counting those before a --resume
    history: dict
    epochs_this_run: int = 0


def _train(config: cfg.Config, folder: Path, resume: bool, recipe: str = "") -> TrainResult:
    start = time.perf_counter()
    fitted = _fit(config, folder, resume, recipe=recipe)
    data = fitted.data
    result = _finish(fitted.model, config, data.ds, data.test_ds, data.split, folder, fitted.epochs_run,
                     time.perf_counter() - start, data.camera)
    return replace(result, epochs_this_run=fitted.epochs_this_run)


def fit(config: cfg.Config, folder: str | Path, callbacks=()) -> Fitted:
    """Trains exactly as ``asl-edge train`` does (data, balancing, localiser, loss, schedule, phases)
    into ``folder``, without the held-out evaluation: a search (``asl-edge tune``) scores the
    validation history instead and never looks at the test split.

    Args:
        config: the resolved configuration.
        folder: a new folder for the checkpoints, history and config.
        callbacks: further Keras callbacks for every phase (a search's pruner).
    """
    folder = Path(folder)
    with streamed_decode_errors("fix or remove the file"):
        return _fit(config, folder, resume=False, extra_callbacks=tuple(callbacks))


def _fit(config: cfg.Config, folder: Path, resume: bool, extra_callbacks: tuple = (), recipe: str = "") -> Fitted:
    from asl_edge.keras_compat import keras

    # The strategy first: MultiWorkerMirroredStrategy must exist before any TensorFlow op runs
    # (https://www.tensorflow.org/api_docs/python/tf/distribute/MultiWorkerMirroredStrategy).
    strategy = _strategy(config.train.distribute)
    keras.utils.set_random_seed(config.train.seed)
    data = _prepare(config, folder)
    ckpt = folder / CHECKPOINTS
    state = json.loads((ckpt / STATE_FILE).read_text()) if resume and (ckpt / STATE_FILE).is_file() else {}
    phases = _phases(config)
    PROGRESS.info(plan_line(config.model.name, recipe, config.data.source, data.split.describe(data.ds.groups),
                            sum(epochs for _, epochs, _ in phases), folder))
    model, epochs_run, trained_now, history = None, 0, 0, {}
    for phase, epochs, peak in phases:
        averaged = config.train.swa_epochs if phase == phases[-1][0] else 0  # SWA: the last phase's last epochs
        if state.get("phase") == "fine_tune" and phase == "head":
            epochs_run += config.train.epochs
            continue  # the head phase finished before the interruption
        with strategy.scope():
            model, initial, state = _model_for_phase(model, config, data, ckpt, state, phase, (epochs, peak, averaged))
        averager = None
        if averaged:
            from asl_edge.training.averaging import averaging_callback

            averager = averaging_callback(ckpt, state, epochs - averaged)
        callbacks, stopper = _callbacks(folder, state, config.train.early_stopping_patience, resume, phase, averager)
        callbacks[1:1] = schedule_callbacks(config.train)  # before CSVLogger, so that it logs the rate
        shown = training_progress(epochs, initial, stopper, "train" if len(phases) == 1 else phase.replace("_", "-"),
                                  averaged)
        new = 0
        if initial < epochs:
            logs = _fit_phase(model, data, epochs, initial, [*callbacks, *extra_callbacks, shown], ckpt)
            new = len(logs.get("loss", []))
            for key, values in logs.items():
                history.setdefault(key, []).extend(values)
        # Those saved before an interruption count too: a run resumed after its last epoch (stopped
        # while it was being evaluated) trained 0 epochs now but all of them in all.
        epochs_run, trained_now = epochs_run + initial + new, trained_now + new
        if averager is not None:
            averager.apply(model, data.train_data)
        state, resume = {}, False
    return Fitted(model, data, epochs_run, history, trained_now)


def _prepare(config: cfg.Config, folder: Path) -> Prepared:
    """Loads and splits the data, records the config and the split in ``folder``, then builds the
    pipelines: resampled or weighted by class, localised for a camera model, targets for the loss."""
    ds, split = load_training_data(config)
    (folder / CHECKPOINTS).mkdir(parents=True, exist_ok=True)
    atomic_write(folder / runfolder.CONFIG_FILE, cfg.to_yaml(config))
    split_record = {"source": config.data.source, "groups_file": config.data.groups_file,
                    "fingerprint": data_fingerprint(config.data.source, config.data.groups_file),
                    **split.to_dict(ds.groups)}
    atomic_write_json(folder / runfolder.SPLIT_FILE, split_record)

    train_index = split.train[resample_index(ds.labels[split.train], config.data.balance, config.train.seed)]
    camera = None
    if ds.preprocessing.localises:
        from asl_edge.training.camera import camera_sets

        camera = camera_sets(ds, ds.preprocessing, train_index, split.val, split.test, config.data.scene_copies,
                             (config.data.scene_height_min, config.data.scene_height_max), config.train.seed,
                             landmark_copies=config.data.landmark_copies, aug=config.augment)
        train_ds, val_ds, test_ds = camera.train, camera.val, camera.test
    else:
        train_ds, val_ds, test_ds = ds.subset(train_index), ds.subset(split.val), ds.subset(split.test)
    log.info("split %s: %d train / %d val / %d test images", split.method, len(train_ds), len(val_ds), len(test_ds))
    train_data, val_data = _pipelines(config, ds, train_ds, val_ds, split_record)
    return Prepared(ds, split, split_record, train_ds, val_ds, test_ds, train_data, val_data,
                    math.ceil(len(train_ds) / config.train.batch_size), camera)


def _pipelines(config: cfg.Config, ds: ImageDataset, train_ds: ImageDataset, val_ds: ImageDataset,
               split_record: dict):
    """The training pipeline (shuffled, augmented, weighted by class with ``data.balance=class_weight``)
    and the validation one, each yielding the targets the loss wants."""
    batch = config.train.batch_size
    weights = class_weights(train_ds.labels, ds.num_classes) if config.data.balance == "class_weight" else None
    teacher = None
    if config.train.teacher:
        from asl_edge.training.distill import load_teacher

        teacher = load_teacher(config.train.teacher, ds.preprocessing, ds.class_names, split_record)
    smoothing = config.train.label_smoothing
    pairs = bool(config.train.consistency)
    train_data = _targets(make_dataset(train_ds, batch, training=True, aug=config.augment, seed=config.train.seed,
                                       sample_weights=weights, pairs=pairs),
                          ds.num_classes, smoothing, teacher, paired=True if pairs else None)
    val_data = _targets(make_dataset(val_ds, batch), ds.num_classes, smoothing, teacher,
                        paired=False if pairs else None)
    if config.train.distribute == "multi_worker":
        return _shard_by_data(train_data), _shard_by_data(val_data)
    return train_data, val_data


def _phases(config: cfg.Config) -> list[tuple[str, int, float]]:
    """``(phase, epochs, peak learning rate)``: the head phase, then for a transfer model with
    ``fine_tune_epochs`` the fine-tuning phase at ``fine_tune_lr_factor`` of the rate."""
    phases = [("head", config.train.epochs, config.train.learning_rate)]
    if get_spec(config.model.name).family == "transfer" and config.train.fine_tune_epochs:
        phases.append(("fine_tune", config.train.fine_tune_epochs,
                       config.train.learning_rate * config.train.fine_tune_lr_factor))
    return phases


def _model_for_phase(model, config: cfg.Config, data: Prepared, ckpt: Path, state: dict, phase: str, plan):
    """The model a phase trains, compiled: the interrupted phase's checkpoint (with its optimizer), or
    the model so far (a new one for the first phase) with the phase's trainable layers and schedule.
    Returns ``(model, first epoch, state)``."""
    epochs, peak, averaged = plan
    if state.get("phase") == phase and (ckpt / runfolder.LAST_CHECKPOINT).is_file():
        register_schedules()  # the checkpoint's optimizer may hold the warm-up schedule
        if config.train.teacher:
            from asl_edge.training.distill import register_distillation

            register_distillation()  # and its loss the distillation loss
        if config.train.consistency:
            from asl_edge.training.consistency import register_consistency

            register_consistency()
        model = model_io.load_keras_model(ckpt / runfolder.LAST_CHECKPOINT, compile=True)
        log.info("resuming %s phase at epoch %d", phase, int(state["epoch"]) + 1)
        return model, int(state["epoch"]), state
    ds = data.ds
    if model is None:
        model = create_model(config.model.name, ds.preprocessing.input_shape, ds.num_classes,
                             config.model.architecture())
    if get_spec(config.model.name).family == "transfer":
        from asl_edge.models.transfer import set_backbone_trainable

        set_backbone_trainable(model, _trainable_top(config, phase), pretrained=config.model.pretrained)
    _compile(model, config, data.steps, epochs, peak, ds.num_classes, averaged)
    return model, 0, {}


def _fit_phase(model, data: Prepared, epochs: int, initial: int, callbacks: list, ckpt: Path) -> dict:
    """Runs Keras' fit from epoch ``initial``; returns its history. A NaN loss is a one-line error.
    Progress is the callbacks' (:func:`~asl_edge.training.progress.training_progress`), not Keras' lines."""
    # Anything Keras still prints goes to stderr: stdout is for results (`train --json`).
    with contextlib.redirect_stdout(sys.stderr):
        history = model.fit(data.train_data, validation_data=data.val_data, epochs=epochs, initial_epoch=initial,
                            callbacks=callbacks, verbose=0)
    losses = history.history.get("loss", [])
    if losses and not math.isfinite(losses[-1]):
        kept = (
            f"the best model so far is kept in {ckpt / runfolder.BEST_CHECKPOINT}"
            if (ckpt / runfolder.BEST_CHECKPOINT).is_file()
            else "no epoch finished with a finite loss, so no checkpoint was kept"
        )
        raise TrainingError(
            f"training stopped: the loss became NaN in epoch {initial + len(losses)}; "
            f"{kept}; try a lower --set train.learning_rate"
        )
    return history.history


def _trainable_top(config: cfg.Config, phase: str) -> int:
    """Backbone layers a transfer model trains in ``phase`` (see ``set_backbone_trainable``).

    A pretrained backbone is frozen while the head learns, then its top ``fine_tune_layers``
    are unfrozen. A backbone of random weights (``model.weights=none``) holds nothing to keep,
    so all of it, BatchNorm included, trains from the first epoch.
    """
    if not config.model.pretrained:
        return -1
    return 0 if phase == "head" else config.train.fine_tune_layers


def _shard_by_data(dataset):
    # In-memory arrays have no files to shard by; say so instead of letting tf.data try and warn.
    from asl_edge.keras_compat import tf

    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    return dataset.with_options(options)


def weights_digest(model) -> str:
    """sha256 over a model's weights in order (equal digests: equal weights, bit for bit)."""
    import hashlib

    import numpy as np

    digest = hashlib.sha256()
    for w in model.get_weights():
        digest.update(np.ascontiguousarray(w).tobytes())
    return digest.hexdigest()


def _finish(model, config, ds, test_ds, split, folder, epochs_run, seconds, camera=None) -> TrainResult:
    # Batches through tf.data, never the whole split at once: memory stays flat for streamed trees.
    probs = model.predict(make_dataset(test_ds, 256), verbose=0)
    metrics = classification_metrics(
        test_ds.labels, probs, ds.class_names, found=None if camera is None else camera.test_found,
        read_whole=test_ds.preprocessing.reads_whole_without_hand,  # the test crops are whole where no hand was found
    )
    if camera is not None:
        metrics["localisation"] = camera.stats
    metrics.update(
        split=split.describe(ds.groups),
        model=config.model.name,
        epochs_run=epochs_run,
        train_seconds=round(seconds, 1),
        params=int(model.count_params()),
        evaluated_on=f"{held_out_name({'source': config.data.source, 'method': split.method})}: {len(test_ds)} images",
        includes_training_images=False,
    )
    # Only now does the folder become a finished run: labels and preprocessing first, the model last.
    model_io.write_run(folder, model, ds.class_names, ds.preprocessing)
    atomic_write_json(folder / runfolder.METRICS_FILE, metrics)
    plot_confusion_matrix(
        metrics,
        folder / runfolder.CONFUSION_FILE,
        title=f"{config.model.name}, unseen signers" if ds.groups is not None else config.model.name,
    )
    plot_history(folder / runfolder.HISTORY_FILE, folder / runfolder.CURVES_FILE)
    # The run's own files with their hashes (never a file someone else put there meanwhile).
    outfolder.write_marker(folder, "train", only=runfolder.in_layout)
    log.info("test accuracy %.4f, macro F1 %.4f", metrics["accuracy"], metrics["macro_f1"])
    return TrainResult(folder, metrics, epochs_run, seconds, weights_digest(model))


def plot_history(history_csv: Path, dest: Path) -> None:
    """Plots loss and accuracy per epoch from ``history.csv``."""
    import csv

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    with open(history_csv, newline="") as fh:
        rows = list(csv.DictReader(fh))
    if not rows:
        return
    epochs = range(1, len(rows) + 1)
    # The final model holds the weights of the epoch with the lowest validation loss (early stopping
    # restores them), so the curves mark that epoch rather than leave the last one to be assumed.
    best = None
    if "val_loss" in rows[0]:
        best = 1 + min(range(len(rows)), key=lambda i: float(rows[i]["val_loss"]))
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.8))
    for ax, key in zip(axes, ("loss", "accuracy")):
        for prefix, style in (("", "-"), ("val_", "--")):
            col = prefix + key
            if col in rows[0]:
                ax.plot(epochs, [float(r[col]) for r in rows], style, label=col)
        if best is not None:
            ax.axvline(best, color="tab:red", linestyle=":", label=f"restored: epoch {best}")
        ax.set_xlabel("epoch")
        ax.set_title(key)
        ax.legend()
        ax.grid(alpha=0.3)
    fig.tight_layout()
    with atomic_path(dest) as tmp:
        fig.savefig(tmp, dpi=100, format="png")
    plt.close(fig)
