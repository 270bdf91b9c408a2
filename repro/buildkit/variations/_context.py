"""The copy of the build context a varied build sends, and the mtimes in it.

A build never changes the user's files: when any context variation applies, the context
is copied into the build's private work dir first (under another directory name with
`build_path`, under its own name without), and the variations change the copy.
"""

from __future__ import annotations

import os
import shutil

from repro.errors import InputError

MTIME_OFFSET = 3 * 86400  # how far from SOURCE_DATE_EPOCH the varied mtimes are


def copy_context(context: str, dockerfile: str, work: str, index: int, *, rename: bool) -> tuple[str, str]:
    """Copy `context` under `work`; return (the copy, the Dockerfile to use: inside the
    copy when it was inside the context). `rename`: give the copy another directory name."""
    name = os.path.basename(os.path.normpath(context)) or "context"
    target = os.path.join(work, f"varied-{index}", f"{name}-varied-{index}" if rename else name)
    try:
        shutil.copytree(context, target, symlinks=True)
    except (OSError, shutil.Error) as e:
        raise InputError(f"cannot copy the context {context} for a varied build: {e}") from None
    rel = os.path.relpath(dockerfile, context)
    if not rel.startswith(os.pardir + os.sep) and rel != os.pardir:
        dockerfile = os.path.join(target, rel)
    return target, dockerfile


def shift_mtimes(root: str, epoch: int, index: int, offset: int = MTIME_OFFSET) -> None:
    """Set every entry's mtime (not following symlinks) to alternate newer/older than
    `epoch`; build `index` starts the alternation at another parity than build index+1."""
    entries = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        for name in sorted(dirnames + filenames):
            entries.append(os.path.join(dirpath, name))
    entries.sort()  # the copy is complete, so setting times now is final (utime never touches a parent)
    for i, path in enumerate(entries):
        step = i + index
        already_older = os.lstat(path).st_mtime < epoch  # copytree kept the checkout's mtimes
        if step % 2 == 0 and not already_older:
            when = epoch + offset + step
        else:
            when = max(0, epoch - offset - step)
        os.utime(path, (when, when), follow_symlinks=False)
    os.utime(root, (epoch + offset, epoch + offset))
