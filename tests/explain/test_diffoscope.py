"""--diffoscope: diffoscope runs as a subprocess on the files that still differ."""

from __future__ import annotations

import json

import pytest

from repro.cli import main
from repro.explain.diffoscope import find_diffoscope
from tests.imagegen import vary, write_image
from tests.imagegen import base_spec


def test_diffoscope_output_is_embedded_for_differing_files(capsys, tmp_path):
    assert find_diffoscope()  # installed by scripts/setup.sh; missing is a failure, not a skip
    write_image(base_spec(), tmp_path / "a.tar")
    write_image(vary(base_spec(), 1, "etc/stamp", content=b"Wed Nov 15 08:00:00 UTC 2023\n"), tmp_path / "b.tar")
    with pytest.raises(SystemExit) as e:
        main(["diff", str(tmp_path / "a.tar"), str(tmp_path / "b.tar"), "--diffoscope", "--format", "json"])
    assert e.value.code == 1
    doc = json.loads(capsys.readouterr().out)
    (f,) = doc["findings"]
    text = f["detail"]["diffoscope"]
    assert "-Tue Nov 14 22:13:20 UTC 2023" in text and "+Wed Nov 15 08:00:00 UTC 2023" in text
    assert str(tmp_path) not in text  # temp paths are not leaked into the report


def test_missing_diffoscope_is_a_clear_exit_2(capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", "/nonexistent")
    monkeypatch.setenv("REPRO_TOOLS_DIR", str(tmp_path / "none"))
    write_image(base_spec(), tmp_path / "a.tar")
    write_image(vary(base_spec(), 1, "etc/stamp", content=b"x"), tmp_path / "b.tar")
    with pytest.raises(SystemExit) as e:
        main(["diff", str(tmp_path / "a.tar"), str(tmp_path / "b.tar"), "--diffoscope"])
    err = capsys.readouterr().err
    assert e.value.code == 2 and "pip install diffoscope" in err and "Traceback" not in err
