"""asl-edge commands: deploy_cmds."""

from asl_edge.cli import cli  # noqa: F401
