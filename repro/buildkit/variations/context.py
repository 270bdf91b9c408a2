"""Perturbed build contexts for a later build (`repro check --vary`), in the spirit of reprotest.

Two builds of the same checkout on the same machine share more than they should: the
same path, the same file mtimes, nearly the same wall-clock time. A build that depends
on any of these still comes out identical and the check passes by luck. With a `Vary`,
a build sees instead:

- the context copied to a different directory (different absolute path and name);
- file and directory mtimes moved away from the checkout's: in sorted path order,
  entries alternate between newer than SOURCE_DATE_EPOCH (epoch + offset + i) and
  older (epoch - offset - i); an entry that was already older than the epoch stays
  older, at another time (a different old checkout). rewrite-timestamp clamps the newer
  ones, so a sound build does not see them; the older ones pass through a plain COPY
  unchanged (cause `mtime-older-than-epoch`) and show up as differences;
- a pause of `delay` seconds before buildctl starts, so that a clock read during the
  build lands in another second.

Not varied (BuildKit already isolates them, or they are outside our reach): hostname,
user, umask, locale and time zone inside RUN (BuildKit sets a fixed environment), CPU
count, kernel version, the base images (pinned by digest).
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass

from repro.errors import InputError


@dataclass(frozen=True)
class Vary:
    delay: float = 2.0            # seconds to wait before the build starts
    mtime_offset: int = 3 * 86400  # how far from SOURCE_DATE_EPOCH perturbed mtimes are
    index: int = 1                # which perturbed build (1, 2, ...): later ones differ from each other too

    def describe(self) -> str:
        return (f"context copied to another path, mtimes alternately epoch+{self.mtime_offset}s / "
                f"epoch-{self.mtime_offset}s, {self.delay:g}s pause before the build")


def perturbed_context(context: str, dockerfile: str, epoch: int | None, vary: Vary, work: str) -> tuple[str, str]:
    """Copy `context` under `work` with perturbed mtimes; return (new context, dockerfile
    path to use: inside the copy when the Dockerfile was inside the context)."""
    if epoch is None:
        raise InputError("--vary needs a SOURCE_DATE_EPOCH")
    name = os.path.basename(os.path.normpath(context)) or "context"
    target = os.path.join(work, f"varied-{vary.index}", f"{name}-varied-{vary.index}")
    try:
        shutil.copytree(context, target, symlinks=True)
    except (OSError, shutil.Error) as e:
        raise InputError(f"--vary: cannot copy the context {context}: {e}") from None
    shift_mtimes(target, epoch, vary)
    rel = os.path.relpath(dockerfile, context)
    if not rel.startswith(os.pardir + os.sep) and rel != os.pardir:
        dockerfile = os.path.join(target, rel)
    return target, dockerfile


def shift_mtimes(root: str, epoch: int, vary: Vary) -> None:
    """Set every entry's mtime (not following symlinks) to alternate newer/older than `epoch`."""
    entries = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        for name in sorted(dirnames + filenames):
            entries.append(os.path.join(dirpath, name))
    entries.sort()  # the copy is complete, so setting times now is final (utime never touches a parent)
    for i, path in enumerate(entries):
        step = i + vary.index
        already_older = os.lstat(path).st_mtime < epoch  # copytree kept the checkout's mtimes
        if step % 2 == 0 and not already_older:
            when = epoch + vary.mtime_offset + step
        else:
            when = max(0, epoch - vary.mtime_offset - step)
        os.utime(path, (when, when), follow_symlinks=False)
    os.utime(root, (epoch + vary.mtime_offset, epoch + vary.mtime_offset))
