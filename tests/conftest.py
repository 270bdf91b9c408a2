"""Fixtures shared by every test folder (pytest finds them here): real buildkitd daemons
and tools, an isolated temp dir, a rootless user, a buildx remote builder, and real
registries on 127.0.0.1. Nothing here skips: a missing tool fails with its install hint."""

from tests.buildkit_fixtures import base_image, buildkit_tools, debian_base, isolated, rootless_user  # noqa: F401
from tests.buildx_fixtures import buildx_remote  # noqa: F401
from tests.registry_fixtures import auth_registry, registry, tls_registry, token_registry  # noqa: F401
from tests.remote_fixtures import arm64_emulation, multiarch_base, ssh_agent, tls_certs, tls_daemons  # noqa: F401
