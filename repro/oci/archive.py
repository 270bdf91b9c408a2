"""OCI archive source: the tar `buildctl --output type=oci,dest=x.tar` (or skopeo's
oci-archive:) writes — an OCI layout, tarred. Read in place; never extracted."""

from __future__ import annotations

from typing import BinaryIO

from repro.errors import FormatError
from repro.oci.limits import Limits
from repro.oci.model import check_digest
from repro.oci.reference import Reference
from repro.oci.tarindex import TarIndex
from repro.oci.verify import parse_json
from repro.oci.walker import Blobs, SourceImage, open_from_index_json


def blob_path(digest: str) -> str:
    """`blobs/<alg>/<hex>`; the digest is validated first, so this cannot escape."""
    algo, _, hexpart = check_digest(digest, "blob").partition(":")
    return f"blobs/{algo}/{hexpart}"


class ArchiveBlobs(Blobs):
    def __init__(self, tar: TarIndex) -> None:
        self.tar = tar

    def size(self, digest: str) -> int | None:
        member = self.tar.members.get(blob_path(digest))
        return member.size if member else None

    def open(self, digest: str) -> BinaryIO:
        return self.tar.open(blob_path(digest))  # KeyError if missing: the walker names it

    def close(self) -> None:
        self.tar.close()


def read_member(tar: TarIndex, name: str, limits: Limits) -> bytes:
    size = tar.members[name].size
    if size > limits.max_json_bytes:
        raise limits.exceeded("max_json_bytes", f"{tar.label}: {name}: {size} bytes")
    return tar.read(name, limits.max_json_bytes)


def check_oci_layout(data: bytes, label: str) -> None:
    """The `oci-layout` marker: {"imageLayoutVersion": "1.0.0"}."""
    doc = parse_json(data, f"{label}: oci-layout")
    if not isinstance(doc, dict) or not isinstance(doc.get("imageLayoutVersion"), str):
        raise FormatError(f"{label}: oci-layout has no imageLayoutVersion")


def open_archive(ref: Reference, tar: TarIndex, limits: Limits, verify_all: bool) -> SourceImage:
    """`tar` is already indexed (detection needed it); this source owns it from here."""
    label = tar.label
    try:
        if not tar.has("index.json"):
            raise FormatError(f"{label}: no index.json in the archive")
        if tar.has("oci-layout"):  # buildctl, skopeo and docker write it; tolerate its absence
            check_oci_layout(read_member(tar, "oci-layout", limits), label)
        data = read_member(tar, "index.json", limits)
    except BaseException:
        tar.close()
        raise
    return open_from_index_json(
        ref.text, "oci-archive", ArchiveBlobs(tar), data, ref.name, limits, verify_all, label
    )
