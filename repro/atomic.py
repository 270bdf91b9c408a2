"""Write files so that a reader never sees a partial one: temp name beside it, fsync, rename."""

from __future__ import annotations

import contextlib
import os
import tempfile
from typing import BinaryIO, Iterator

from repro.errors import InputError


@contextlib.contextmanager
def atomic_open(path: str) -> Iterator[BinaryIO]:
    """Open a temp file in `path`'s directory; on success it replaces `path`, on any
    error (including KeyboardInterrupt) it is removed and `path` is untouched."""
    directory = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(directory):
        raise InputError(f"cannot write {path}: directory {directory} does not exist")
    try:
        fd, tmp = tempfile.mkstemp(prefix=".repro-", suffix=".part", dir=directory)
    except OSError as e:
        raise InputError(f"cannot write {path}: {e.strerror}") from None
    try:
        with os.fdopen(fd, "wb") as f:
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
