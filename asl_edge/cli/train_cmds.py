"""asl-edge commands for the training half: train, evaluate, tune, models, recipes."""

from __future__ import annotations

import json
from pathlib import Path

import click

from asl_edge.cli import cli


@cli.command()
@click.option("--data", default=None, help="builtin (default), a class-per-folder tree, a Sign Language MNIST .csv or an .npz.")
@click.option("--model", "model_name", default=None, help="Registry name (see `asl-edge models`); the recipe's by default.")
@click.option("--recipe", default="fast", show_default=True, help="Recipe name (fast, accurate) or a YAML file.")
@click.option("--set", "sets", multiple=True, metavar="KEY=VALUE", help="Override one config key, e.g. train.epochs=5.")
@click.option("--groups", "groups_file", default=None, help="CSV of path,signer for a split by signer.")
@click.option("--out", default=None, help="Run folder [default: runs/train/<model>-<recipe>].")
@click.option("--resume", is_flag=True, help="Continue the interrupted run in --out from its last completed epoch.")
@click.option("--force", is_flag=True, help="Overwrite a finished run in --out.")
def train(data, model_name, recipe, sets, groups_file, out, resume, force):
    """Train a classifier, evaluate it on held-out signers and write a run folder."""
    from asl_edge.training import config as cfg

    config = cfg.resolve(recipe, sets, data__source=data, model__name=model_name, data__groups_file=groups_file)
    from asl_edge.models import get_spec

    get_spec(config.model.name)  # fail on an unknown model before TensorFlow loads
    from asl_edge.runtime.outputs import default_out

    out = Path(out) if out else default_out("train", f"{config.model.name}-{Path(recipe).stem}")
    from asl_edge.training.trainer import train as run_training

    result = run_training(config, out, resume=resume, force=force)
    m = result.metrics
    click.echo(f"trained {config.model.name} in {result.seconds:.0f} s ({result.epochs_run} epochs); "
               f"{m['evaluated_on']} ({m['split']['method']}): accuracy {m['accuracy']:.4f}, "
               f"macro F1 {m['macro_f1']:.4f}")
    click.echo(f"run folder: {result.folder}")


@cli.command()
@click.argument("model", type=click.Path())
@click.option("--data", default=None, help="Images to evaluate on, all of them [default: the model's held-out split].")
@click.option("--json", "as_json", is_flag=True, help="Print the metrics as one JSON object.")
@click.option("--out", default=None, type=click.Path(), help="Write metrics.json and confusion_matrix.png here.")
@click.option("--no-verify", is_flag=True, help="Skip the sha256 check against the export manifest.")
def evaluate(model, data, as_json, out, no_verify):
    """Accuracy, per-class precision/recall/F1 and a confusion matrix for a model or artifact.

    MODEL is a run folder, a .keras file, or a .tflite/.onnx artifact. Without --data it is scored
    on exactly its held-out split (recorded in the run folder and embedded in every artifact).
    """
    from asl_edge.bench.evaluate import evaluate_model
    from asl_edge.runtime.metrics import format_report

    metrics = evaluate_model(model, data, out_dir=out, verify=not no_verify)
    if metrics.get("warning"):
        click.echo(metrics["warning"], err=True)
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
    from asl_edge.cli.checks import check_number
    from asl_edge.training import config as cfg
    from asl_edge.training.tune import TuneConfig, run_tuning

    check_number("--trials", trials, minimum=1)
    check_number("--epochs", epochs, minimum=1)

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
