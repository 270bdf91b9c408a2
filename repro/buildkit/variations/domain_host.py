"""domain_host (strict): RUN steps get another host name and NIS domain name instead of
BuildKit's `buildkitsandbox` (uname -n, hostname, domainname).
"""

from __future__ import annotations

from repro.buildkit.variations._base import Edit, Files, Host, RuntimeVariation


class DomainHost(RuntimeVariation):
    name = "domain_host"
    reprotest = "domain_host"
    changes = "RUN steps get another host name and domain name instead of buildkitsandbox"

    def value(self, index: int) -> str:
        return f"hostname repro-varied-{index}, domain repro-varied.invalid"

    def edits(self, host: Host, index: int, files: Files) -> list[Edit]:
        return [{"op": "hostname", "value": f"repro-varied-{index}"},
                {"op": "domainname", "value": "repro-varied.invalid"}]


VARIATION = DomainHost()
