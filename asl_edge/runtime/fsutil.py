"""Crash-safe file writing, output-folder locks and hashing.

Every model, artifact, manifest and report goes through :func:`atomic_write` (or
:func:`atomic_path`), so a failure at any point leaves either the old file or the new one.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import gzip
import hashlib
import json
import os
import re
import shutil
import stat
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

from asl_edge.runtime.errors import AslEdgeError


@contextlib.contextmanager
def atomic_path(dest: str | os.PathLike, suffix: str | None = None) -> Iterator[Path]:
    """Yields a temporary path beside ``dest``; renames it onto ``dest`` only if the block succeeds.

    The temporary file lives in the same folder so that ``os.replace`` is atomic. It keeps the
    destination's suffix because some writers (Keras, matplotlib) choose the format from it.

    Args:
        dest: final path.
        suffix: suffix for the temporary file; defaults to the destination's.
    """
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(
        prefix=f".{dest.name}.tmp.", suffix=dest.suffix if suffix is None else suffix, dir=dest.parent
    )
    os.close(fd)
    tmp_path = Path(tmp)
    os.chmod(tmp_path, 0o666 & ~_umask())  # mkstemp creates 0600; give the file normal permissions
    try:
        yield tmp_path
        _fsync(tmp_path)
        os.replace(tmp_path, dest)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _fsync(path: Path) -> None:
    if path.is_file():
        with open(path, "rb") as fh:
            os.fsync(fh.fileno())


def atomic_write(dest: str | os.PathLike, data: bytes | str) -> Path:
    """Writes ``data`` to ``dest`` through a temporary file and an atomic rename."""
    with atomic_path(dest) as tmp:
        mode = "wb" if isinstance(data, bytes) else "w"
        with open(tmp, mode) as fh:
            fh.write(data)
    return Path(dest)


def atomic_write_json(dest: str | os.PathLike, obj) -> Path:
    """Writes ``obj`` as indented JSON, atomically."""
    return atomic_write(dest, json.dumps(obj, indent=2, sort_keys=False, default=_json_default) + "\n")


def _json_default(obj):
    import numpy as np

    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")


_NEW_TAG = ".asl-edge-new."
_OLD_TAG = ".asl-edge-old"
# Temporary folders of asl-edge 0.2.0 and earlier: ".<name>.<8 mkdtemp characters>.tmp".
_LEGACY_TMP = re.compile(r"\.(?P<name>.+)\.[a-z0-9_]{8}\.tmp")


def _exchange(a: Path, b: Path) -> bool:
    """Swaps two paths atomically (Linux ``renameat2(RENAME_EXCHANGE)``); False where unsupported."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        renameat2 = libc.renameat2
    except (OSError, AttributeError):
        return False
    at_fdcwd, rename_exchange = -100, 2
    rc = renameat2(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), rename_exchange)
    if rc == 0:
        return True
    err = ctypes.get_errno()
    if err in (errno.EINVAL, errno.ENOSYS, errno.EPERM, errno.ENOTSUP):
        return False  # file system or kernel without the flag: fall back to two renames
    raise OSError(err, os.strerror(err), str(a))


def recover_dir(dest: str | os.PathLike) -> None:
    """Finishes or undoes an interrupted :func:`atomic_dir` swap of ``dest``; call it under the lock.

    - ``dest`` missing but its ``.old`` copy present: the new folder never landed; the old one is
      put back.
    - leftover new/old temporary folders of ``dest``: removed.
    """
    dest = Path(dest)
    parent = dest.parent
    if not parent.is_dir():
        return
    old = parent / f".{dest.name}{_OLD_TAG}"
    # asl-edge 0.2.0 and earlier swapped through ".<name>.old": only a folder holding a manifest
    # is taken for one of its exports (never a user's folder of that name).
    legacy_old = parent / f".{dest.name}.old"
    legacy_ok = legacy_old.is_dir() and not legacy_old.is_symlink() and (legacy_old / "manifest.json").is_file()
    for candidate, ok in ((old, old.is_dir() and not old.is_symlink()), (legacy_old, legacy_ok)):
        if ok and not os.path.lexists(dest):
            os.replace(candidate, dest)
    for entry in os.scandir(parent):
        name = entry.name
        legacy = _LEGACY_TMP.fullmatch(name)
        ours = name.startswith(f".{dest.name}{_NEW_TAG}") and name.endswith(".tmp")
        if (ours or name == old.name or (name == legacy_old.name and legacy_ok)
                or (legacy and legacy.group("name") == dest.name)) \
                and entry.is_dir(follow_symlinks=False):
            shutil.rmtree(entry.path, ignore_errors=True)


@contextlib.contextmanager
def atomic_dir(dest: str | os.PathLike) -> Iterator[Path]:
    """Yields a temporary folder beside ``dest``; it replaces ``dest`` only if the block succeeds.

    The swap is crash-safe at every point: on Linux the two folders are exchanged in one
    ``renameat2`` call; elsewhere ``dest`` is first renamed to ``.<name>.asl-edge-old`` and
    :func:`recover_dir` (which the next writer runs under its lock) puts it back if the new folder
    never landed. Leftover temporary folders are removed by the next run. Callers hold a lock on
    ``dest`` (:func:`output_lock`).
    """
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    recover_dir(dest)
    tmp = Path(tempfile.mkdtemp(prefix=f".{dest.name}{_NEW_TAG}", suffix=".tmp", dir=dest.parent))
    os.chmod(tmp, 0o777 & ~_umask())  # mkdtemp creates 0700; give the folder normal permissions
    try:
        yield tmp
        if os.path.lexists(dest):
            if not _exchange(tmp, dest):
                old = dest.with_name(f".{dest.name}{_OLD_TAG}")
                os.replace(dest, old)
                os.replace(tmp, dest)
                shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, dest)
        _fsync_dir(dest.parent)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


@contextlib.contextmanager
def output_lock(dest: str | os.PathLike) -> Iterator[None]:
    """Locks one output folder (not its parent: writers of sibling folders do not block each other).

    The lock file lives beside the folder (``.<name>.asl-edge.lock``) because the folder itself is
    swapped whole by :func:`atomic_dir`.

    Raises:
        AslEdgeError: another asl-edge process is writing ``dest``.
    """
    dest = Path(dest)
    with _flock(dest.parent, dest.parent / f".{dest.name}.asl-edge.lock", dest):
        yield


@contextlib.contextmanager
def folder_lock(folder: str | os.PathLike) -> Iterator[None]:
    """Holds an exclusive lock on ``folder`` so two commands never write into it at once.

    Raises:
        AslEdgeError: another asl-edge process holds the lock.
    """
    folder = Path(folder)
    with _flock(folder, folder / ".asl-edge.lock", folder):
        yield


@contextlib.contextmanager
def _flock(parent: Path, lock_file: Path, shown: Path) -> Iterator[None]:
    folder = shown
    parent.mkdir(parents=True, exist_ok=True)
    with open(lock_file, "a+") as fh:
        try:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            if exc.errno in (errno.EAGAIN, errno.EACCES):
                raise AslEdgeError(
                    f"{folder} is in use by another asl-edge process; wait for it to finish"
                ) from None
            raise
        try:
            yield
        finally:
            fcntl.flock(fh.fileno(), fcntl.LOCK_UN)


def require_regular_file(path: str | os.PathLike, error=AslEdgeError, what: str = "file",
                         max_bytes: int | None = None) -> int:
    """Refuses anything but a regular file (FIFOs, devices, sockets, folders hang or never end).

    Symbolic links are followed, so a link to ``/dev/zero`` is refused too (issue #13).

    Args:
        path: the file.
        error: the :class:`AslEdgeError` subclass to raise.
        what: what the file is, for the message.
        max_bytes: refuse larger files.

    Returns:
        The file's size in bytes.
    """
    try:
        st = os.stat(path)
    except FileNotFoundError:
        raise error(f"{what} not found: {printable(path)}") from None
    except OSError as exc:
        raise error(f"cannot read {what} {printable(path)}: {exc.strerror}") from None
    if stat.S_ISDIR(st.st_mode):
        raise error(f"{printable(path)} is a folder, not a {what}")
    if not stat.S_ISREG(st.st_mode):
        raise error(f"{printable(path)} is not a regular file (a pipe, device or socket): refusing to read it")
    if max_bytes is not None and st.st_size > max_bytes:
        raise error(f"{printable(path)} is too large for a {what} ({st.st_size} bytes, at most {max_bytes})")
    return st.st_size


def open_regular(path: str | os.PathLike, error=AslEdgeError, what: str = "file"):
    """Opens a file for reading only if it is a regular file, checked on the open descriptor.

    ``O_NONBLOCK`` keeps the ``open`` itself from blocking on a FIFO; the check after it (on the
    descriptor, so a swapped path cannot slip through) refuses the FIFO.
    """
    require_regular_file(path, error, what)
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise error(f"{printable(path)} is not a regular file: refusing to read it")
        os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def read_regular(path: str | os.PathLike, error=AslEdgeError, what: str = "file",
                 max_bytes: int | None = None) -> bytes:
    """The bytes of a regular file (see :func:`open_regular`), at most ``max_bytes``."""
    require_regular_file(path, error, what, max_bytes)
    with open_regular(path, error, what) as fh:
        data = fh.read() if max_bytes is None else fh.read(max_bytes + 1)
    if max_bytes is not None and len(data) > max_bytes:
        raise error(f"{printable(path)} is too large for a {what} (more than {max_bytes} bytes)")
    return data


def printable(text) -> str:
    """``text`` with control characters escaped, safe to print on one terminal line.

    File names and labels come from users and artifacts; a newline or an ANSI escape in them
    must not forge lines or colours in asl-edge's output (issue #13).
    """
    text = str(text)
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else c.encode("unicode_escape").decode("ascii") for c in text)


def sha256_file(path: str | os.PathLike) -> str:
    """Returns the hex sha256 of a regular file (a FIFO or device is refused, never read)."""
    digest = hashlib.sha256()
    with open_regular(path) as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def gzip_size(path: str | os.PathLike) -> int:
    """Returns the size in bytes of a file once gzipped (level 9), as the tfmot guides measure it."""
    return len(gzip.compress(read_regular(path), compresslevel=9, mtime=0))
