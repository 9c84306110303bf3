"""asl-edge commands for measuring: benchmark, report."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from asl_edge.cli import cli


@cli.command()
@click.argument("artifacts", nargs=-1, required=True, type=click.Path())
@click.option("--data", default=None, help="Images to measure accuracy on [default: the run's held-out split, else builtin].")
@click.option("--threads", default="1", show_default=True, help="CPU thread counts to measure, e.g. 1,2,4.")
@click.option("--runs", default=1000, show_default=True, help="Timed single-image runs per row and round.")
@click.option("--rounds", default=5, show_default=True,
              help="Timing rounds per row, interleaved across the rows; the best round is reported.")
@click.option("--warmup", default=20, show_default=True, help="Untimed runs first, in every round.")
@click.option("--batch", default=64, show_default=True, help="Batch size of the throughput measurement.")
@click.option("--gpu/--no-gpu", default=True, show_default=True, help="Also measure on a GPU where one is present.")
@click.option("--device-name", default=None, help="A label for this machine in the results.")
@click.option("--no-verify", is_flag=True, help="Skip the sha256 check against the export manifest.")
@click.option("--out", default=None, type=click.Path(), help="Write the results JSON here.")
def benchmark(artifacts, data, threads, runs, rounds, warmup, batch, gpu, device_name, no_verify, out):
    """Accuracy, size, latency (p50/p90/p99), throughput and memory of artifacts or export folders.

    An export folder stands for its artifacts plus the source Keras model when its run folder is
    reachable. Rows that cannot be measured here (no GPU, a runtime not installed) say why.
    """
    from asl_edge.bench import BenchConfig, run_benchmark, save_results
    from asl_edge.report import table
    from asl_edge.runtime.errors import ConfigError

    try:
        counts = tuple(int(t) for t in threads.split(",") if t.strip())
    except ValueError:
        raise ConfigError(f"--threads takes comma-separated integers, got '{threads}'") from None
    if not counts or min(counts) < 1 or min(runs, rounds, batch) < 1 or warmup < 0:
        raise ConfigError("--threads, --runs, --rounds and --batch must be positive and --warmup not negative")
    from asl_edge.runtime.runners import check_threads

    for count in counts:
        check_threads(count)
    if out:
        from asl_edge.bench.results import check_results_dest

        check_results_dest(out)  # before measuring: never overwrite a file asl-edge did not write
    cfg = BenchConfig(threads=counts, runs=runs, warmup=warmup, rounds=rounds, batch=batch, data=data, gpu=gpu,
                      verify=not no_verify, device_name=device_name)
    doc = run_benchmark(artifacts, cfg)
    click.echo(table(doc["results"]))
    if out:
        save_results(doc, out)
        click.echo(f"wrote {out}")
    failed = [r for r in doc["results"] if r["status"].startswith("failed")]
    if failed:
        click.echo(f"asl-edge: {len(failed)} row(s) failed while measuring: {failed[0]['artifact']}: "
                   f"{failed[0]['status']}", err=True)
        sys.exit(1)


@cli.command()
@click.argument("results", nargs=-1, required=True, type=click.Path())
@click.option("--out", default="runs/report", show_default=True, type=click.Path(),
              help="Folder for REPORT.md, report.html and the plots.")
def report(results, out):
    """Turn benchmark results from one or several machines into REPORT.md and report.html.

    RESULTS are `asl-edge benchmark --out` files (files with the same --device-name are repeated
    runs of one machine) and, optionally, the ARM64 emulation check's JSON (`make arm64-check`).
    """
    from asl_edge.report import load_inputs, render

    docs, checks = load_inputs(results)
    md, page = render(docs, Path(out), checks)
    click.echo(f"wrote {md} and {page}")

