"""asl-edge commands: bench_cmds."""

from asl_edge.cli import cli  # noqa: F401
