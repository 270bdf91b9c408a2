"""explain end to end: two generated images through the differ and `repro diff --format json`."""

from __future__ import annotations

import gzip
import importlib
import io
import json
import pathlib
import zipfile

import pytest

from repro.cli import main
from tests import imagegen as g
from tests.imagegen import ImageSpec, LayerSpec, write_image


def jar(dt: tuple) -> bytes:
    bio = io.BytesIO()
    with zipfile.ZipFile(bio, "w") as zf:
        zf.writestr(zipfile.ZipInfo("META-INF/MANIFEST.MF", dt), b"Manifest-Version: 1.0\n")
    return bio.getvalue()


def spec(n: int) -> ImageSpec:
    """Build n (0 or 1) of a made-up image with a typical set of nondeterminisms."""
    t = 1_700_000_000 + n * 77
    return ImageSpec(
        created=f"2023-11-14T22:1{n}:20Z",
        layers=[
            LayerSpec([g.dir("etc"), g.file("etc/machine-id", [b"0" * 32, b"f" * 32][n] + b"\n"),
                       g.file("etc/hostname", b"box\n", mtime=t)]),
            LayerSpec([g.dir("var"), g.file("var/log/dpkg.log", b"2023-11-14 install x %d\n" % n),
                       g.file("usr/share/doc/x/changelog.gz",
                              gzip.compress(b"changes\n" * 50, mtime=t)),
                       g.file("opt/app.jar", jar((2023, 11, 14, 22, 13, n * 2))),
                       g.file("etc/stamp", [b"Tue Nov 14 22:13:20 UTC 2023\n",
                                            b"Wed Nov 15 08:00:00 UTC 2023\n"][n]),
                       g.file("etc/app.conf", b"level=%d\n" % n, uid=n * 1000)]),
        ])


@pytest.fixture
def report(tmp_path, capsys) -> list[dict]:
    write_image(spec(0), tmp_path / "a.tar")
    write_image(spec(1), tmp_path / "b.tar")
    with pytest.raises(SystemExit) as e:
        main(["diff", str(tmp_path / "a.tar"), str(tmp_path / "b.tar"), "--format", "json"])
    assert e.value.code == 1
    return json.loads(capsys.readouterr().out)["findings"]


def test_every_kind_of_difference_gets_its_cause(report):
    causes = {(f["kind"], f["field"], f.get("path")): f.get("cause") for f in report}
    assert causes[("config", "created", None)] == "image-created"
    assert causes[("config", "history", None)] == "image-created"
    assert causes[("file", "content", "etc/machine-id")] == "machine-id"
    assert causes[("file", "mtime", "etc/hostname")] == "file-mtime"
    assert causes[("file", "content", "var/log/dpkg.log")] == "dpkg-apt-logs"
    assert causes[("file", "content", "usr/share/doc/x/changelog.gz")] == "gzip-header"
    assert causes[("file", "content", "opt/app.jar")] == "zip-timestamps"
    assert causes[("file", "content", "etc/stamp")] == "embedded-timestamp"
    assert causes[("file", "uid", "etc/app.conf")] == "ownership"
    assert causes[("file", "content", "etc/app.conf")] == "unknown"  # a real change: no cause claimed


def test_looks_inside_reach_the_report(report):
    by_path = {f["path"]: f for f in report if f["field"] == "content"}
    assert by_path["etc/stamp"]["detail"]["only_timestamps"] is True
    assert "-level=0" in by_path["etc/app.conf"]["detail"]["diff"]
    assert by_path["usr/share/doc/x/changelog.gz"]["detail"]["payload_equal"] is True
    assert by_path["etc/machine-id"]["hint"].startswith("ship /etc/machine-id empty")


def test_perfs_many_layers_pair_gets_its_iso_stamp_as_embedded_timestamp(tmp_path, capsys, monkeypatch):
    """benchmarks/imageshapes.py `many-layers` (smaller): the layer whose text got "built
    2024-05-02T10:11:12Z" written over a few words is an embedded timestamp, not unknown."""
    monkeypatch.syspath_prepend(str(pathlib.Path(__file__).resolve().parents[2] / "benchmarks"))
    shapes = importlib.import_module("imageshapes")
    pair = shapes.generate(lambda: shapes.shape_many_layers(n_layers=4, files_per_layer=30), tmp_path, 1,
                           "many-layers-small", log=lambda _: None)
    stamped = [m["path"] for m in pair.params["mutations"] if "ISO" in m["note"]]
    assert len(stamped) == 1
    with pytest.raises(SystemExit):
        main(["diff", str(pair.a), str(pair.b), "--format", "json"])
    found = {f["path"]: f for f in json.loads(capsys.readouterr().out)["findings"] if f.get("path")}
    f = found[stamped[0]]
    assert f["cause"] == "embedded-timestamp" and f["hint"]
    assert f["detail"]["timestamps"][0]["b"] == "2024-05-02T10:11:12Z"
