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
# Written into a temporary folder when it is made and removed just before the swap: a leftover
# folder carrying it is one asl-edge made and may remove; any other folder is left alone.
TMP_MARK = ".asl-edge-tmp"
# Temporary folders of asl-edge 0.2.0 and earlier: ".<name>.<8 mkdtemp characters>.tmp".
_LEGACY_TMP = re.compile(r"\.(?P<name>.+)\.[a-z0-9_]{8}\.tmp")


class SwapRefused(AslEdgeError):
    """The output folder changed while the command ran: it was kept as it was."""


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


def _made_by_us(folder: str | os.PathLike, owned=None) -> bool:
    """True for a real folder (not a link) that asl-edge made: it carries :data:`TMP_MARK`, is
    empty, or ``owned(folder)`` vouches for it (an output whose every file asl-edge wrote)."""
    folder = Path(folder)
    if folder.is_symlink() or not folder.is_dir():
        return False
    mark = folder / TMP_MARK
    if mark.is_file() and not mark.is_symlink():
        return True
    try:
        with os.scandir(folder) as entries:
            if next(entries, None) is None:
                return True
    except OSError:
        return False
    try:
        return bool(owned and owned(folder))
    except (OSError, AslEdgeError):
        return False


def _leftovers(dest: Path) -> Iterator[tuple[Path, bool]]:
    """The temporary and old folders an interrupted swap of ``dest`` may have left: ``(path, is_old)``."""
    for entry in os.scandir(dest.parent):
        name = entry.name
        legacy = _LEGACY_TMP.fullmatch(name)
        if (name.startswith(f".{dest.name}{_NEW_TAG}") and name.endswith(".tmp")) \
                or (legacy and legacy.group("name") == dest.name):
            yield Path(entry.path), False
        elif name in (f".{dest.name}{_OLD_TAG}", f".{dest.name}.old"):
            yield Path(entry.path), True


def restore_dir(dest: str | os.PathLike, owned=None) -> None:
    """Puts back the old copy of ``dest`` that an interrupted swap moved aside; call it under the lock.

    Only where ``dest`` is missing and the old copy is one asl-edge made (see :func:`_made_by_us`):
    a folder of that name that asl-edge did not make is never moved.
    """
    dest = Path(dest)
    if not dest.parent.is_dir() or os.path.lexists(dest):
        return
    for path, is_old in _leftovers(dest):
        if is_old and _made_by_us(path, owned) and not (path / TMP_MARK).exists():
            os.replace(path, dest)
            return


def recover_dir(dest: str | os.PathLike, owned=None) -> None:
    """Finishes or undoes an interrupted :func:`atomic_dir` swap of ``dest``; call it under the lock,
    after the command's own checks passed (a refused command removes nothing).

    - ``dest`` missing but its old copy present: the new folder never landed; the old one is put
      back (:func:`restore_dir`).
    - leftover new/old temporary folders of ``dest`` that asl-edge made (they carry
      :data:`TMP_MARK`, are empty, or ``owned`` vouches for them): removed. Others are kept, with a
      warning: a user's folder that happens to have such a name is not asl-edge's to delete.

    Args:
        dest: the output folder.
        owned: ``owned(folder) -> bool``: the folder is an output asl-edge wrote, every file unchanged.
    """
    import logging

    dest = Path(dest)
    if not dest.parent.is_dir():
        return
    restore_dir(dest, owned)
    for path, _ in list(_leftovers(dest)):
        if _made_by_us(path, owned):
            shutil.rmtree(path, ignore_errors=True)
        elif path.is_dir() and not path.is_symlink():
            logging.getLogger(__name__).warning("left %s alone: it looks like an interrupted asl-edge output but "
                                                "asl-edge did not make it", printable(path))


def _swap(tmp: Path, dest: Path, recheck) -> None:
    """Puts ``tmp`` in place of ``dest``; ``recheck(folder)`` vets what is replaced, just before
    and just after the swap (a file saved into ``dest`` meanwhile is kept: the swap is undone)."""
    if not os.path.lexists(dest):
        os.replace(tmp, dest)
        return
    if recheck is not None:
        recheck(dest)
    if _exchange(tmp, dest):
        old = tmp
        undo = lambda: _exchange(tmp, dest)  # noqa: E731
    else:
        old = dest.with_name(f".{dest.name}{_OLD_TAG}")
        os.replace(dest, old)
        undo = lambda: os.replace(old, dest)  # noqa: E731
    if recheck is not None:
        try:
            recheck(old)
        except BaseException:
            undo()
            raise
    if old != tmp:
        os.replace(tmp, dest)
    shutil.rmtree(old, ignore_errors=True)


@contextlib.contextmanager
def atomic_dir(dest: str | os.PathLike, recheck=None) -> Iterator[Path]:
    """Yields a temporary folder beside ``dest``; it replaces ``dest`` only if the block succeeds.

    The swap is crash-safe at every point: on Linux the two folders are exchanged in one
    ``renameat2`` call; elsewhere ``dest`` is first renamed to ``.<name>.asl-edge-old`` and
    :func:`restore_dir` (which the next writer runs under its lock) puts it back if the new folder
    never landed. Leftover temporary folders carry :data:`TMP_MARK` and are removed by the next run
    (:func:`recover_dir`). Callers hold a lock on ``dest`` (:func:`output_lock`) and have checked it.

    Args:
        dest: the folder to replace.
        recheck: ``recheck(folder)`` raises when ``folder`` (what is about to be replaced) holds
            anything asl-edge may not remove; called immediately before and after the swap, which
            is undone when it raises (a file saved into ``dest`` while the command ran is kept).
    """
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{dest.name}{_NEW_TAG}", suffix=".tmp", dir=dest.parent))
    try:
        (tmp / TMP_MARK).write_text("asl-edge temporary output folder\n")
        os.chmod(tmp, 0o777 & ~_umask())  # mkdtemp creates 0700; give the folder normal permissions
        yield tmp
        (tmp / TMP_MARK).unlink()
        _swap(tmp, dest, recheck)
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
    swapped whole by :func:`atomic_dir`; it is removed when the lock is released.

    Raises:
        AslEdgeError: another asl-edge process is writing ``dest``.
    """
    dest = Path(dest)
    with _flock(dest.parent / f".{dest.name}.asl-edge.lock", dest):
        yield


def _lock_once(lock_file: Path, shown: Path) -> int | None:
    """Locks ``lock_file``; its descriptor, or None when the file was removed meanwhile (retry)."""
    fd = os.open(lock_file, os.O_RDWR | os.O_CREAT | getattr(os, "O_CLOEXEC", 0), 0o666)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as exc:
        os.close(fd)
        if exc.errno in (errno.EAGAIN, errno.EACCES):
            raise AslEdgeError(f"{printable(shown)} is in use by another asl-edge process; wait for it to finish") \
                from None
        raise
    # The holder before us removes the file as it releases it: a lock on that removed file locks
    # nothing, so lock the path's current file instead.
    try:
        here, there = os.fstat(fd), os.stat(lock_file)
        if (here.st_dev, here.st_ino) == (there.st_dev, there.st_ino):
            return fd
    except FileNotFoundError:
        pass
    os.close(fd)
    return None


@contextlib.contextmanager
def _flock(lock_file: Path, shown: Path) -> Iterator[None]:
    lock_file.parent.mkdir(parents=True, exist_ok=True)
    for _ in range(100):
        fd = _lock_once(lock_file, shown)
        if fd is not None:
            break
    else:
        raise AslEdgeError(f"{printable(shown)} is in use by another asl-edge process; wait for it to finish")
    try:
        yield
    finally:
        # Removed while still held, then released: a waiter that opened the old file sees it gone.
        with contextlib.suppress(FileNotFoundError):
            os.unlink(lock_file)
        os.close(fd)


def require_regular_file(path: str | os.PathLike, error=AslEdgeError, what: str = "file",
                         max_bytes: int | None = None) -> int:
    """Refuses anything but a regular file (FIFOs, devices, sockets, folders hang or never end).

    Symbolic links are followed, so a link to ``/dev/zero`` is refused too.

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
    must not forge lines or colours in asl-edge's output.
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
