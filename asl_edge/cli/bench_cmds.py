"""asl-edge commands for measuring: benchmark, report."""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path

import click

from asl_edge.cli import cli
from asl_edge.cli.common import (
    PLOT_MODULES,
    TERMINAL_WIDTH,
    common_options,
    echo_json,
    examples,
    json_option,
    need_extra,
    table,
)
from asl_edge.runtime import fmt


def _data_lines(doc: dict) -> str:
    """What each row's accuracy was measured on: one line, or one per artifact when they differ."""
    sets = doc["data"]["sets"]
    if len(sets) <= 1:
        return f"accuracy measured on {sets[0] if sets else 'no data'}"
    lines, seen = ["accuracy measured on:"], set()
    for r in doc["results"]:
        key = (r["artifact"], r.get("data"))
        if r.get("data") and key not in seen:
            seen.add(key)
            lines.append(f"  {r['artifact']}: {r['data']}")
    return "\n".join(lines)


# The terminal's benchmark columns (title, cell of one result row): what picks an artifact. Every
# other figure (gzip size, p90, load time, memory, shifts) is in the results JSON and the report.
_COLUMNS = (
    ("artifact", lambda r: r["artifact"]),
    ("runtime", lambda r: r.get("runtime") or "-" if r.get("device", "cpu") == "cpu"
        else f"{r.get('runtime') or '-'} ({r['device']})"),
    ("threads", lambda r: fmt.count(r.get("threads"))),
    ("size KB", lambda r: fmt.decimal(r["size_bytes"] / 1024, 1)),
    ("accuracy", lambda r: fmt.percent(r.get("accuracy"))),
    ("p50 ms", lambda r: fmt.decimal((r.get("latency_ms") or {}).get("p50"))),
    ("images/s", lambda r: fmt.count(r.get("throughput_ips"))),
    ("status", lambda r: r["status"]),
)


def _results_table(rows: list[dict]) -> str:
    """The benchmark table as the terminal shows it (100 columns at most): measured and failed rows,
    then one line per reason for the rows that were not measured."""
    shown = [r for r in rows if not r["status"].startswith("not measured")]
    lines = [table([title for title, _ in _COLUMNS], [[cell(r) for _, cell in _COLUMNS] for r in shown],
                   right=set(range(2, 7)))] if shown else []
    skipped: dict[tuple[str, str], list[str]] = {}
    for r in rows:
        if r not in shown:
            skipped.setdefault((r["status"], r.get("device", "cpu")), []).append(r["artifact"])
    for (why, device), names in skipped.items():
        names = list(dict.fromkeys(names))
        why = why.replace("not measured", f"not measured on {device}", 1)
        # the reason whole on its line (it may be long: it is what the user has to read), the names wrapped
        lines.append(f"{why}: {fmt.plural(len(names), 'artifact')}:")
        lines += textwrap.wrap(", ".join(names), TERMINAL_WIDTH, initial_indent="  ", subsequent_indent="  ",
                               break_on_hyphens=False)
    return "\n".join(lines)


@cli.command(epilog=examples("asl-edge benchmark runs/export/edge_cnn-fast",
                             "asl-edge benchmark model_int8.tflite --threads 1,2,4 --out pi4.json --device-name pi4",
                             "asl-edge benchmark runs/export/edge_cnn-fast --json > results.json"))
@click.argument("artifacts", nargs=-1, required=True, type=click.Path())
@click.option("--data", default=None, help="Images to measure accuracy on [default: the model's held-out split].")
@click.option("--threads", default="1", show_default=True, help="CPU thread counts to measure, e.g. 1,2,4.")
@click.option("--runs", default=1000, show_default=True,
              help="Timed single-image runs per row and round.")
@click.option("--rounds", default=5, show_default=True,
              help="Timing rounds per row, interleaved across the rows; the best round is reported.")
@click.option("--warmup", default=20, show_default=True, help="Untimed runs first, every round.")
@click.option("--batch", default=64, show_default=True, help="Batch size of the throughput "
                                                                                         "measurement.")
@click.option("--gpu/--no-gpu", default=None, help="GPU rows: by default only where a GPU is present; --gpu always "
                                                   "(a row says why where none is), --no-gpu never.")
@click.option("--device-name", default=None, help="A label for this machine in the results.")
@click.option("--shifts", is_flag=True,
              help="Also score every camera shift of each int8 TFLite artifact (`asl-edge shifts`).")
@click.option("--no-verify", is_flag=True, help="Skip the sha256 check against the export manifest.")
@click.option("--out", default=None, type=click.Path(), help="Write the results JSON here (a new file).")
@click.option("--force", is_flag=True, help="Replace an earlier benchmark results file in --out.")
@json_option
@common_options
def benchmark(artifacts, data, threads, runs, rounds, warmup, batch, gpu, device_name, shifts, no_verify, out,
              force, as_json):
    """Accuracy, size, latency (p50/p90/p99), throughput and memory of artifacts or export folders.

    An export folder stands for its artifacts plus the source Keras model when its run folder is
    reachable. Rows that cannot be measured here (a runtime not installed) say why.
    """
    from asl_edge.bench import BenchConfig
    from asl_edge.runtime.errors import ConfigError

    try:
        counts = tuple(int(t) for t in threads.split(",") if t.strip())
    except ValueError:
        raise ConfigError(f"--threads takes comma-separated integers, got '{threads}'") from None
    from asl_edge.cli.checks import check_number

    if not counts:
        raise ConfigError(f"--threads takes comma-separated integers, got '{threads}'")
    for option, value in (("--threads", min(counts)), ("--runs", runs), ("--rounds", rounds), ("--batch", batch)):
        check_number(option, value, minimum=1)
    check_number("--warmup", warmup, minimum=0)
    from asl_edge.runtime.runners import check_threads

    for count in counts:
        check_threads(count)
    cfg = BenchConfig(threads=counts, runs=runs, warmup=warmup, rounds=rounds, batch=batch, data=data, gpu=gpu,
                      verify=not no_verify, device_name=device_name, shifts=shifts)
    from asl_edge.bench.run import benchmark_to_file

    doc = benchmark_to_file(artifacts, cfg, out, force)
    if as_json:
        echo_json(doc)
    else:
        click.echo(_results_table(doc["results"]))
        click.echo(_data_lines(doc))
    for warning in doc.get("warnings", []):
        click.echo(warning, err=True)
    if not as_json:
        click.echo(f"every figure (p90, gzip size, load time, memory{', shifts' if shifts else ''}): {out}" if out
                   else "every figure (p90, gzip size, load time, memory): --json, or --out FILE to keep them")
    failed = [r for r in doc["results"] if r["status"].startswith("failed")]
    if failed:
        click.echo(f"asl-edge: {fmt.plural(len(failed), 'row')} failed while measuring: {failed[0]['artifact']}: "
                   f"{failed[0]['status']}", err=True)
        sys.exit(1)


@cli.command(epilog=examples("asl-edge report results.json", "asl-edge report pi4.json benchmarks/results/bench/*.json",
                             "asl-edge report results.json --out runs/report/today --json"))
@click.argument("results", nargs=-1, required=True, type=click.Path())
@click.option("--out", default="runs/report", show_default=True, type=click.Path(),
              help="Folder for REPORT.md, report.html and the plots.")
@click.option("--gpu", "include_gpu", is_flag=True, help="Keep GPU rows that say 'not measured: no GPU'.")
@click.option("--force", is_flag=True, help="Replace a report that asl-edge wrote in --out.")
@json_option
@common_options
def report(results, out, include_gpu, force, as_json):
    """Turn benchmark results from one or several machines into REPORT.md and report.html.

    RESULTS are `asl-edge benchmark --out` files (files with the same --device-name are repeated
    runs of one machine) and, optionally, the ARM64 emulation check's JSON (`make arm64-check`).
    Files of another kind are skipped with a warning. --out must be a new or empty folder, or
    (with --force) one an earlier asl-edge command wrote.
    """
    need_extra("train", *PLOT_MODULES)
    from asl_edge.report import load_inputs, render
    from asl_edge.runtime.outfolder import output_folder

    with output_folder(out, "report", force) as tmp:
        docs, checks = load_inputs(results)
        written = render(docs, tmp, checks, include_gpu=include_gpu)
    md, page = (Path(out) / p.name for p in written)
    echo_json({"markdown": str(md), "html": str(page)}) if as_json else click.echo(f"wrote {md} and {page}")
