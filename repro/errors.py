"""One exception hierarchy, raised anywhere, caught once in the CLI (exit 2).

Every message is one line a user can act on: it names the thing that is wrong
(a path, a blob digest, a field) and, where there is one, the way out.
"""


class ReproError(Exception):
    """Trouble: bad input, a failed build, a missing tool. Exit code 2.

    `details`: lines the CLI shows under the one-line message, such as a failed build
    step's last output lines (empty for most errors)."""

    exit_code = 2
    details: tuple[str, ...] = ()


class InputError(ReproError):
    """The user's reference or arguments cannot be used (missing file, bad syntax)."""


class FormatError(ReproError):
    """An image is malformed: bad JSON, missing fields, wrong types, unknown media type."""


class IntegrityError(ReproError):
    """A blob does not match its descriptor (digest or size), or a layer its diffID."""


class LimitError(ReproError):
    """A safety limit was exceeded (nesting depth, counts, sizes); names the flag to raise it."""


class BuildError(ReproError):
    """A build failed, or a daemon could not be started or died."""


class ToolMissing(ReproError):
    """A required external tool (buildctl, buildkitd, runc, ...) is missing or the wrong version."""


class RegistryError(ReproError):
    """A registry refused or failed a request."""
