"""The content step of a comparison: both sides' bytes of the files the findings name.

The differ reads each differing layer once. While it reads, every regular file is
offered here; a file the other side shows equal is let go at once, so what stays is the
files that differ (or are not paired yet). After the diff, `fetch_contents(result)`
keeps what the findings name and lets go of the rest. The explainer, `--diffoscope` and
`--report-dir` then read that `Contents`, never an image: no layer is read twice.

    result = diff_images(a, b, DiffOptions(keep_files=True))   # keep_files: for --report-dir
    with fetch_contents(result) as contents:                   # the images may be closed now
        findings = explain(result.findings, contents=contents.pair)
        extract(result, findings, contents, doc, "report-dir")

What is kept: files of at most `capture_limit` bytes (the explainer looks inside these),
in memory up to `budget` bytes in all and past that in a temporary directory. With
`keep_files` (--report-dir needs every file a finding names: of any size, and also where
only its metadata differs), larger files are spooled there too. Closing the Contents
removes the directory.

A layer reader talks to one `LayerCapture` (`ContentStore.layer(platform, index)`):
`offer(side, path, occurrence, entry, data)` for every regular file it reads, with
`spool(side)` as iter_entries' content_sink for the bytes of large files. A reader that
already knows which contents differ (comparing the two streams in step) calls `keep`
for those instead of `offer` for all.
"""

from __future__ import annotations

import io
import os
import tempfile
import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING, BinaryIO, Callable, Iterator, Mapping

from repro.diff.entries import compare_entry
from repro.diff.finding import Finding
from repro.errors import InputError
from repro.oci.model import Entry

if TYPE_CHECKING:
    from repro.diff.engine import DiffResult

CAPTURE_LIMIT = 4 << 20  # files up to 4 MiB are kept for the explainer
CAPTURE_BUDGET = 64 << 20  # ... and at most this much in memory in all

Side = int  # 0: image A, 1: image B


@dataclass(frozen=True)
class ContentKey:
    """Which file of a comparison: in layer `layer` of `platform`, the `occurrence`-th entry
    named `path`. `layer` None is the merged filesystem (layer counts differ): there the
    file is as the last layer that wrote it left it, and `occurrence` is 0."""

    platform: str
    layer: int | None
    path: str
    occurrence: int = 0

    @classmethod
    def of(cls, f: Finding) -> ContentKey | None:
        """The file a `kind=file` finding names (None for other findings)."""
        if f.kind != "file" or f.path is None or f.platform is None:
            return None
        if f.layer is None:
            return cls(f.platform, None, f.path, 0)
        return cls(f.platform, f.layer, f.path, int(f.detail.get("occurrence", 0)))


@dataclass
class Held:
    """One side's content of one file: in memory (`data`) or in a spool file."""

    entry: Entry
    layer: int  # the layer it was read from (merged view: the last layer that wrote it)
    data: bytes | None = None
    spooled: str | None = None

    @property
    def size(self) -> int:
        return self.entry.size

    def read(self) -> bytes:
        if self.data is not None:
            return self.data
        assert self.spooled is not None
        with open(self.spooled, "rb") as fh:
            return fh.read()

    def open(self) -> BinaryIO:
        if self.data is not None:
            return io.BytesIO(self.data)
        assert self.spooled is not None
        return open(self.spooled, "rb")


class ContentStore:
    """What the layer reads of one comparison offered (thread-safe: the two sides of a
    layer pair are read in two threads)."""

    def __init__(self, capture_limit: int = CAPTURE_LIMIT, *, keep_files: bool = False,
                 budget: int = CAPTURE_BUDGET) -> None:
        self.capture_limit = capture_limit
        self.keep_files = keep_files
        self._budget = budget
        self._used = 0
        self._lock = threading.RLock()  # _hold spills through new_spool_file
        self._seen: tuple[dict[ContentKey, Entry], dict[ContentKey, Entry]] = ({}, {})
        self._held: tuple[dict[ContentKey, Held], dict[ContentKey, Held]] = ({}, {})
        self._spool: tempfile.TemporaryDirectory[str] | None = None
        self._spooled = 0

    # -- during the diff --------------------------------------------------------------------

    def layer(self, platform: str, index: int | None) -> LayerCapture:
        """The capture for one layer pair (index None: a side's merged filesystem)."""
        return LayerCapture(self, platform, index)

    def same(self, a: Entry, b: Entry) -> bool:
        """Whether neither side of this pair of entries needs its content kept."""
        if self.keep_files:  # --report-dir extracts every file a finding names, content equal or not
            return not compare_entry(a, b, lambda *args, **kw: True)
        return a.digest == b.digest

    def offer(self, side: Side, key: ContentKey, entry: Entry, layer: int, data: bytes | None,
              spooled: str | None = None) -> None:
        """A file as read; kept until the other side shows it the same."""
        with self._lock:
            self._seen[side][key] = entry
            other = self._seen[1 - side].get(key)
            if other is not None and self.same(other, entry):
                self._drop(1 - side, key)
                self._remove(spooled)
                return
            self._hold(side, key, Held(entry, layer), data, spooled)

    def keep(self, side: Side, key: ContentKey, entry: Entry, layer: int, data: bytes | None,
             spooled: str | None = None) -> None:
        """A file as read, kept whatever the other side holds (its latest version, for a
        merged view; a content the reader knows to differ)."""
        with self._lock:
            self._drop(side, key)
            self._hold(side, key, Held(entry, layer), data, spooled)

    def settle(self, platform: str, final: tuple[Mapping[str, Entry], Mapping[str, Entry]]) -> None:
        """After both merged filesystems of `platform` are built: let go of what a later
        layer replaced or deleted, and of the files both sides end with the same."""
        with self._lock:
            for side in (0, 1):
                for key, held in list(self._held[side].items()):
                    if key.platform == platform and key.layer is None and final[side].get(key.path) is not held.entry:
                        self._drop(side, key)
            for key in [k for k in self._held[0] if k.platform == platform and k.layer is None]:
                ea, eb = final[0].get(key.path), final[1].get(key.path)
                if ea is not None and eb is not None and self.same(ea, eb):
                    self._drop(0, key)
                    self._drop(1, key)

    def room(self) -> int:
        """Bytes of the memory budget still free: what a reader may hold on the way here
        (lockstep's capture of one layer pair), so one budget bounds everything held."""
        with self._lock:
            return max(0, self._budget - self._used)

    def new_spool_file(self) -> BinaryIO:
        with self._lock:
            if self._spool is None:
                self._spool = tempfile.TemporaryDirectory(prefix="repro-contents-")
            self._spooled += 1
            name = os.path.join(self._spool.name, str(self._spooled))
        return open(name, "xb")

    def _hold(self, side: Side, key: ContentKey, held: Held, data: bytes | None, spooled: str | None) -> None:
        if data is not None and self._used + len(data) <= self._budget:
            held.data = data
            self._used += len(data)
        elif data is not None:
            held.spooled = self._spill(data)  # past the memory budget
        elif spooled is not None:
            held.spooled = spooled
        else:
            return  # over the capture limit (and not kept for --report-dir): the explainer never looks
        self._held[side][key] = held

    def _spill(self, data: bytes) -> str:
        try:
            with self.new_spool_file() as fh:
                fh.write(data)
                return fh.name
        except OSError as e:
            raise InputError(f"cannot keep a differing file in a temporary file: {e.strerror or e}") from None

    def _drop(self, side: Side, key: ContentKey) -> None:
        held = self._held[side].pop(key, None)
        if held is not None:
            if held.data is not None:
                self._used -= len(held.data)
            self._remove(held.spooled)

    @staticmethod
    def _remove(spooled: str | None) -> None:
        if spooled is not None:
            try:
                os.unlink(spooled)
            except OSError:
                pass

    # -- after the diff ---------------------------------------------------------------------

    def discard(self) -> None:
        """Let go of everything, spool files included (the diff failed)."""
        self.hand_over(set()).close()

    def hand_over(self, wanted: set[tuple[Side, ContentKey]]) -> Contents:
        """Hand over what `wanted` names; let go of everything else."""
        with self._lock:
            kept: dict[tuple[Side, ContentKey], Held] = {}
            for side in (0, 1):
                for key in list(self._held[side]):
                    if (side, key) in wanted:
                        kept[(side, key)] = self._held[side].pop(key)
                    else:
                        self._drop(side, key)
            self._seen[0].clear()
            self._seen[1].clear()
            spool, self._spool = self._spool, None
            self._used = 0
        return Contents(kept, self.capture_limit, spool)


class LayerCapture:
    """A ContentStore seen from one layer pair (or one side's merged filesystem)."""

    def __init__(self, store: ContentStore, platform: str, index: int | None) -> None:
        self.store = store
        self.platform = platform
        self.index = index

    @property
    def keeps_files(self) -> bool:
        """Every file a finding may name is wanted (--report-dir), not just differing content."""
        return self.store.keep_files

    def room(self) -> int:
        return self.store.room()

    def key(self, path: str, occurrence: int) -> ContentKey:
        return ContentKey(self.platform, self.index, path, occurrence if self.index is not None else 0)

    def offer(self, side: Side, path: str, occurrence: int, entry: Entry, layer: int, data: bytes | None,
              spooled: str | None = None) -> None:
        if self.index is None:  # a merged view: the latest write of a path counts
            self.store.keep(side, self.key(path, 0), entry, layer, data, spooled)
        else:
            self.store.offer(side, self.key(path, occurrence), entry, layer, data, spooled)

    def keep(self, side: Side, path: str, occurrence: int, entry: Entry, layer: int, data: bytes | None,
             spooled: str | None = None) -> None:
        self.store.keep(side, self.key(path, occurrence), entry, layer, data, spooled)

    def spool(self) -> Spooler | None:
        """iter_entries' content_sink for one side's read: files over the capture limit go
        to a spool file when every file is kept (None otherwise: nothing to spool)."""
        return Spooler(self.store) if self.store.keep_files else None


class Spooler:
    """Streams the content of each file over the capture limit to its own spool file;
    `take()` hands over the file of the entry just read."""

    def __init__(self, store: ContentStore) -> None:
        self._store = store
        self._pending: BinaryIO | None = None
        self._path = ""

    def __call__(self, path: str, size: int) -> Callable[[memoryview], None] | None:
        self.discard()
        if size <= self._store.capture_limit:
            return None
        try:
            fh = self._store.new_spool_file()
        except OSError as e:
            raise InputError(f"--report-dir: cannot keep {path!r} in a temporary file: {e.strerror or e}") from None
        self._pending, self._path = fh, path

        def write(piece: memoryview) -> None:
            try:
                fh.write(piece)
            except OSError as e:  # raised inside the layer reader: it must not look like a bad layer
                raise InputError(f"--report-dir: cannot keep {path!r} in a temporary file: "
                                 f"{e.strerror or e}") from None

        return write

    def take(self) -> str | None:
        fh, self._pending = self._pending, None
        if fh is None:
            return None
        try:
            fh.close()
        except OSError as e:
            raise InputError(f"--report-dir: cannot keep {self._path!r} in a temporary file: "
                             f"{e.strerror or e}") from None
        return fh.name

    def discard(self) -> None:
        """Forget a spool file no entry took (the read stopped, or the next file began)."""
        fh, self._pending = self._pending, None
        if fh is not None:
            fh.close()
            ContentStore._remove(fh.name)


class Contents:
    """Both sides' content of the files the findings name, as the diff captured them; no
    image is read from here on. Close it (or use it as a context manager) to remove the
    spool files."""

    def __init__(self, held: dict[tuple[Side, ContentKey], Held], capture_limit: int,
                 spool: tempfile.TemporaryDirectory[str] | None = None) -> None:
        self._held = held
        self._limit = capture_limit
        self._spool = spool

    def get(self, side: Side, key: ContentKey) -> Held | None:
        return self._held.get((side, key))

    def pair(self, f: Finding) -> tuple[bytes | None, bytes | None]:
        """Both sides' bytes of a `kind=file` finding, for the explainer: None for a side
        that is absent, not a regular file, or larger than the capture limit."""
        key = ContentKey.of(f)
        if key is None:
            return None, None
        out: list[bytes | None] = []
        for side in (0, 1):
            held = self._held.get((side, key))
            out.append(held.read() if held is not None and held.size <= self._limit else None)
        return out[0], out[1]

    def files(self) -> Iterator[tuple[Side, ContentKey, Held]]:
        """Every file held, in the order --report-dir writes them: side, platform, layer,
        then position in the layer."""
        order = sorted(self._held.items(), key=lambda kv: (kv[0][0], kv[0][1].platform, kv[1].layer,
                                                           kv[1].entry.position))
        for (side, key), held in order:
            yield side, key, held

    def close(self) -> None:
        self._held = {}
        if self._spool is not None:
            self._spool.cleanup()
            self._spool = None

    def __enter__(self) -> Contents:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def wanted_keys(findings: tuple[Finding, ...], keep_files: bool) -> set[tuple[Side, ContentKey]]:
    """What the findings need: both sides of every content finding (the explainer's
    looks); with keep_files, every side of every file finding on which the file exists
    (--report-dir)."""
    out: set[tuple[Side, ContentKey]] = set()
    for f in findings:
        key = ContentKey.of(f)
        if key is None or not (keep_files or f.field == "content"):
            continue
        for side, present in ((0, f.a), (1, f.b)):
            if f.field == "presence" and not present:
                continue
            out.add((side, key))
    return out


def fetch_contents(result: DiffResult) -> Contents:
    """The content step, after the diff: what the findings of `result` need, from what its
    layer reads captured (no image is read). Call it once per result; close what it returns."""
    store = result.contents
    return store.hand_over(wanted_keys(result.findings, store.keep_files))
