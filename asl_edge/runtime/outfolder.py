"""Output folders of the writing commands (report, evaluate --out, data-info, tune): which ones
asl-edge may write into, and writing them whole.

The rule (issue #13): asl-edge writes only into a folder that does not exist, an empty one, or
one it made before, and into the last only with ``--force``; it never writes into a training run
folder or below one, and ``--force`` replaces only files asl-edge wrote there, unchanged since.
What asl-edge wrote is recorded in a marker file (:data:`MARKER`, only this module knows its name)
with the sha256 of every file, so a file the user added or edited is never replaced. ``asl-edge
export`` follows the same rule with its ``manifest.json`` as the marker
(:func:`asl_edge.export.pipeline.check_output_folder`).

A command writes its files into a temporary folder that replaces the output folder only when
every file and the marker are written (:func:`asl_edge.runtime.fsutil.atomic_dir`), under a lock
on that folder taken before any check.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
from collections.abc import Iterator
from pathlib import Path

from asl_edge.runtime import runfolder
from asl_edge.runtime.errors import OutputError
from asl_edge.runtime.fsutil import (
    atomic_dir,
    atomic_write_json,
    output_lock,
    printable,
    read_regular,
    recover_dir,
    sha256_file,
)

MARKER = ".asl-edge-output.json"
SCHEMA = 1
# A marker lists a few report plots or tuning tables; anything larger was not written by asl-edge.
MAX_MARKER_BYTES = 1 << 20


def is_run_folder(folder: Path) -> bool:
    """True for a training run folder: it holds the trained model or an interrupted run's state."""
    return (folder / runfolder.MODEL_FILE).exists() or \
        (folder / runfolder.CHECKPOINTS / runfolder.STATE_FILE).exists()


def refuse_run_folder(dest: str | os.PathLike, option: str = "--out", shown: str | os.PathLike | None = None) -> None:
    """Refuses ``dest`` when it is a training run folder or lies inside one.

    A run folder's ``metrics.json`` and ``confusion_matrix.png`` are the training's own held-out
    figures; an ``evaluate --out RUN`` of another data set would silently replace them.

    Args:
        dest: the output folder or file.
        option: the option that named it, for the message.
        shown: ``dest`` as the user gave it, for the message.

    Raises:
        OutputError: one line naming the run folder.
    """
    path = Path(os.path.abspath(dest))
    for folder in (path, *path.parents):
        if folder.is_dir() and is_run_folder(folder):
            where = "is" if folder == path else f"lies inside {printable(folder)}, which is"
            named = printable(dest if shown is None else shown)
            raise OutputError(f"{option} {named} {where} a training run folder: asl-edge writes nothing there "
                              "but training itself; choose another folder")


def read_marker(folder: Path) -> dict | None:
    """The marker of a folder asl-edge made, or ``None`` when it has none or an unreadable one."""
    path = folder / MARKER
    if not os.path.lexists(path):
        return None
    try:
        marker = json.loads(read_regular(path, OutputError, "output marker", MAX_MARKER_BYTES).decode("utf-8"))
    except (OutputError, ValueError, UnicodeDecodeError, RecursionError):
        return None
    if not isinstance(marker, dict) or marker.get("schema") != SCHEMA:
        return None
    files = marker.get("files")
    if not isinstance(files, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in files.items()):
        return None
    return marker


def _contents(folder: Path) -> dict[str, Path]:
    """Every entry below ``folder`` but folders themselves, by path relative to it (links not followed)."""
    found = {}
    for root, dirs, files in os.walk(folder, followlinks=False):
        for name in files + [d for d in dirs if os.path.islink(os.path.join(root, d))]:
            path = Path(root) / name
            found[path.relative_to(folder).as_posix()] = path
    return found


def _changed(path: Path, sha256: str) -> bool:
    """True unless ``path`` is a regular file with exactly this sha256 (a link or a FIFO counts as changed)."""
    if path.is_symlink() or not path.is_file():
        return True
    try:
        return sha256_file(path) != sha256
    except OSError:
        return True


def check_output_folder(out: Path, command: str, force: bool, shown: str | os.PathLike | None = None) -> None:
    """Refuses to write ``out`` where asl-edge would destroy what it did not write.

    Args:
        out: the output folder.
        command: the command writing it (for the messages).
        force: replace an output folder asl-edge made before.
        shown: ``out`` as the user gave it, for the messages.

    Raises:
        OutputError: ``out`` is a file or link, a training run folder, a folder asl-edge did not
            make, one it made but without ``--force``, or one holding files asl-edge did not write
            (or that were changed since).
    """
    refuse_run_folder(out, shown=shown)
    if not os.path.lexists(out):
        return
    shown = printable(out if shown is None else shown)
    if out.is_symlink() or not out.is_dir():
        raise OutputError(f"--out {shown} exists and is not a folder: give a folder for the {command} output")
    entries = _contents(out)
    if not entries and not any(out.iterdir()):
        return
    marker = read_marker(out)
    if marker is None:
        raise OutputError(f"--out {shown} is a folder asl-edge did not make (no {MARKER}): refusing to write into "
                          "it; choose a new or empty folder")
    made_by = printable(marker.get("command", "asl-edge"))
    if not force:
        raise OutputError(f"{shown} already holds the output of asl-edge {made_by}: use --force to replace it, "
                          "or --out elsewhere")
    foreign = sorted(name for name, path in entries.items()
                     if name != MARKER and (name not in marker["files"] or _changed(path, marker["files"][name])))
    if foreign:
        listed = ", ".join(printable(n) for n in foreign[:5]) + (", ..." if len(foreign) > 5 else "")
        raise OutputError(f"{shown} holds files asl-edge did not write or that were changed since ({listed}): "
                          "--force replaces only asl-edge's own files; move them away or choose another --out")


def write_marker(folder: Path, command: str) -> Path:
    """Records every file in ``folder`` (with its sha256) as written by asl-edge ``command``."""
    from asl_edge import __version__

    files = {name: sha256_file(path) for name, path in sorted(_contents(folder).items()) if name != MARKER}
    return atomic_write_json(folder / MARKER, {
        "schema": SCHEMA,
        "writer": "asl-edge",
        "version": __version__,
        "command": command,
        "created": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "files": files,
    })


@contextlib.contextmanager
def output_folder(out: str | os.PathLike, command: str, force: bool = False) -> Iterator[Path]:
    """Locks and checks ``out``, then yields an empty temporary folder to write the outputs into.

    When the block succeeds the marker is written and the temporary folder replaces ``out`` in one
    step; when it fails ``out`` is left as it was. The lock is taken before any check, so a second
    command writing the same folder is refused instead of racing the first.

    Args:
        out: the output folder.
        command: the command writing it (recorded in the marker).
        force: replace an output folder asl-edge made before.

    Raises:
        OutputError: see :func:`check_output_folder`; or another asl-edge process holds the lock.
    """
    # Absolute, so that "." or "dir/.." name a folder with a name and a parent to lock and swap in.
    target = Path(os.path.abspath(out))
    # Checked once before the lock too: the lock file beside ``out`` would otherwise be the one file
    # asl-edge writes inside a run folder. The check under the lock is the one that counts.
    refuse_run_folder(target, shown=out)
    with output_lock(target):
        recover_dir(target)
        check_output_folder(target, command, force, shown=out)
        with atomic_dir(target) as tmp:
            yield tmp
            write_marker(tmp, command)
