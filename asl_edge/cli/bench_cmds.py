"""asl-edge commands for measuring: benchmark, report."""

from __future__ import annotations

from pathlib import Path

import click

from asl_edge.cli import cli


@cli.command()
@click.argument("artifacts", nargs=-1, required=True, type=click.Path())
@click.option("--data", default=None, help="Images to measure accuracy on [default: the run's held-out split, else builtin].")
@click.option("--threads", default="1", show_default=True, help="Thread counts, e.g. 1,2,4.")
@click.option("--runs", default=200, show_default=True, help="Timed single-image runs per row.")
@click.option("--warmup", default=20, show_default=True, help="Untimed runs first.")
@click.option("--batch", default=64, show_default=True, help="Batch size of the throughput measurement.")
@click.option("--gpu/--no-gpu", default=True, show_default=True, help="Also measure on a GPU where one is present.")
@click.option("--device-name", default=None, help="A label for this machine in the results.")
@click.option("--no-verify", is_flag=True, help="Skip the sha256 check against the export manifest.")
@click.option("--out", default=None, type=click.Path(), help="Write the results JSON here.")
def benchmark(artifacts, data, threads, runs, warmup, batch, gpu, device_name, no_verify, out):
    """Accuracy, size, latency (p50/p90/p99), throughput and memory of artifacts or export folders."""
    from asl_edge.benchmark import BenchConfig, run_benchmark, save_results
    from asl_edge.errors import ConfigError
    from asl_edge.report import table

    try:
        counts = tuple(int(t) for t in threads.split(",") if t.strip())
    except ValueError:
        raise ConfigError(f"--threads takes comma-separated integers, got '{threads}'") from None
    if not counts or min(counts) < 1 or runs < 1:
        raise ConfigError("--threads and --runs must be positive")
    doc = run_benchmark(artifacts, BenchConfig(counts, runs, warmup, batch, data, gpu, not no_verify, device_name))
    click.echo(table(doc["results"]))
    if out:
        save_results(doc, out)
        click.echo(f"wrote {out}")


@cli.command()
@click.argument("results", nargs=-1, required=True, type=click.Path())
@click.option("--out", default="benchmarks", show_default=True, type=click.Path(), help="Folder for REPORT.md and report.html.")
def report(results, out):
    """Turn benchmark results from one or several machines into REPORT.md and report.html."""
    from asl_edge.benchmark import load_results
    from asl_edge.report import render

    docs = [load_results(r) for r in results]
    md, page = render(docs, Path(out))
    click.echo(f"wrote {md} and {page}")

