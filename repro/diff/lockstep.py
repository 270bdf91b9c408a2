"""Read the two sides of a differing layer pair at once and compare them in step.

A rebuild writes its layers in the same order nearly always, so the two tar streams can
be walked side by side: two regular files at the same place with the same path and size
are compared byte for byte as they stream past, and kept only when they differ. Neither
is hashed when they are equal: a per-file sha256 of every file of both layers cost as
much as the diffID hash itself. Whatever is out of step (a file only one side has, a
different order) is hashed (sha256) and paired by (path, occurrence) when its
counterpart shows up, so the result does not depend on the order; only a cryptographic
hash or the bytes themselves ever decide that two files are equal.

Each side is read by a thread of its own (blob sha256, inflate, diffID sha256: hashlib
and the inflaters release the GIL), which hands 1 MiB chunks to the comparing thread
through a short queue. Reading to the end of both streams verifies both blobs and both
diffIDs, as a single read would.
"""

from __future__ import annotations

import hashlib
import queue
import threading
from dataclasses import dataclass, field
from typing import Any, BinaryIO, Callable, ContextManager, Iterator

from repro.diff.entries import Key
from repro.oci.layer_index import CHUNK, TarCursor, make_entry
from repro.oci.model import Entry

CAPTURE_BUDGET = 64 << 20  # bytes of differing (or not yet paired) small files kept, both sides together
DEPTH = 4  # chunks read ahead per side

Opener = Callable[[], ContextManager[BinaryIO]]


@dataclass
class PairIndex:
    """Both sides' entries (stream order) and the bytes of the small files that differ."""

    entries_a: list[Entry]
    entries_b: list[Entry]
    # (path, occurrence) -> (A's bytes, B's bytes) of regular files whose content differs,
    # None for a side over capture_limit (or past the budget)
    contents: dict[Key, tuple[bytes | None, bytes | None]] = field(default_factory=dict)

    # (path, occurrence) of each key of `contents` -> its entry's index in entries_a, entries_b
    positions: dict[Key, tuple[int, int]] = field(default_factory=dict)

    def differ(self, key: Key, index_a: int, index_b: int, data_a: bytes | None, data_b: bytes | None) -> None:
        self.contents[key] = (data_a, data_b)
        self.positions[key] = (index_a, index_b)


_END = object()


class _Feed:
    """One side's uncompressed layer stream, read ahead by a thread in CHUNK pieces.

    The thread stays inside `opener()` until the comparison is over, so that an error the
    comparing thread finds in this side's tar can be raised in there and named the way
    the image names its own errors (which image, which layer)."""

    def __init__(self, opener: Opener, name: str) -> None:
        self._opener = opener
        self._chunks: queue.Queue = queue.Queue(maxsize=DEPTH)
        self._verdict: queue.Queue = queue.Queue(maxsize=1)
        self._stop = threading.Event()
        self._ended = False
        self.outcome: BaseException | None = None  # what the thread raised, labelled
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            with self._opener() as stream:
                while not self._stop.is_set():
                    data = stream.read(CHUNK)
                    if not data:
                        break
                    self._put(data)
                self._put(_END)
                problem = self._verdict.get()
                if problem is not None:
                    raise problem
        except BaseException as e:  # noqa: BLE001 - handed to the comparing thread
            self.outcome = e
            self._put(e)

    def _put(self, item: Any) -> None:
        while not self._stop.is_set():
            try:
                self._chunks.put(item, timeout=0.05)
                return
            except queue.Full:
                continue

    def read(self) -> bytes:
        """The next chunk; b"" at the end; raises what the reading thread raised."""
        if self._ended:
            return b""
        item = self._chunks.get()
        if item is _END:
            self._ended = True
            return b""
        if isinstance(item, BaseException):
            self._ended = True
            raise item
        return item

    def finish(self, problem: BaseException | None) -> BaseException | None:
        """End the reading thread: with `problem` (an error found in this side's tar),
        have it raised inside the image's open_layer (the rest of the layer is not read);
        return what the thread ended with."""
        if problem is not None:
            self._stop.set()
        self._verdict.put(problem)
        while self._thread.is_alive():
            try:  # let a thread blocked on a full queue reach the verdict
                self._chunks.get(timeout=0.05)
            except queue.Empty:
                pass
        return self.outcome

    def stop(self) -> None:
        self._stop.set()
        try:
            self._verdict.put_nowait(None)
        except queue.Full:
            pass
        while self._thread.is_alive():
            try:
                self._chunks.get(timeout=0.05)
            except queue.Empty:
                pass


class _Side:
    """One side's cursor, entries and bookkeeping. Every read of the cursor goes through
    a method here that marks the side when it fails, so the error is blamed on the
    right image."""

    def __init__(self, feed: _Feed, max_entries: int) -> None:
        self.feed = feed
        self.cursor = TarCursor(feed.read, max_entries)
        self.entries: list[Entry] = []
        self.file_bytes = 0
        self.seen: dict[str, int] = {}
        self.pending: dict[Key, tuple[int, bytes | None]] = {}  # out of step: entry index, kept bytes
        self.head: tuple[dict[str, Any], int] | None = None
        self.key: Key | None = None
        self.failed = False

    def advance(self) -> None:
        try:
            self.head = self.cursor.next()
        except BaseException:
            self.failed = True
            raise
        self._keyed()

    def advance_with(self, leader: _Side) -> None:
        """Advance both sides: `leader` parses its next header; this side takes the same
        fields without parsing when its header bytes are the same (TarCursor.next_same:
        then the two heads may be one dict), else parses its own."""
        mark = leader.cursor.mark()
        leader.advance()
        if leader.head is not None:
            try:
                self.head = self.cursor.next_same(leader.cursor, mark, leader.head)
            except BaseException:
                self.failed = True
                raise
            if self.head is not None:
                self._keyed()
                return
        self.advance()

    def _keyed(self) -> None:
        if self.head is None:
            self.key = None
            return
        path = self.head[0]["path"]
        n = self.seen.get(path, 0)
        self.seen[path] = n + 1
        self.key = (path, n)

    def span(self, n: int) -> tuple[bytes, int] | None:
        try:
            return self.cursor.span(n)
        except BaseException:
            self.failed = True
            raise

    def data(self, n: int) -> list[memoryview]:
        try:
            return self.cursor.data(n)
        except BaseException:
            self.failed = True
            raise

    def skip(self, n: int) -> None:
        try:
            self.cursor.skip(n)
        except BaseException:
            self.failed = True
            raise

    def spans(self, n: int) -> Iterator[tuple[bytes, int, int]]:
        try:
            yield from self.cursor.iter_spans(n)
        except BaseException:
            self.failed = True
            raise

    def add(self, fields: dict[str, Any], digest: str | None) -> int:
        fields["digest"] = digest
        if fields["type"] == "file":
            self.file_bytes += fields["size"]
        self.entries.append(make_entry(fields))
        return len(self.entries) - 1

    def share(self, entry: Entry) -> None:
        """Take the other side's entry (same header bytes, same content) as this side's."""
        if entry.type == "file":
            self.file_bytes += entry.size
        self.entries.append(entry)

    def read_file(self, size: int, hold: int, capture_limit: int) -> tuple[str, bytes | None]:
        """sha256 of the current file, and its bytes if at most capture_limit."""
        h = hashlib.sha256()
        if size <= hold:
            pieces = self.data(size)
            for piece in pieces:
                h.update(piece)
            return "sha256:" + h.hexdigest(), (b"".join(pieces) if size <= capture_limit else None)
        for chunk, start, k in self.spans(size):
            h.update(memoryview(chunk)[start : start + k])
        return "sha256:" + h.hexdigest(), None


def _walk_order(path: str) -> list[str]:
    """Sort key of the order layer writers walk a tree in (component by component:
    `a`, `a/b`, `a-c`; a plain string sort would put `a-c` before `a/b`)."""
    return path.split("/")


class _Budget:
    def __init__(self, limit: int) -> None:
        self.left = limit

    def keep(self, data: bytes | None) -> bytes | None:
        if data is None or len(data) > self.left:
            return None
        self.left -= len(data)
        return data

    def release(self, data: bytes | None) -> None:
        if data is not None:
            self.left += len(data)


def _compare_large(a: _Side, b: _Side, size: int) -> tuple[str, str]:
    """Digests of two large files of one size, read in step: one sha256 over the prefix
    they share (the same bytes on both sides), forked at the first difference."""
    ia, ib = a.spans(size), b.spans(size)
    shared = hashlib.sha256()
    ha = hb = None
    ca = cb = b""
    sa = sb = la = lb = 0  # current piece of each side: chunk, start, length left
    left = size
    while left:
        if not la:
            ca, sa, la = next(ia)
        if not lb:
            cb, sb, lb = next(ib)
        k = min(la, lb)
        xb = memoryview(cb)[sb : sb + k]
        if ha is None:
            if ca.startswith(xb, sa):
                shared.update(xb)
            else:
                ha, hb = shared.copy(), shared
                ha.update(memoryview(ca)[sa : sa + k])
                hb.update(xb)
        else:
            ha.update(memoryview(ca)[sa : sa + k])
            hb.update(xb)  # type: ignore[union-attr]
        sa, la, sb, lb = sa + k, la - k, sb + k, lb - k
        left -= k
    for rest in (ia, ib):  # run each to its end: that skips the padding
        for _ in rest:
            pass
    if ha is None:
        digest = "sha256:" + shared.hexdigest()
        return digest, digest
    return "sha256:" + ha.hexdigest(), "sha256:" + hb.hexdigest()  # type: ignore[union-attr]


def index_pair(open_a: Opener, open_b: Opener, *, capture_limit: int, max_entries: int,
               budget: int = CAPTURE_BUDGET, on_entries: Callable[[int, int], None] | None = None,
               ) -> PairIndex:
    """Read both layers to their end, in step; see the module's doc. `on_entries(entries,
    bytes)` is called now and then with how many entries (and file bytes) were indexed
    since its last call, both sides together."""
    a = _Side(_Feed(open_a, "layer-a"), max_entries)
    b = _Side(_Feed(open_b, "layer-b"), max_entries)
    keep = _Budget(budget)
    hold = max(capture_limit, CHUNK)
    found = PairIndex(a.entries, b.entries)
    told = [0, 0]

    def report() -> None:
        n, nbytes = len(a.entries) + len(b.entries), a.file_bytes + b.file_bytes
        if on_entries is not None and n > told[0]:
            on_entries(n - told[0], nbytes - told[1])
            told[:] = [n, nbytes]

    try:
        b.advance_with(a)
        while a.head is not None or b.head is not None:
            if a.key is not None and a.key == b.key:
                _aligned(a, b, hold, capture_limit, keep, found)
                b.advance_with(a)
                if len(a.entries) & 255 == 0:
                    report()
            elif b.key is None or (a.key is not None and _walk_order(a.key[0]) <= _walk_order(b.key[0])):
                _out_of_step(a, b, True, hold, capture_limit, keep, found)
                a.advance()
            else:
                _out_of_step(b, a, False, hold, capture_limit, keep, found)
                b.advance()
    except Exception as e:
        failed, other = (a, b) if a.failed or not b.failed else (b, a)
        other.feed.stop()
        problem = failed.cursor.translate(e)
        raise failed.feed.finish(problem) or problem from None
    except BaseException:
        a.feed.stop()
        b.feed.stop()
        raise
    for side, other in ((a, b), (b, a)):
        problem = side.feed.finish(None)
        if problem is not None:
            other.feed.stop()
            raise problem
    report()
    return found


def _aligned(a: _Side, b: _Side, hold: int, capture_limit: int, keep: _Budget,
             found: PairIndex) -> None:
    """The two current entries have the same (path, occurrence): compare their content."""
    (fa, na), (fb, nb) = a.head, b.head  # type: ignore[misc]
    key: Key = a.key  # type: ignore[assignment]
    same = fb is fa  # the same header bytes (TarCursor.next_same): one Entry serves both if the content is equal
    if same and fa["type"] != "file":
        a.skip(na)
        b.skip(nb)
        b.share(a.entries[a.add(fa, None)])
        return
    if fa["type"] != "file" or fb["type"] != "file":
        # not two regular files: no content to compare (a type change is its own finding)
        for side, f, n in ((a, fa, na), (b, fb, nb)):
            if f["type"] == "file":
                side.add(f, side.read_file(n, hold, capture_limit)[0])
            else:
                side.skip(n)
                side.add(f, None)
        return
    if na != nb:  # a different size is different content
        da, xa = a.read_file(na, hold, capture_limit)
        db, xb = b.read_file(nb, hold, capture_limit)
        found.differ(key, a.add(fa, da), b.add(fb, db), keep.keep(xa), keep.keep(xb))
        return
    if na > hold:
        if same:  # the digests may differ: each side its own fields
            fb = dict(fa)
        da, db = _compare_large(a, b, na)
        ia, ib = a.add(fa, da), b.add(fb, db)
        if da != db:
            found.differ(key, ia, ib, None, None)
        return
    sa = a.span(na)
    sb = b.span(nb) if sa is not None else None
    if sa is not None and sb is not None:
        view_b = memoryview(sb[0])[sb[1] : sb[1] + nb]
        if sa[0].startswith(view_b, sa[1]):
            _equal(a, b, fa, fb, same)  # byte for byte equal: neither side needs a digest
            return
        pa, pb = [memoryview(sa[0])[sa[1] : sa[1] + na]], [view_b]
    else:  # a file across a chunk boundary (one in a few dozen)
        pa = [memoryview(sa[0])[sa[1] : sa[1] + na]] if sa is not None else a.data(na)
        pb = b.data(nb)
        if b"".join(pa) == b"".join(pb):
            _equal(a, b, fa, fb, same)
            return
    if same:
        fb = dict(fa)
    da, db = hashlib.sha256(), hashlib.sha256()
    for piece in pa:
        da.update(piece)
    for piece in pb:
        db.update(piece)
    found.differ(key, a.add(fa, "sha256:" + da.hexdigest()), b.add(fb, "sha256:" + db.hexdigest()),
                 keep.keep(b"".join(pa) if na <= capture_limit else None),
                 keep.keep(b"".join(pb) if nb <= capture_limit else None))


def _equal(a: _Side, b: _Side, fa: dict[str, Any], fb: dict[str, Any], same: bool) -> None:
    """Two aligned files with equal content: no digest on either side; one Entry for
    both when their headers were the same bytes."""
    index = a.add(fa, None)
    if same:
        b.share(a.entries[index])
    else:
        b.add(fb, None)


def _out_of_step(side: _Side, other: _Side, side_is_a: bool, hold: int, capture_limit: int, keep: _Budget,
                 found: PairIndex) -> None:
    """The current entry of `side` has no counterpart at the other side's current place:
    hash it, and pair it with the other side's entry of that key if one was seen."""
    fields, n = side.head  # type: ignore[misc]
    key: Key = side.key  # type: ignore[assignment]
    data = None
    if fields["type"] == "file":
        digest, data = side.read_file(n, hold, capture_limit)
        index = side.add(fields, digest)
    else:
        side.skip(n)
        index = side.add(fields, None)
    match = other.pending.pop(key, None)
    if match is None:
        side.pending[key] = (index, keep.keep(data))
        return
    other_index, other_data = match
    mine, theirs = side.entries[index], other.entries[other_index]
    if mine.type == "file" and theirs.type == "file" and mine.digest != theirs.digest:
        data = keep.keep(data)
        if side_is_a:
            found.differ(key, index, other_index, data, other_data)
        else:
            found.differ(key, other_index, index, other_data, data)
    else:
        keep.release(other_data)
