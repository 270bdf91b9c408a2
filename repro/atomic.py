"""Write files so that a reader never sees a partial one: temp name beside it, fsync, rename.

Outputs get the modes any other program's outputs get (0666 / 0777 less the umask): the
temp file behind them is created private by mkstemp, and a report that only its creator
can read is no use to the CI step that uploads it as another user. Temp dirs of our own
stay private.
"""

from __future__ import annotations

import contextlib
import os
import stat
import tempfile
from typing import BinaryIO, Iterator

from repro.errors import InputError


def umask() -> int:
    """The process umask, read without changing it where Linux tells (/proc, thread-safe)."""
    try:
        with open("/proc/self/status", encoding="ascii", errors="replace") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    old = os.umask(0o022)
    os.umask(old)
    return old


def file_mode() -> int:
    """The mode open(2) would give a new output file: 0666 less the umask."""
    return 0o666 & ~umask()


def dir_mode() -> int:
    """The mode mkdir(2) would give a new output directory: 0777 less the umask."""
    return 0o777 & ~umask()


def publish_mode(path: str) -> None:
    """Give a file or directory made private by mkstemp/mkdtemp the usual output mode,
    before it is renamed into place."""
    os.chmod(path, dir_mode() if os.path.isdir(path) else file_mode())


def _writable_dir(d: str) -> bool:
    """Whether a file can be created in directory `d`: tried (and removed at once), since
    neither permissions nor mount flags say it for root or for /proc and its kind."""
    try:
        fd, probe = tempfile.mkstemp(prefix=".repro-probe-", dir=d)
    except OSError:
        return False
    os.close(fd)
    with contextlib.suppress(OSError):
        os.unlink(probe)
    return True


def check_output_file(path: str, option: str) -> None:
    """InputError now, before any long work, unless `path` can be written: not a
    directory, in a directory that exists and takes new files."""
    if os.path.isdir(path):
        raise InputError(f"{option} {path}: is a directory")
    try:
        special = not stat.S_ISREG(os.stat(path).st_mode)
    except OSError:
        special = False
    if special:  # a device or a pipe (-o /dev/null, /dev/stdout) is written into, not replaced
        if not os.access(path, os.W_OK):
            raise InputError(f"{option} {path}: not writable")
        return
    directory = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(directory):
        raise InputError(f"{option} {path}: directory {directory} does not exist")
    if not _writable_dir(directory):
        raise InputError(f"{option} {path}: directory {directory} is not writable")


def check_output_dir(path: str, option: str, *, empty: bool = False, parents: bool = True) -> None:
    """InputError now unless directory `path` can be made or written (and, with `empty`,
    is empty when it exists); `parents=False`: its parent must exist already."""
    target = os.path.abspath(path)
    if os.path.lexists(target):
        if not os.path.isdir(target) or os.path.islink(target):
            raise InputError(f"{option} {path}: exists and is not a directory")
        if empty and os.listdir(target):
            raise InputError(f"{option} {path}: directory is not empty")
        if not _writable_dir(target):
            raise InputError(f"{option} {path}: directory is not writable")
        return
    parent = os.path.dirname(target)
    if not parents and not os.path.isdir(parent):
        raise InputError(f"{option} {path}: parent directory {parent} does not exist")
    while not os.path.exists(parent) and os.path.dirname(parent) != parent:
        parent = os.path.dirname(parent)  # make_output_dir creates the missing parents
    if not os.path.isdir(parent):
        raise InputError(f"{option} {path}: {parent} is not a directory")
    if not _writable_dir(parent):
        raise InputError(f"{option} {path}: cannot create it in {parent} (not writable)")


def make_output_dir(path: str, option: str) -> None:
    """Create the directory an option names (parents too), or InputError naming it."""
    try:
        os.makedirs(path, exist_ok=True)
    except OSError as e:
        raise InputError(f"{option} {path}: cannot create the directory: {e.strerror or e}") from None
    if not os.access(path, os.W_OK | os.X_OK):
        raise InputError(f"{option} {path}: directory is not writable")


@contextlib.contextmanager
def atomic_open(path: str) -> Iterator[BinaryIO]:
    """Open a temp file in `path`'s directory; on success it replaces `path`, on any
    error (including KeyboardInterrupt) it is removed and `path` is untouched. A device or
    a pipe (`-o /dev/null`, `/dev/stdout`, a FIFO) is written into, never replaced: renaming
    over /dev/null would make it a regular file for every program on the machine."""
    try:
        special = not stat.S_ISREG(os.stat(path).st_mode) and not os.path.isdir(path)
    except OSError:
        special = False  # not there yet (or unreadable: the usual way says why)
    if special:
        with open(path, "wb") as f:
            yield f
        return
    directory = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(directory):
        raise InputError(f"cannot write {path}: directory {directory} does not exist")
    try:
        fd, tmp = tempfile.mkstemp(prefix=".repro-", suffix=".part", dir=directory)
    except OSError as e:
        raise InputError(f"cannot write {path}: {e.strerror}") from None
    try:
        with os.fdopen(fd, "wb") as f:
            os.fchmod(f.fileno(), file_mode())
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def atomic_write(path: str, data: bytes | str) -> None:
    try:
        with atomic_open(path) as f:
            f.write(data.encode() if isinstance(data, str) else data)
    except OSError as e:
        raise InputError(f"cannot write {path}: {e.strerror or e}") from None
