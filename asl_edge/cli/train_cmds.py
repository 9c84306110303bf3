"""asl-edge commands for the training half: train, evaluate, tune, models, recipes."""

from __future__ import annotations

import json
from pathlib import Path

import click

from asl_edge.cli import cli

DEFAULT_RUNS = Path("models")


@cli.command()
@click.option("--data", default=None, help="builtin (default), a class-per-folder tree, a Sign Language MNIST .csv or an .npz.")
@click.option("--model", "model_name", default=None, help="Registry name (see `asl-edge models`); the recipe's by default.")
@click.option("--recipe", default="fast", show_default=True, help="Recipe name (fast, accurate) or a YAML file.")
@click.option("--set", "sets", multiple=True, metavar="KEY=VALUE", help="Override one config key, e.g. train.epochs=5.")
@click.option("--groups", "groups_file", default=None, help="CSV of path,signer for a split by signer.")
@click.option("--out", default=None, help="Run folder [default: models/<model>-<recipe>].")
@click.option("--resume", is_flag=True, help="Continue the interrupted run in --out from its last completed epoch.")
@click.option("--force", is_flag=True, help="Overwrite a finished run in --out.")
def train(data, model_name, recipe, sets, groups_file, out, resume, force):
    """Train a classifier, evaluate it on held-out signers and write a run folder."""
    from asl_edge.training import config as cfg

    config = cfg.resolve(recipe, sets, data__source=data, model__name=model_name, data__groups_file=groups_file)
    from asl_edge.models import get_spec

    get_spec(config.model.name)  # fail on an unknown model before TensorFlow loads
    out = Path(out) if out else DEFAULT_RUNS / f"{config.model.name}-{Path(recipe).stem}"
    from asl_edge.training.trainer import train as run_training

    result = run_training(config, out, resume=resume, force=force)
    m = result.metrics
    click.echo(f"trained {config.model.name} in {result.seconds:.0f} s ({result.epochs_run} epochs); "
               f"held-out test ({m['split']['method']}): accuracy {m['accuracy']:.4f}, macro F1 {m['macro_f1']:.4f}")
    click.echo(f"run folder: {result.folder}")


@cli.command()
@click.argument("model", type=click.Path())
@click.option("--data", default=None, help="Images to evaluate on [default: the run's held-out test split, else builtin].")
@click.option("--json", "as_json", is_flag=True, help="Print the metrics as one JSON object.")
@click.option("--out", default=None, type=click.Path(), help="Write metrics.json and confusion_matrix.png here.")
@click.option("--no-verify", is_flag=True, help="Skip the sha256 check against the export manifest.")
@click.option("--shifts", "with_shifts", is_flag=True,
              help="Also score every camera shift of the suite (mirrored, darker, grayscale, ...).")
@click.option("--shift", "shift_names", multiple=True, metavar="NAME",
              help="Score only this shift (repeatable; implies --shifts).")
def evaluate(model, data, as_json, out, no_verify, with_shifts, shift_names):
    """Accuracy, per-class precision/recall/F1 and a confusion matrix for a model or artifact.

    MODEL is a run folder, a .keras file, or a .tflite/.onnx artifact. With --shifts, the accuracy
    under each deterministic camera shift as well (no TensorFlow needed for .tflite/.onnx).
    """
    from asl_edge.metrics import format_report

    if with_shifts or shift_names:
        from asl_edge.evaluate import evaluate_shifts, format_shifts
        from asl_edge.fsutil import atomic_write_json
        from asl_edge.runtime.shifts import get_shift

        chosen = [get_shift(n) for n in shift_names] or None
        metrics = evaluate_shifts(model, data, shifts=chosen, verify=not no_verify)
        if out:
            atomic_write_json(Path(out) / "metrics.json", metrics)
        click.echo(json.dumps(metrics) if as_json else format_shifts(metrics))
        return
    from asl_edge.evaluate import evaluate_model

    metrics = evaluate_model(model, data, out_dir=out, verify=not no_verify)
    if as_json:
        click.echo(json.dumps(metrics))
    else:
        click.echo(format_report(metrics))
        if out:
            click.echo(f"wrote {Path(out) / 'metrics.json'} and {Path(out) / 'confusion_matrix.png'}")


@cli.command()
@click.option("--data", default=None, help="Data source [default: builtin].")
@click.option("--model", "model_name", default=None, help="Registry name [default: the recipe's].")
@click.option("--recipe", default="fast", show_default=True, help="Base recipe.")
@click.option("--set", "sets", multiple=True, metavar="KEY=VALUE", help="Override one config key.")
@click.option("--trials", default=12, show_default=True, help="Number of Optuna trials.")
@click.option("--epochs", default=15, show_default=True, help="Epochs per trial.")
@click.option("--out", default="runs/tune", show_default=True, type=click.Path(), help="Results folder.")
def tune(data, model_name, recipe, sets, trials, epochs, out):
    """Search dropout rate, L2 strength and learning rate with Optuna; writes a results table."""
    from asl_edge.training import config as cfg
    from asl_edge.training.tune import TuneConfig, run_tuning

    config = cfg.resolve(recipe, sets, data__source=data, model__name=model_name)
    result = run_tuning(config, TuneConfig(trials=trials, epochs=epochs), Path(out))
    click.echo(result.table)
    click.echo(f"best: {' '.join(f'--set {k}={v}' for k, v in result.best_params.items())} "
               f"(validation accuracy {result.best_value:.4f}); results in {out}")


@cli.command("models")
def list_models_cmd():
    """List the registered model architectures."""
    from asl_edge.models import get_spec, list_models

    for name in list_models():
        spec = get_spec(name)
        click.echo(f"{name:18} {spec.family:9} {spec.description}")


@cli.command("recipes")
def list_recipes_cmd():
    """List the named training recipes."""
    import yaml

    from asl_edge.training.config import RECIPE_DIR, list_recipes

    for name in list_recipes():
        text = yaml.safe_load((RECIPE_DIR / f"{name}.yaml").read_text()).get("description", "")
        click.echo(f"{name:10} {' '.join(str(text).split())}")
