"""What every asl-edge command shares: -v/-q/--debug anywhere on the line, --json, one table style,
examples at the end of --help, and a one-line message when an extra is missing."""

from __future__ import annotations

import json
import logging
import os
import sys

import click

# What each command needs beyond the runtime, and the one-line install hint: one place, below the CLI.
from asl_edge.runtime.extras import MICRO_MODULES, PLOT_MODULES, TRAIN_MODULES, need_extra  # noqa: F401

# Whether this invocation asked for tracebacks (``--debug`` anywhere on the line); read by
# :func:`asl_edge.cli.main` after the command fails, when click's context is gone.
DEBUG = {"on": False}
QUIET_KEY = "asl_edge.quiet"  # in click's per-invocation ``ctx.meta``: -q was given before the command


def _set_verbosity(ctx: click.Context, param: click.Parameter, value) -> None:
    if not value or ctx.resilient_parsing:
        return
    if param.name == "quiet":
        logging.getLogger().setLevel(logging.ERROR)
        ctx.meta[QUIET_KEY] = True  # shared by the whole invocation: the group's body reads it
        show_progress(False)
        return
    logging.getLogger().setLevel(logging.INFO if value == 1 else logging.DEBUG)
    if value >= 2:
        os.environ["ASL_EDGE_NATIVE_LOGS"] = "1"  # TensorFlow's and LiteRT's own start-up lines too


class _StderrHandler(logging.StreamHandler):
    """A handler for whatever ``sys.stderr`` is when a record is written (click's test runner and
    tqdm swap it), not the one there when the handler was made."""

    @property
    def stream(self):
        return sys.stderr

    @stream.setter
    def stream(self, value):
        pass


def show_progress(on: bool = True) -> None:
    """What a long command says while it works (the ``asl_edge.progress`` logger: what is trained, the
    epochs): plain lines on stderr, without the level and logger name of other log records; off
    with ``-q``."""
    from asl_edge.training.progress import PROGRESS

    if not PROGRESS.handlers:
        handler = _StderrHandler()
        handler.setFormatter(logging.Formatter("%(message)s"))
        PROGRESS.addHandler(handler)
        PROGRESS.propagate = False
    PROGRESS.setLevel(logging.INFO if on else logging.ERROR)


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


def config_flags(command_name: str):
    """Adds the flags that set a training config key (:data:`asl_edge.training.flags.FLAGS`) to a
    command: each takes the same text as its ``--set`` form, and ``--help`` names the key."""
    from asl_edge.training.flags import for_command

    def add(command):
        for flag in reversed(for_command(command_name)):  # click lists the last decorator first
            command = click.option(flag.flag, flag.dest, default=None, metavar=flag.metavar,
                                   help=f"{flag.help} Same as --set {flag.key}={flag.metavar}.")(command)
        return command

    return add


json_option = click.option("--json", "as_json", is_flag=True, help="Print the result as JSON instead of a table.")


def examples(*lines: str) -> str:
    """An epilog of example command lines, kept as written (``\\b`` stops click re-wrapping them)."""
    return "\b\nExamples:\n" + "\n".join(f"  {line}" for line in lines)


def echo_json(obj) -> None:
    """Prints one JSON document (NaN and infinities refused: they are not JSON)."""
    click.echo(json.dumps(obj, allow_nan=False, default=str))


TERMINAL_WIDTH = 100  # every table asl-edge prints fits this many columns


def table(head: list[str], rows: list[list], right: set[int] | None = None, width: int = TERMINAL_WIDTH) -> str:
    """The one terminal table style: aligned columns under a header and a rule, at most ``width`` wide.

    Args:
        head: column titles.
        rows: cells (converted with ``str``; control characters escaped, so a name with a newline or
            a terminal escape in it cannot forge rows or colours).
        right: indices of right-aligned (numeric) columns; by default those whose cells all parse as numbers.
        width: the widest line. A last column of text wraps onto further lines; before that, the
            widest text column is cut (its cells end in "…") until the table fits.
    """
    from asl_edge.runtime.fsutil import printable

    cells = [[printable(c) for c in row] for row in rows]
    if right is None:
        right = {i for i in range(len(head)) if cells and all(_numeric(r[i]) for r in cells)}
    widths = _fit([max([len(h)] + [len(r[i]) for r in cells]) for i, h in enumerate(head)], head, right, width)

    wrap = len(head) - 1 not in right and len(head) > 1

    def line(row):
        last = len(row) - 1 if wrap else -1  # a wrapped column is never cut
        row = [c if len(c) <= w or i == last else c[: w - 1] + "…" for i, (c, w) in enumerate(zip(row, widths))]
        return "  ".join(c.rjust(w) if i in right else c.ljust(w) for i, (c, w) in enumerate(zip(row, widths))).rstrip()

    def lines(row):
        if not wrap or len(row[-1]) <= widths[-1]:
            return [line(row)]
        import textwrap

        # a word longer than the column overflows it rather than being split (a reason stays searchable)
        parts = textwrap.wrap(row[-1], widths[-1], break_long_words=False, break_on_hyphens=False) or [""]
        return [line(row[:-1] + parts[:1])] + [line([""] * (len(row) - 1) + [p]) for p in parts[1:]]

    body = [text for r in cells for text in lines(r)]
    return "\n".join([line(head), "  ".join("-" * w for w in widths)] + body)


def _fit(widths: list[int], head: list[str], right: set[int], width: int) -> list[int]:
    """Column widths within ``width``: the widest text column gives up a character at a time, never
    below its title or 8 characters (numbers are never cut)."""
    widths = list(widths)
    if len(widths) > 1 and len(widths) - 1 not in right:  # the last text column wraps: it takes what is left
        left = width - sum(widths[:-1]) - 2 * (len(widths) - 1)
        widths[-1] = max(min(widths[-1], left), len(head[-1]), min(widths[-1], 20))
    while sum(widths) + 2 * (len(widths) - 1) > width:
        text = [i for i in range(len(widths)) if i not in right and widths[i] > max(len(head[i]), 8)]
        if not text:
            break
        widths[max(text, key=lambda i: widths[i])] -= 1
    return widths


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
