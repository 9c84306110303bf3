"""asl-edge commands for the training half: train, evaluate, tune, models, recipes."""

from __future__ import annotations

from pathlib import Path

import click

from asl_edge.cli import cli
from asl_edge.cli.common import (
    PLOT_MODULES,
    TRAIN_MODULES,
    chosen_model,
    common_options,
    config_flags,
    echo_json,
    examples,
    json_option,
    need_extra,
    table,
)


def _check_models_first(teacher: str | None, out: Path, resume: bool) -> None:
    """The teacher's model and the checkpoint to resume, checked against the allow-list before
    TensorFlow's start-up (seconds): one that names code is refused at once. Loading checks again."""
    from asl_edge.models.allowlist import check_keras_file
    from asl_edge.runtime import runfolder

    models = [Path(teacher) / runfolder.MODEL_FILE] if teacher else []
    models += [out / runfolder.CHECKPOINTS / runfolder.LAST_CHECKPOINT] if resume else []
    for model in models:
        if model.is_file():  # a regular file (not a FIFO); a missing one is reported where it is used
            check_keras_file(model)


@cli.command(epilog=examples("asl-edge train", "asl-edge train --recipe accurate --out runs/train/acc",
                             "asl-edge train --epochs 5 --set augment.flip=false --out /tmp/quick",
                             "asl-edge train --teacher runs/train/big --out runs/train/distilled"))
@config_flags("train")
@click.option(
    "--recipe", default="fast", show_default=True, help="Recipe name (see `asl-edge recipes`) or a YAML file."
)
@click.option("--set", "sets", multiple=True, metavar="KEY=VALUE", help="Override one config key, e.g. train.epochs=5.")
@click.option("--out", default=None, help="Run folder [default: runs/train/<model>-<recipe>].")
@click.option("--resume", is_flag=True, help="Continue the interrupted run in --out from its last completed epoch.")
@click.option("--force", is_flag=True, help="Overwrite a finished run in --out.")
@json_option
@common_options
def train(recipe, sets, out, resume, force, as_json, **flags):
    """Train a classifier, evaluate it on held-out signers and write a run folder.

    Each option that sets a config key (--epochs, --data, ...) is the same as its --set form; giving
    both with different values is an error.
    """
    need_extra("train", *TRAIN_MODULES, *PLOT_MODULES)
    from asl_edge.models import get_spec
    from asl_edge.runtime.outfolder import default_out
    from asl_edge.training import config as cfg
    from asl_edge.training.trainer import train as run_training

    config = cfg.resolve(recipe, cfg.flag_sets(flags, sets))
    config = cfg.with_export_name(config, recipe)
    get_spec(config.model.name)  # fail on an unknown model before TensorFlow loads
    out = Path(out) if out else default_out("train", f"{config.model.name}-{Path(recipe).stem}")
    _check_models_first(config.train.teacher, out, resume)
    result = run_training(config, out, resume=resume, force=force, recipe=Path(recipe).stem)
    m = result.metrics
    if as_json:
        echo_json({"run": str(result.folder), "seconds": result.seconds, "epochs": result.epochs_run,
                   "epochs_this_run": result.epochs_this_run, **m})
        return
    from asl_edge.runtime.fmt import duration, percent, plural

    epochs = (f"{plural(result.epochs_this_run, 'epoch')} this run, {result.epochs_run} in all" if resume
              else plural(result.epochs_run, "epoch"))
    click.echo(f"trained {config.model.name} in {duration(result.seconds)} ({epochs}): "
               f"accuracy {percent(m['accuracy'])}, macro F1 {m['macro_f1']:.3f}\n"
               f"  on {m['evaluated_on']} (split {m['split']['method']})")
    click.echo(f"run folder: {result.folder}")


@cli.command(
    epilog=examples(
        "asl-edge evaluate runs/train/edge_cnn-fast",
        "asl-edge evaluate model_int8.tflite --shifts",
        "asl-edge val export/asl-digits-fast",
        "asl-edge evaluate model_int8.onnx --data photos/ --json",
        "asl-edge evaluate model_int8.tflite --data studio/ --data webcam/ --data phone/",
    )
)
@click.argument("model", type=click.Path())
@click.option("--data", "data", multiple=True, metavar="SOURCE",
              help="Images to evaluate on, all of them [default: the model's held-out split]; repeat it to "
                   "score several sources, each on its own, and their mean.")
@click.option("--out", default=None, type=click.Path(),
              help="Write metrics.json and confusion_matrix.png into this new folder.")
@click.option("--force", is_flag=True, help="Replace what asl-edge wrote in --out before.")
@click.option("--no-verify", is_flag=True, help="Skip the sha256 check against the export manifest.")
@click.option(
    "--shifts",
    "with_shifts",
    is_flag=True,
    help="Also score every camera shift of the suite (mirrored, darker, grayscale, ...).",
)
@click.option(
    "--shift",
    "shift_names",
    multiple=True,
    metavar="NAME",
    help="Score only this shift (repeatable; implies --shifts; see `asl-edge shifts`).",
)
@json_option
@common_options
def evaluate(model, data, out, force, no_verify, with_shifts, shift_names, as_json):
    """Accuracy, per-class precision/recall/F1 and a confusion matrix for a model or artifact.

    MODEL is a run folder, a .keras file, a .tflite/.onnx artifact, or an export folder (the artifact
    it recommends, named on stderr). `asl-edge val` is the same command. Without --data it is scored
    on exactly its held-out split (recorded in the run folder and embedded in every artifact). With
    --shifts, the accuracy under each deterministic camera shift as well (no TensorFlow needed for
    .tflite/.onnx). --out must be a new or empty folder, or (with --force) one an earlier asl-edge
    command wrote; never a run folder (it holds the training's own metrics). Several --data sources
    are each scored on their own, then averaged (each source counted once); --out then gets their
    metrics.json.
    """
    import contextlib

    from asl_edge.runtime.outfolder import output_folder

    shifts = with_shifts or shift_names
    model = chosen_model(model)
    if len(data) > 1:
        return _evaluate_sources(model, list(data), out, force, no_verify, shifts, shift_names, as_json)
    data = data[0] if data else None
    if out and not shifts:
        need_extra("train", *PLOT_MODULES)
    # The folder is locked and checked before the (long) evaluation, and written whole after it.
    with output_folder(out, "evaluate", force) if out else contextlib.nullcontext() as tmp:
        if shifts:
            from asl_edge.bench.evaluate import evaluate_shifts
            from asl_edge.runtime.fsutil import atomic_write_json
            from asl_edge.runtime.runfolder import METRICS_FILE
            from asl_edge.runtime.shifts import get_shift

            chosen = [get_shift(n) for n in shift_names] or None
            metrics = evaluate_shifts(model, data, shifts=chosen, verify=not no_verify)
            if tmp is not None:
                atomic_write_json(tmp / METRICS_FILE, metrics)
        else:
            from asl_edge.bench.evaluate import evaluate_model

            metrics = evaluate_model(model, data, out_dir=tmp, verify=not no_verify)
    if metrics.get("warning"):
        click.echo(metrics["warning"], err=True)
    if as_json:
        echo_json(metrics)
    elif shifts:
        from asl_edge.bench.evaluate import format_shifts

        click.echo(format_shifts(metrics))
    else:
        from asl_edge.runtime.metrics import format_report

        click.echo(format_report(metrics))
        if out:
            click.echo(f"wrote {Path(out) / 'metrics.json'} and {Path(out) / 'confusion_matrix.png'}")


def _evaluate_sources(model, sources, out, force, no_verify, shifts, shift_names, as_json) -> None:
    """``evaluate`` with several --data sources: each scored on its own, then their mean."""
    import contextlib

    from asl_edge.bench.sources import evaluate_sources, format_sources
    from asl_edge.runtime.fsutil import atomic_write_json
    from asl_edge.runtime.outfolder import output_folder
    from asl_edge.runtime.runfolder import METRICS_FILE
    from asl_edge.runtime.shifts import get_shift

    chosen = [get_shift(n) for n in shift_names] or None
    with output_folder(out, "evaluate", force) if out else contextlib.nullcontext() as tmp:
        doc = evaluate_sources(model, sources, with_shifts=bool(shifts), shifts=chosen, verify=not no_verify)
        if tmp is not None:
            atomic_write_json(tmp / METRICS_FILE, doc)
    for m in doc["sources"]:
        if m.get("warning"):
            click.echo(m["warning"], err=True)
    if as_json:
        echo_json(doc)
    else:
        click.echo(format_sources(doc))


@cli.command(epilog=examples("asl-edge tune --trials 12 --epochs 15", "asl-edge tune --recipe accurate --trials 4"))
@config_flags("tune")
@click.option("--recipe", default="fast", show_default=True, help="Base recipe.")
@click.option("--set", "sets", multiple=True, metavar="KEY=VALUE", help="Override one config key.")
@click.option("--trials", default=12, show_default=True, help="Number of Optuna trials.")
@click.option("--out", default="runs/tune", show_default=True, type=click.Path(),
              help="Results folder (new or empty; --force replaces an earlier one).")
@click.option("--force", is_flag=True, help="Replace the results asl-edge wrote in --out before.")
@json_option
@common_options
def tune(recipe, sets, trials, out, force, as_json, **flags):
    """Search dropout rate, L2 strength and learning rate with Optuna; writes a results table.

    Each trial trains --epochs (train.epochs) epochs: 15 unless given.
    """
    from asl_edge.cli.checks import check_number

    check_number("--trials", trials, minimum=1)
    need_extra("train", *TRAIN_MODULES, "optuna")
    from asl_edge.runtime.outfolder import output_folder
    from asl_edge.training import config as cfg
    from asl_edge.training.tune import TuneConfig, run_tuning

    sets = cfg.flag_sets(flags, sets)
    config = cfg.resolve(recipe, sets)
    # A trial is short by default (the recipe's 40 epochs per trial would make 12 trials an afternoon).
    epochs = config.train.epochs if "epochs" in cfg.parse_set(sets).get("train", {}) else TuneConfig.epochs
    with output_folder(out, "tune", force) as tmp:
        result = run_tuning(config, TuneConfig(trials=trials, epochs=epochs), tmp)
    if as_json:
        echo_json({"best_params": result.best_params, "best_validation_accuracy": result.best_value, "out": out})
        return
    from asl_edge.runtime.fmt import percent

    click.echo(result.table)
    click.echo(
        f"best: {' '.join(f'--set {k}={v}' for k, v in result.best_params.items())} "
        f"(validation accuracy {percent(result.best_value)}); results in {out}"
    )


@cli.command("models", epilog=examples("asl-edge models", "asl-edge models --json"))
@json_option
@common_options
def list_models_cmd(as_json):
    """List the registered model architectures."""
    from asl_edge.models import get_spec, list_models

    specs = [get_spec(name) for name in list_models()]
    if as_json:
        echo_json([{"name": s.name, "family": s.family, "description": s.description} for s in specs])
        return
    click.echo(table(["model", "family", "description"], [[s.name, s.family, s.description] for s in specs]))


@cli.command("recipes", epilog=examples("asl-edge recipes", "asl-edge recipes camera", "asl-edge recipes --json",
                                        "asl-edge train --recipe accurate"))
@click.argument("name", required=False)
@json_option
@common_options
def list_recipes_cmd(name, as_json):
    """List the named training recipes; with NAME, that recipe's full notes."""
    need_extra("train", "yaml")
    from asl_edge.training.config import describe_recipe, list_recipes

    recipes = [describe_recipe(name)] if name else [describe_recipe(n) for n in list_recipes()]
    if as_json:
        echo_json(recipes if not name else recipes[0])
        return
    if name:
        import textwrap

        r = recipes[0]
        click.echo(f"{r['name']}: {r['summary']}\nmodel {r['model']}, input {r['input']}\n")
        click.echo(textwrap.fill(r["description"], 100))
        click.echo(f"\ntrain it: asl-edge train --recipe {r['name']}")
        return
    click.echo(table(["recipe", "model", "input", "summary"],
                     [[r["name"], r["model"], r["input"], r["summary"]] for r in recipes], right=set()))
    click.echo("full notes: asl-edge recipes NAME")


@cli.command("shifts", epilog=examples("asl-edge shifts", "asl-edge evaluate model_int8.tflite --shift mirrored"))
@json_option
@common_options
def list_shifts_cmd(as_json):
    """List the camera shifts that `evaluate --shifts` and `benchmark --shifts` apply."""
    from asl_edge.runtime.fmt import number
    from asl_edge.runtime.shifts import camera_shifts

    shifts = camera_shifts()
    if as_json:
        echo_json(
            [{"name": s.name, "family": s.family, "severity": s.severity, "description": s.description} for s in shifts]
        )
        return
    click.echo(
        table(
            ["shift", "family", "severity", "description"],
            [[s.name, s.family, number(s.severity), s.description] for s in shifts],
            right={2},
        )
    )
