"""The ``asl-edge`` command line: a thin click layer over library functions.

Each stage's commands live in their own module here and import the library (and TensorFlow,
where needed) inside the command body, so ``asl-edge --help`` stays fast and TensorFlow-free.
Errors meant for the user (:class:`~asl_edge.runtime.errors.AslEdgeError`) become one line on stderr
and a non-zero exit; ``--debug`` (or ``ASL_EDGE_DEBUG=1``) shows the traceback instead.
"""

from __future__ import annotations

import logging
import os
import sys

import click

from asl_edge import __version__
from asl_edge.cli.common import DEBUG, QUIET_KEY, common_options, show_progress
from asl_edge.runtime.errors import AslEdgeError

# Other names of commands, for users who know them from elsewhere (Ultralytics' `yolo val`).
ALIASES = {"val": "evaluate"}


class _Group(click.Group):
    """The command group, with :data:`ALIASES` resolved and listed in ``--help``."""

    def get_command(self, ctx: click.Context, cmd_name: str):
        return super().get_command(ctx, ALIASES.get(cmd_name, cmd_name))

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        super().format_commands(ctx, formatter)
        with formatter.section("Aliases"):
            formatter.write_dl([(alias, f"the same command as {name}") for alias, name in ALIASES.items()])


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="asl-edge")
@common_options
def cli() -> None:
    """Train ASL hand-sign classifiers and ship them, compressed, to edge devices.

    \b
    Pipeline:  train -> evaluate -> export -> benchmark -> report -> predict
    Data:      the built-in ASL digits set unless --data says otherwise.
    Options -v, -q and --debug go anywhere on the line.
    """
    # Progress lines on, unless -q came before the command (after it, its own callback turns them off).
    show_progress(not click.get_current_context().meta.get(QUIET_KEY, False))


def _register() -> None:
    # Each module adds its commands to ``cli``; none imports TensorFlow at import time.
    from asl_edge.cli import bench_cmds, data_cmds, deploy_cmds, export_cmds, train_cmds  # noqa: F401


# What to change when a command runs out of memory: only training has a batch size to lower.
_MEMORY_HINTS = {"train": "try a smaller --set train.batch_size (or data.image_size)",
                 "tune": "try a smaller --set train.batch_size (or data.image_size)"}


def _out_of_memory(exc: MemoryError, argv: list[str] | None) -> str:
    """One line saying where memory ran out (the innermost asl-edge function) and what to change."""
    where, tb = None, exc.__traceback__
    while tb is not None:
        module = tb.tb_frame.f_globals.get("__name__", "")
        if module.startswith("asl_edge.") and not module.startswith("asl_edge.cli"):
            where = f"{module.removeprefix('asl_edge.')}.{tb.tb_frame.f_code.co_name}"
        tb = tb.tb_next
    command = next((a for a in (sys.argv[1:] if argv is None else argv) if not a.startswith("-")), "")
    hint = _MEMORY_HINTS.get(command, "the model, an image or a data file needs more memory than this process may use")
    return f"out of memory{f' in {where}' if where else ''}: {hint}"


def main(argv: list[str] | None = None) -> None:
    """Console-script entry point."""
    _register()
    logging.basicConfig(format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    logging.getLogger().setLevel(logging.WARNING)  # -v / -q change it while the line is parsed
    DEBUG["on"] = os.environ.get("ASL_EDGE_DEBUG", "").lower() in ("1", "true", "yes", "on")
    try:
        cli.main(args=argv, prog_name="asl-edge", standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("asl-edge: aborted", err=True)
        sys.exit(130)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except AslEdgeError as exc:
        if DEBUG["on"]:
            raise
        click.echo(f"asl-edge: error: {exc}", err=True)
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        click.echo("asl-edge: interrupted", err=True)
        sys.exit(130)
    except MemoryError as exc:
        click.echo(f"asl-edge: error: {_out_of_memory(exc, argv)}", err=True)
        sys.exit(1)
    except Exception as exc:  # an unexpected failure: still one line, the traceback behind --debug
        if DEBUG["on"]:
            raise
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        click.echo(f"asl-edge: error: {type(exc).__name__}: {first} (run with --debug for the traceback)", err=True)
        sys.exit(1)


if __name__ == "__main__":
    main()
