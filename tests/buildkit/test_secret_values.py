"""repro.buildkit.secrets: --secret/--ssh forms checked before a build, and redaction."""

from __future__ import annotations

import socket

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from repro.buildkit.secrets import Redactor, check_sources, parse_secret, secret_values
from repro.errors import InputError


def test_secret_forms_of_buildctl_and_buildx() -> None:
    assert parse_secret("id=tok,src=/a/b") == parse_secret("id=tok,source=/a/b") == parse_secret(
        "type=file,id=tok,src=/a/b")
    assert (parse_secret("id=tok,env=TOKEN").kind, parse_secret("id=tok,env=TOKEN").ref) == ("env", "TOKEN")
    assert parse_secret("id=tok,type=env,env=T").kind == "env"
    for bad in ("tok", "id=tok", "id=tok,src=/x,mode=1", "id=t,type=ssh,src=/x"):
        with pytest.raises(InputError):
            parse_secret(bad)


def test_missing_sources_are_named_before_any_build(tmp_path) -> None:
    f = tmp_path / "tok"
    f.write_text("value")
    check_sources((f"id=a,src={f}", "id=b,env=B"), (), env={"B": "x"})
    with pytest.raises(InputError, match="is not a file"):
        check_sources((f"id=a,src={tmp_path}/nope",), ())
    with pytest.raises(InputError, match="B is not set"):
        check_sources(("id=b,env=B",), (), env={})
    with pytest.raises(InputError, match="given twice"):
        check_sources((f"id=a,src={f}", "id=a,env=B"), (), env={"B": "x"})
    with pytest.raises(InputError, match="SSH_AUTH_SOCK is not set"):
        check_sources((), ("default",), env={})
    with pytest.raises(InputError, match="does not exist"):
        check_sources((), ("default",), env={"SSH_AUTH_SOCK": str(tmp_path / "gone.sock")})
    sock = str(tmp_path / "agent.sock")
    with socket.socket(socket.AF_UNIX) as s:
        s.bind(sock)
        check_sources((), ("default", f"deploy={sock}", f"keys={f},{f}"), env={"SSH_AUTH_SOCK": sock})
    with pytest.raises(InputError, match="neither"):
        check_sources((), (f"d={tmp_path}",), env={})


def test_every_line_of_a_multi_line_secret_is_redacted(tmp_path) -> None:
    f = tmp_path / "netrc"
    f.write_text("machine example.org\nlogin me\npassword hunter22\n")
    redact = Redactor.for_secrets((f"id=netrc,src={f}",))
    assert redact("#7 0.2 password hunter22") == "#7 0.2 [secret netrc]"
    assert "hunter22" not in redact(f.read_text() + " and again password hunter22")
    assert not Redactor.for_secrets(("id=e,env=UNSET",), env={})
    assert secret_values(("id=e,env=E",), env={"E": "abc"}) == {}  # too short to redact safely


@settings(max_examples=300, deadline=None)
@given(st.text(min_size=4, max_size=12), st.text(max_size=40), st.text(max_size=40),
       st.text(alphabet="abc-_", min_size=1, max_size=5))
def test_a_redacted_text_never_holds_the_secret(secret: str, before: str, after: str, sid: str) -> None:
    if len(secret.strip()) < 4 or any(len(ln.strip()) < 4 for ln in secret.splitlines()):
        return
    redact = Redactor(secret_values((f"id={sid},env=S",), env={"S": secret}))
    out = redact(before + secret + after + secret)
    assert secret not in out and secret.strip() not in out
