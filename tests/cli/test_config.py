"""repro.toml: a team's defaults in the context, overridden by flags, recorded in the report."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import pytest

from tests.buildkit_fixtures import EPOCH, ROOT, context
from repro.attest import statement
from repro.cli.config import Config, load_config, parse_settings
from repro.diff import Policy
from repro.errors import InputError


def write(tmp_path, text: str) -> str:
    (tmp_path / "repro.toml").write_text(text)
    return str(tmp_path)


def test_every_documented_key_is_read(tmp_path):
    cfg = load_config(write(tmp_path, """
[check]
ignore = ["var/cache/*"]
semantic = true
platforms = ["linux/amd64", "linux/arm64"]
source-date-epoch = "git"
builds = 3
vary = true
builders = ["buildctl", "buildx:ci"]
"""))
    assert cfg.values == {"ignore": ["var/cache/*"], "semantic": True, "platforms": ["linux/amd64", "linux/arm64"],
                          "source-date-epoch": "git", "builds": 3, "vary": True, "builders": ["buildctl", "buildx:ci"]}
    assert cfg.path == str(tmp_path / "repro.toml") and len(cfg.sha256 or "") == 64


def test_no_file_means_no_config_and_no_config_ignores_the_file(tmp_path):
    assert load_config(str(tmp_path)) == Config()
    write(tmp_path, "[check]\nsemantic = true\n")
    assert load_config(str(tmp_path), disabled=True) == Config()
    with pytest.raises(InputError, match="cannot read"):
        load_config(str(tmp_path), str(tmp_path / "other.toml"))


@pytest.mark.parametrize("text, message", [
    ("[check]\nignroe = ['x']\n", r"unknown key \[check\] 'ignroe' \(known: ignore, semantic"),
    ("[chek]\nignore = ['x']\n", r"unknown table or key 'chek'"),
    ("ignore = ['x']\n", r"unknown table or key 'ignore' \(settings go in a \[check\] table\)"),
    ("[check]\nsemantic = 'yes'\n", r"\[check\] semantic must be true or false, not 'yes'"),
    ("[check]\nignore = 'x'\n", r"ignore must be a list of path globs"),
    ("[check]\nbuilds = 0\n", r"builds must be an integer of at least 1"),
    ("[check]\nsource-date-epoch = 'now'\n", r"source-date-epoch must be \"git\" or an integer"),
    ("[check]\nsource-date-epoch = -1\n", r"source-date-epoch must be"),
    ("[check]\nbuilders = ['docker']\n", r"--builder 'docker'"),
    ("[check\n", r"not valid TOML"),
])
def test_mistakes_are_errors_that_name_the_key(tmp_path, text, message):
    with pytest.raises(InputError, match=message):
        load_config(write(tmp_path, text))


def test_without_tomllib_a_present_file_asks_for_python_3_11(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "tomllib", None)  # as on Python 3.10
    with pytest.raises(InputError, match=r"needs Python 3.11 or later \(tomllib\).*--no-config"):
        load_config(write(tmp_path, "[check]\n"))
    assert load_config(str(tmp_path / "nothing-here")) == Config()  # no file: nothing to read, no error


def test_the_config_is_part_of_the_policy_digest_and_the_attestation():
    report = Config("ctx/repro.toml", "ab" * 32, parse_settings({"check": {"ignore": ["x"]}})).report(["ignore"])
    assert report == {"file": "repro.toml", "sha256": "ab" * 32, "settings": {"ignore": ["x"]},
                      "overridden_by_flags": ["ignore"]}
    with_cfg, without = Policy.make(False, ["x"], report).to_json(), Policy.make(False, ["x"]).to_json()
    assert with_cfg["config"] == report and "config" not in without
    assert with_cfg["digest"] != without["digest"]
    other = Policy.make(False, ["x"], {**report, "sha256": "cd" * 32}).to_json()
    assert other["digest"] != with_cfg["digest"]
    doc = {"inputs": [{"ref": "a", "kind": "oci-archive", "digest": "sha256:" + "1" * 64},
                      {"ref": "b", "kind": "oci-archive", "digest": "sha256:" + "1" * 64}],
           "verdict": "reproducible", "policy": with_cfg, "platforms": []}
    pred = statement(doc)["predicate"]["policy"]
    assert pred["digest"] == {"sha256": with_cfg["digest"].split(":")[1]}
    assert pred["annotations"]["config"] == "repro.toml@sha256:" + "ab" * 32


# end to end ----------------------------------------------------------------------------


def repro(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": ROOT}
    env.pop("SOURCE_DATE_EPOCH", None)
    return subprocess.run([sys.executable, "-m", "repro", *args], capture_output=True, text=True, env=env,
                          cwd=ROOT, timeout=300)


@pytest.mark.buildkit
def test_check_takes_its_defaults_from_repro_toml_and_flags_override_them(base_image, tmp_path):
    ctx = tmp_path / "ctx"
    shutil.copytree(context("clock-in-file"), ctx)
    (ctx / "repro.toml").write_text(f'[check]\nignore = ["stamp"]\nvary = true\nsource-date-epoch = {EPOCH}\n')
    r = repro("check", str(ctx), "--build-context", base_image.build_context, "--format", "json")
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    assert doc["policy"]["ignore"] == ["stamp"] and doc["summary"]["ignored"] == 1  # the clock, set aside
    assert doc["policy"]["config"]["settings"]["vary"] is True and doc["policy"]["config"]["overridden_by_flags"] == []
    assert doc["build"]["vary"] and doc["build"]["source_date_epoch"] == EPOCH
    assert doc["build"]["source_date_epoch_from"] == "repro.toml"

    r = repro("check", str(ctx), "--build-context", base_image.build_context, "--ignore", "nothing",
              "--source-date-epoch", str(EPOCH + 1))
    assert r.returncode == 1, r.stderr  # the flag replaced the file's ignore list: the clock counts again
    assert "config: repro.toml (sha256:" in r.stdout and "overridden by flags: ignore, source-date-epoch" in r.stdout
    assert f"SOURCE_DATE_EPOCH={EPOCH + 1}" in r.stdout and "cause: embedded-timestamp" in r.stdout
