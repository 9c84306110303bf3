"""asl-edge commands for data: data-info."""

from __future__ import annotations

from pathlib import Path

import click

from asl_edge.cli import cli
from asl_edge.cli.common import PLOT_MODULES, common_options, echo_json, examples, json_option, need_extra


@cli.command(
    "data-info",
    epilog=examples(
        "asl-edge data-info", "asl-edge data-info --data photos/ --groups signers.csv", "asl-edge data-info --json"
    ),
)
@click.option(
    "--data", default="builtin", show_default=True, help="builtin, a class-per-folder tree, a .csv or an .npz."
)
@click.option("--groups", "groups_file", default=None, help="CSV of path,signer.")
@click.option("--size", default=64, show_default=True, help="Side the samples are resized to.")
@click.option(
    "--out",
    default="runs/data-info",
    show_default=True,
    type=click.Path(),
    help="Folder for samples.png and summary.json (new or empty; --force replaces an earlier one).",
)
@click.option("--force", is_flag=True, help="Replace what asl-edge wrote in --out before.")
@json_option
@common_options
def data_info(data, groups_file, size, out, force, as_json):
    """Class counts, image sizes, imbalance and signers; writes a PNG grid of samples per class."""
    from asl_edge.cli.checks import check_number

    check_number("--size", size, minimum=8, maximum=1024)
    need_extra("train", *PLOT_MODULES)
    from asl_edge.data import load_dataset
    from asl_edge.data.explore import format_summary, sample_grid, summarize
    from asl_edge.runtime.fsutil import atomic_write_json
    from asl_edge.runtime.outfolder import output_folder
    from asl_edge.runtime.preprocess import Preprocessing

    with output_folder(out, "data-info", force) as tmp:
        ds = load_dataset(data, Preprocessing(image_size=(size, size)), groups_file=groups_file)
        summary = summarize(ds)
        grid = Path(out) / sample_grid(ds, tmp / "samples.png").name
        atomic_write_json(tmp / "summary.json", summary)
    if as_json:
        echo_json(summary)
        return
    click.echo(format_summary(summary))
    click.echo(f"sample grid: {grid}")
