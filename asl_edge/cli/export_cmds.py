"""asl-edge commands: export_cmds."""

from asl_edge.cli import cli  # noqa: F401
