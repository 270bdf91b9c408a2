"""Random access to the members of an uncompressed tar file, without extracting it.

Image archives hold blobs of up to many GiB. The tar is scanned once (headers only:
tarfile seeks over member data on a real file) to record each member's data offset and
size; a blob is then read straight from the archive with os.pread, which keeps no file
position, so two threads can stream two layers from one descriptor at once.
"""

from __future__ import annotations

import os
import posixpath
import tarfile
from dataclasses import dataclass
from typing import BinaryIO

from repro.errors import FormatError, InputError
from repro.oci.verify import RawReader


@dataclass(frozen=True)
class Member:
    offset: int  # of the data, in the archive file
    size: int


def member_name(name: str) -> str:
    """`./blobs/sha256/x` and `/blobs/sha256/x` are `blobs/sha256/x`."""
    name = posixpath.normpath("/" + name).lstrip("/")
    return "" if name == "." else name


class TarIndex:
    """Member name -> data offset and size, links resolved to their targets."""

    def __init__(self, path: str, label: str) -> None:
        self.path = path
        self.label = label
        try:
            self._fd = os.open(path, os.O_RDONLY)
        except OSError as e:
            raise InputError(f"{label}: cannot open: {e.strerror or e}") from None
        try:
            self.file_size = os.fstat(self._fd).st_size
            self.members = self._scan()
        except BaseException:
            os.close(self._fd)
            raise

    def _scan(self) -> dict[str, Member]:
        regular: dict[str, Member] = {}
        links: dict[str, tuple[str, bool]] = {}  # name -> (target, is_symlink)
        with os.fdopen(os.dup(self._fd), "rb") as f:
            try:
                tar = tarfile.open(fileobj=f, mode="r:", encoding="utf-8", errors="surrogateescape")
            except (tarfile.TarError, EOFError, ValueError, UnicodeError) as e:
                head = os.pread(self._fd, 4, 0)
                if head[:2] == b"\x1f\x8b" or head == b"\x28\xb5\x2f\xfd":
                    raise InputError(f"{self.label}: a compressed file, not a tar archive; decompress it first") from None
                raise InputError(f"{self.label}: not a tar archive ({e})") from None
            try:
                for info in tar:
                    name = member_name(info.name)
                    if info.isreg():
                        regular[name] = Member(info.offset_data, info.size)
                        links.pop(name, None)
                    elif info.islnk() or info.issym():
                        target = info.linkname
                        if info.issym():  # relative to the link's directory
                            target = posixpath.join(posixpath.dirname(name), target)
                        links[name] = (member_name(target), info.issym())
                        regular.pop(name, None)
            except (tarfile.TarError, EOFError, ValueError, UnicodeError) as e:
                raise FormatError(f"{self.label}: corrupt tar archive: {e}") from None
            finally:
                tar.close()
        for name, member in regular.items():
            if member.offset + member.size > self.file_size:
                raise FormatError(f"{self.label}: tar archive truncated in member {name}")
        for name in links:
            target, hops = name, 0
            while target in links and hops < 16:
                target, hops = links[target][0], hops + 1
            if target in regular:
                regular[name] = regular[target]
        return regular

    def has(self, name: str) -> bool:
        return name in self.members

    def open(self, name: str) -> BinaryIO:
        member = self.members[name]
        return SliceReader(self._fd, member.offset, member.size)

    def read(self, name: str, limit: int) -> bytes:
        """The whole member, if it is at most `limit` bytes (caller checks the size first)."""
        member = self.members[name]
        return os.pread(self._fd, min(member.size, limit + 1), member.offset)

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1


class SliceReader(RawReader):
    """Bytes [offset, offset+size) of a file descriptor, read with pread."""

    def __init__(self, fd: int, offset: int, size: int) -> None:
        super().__init__()
        self._fd, self._pos, self._end = fd, offset, offset + size

    def read(self, size: int = -1) -> bytes:
        n = self._end - self._pos
        if size is None or size < 0:
            return self.readall()
        n = min(n, size)
        if n <= 0:
            return b""
        data = os.pread(self._fd, n, self._pos)
        self._pos += len(data)
        return data
