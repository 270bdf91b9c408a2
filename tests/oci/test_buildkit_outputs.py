"""Real BuildKit v0.32.2 outputs, embedded (gzip + base64, a few KB), read by every path.

Made once with buildctl from this Dockerfile (SOURCE_DATE_EPOCH=1700000000,
rewrite-timestamp=true), so the suite checks real-world archives without a daemon:

    FROM scratch
    COPY hello.txt /data/hello.txt
    COPY --chmod=4755 run.sh /bin/run
    ENV A=b
    COPY sub/ /sub/            # sub/deep/x and a symlink sub/link -> ../hello.txt

  OCI: --output type=oci,compression=zstd,force-compression=true,name=example.com/repro/fixture:1
       --opt platform=linux/amd64,linux/arm64 --opt attest:provenance=mode=min
  docker: --output type=docker,name=example.com/repro/fixture:2   (writes index.json AND manifest.json)
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import shutil
import subprocess

import pytest

from repro.errors import InputError
from repro.oci import iter_entries, open_image

BUILDKIT_OCI = (
    "H4sIAAAAAAACA+1cfYxcVRWfUku2hRqgLW2JJOMYEezuzP1+721SbaWYkjTQSK0CkvZ+7r52Zt4483bZUlaLsRT/otKotEgo"
    "iRiwBKMV/ExoCWKCkShKCNEEDJhKYhQTG9HE4HlvZ6azu2233dldWng3m515b+7nOff8zu+c+2ZUOVKNUm5WC4LicZ6+Qpn4"
    "Ovk9RhSJXJ7n5qAMNWJZh+FnYpGdiztPikr13xiUhIvSOaN/THGm/7nXP+IYMxlgP/CQxMT5jitqmLICSeGkNBIFBtPAExwb"
    "TyntY59TZLWgvkOIn0Y0jLFT6p8gNl7/BHvUy+VRpv9ZL1c/WfqfyS18cn6u8OziZQfx5bncJ14+/tQDnzp4YP++7+xZds/m"
    "R47ufqrvH/X5qz50bOlzS5SYt/Xhw0+8Gb1Ef/HfS48/dOHhu3uW535aPn7t0YW5u3JL7ty88MF3ts1fsXFxvPyrrx/5U+53"
    "F/Tszt1y5MAHcxfuejH32sU3P7qS3nl4wSp/c/Hwhid6Xln72yW5rJwb9o+18n3iRMCw5ykhNaJUBQbMHikjpNC+8aQCg9VC"
    "W19w5DFHFNPaSOdhpKZn/wQTOsH+CfVQZv9zUXYuyucLDT1oK3KzrTfCqFroz5Pe5G7FmlBu2lGzcKcga7VyqGUMFUrDVVOM"
    "dFgMK3LAFiuyGjrbiIvDeNW2BrRPG+uo6sIBaJkMcOadjTUb1xU0NuEADJC0HNuo/cJZJ5hQVHNjqeEEa23BMwnjrKKI+c5w"
    "6VmmwEdJqxjWRmAZMOQTXxiGWx03wjuSCQWUw/VoOvGy3AFygJu3plXGpn/mC0ibw/yLsKtW3dGITXOok62iW3d7ouvmOjAl"
    "7VuyWo3idIaNthbSD9RQWDbbw7hUt7fXwzi21b44rMDMZKWWTA57LUMsNBuNpq+jvbMuEM9xajRWvnIKCR1oT6HAOu4k93xf"
    "YuWRwPc1C4yygSGCe0JiA8oHlEKepycLhJ3fAqE8IBz2r3BMSIcwCzRsfEeosThgAgzAC1zgrAQ0JjjgVjrtBPYtYKriPpks"
    "EI/PokDg/22LRjOner76/26323T5P/cm+n8seOb/547/L168IFd4bsmKvSu35Xb1HNko9fr9K4/94bI/vnHTv368bsO8Q333"
    "rV+4bO8ltHj7b/4+T64fuf+CH/2qcnDpvmsGv3dozT279jz29C+3XvPd118ovXrs5yH79fd/9s6ePY9dmdt/88fXzHv06av2"
    "Lnp03tY7jiwtH3jxa/Szm3LL81/GEh284q/FnoGj8Su7+lfkb9jb8+yz+aWLBudt7+9Z8fZ/Ljiy8u4ad2+7izbXHv/C3fu/"
    "ffnFP/nnfZnBzqb9MwYUyknKgYcIDxwuBhwwWDgPDJ4FNmBOMacJdtaDWxQjjQQCBNBSOufLado/IMAk+ycZ/58b/p+568z+"
    "2/ZvwNTBywML0JZ7mDKmOaaaWk6CQBufBQEl3GjhU56ELCYgFsJ/6xtOpUYzFv9jD2f+P4v/Txn/W0s1hIWCMy6s9RjE0MmO"
    "FMT4xndWW8UVp47A9gySKooAdZUW+8YDPitFFv9n8X8W/2fxf1bG+f9u06rT8/9YsEnxv6Ai8/9z4v8Lsq4Hw9jqeKgOCAGX"
    "FcEKvW0HvrNwXXW40H9rYePaTetXl4Ya9VI50rJcaqiw2t9x3b488UH6ZuwS/kGna1erwm29hc9F9e1hdWBdWIcBS4VRGK1u"
    "ZWwNXBJEaB/GfZhtIqQf036CboGWg2Ejjuo7YCI7p67crLBFQf3CtTduvDk/aMvlqBiPxPmSkbEsnbj+SL4Fd+miKxVbBQRu"
    "Y2DRRHq7rbuwbIvDCKY6reH7+vRgJTKrmcd5vj5ULTYG84lISvB+1mdw3Q2b84ngz6Dz3oKt1OIdW1IfVeiP60N2mituDKlS"
    "vpT+P8v1wf6IwCEVymF1aARa1KModo1kI8apb20xtF5wl85tCU0j2Z1Nh+kshA4B1hjiEep7DJnARyjhUwZz7lsJDMrHnvDB"
    "nUpgkU5IpBkEPJ6EP2mh12ZPHKiZT60C0qgow8g6ZCkyViEmDPBJZaymlAnkiNSUWCy1otbDiBqBeMJFWj1pooTDnq+QDLjD"
    "DDngfMxDQWAA5pxjKsA4oaVAUgnizoNJQxyGGPEg2nJgMaOjc4P/nvU9DYuVvsYIeAeSzBklPJyAPAR5jiGsCNMGO4jZCJE+"
    "CMFKDeuHgtF08d/DE/GfYJzh/9zg/5amWQ3Gca3RXyqFwPaiOCqGUekmoIc2MdfSMIb9XKsDwwVOazeNb9EoN2TR2OFSrR4N"
    "26qsajvWAMx/GziWFLSrspK0qW0f6B8z+JIdAT5ZTmK+CjBNaFty4UjihdbgT9bKMnZRvbI6RYGPkk/LikndUosi72xaF3TZ"
    "bdaiMJpgTntxSd8pNq2zLqyGcRoSN29NWPhAGA8OqXQBlUjtKLWJc2JVpYpsxLBMWG2jJIFFN5pkO5VXn2n33ihWTIK8I1C7"
    "KssbZR1EFadB6M6mG74pGqrrZGbgKuv2i0NNEbh6VAV2ngDzRBxPfXKjU/I6qTsSpw6keetEoxR2E6SdaszR0RTDa7AUFZbD"
    "eEc7a0BR8llYPdkqUsHY+samVlvoXmprtT2RdncFXCSimCgHhh+qrrOxDMudnSVvw2TpCX+AoWTi2NOb1eFoLPK6Pvm4jPAA"
    "iYM6HogdQKpHLDGSV4ajZIOC7YPfurE65tpE4tqIvwl7/Rj1U1bEmCPqeUwkTi7RV2PwdLUFR5xT7ie1W3thS8fURjtuJ0Is"
    "g4CqtpGuqi1iB3qzicgbUXnYwi6sgYZtVYe20fxwNCmzgv9dxt/TPf/DYtLzP5hm+D93538LF3wgd9mCS5bt3dOXu3LLvh8+"
    "deCNb3zrusu/svvB31/xmWsv/XD+6Nb8M5vvXbzr+r88jP8dfb18/M5H1tx19d5N3yy9/Or+gbeev/f+d+yhjy3PPbx2wcKr"
    "cvMWXbZha37tly5d8lZu8dY1u3Ph/DdeeJ7su2tjz8EFj7+Z3/rasYtyAyueeen+Pz/Q9/mjP6ivdPVb/nao8FAWj7+r8X9A"
    "kBAWYUcV0FBBAAYEeEnMuAek0KPKMqoMuFdKfYmcD9SXGgUQSbRHWECnyf/4SZ7/ZVn8f17n/8Gvhk7q+FTtxzx+sYMXzdRB"
    "QhrBTnmC0O1R94QTBNIaJ3X0+QKEiqsL3Z0pNHl45zJOmjPvMmablCIOOJ06RdwRJLSJc1/cXMkUccHknHEqpHawcJZHRifd"
    "NidVebdxwniVY4y8RMPnd8J7HP53e6w2c/lf0E2G/+9O/rcZkmX53yz/m+V/31/5X+d5gdFcWY4CzSQE9hxmznWgJVXOuEAk"
    "VCiQVArFfKcVMcgTQQALRs5aO2P8n4B3yfA/4/8Z/5+S/zsAJF8RhwjgmKe4BDZLAUQ8qY01CqzYaV8I6XGKAK60FB6HIJ9b"
    "B4DEtXz/8P9uv9343uf/3e6lmTv/o4xk+J+d/3Wc/zUfSznJ+V/Xdp2d/2Xnf9n5X4L/GkImgYAIOYoVscIarcCudMCQ0Foq"
    "THxrXYCY4wxb4hiTUlDqrHAIEzY9/KcYT8Z/mj3/cZ7w/xB258h4zt6iZNN/jP4UpG4W07rjiV37Xq0NWZ30d3zOLN9Kmp2o"
    "kGQw8s0Uxkw8NH4W8pghmtudPMa89Tkhj24PNSfJw6di6gCpI8atW2frAOC2OHt791QjtkKyDv7R15JdWxFnqdyh6vZqdHt1"
    "snpbH8yxgrvNWs2mgmfMGM9hBWff+jiPy5j3Tixs9sZI+JA4zfNfguKJv/9HUPb7b3MU/08gf6S3E6LPnPd1kj4IOqfXRws/"
    "29DeZUCShHgppmOBgt7xYA6BYpR83xTiyqqtm+aMmpHxKXMT/UleI6oPFCMIy9qtG62vr051UHbKloDorbFxkpCYKzwFXfSV"
    "5Y5oKJ5d+z/t7z9QMcn+cZb/myP7T/ffhnQLdCZfUJJ7yfxjVrKSlay8V8v/AfVSEbAAXgAA"
)
BUILDKIT_DOCKER = (
    "H4sIAAAAAAACA+1Zb4wVVxV/JXRL1tq01upui/KctgnC7pv7f2Y2xZYA5U9WpRtSa9cNvTP33t2B92aeM/Nwt9snmzQpNX4w"
    "RhoRK5CQ2i8aS6yESJVisB+MbcliJKkKRJPWDyoNLTSk0Oed2d0H7MqCu+wi5p2XzMydN/fcc//8zj2/e9xi6MZmbkYFaLEo"
    "ze5axt8nPkOAAcvlaW4WpBInPNLNX4tOXty5G0TcbP7jPo4oM/9n5h9i2Jj/2Z9/mwCFiMMUsqAjFLEpk7aLFEYAQJ7+uEs9"
    "wl1Fha0wA9gSwrYoRkpA6qJJhoYQcrn5RxDhS+cfIYD0/IPG/M+4DDbn80bs9ckSf1RGsR8GRkcetaVvS1L4fN1AWeo3Bi+X"
    "i77HE/2BuSkQhdDzC36J98pCiQe+knFS2AQXb4h1/ayyFwbK79U10wauXtlItUtU6crC79UNpDVHFmqHlNhTVDFK9AqVFnGg"
    "bWMKGBK2XpjSky51KVbIQdJJP3GRiy0uoS0sxRRnY4pj/8nUIAdTXa5mhhf5gB4H/bI7+2TE/KvvQFZd21/Qq2px75N+ebSp"
    "/9QL5WINK8qAhNhRug/E9TTUONfYAh6XymNMUIQJga6tEWgDi1DhOFjqPjlCXFA92g+tpv6KB0GYZBbG9VnI/nArflFs9BMz"
    "kt+I/CSRQXvil7RlvFROjYPWGBCN0UrV7F5tm/EBsTmRQnrEcgWWFNqQEBszjiylHKmAsFzLwzbD2EbSVlCPFdEeyabIsYBw"
    "HTpxQAi+oQfEkRRRRRiTuoR1hz2qvSXHygaQAaHdrxSeo4ALPKU9sWS2QMpBji2VoJ5jTxwQm87ggOhrT3M115AbRy7d/6eJ"
    "v6nt/zoAsCbs/ww39v/ZkAXfnjfyUPvH8J7b5nzu1qYTb3zwyZYFJ7656odf+M7ddwbO95YdO771uwd/OwTPdK9p2fXuB7/8"
    "5+KPN+UWDS8a+vXeilj9k+a95+ctfyG/+x78iwfMW27auePIg/9a+dhHK/+y5dhNQ8ff3tm188BLXdtOfWvzjtrZl9+at/WV"
    "P4dn7zi196n9977zfIxfmaPbrh0+tCGfa27A8frif7rbzVTxb8Hx+IcUNfA/y/jferD5N+DWZwbPfP7M3D8d3779nUfmL/zU"
    "XUeXLlg//PSWz859rrjqwx702mPDT33xx2dBi8wN/erNOx5qfe/n9598tvW+k+0PgR8dLXRue3Hf5pYTR2tbt3x456Ha1+ef"
    "3P79Ex+rnRp470DOrK02t7zvrXz/tQOLz3Xvl0fahw/97vyLr791F/nj8rcffP5nn359/kANb36p9hn8gzdOny/fvWzfabji"
    "p39dtLP28O5HzDdTK2v9c1eVc7c1gDsT+J8urZoa/iEjE/Z/zXka+J8V/m/wyOvzE+kllUgzBIOXBCNGW53ADxorgk1GR7ex"
    "dum6VUvMShyZxdDjRTN2/aDjonK9eOGP7GGkqC9a6dIlrtHTZnwljDb6Qe9yP9INmkZVtxZJnkihiwgg3A5hOyTrEOqAuAOB"
    "x3XNPj9OwmhAGzJ45Y9HP1jv6u+NZV9e+9V8nywWw0LSn+RNwRNuXijfmx+jO1mnSyUZaAZW50AFEXobZaT8oixsAtrUKTXf"
    "3u71lUKxhFiU5qNKUIj78umQmPp5xi1Y8aVH8+nAX4XyNkOWysnA+oyjGh1JVJFT7HFccc28mV3/y/7p9RFqQmoU/aDSr2tE"
    "YZioOF2IScatx05o2jRdVmq9L+J0dY4dqUhoQQd6kGKObYsA4dgAMMCZgJTakmsCbEOL2Ywrrt2dYhx4BDvI0iyHc6m1jmqi"
    "kHAbS1d7NxcTCDT/kRgI6QLChHZ8riZKGBMGFOIeRhJyz8XSggALBqjlXdDkIZcpaNku4A5VkADFHUgs4DiCYaYUcR0IU/+p"
    "vSkCVGku5TB9JchyMFIaMdXq7Pj/6R5ITZn/jT//hazB/2Y7/luzum31H3p3tYORdM3NR5qamv5OtpX63A3CDYIn5nxCw4ng"
    "J9aCF/bsf3XXy/vu2/PswVeHuuLDS6zlOfsj3BVHp06vWbSmz7tl4QO/7+x899CB1sfP3dPa0goWHr7/9pX9557evWPjrh7Y"
    "/PDBhS037x46lrs9jeie+dvhrzW433USPxCyv5Aets9cG+mCYpPg34J0fP5P084G/mcn/huX/EFtFx9kT3KOPbJy6pkaYywP"
    "FGcx2tXpmJg7qp+B13MC08xJpvtwdvYNIbDaLj30HjT8ME05JdwPZCRGjQp4KbVa9vNSuZimpEpmJMtRaCq/Pw2SO1KdYdRb"
    "CMsyqNeOxzJYV4qVLlszkmqsbZTGxOUiT1QYlVI7LxOkXxQoVas9U4kS6jMwgy7gSvhnAI3Hv45+GvifDdFQXTbK9Ixrehag"
    "V2eXLIfreG8Wn0+GJh3xd45mXbuNaxqQaiOuaYJjvL5p5+d6qj3Xd/61L27XhCqsJDO7/08W/wPMGvv/ddv/s82nM1sC9SDA"
    "gAVQ0Fy8ER83pCENacj/q/wb2EH+vwAuAAA="
)

INDEX = "sha256:fc874606adf31b2e6edcb694c9406ccab128eef904f541e2f44aa633fe6f0124"
AMD64 = "sha256:4d6f76b3925ce571344c513c3e5299cd8499325dc68350a12d92e4cce8d53ac0"
ARM64 = "sha256:1cb882f694177b6ac033b9dda00bd6a6c8d7ab002c6ce865074f2b4ccdaf710b"
DIFF_IDS = [
    "sha256:fe17191c153a38740d980060a6d1558ea185817686afaee3f6a0c43927a27aae",
    "sha256:514a83ebe18b3410ef0e30deb046db2bbdec33460f2ac32e1acb3e7103d6057c",
    "sha256:c2b6f178b0a95f140fa9147099d636ff4b911f6fa2b3205f70d96f70427932fb",
]
INSTRUCTIONS = ["COPY hello.txt /data/hello.txt", "COPY --chmod=4755 run.sh /bin/run", "COPY sub/ /sub/"]
ENTRIES = [
    [("data", "dir", 0o755), ("data/hello.txt", "file", 0o644)],
    [("bin", "dir", 0o755), ("bin/run", "file", 0o4755)],
    [("sub", "dir", 0o755), ("sub/deep", "dir", 0o755), ("sub/deep/x", "file", 0o644), ("sub/link", "symlink", 0o777)],
]


def unpack(text: str, path) -> str:
    path.write_bytes(gzip.decompress(base64.b64decode(text)))
    return str(path)


def check_image_manifest(image, mi, media_type: str) -> None:
    assert [l.diff_id for l in mi.layers] == DIFF_IDS
    assert [l.instruction for l in mi.layers] == INSTRUCTIONS  # ENV's empty_layer entry skipped
    assert {l.descriptor.media_type for l in mi.layers} == {media_type}
    for layer, want in zip(mi.layers, ENTRIES):
        with image.open_layer(layer) as stream:
            got = [(e, c) for e, c in iter_entries(stream, capture_limit=100)]
        assert [(e.path, e.type, e.mode) for e, _ in got] == want
        assert {e.mtime for e, _ in got} == {"1700000000"}  # rewrite-timestamp
        for e, content in got:
            if e.path == "data/hello.txt":
                assert content == b"hello\n"
            if e.path == "sub/link":
                assert e.linkname == "../hello.txt"


def test_buildkit_oci_archive_multi_platform_zstd_with_attestations(tmp_path):
    path = unpack(BUILDKIT_OCI, tmp_path / "oci.tar")
    for ref in (path, f"oci-archive:{path}:1", f"oci-archive:{path}:example.com/repro/fixture:1"):
        with open_image(ref, verify_all=True) as image:
            assert image.digest == INDEX
            assert image.index is not None and len(image.index["manifests"]) == 4
            images = [mi for mi in image.manifests if not mi.is_attestation]
            assert [(str(mi.platform), mi.descriptor.digest) for mi in images] == [("linux/amd64", AMD64), ("linux/arm64", ARM64)]
            assert [mi.attests for mi in image.manifests if mi.is_attestation] == [AMD64, ARM64]
            for mi in images:
                check_image_manifest(image, mi, "application/vnd.oci.image.layer.v1.tar+zstd")
            att = [mi for mi in image.manifests if mi.is_attestation][0]
            with image.open_layer(att.layers[0]) as stream:
                assert b"https://slsa.dev/provenance/v1" in stream.read()
    with pytest.raises(InputError, match="no image named '2'"):
        open_image(f"oci-archive:{path}:2")


def test_buildkit_docker_output_opens_both_ways(tmp_path):
    path = unpack(BUILDKIT_DOCKER, tmp_path / "docker.tar")
    with open_image(path) as image:  # index.json and manifest.json: the OCI view wins
        assert image.kind == "oci-archive"
        [mi] = image.manifests
        assert image.digest == mi.descriptor.digest
        check_image_manifest(image, mi, "application/vnd.oci.image.layer.v1.tar+gzip")
    with open_image(f"docker-archive:{path}:example.com/repro/fixture:2") as image:
        [mi] = image.manifests
        assert image.digest == mi.config_descriptor.digest  # docker's image ID
        assert str(mi.platform) == "linux/amd64"
        check_image_manifest(image, mi, "application/vnd.docker.image.rootfs.diff.tar.gzip")


def test_skopeo_reads_our_fixture_the_way_we_do(tmp_path):
    skopeo = shutil.which("skopeo")
    assert skopeo, "skopeo is part of the test environment"
    path = unpack(BUILDKIT_OCI, tmp_path / "oci.tar")
    out = subprocess.run(
        [skopeo, "--insecure-policy", "inspect", "--raw", f"oci-archive:{path}"],
        check=True, capture_output=True, timeout=60,
    ).stdout
    with open_image(path) as image:
        assert "sha256:" + hashlib.sha256(out).hexdigest() == image.digest
