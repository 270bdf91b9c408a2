"""Compare two opened images into a flat list of Findings.

The walk mirrors the image's own tree: index → manifests (paired by platform) →
config (key by key) → layers (paired by position; equal diffIDs are never
decompressed) → entries (paired by path). When layer counts differ, the merged
filesystems (whiteouts applied) are compared instead, and the result says so.

Findings are leaves: a digest difference is only reported when nothing below it
explains it. The two sides of a differing layer are read in two threads (hashlib and
zlib release the GIL). Each layer is read at most once: the content of the files that
differ is captured on the way (repro/diff/content.py), and after the diff
`fetch_contents(result)` hands what the findings need to the explainer and to
--report-dir, so nothing reads an image after the diff.
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Mapping

from repro.diff.content import CAPTURE_BUDGET, CAPTURE_LIMIT, ContentStore, LayerCapture
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
class InputImage:
    """What a comparison keeps of an input image: the reference as given, where it came
    from (oci-archive | oci | docker-archive | docker; for the report, never for the
    comparison) and its digest. Not the image: no one reads an image after the diff."""

    ref: str
    kind: str
    digest: str
    digest_of: str  # which document `digest` names: index | manifest | config | image

    @classmethod
    def of(cls, image: Image) -> InputImage:
        return cls(image.ref, image.kind, image.digest, _digest_of(image))


def _digest_of(img: Image) -> str:
    """Which document an image's digest names: its `index`, its one `manifest`, or (a
    docker-archive, which has no manifest of its own) its `config`: docker's image ID."""
    if img.digest in img.indexes:
        return "index"
    if any(m.descriptor.digest == img.digest for m in img.manifests):
        return "manifest"
    if any(m.config_descriptor.digest == img.digest for m in img.manifests):
        return "config"
    return "image"


@dataclass(frozen=True)
class DiffResult:
    a: InputImage
    b: InputImage
    findings: tuple[Finding, ...]  # what counts
    ignored: tuple[tuple[Finding, str], ...]  # (finding, reason) set aside by the policy
    platforms: tuple[PlatformResult, ...]
    policy: Policy
    # the content of the files that differ, captured while the layers were read (fetch_contents)
    contents: ContentStore = field(repr=False, compare=False)

    @property
    def reproducible(self) -> bool:
        return not self.findings


@dataclass(frozen=True)
class DiffOptions:
    platform: Platform | None = None
    policy: Policy = Policy()
    capture_limit: int = CAPTURE_LIMIT  # files up to this size are kept in memory for the explainer
    capture_budget: int = CAPTURE_BUDGET  # ... up to this much in all (more goes to a temporary file)
    # Keep every file a finding names, of any size and also where only metadata differs
    # (for --report-dir): larger files are spooled to a temporary directory.
    keep_files: bool = False
    max_entries: int = 300_000  # per layer (Limits.max_entries_per_layer)
    # Hash the layer blobs the comparison did not need to read (equal digests): a verdict
    # is then only ever given on checked bytes. Off (--trust-equal-digests), identical
    # images compare in constant time whatever their size, and a corrupted copy of a
    # shared blob goes unnoticed.
    verify_unread: bool = True
    on_layer: Callable[[str], None] | None = None  # progress hook: called with a description
    on_entries: Callable[[int, int], None] | None = None  # progress hook: (entries, bytes) indexed since last call


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
    """Compare image A with image B. Pure apart from reading blobs through the images.
    Hand the result to `fetch_contents` (it owns what the diff captured, spool files too)."""
    contents = ContentStore(options.capture_limit, keep_files=options.keep_files, budget=options.capture_budget)
    try:
        return _diff(a, b, options, contents)
    except BaseException:  # a bad layer, a limit, ^C: no spool file outlives the diff
        contents.discard()
        raise


def _diff(a: Image, b: Image, options: DiffOptions, contents: ContentStore) -> DiffResult:
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
                findings.extend(_compare_descriptor_annotations(a, b, ma, mb, plat))
            continue
        if role == "attestation":
            # Provenance holds build times and a random invocation id by design: reported
            # apart, never opened.
            findings.append(Finding("manifest", "digest", platform=plat, a=ma.descriptor.digest,
                                    b=mb.descriptor.digest, detail={"role": "attestation"}))
            platforms.append(PlatformResult(plat, role, ma, mb))
            continue
        findings.extend(_compare_descriptor_annotations(a, b, ma, mb, plat))
        platform, found = _compare_manifest(a, b, ma, mb, plat, options, contents)
        platforms.append(platform)
        findings.extend(found)

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
    return DiffResult(InputImage.of(a), InputImage.of(b), tuple(kept), tuple(ignored), tuple(platforms),
                      options.policy, contents)


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
    return IndexView(img.index, img.indexes,
                     {m.descriptor.digest: (m.attests, str(m.platform) if m.platform else None) for m in img.manifests})


def _compare_descriptor_annotations(a: Image, b: Image, ma: ManifestImage, mb: ManifestImage,
                                    plat: str) -> list[Finding]:
    """Annotations of a manifest's descriptor where no index lists it (an OCI layout's
    index.json entry); the entries of an index are compared by compare_indexes."""
    if a.index is not None and b.index is not None:
        return []
    if _unlisted(a, ma) or _unlisted(b, mb):
        return []
    return [Finding("index", fld, platform=plat, a=va, b=vb, detail=det)
            for fld, va, vb, det in compare_annotations(ma.descriptor.annotations, mb.descriptor.annotations,
                                                        where="descriptor")]


def _unlisted(img: Image, m: ManifestImage) -> bool:
    """A registry's top-level manifest is fetched by name: no index lists it, so it has no
    descriptor annotations to compare (an OCI layout's index.json entry has its own)."""
    return not img.listed and m.descriptor.digest == img.digest


def _compare_manifest(ia: Image, ib: Image, ma: ManifestImage, mb: ManifestImage, plat: str,
                      options: DiffOptions, contents: ContentStore) -> tuple[PlatformResult, list[Finding]]:
    """One platform's image manifests that differ: the findings, leaves only (a digest
    difference is reported only when nothing below explains it)."""
    out: list[Finding] = []
    for fld, va, vb, det in compare_top_level(ma.manifest, mb.manifest, skip={"config", "layers", "annotations"}):
        out.append(Finding("manifest", fld, platform=plat, a=va, b=vb, detail=det))
    for fld, va, vb, det in compare_annotations(ma.manifest.get("annotations"), mb.manifest.get("annotations")):
        out.append(Finding("manifest", fld, platform=plat, a=va, b=vb, detail=det))

    ca, cb = ma.config_descriptor, mb.config_descriptor
    if ca.media_type != cb.media_type:
        out.append(Finding("config", "media_type", platform=plat, a=ca.media_type, b=cb.media_type))
    config_findings = [Finding("config", fld, platform=plat, a=va, b=vb, detail=det)
                       for fld, va, vb, det in compare_config(ma.config, mb.config)] if ca.digest != cb.digest else []
    out.extend(config_findings)
    config_explained = ca.digest == cb.digest or bool(config_findings)

    if len(ma.layers) == len(mb.layers):
        compared = [_compare_layer(ia, ib, la, lb, plat, options, contents) for la, lb in zip(ma.layers, mb.layers)]
        pairs = tuple(pair for pair, _ in compared)
        layer_findings = [f for _, found in compared for f in found]
        merged = False
    else:
        pairs, layer_findings = _compare_merged(ia, ib, ma, mb, plat, options, contents)
        merged = True
    out.extend(layer_findings)
    if not config_explained and not layer_findings:
        # Same JSON, same layers, different bytes: formatting or key order.
        out.append(Finding("config", "digest", platform=plat, a=ca.digest, b=cb.digest,
                           detail={"note": "config JSON is equal key by key; its bytes differ"}))
    if not out:
        out.append(Finding("manifest", "digest", platform=plat, a=ma.descriptor.digest, b=mb.descriptor.digest,
                           detail={"note": "manifest JSON is equal key by key; its bytes differ"}))
    return PlatformResult(plat, "image", ma, mb, pairs, merged), out


def _compare_layer(ia: Image, ib: Image, la: LayerRef, lb: LayerRef, plat: str, options: DiffOptions,
                   contents: ContentStore) -> tuple[LayerPair, list[Finding]]:
    instr = la.instruction if la.instruction == lb.instruction or lb.instruction is None else (la.instruction or lb.instruction)
    da, db = la.descriptor, lb.descriptor

    def layer_finding(fld: str, va: Any, vb: Any, **detail: Any) -> Finding:
        return Finding("layer", fld, platform=plat, layer=la.index, instruction=instr, a=va, b=vb, detail=detail)

    out = [layer_finding(fld, va, vb, **det) for fld, va, vb, det in compare_annotations(da.annotations, db.annotations)]
    if la.diff_id == lb.diff_id:
        if da.digest == db.digest:
            if da.media_type != db.media_type:
                out.append(layer_finding("media_type", da.media_type, db.media_type))
            return LayerPair(la.index, instr, la, lb, "equal"), out
        # Same uncompressed tar, different blob: never decompressed.
        out.append(layer_finding("compression", da.digest, db.digest, media_type_a=da.media_type,
                                 media_type_b=db.media_type, size_a=da.size, size_b=db.size, diff_id=la.diff_id))
        return LayerPair(la.index, instr, la, lb, "compression"), out

    if options.on_layer:
        options.on_layer(f"{plat} layer {la.index}")
    entries_a, entries_b = _index_both(ia, ib, la, lb, options, contents.layer(plat, la.index))
    ka, kb = keyed(entries_a), keyed(entries_b)

    def make_file(path: str, fld: str, va: Any, vb: Any, entry_a: Entry | None = None,
                  entry_b: Entry | None = None, **detail: Any) -> Finding:
        return Finding("file", fld, platform=plat, layer=la.index, instruction=instr, path=path, a=va, b=vb,
                       detail=detail)

    below = compare_entries(ka, kb, make_file)
    order = order_difference(ka, kb)
    if order is not None:
        below.append(layer_finding("order", order["path_a"], order["path_b"], **order))
    out.extend(below)
    if not below:
        out.append(layer_finding("diff_id", la.diff_id, lb.diff_id, digest_a=da.digest, digest_b=db.digest,
                                 note="every entry is equal; the tar streams differ in headers or padding"))
    if da.media_type != db.media_type:
        out.append(layer_finding("media_type", da.media_type, db.media_type))
    return LayerPair(la.index, instr, la, lb, "differs"), out


def _index_both(ia: Image, ib: Image, la: LayerRef, lb: LayerRef, options: DiffOptions,
                capture: LayerCapture) -> tuple[list[Entry], list[Entry]]:
    """Both sides' entries of a differing layer pair, each layer read once; the content of
    the files that differ goes to `capture`.

    Normally both layers are read at once and compared in step (repro/diff/lockstep.py),
    which hands over the small files whose content differs. For --report-dir
    (`capture.keeps_files`: every file a finding names, of any size, content equal or not)
    each side is read by a thread of its own and every regular file is offered to
    `capture`, which keeps it until the other side shows it the same."""
    if not capture.keeps_files:
        pair = index_pair(lambda: ia.open_layer(la), lambda: ib.open_layer(lb), capture_limit=options.capture_limit,
                          max_entries=options.max_entries, budget=capture.room(),
                          on_entries=options.on_entries)
        for (path, n), data in pair.contents.items():
            for side, (entries, i) in enumerate(zip((pair.entries_a, pair.entries_b), pair.positions[(path, n)])):
                capture.keep(side, path, n, entries[i], la.index, data[side])  # None: over the limit or budget
        return pair.entries_a, pair.entries_b
    cancel = threading.Event()

    def run(side: int, image: Image, layer: LayerRef) -> list[Entry]:
        entries: list[Entry] = []
        report = options.on_entries
        reported = 0
        spool = capture.spool()
        try:
            with image.open_layer(layer) as stream:
                for ((path, n), e), data in _keyed_stream(iter_entries(stream, capture_limit=options.capture_limit,
                                                                       max_entries=options.max_entries,
                                                                       content_sink=spool)):
                    if cancel.is_set():
                        break
                    entries.append(e)
                    if e.type == "file":
                        capture.offer(side, path, n, e, layer.index, data, spool.take() if spool else None)
                    if report is not None and len(entries) - reported >= 512:  # cheap: a hook call per 512 entries
                        report(len(entries) - reported, sum(x.size for x in entries[reported:] if x.type == "file"))
                        reported = len(entries)
        finally:
            if spool is not None:
                spool.discard()
        if report is not None and len(entries) > reported:
            report(len(entries) - reported, sum(x.size for x in entries[reported:] if x.type == "file"))
        return entries

    with ThreadPoolExecutor(max_workers=2) as pool:
        fa = pool.submit(run, 0, ia, la)
        fb = pool.submit(run, 1, ib, lb)
        try:
            return fa.result(), fb.result()
        finally:
            cancel.set()


def _merged(image: Image, m: ManifestImage, side: int, options: DiffOptions, capture: LayerCapture) -> MergedFS:
    """One side's merged filesystem, each layer read once; every regular file is offered
    to `capture` (the last write of a path replaces the earlier ones)."""
    fs = MergedFS()
    for layer in m.layers:
        spool = capture.spool()
        entries: list[Entry] = []
        try:
            with image.open_layer(layer) as stream:
                for e, data in iter_entries(stream, capture_limit=options.capture_limit,
                                            max_entries=options.max_entries, content_sink=spool):
                    entries.append(e)
                    if e.type == "file":
                        capture.offer(side, e.path, 0, e, layer.index, data, spool.take() if spool else None)
        finally:
            if spool is not None:
                spool.discard()
        fs.apply(layer.index, entries)
    return fs


def _compare_merged(ia: Image, ib: Image, ma: ManifestImage, mb: ManifestImage, plat: str,
                    options: DiffOptions, contents: ContentStore) -> tuple[tuple[LayerPair, ...], list[Finding]]:
    if options.on_layer:
        options.on_layer(f"{plat} merged filesystem")
    capture = contents.layer(plat, None)
    with ThreadPoolExecutor(max_workers=2) as pool:
        fa_future, fb_future = (pool.submit(_merged, ia, ma, 0, options, capture),
                                pool.submit(_merged, ib, mb, 1, options, capture))
        fa, fb = fa_future.result(), fb_future.result()
    contents.settle(plat, (fa.entries, fb.entries))
    instr_a = {l.index: l.instruction for l in ma.layers}
    instr_b = {l.index: l.instruction for l in mb.layers}

    def make_file(path: str, fld: str, va: Any, vb: Any, entry_a: Entry | None = None,
                  entry_b: Entry | None = None, **detail: Any) -> Finding:
        layer_a = fa.layer_of.get(path) if entry_a is not None else None
        layer_b = fb.layer_of.get(path) if entry_b is not None else None
        instr = instr_b.get(layer_b) if layer_b is not None else instr_a.get(layer_a)  # type: ignore[arg-type]
        return Finding("file", fld, platform=plat, layer=None, instruction=instr, path=path, a=va, b=vb,
                       detail={"merged": True, "layer_a": layer_a, "layer_b": layer_b, **detail})

    out = [Finding("manifest", "layers", platform=plat, a=len(ma.layers), b=len(mb.layers),
                   detail={"note": "layer counts differ: merged filesystems compared"})]
    out.extend(compare_entries({(p, 0): e for p, e in fa.entries.items()},
                               {(p, 0): e for p, e in fb.entries.items()}, make_file))
    n = max(len(ma.layers), len(mb.layers))
    return tuple(
        LayerPair(i, (ma.layers[i].instruction if i < len(ma.layers) else mb.layers[i].instruction),
                  ma.layers[i] if i < len(ma.layers) else None, mb.layers[i] if i < len(mb.layers) else None,
                  "not-compared")
        for i in range(n)), out
