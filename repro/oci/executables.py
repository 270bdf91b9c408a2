"""Do an image's executables run on the platform its manifest names?

BuildKit takes a base image for the platform it is asked for; when the base has no such
variant, a build for linux/arm64 can still succeed and produce an "arm64" image full of
x86-64 programs (a single-platform base is used as it is). Two such builds are identical,
so a verifier would call the image reproducible without a word. This module reads the
ELF header (e_machine, class, byte order) of the first executables of each image manifest
and says when most of them are for another architecture.

Bounded: at most MAX_ELF executables are read per manifest, from the first layers (the
base's programs are there), and only their first 20 bytes; a layer is read at most once.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Any, Callable

from repro.oci.layer_index import iter_entries

MAX_ELF = 32      # ELF files read per manifest
MAX_LAYERS = 4    # layers read per manifest, from the first
_HEAD = 20        # bytes of each file: e_ident (16), e_type (2), e_machine (2)

# e_machine -> OCI architecture; MIPS and PowerPC also depend on class and byte order
_MACHINES = {3: "386", 62: "amd64", 40: "arm", 183: "arm64", 243: "riscv64", 22: "s390x", 258: "loong64"}
_NAMES = {"386": "x86 (i386)", "amd64": "x86-64", "arm": "32-bit ARM", "arm64": "AArch64 (arm64)",
          "riscv64": "RISC-V 64", "s390x": "s390x", "loong64": "LoongArch 64", "ppc64le": "POWER (little-endian)",
          "ppc64": "POWER (big-endian)", "mips": "MIPS", "mipsle": "MIPS (little-endian)", "mips64": "MIPS64",
          "mips64le": "MIPS64 (little-endian)"}


def elf_arch(head: bytes) -> str | None:
    """The OCI architecture an ELF file is built for, from its first 20 bytes; None when
    it is not ELF or the machine is not one OCI names."""
    if len(head) < _HEAD or head[:4] != b"\x7fELF" or head[4] not in (1, 2) or head[5] not in (1, 2):
        return None
    machine = int.from_bytes(head[18:20], "little" if head[5] == 1 else "big")
    is64, little = head[4] == 2, head[5] == 1
    if machine == 21:
        return "ppc64le" if little else "ppc64"
    if machine == 8:
        return ("mips64" if is64 else "mips") + ("le" if little else "")
    return _MACHINES.get(machine)


def describe_arch(arch: str) -> str:
    return _NAMES.get(arch, arch)


@dataclass(frozen=True)
class PlatformMismatch:
    """Most of one manifest's executables are built for another architecture."""

    platform: str       # what the manifest says, "linux/arm64"
    found: str          # the architecture most executables are for, "amd64"
    checked: int        # ELF executables read
    matching: int       # of them, built for the manifest's architecture
    example: str        # a path built for `found`

    def message(self) -> str:
        n, want = self.checked - self.matching, self.platform.split("/")[1] if "/" in self.platform else "?"
        return (f"{self.platform}: {n} of {self.checked} executable{'s' if self.checked != 1 else ''} checked "
                f"{'is' if n == 1 else 'are'} built for {describe_arch(self.found)}, not {want} (e.g. /{self.example}): "
                f"the base image probably has no variant for this platform, so the image will not run there")

    def to_json(self) -> dict[str, Any]:
        return {"kind": "platform-mismatch", "platform": self.platform, "found": self.found,
                "checked": self.checked, "matching": self.matching, "example": self.example,
                "message": self.message()}


def scan(image: Any, manifest: Any, *, max_elf: int = MAX_ELF, max_layers: int = MAX_LAYERS
         ) -> tuple[Counter[str], dict[str, str]]:
    """(architecture -> count, architecture -> one path) over the first executables (regular
    files with an execute bit, ELF) of one manifest's first layers."""
    found: Counter[str] = Counter()
    example: dict[str, str] = {}
    for layer in manifest.layers[:max_layers]:
        heads: dict[str, bytearray] = {}

        def sink(path: str, size: int) -> Callable[[memoryview], None] | None:
            if size < 64:
                return None
            head = heads[path] = bytearray()

            def take(piece: memoryview) -> None:
                if len(head) < _HEAD:
                    head.extend(piece[:_HEAD - len(head)])
            return take

        with image.open_layer(layer) as stream:
            for entry, _ in iter_entries(stream, content_sink=sink):
                head = heads.pop(entry.path, None)
                if head is None or entry.type != "file" or not entry.mode & 0o111:
                    continue
                arch = elf_arch(bytes(head))
                if arch is not None:
                    found[arch] += 1
                    example.setdefault(arch, entry.path)
                    if sum(found.values()) >= max_elf:
                        return found, example
    return found, example


def platform_mismatches(image: Any) -> list[PlatformMismatch]:
    """One PlatformMismatch per image manifest whose checked executables are mostly built
    for an architecture other than the one its platform names."""
    out = []
    for manifest in image.manifests:
        if manifest.is_attestation or manifest.platform is None or not manifest.layers:
            continue
        want = manifest.platform.architecture
        found, example = scan(image, manifest)
        checked = sum(found.values())
        if not checked:
            continue
        other, n = max(((a, c) for a, c in found.items() if a != want), key=lambda ac: ac[1], default=(None, 0))
        if other is not None and n * 2 > checked:
            out.append(PlatformMismatch(str(manifest.platform), other, checked, found.get(want, 0), example[other]))
    return out
