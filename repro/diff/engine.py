"""Compare two opened images into a flat list of Findings.

The walk mirrors the image's own tree: index → manifests (paired by platform) →
config (key by key) → layers (paired by position; equal diffIDs are never
decompressed) → entries (paired by path). When layer counts differ, the merged
filesystems (whiteouts applied) are compared instead, and the result says so.

Findings are leaves: a digest difference is only reported when nothing below it
explains it. The two sides of a differing layer are read in two threads (hashlib and
zlib release the GIL), and small differing files are kept in memory for the explainer
through a shared board, so a layer is read once in the common case.
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Mapping

from repro.diff.documents import (IndexView, compare_annotations, compare_config, compare_indexes,
                                  compare_top_level)
from repro.diff.entries import Key, compare_entries, keyed, order_difference
from repro.diff.filesystem import MergedFS
from repro.diff.finding import Finding
from repro.diff.lockstep import index_pair
from repro.diff.policy import Policy
from repro.errors import InputError
from repro.oci.layer_index import iter_entries
from repro.oci.model import Entry, Image, LayerRef, ManifestImage, Platform

CAPTURE_LIMIT = 4 << 20  # keep files up to 4 MiB for the explainer
CAPTURE_BUDGET = 64 << 20  # ... and at most this much in all


@dataclass(frozen=True)
class LayerPair:
    index: int
    instruction: str | None
    a: LayerRef | None
    b: LayerRef | None
    status: str  # equal | compression | differs | only-a | only-b | not-compared


@dataclass(frozen=True)
class PlatformResult:
    platform: str
    role: str  # image | attestation
    a: ManifestImage | None
    b: ManifestImage | None
    layers: tuple[LayerPair, ...] = ()
    merged: bool = False  # layer counts differed: merged filesystems were compared

    @property
    def equal(self) -> bool:
        return self.a is not None and self.b is not None and self.a.descriptor.digest == self.b.descriptor.digest


@dataclass(frozen=True)
class DiffResult:
    a: Image
    b: Image
    findings: tuple[Finding, ...]  # what counts
    ignored: tuple[tuple[Finding, str], ...]  # (finding, reason) set aside by the policy
    platforms: tuple[PlatformResult, ...]
    policy: Policy
    contents: "ContentStore" = field(repr=False, compare=False)

    @property
    def reproducible(self) -> bool:
        return not self.findings


@dataclass(frozen=True)
class DiffOptions:
    platform: Platform | None = None
    policy: Policy = Policy()
    capture_limit: int = CAPTURE_LIMIT
    max_entries: int = 300_000  # per layer (Limits.max_entries_per_layer)
    # Hash the layer blobs the comparison did not need to read (equal digests): a verdict
    # is then only ever given on checked bytes. Off (--trust-equal-digests), identical
    # images compare in constant time whatever their size, and a corrupted copy of a
    # shared blob goes unnoticed.
    verify_unread: bool = True
    on_layer: Callable[[str], None] | None = None  # progress hook: called with a description
    on_entries: Callable[[int, int], None] | None = None  # progress hook: (entries, bytes) indexed since last call


# ---------------------------------------------------------------------------------------
# Content of differing files, for the explainer and --report-dir


class ContentStore:
    """Both sides' bytes of small files, keyed per side by (layer index, path, occurrence).

    While two layers are read in parallel, each side offers the bytes of every small
    regular file; bytes are kept only while the other side has not yet shown the same
    digest for the same key, so memory holds just the differing (or not yet paired)
    files. Misses are served later by re-reading the layer once.
    """

    def __init__(self, images: tuple[Image, Image], capture_limit: int, budget: int = CAPTURE_BUDGET,
                 max_entries: int = 300_000):
        self._images = images
        self._limit = capture_limit
        self._max_entries = max_entries
        self._budget = budget
        self._used = 0
        self._lock = threading.Lock()
        self._digests: tuple[dict, dict] = ({}, {})
        self._kept: tuple[dict, dict] = ({}, {})
        self._reread: set[tuple[int, str, Any]] = set()
        self._too_big: tuple[set, set] = (set(), set())  # offered without bytes: over capture_limit

    def offer(self, side: int, lkey: Any, key: Key, digest: str | None, data: bytes | None) -> None:
        k = (lkey, key)
        other = 1 - side
        with self._lock:
            if data is None:
                self._too_big[side].add(k)
            # a digest waits only until the other side shows the same key: memory holds
            # the keys one reader is ahead by, not every file of both layers
            od = self._digests[other].pop(k, _UNSEEN)
            if od is _UNSEEN:
                self._digests[side][k] = digest
                if data is not None and self._used + len(data) <= self._budget:
                    self._kept[side][k] = data
                    self._used += len(data)
            elif od == digest:
                dropped = self._kept[other].pop(k, None)
                if dropped is not None:
                    self._used -= len(dropped)
            elif data is not None and self._used + len(data) <= self._budget:
                self._kept[side][k] = data
                self._used += len(data)

    def get(self, side: int, lkey: Any, key: Key, layer: LayerRef | None, image_side: Image | None = None) -> bytes | None:
        k = (lkey, key)
        data = self._kept[side].get(k)
        if data is not None or layer is None:
            return data
        if k in self._too_big[side]:
            return None  # a re-read would not capture it either: never decompress a layer for nothing
        # Re-read the layer once, capturing every still-missing small file of it.
        marker = (side, layer.descriptor.digest, lkey)
        if marker in self._reread:
            return None
        self._reread.add(marker)
        image = image_side or self._images[side]
        try:
            with image.open_layer(layer) as stream:
                for e, d in _keyed_stream(iter_entries(stream, capture_limit=self._limit, max_entries=self._max_entries)):
                    if d is None:
                        continue
                    # occurrence -1: the last write of a path (merged views); every key
                    # counts against the budget (these once bypassed it: 120 differing
                    # 4 MiB files held 1 GB)
                    for ek in ((lkey, e[0]), (lkey, (e[0][0], -1))):
                        old = self._kept[side].get(ek)
                        if ek[1][1] != -1 and old is not None:
                            continue
                        grow = len(d) - (len(old) if old is not None else 0)
                        if self._used + grow <= self._budget:
                            self._kept[side][ek] = d
                            self._used += grow
        except Exception:  # a look-up for explanation never fails the comparison
            return None
        return self._kept[side].get(k)


_UNSEEN = object()


def _keyed_stream(stream: Iterable[tuple[Entry, bytes | None]]) -> Iterable[tuple[tuple[Key, Entry], bytes | None]]:
    seen: dict[str, int] = {}
    for e, data in stream:
        n = seen.get(e.path, 0)
        seen[e.path] = n + 1
        yield ((e.path, n), e), data


# ---------------------------------------------------------------------------------------


def _platform_key(m: ManifestImage, by_digest: dict[str, ManifestImage]) -> tuple[str, str]:
    if m.is_attestation:
        target = by_digest.get(m.attests or m.descriptor.annotations.get("vnd.docker.reference.digest", ""))
        plat = str(target.platform) if target is not None and target.platform else "unknown"
        return plat, "attestation"
    return (str(m.platform) if m.platform else "unknown"), "image"


def _pair_manifests(a: Image, b: Image) -> list[tuple[tuple[str, str], ManifestImage | None, ManifestImage | None]]:
    def table(img: Image) -> dict[tuple[str, str], ManifestImage]:
        by_digest = {m.descriptor.digest: m for m in img.manifests}
        out: dict[tuple[str, str], ManifestImage] = {}
        for m in img.manifests:
            plat, role = _platform_key(m, by_digest)
            key = (plat, role)
            n = 1
            while key in out:  # two manifests for one platform: pair them in order
                n += 1
                key = (f"{plat}#{n}", role)
            out[key] = m
        return out

    ta, tb = table(a), table(b)
    keys = list(ta) + [k for k in tb if k not in ta]
    keys.sort(key=lambda k: (k[0], k[1] != "image"))
    return [(k, ta.get(k), tb.get(k)) for k in keys]


def diff_images(a: Image, b: Image, options: DiffOptions = DiffOptions()) -> DiffResult:
    """Compare image A with image B. Pure apart from reading blobs through the images."""
    contents = ContentStore((a, b), options.capture_limit, max_entries=options.max_entries)
    findings: list[Finding] = []
    platforms: list[PlatformResult] = []

    pairs = _pair_manifests(a, b)
    if options.platform is not None:
        want = str(options.platform)
        for side, img in (("A", a), ("B", b)):
            have = sorted({k[0] for k, ma, mb in pairs if (ma if side == "A" else mb) is not None and k[1] == "image"})
            if want not in have:
                raise InputError(f"platform {want} is not in image {side} ({img.ref}); it has: {', '.join(have) or 'none'}")
        pairs = [p for p in pairs if p[0][0] == want]

    # Above the manifests: the tree of indexes, entry by entry (platforms, annotations,
    # urls, artifactType, subject, order, entries of other media types).
    want = str(options.platform) if options.platform is not None else None
    if a.index is not None and b.index is not None:
        for plat, fld, va, vb, det in compare_indexes(_index_view(a), _index_view(b), want):
            # above the manifests: reported with the index (the platform's own section may
            # well say "identical"), the entry's platform kept in the detail
            findings.append(Finding("index", fld, a=va, b=vb, detail={**det, **({"platform": plat} if plat else {})}))
    elif (a.index is None) != (b.index is None) and want is None:
        # What a push with attestations makes of one image is an index around the image
        # manifest and its attestations: the attestations' presence findings say it all.
        if not _wraps_attestations_only(a if a.index is not None else b):
            findings.append(Finding("index", "presence", a=a.index is not None, b=b.index is not None,
                                    detail={"note": "one image is an index, the other a single manifest"}))

    for (plat, role), ma, mb in pairs:
        if ma is None or mb is None:
            findings.append(Finding("index", "presence", platform=plat, a=ma is not None, b=mb is not None,
                                    detail={"role": role, "digest": (ma or mb).descriptor.digest}))  # type: ignore[union-attr]
            platforms.append(PlatformResult(plat, role, ma, mb))
            continue
        if ma.descriptor.digest == mb.descriptor.digest:
            platforms.append(PlatformResult(plat, role, ma, mb,
                                            layers=tuple(LayerPair(l.index, l.instruction, l, l, "equal") for l in ma.layers)))
            if role == "image":
                _compare_descriptor_annotations(a, b, ma, mb, plat, findings)
            continue
        if role == "attestation":
            # Provenance holds build times and a random invocation id by design: reported
            # apart, never opened.
            findings.append(Finding("manifest", "digest", platform=plat, a=ma.descriptor.digest,
                                    b=mb.descriptor.digest, detail={"role": "attestation"}))
            platforms.append(PlatformResult(plat, role, ma, mb))
            continue
        _compare_descriptor_annotations(a, b, ma, mb, plat, findings)
        platforms.append(_compare_manifest(a, b, ma, mb, plat, options, contents, findings))

    if want is None and a.digest != b.digest and not findings:
        # Different bytes and nothing above found to say why: the documents are equal key
        # by key (formatting, key order). Never "identical" for two different digests.
        findings.append(Finding("index", "digest", a=a.digest, b=b.digest,
                                detail={"note": "the documents are equal key by key; their bytes differ",
                                        "formatting": True}))

    if options.verify_unread:
        _verify_unread(a, b, platforms)

    kept: list[Finding] = []
    ignored: list[tuple[Finding, str]] = []
    for f in findings:
        why = options.policy.reason(f)
        if why is None:
            kept.append(f)
        else:
            ignored.append((f, why))
    return DiffResult(a, b, tuple(kept), tuple(ignored), tuple(platforms), options.policy, contents)


def _verify_unread(a: Image, b: Image, platforms: list[PlatformResult]) -> None:
    """Hash every compared layer blob the comparison did not read (equal digests,
    compression-only differences, attestations), two at a time. Equal digests say the
    images *claim* the same bytes; a verdict is only given on bytes that were checked, so
    a corrupted copy is an IntegrityError (exit 2), never "reproducible"."""
    read: tuple[set[str], set[str]] = (set(), set())
    for p in platforms:
        for pair in p.layers:
            if pair.status in ("differs", "not-compared"):
                for side, ref in ((0, pair.a), (1, pair.b)):
                    if ref is not None:
                        read[side].add(ref.descriptor.digest)
    todo: list[tuple[Image, LayerRef]] = []
    for side, image in ((0, a), (1, b)):
        for p in platforms:
            m = p.a if side == 0 else p.b
            for layer in m.layers if m is not None else ():
                if layer.descriptor.digest not in read[side]:
                    read[side].add(layer.descriptor.digest)
                    todo.append((image, layer))
    if todo:
        with ThreadPoolExecutor(max_workers=2) as pool:
            for _ in pool.map(lambda job: job[0].verify_blob(job[1]), todo):
                pass


def _wraps_attestations_only(img: Image) -> bool:
    """The index holds one image manifest, at least one attestation, and nothing else."""
    index = img.index or {}
    if set(index) - {"schemaVersion", "mediaType", "manifests"}:
        return False
    roles = {m.descriptor.digest: m.is_attestation for m in img.manifests}
    entries = index.get("manifests") or ()
    kinds = [roles.get(e.get("digest")) if isinstance(e, Mapping) else None for e in entries]
    return kinds.count(False) == 1 and kinds.count(True) >= 1 and None not in kinds


def _index_view(img: Image) -> IndexView:
    return IndexView(img.index, getattr(img, "indexes", {}) or {},
                     {m.descriptor.digest: (m.attests, str(m.platform) if m.platform else None) for m in img.manifests})


def _compare_descriptor_annotations(a: Image, b: Image, ma: ManifestImage, mb: ManifestImage, plat: str,
                                    out: list[Finding]) -> None:
    """Annotations of a manifest's descriptor where no index lists it (an OCI layout's
    index.json entry); the entries of an index are compared by compare_indexes."""
    if a.index is not None and b.index is not None:
        return
    if _unlisted(a, ma) or _unlisted(b, mb):
        return
    for fld, va, vb, det in compare_annotations(ma.descriptor.annotations, mb.descriptor.annotations, where="descriptor"):
        out.append(Finding("index", fld, platform=plat, a=va, b=vb, detail=det))


def _unlisted(img: Image, m: ManifestImage) -> bool:
    """A registry's top-level manifest is fetched by name: no index lists it, so it has no
    descriptor annotations to compare (an OCI layout's index.json entry has its own)."""
    return img.kind == "docker" and m.descriptor.digest == img.digest


def _compare_manifest(ia: Image, ib: Image, ma: ManifestImage, mb: ManifestImage, plat: str,
                      options: DiffOptions, contents: ContentStore, out: list[Finding]) -> PlatformResult:
    start = len(out)
    for fld, va, vb, det in compare_top_level(ma.manifest, mb.manifest, skip={"config", "layers", "annotations"}):
        out.append(Finding("manifest", fld, platform=plat, a=va, b=vb, detail=det))
    for fld, va, vb, det in compare_annotations(ma.manifest.get("annotations"), mb.manifest.get("annotations")):
        out.append(Finding("manifest", fld, platform=plat, a=va, b=vb, detail=det))

    ca, cb = ma.config_descriptor, mb.config_descriptor
    if ca.media_type != cb.media_type:
        out.append(Finding("config", "media_type", platform=plat, a=ca.media_type, b=cb.media_type))
    if ca.digest != cb.digest:
        before = len(out)
        for fld, va, vb, det in compare_config(ma.config, mb.config):
            out.append(Finding("config", fld, platform=plat, a=va, b=vb, detail=det))
        config_explained = len(out) > before
    else:
        config_explained = True

    layer_start = len(out)
    if len(ma.layers) == len(mb.layers):
        pairs = tuple(_compare_layer(ia, ib, la, lb, plat, options, contents, out) for la, lb in zip(ma.layers, mb.layers))
        merged = False
    else:
        pairs = _compare_merged(ia, ib, ma, mb, plat, options, out)
        merged = True
    layers_explained = len(out) > layer_start
    if not config_explained and not layers_explained:
        # Same JSON, same layers, different bytes: formatting or key order.
        out.append(Finding("config", "digest", platform=plat, a=ca.digest, b=cb.digest,
                           detail={"note": "config JSON is equal key by key; its bytes differ"}))
    if len(out) == start:
        out.append(Finding("manifest", "digest", platform=plat, a=ma.descriptor.digest, b=mb.descriptor.digest,
                           detail={"note": "manifest JSON is equal key by key; its bytes differ"}))
    return PlatformResult(plat, "image", ma, mb, pairs, merged)


def _compare_layer(ia: Image, ib: Image, la: LayerRef, lb: LayerRef, plat: str, options: DiffOptions,
                   contents: ContentStore, out: list[Finding]) -> LayerPair:
    instr = la.instruction if la.instruction == lb.instruction or lb.instruction is None else (la.instruction or lb.instruction)
    da, db = la.descriptor, lb.descriptor

    def layer_finding(fld: str, va: Any, vb: Any, **detail: Any) -> Finding:
        return Finding("layer", fld, platform=plat, layer=la.index, instruction=instr, a=va, b=vb, detail=detail)

    for fld, va, vb, det in compare_annotations(da.annotations, db.annotations):
        out.append(layer_finding(fld, va, vb, **det))
    if la.diff_id == lb.diff_id:
        if da.digest == db.digest:
            if da.media_type != db.media_type:
                out.append(layer_finding("media_type", da.media_type, db.media_type))
            return LayerPair(la.index, instr, la, lb, "equal")
        # Same uncompressed tar, different blob: never decompressed.
        out.append(layer_finding("compression", da.digest, db.digest, media_type_a=da.media_type,
                                 media_type_b=db.media_type, size_a=da.size, size_b=db.size, diff_id=la.diff_id))
        return LayerPair(la.index, instr, la, lb, "compression")

    if options.on_layer:
        options.on_layer(f"{plat} layer {la.index}")
    lkey = ("layer", plat, la.index)
    entries_a, entries_b = _index_both(ia, ib, la, lb, lkey, options, contents)
    ka, kb = keyed(entries_a), keyed(entries_b)
    before = len(out)

    def make_file(path: str, fld: str, va: Any, vb: Any, entry_a: Entry | None = None,
                  entry_b: Entry | None = None, **detail: Any) -> Finding:
        return Finding("file", fld, platform=plat, layer=la.index, instruction=instr, path=path, a=va, b=vb,
                       detail=detail)

    out.extend(compare_entries(ka, kb, make_file))
    order = order_difference(ka, kb)
    if order is not None:
        out.append(layer_finding("order", order["path_a"], order["path_b"], **order))
    if len(out) == before:
        out.append(layer_finding("diff_id", la.diff_id, lb.diff_id, digest_a=da.digest, digest_b=db.digest,
                                 note="every entry is equal; the tar streams differ in headers or padding"))
    if da.media_type != db.media_type:
        out.append(layer_finding("media_type", da.media_type, db.media_type))
    return LayerPair(la.index, instr, la, lb, "differs")


def _index_both(ia: Image, ib: Image, la: LayerRef, lb: LayerRef, lkey: Any, options: DiffOptions,
                contents: ContentStore) -> tuple[list[Entry], list[Entry]]:
    """Both layers read at once and compared in step (repro/diff/lockstep.py); the small
    files that differ are offered to the content store for the explainer."""
    pair = index_pair(lambda: ia.open_layer(la), lambda: ib.open_layer(lb), capture_limit=options.capture_limit,
                      max_entries=options.max_entries, on_entries=options.on_entries)
    for key, data in pair.contents.items():
        for side, (entries, i) in enumerate(zip((pair.entries_a, pair.entries_b), pair.positions[key])):
            # bytes left out for the budget (not for size) are fetched again if asked for
            if data[side] is not None or entries[i].size > options.capture_limit:
                contents.offer(side, lkey, key, entries[i].digest, data[side])
    return pair.entries_a, pair.entries_b


def _merged(image: Image, m: ManifestImage, max_entries: int) -> MergedFS:
    fs = MergedFS()
    for layer in m.layers:
        with image.open_layer(layer) as stream:
            fs.apply(layer.index, [e for e, _ in iter_entries(stream, max_entries=max_entries)])
    return fs


def _compare_merged(ia: Image, ib: Image, ma: ManifestImage, mb: ManifestImage, plat: str,
                    options: DiffOptions, out: list[Finding]) -> tuple[LayerPair, ...]:
    if options.on_layer:
        options.on_layer(f"{plat} merged filesystem")
    with ThreadPoolExecutor(max_workers=2) as pool:
        fa_future, fb_future = (pool.submit(_merged, ia, ma, options.max_entries),
                                pool.submit(_merged, ib, mb, options.max_entries))
        fa, fb = fa_future.result(), fb_future.result()
    instr_a = {l.index: l.instruction for l in ma.layers}
    instr_b = {l.index: l.instruction for l in mb.layers}

    def make_file(path: str, fld: str, va: Any, vb: Any, entry_a: Entry | None = None,
                  entry_b: Entry | None = None, **detail: Any) -> Finding:
        layer_a = fa.layer_of.get(path) if entry_a is not None else None
        layer_b = fb.layer_of.get(path) if entry_b is not None else None
        instr = instr_b.get(layer_b) if layer_b is not None else instr_a.get(layer_a)  # type: ignore[arg-type]
        return Finding("file", fld, platform=plat, layer=None, instruction=instr, path=path, a=va, b=vb,
                       detail={"merged": True, "layer_a": layer_a, "layer_b": layer_b, **detail})

    out.append(Finding("manifest", "layers", platform=plat, a=len(ma.layers), b=len(mb.layers),
                       detail={"note": "layer counts differ: merged filesystems compared"}))
    out.extend(compare_entries({(p, 0): e for p, e in fa.entries.items()},
                               {(p, 0): e for p, e in fb.entries.items()}, make_file))
    n = max(len(ma.layers), len(mb.layers))
    return tuple(
        LayerPair(i, (ma.layers[i].instruction if i < len(ma.layers) else mb.layers[i].instruction),
                  ma.layers[i] if i < len(ma.layers) else None, mb.layers[i] if i < len(mb.layers) else None,
                  "not-compared")
        for i in range(n))


def content_lookup(result: DiffResult) -> Callable[[Finding], tuple[bytes | None, bytes | None]]:
    """Both sides' bytes of a `file/content` finding (None if absent or too large)."""
    by_plat = {(p.platform, p.role): p for p in result.platforms}

    def lookup(f: Finding) -> tuple[bytes | None, bytes | None]:
        if f.kind != "file" or f.path is None:
            return None, None
        p = by_plat.get((f.platform or "unknown", "image"))
        if p is None or p.a is None or p.b is None:
            return None, None
        occ = int(f.detail.get("occurrence", 0))
        if f.layer is not None:
            lkey = ("layer", f.platform, f.layer)
            la = p.a.layers[f.layer] if f.layer < len(p.a.layers) else None
            lb = p.b.layers[f.layer] if f.layer < len(p.b.layers) else None
            return (result.contents.get(0, lkey, (f.path, occ), la),
                    result.contents.get(1, lkey, (f.path, occ), lb))
        # merged comparison: each side's bytes come from the layer that last wrote the path
        out: list[bytes | None] = []
        for side, m, li in ((0, p.a, f.detail.get("layer_a")), (1, p.b, f.detail.get("layer_b"))):
            if li is None:
                out.append(None)
                continue
            lkey = ("layer", f"{f.platform}/{'ab'[side]}", li)
            out.append(result.contents.get(side, lkey, (f.path, -1), m.layers[li]))
        return out[0], out[1]

    return lookup

