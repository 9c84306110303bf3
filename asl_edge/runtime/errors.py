"""Every user-facing error of asl-edge, in one module: the CLI prints the message as one line and exits non-zero."""


class AslEdgeError(Exception):
    """Base class for every error caused by the user's input or environment."""

    exit_code = 2


class DataError(AslEdgeError):
    """A data set, image or label file that cannot be used."""


class NoHandFound(DataError):
    """A model with a hand localisation stage found no hand in the image: no hand, no guess."""


class ConfigError(AslEdgeError):
    """An unknown name, recipe or ``--set`` key, or a value of the wrong type."""


class ModelError(AslEdgeError):
    """A model or artifact file that is missing, corrupt or unsupported."""


class ExportError(AslEdgeError):
    """A conversion that failed, or an artifact that failed verification or the accuracy gate."""


class OutputError(AslEdgeError):
    """An output folder or file that asl-edge will not write into (it would replace what it did not write)."""


class IntegrityError(AslEdgeError):
    """An artifact whose sha256 no longer matches its manifest."""


class RuntimeUnavailable(AslEdgeError):
    """The runtime (or the GPU provider) an artifact needs is not installed or not present."""


class TrainingError(AslEdgeError):
    """Training stopped: NaN loss, out of memory, or an unusable run folder."""


class Interrupted(AslEdgeError):
    """Ctrl-C during a long command: the message says what was kept and how to continue."""

    exit_code = 130


class MissingDependencyError(AslEdgeError):
    """A command that needs an extra (``train``, ``camera``, ...) which is not installed."""


def refuse_unknown_keys(d: dict, fields, what: str) -> None:
    """Raises :class:`DataError` naming the keys of ``d`` (a settings object read from an artifact)
    that are not in ``fields`` (a dataclass's ``__dataclass_fields__``): a newer or crafted file."""
    unknown = set(d) - set(fields)
    if unknown:
        raise DataError(f"unknown {what} keys: {', '.join(sorted(map(str, unknown)))}")
