"""asl-edge commands: train_cmds."""

from asl_edge.cli import cli  # noqa: F401
