"""Open any image and stream its layers, trusting nothing.

    with open_image("oci-archive:build.tar") as image:
        for mi in image.manifests:
            for layer in mi.layers:
                with image.open_layer(layer) as stream:
                    for entry, content in iter_entries(stream):
                        ...

Every document is verified against its descriptor before it is parsed; layer blobs
are verified while they are streamed (digest, size, then diffID at EOF). Anything
wrong with the input is a ReproError with a one-line message, never a raw exception.
"""

from __future__ import annotations

import importlib
import os
from typing import TYPE_CHECKING, Any

from repro.errors import FormatError, InputError, ReproError
from repro.oci.limits import Limits
from repro.oci.registry_options import RegistryOptions

if TYPE_CHECKING:
    from repro.oci.history import clean_instruction  # noqa: F401
    from repro.oci.layer_index import iter_entries  # noqa: F401
    from repro.oci.model import Image, Platform
    from repro.oci.reference import Reference, parse_reference  # noqa: F401

__all__ = ["open_image", "Limits", "RegistryOptions", "clean_instruction", "iter_entries", "parse_reference",
           "Reference"]

# re-exported names, imported on first use (PEP 562): `import repro.oci.registry_options`
# (every command line does) must not load the tar and image readers
_EXPORTS = {"clean_instruction": "repro.oci.history", "iter_entries": "repro.oci.layer_index",
            "Image": "repro.oci.model", "Platform": "repro.oci.model", "Reference": "repro.oci.reference",
            "parse_reference": "repro.oci.reference"}


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'repro.oci' has no attribute {name!r}")


def open_image(ref: str, *, limits: Limits | None = None, verify_all: bool = False,
               platform: str | Platform | None = None, registry: RegistryOptions | None = None) -> Image:
    """Open `ref` (see repro.oci.reference for the syntax).

    `platform` (`os/arch[/variant]`): only this platform is needed. A registry image then
    fetches no other platform's manifest or config, and an index without the platform is
    an InputError; the local sources, cheap to read, still list every platform.
    `registry`: how to reach registries (--plain-http, --insecure; see docs/registries.md).

    Opening reads and verifies every index, manifest and config, and checks every
    blob's stored size; layer blobs are hashed when read, or now with `verify_all`.
    A bare path holding both index.json and manifest.json (`docker save` since Docker
    25) opens as an OCI archive: index.json keeps the real manifest digests and any
    index and attestations, where the docker-archive view is synthesised. Say
    `docker-archive:PATH` to get that view.
    """
    from repro.oci.model import Platform
    from repro.oci.reference import parse_reference, source

    limits = limits or Limits()
    reference = parse_reference(ref)
    if isinstance(platform, str):
        try:
            platform = Platform.parse(platform)
        except ReproError as e:
            raise InputError(str(e)) from None
    try:
        if reference.kind and source(reference.kind).form == "remote":
            return source(reference.kind).open_function()(reference, limits, verify_all, platform,
                                                          registry or RegistryOptions())
        return _open(reference, limits, verify_all)
    except ReproError as e:
        # a diff opens two images: an error about a blob or document must say which
        if ref in str(e) or (reference.path and reference.path in str(e)):
            raise
        raise type(e)(f"{ref}: {e}") from e
    except OSError as e:
        raise InputError(f"{reference.path or ref}: {e.strerror or e}") from None
    except (ValueError, UnicodeError, RecursionError, EOFError) as e:
        raise FormatError(f"{ref}: cannot read image: {type(e).__name__}: {e}") from None
    except Exception as e:  # noqa: BLE001 - a bug in repro, but the user still gets one line
        raise FormatError(f"{ref}: cannot read image ({type(e).__name__}: {e}); please report this") from e


def _open(ref: Reference, limits: Limits, verify_all: bool) -> Image:
    """A local image: its kind as given, or found from what the path holds (SOURCES)."""
    from repro.oci.reference import SOURCES, source
    from repro.oci.tarindex import TarIndex

    path = ref.path
    dir_kind = next(s.kind for s in SOURCES if s.form == "dir")
    if ref.kind == dir_kind or (ref.kind == "" and os.path.isdir(path)):
        return source(dir_kind).open_function()(ref, limits, verify_all)
    if not os.path.exists(path):
        raise InputError(f"{path}: no such file or directory")
    if os.path.isdir(path):
        raise InputError(f"{path}: is a directory, expected a tar archive (use {dir_kind}:{path} for a layout)")
    if not os.path.isfile(path):  # a FIFO or device would block or never end
        raise InputError(f"{path}: not a regular file")
    tar = TarIndex(path, path)
    kind = ref.kind
    if not kind:
        tars = [s for s in SOURCES if s.form == "tar"]
        kind = next((s.kind for s in tars if tar.has(s.marker)), "")
        if not kind:
            tar.close()
            raise InputError(f"{path}: tar archive has neither {' nor '.join(s.marker for s in tars)}")
    return source(kind).open_function()(ref, tar, limits, verify_all)
