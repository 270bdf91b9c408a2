"""Layer index: one layer tar stream -> ordered Entries (plus small file contents).

Our own header parser rather than tarfile's stream mode, because:
  * tarfile ends iteration silently on a truncated or garbled header after the first
    member (TarFile.next() only raises at offset 0); a verifier must call that out;
  * we need PAX values exactly as recorded (mtime sub-second digits, binary xattrs),
    where tarfile converts mtime to float;
  * it reads in 1 MiB chunks and hashes file data through memoryviews, no copies
    (tarfile's stream mode reads in 10 KiB records).
It handles what layer writers emit: ustar/POSIX, PAX ('x' and global 'g' headers), GNU
long names ('L'/'K'), GNU and base-256 numbers. GNU sparse and other exotic types are
a FormatError rather than a silent misreading.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import posixpath
import re
import sys
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
DEFAULT_MAX_ENTRIES = 1_000_000

_TYPES = {
    b"0": "file", b"\0": "file", b"7": "file", b"1": "hardlink", b"2": "symlink",
    b"3": "char", b"4": "block", b"5": "dir", b"6": "fifo",
}  # fmt: skip
_HAS_DATA = {"file"}  # as Go's archive/tar: link/dir/device/fifo headers carry no data
_BROKEN_OUT = {"path", "linkpath", "size", "uid", "gid", "uname", "gname", "mtime", "hdrcharset"}
_EMPTY: MappingProxyType = MappingProxyType({})
_UNDECODED = object()
_MODES = tuple(range(0o10000))  # shared int objects for every permission mode
_EMPTY_DIGEST = "sha256:" + hashlib.sha256().hexdigest()  # one string for every empty file  # shared by the many entries without records
_MTIME = re.compile(r"^(-?)(\d+)(?:\.(\d*))?$")


class _Reader:
    """Buffered reader over the (verifying, decompressing) layer stream."""

    def __init__(self, stream: BinaryIO) -> None:
        self._stream = stream
        self._buf = memoryview(b"")
        self.offset = 0  # bytes consumed, for messages

    def _fill(self) -> bool:
        data = self._stream.read(CHUNK)
        if not data:
            return False
        self._buf = memoryview(bytes(self._buf) + data) if self._buf else memoryview(data)
        return True

    def take(self, n: int) -> bytes:
        """Exactly n bytes, or fewer at EOF."""
        while len(self._buf) < n and self._fill():
            pass
        out = bytes(self._buf[:n])
        self._buf = self._buf[n:]
        self.offset += len(out)
        return out

    def feed(self, n: int, sink) -> int:  # type: ignore[no-untyped-def]
        """Pass the next n bytes to sink(memoryview) without copying; bytes actually passed."""
        done = 0
        while done < n:
            if not self._buf and not self._fill():
                break
            piece = self._buf[: n - done]
            sink(piece)
            self._buf = self._buf[len(piece) :]
            done += len(piece)
        self.offset += done
        return done

    def drain(self) -> None:
        self._buf = memoryview(b"")
        while self._stream.read(CHUNK):
            pass


def _number(field: bytes, name: str, where: str) -> int:
    if field and field[0] & 0x80:  # base-256 (GNU): big-endian, 0xff prefix = negative
        value = int.from_bytes(field[1:], "big")
        return value - (1 << (8 * len(field) - 8)) if field[0] == 0xFF else value
    text = field.split(b"\0", 1)[0].strip(b" ")
    if not text:
        return 0
    try:
        return int(text, 8)
    except ValueError:
        raise FormatError(f"{where}: invalid {name} field {field!r}") from None


def _string(field: bytes) -> bytes:
    return field.split(b"\0", 1)[0]


def _decode(raw: bytes) -> str:
    return raw.decode("utf-8", "surrogateescape")


def normalise_path(name: str) -> str:
    """No leading `/` or `./`, no trailing `/`, no empty or `.` components; root is `.`."""
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


def _checksum_ok(header: bytes) -> bool:
    stored = _string(header[148:156]).strip(b" ")
    try:
        want = int(stored, 8)
    except ValueError:
        return False
    unsigned = sum(header) - sum(header[148:156]) + 8 * 32  # the field counts as spaces
    if want == unsigned:
        return True
    # some old writers summed signed chars
    return want == unsigned - 2 * sum(b for b in header[:148] + header[156:] if b > 127)


ContentSink = Callable[[str, int], "Callable[[memoryview], None] | None"]


def iter_entries(
    stream: BinaryIO, *, capture_limit: int = 0, max_entries: int = DEFAULT_MAX_ENTRIES,
    content_sink: ContentSink | None = None,
) -> Iterator[tuple[Entry, bytes | None]]:
    """Each entry of the layer tar in order, with the content of regular files of at most
    `capture_limit` bytes. After the last entry the stream is read to EOF, so a verifying
    stream checks every byte. Truncation or corruption is a FormatError; more than
    `max_entries` entries a LimitError.

    `content_sink(path, size)`, called for every regular file before its content is read,
    may return a writer that receives the content piece by piece (for --report-dir:
    files of any size are streamed, never held in memory)."""
    reader = _Reader(stream)
    try:
        yield from _walk(reader, capture_limit, max_entries, content_sink)
    except FormatError as e:
        # a corrupt tar in a tampered layer: report the tampering (the verifying stream
        # raises IntegrityError at EOF) rather than its symptom
        blamed = _integrity_error(reader)
        if blamed is not None:
            raise blamed from e
        raise
    except ReproError:
        raise
    except OSError as e:
        raise FormatError(f"layer tar: read failed at byte {reader.offset}: {e.strerror or e}") from None
    except (ValueError, UnicodeError, EOFError) as e:
        raise FormatError(f"layer tar: unreadable at byte {reader.offset}: {e}") from None


def _integrity_error(reader: _Reader) -> BlobIntegrityError | None:
    try:
        reader.drain()
    except BlobIntegrityError as e:
        return e
    except (ReproError, OSError, ValueError, EOFError):
        pass
    return None


def _walk(reader: _Reader, capture_limit: int, max_entries: int,
          content_sink: ContentSink | None = None) -> Iterator[tuple[Entry, bytes | None]]:
    global_pax: dict[str, bytes] = {}
    shared: dict[int, Any] = {}  # id(global value) -> its decoded form, for _entry
    pax: dict[str, bytes] = {}
    long_name: bytes | None = None
    long_link: bytes | None = None
    position = 0
    while True:
        where = f"layer tar entry {position}"
        header = reader.take(BLOCK)
        if len(header) < BLOCK:
            if not header and position == 0 and reader.offset == 0:
                raise FormatError("layer tar truncated: empty stream")
            raise FormatError(f"layer tar truncated: no end-of-archive marker after entry {position}")
        if header == bytes(BLOCK):
            # end of archive: POSIX wants two zero blocks; a lone one at EOF is tolerated (as GNU tar)
            reader.drain()
            return
        if not _checksum_ok(header):
            raise FormatError(f"{where}: bad header checksum at byte {reader.offset - BLOCK}")
        typeflag = header[156:157]
        size = _number(header[124:136], "size", where)
        if size < 0:
            raise FormatError(f"{where}: negative size")

        if typeflag in (b"x", b"g", b"L", b"K"):  # metadata for the next entry
            if size > MAX_META:
                raise FormatError(f"{where}: implausibly large {typeflag.decode()} header ({size} bytes)")
            data = reader.take(size)
            if len(data) < size or len(reader.take(-size % BLOCK)) < -size % BLOCK:
                raise FormatError(f"layer tar truncated in entry {position}")
            if typeflag == b"x":
                pax.update(_parse_pax(data, where))
            elif typeflag == b"g":
                global_pax.update(_parse_pax(data, where))
                # values decoded once per global header, shared by every entry
                shared.clear()
                shared.update((id(v), (v, _UNDECODED)) for v in global_pax.values())
            elif typeflag == b"L":
                long_name = _string(data)
            else:
                long_link = _string(data)
            continue

        kind = _TYPES.get(typeflag)
        if kind is None:
            raise FormatError(f"{where}: unsupported tar entry type {typeflag!r}")
        position += 1
        if position > max_entries:
            raise LimitError(
                f"layer has more than {max_entries} entries: exceeds max_entries_per_layer; "
                f"raise with --max-entries-per-layer"
            )
        records = {**global_pax, **pax}
        fields, data_size = _entry(header, kind, records, long_name, long_link, position - 1, where,
                                   shared if global_pax else None)
        pax, long_name, long_link = {}, None, None

        is_file = fields["type"] == "file"
        capture = is_file and data_size <= capture_limit
        h = hashlib.sha256()
        parts: list[bytes] = []
        extra = content_sink(fields["path"], data_size) if (is_file and content_sink is not None) else None
        if data_size:
            if capture or extra is not None:
                def sink(piece: memoryview) -> None:
                    h.update(piece)
                    if capture:
                        parts.append(bytes(piece))
                    if extra is not None:
                        extra(piece)
                got = reader.feed(data_size, sink)
            else:
                got = reader.feed(data_size, h.update)
            pad = -data_size % BLOCK
            if got < data_size or len(reader.take(pad)) < pad:
                raise FormatError(f"layer tar truncated in {fields['path']} (entry {position - 1})")
        digest = (_EMPTY_DIGEST if not data_size else "sha256:" + h.hexdigest()) if is_file else None
        yield Entry(**fields, digest=digest), (b"".join(parts) if capture else None)


def _entry(
    header: bytes,
    kind: str,
    records: dict[str, bytes],
    long_name: bytes | None,
    long_link: bytes | None,
    position: int,
    where: str,
    shared: dict[int, Any] | None = None,
) -> tuple[dict[str, Any], int]:
    """Entry fields for one header, PAX and GNU records applied; and how many data bytes follow."""
    magic = header[257:265]
    name = _string(header[0:100])
    if magic[:6] == b"ustar\0":  # POSIX ustar: a prefix field extends the name
        prefix = _string(header[345:500])
        if prefix:
            name = prefix + b"/" + name
    if long_name is not None:
        name = long_name
    linkname = long_link if long_link is not None else _string(header[157:257])
    if "path" in records:
        name = records["path"]
    if "linkpath" in records:
        linkname = records["linkpath"]
    if kind == "file" and typeflag_is_old_dir(header, name):
        kind = "dir"

    def num(key: str, field: bytes) -> int:
        if key in records:
            try:
                return int(records[key])
            except ValueError:
                raise FormatError(f"{where}: invalid PAX {key} {records[key][:40]!r}") from None
        return _number(field, key, where)

    size = num("size", header[124:136])
    if size < 0:
        raise FormatError(f"{where}: negative size")
    uid, gid = num("uid", header[108:116]), num("gid", header[116:124])
    uname = records.get("uname", _string(header[265:297]))
    gname = records.get("gname", _string(header[297:329]))
    if "mtime" in records:
        mtime = _mtime_text(_decode(records["mtime"]), where)
    else:
        mtime = str(_number(header[136:148], "mtime", where))
    # one object per distinct value: entries of a layer mostly share their mtime (one
    # SOURCE_DATE_EPOCH), owner and mode, and a layer may hold a million entries
    mtime = sys.intern(mtime)
    mode = _MODES[_number(header[100:108], "mode", where) & 0o7777]
    devmajor = devminor = 0
    if kind in ("char", "block"):
        devmajor, devminor = _number(header[329:337], "devmajor", where), _number(header[337:345], "devminor", where)

    path = normalise_path(_decode(name))
    base = posixpath.basename(path)
    if kind == "file" and base == ".wh..wh..opq":
        kind = "opaque"
    elif kind == "file" and base.startswith(".wh."):
        kind = "whiteout"
    link = _decode(linkname)
    if kind == "hardlink":
        link = normalise_path(link)  # names an entry of this archive; symlink targets stay verbatim

    xattrs: dict[str, bytes] = {}
    pax: dict[str, str] = {}
    for key, value in records.items() if records else ():
        # A global header's records apply to every later entry: decode each value once and
        # share it (an 8 MiB global record and 200 entries once cost 200 copies)
        cached = shared.get(id(value)) if shared is not None else None
        if cached is not None and cached[0] is value and cached[1] is not _UNDECODED:
            decoded = cached[1]
        else:
            decoded = _xattr(key, value, where)
            if decoded is None and key not in _BROKEN_OUT:
                decoded = _decode(value)
            if cached is not None and cached[0] is value:  # a global record's value
                shared[id(value)] = (value, decoded)
        if isinstance(decoded, tuple):
            xattrs[decoded[0]] = decoded[1]
        elif decoded is not None and key not in _BROKEN_OUT:
            pax[key] = decoded
    fields = dict(
        path=path,
        type=kind,
        mode=mode,
        uid=uid,
        gid=gid,
        uname=sys.intern(_decode(uname)),
        gname=sys.intern(_decode(gname)),
        size=size,
        mtime=mtime,
        linkname=link if kind in ("hardlink", "symlink") else "",
        devmajor=devmajor,
        devminor=devminor,
        xattrs=MappingProxyType(dict(sorted(xattrs.items()))) if xattrs else _EMPTY,
        pax=MappingProxyType(dict(sorted(pax.items()))) if pax else _EMPTY,
        position=position,
    )
    return fields, (size if kind in ("file", "whiteout", "opaque") else 0)


def typeflag_is_old_dir(header: bytes, name: bytes) -> bool:
    """Pre-POSIX tars mark directories as regular files whose name ends in `/`."""
    return header[156:157] == b"\0" and name.endswith(b"/")
