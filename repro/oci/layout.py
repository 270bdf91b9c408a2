"""OCI layout directory source (`oci:DIR`, skopeo's and buildctl's `type=oci,tar=false`)."""

from __future__ import annotations

import os
import stat
from typing import BinaryIO

from repro.errors import FormatError, InputError
from repro.oci.archive import blob_path, check_oci_layout
from repro.oci.limits import Limits
from repro.oci.reference import Reference
from repro.oci.verify import read_limited
from repro.oci.walker import Blobs, SourceImage, open_from_index_json


class LayoutBlobs(Blobs):
    def __init__(self, root: str) -> None:
        self.root = root

    def _path(self, digest: str) -> str:
        return os.path.join(self.root, *blob_path(digest).split("/"))

    def size(self, digest: str) -> int | None:
        try:
            st = os.stat(self._path(digest))
        except OSError:
            return None
        return st.st_size if stat.S_ISREG(st.st_mode) else None

    def open(self, digest: str) -> BinaryIO:
        try:
            return open(self._path(digest), "rb", buffering=0)
        except FileNotFoundError:
            raise KeyError(digest) from None

    def close(self) -> None:
        pass  # every blob is its own file, closed by its reader


def _read_file(path: str, label: str, limits: Limits) -> bytes:
    try:
        with open(path, "rb", buffering=0) as f:
            data = read_limited(f, limits.max_json_bytes)
    except OSError as e:
        raise InputError(f"{label}: cannot read {os.path.basename(path)}: {e.strerror or e}") from None
    if len(data) > limits.max_json_bytes:
        raise limits.exceeded("max_json_bytes", f"{label}: {os.path.basename(path)}")
    return data


def open_layout(ref: Reference, limits: Limits, verify_all: bool) -> SourceImage:
    label = ref.path
    if not os.path.exists(ref.path):
        raise InputError(f"{label}: no such file or directory")
    if not os.path.isdir(ref.path):
        raise InputError(f"{label}: not a directory (an OCI layout is one; use oci-archive: for a tar)")
    marker = os.path.join(ref.path, "oci-layout")
    if not os.path.isfile(marker):
        raise InputError(f"{label}: not an OCI layout (no oci-layout file)")
    check_oci_layout(_read_file(marker, label, limits), label)
    index = os.path.join(ref.path, "index.json")
    if not os.path.isfile(index):
        raise FormatError(f"{label}: OCI layout has no index.json")
    data = _read_file(index, label, limits)
    return open_from_index_json(
        ref.text, "oci", LayoutBlobs(ref.path), data, ref.name, limits, verify_all, label
    )
