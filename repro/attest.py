"""An in-toto Statement v1 carrying an SLSA Verification Summary (v1) of a verdict.

The statement is unsigned JSON, ready for `cosign attest --type custom --predicate`
(predicate only) or for any signer of in-toto statements (whole statement).
See docs/attestation.md.
"""

from __future__ import annotations

import datetime as _dt
import json
from typing import Any, Mapping

from repro import BUILDKIT_VERSION, __version__

STATEMENT_TYPE = "https://in-toto.io/Statement/v1"
VSA_TYPE = "https://slsa.dev/verification_summary/v1"
VERIFIER_ID = "https://github.com/repro-oci/repro"
# Custom levels (the VSA spec reserves the SLSA_ prefix for SLSA's own tracks).
LEVEL_BIT_FOR_BIT = "REPRO_BIT_FOR_BIT"
LEVEL_SEMANTIC = "REPRO_SEMANTIC"


def _sha(d: str) -> dict[str, str]:
    alg, _, hexd = d.partition(":")
    return {alg: hexd}


def statement(doc: Mapping[str, Any], *, now: _dt.datetime | None = None) -> dict[str, Any]:
    """Build the statement from a repro-report/v1 document.

    subject: image A's top-level digest and each of its platform manifests (the image
    under verification: the published one, or the first build); inputAttestations: both
    compared images; policy: what was ignored, by digest.
    """
    a, b = doc["inputs"]
    subjects = [{"name": a["ref"], "digest": _sha(a["digest"])}]
    for p in doc.get("platforms", []):
        side = p.get("a")
        if p.get("role") == "image" and side and side["manifest"] != a["digest"]:
            subjects.append({"name": f"{a['ref']}@{p['platform']}", "digest": _sha(side["manifest"])})
    pol = doc["policy"]
    passed = doc["verdict"] == "reproducible"
    level = LEVEL_SEMANTIC if pol["mode"] == "semantic" else LEVEL_BIT_FOR_BIT
    when = (now or _dt.datetime.now(_dt.timezone.utc)).strftime("%Y-%m-%dT%H:%M:%SZ")
    versions = {"repro": __version__}
    build = doc.get("build") or {}
    versions["buildkit"] = str(build.get("buildkit_version") or BUILDKIT_VERSION)
    predicate: dict[str, Any] = {
        "verifier": {"id": VERIFIER_ID, "version": versions},
        "timeVerified": when,
        "resourceUri": a["ref"],
        "policy": {
            "uri": f"{VERIFIER_ID}/policy/{pol['mode']}",
            "digest": _sha(pol["digest"]),
            "annotations": {"mode": pol["mode"], "ignore": ",".join(pol.get("ignore", [])),
                            "semantic_rules": ",".join(r["name"] for r in pol.get("semantic_rules", [])),
                            # the repro.toml the policy came from (its hash is covered by the digest too)
                            **({"config": f"{pol['config']['file']}@sha256:{pol['config']['sha256']}"}
                               if pol.get("config") else {}),
                            # how the builds were varied: what a passing verdict has withstood
                            **_variations(build)},
        },
        "inputAttestations": [{"uri": i["ref"], "digest": _sha(i["digest"]),
                               "annotations": {"kind": i["kind"], "side": s}}
                              for s, i in zip("ab", doc["inputs"])],
        "verificationResult": "PASSED" if passed else "FAILED",
        # VSA v1: the levels verified, or "FAILED" when policy verification failed.
        "verifiedLevels": [level] if passed else ["FAILED"],
        "dependencyLevels": {},
        "slsaVersion": "1.0",
    }
    return {"_type": STATEMENT_TYPE, "subject": subjects, "predicateType": VSA_TYPE, "predicate": predicate}


def _variations(build: Mapping[str, Any]) -> dict[str, str]:
    """The policy annotations of `check`'s variations (docs/variations.md): the set, and per
    varied build what was applied and what was not."""
    var = build.get("variations")
    if not isinstance(var, Mapping):
        return {}
    out = {"variations": f"{var.get('set')}:{','.join(var.get('names') or [])}"}
    applied: list[str] = []
    missing: list[str] = []
    for b in build.get("builds") or []:
        for a in b.get("variations") or []:
            (applied if a.get("applied") else missing).append(a["name"])
    out["variations_applied"] = ",".join(dict.fromkeys(applied))
    out["variations_not_applied"] = ",".join(n for n in dict.fromkeys(missing) if n not in applied)
    return out


def render_statement(doc: Mapping[str, Any]) -> str:
    return json.dumps(statement(doc), indent=2, ensure_ascii=False) + "\n"
