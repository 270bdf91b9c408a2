"""`--report-dir DIR`: both sides of every differing file, ready for `diff -r` or diffoscope.

The files come from what the diff captured while it read each layer (repro.diff.Contents):
no image is read here.

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

import contextlib
import hashlib
import json
import os
import shutil
import signal
import tempfile
from typing import Any, BinaryIO, Iterator, Mapping

from repro.atomic import check_output_dir, publish_mode
from repro.diff import ContentKey, Contents, DiffResult, Finding
from repro.diff.content import Held
from repro.errors import InputError


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


def extract(result: DiffResult, findings: tuple[Finding, ...] | list[Finding], contents: Contents,
            doc: Mapping[str, Any], directory: str) -> dict[str, int]:
    """Write report.json and both sides of every file named by a finding, from `contents`
    (the diff's capture, with DiffOptions.keep_files). Returns counts."""
    check_output_dir(directory, "--report-dir", empty=True, parents=False)  # the one rule (also checked up front)
    target = os.path.abspath(directory)
    parent = os.path.dirname(target)
    work: str | None = None
    try:
        try:
            with _signals_held():  # a signal between mkdtemp and the assignment would leave DIR.partial-XXXX
                work = tempfile.mkdtemp(prefix=os.path.basename(target) + ".partial-", dir=parent)
            publish_mode(work)  # mkdtemp makes it 0700: the report dir gets the usual mode
        except OSError as e:
            raise InputError(f"--report-dir {directory}: cannot create: {e.strerror or e}") from None
        counts = _extract_into(result, findings, contents, work)
        with open(os.path.join(work, "report.json"), "w", encoding="utf-8") as fh:
            json.dump(doc, fh, indent=2, ensure_ascii=False)
            fh.write("\n")
        if os.path.isdir(target):
            os.rmdir(target)  # empty, checked above
        os.rename(work, target)
        return counts
    except OSError as e:
        if work is not None:
            shutil.rmtree(work, ignore_errors=True)
        raise InputError(f"--report-dir {directory}: cannot write: {e.strerror or e}") from None
    except BaseException:
        if work is not None:
            shutil.rmtree(work, ignore_errors=True)
        raise


@contextlib.contextmanager
def _signals_held() -> Iterator[None]:
    """SIGINT and SIGTERM wait until the block is over (the main thread only)."""
    held = {signal.SIGINT, signal.SIGTERM}
    try:
        old = signal.pthread_sigmask(signal.SIG_BLOCK, held)
    except (ValueError, OSError):  # not the main thread, or no such call: nothing to hold
        yield
        return
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, old)


def _extract_into(result: DiffResult, findings: Any, contents: Contents, root: str) -> dict[str, int]:
    image_platforms = {p.platform for p in result.platforms if p.role == "image"}
    multi = len(image_platforms) > 1
    wanted: set[tuple[int, ContentKey]] = set()
    for f in findings:
        key = ContentKey.of(f)
        if key is None or f.platform not in image_platforms:
            continue
        for side, flag in ((0, f.a), (1, f.b)):
            if f.field == "presence" and not flag:
                continue
            wanted.add((side, key))
    written = 0
    # in the order the layers held them: a later write of a path replaces an earlier one
    for side, key, held in contents.files():
        if (side, key) in wanted:
            base = os.path.join(root, "ab"[side], _platform_dir(key.platform) if multi else "")
            _write_file(base, key.path, held)
            written += 1
    return {"files": written}


def _write_file(base: str, path: str, held: Held) -> None:
    try:
        out = _open_safe(base, path)
    except OSError as e:
        raise _write_error(path, e) from None
    with out, held.open() as src:
        while True:
            piece = _read(src)
            if not piece:
                break
            try:
                out.write(piece)
            except OSError as e:
                raise _write_error(path, e) from None
        try:
            out.flush()  # a full disk can show here first
        except OSError as e:
            raise _write_error("", e) from None


def _read(src: BinaryIO) -> bytes:
    try:
        return src.read(1 << 20)
    except OSError as e:
        raise InputError(f"--report-dir: cannot read a kept file back: {e.strerror or e}") from None


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
