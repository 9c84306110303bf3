"""asl-edge commands: data_cmds."""

from asl_edge.cli import cli  # noqa: F401
