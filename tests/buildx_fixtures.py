"""Fixtures for tests that build through `docker buildx` (marked `buildkit`).

No Docker daemon is needed: the builder uses buildx's `remote` driver pointed at an
ephemeral buildkitd, and lives in a private DOCKER_CONFIG so nothing reaches ~/.docker.
A missing docker CLI or buildx plugin fails the test with the install hint
(scripts/install-buildx.sh), as a missing BuildKit does.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from typing import Iterator

import pytest

from repro.buildkit import EphemeralDaemon, Tools
from repro.buildkit.buildx import find_buildx, remote_builder


@dataclass(frozen=True)
class RemoteBuilder:
    name: str           # the buildx builder's name: --builder buildx:NAME
    docker_config: str  # the private DOCKER_CONFIG that holds it
    addr: str           # the ephemeral buildkitd it drives

    @property
    def ref(self) -> str:
        return f"buildx:{self.name}"

    def env(self) -> dict[str, str]:
        """os.environ with this DOCKER_CONFIG, for subprocesses."""
        return {**os.environ, "DOCKER_CONFIG": self.docker_config}


@pytest.fixture(scope="module")
def buildx_remote(buildkit_tools: Tools) -> Iterator[RemoteBuilder]:  # noqa: F811
    """A buildx builder (remote driver) on an ephemeral rootful buildkitd; DOCKER_CONFIG
    is set to its private dir while the module's tests run."""
    find_buildx()  # ToolMissing fails here with the install hint
    saved = tempfile.tempdir
    short = tempfile.mkdtemp(prefix="rbx-", dir="/tmp")  # unix socket paths must stay short
    tempfile.tempdir = short
    try:
        with EphemeralDaemon(tools=buildkit_tools) as daemon, remote_builder(daemon.addr, "repro-test") as (name, cfg):
            yield RemoteBuilder(name, cfg, daemon.addr)
    finally:
        tempfile.tempdir = saved
        os.rmdir(short)
