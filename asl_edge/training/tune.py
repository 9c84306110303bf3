"""``asl-edge tune``: dropout, L2 strength and learning-rate search with Optuna.

Each trial trains on the training split and is scored on the validation split (never on the
test split, which stays untouched for the final figure). Trials that cannot beat the running
median are pruned early (Optuna's ``MedianPruner`` fed from a Keras callback).
"""

from __future__ import annotations

import csv
import dataclasses
import io
import logging
import math
import sys
from dataclasses import dataclass
from pathlib import Path

from asl_edge.runtime.fsutil import atomic_write, atomic_write_json
from asl_edge.training import config as cfg

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TuneConfig:
    """Search settings.

    Attributes:
        trials: number of trials.
        epochs: epochs per trial.
        dropout: (low, high) search range of ``model.dropout``.
        l2: (low, high) log-uniform range of ``model.l2`` (0 is tried too).
        learning_rate: (low, high) log-uniform range of ``train.learning_rate``.
        seed: sampler seed.
    """

    trials: int = 12
    epochs: int = 15
    dropout: tuple[float, float] = (0.0, 0.6)
    l2: tuple[float, float] = (1e-6, 1e-3)
    learning_rate: tuple[float, float] = (3e-4, 1e-2)
    seed: int = 0


@dataclass(frozen=True)
class TuneResult:
    best_params: dict
    best_value: float
    table: str
    rows: list


def _objective(base: cfg.Config, tune: TuneConfig, train_ds, val_ds):
    import optuna

    from asl_edge.keras_compat import keras
    from asl_edge.models import create_model
    from asl_edge.training.pipeline import make_dataset
    from asl_edge.training.schedules import learning_rate, optimizer

    def objective(trial: optuna.Trial) -> float:
        params = {
            "model.dropout": trial.suggest_float("model.dropout", *tune.dropout),
            "model.l2": trial.suggest_float("model.l2", *tune.l2, log=True) if trial.suggest_categorical(
                "use_l2", [True, False]) else 0.0,
            "train.learning_rate": trial.suggest_float("train.learning_rate", *tune.learning_rate, log=True),
        }
        trial.set_user_attr("params", params)
        config = cfg.merge(base, cfg.parse_set([f"{k}={v}" for k, v in params.items()]))
        config = dataclasses.replace(config, train=dataclasses.replace(config.train, epochs=tune.epochs))
        keras.utils.set_random_seed(config.train.seed)
        model = create_model(config.model.name, train_ds.preprocessing.input_shape, train_ds.num_classes,
                             config.model.architecture())
        steps = math.ceil(len(train_ds) / config.train.batch_size)
        model.compile(optimizer(config.train, learning_rate(config.train, steps)),
                      "sparse_categorical_crossentropy", metrics=["accuracy"])

        class Report(keras.callbacks.Callback):
            def on_epoch_end(self, epoch, logs=None):
                trial.report(float(logs["val_accuracy"]), epoch)
                if trial.should_prune():
                    raise optuna.TrialPruned()

        history = model.fit(make_dataset(train_ds, config.train.batch_size, training=True, aug=config.augment,
                                         seed=config.train.seed),
                            validation_data=make_dataset(val_ds, config.train.batch_size),
                            epochs=tune.epochs, verbose=0, callbacks=[Report()])
        return max(history.history["val_accuracy"])

    return objective


def run_tuning(base: cfg.Config, tune: TuneConfig, out: Path) -> TuneResult:
    """Runs the search and writes ``tuning.csv``, ``tuning.md`` and ``best.json`` into ``out``."""
    import optuna

    from asl_edge.training.trainer import load_training_data

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    ds, split = load_training_data(base)
    train_ds, val_ds = ds.subset(split.train), ds.subset(split.val)
    study = optuna.create_study(direction="maximize", sampler=optuna.samplers.TPESampler(seed=tune.seed),
                                pruner=optuna.pruners.MedianPruner(n_startup_trials=3, n_warmup_steps=tune.epochs // 3))
    # Optuna draws its own tqdm bar over the trials (hidden when stderr is not a terminal).
    study.optimize(
        _objective(base, tune, train_ds, val_ds), n_trials=tune.trials, show_progress_bar=sys.stderr.isatty()
    )

    keys = ["model.dropout", "model.l2", "train.learning_rate"]
    rows = []
    for t in study.trials:
        params = t.user_attrs.get("params", {})
        rows.append(
            {
                "trial": t.number,
                "state": t.state.name.lower(),
                "val_accuracy": None if t.value is None else round(t.value, 4),
                **{k: params.get(k) for k in keys},
            }
        )
    rows.sort(key=lambda r: -(r["val_accuracy"] or -1))
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(rows[0]))
    writer.writeheader()
    writer.writerows(rows)
    atomic_write(out / "tuning.csv", buf.getvalue())
    header = "| trial | state | val accuracy | dropout | l2 | learning rate |\n|---|---|---|---|---|---|\n"
    table = header + "\n".join(
        f"| {r['trial']} | {r['state']} | {r['val_accuracy'] if r['val_accuracy'] is not None else '-'} | "
        f"{_fmt(r['model.dropout'])} | {_fmt(r['model.l2'])} | {_fmt(r['train.learning_rate'])} |"
        for r in rows
    )
    atomic_write(out / "tuning.md", table + "\n")
    best = study.best_trial.user_attrs["params"]
    atomic_write_json(
        out / "best.json",
        {
            "params": best,
            "val_accuracy": study.best_value,
            "trials": tune.trials,
            "epochs": tune.epochs,
            "split": split.describe(ds.groups),
        },
    )
    return TuneResult(best, float(study.best_value), table, rows)


def _fmt(v) -> str:
    return "-" if v is None else f"{v:.3g}"
