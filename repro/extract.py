"""`--report-dir DIR`: both sides of every differing file, ready for `diff -r` or diffoscope.

    DIR/report.json         the JSON report
    DIR/a/PATH, DIR/b/PATH  regular files' content as stored in each image
                            (with several platforms: DIR/a/OS_ARCH[_VARIANT]/PATH)

Names come from images other people built, so nothing in them is trusted: `..`
components and absolute paths are neutralised, no symlink or hardlink from an image is
ever created (links are described in report.json, not made), every file is opened with
O_NOFOLLOW|O_EXCL under a directory this function made, and the whole tree is built as
DIR.partial-XXXX and renamed to DIR at the end, so an interrupted run never leaves a
directory that looks complete. DIR must not exist or be empty. A name component longer
than the file system allows (255 bytes) is cut and given a hash suffix, a path longer
than PATH_MAX is stored under `%LONG/<sha256 of the path>`, and one whose parent is a
file written earlier under `%CONFLICT/<sha256 of the path>`; a write that fails (disk
full) is an error naming --report-dir, never blamed on the image.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sys
import tempfile
from collections import defaultdict
from typing import Any, Callable, Mapping

from repro.diff.engine import DiffResult
from repro.diff.finding import Finding
from repro.atomic import publish_mode
from repro.errors import InputError
from repro.oci.layer_index import iter_entries
from repro.oci.model import Image, LayerRef


NAME_MAX = 255  # bytes in one path component (ext4, xfs, tmpfs, btrfs)
PATH_BUDGET = 3000  # bytes of a relative path: DIR and a platform dir must still fit in PATH_MAX


def safe_relpath(path: str) -> str:
    """A path from an image as a relative path that cannot leave its directory and that
    the file system can hold."""
    parts = []
    for part in path.replace("\\", "/").split("/"):
        if part in ("", "."):
            continue
        if part == "..":
            part = "%2E%2E"
        # a NUL (a PAX path record may hold one) cannot be in a file name: %00, as .. is %2E%2E
        part = part.replace("\0", "%00")
        parts.append(_fit_name(part))
    rel = os.path.join(*parts) if parts else "%2E"
    if len(os.fsencode(rel)) > PATH_BUDGET:
        rel = os.path.join("%LONG", _digest(path))
    return rel


def _digest(text: str) -> str:
    return hashlib.sha256(os.fsencode(text)).hexdigest()


def _fit_name(part: str) -> str:
    raw = os.fsencode(part)
    if len(raw) <= NAME_MAX:
        return part
    return os.fsdecode(raw[:NAME_MAX - 24]) + "%" + _digest(part)[:23]


def _platform_dir(platform: str) -> str:
    return platform.replace("/", "_")


def extract(result: DiffResult, findings: tuple[Finding, ...] | list[Finding], doc: Mapping[str, Any],
            directory: str) -> dict[str, int]:
    """Write report.json and both sides of every file named by a finding. Returns counts."""
    target = os.path.abspath(directory)
    if os.path.lexists(target):
        if not os.path.isdir(target) or os.path.islink(target):
            raise InputError(f"--report-dir {directory}: exists and is not a directory")
        if os.listdir(target):
            raise InputError(f"--report-dir {directory}: directory is not empty")
    parent = os.path.dirname(target)
    if not os.path.isdir(parent):
        raise InputError(f"--report-dir {directory}: parent directory {parent} does not exist")
    try:
        work = tempfile.mkdtemp(prefix=os.path.basename(target) + ".partial-", dir=parent)
    except OSError as e:
        raise InputError(f"--report-dir {directory}: cannot create: {e.strerror or e}") from None
    try:
        publish_mode(work)  # mkdtemp makes it 0700: the report dir gets the usual mode
        counts = _extract_into(result, findings, work)
        with open(os.path.join(work, "report.json"), "w", encoding="utf-8") as fh:
            json.dump(doc, fh, indent=2, ensure_ascii=False)
            fh.write("\n")
        if os.path.isdir(target):
            os.rmdir(target)  # empty, checked above
        os.rename(work, target)
        return counts
    except OSError as e:
        shutil.rmtree(work, ignore_errors=True)
        raise InputError(f"--report-dir {directory}: cannot write: {e.strerror or e}") from None
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise


def _extract_into(result: DiffResult, findings: Any, root: str) -> dict[str, int]:
    image_platforms = [p for p in result.platforms if p.role == "image"]
    multi = len(image_platforms) > 1
    by_plat = {p.platform: p for p in image_platforms}
    # (side, platform, layer index) -> {(path, occurrence)}
    wanted: dict[tuple[int, str, int], set[tuple[str, int]]] = defaultdict(set)
    for f in findings:
        if f.kind != "file" or f.path is None or f.platform not in by_plat:
            continue
        occ = int(f.detail.get("occurrence", 0))
        for side, flag in ((0, f.a), (1, f.b)):
            if f.field == "presence" and not flag:
                continue
            layer = f.layer if f.layer is not None else f.detail.get(f"layer_{'ab'[side]}")
            if layer is None:
                continue
            wanted[(side, f.platform, int(layer))].add((f.path, -1 if f.layer is None else occ))
    written = 0
    for (side, plat, li), paths in sorted(wanted.items()):
        p = by_plat[plat]
        m = p.a if side == 0 else p.b
        image = result.a if side == 0 else result.b
        if m is None or li >= len(m.layers):
            continue
        base = os.path.join(root, "ab"[side], _platform_dir(plat) if multi else "")
        written += _write_layer_files(image, m.layers[li], paths, base)
    return {"files": written}


def _write_layer_files(image: Image, layer: LayerRef, paths: set[tuple[str, int]], base: str) -> int:
    wanted_last = {p for p, occ in paths if occ == -1}
    wanted_occ = {(p, occ) for p, occ in paths if occ != -1}
    seen: dict[str, int] = defaultdict(int)
    written = 0

    def sink_for(path: str, size: int) -> Callable[[memoryview], None] | None:
        nonlocal written
        occ = seen[path]
        seen[path] += 1
        if (path, occ) not in wanted_occ and path not in wanted_last:
            return None
        try:
            out = _open_safe(base, path)
        except OSError as e:
            raise _write_error(path, e) from None
        written += 1

        def write(piece: memoryview) -> None:
            try:
                out.write(piece)
            except OSError as e:  # raised inside the layer reader: it must not look like a bad layer
                raise _write_error(path, e) from None
        sinks.append(out)
        return write

    sinks: list[Any] = []
    try:
        with image.open_layer(layer) as stream:
            for _ in iter_entries(stream, content_sink=sink_for):
                pass
    finally:
        problem = None
        for s in sinks:
            try:
                s.close()  # flushes: a full disk can show here first
            except OSError as e:
                problem = problem or e
        if problem is not None and sys.exc_info()[0] is None:
            raise _write_error("", problem)
    return written


def _write_error(path: str, e: OSError) -> InputError:
    where = f" {path!r}" if path else ""
    return InputError(f"--report-dir: cannot write{where}: {e.strerror or e}")


def _open_safe(base: str, path: str):  # type: ignore[no-untyped-def]
    rel = safe_relpath(path)
    full = os.path.join(base, rel)
    try:
        os.makedirs(os.path.dirname(full), exist_ok=True)
    except (FileExistsError, NotADirectoryError):
        # a file written earlier sits where this path needs a directory ("p", then "p/q")
        full = os.path.join(base, "%CONFLICT", _digest(path))
        os.makedirs(os.path.dirname(full), exist_ok=True)
    real_base = os.path.realpath(base)
    if os.path.commonpath([os.path.realpath(os.path.dirname(full)), real_base]) != real_base:
        raise InputError(f"refusing to write {path!r} outside the report directory")
    if os.path.lexists(full):  # a later write of the same path (duplicate entry, merged view)
        if os.path.isdir(full) and not os.path.islink(full):
            full = full + ".repro-file"
        else:
            os.unlink(full)
    fd = os.open(os.fsencode(full), os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644)
    return os.fdopen(fd, "wb")
