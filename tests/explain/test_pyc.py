"""pyc look-inside on real bytecode made by `python -m compileall`."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from repro.diff.finding import Finding
from repro.explain import explain
from repro.explain.formats import context, look_inside, pyc

SOURCE = "import os\n\nGREETING = 'hello'\n\ndef f(x):\n    return [x, GREETING, os.sep]\n"


def compile_pyc(src: Path, *, sde: int | None = None, mode: str | None = None) -> bytes:
    env = {k: v for k, v in os.environ.items()
           if k not in ("SOURCE_DATE_EPOCH", "PYTHONDONTWRITEBYTECODE", "PYTHONPYCACHEPREFIX")}
    if sde is not None:
        env["SOURCE_DATE_EPOCH"] = str(sde)
    cmd = [sys.executable, "-m", "compileall", "-q", "-f"]
    if mode:
        cmd += ["--invalidation-mode", mode]
    subprocess.run([*cmd, str(src)], check=True, env=env)
    (out,) = (src.parent / "__pycache__").glob(f"{src.stem}.*.pyc")
    data = out.read_bytes()
    out.unlink()
    return data


def source(tmp_path: Path, text: str = SOURCE, mtime: int = 1_600_000_000) -> Path:
    src = tmp_path / "mod.py"
    src.write_text(text)
    os.utime(src, (mtime, mtime))
    return src


def explain_pyc(a: bytes, b: bytes) -> Finding:
    f = Finding(kind="file", field="content", path="usr/lib/python3/mod.cpython-311.pyc")
    (out,) = explain([f], contents=lambda _: (a, b))
    return out


def test_timestamp_pycs_of_touched_source_differ_only_in_mtime(tmp_path):
    src = source(tmp_path)
    a = compile_pyc(src)
    os.utime(src, (1_700_000_000, 1_700_000_000))
    b = compile_pyc(src)
    d = look_inside("mod.pyc", a, b, context())
    assert d["format"] == "pyc"
    assert d["header_diff"] == {"mtime": {"a": 1_600_000_000, "b": 1_700_000_000}}
    assert d["invalidation"] == {"a": "timestamp", "b": "timestamp"}
    assert d["code_equal"] and d["header_only"]
    assert explain_pyc(a, b).cause == "python-bytecode"


def test_source_date_epoch_makes_compileall_write_identical_checked_hash_pycs(tmp_path):
    src = source(tmp_path)
    a = compile_pyc(src, sde=1_000)
    os.utime(src, (1_700_000_000, 1_700_000_000))
    b = compile_pyc(src, sde=2_000)
    assert a == b
    assert pyc.parse_header(a)["invalidation"] == "checked-hash"


def test_pyc_with_and_without_source_date_epoch_differ_in_flags_and_header(tmp_path):
    src = source(tmp_path)
    a = compile_pyc(src)
    b = compile_pyc(src, sde=1_700_000_000)
    d = look_inside("mod.pyc", a, b, context())
    assert d["invalidation"] == {"a": "timestamp", "b": "checked-hash"}
    assert {"flags", "invalidation", "mtime", "source_size", "source_hash"} <= set(d["header_diff"])
    assert d["header_only"]
    out = explain_pyc(a, b)
    assert out.cause == "python-bytecode" and "SOURCE_DATE_EPOCH" in out.hint


def test_checked_hash_pycs_of_different_sources_are_not_a_header_problem(tmp_path):
    a = compile_pyc(source(tmp_path), mode="checked-hash")
    b = compile_pyc(source(tmp_path, SOURCE.replace("hello", "howdy")), mode="checked-hash")
    d = look_inside("mod.pyc", a, b, context())
    assert set(d["header_diff"]) == {"source_hash"}
    assert not d["code_equal"] and not d["header_only"]
    assert explain_pyc(a, b).cause != "python-bytecode"


def test_unchecked_hash_flag_is_read(tmp_path):
    a = compile_pyc(source(tmp_path), mode="unchecked-hash")
    assert pyc.parse_header(a)["invalidation"] == "unchecked-hash"


def test_pyc_present_on_one_side_only_is_python_bytecode():
    f = Finding(kind="file", field="presence", path="app/__pycache__/m.cpython-311.pyc",
                a=True, b=False)
    assert explain([f])[0].cause == "python-bytecode"


def test_old_python_headers_are_read():
    py36 = (3379).to_bytes(2, "little") + b"\r\n" + (5).to_bytes(4, "little") + bytes(8)
    py27 = (62211).to_bytes(2, "little") + b"\r\n" + (7).to_bytes(4, "little") + b"c"
    assert pyc.parse_header(py36)["mtime"] == 5
    assert pyc.parse_header(py27) == {"magic": 62211, "header_size": 8,
                                      "invalidation": "timestamp", "mtime": 7}
    assert pyc.parse_header(b"not a pyc at all") is None
