"""repro: a reproducible-build verifier for container images."""

__version__ = "0.1.0"
BUILDKIT_VERSION = "v0.32.2"  # the BuildKit release repro installs and drives
