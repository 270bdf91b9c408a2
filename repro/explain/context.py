"""What `explain` knows besides the findings and their bytes.

Nothing here reads a clock: the times a cause is judged against come from the builds
(`check` records when each build started) and from the images themselves, so a pair of
images gets the same causes whatever day it is compared.

What an image says about time (`ImageTimes.from_documents`):
  * `epochs`: the SOURCE_DATE_EPOCH BuildKit clamped each layer to, from the layer
    descriptor annotation `buildkit/rewritten-timestamp` (BuildKit ≥ 0.13 with
    `rewrite-timestamp=true`);
  * `created`: the config's `created` and every `history[].created`: the build's wall
    clock when no SOURCE_DATE_EPOCH was set, else the epoch.
File mtimes that were not clamped (images built without `rewrite-timestamp`) are build
times too: `explain` takes them from the findings' own `mtime` differences.
"""

from __future__ import annotations

import os
import shlex
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Iterable, Mapping

REWRITTEN_TIMESTAMP = "buildkit/rewritten-timestamp"


def parse_rfc3339(value: Any) -> float | None:
    """Seconds since the Unix epoch of an OCI `created` value, or None."""
    if not isinstance(value, str) or not value:
        return None
    text = value.strip().replace("z", "Z")
    if text.endswith("Z"):
        text = text[:-1] + "+00:00"
    if "." in text:  # Python < 3.11 takes at most 6 fraction digits; Go writes 9
        head, _, rest = text.partition(".")
        n = len(rest) - len(rest.lstrip("0123456789"))
        text = f"{head}.{rest[:min(n, 6)]}{rest[n:]}"
    try:
        t = datetime.fromisoformat(text)
    except ValueError:
        return None
    if t.tzinfo is None:
        return None
    return t.timestamp()


def _int(value: Any) -> int | None:
    try:
        return int(str(value).strip())
    except (TypeError, ValueError):
        return None


@dataclass(frozen=True)
class ImageTimes:
    """The times one image states (see the module docstring)."""

    epochs: tuple[int, ...] = ()
    created: tuple[float, ...] = ()

    @classmethod
    def from_documents(cls, documents: Iterable[tuple[Mapping[str, Any], Mapping[str, Any]]]) -> "ImageTimes":
        """From (manifest JSON, config JSON) pairs: one per image manifest of the image."""
        epochs: set[int] = set()
        created: set[float] = set()
        for manifest, config in documents:
            layers = manifest.get("layers") if isinstance(manifest, Mapping) else None
            for layer in layers if isinstance(layers, (list, tuple)) else ():
                ann = layer.get("annotations") if isinstance(layer, Mapping) else None
                if isinstance(ann, Mapping) and REWRITTEN_TIMESTAMP in ann:
                    e = _int(ann[REWRITTEN_TIMESTAMP])
                    if e is not None and e >= 0:
                        epochs.add(e)
            if not isinstance(config, Mapping):
                continue
            t = parse_rfc3339(config.get("created"))
            if t is not None:
                created.add(t)
            history = config.get("history")
            for h in history if isinstance(history, (list, tuple)) else ():
                t = parse_rfc3339(h.get("created")) if isinstance(h, Mapping) else None
                if t is not None:
                    created.add(t)
        return cls(tuple(sorted(epochs)), tuple(sorted(created)))

    @classmethod
    def of(cls, image: Any) -> "ImageTimes":
        """From an opened image (anything with `.manifests`, each with `.manifest` and
        `.config` mappings, as `repro.oci.model.Image`)."""
        return cls.from_documents((m.manifest, m.config) for m in getattr(image, "manifests", ()))


@dataclass(frozen=True)
class ExplainContext:
    """Everything optional; an empty context explains from the findings and bytes alone.

    source_date_epoch  the epoch `check` built with (for `diff`: None, the images say it)
    build_started      each build's start time (Unix seconds), as `check` recorded it
    builder_versions   the two builds' BuildKit versions
    images             what each image states about time (ImageTimes)
    refs               the two image references, for the diffoscope command in hints
    report_dir         the --report-dir the differing files are written to
    platform_dirs      --report-dir holds one directory per platform (several platforms)
    packaging_only     every finding is packaging (set by `explain` from the findings)
    """

    source_date_epoch: int | None = None
    build_started: tuple[float | None, float | None] | None = None
    builder_versions: tuple[str | None, str | None] | None = None
    images: tuple[ImageTimes, ImageTimes] | None = None
    refs: tuple[str, str] | None = None
    report_dir: str | None = None
    platform_dirs: bool = False
    packaging_only: bool = False  # the comparison differs only in packaging (repro.explain.packaging)
    file_times: tuple[tuple[float, ...], tuple[float, ...]] = field(default=((), ()), repr=False)  # unclamped mtimes

    @classmethod
    def for_images(cls, a: Any, b: Any, **kw: Any) -> "ExplainContext":
        """The context of a comparison of two opened images, plus the keywords given."""
        return cls(images=(ImageTimes.of(a), ImageTimes.of(b)), **kw)

    def epoch(self, side: int | None = None) -> int | None:
        """The SOURCE_DATE_EPOCH of one side (0 = A, 1 = B), or of both when they agree:
        the one `check` built with, else the one the image's layers were clamped to
        (only when the image names exactly one)."""
        if self.source_date_epoch is not None:
            return self.source_date_epoch
        if self.images is None:
            return None
        sides = (self.images[side],) if side in (0, 1) else self.images
        found = {e for t in sides for e in t.epochs}
        return found.pop() if len(found) == 1 else None

    def epochs(self) -> tuple[int, ...]:
        """Every epoch known, from the build or either image."""
        out = set(t for im in (self.images or ()) for t in im.epochs)
        if self.source_date_epoch is not None:
            out.add(self.source_date_epoch)
        return tuple(sorted(out))

    def anchors(self, side: int | None = None) -> tuple[float, ...]:
        """Times the builds are known to have run near (or been pinned to), sorted: of one
        side (0 = A, 1 = B), or of both."""
        sides = (0, 1) if side is None else (side,)
        out = set(self.epochs())
        for s in sides:
            out.update(self.file_times[s])
            started = self.build_started[s] if self.build_started else None
            if started:  # None or 0.0: not recorded
                out.add(float(started))
            if self.images is not None:
                out.update(self.images[s].created)
        return tuple(sorted(out))

    def with_file_times(self, a: Iterable[float], b: Iterable[float]) -> "ExplainContext":
        from dataclasses import replace

        return replace(self, file_times=(tuple(sorted(set(a))), tuple(sorted(set(b)))))

    def report_paths(self, platform: str | None, path: str) -> tuple[str, str] | None:
        """Where --report-dir holds both sides of the file at `path`, when a report dir
        is known."""
        if not self.report_dir:
            return None
        from repro.extract import safe_relpath

        sub = platform.replace("/", "_") if (self.platform_dirs and platform) else ""
        rel = safe_relpath(path)
        return (os.path.join(self.report_dir, "a", sub, rel), os.path.join(self.report_dir, "b", sub, rel))


def shell_join(*words: str) -> str:
    return " ".join(shlex.quote(w) for w in words)
