"""Output folders of every writing command (train, export, report, evaluate --out, data-info, tune):
which ones asl-edge may write into, and writing them whole.

One rule for all of them: asl-edge writes only into a folder that does not exist, an empty one, or
one it made before, and into the last only with ``--force``; ``--force`` replaces only files
asl-edge wrote there and can prove it wrote (their sha256 is listed and still matches). What
asl-edge wrote is recorded in a marker file (:data:`MARKER`, only this module knows its name) with
the sha256 of every file; an export lists its files in its ``manifest.json`` instead
(:func:`asl_edge.export.pipeline.manifest_listing`). Apart from ``train``, no command writes into a
training run folder or below one.

A command writes its files into a temporary folder that replaces the output folder only when
every file and the marker are written (:func:`asl_edge.runtime.fsutil.atomic_dir`), under a lock
on that folder taken before any check; the folder is checked again at the swap, so a file saved
into it while the command ran is kept. Leftovers of an interrupted swap are removed only after
the checks pass, and only those asl-edge made (:func:`asl_edge.runtime.fsutil.recover_dir`).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from asl_edge.runtime import runfolder
from asl_edge.runtime.errors import OutputError
from asl_edge.runtime.fsutil import (
    TMP_MARK,
    SwapRefused,
    atomic_dir,
    atomic_write_json,
    output_lock,
    printable,
    read_regular,
    recover_dir,
    restore_dir,
    sha256_file,
)

MARKER = ".asl-edge-output.json"
SCHEMA = 1
# Where commands write by default, as Ultralytics does (runs/train, runs/export, ...): one folder per
# stage under ./runs/, never a tracked folder. Only `make models` / `make bench` write the committed
# references (models/, export/, benchmarks/), and they pass --out to do it.
RUNS = Path("runs")
# A marker lists a few report plots or tuning tables; anything larger was not written by asl-edge.
MAX_MARKER_BYTES = 1 << 20
_SHA256 = re.compile(r"[0-9a-f]{64}")
SHOWN_NAMES = 5  # files named in a refusal; the rest are counted


def default_out(stage: str, name: str | None = None) -> Path:
    """``runs/<stage>[/<name>]``, e.g. ``runs/train/edge_cnn-fast``."""
    return RUNS / stage / name if name else RUNS / stage


@dataclass(frozen=True)
class Listing:
    """What asl-edge wrote into a folder, as its marker (or an export's manifest) says.

    Attributes:
        made_by: the command that wrote it (for the messages).
        files: sha256 by path relative to the folder (``/``-separated).
        own: files that list the others (the marker, the manifest): asl-edge's by construction.
        loose: names accepted without a hash (an interrupted training run's own layout), or None.
        kind: what the folder holds, for the messages (default: the output of asl-edge ``made_by``).
    """

    made_by: str
    files: dict[str, str]
    own: frozenset[str] = frozenset({MARKER})
    loose: Callable[[str], bool] | None = None
    kind: str = ""

    @property
    def title(self) -> str:
        return self.kind or f"the output of asl-edge {printable(self.made_by)}"


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


def refuse_root(dest: str | os.PathLike, shown: str | os.PathLike | None = None) -> None:
    """Refuses the root of the file system (``--out /``): it has no name to swap and no parent to
    lock in, and is never an output folder. Checked before anything below it is read."""
    path = Path(os.path.abspath(dest))
    if path.parent == path:
        raise OutputError(f"--out {printable(dest if shown is None else shown)} is the root of the file system: "
                          "give a folder for the output")


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
    if not isinstance(files, dict) or not all(isinstance(k, str) and isinstance(v, str) and _SHA256.fullmatch(v)
                                              for k, v in files.items()):
        return None
    return marker


def marker_listing(folder: Path) -> Listing | None:
    """The :class:`Listing` of a folder's marker (``None``: no valid marker).

    An interrupted training run (its marker says ``complete: false``) also owns the names of the
    run folder's layout (:func:`asl_edge.runtime.runfolder.in_layout`): training writes them as
    it goes and lists them with their hashes only when it finishes.
    """
    marker = read_marker(folder)
    if marker is None:
        return None
    command = str(marker.get("command", "asl-edge"))
    loose = runfolder.in_layout if command == "train" and marker.get("complete") is False else None
    return Listing(command, dict(marker["files"]), frozenset({MARKER}), loose)


def _scan(folder: Path) -> Iterator[tuple[str, os.DirEntry]]:
    """Every entry below ``folder`` but folders themselves (links not followed), lazily: a caller
    that stops early never reads the rest of a huge tree."""
    stack = [(folder, "")]
    while stack:
        path, prefix = stack.pop()
        with os.scandir(path) as entries:
            for entry in entries:
                name = prefix + entry.name
                if entry.is_dir(follow_symlinks=False):
                    stack.append((Path(entry.path), name + "/"))
                else:
                    yield name, entry


def _changed(path: str | os.PathLike, sha256: str) -> bool:
    """True unless ``path`` is a regular file with exactly this sha256 (a link or a FIFO counts as changed)."""
    path = Path(path)
    if path.is_symlink() or not path.is_file():
        return True
    try:
        return sha256_file(path) != sha256
    except OSError:
        return True


def foreign_entries(folder: Path, listing: Listing, limit: int = SHOWN_NAMES + 1) -> list[str]:
    """Up to ``limit`` entries below ``folder`` that ``listing`` does not vouch for: unlisted, or
    listed but changed since (the scan stops there)."""
    found = []
    for name, entry in _scan(folder):
        if name in listing.own:
            continue
        digest = listing.files.get(name)
        ok = (not _changed(entry.path, digest)) if digest is not None else bool(listing.loose and
                                                                                 listing.loose(name))
        if not ok:
            found.append(name)
            if len(found) >= limit:
                break
    return sorted(found)


def _named(names: list[str]) -> str:
    return ", ".join(printable(n) for n in names[:SHOWN_NAMES]) + (", ..." if len(names) > SHOWN_NAMES else "")


def check_output_folder(out: Path, command: str, force: bool, shown: str | os.PathLike | None = None,
                        listing: Callable[[Path], Listing | None] = marker_listing,
                        run_folders: bool = False, marker: str = MARKER) -> Listing | None:
    """Refuses to write ``out`` where asl-edge would destroy what it did not write.

    Args:
        out: the output folder.
        command: the command writing it (for the messages).
        force: replace an output folder asl-edge made before.
        shown: ``out`` as the user gave it, for the messages.
        listing: reads what asl-edge wrote into a folder (its marker, or an export's manifest).
        run_folders: ``out`` may be a training run folder (``train`` itself), never one inside one.
        marker: the name of the file that ``listing`` reads (for the messages).

    Returns:
        The listing of what ``out`` holds (every file asl-edge's, unchanged), or None for a new or
        empty folder.

    Raises:
        OutputError: ``out`` is the root, a file or link, a training run folder, a folder asl-edge
            did not make, one it made but without ``--force``, or one holding files asl-edge did
            not write (or that were changed since).
    """
    refuse_root(out, shown)
    refuse_run_folder(Path(os.path.abspath(out)).parent if run_folders else out, shown=shown)
    if not os.path.lexists(out):
        return None
    shown = printable(out if shown is None else shown)
    if out.is_symlink() or not out.is_dir():
        raise OutputError(f"--out {shown} exists and is not a folder: give a folder for the {command} output")
    with os.scandir(out) as entries:
        if next(entries, None) is None:
            return None
    found = listing(out)  # the marker first: a folder without one is refused without reading it further
    if found is None:
        hint = " (a run folder trained before asl-edge listed its files has none)" if is_run_folder(out) else ""
        refused = ("--force replaces only folders asl-edge made, so it will not touch this one" if force
                   else "refusing to write into it")
        raise OutputError(f"--out {shown} is a folder asl-edge did not make (no {marker} of its own){hint}: "
                          f"{refused}; empty or remove it yourself, or give --out a new or empty folder")
    if not force:
        raise OutputError(f"{shown} already holds {found.title}: use --force to replace it, or --out elsewhere")
    foreign = foreign_entries(out, found)
    if foreign:
        raise OutputError(f"{shown} holds files asl-edge did not write or that were changed since ({_named(foreign)}): "
                          "--force replaces only asl-edge's own files; move them away or choose another --out")
    return found


def swap_check(found: Listing | None, command: str, shown: str | os.PathLike) -> Callable[[Path], None]:
    """The check :func:`~asl_edge.runtime.fsutil.atomic_dir` runs at the swap: the folder about to
    be replaced still holds only what ``found`` (the listing checked before the command's work)
    vouches for; a file saved or edited meanwhile refuses the swap, and is kept."""
    listed = found or Listing(command, {})

    def check(folder: Path) -> None:
        foreign = foreign_entries(folder, listed)
        if foreign:
            raise SwapRefused(f"{printable(shown)} changed while asl-edge {command} was running ({_named(foreign)} "
                              "saved or edited there): it was kept as it is and the new output was not written; "
                              "move those files away and run the command again")

    return check


def owned_output(listing: Callable[[Path], Listing | None] = marker_listing) -> Callable[[Path], bool]:
    """``owned(folder)``: the folder is an output asl-edge wrote, every file unchanged (what
    :func:`~asl_edge.runtime.fsutil.recover_dir` may remove or put back)."""
    def owned(folder: Path) -> bool:
        found = listing(folder)
        return found is not None and not foreign_entries(folder, found, limit=1)

    return owned


def write_marker(folder: Path, command: str, complete: bool = True,
                 only: Callable[[str], bool] | None = None) -> Path:
    """Records every file in ``folder`` (with its sha256) as written by asl-edge ``command``.

    Args:
        folder: the folder.
        command: the command that wrote it.
        complete: False while a command still writes into the folder in place (training): the
            marker then claims the folder and lists nothing yet.
        only: list only the files whose relative names it accepts (training lists its own layout,
            never a file someone else put into the run folder while it trained).
    """
    from asl_edge import __version__

    files = {} if not complete else {
        name: sha256_file(entry.path) for name, entry in sorted(_scan(folder))
        if name not in (MARKER, TMP_MARK) and (only is None or only(name))}
    return atomic_write_json(folder / MARKER, {
        "schema": SCHEMA,
        "writer": "asl-edge",
        "version": __version__,
        "command": command,
        "created": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "complete": complete,
        "files": files,
    })


def clear_listed(folder: Path, found: Listing) -> None:
    """Removes from ``folder`` what ``found`` vouches for (each file checked again just before),
    then the folders that became empty, then the marker; anything else is left where it is."""
    for name, entry in sorted(_scan(folder), reverse=True):
        digest = found.files.get(name)
        ours = (not _changed(entry.path, digest)) if digest is not None else bool(found.loose and found.loose(name))
        if ours and name not in found.own:
            os.unlink(entry.path)
    for root, dirs, _ in sorted(os.walk(folder, topdown=False), reverse=True):
        for d in dirs:
            with contextlib.suppress(OSError):  # not empty: it holds something that is not ours
                os.rmdir(os.path.join(root, d))
    for name in found.own:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(folder / name)


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
        SwapRefused: ``out`` changed while the command ran (kept as it was).
    """
    # Absolute, so that "." or "dir/.." name a folder with a name and a parent to lock and swap in.
    target = Path(os.path.abspath(out))
    # Checked once before the lock too: the lock file beside ``out`` would otherwise be the one file
    # asl-edge writes inside a run folder (or at the root). The check under the lock is the one that counts.
    refuse_root(target, shown=out)
    refuse_run_folder(target, shown=out)
    owned = owned_output()
    with output_lock(target):
        restore_dir(target, owned)
        found = check_output_folder(target, command, force, shown=out)
        recover_dir(target, owned)
        with atomic_dir(target, recheck=swap_check(found, command, out)) as tmp:
            yield tmp
            write_marker(tmp, command)
