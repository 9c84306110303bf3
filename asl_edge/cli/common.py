"""What every asl-edge command shares: -v/-q/--debug anywhere on the line, --json, one table style,
examples at the end of --help, and a one-line message when an extra is missing."""

from __future__ import annotations

import json
import logging
import os

import click

# What each command needs beyond the runtime, and the one-line install hint: one place, below the CLI.
from asl_edge.runtime.extras import MICRO_MODULES, PLOT_MODULES, TRAIN_MODULES, need_extra  # noqa: F401

# Whether this invocation asked for tracebacks (``--debug`` anywhere on the line); read by
# :func:`asl_edge.cli.main` after the command fails, when click's context is gone.
DEBUG = {"on": False}


def _set_verbosity(ctx: click.Context, param: click.Parameter, value) -> None:
    if not value or ctx.resilient_parsing:
        return
    if param.name == "quiet":
        logging.getLogger().setLevel(logging.ERROR)
        return
    logging.getLogger().setLevel(logging.INFO if value == 1 else logging.DEBUG)
    if value >= 2:
        os.environ["ASL_EDGE_NATIVE_LOGS"] = "1"  # TensorFlow's and LiteRT's own start-up lines too


def set_debug(ctx: click.Context, param: click.Parameter, value) -> None:
    if value and not ctx.resilient_parsing:
        DEBUG["on"] = True


debug_option = click.option("--debug", is_flag=True, expose_value=False, is_eager=True, envvar="ASL_EDGE_DEBUG",
                            callback=set_debug, help="Show the traceback of an error instead of one line.")
quiet_option = click.option("-q", "--quiet", is_flag=True, expose_value=False, is_eager=True,
                            callback=_set_verbosity, help="Log errors only (results are still printed).")


def common_options(command):
    """Adds ``-v/--verbose`` (repeatable), ``-q/--quiet`` and ``--debug`` to a command: each is valid
    before the command's name (the group takes it) and anywhere after it."""
    command = debug_option(quiet_option(command))
    return click.option(
        "-v",
        "--verbose",
        count=True,
        expose_value=False,
        is_eager=True,
        callback=_set_verbosity,
        help="More log output (-vv: debug, with native runtime logs).",
    )(command)


json_option = click.option("--json", "as_json", is_flag=True, help="Print the result as JSON instead of a table.")


def examples(*lines: str) -> str:
    """An epilog of example command lines, kept as written (``\\b`` stops click re-wrapping them)."""
    return "\b\nExamples:\n" + "\n".join(f"  {line}" for line in lines)


def echo_json(obj) -> None:
    """Prints one JSON document (NaN and infinities refused: they are not JSON)."""
    click.echo(json.dumps(obj, allow_nan=False, default=str))


def table(head: list[str], rows: list[list], right: set[int] | None = None) -> str:
    """The one terminal table style: aligned columns under a header and a rule.

    Args:
        head: column titles.
        rows: cells (converted with ``str``; control characters escaped, so a name with a newline or
            a terminal escape in it cannot forge rows or colours).
        right: indices of right-aligned (numeric) columns; by default those whose cells all parse as numbers.
    """
    from asl_edge.runtime.fsutil import printable

    cells = [[printable(c) for c in row] for row in rows]
    if right is None:
        right = {i for i in range(len(head)) if cells and all(_numeric(r[i]) for r in cells)}
    widths = [max([len(h)] + [len(r[i]) for r in cells]) for i, h in enumerate(head)]

    def line(row):
        return "  ".join(c.rjust(w) if i in right else c.ljust(w) for i, (c, w) in enumerate(zip(row, widths))).rstrip()

    return "\n".join([line(head), "  ".join("-" * w for w in widths)] + [line(r) for r in cells])


def _numeric(text: str) -> bool:
    try:
        float(text.replace(",", "").rstrip("%"))
        return True
    except ValueError:
        return text == "-"


def chosen_model(path: str) -> str:
    """``path``, or for an export folder its recommended artifact, named in one line on stderr."""
    from asl_edge.runtime.fsutil import printable
    from asl_edge.runtime.integrity import is_export_dir, recommended_artifact

    if not is_export_dir(path):
        return path
    chosen, entry = recommended_artifact(path)
    click.echo(f"{printable(path)}: using {printable(chosen.name)} ({printable(str(entry.get('format', '?')))}, "
               "the export's artifact to deploy; `asl-edge benchmark` on the folder compares them all)", err=True)
    return str(chosen)
