"""Durable file operations: atomic replace, directory fsync, inter-process locks."""

from __future__ import annotations

import contextlib
import errno
import io
import json
import os
import shutil
import tempfile
import threading
import weakref
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from discreet.errors import DiscreetError, InsufficientSpaceError

if TYPE_CHECKING:
    import filelock
    import numpy as np


def fsync_dir(path: Path) -> None:
    """Flush a directory entry so that a rename inside it survives a crash."""
    if os.name != "posix":  # pragma: no cover - Windows has no directory fds
        return
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def atomic_write_bytes(
    path: Path,
    data: bytes,
    *,
    mode: int = 0o644,
    before_replace: Callable[[], None] | None = None,
) -> None:
    """Write ``data`` to ``path`` so that readers see the old or the new file, never a mix.

    The bytes go to a temporary file in the same folder, which is fsynced,
    renamed over ``path`` and followed by an fsync of the folder.
    ``before_replace`` runs just before the rename (to keep a backup, say).
    """
    with replacing(Path(path), mode=mode, before_replace=before_replace) as f:
        f.write(data)


def atomic_copy_file(source: Path, path: Path, *, mode: int = 0o644) -> None:
    """Copy ``source`` to ``path`` as :func:`atomic_write_bytes` writes: a block at a time,
    so that a file of any size costs no more memory than a block."""
    with replacing(Path(path), mode=mode) as f, open(source, "rb") as src:
        shutil.copyfileobj(src, f, 1 << 20)


@contextlib.contextmanager
def replacing(
    path: Path, *, mode: int = 0o644, before_replace: Callable[[], None] | None = None
) -> Iterator[io.BufferedWriter]:
    """A temporary file beside ``path`` to write; when the block ends, it is fsynced and
    renamed over ``path``, and the folder fsynced. If the block fails, it is removed and
    ``path`` is left as it was."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, mode)
        if before_replace is not None:
            before_replace()
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    fsync_dir(path.parent)


@contextlib.contextmanager
def disk_full_means(message: str) -> Iterator[None]:
    """Turn "no space left on device" into :class:`InsufficientSpaceError` with ``message``."""
    try:
        yield
    except OSError as exc:
        if exc.errno in (errno.ENOSPC, errno.EDQUOT):
            raise InsufficientSpaceError(message) from None
        raise


def canonical_json(value: Any) -> bytes:
    """Serialise ``value`` deterministically: sorted keys, UTF-8, newline-terminated."""
    return (json.dumps(value, sort_keys=True, ensure_ascii=False, indent=1) + "\n").encode()


def npy_bytes(array: np.ndarray[Any, Any]) -> bytes:
    """An array in ``.npy`` form, never pickled."""
    import numpy as np  # not at the top: a profile's durable writes need no numpy

    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=False)
    return buffer.getvalue()


def atomic_write_json(path: Path, value: Any, *, mode: int = 0o644) -> None:
    """Atomically write ``value`` as canonical JSON."""
    atomic_write_bytes(path, canonical_json(value), mode=mode)


#: The locks taken with ``held_here``, by absolute path: which this process holds.
_HELD: weakref.WeakValueDictionary[str, filelock.BaseFileLock] = weakref.WeakValueDictionary()
_HELD_GUARD = threading.Lock()


def acquire_lock(
    path: Path,
    *,
    timeout: float,
    error: type[DiscreetError],
    message: str,
    held_here: str | None = None,
) -> filelock.BaseFileLock:
    """Take an inter-process lock on ``path`` (released by the kernel if the holder dies).

    Raise ``error(message)`` if another process still holds it after ``timeout`` seconds.
    With ``held_here``, a lock this process already holds (taken with ``held_here``
    too) raises ``error(held_here)`` at once: waiting for ourselves would only time out.
    """
    import filelock  # not at the top: importing the engine should not pay for it

    key = str(Path(path).resolve())
    if held_here is not None:
        with _HELD_GUARD:
            mine = _HELD.get(key)
            if mine is not None and mine.is_locked:
                raise error(held_here)
    lock = filelock.FileLock(str(path), timeout=timeout)
    try:
        lock.acquire()
    except filelock.Timeout:
        raise error(message) from None
    if held_here is not None:
        with _HELD_GUARD:
            _HELD[key] = lock
    return lock


@contextlib.contextmanager
def exclusive_lock(
    path: Path, *, timeout: float, error: type[DiscreetError], message: str
) -> Iterator[None]:
    """Hold an inter-process lock on ``path`` or raise ``error(message)`` after ``timeout`` s.

    The lock is an OS-level file lock, released by the kernel if the holder dies.
    """
    lock = acquire_lock(path, timeout=timeout, error=error, message=message)
    try:
        yield
    finally:
        lock.release()
