"""``asl-edge tune``: dropout, L2 strength and learning-rate search with Optuna.

Each trial trains as ``asl-edge train`` does, through the trainer (same data pipeline, recipe,
balancing, label smoothing and localiser), on the training split and is scored on the validation
split (never on the test split, which stays untouched for the final figure). Trials that cannot beat the running
median are pruned early (Optuna's ``MedianPruner`` fed from a Keras callback).
"""

from __future__ import annotations

import csv
import dataclasses
import io
import logging
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

from asl_edge.runtime import runfolder
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


def trial_config(base: cfg.Config, tune: TuneConfig, params: dict) -> cfg.Config:
    """The configuration a trial trains with: ``base`` with the trial's values and ``tune.epochs``."""
    config = cfg.merge(base, cfg.parse_set([f"{k}={v}" for k, v in params.items()]))
    return dataclasses.replace(config, train=dataclasses.replace(config.train, epochs=tune.epochs))


def _suggest(trial, tune: TuneConfig) -> dict:
    return {
        "model.dropout": trial.suggest_float("model.dropout", *tune.dropout),
        "model.l2": trial.suggest_float("model.l2", *tune.l2, log=True) if trial.suggest_categorical(
            "use_l2", [True, False]) else 0.0,
        "train.learning_rate": trial.suggest_float("train.learning_rate", *tune.learning_rate, log=True),
    }


def _val_accuracy(logs: dict) -> str:
    # "val_accuracy", or "val_hard_label_accuracy" for a distilled model (its labels are mixed with a teacher's)
    return next(k for k in logs if k.startswith("val_") and k.endswith("accuracy"))


def _objective(base: cfg.Config, tune: TuneConfig, out: Path):
    """Each trial trains through the trainer (:func:`asl_edge.training.trainer.fit`: the recipe's data
    pipeline, balancing, label smoothing, localiser, schedule and early stopping) in ``out/trials/<n>``;
    only the objective is the search's own: the best validation accuracy of the trial's epochs."""
    import optuna

    from asl_edge.keras_compat import keras
    from asl_edge.training.trainer import fit

    def objective(trial: optuna.Trial) -> float:
        params = _suggest(trial, tune)
        trial.set_user_attr("params", params)

        class Report(keras.callbacks.Callback):
            def on_epoch_end(self, epoch, logs=None):
                trial.report(float(logs[_val_accuracy(logs)]), epoch)
                if trial.should_prune():
                    raise optuna.TrialPruned()

        folder = out / "trials" / str(trial.number)
        try:
            fitted = fit(trial_config(base, tune, params), folder, callbacks=[Report()])
        finally:
            # the history and config stay for a look; the weights would only fill the disk
            for name in (runfolder.CHECKPOINTS, runfolder.LOGS):
                shutil.rmtree(folder / name, ignore_errors=True)
        return max(fitted.history[_val_accuracy(fitted.history)])

    return objective


def run_tuning(base: cfg.Config, tune: TuneConfig, out: Path) -> TuneResult:
    """Runs the search and writes ``tuning.csv``, ``tuning.md`` and ``best.json`` into ``out``."""
    import optuna

    from asl_edge.training.trainer import load_training_data

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    ds, split = load_training_data(base)  # for the record of what was tuned on; each trial loads its own
    study = optuna.create_study(direction="maximize", sampler=optuna.samplers.TPESampler(seed=tune.seed),
                                pruner=optuna.pruners.MedianPruner(n_startup_trials=3, n_warmup_steps=tune.epochs // 3))
    # Optuna draws its own tqdm bar over the trials (hidden when stderr is not a terminal).
    study.optimize(
        _objective(base, tune, out), n_trials=tune.trials, show_progress_bar=sys.stderr.isatty()
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
