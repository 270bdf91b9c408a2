"""Layer index: one layer tar stream -> ordered Entries (plus small file contents).

Our own header parser rather than tarfile's stream mode, because:
  * tarfile ends iteration silently on a truncated or garbled header after the first
    member (TarFile.next() only raises at offset 0); a verifier must call that out;
  * we need PAX values exactly as recorded (mtime sub-second digits, binary xattrs),
    where tarfile converts mtime to float;
  * images hold tens of thousands of small files, so the cost per entry matters: the
    parser works on the 1 MiB chunks the (verifying, decompressing) stream hands out,
    unpacks a header with one struct call, and passes file data on as memoryviews of
    those chunks, never copied (tarfile reads 10 KiB records and builds a TarInfo).
It handles what layer writers emit: ustar/POSIX, PAX ('x' and global 'g' headers), GNU
long names ('L'/'K'), GNU and base-256 numbers. GNU sparse and other exotic types are
a FormatError rather than a silent misreading.

`TarCursor` is the parser; `iter_entries` hashes every regular file with it (inspect,
extract, merged filesystems), and repro/diff/lockstep.py walks two cursors side by side.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import hashlib
import queue
import re
import sys
import struct
import threading
import zlib
from types import MappingProxyType
from typing import Any, BinaryIO, Callable, Iterator
from urllib.parse import unquote_to_bytes

from repro.errors import FormatError, LimitError, ReproError
from repro.oci.model import Entry
from repro.oci.verify import BlobIntegrityError

CHUNK = 1 << 20
BLOCK = 512
# PAX and GNU long-name headers: as Go's archive/tar (maxSpecialFileSize), which is what
# containerd and BuildKit unpack layers with: a larger one is not an image anyone can run
MAX_META = 1 << 20
DEFAULT_MAX_ENTRIES = 300_000  # Limits.max_entries_per_layer

_TYPES = {
    b"0": "file", b"\0": "file", b"7": "file", b"1": "hardlink", b"2": "symlink",
    b"3": "char", b"4": "block", b"5": "dir", b"6": "fifo",
}  # fmt: skip
_META_TYPES = (b"x", b"g", b"L", b"K")
_BROKEN_OUT = {"path", "linkpath", "size", "uid", "gid", "uname", "gname", "mtime", "hdrcharset"}
_EMPTY: MappingProxyType = MappingProxyType({})  # shared by the many entries without records
_UNDECODED = object()
_MODES = tuple(range(0o10000))  # shared int objects for every permission mode
_EMPTY_DIGEST = "sha256:" + hashlib.sha256().hexdigest()  # one string for every empty file
_MTIME = re.compile(r"^(-?)(\d+)(?:\.(\d*))?$")
# name mode uid gid size mtime chksum typeflag linkname magic+version uname gname devmajor devminor prefix
_HEADER = struct.Struct("100s8s8s8s12s12s8sc100s8s32s32s8s8s155s")
# the same block in fewer pieces (next()'s fast path): name, mode+uid+gid, size, mtime,
# chksum, typeflag, linkname, magic+version+uname+gname, devmajor+devminor, prefix
_PLAIN = struct.Struct("100s24s12s12s8sc100s72s16s155s")
_ZERO_BLOCK = bytes(BLOCK)
_NUL_TO_SPACE = bytes.maketrans(b"\0", b" ")  # int() takes "0000644 " but not "0000644\0"

ContentSink = Callable[[str, int], "Callable[[memoryview], None] | None"]


def _number(field: bytes, name: str, position: int) -> int:
    if field and field[0] & 0x80:  # base-256 (GNU): big-endian, 0xff prefix = negative
        value = int.from_bytes(field[1:], "big")
        return value - (1 << (8 * len(field) - 8)) if field[0] == 0xFF else value
    text = field.split(b"\0", 1)[0]
    try:
        return int(text, 8)
    except ValueError:
        if not text.strip(b" "):
            return 0
        raise FormatError(f"layer tar entry {position}: invalid {name} field {field!r}") from None


# The fast number read, inlined where it runs per entry: int(field.translate(_NUL_TO_SPACE), 8)
# takes the common "0000644\0" and raises ValueError for anything else; then _number
# (base-256, empty and NUL-cut fields) decides.


def _string(field: bytes) -> bytes:
    return field.split(b"\0", 1)[0]


def _decode(raw: bytes) -> str:
    return raw.decode("utf-8", "surrogateescape")


_NAMES: dict[bytes, str] = {}  # uname/gname fields: a handful of values over a whole layer


def _name(field: bytes) -> str:
    """A uname/gname header field (or PAX value) as text, decoded once per value."""
    text = _NAMES.get(field)
    if text is None:
        text = _decode(_string(field))
        if len(_NAMES) < 4096:
            _NAMES[field] = text
    return text


def normalise_path(name: str) -> str:
    """No leading `/` or `./`, no trailing `/`, no empty or `.` components; root is `.`."""
    if name and name[0] not in "/." and "//" not in name and "/./" not in name and not name.endswith("/."):
        return name.rstrip("/")  # the common case, already clean but for a directory's `/`
    parts = [p for p in name.split("/") if p not in ("", ".")]
    return "/".join(parts) or "."


def _mtime_text(value: str, where: str) -> str:
    """PAX mtime as recorded, trailing sub-second zeros stripped: 1700000000.500 -> 1700000000.5."""
    m = _MTIME.match(value.strip())
    if not m:
        raise FormatError(f"{where}: invalid PAX mtime {value[:40]!r}")
    sign, whole, frac = m.group(1), str(int(m.group(2))), (m.group(3) or "").rstrip("0")
    if sign and whole == "0" and not frac:
        sign = ""
    return f"{sign}{whole}.{frac}" if frac else f"{sign}{whole}"


def _parse_pax(data: bytes, where: str) -> dict[str, bytes]:
    """`LEN KEY=VALUE\\n` records; values stay bytes (xattrs and BINARY names are not text)."""
    out: dict[str, bytes] = {}
    pos = 0
    while pos < len(data):
        if data[pos] == 0:  # NUL padding after the records
            break
        space = data.find(b" ", pos)
        try:
            length = int(data[pos:space]) if space > pos else 0
        except ValueError:
            length = 0
        record = data[space + 1 : pos + length]
        if length <= 0 or pos + length > len(data) or not record.endswith(b"\n") or b"=" not in record:
            raise FormatError(f"{where}: malformed PAX record at byte {pos}")
        key, _, value = record[:-1].partition(b"=")
        out[key.decode("utf-8", "surrogateescape")] = value
        pos += length
    return out


def _xattr(key: str, value: bytes, where: str) -> tuple[str, bytes] | None:
    if key.startswith("SCHILY.xattr."):
        return key[len("SCHILY.xattr.") :], value
    if key.startswith("LIBARCHIVE.xattr."):
        # libarchive: name URL-encoded, value base64 (padding optional)
        name = _decode(unquote_to_bytes(key[len("LIBARCHIVE.xattr.") :]))
        try:
            return name, base64.b64decode(value + b"=" * (-len(value) % 4), validate=True)
        except (binascii.Error, ValueError):
            raise FormatError(f"{where}: invalid base64 in PAX record {key}") from None
    return None


def _checksum_ok(block: Any, stored: bytes) -> bool:
    """`block`: the 512 header bytes (bytes or memoryview); `stored`: its checksum field."""
    try:
        want = int(stored.translate(_NUL_TO_SPACE), 8)  # the fast number read (see above)
    except ValueError:
        try:
            want = int(_string(stored).strip(b" "), 8)
        except ValueError:
            return False
    # sum() of 512 ints is the slowest step of a header; adler32's low half is 1 + the
    # byte sum mod 65521, exact for 256 bytes (at most 65280), so two halves give the sum
    view = memoryview(block)
    total = (zlib.adler32(view[:256]) & 0xFFFF) + (zlib.adler32(view[256:]) & 0xFFFF) - 2
    unsigned = total - sum(stored) + 8 * 32  # the field counts as spaces
    if want == unsigned:
        return True
    # some old writers summed signed chars
    raw = bytes(block)
    return want == unsigned - 2 * sum(b for b in raw[:148] + raw[156:] if b > 127)


_new_entry = object.__new__


class _EntrySlots:
    """Entry's slot layout without its frozen __setattr__: filled by plain attribute
    stores, then turned into an Entry (`__class__` assignment between identical layouts)."""

    __slots__ = Entry.__slots__


def _filler() -> Callable[[dict[str, Any]], Entry]:
    stores = "\n".join(f"    e.{name} = fields[{name!r}]" for name in Entry.__slots__)
    code = f"def make_entry(fields):\n    e = new(slots)\n{stores}\n    e.__class__ = entry\n    return e\n"
    namespace: dict[str, Any] = {"new": _new_entry, "slots": _EntrySlots, "entry": Entry}
    exec(code, namespace)  # noqa: S102 - our own field names, generated once
    return namespace["make_entry"]


# Entry(**fields), for a dict holding every field. The generated __init__ of a frozen
# dataclass sets each field through object.__setattr__, a quarter of the cost of an entry
# on a layer of small files; plain slot stores cost a fraction of that, and a slotted
# Entry is half the memory of one with an instance dict (a layer may hold a million).
make_entry = _filler()


class TarCursor:
    """Walks one layer tar, header by header, over chunks from `read()` (b"" at EOF).

    `next()` returns an entry's fields (every Entry field but `digest`) and how many
    data bytes follow; the caller then takes them with `data()` (as memoryviews of the
    chunks, padding skipped) or `skip()`, before the next `next()`. At the end of the
    archive the rest of the stream is read, so a verifying stream checks every byte.
    """

    def __init__(self, read: Callable[[], bytes], max_entries: int = DEFAULT_MAX_ENTRIES) -> None:
        self._read = read
        self._chunk = b""
        self._view = memoryview(b"")
        self._pos = 0
        self._base = 0  # stream offset of the current chunk
        self._serial = 0  # chunks read so far (not `is`: CPython shares 1-byte bytes objects)
        self._max = max_entries
        self._global_pax: dict[str, bytes] = {}
        # id(global record value) -> (value, its decoded form): a global header's records
        # apply to every later entry, so each is decoded once and shared (an 8 MiB global
        # record and 200 entries once cost 200 copies)
        self._shared: dict[int, tuple[bytes, Any]] = {}
        self._path = ""
        self.position = 0  # entries returned so far
        # (mode+uid+gid, magic+uname+gname, typeflag) header bytes -> (fields
        # template, ustar magic), for the fast path of next()
        self._known: dict[tuple[bytes, bytes, bytes], tuple[dict[str, Any], bool]] = {}
        self._mtimes: dict[bytes, str] = {}  # mtime field -> its text, for the same

    @property
    def offset(self) -> int:
        """Bytes of the stream consumed, for messages."""
        return self._base + self._pos

    def _advance(self) -> bool:
        data = self._read()
        if not data:
            return False
        self._base += len(self._chunk)
        self._chunk, self._view, self._pos = data, memoryview(data), 0
        self._serial += 1
        return True

    def _block(self) -> tuple[bytes, int]:
        """The next 512 bytes as (buffer, offset in it); shorter at EOF."""
        pos, chunk = self._pos, self._chunk
        if len(chunk) - pos >= BLOCK:
            self._pos = pos + BLOCK
            return chunk, pos
        return self._take(BLOCK), 0

    def _take(self, n: int) -> bytes:
        """The next n bytes as one bytes object (fewer at EOF); for headers and records."""
        parts = []
        need = n
        while need:
            avail = len(self._chunk) - self._pos
            if not avail:
                if not self._advance():
                    break
                continue
            k = min(avail, need)
            parts.append(self._chunk[self._pos : self._pos + k])
            self._pos += k
            need -= k
        return b"".join(parts)

    def data(self, n: int) -> list[memoryview]:
        """The n data bytes of the current entry, as memoryviews of the stream's chunks,
        and the padding after them skipped. Holds them all: for large files, iter_data."""
        pos, chunk = self._pos, self._chunk
        if len(chunk) - pos >= n + (-n % BLOCK):
            self._pos = pos + n + (-n % BLOCK)
            return [self._view[pos : pos + n]] if n else []
        pieces: list[memoryview] = []
        need = n
        while need:
            avail = len(self._chunk) - self._pos
            if not avail:
                if not self._advance():
                    raise FormatError(f"layer tar truncated in {self._path} (entry {self.position - 1})")
                continue
            k = min(avail, need)
            pieces.append(self._view[self._pos : self._pos + k])
            self._pos += k
            need -= k
        self._skip_padding(n)
        return pieces

    def span(self, n: int) -> tuple[bytes, int] | None:
        """(chunk, start) when the n data bytes of the current entry and their padding lie
        in the current chunk (then consumed), else None (use data or iter_data): lets a
        caller compare two files with bytes.startswith, without copying either."""
        pos = self._pos
        if len(self._chunk) - pos >= n + (-n % BLOCK):
            self._pos = pos + n + (-n % BLOCK)
            return self._chunk, pos
        return None

    def iter_spans(self, n: int) -> Iterator[tuple[bytes, int, int]]:
        """The n data bytes of the current entry as (chunk, start, length) pieces, for
        files too large to hold (run it to its end: the padding is skipped there)."""
        need = n
        while need:
            avail = len(self._chunk) - self._pos
            if not avail:
                if not self._advance():
                    raise FormatError(f"layer tar truncated in {self._path} (entry {self.position - 1})")
                continue
            k = min(avail, need)
            start = self._pos
            self._pos += k
            need -= k
            yield self._chunk, start, k
        self._skip_padding(n)

    def iter_data(self, n: int) -> Iterator[memoryview]:
        """iter_spans as memoryviews."""
        for chunk, start, k in self.iter_spans(n):
            yield memoryview(chunk)[start : start + k]

    def skip(self, n: int) -> None:
        """Pass over the n data bytes of the current entry and their padding."""
        end = self._pos + n + (-n % BLOCK)
        if end <= len(self._chunk):
            self._pos = end
            return
        need = n
        while need:
            avail = len(self._chunk) - self._pos
            if not avail:
                if not self._advance():
                    raise FormatError(f"layer tar truncated in {self._path} (entry {self.position - 1})")
                continue
            k = min(avail, need)
            self._pos += k
            need -= k
        self._skip_padding(n)

    def _skip_padding(self, n: int) -> None:
        pad = -n % BLOCK
        if pad and len(self._take(pad)) < pad:
            raise FormatError(f"layer tar truncated in {self._path} (entry {self.position - 1})")

    def drain(self) -> None:
        """Read the stream to its end (a verifying stream checks its digest there)."""
        self._pos = len(self._chunk)
        while self._advance():
            self._pos = len(self._chunk)

    def next(self) -> tuple[dict[str, Any], int] | None:
        """The next entry's fields and data size; None after the end-of-archive marker."""
        # The fast path: a plain header (no PAX or GNU records before it, none global)
        # whose mode, owner, magic and type fields are byte for byte those of an
        # earlier plain header, parsed then by `_next_full` (a layer has a handful of
        # such combinations over thousands of entries); the name, size, mtime and checksum
        # are read here. Anything else, and anything that fails a check here, goes to
        # `_next_full` with nothing consumed.
        pos, chunk = self._pos, self._chunk
        if len(chunk) - pos < BLOCK or self._global_pax:
            return self._next_full()
        name, ids, size, mtime, chksum, typeflag, linkname, owners, _, prefix = _PLAIN.unpack_from(chunk, pos)
        known = self._known.get((ids, owners, typeflag))
        if known is None:
            return self._next_full()
        template, ustar = known
        view = self._view
        t = _NUL_TO_SPACE
        try:  # the checksum (see _checksum_ok), the size and the mtime, by the fast number read
            if int(chksum.translate(t), 8) != ((zlib.adler32(view[pos : pos + 256]) & 0xFFFF)
                                                + (zlib.adler32(view[pos + 256 : pos + BLOCK]) & 0xFFFF)
                                                + 254 - sum(chksum)):
                return self._next_full()
            data_size = int(size.translate(t), 8)
            mtime_s = self._mtimes.get(mtime)
            if mtime_s is None:
                if len(self._mtimes) >= 4096:
                    self._mtimes.clear()
                mtime_s = self._mtimes[mtime] = sys.intern(str(int(mtime.translate(t), 8)))
        except ValueError:
            return self._next_full()
        if data_size < 0:
            return self._next_full()
        position = self.position
        if position >= self._max:
            return self._next_full()
        self.position = position + 1
        self._pos = pos + BLOCK
        cut = name.find(b"\0")
        if cut >= 0:
            name = name[:cut]
        if ustar and prefix[0]:
            name = _string(prefix) + b"/" + name
        fields = template.copy()
        kind = fields["type"]
        if kind == "file" and typeflag == b"\0" and name.endswith(b"/"):
            kind = fields["type"] = "dir"
        path = fields["path"] = normalise_path(_decode(name))
        if kind == "file":
            if ".wh." in path:
                base = path.rsplit("/", 1)[-1]
                if base == ".wh..wh..opq":
                    kind = fields["type"] = "opaque"
                elif base.startswith(".wh."):
                    kind = fields["type"] = "whiteout"
        elif kind == "symlink":
            fields["linkname"] = _decode(_string(linkname))
        elif kind == "hardlink":
            fields["linkname"] = normalise_path(_decode(_string(linkname)))
        fields["size"] = data_size
        fields["mtime"] = mtime_s
        fields["position"] = position
        self._path = path
        return fields, (data_size if kind in ("file", "whiteout", "opaque") else 0)

    def _next_full(self) -> tuple[dict[str, Any], int] | None:
        """next(), every case: PAX and GNU records, every number format, every check."""
        pax: dict[str, bytes] = {}
        long_name: bytes | None = None
        long_link: bytes | None = None
        while True:
            buf, at = self._block()
            if len(buf) - at < BLOCK:
                if len(buf) == 0 and self.position == 0 and self.offset == 0:
                    raise FormatError("layer tar truncated: empty stream")
                raise FormatError(f"layer tar truncated: no end-of-archive marker after entry {self.position}")
            header = _HEADER.unpack_from(buf, at)
            size, chksum, typeflag = header[4], header[6], header[7]
            block = memoryview(buf)[at : at + BLOCK]
            if not _checksum_ok(block, chksum):
                if block == _ZERO_BLOCK:
                    # end of archive: POSIX wants two zero blocks; a lone one at EOF is tolerated (as GNU tar)
                    self.drain()
                    return None
                raise FormatError(f"layer tar entry {self.position}: bad header checksum at byte {self.offset - BLOCK}")
            try:
                data_size = int(size.translate(_NUL_TO_SPACE), 8)  # the fast number read
            except ValueError:
                data_size = _number(size, "size", self.position)
            if data_size < 0:
                raise FormatError(f"layer tar entry {self.position}: negative size")
            if typeflag in _META_TYPES:  # metadata for the next entry
                where = f"layer tar entry {self.position}"
                if data_size > MAX_META:
                    raise FormatError(f"{where}: implausibly large {typeflag.decode()} header ({data_size} bytes)")
                data = self._take(data_size)
                pad = -data_size % BLOCK
                if len(data) < data_size or len(self._take(pad)) < pad:
                    raise FormatError(f"layer tar truncated in entry {self.position}")
                if typeflag == b"x":
                    pax.update(_parse_pax(data, where))
                elif typeflag == b"g":
                    self._global_pax.update(_parse_pax(data, where))
                    self._shared = {id(v): (v, _UNDECODED) for v in self._global_pax.values()}
                elif typeflag == b"L":
                    long_name = _string(data)
                else:
                    long_link = _string(data)
                continue
            kind = _TYPES.get(typeflag)
            if kind is None:
                raise FormatError(f"layer tar entry {self.position}: unsupported tar entry type {typeflag!r}")
            position = self.position
            self.position += 1
            if self.position > self._max:
                raise LimitError(
                    f"layer has more than {self._max} entries: exceeds max_entries_per_layer; "
                    f"raise with --max-entries-per-layer"
                )
            records = {**self._global_pax, **pax} if (pax or self._global_pax) else None
            fields = self._fields(kind, header, data_size, typeflag, records, long_name, long_link, position)
            self._path = fields["path"]
            if records is None and long_name is None and long_link is None and kind not in ("char", "block"):
                self._remember(header, kind)
            return fields, (fields["size"] if fields["type"] in ("file", "whiteout", "opaque") else 0)

    def mark(self) -> tuple[int, int]:
        """Where the next header starts (which chunk, offset in it): for `next_same`."""
        if self._pos == len(self._chunk):  # at the start of the next chunk (so at the first header)
            return self._serial + 1, 0
        return self._serial, self._pos

    def next_same(self, leader: TarCursor, mark: tuple[int, int],
                  head: tuple[dict[str, Any], int]) -> tuple[dict[str, Any], int] | None:
        """The next entry without parsing it, when its header blocks (PAX and GNU long-name
        records included) are byte for byte the ones `leader` has just parsed into `head`,
        starting at `mark` (leader's `mark()` before that `next()`): the same bytes give
        the same fields, this stream's `position` aside. The fields dict is `head`'s own
        object when the positions agree (the caller must not change it for one side only).
        None, with nothing consumed, when the bytes differ, the leader's header crossed a
        chunk boundary, or either stream has global PAX records (then call `next()`)."""
        serial, start = mark
        if leader._serial != serial or leader._global_pax or self._global_pax:
            return None
        end = leader._pos
        if self._pos == len(self._chunk) and not self._advance():
            return None
        mine, pos = self._chunk, self._pos
        if len(mine) - pos < end - start or not mine.startswith(leader._view[start:end], pos):
            return None
        fields, size = head
        position = self.position
        self.position = position + 1
        if self.position > self._max:
            raise LimitError(
                f"layer has more than {self._max} entries: exceeds max_entries_per_layer; "
                f"raise with --max-entries-per-layer"
            )
        self._pos = pos + end - start
        self._path = fields["path"]
        if fields["position"] != position:
            fields = {**fields, "position": position}
        return fields, size

    def _remember(self, header: tuple[bytes, ...], kind: str) -> None:
        """Keep what a plain header's mode, owner, magic and type fields parse to, for the
        fast path of `next`: the same bytes again give the same values again."""
        if len(self._known) >= 256:  # a layer of ever new combinations: no help there
            self._known.clear()
        (_, mode, uid, gid, _, _, _, typeflag, _, magic, uname, gname, _, _, _) = header
        fields = self._fields(_TYPES[typeflag], header, 0, b"0", None, None, None, 0)
        fields.update(path="", type=kind, size=0, mtime="", linkname="", position=0)
        self._known[(mode + uid + gid, magic + uname + gname, typeflag)] = (fields, magic[:6] == b"ustar\0")

    def _fields(self, kind: str, header: tuple[bytes, ...], size: int, typeflag: bytes,
                records: dict[str, bytes] | None, long_name: bytes | None, long_link: bytes | None,
                position: int) -> dict[str, Any]:
        """Entry fields for one header (the _HEADER fields), PAX and GNU records applied."""
        (name, mode, uid, gid, _, mtime, _, _, linkname, magic, uname, gname, devmajor, devminor,
         prefix) = header
        name = _string(name)
        if magic[:6] == b"ustar\0" and prefix[0]:  # POSIX ustar: a prefix field extends the name
            name = _string(prefix) + b"/" + name
        if long_name is not None:
            name = long_name
        link = long_link  # None: the header's own linkname field, read below if needed
        xattrs: Any = _EMPTY
        pax: Any = _EMPTY
        if records:
            where = f"layer tar entry {position}"
            name = records.get("path", name)
            link = records.get("linkpath", link)

            def num(key: str, field: bytes) -> int:
                if key in records:  # type: ignore[operator]
                    try:
                        return int(records[key])  # type: ignore[index]
                    except ValueError:
                        raise FormatError(f"{where}: invalid PAX {key} {records[key][:40]!r}") from None  # type: ignore[index]
                return _number(field, key, position)

            if "size" in records:
                size = num("size", b"")
            uid_n, gid_n = num("uid", uid), num("gid", gid)
            uname_s = _decode(records["uname"]) if "uname" in records else _name(uname)
            gname_s = _decode(records["gname"]) if "gname" in records else _name(gname)
            mtime_s = (_mtime_text(_decode(records["mtime"]), where) if "mtime" in records
                       else str(_number(mtime, "mtime", position)))
            found_x: dict[str, bytes] = {}
            found_p: dict[str, str] = {}
            shared = self._shared
            for key, value in records.items():
                cached = shared.get(id(value))
                if cached is not None and cached[0] is value and cached[1] is not _UNDECODED:
                    decoded = cached[1]
                else:
                    decoded = _xattr(key, value, where)
                    if decoded is None and key not in _BROKEN_OUT:
                        decoded = _decode(value)
                    if cached is not None and cached[0] is value:  # a global record's value
                        shared[id(value)] = (value, decoded)
                if isinstance(decoded, tuple):
                    found_x[decoded[0]] = decoded[1]
                elif decoded is not None and key not in _BROKEN_OUT:
                    found_p[key] = decoded
            if found_x:
                xattrs = MappingProxyType(dict(sorted(found_x.items())))
            if found_p:
                pax = MappingProxyType(dict(sorted(found_p.items())))
        else:
            uname_s, gname_s = _name(uname), _name(gname)
            try:
                t = _NUL_TO_SPACE  # the fast number read, inlined: a call costs as much
                uid_n, gid_n, mtime_s = int(uid.translate(t), 8), int(gid.translate(t), 8), str(int(mtime.translate(t), 8))
            except ValueError:
                uid_n, gid_n = _number(uid, "uid", position), _number(gid, "gid", position)
                mtime_s = str(_number(mtime, "mtime", position))
        if size < 0:
            raise FormatError(f"layer tar entry {position}: negative size")
        if kind == "file" and typeflag == b"\0" and name.endswith(b"/"):
            kind = "dir"  # pre-POSIX tars mark directories as regular files whose name ends in `/`
        path = normalise_path(_decode(name))
        if kind == "file" and ".wh." in path:
            base = path.rsplit("/", 1)[-1]
            if base == ".wh..wh..opq":
                kind = "opaque"
            elif base.startswith(".wh."):
                kind = "whiteout"
        if kind in ("hardlink", "symlink") and link is None:
            link = _string(linkname)
        if kind == "hardlink":
            linkname_s = normalise_path(_decode(link))  # names an entry of this archive
        elif kind == "symlink":
            linkname_s = _decode(link)  # symlink targets stay verbatim
        else:
            linkname_s = ""
        devmajor_n = devminor_n = 0
        if kind in ("char", "block"):
            devmajor_n, devminor_n = _number(devmajor, "devmajor", position), _number(devminor, "devminor", position)
        try:
            mode_n = int(mode.translate(_NUL_TO_SPACE), 8) & 0o7777  # the fast number read
        except ValueError:
            mode_n = _number(mode, "mode", position) & 0o7777
        return {
            "path": path, "type": kind, "mode": _MODES[mode_n],
            "uid": uid_n, "gid": gid_n, "uname": uname_s, "gname": gname_s, "size": size,
            # one object per distinct value: a layer's entries mostly share one mtime
            "mtime": sys.intern(mtime_s), "linkname": linkname_s, "devmajor": devmajor_n, "devminor": devminor_n,
            "xattrs": xattrs, "pax": pax, "digest": None, "position": position,
        }

    @contextlib.contextmanager
    def errors(self) -> Iterator[None]:
        """Raise what goes wrong while reading as one-line repro errors (see `translate`)."""
        try:
            yield
        except Exception as e:
            translated = self.translate(e)
            if translated is e:
                raise
            raise translated from (e if isinstance(translated, BlobIntegrityError) else None)

    def translate(self, e: Exception) -> Exception:
        """The error to report for `e`, raised while reading this stream: a corrupt tar in
        a tampered layer is reported as the tampering (the verifying stream raises
        BlobIntegrityError at EOF) rather than its symptom; OS and decoding errors become
        FormatErrors."""
        if isinstance(e, FormatError):
            return self._integrity_error() or e
        if isinstance(e, ReproError):
            return e
        if isinstance(e, OSError):
            return FormatError(f"layer tar: read failed at byte {self.offset}: {e.strerror or e}")
        if isinstance(e, (ValueError, UnicodeError, EOFError, struct.error)):
            return FormatError(f"layer tar: unreadable at byte {self.offset}: {e}")
        return e

    def _integrity_error(self) -> BlobIntegrityError | None:
        try:
            self.drain()
        except BlobIntegrityError as e:
            return e
        except (ReproError, OSError, ValueError, EOFError):
            pass
        return None


class ReadAhead:
    """`stream` read in CHUNK pieces by a thread of its own, a few chunks ahead: the blob
    sha256, the inflate and the diffID sha256 of a layer stream run there (they release
    the GIL) while the caller parses. What the thread raises is raised by `read()`, in
    the caller's thread (so the caller's `with image.open_layer()` names the layer)."""

    DEPTH = 4

    def __init__(self, stream: BinaryIO) -> None:
        self._stream = stream
        self._chunks: queue.Queue = queue.Queue(maxsize=self.DEPTH)
        self._stop = threading.Event()
        self._ended = False
        self._thread = threading.Thread(target=self._run, name="layer-read-ahead", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            while not self._stop.is_set():
                data = self._stream.read(CHUNK)
                self._put(data)
                if not data:
                    return
        except BaseException as e:  # noqa: BLE001 - handed to the reading thread
            self._put(e)

    def _put(self, item: Any) -> None:
        while not self._stop.is_set():
            try:
                self._chunks.put(item, timeout=0.05)
                return
            except queue.Full:
                continue

    def read(self) -> bytes:
        if self._ended:
            return b""
        item = self._chunks.get()
        if isinstance(item, BaseException):
            self._ended = True
            raise item
        if not item:
            self._ended = True
        return item

    def close(self) -> None:
        """Stop the thread and wait for it: the stream is the caller's to close after."""
        self._stop.set()
        while self._thread.is_alive():
            try:
                self._chunks.get(timeout=0.05)
            except queue.Empty:
                pass


def iter_entries(
    stream: BinaryIO, *, capture_limit: int = 0, max_entries: int = DEFAULT_MAX_ENTRIES,
    content_sink: ContentSink | None = None, digests: bool = True,
) -> Iterator[tuple[Entry, bytes | None]]:
    """Each entry of the layer tar in order, its regular files' content hashed (sha256),
    with the content of regular files of at most `capture_limit` bytes. After the last
    entry the stream is read to EOF, so a verifying stream checks every byte. Truncation
    or corruption is a FormatError; more than `max_entries` entries a LimitError.

    `content_sink(path, size)`, called for every regular file before its content is read,
    may return a writer that receives the content piece by piece (for --report-dir:
    files of any size are streamed, never held in memory).

    With `digests=False` regular files are not hashed (their `digest` is None) unless a
    content sink or the capture limit asks for their bytes: for listings that show no
    digests. The blob and diffID are verified all the same.

    The stream is read ahead by a thread (ReadAhead), so reading a layer and indexing it
    use two cores."""
    ahead = ReadAhead(stream)
    try:
        yield from _index(TarCursor(ahead.read, max_entries), capture_limit, content_sink, digests)
    finally:
        ahead.close()


def _index(cursor: TarCursor, capture_limit: int, content_sink: ContentSink | None,
           digests: bool = True) -> Iterator[tuple[Entry, bytes | None]]:
    sha256 = hashlib.sha256
    bare = not digests and content_sink is None and capture_limit <= 0  # no file's bytes needed
    with cursor.errors():
        while (header := cursor.next()) is not None:
            fields, size = header
            if fields["type"] != "file" or bare:
                cursor.skip(size)
                yield make_entry(fields), None
                continue
            extra = content_sink(fields["path"], size) if content_sink is not None else None
            content = None
            if size <= CHUNK or size <= capture_limit:
                pieces = cursor.data(size)
                if len(pieces) == 1:
                    h = sha256(pieces[0])
                else:
                    h = sha256()
                    for piece in pieces:
                        h.update(piece)
                if extra is not None:
                    for piece in pieces:
                        extra(piece)
                if size <= capture_limit:
                    content = b"".join(pieces)
            else:  # streamed: a file of any size passes through in pieces
                h = sha256()
                for piece in cursor.iter_data(size):
                    h.update(piece)
                    if extra is not None:
                        extra(piece)
            fields["digest"] = "sha256:" + h.hexdigest() if size else _EMPTY_DIGEST
            yield make_entry(fields), content
