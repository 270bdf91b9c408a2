"""locales (strict): RUN steps get LANG, LC_ALL and LANGUAGE for fr_CH.UTF-8 (as
reprotest's experiment does), unless the build sets any of them itself.
"""

from __future__ import annotations

from repro.buildkit.variations._base import Edit, Files, Host, RuntimeVariation

LOCALE = {"LANG": "fr_CH.UTF-8", "LC_ALL": "fr_CH.UTF-8", "LANGUAGE": "fr_CH:fr"}
_ANY = ["LANG", "LANGUAGE", "LC_ALL", "LC_CTYPE", "LC_COLLATE", "LC_TIME", "LC_NUMERIC", "LC_MESSAGES"]


class Locales(RuntimeVariation):
    name = "locales"
    reprotest = "locales"
    changes = "RUN steps get a locale (LANG, LC_ALL, LANGUAGE), where BuildKit sets none"

    def value(self, index: int) -> str:
        return "LC_ALL=fr_CH.UTF-8"

    def edits(self, host: Host, index: int, files: Files) -> list[Edit]:
        return [{"op": "env", "name": k, "value": v, "unless_set": _ANY} for k, v in LOCALE.items()]


VARIATION = Locales()
