"""The variations without a daemon: the registry, `--vary` lists, the records a build
reports, the runc wrapper's edits on a real OCI bundle layout, and bisect's verdicts."""

from __future__ import annotations

import importlib.util
import json
import math
import os
import subprocess
import sys
import threading
import time

import pytest
from hypothesis import given
from hypothesis import strategies as st

from repro.buildkit.bisect import attribute, finding_key
from repro.buildkit.variations import (ALL, DEFAULT, VARIATIONS, BuildVariations, Host, Selection, _runtime, select,
                                       table)
from repro.buildkit.variations._base import PLACES, ContextVariation, RuntimeVariation, StartVariation
from repro.buildkit.variations.memory import scaled
from repro.buildkit.variations.num_cpus import one_cpu
from repro.diff.finding import Finding
from repro.errors import InputError

WRAPPER = _runtime.WRAPPER


def load_wrapper():
    spec = importlib.util.spec_from_file_location("runc_wrapper", WRAPPER)
    module = importlib.util.module_from_spec(spec)
    assert spec.loader is not None
    spec.loader.exec_module(module)
    return module


# the registry ------------------------------------------------------------------------

def test_every_module_of_the_package_is_one_variation_with_its_facts():
    assert len(VARIATIONS) >= 13
    for name, v in VARIATIONS.items():
        assert v.name == name and v.changes and v.where in PLACES
        hook = {"context": ContextVariation, "start": StartVariation, "runtime": RuntimeVariation}[v.where]
        assert isinstance(v, hook)
    assert set(DEFAULT) == {"time", "stagger", "num_cpus", "kernel", "memory", "build_path", "context_mtimes"}
    assert set(ALL) - set(DEFAULT) == {"timezone", "locales", "umask", "domain_host", "environment", "exec_path"}
    assert [r["name"] for r in table()] == list(VARIATIONS)


@pytest.mark.parametrize("text, names, label", [
    ("default", DEFAULT, "default"),
    ("all", ALL, "all"),
    ("none", (), "none"),
    ("all,-umask", tuple(n for n in ALL if n != "umask"), "custom"),
    ("-time", tuple(n for n in DEFAULT if n != "time"), "custom"),
    ("+timezone", tuple(n for n in VARIATIONS if n in DEFAULT or n == "timezone"), "custom"),
    ("umask,kernel", ("kernel", "umask"), "custom"),
    ("default,+umask,-umask", DEFAULT, "default"),
])
def test_vary_lists_read_as_reprotest_reads_them(text, names, label):
    assert select(text) == Selection(tuple(names), label)


def test_vary_true_false_and_lists():
    assert select(True) == select(None) == select("default") and select(False).names == ()
    assert select(["time", "umask"]).names == ("time", "umask")


def test_an_unknown_variation_is_one_line_listing_the_known_ones(tmp_path):
    with pytest.raises(InputError, match=r"unknown variation 'tyme'.*known: default, realistic, all, none, "):
        select("tyme")
    with pytest.raises(InputError, match=r"a build context goes before --vary"):
        select(str(tmp_path))
    with pytest.raises(InputError, match="--vary needs a list"):
        select(" , ")


@given(st.lists(st.sampled_from([*VARIATIONS, "all", "none", "default"]), min_size=1, max_size=6),
       st.lists(st.sampled_from("+-"), min_size=6, max_size=6))
def test_any_vary_list_gives_known_names_in_registry_order(items, signs):
    text = ",".join(s + i if k else i for k, (s, i) in enumerate(zip(signs, items)))
    chosen = select(text)
    assert set(chosen.names) <= set(VARIATIONS)
    assert list(chosen.names) == [n for n in VARIATIONS if n in chosen.names]
    assert chosen.strict_only == tuple(n for n in chosen.names if n not in DEFAULT)


def test_the_control_is_never_varied():
    assert select("all").for_build(0) is None and select("all").for_build(1) == BuildVariations(ALL, 1)
    assert select("none").for_build(1) is None


# what a varied build gets ------------------------------------------------------------

def test_only_a_context_variation_copies_the_context_and_build_path_renames_it(tmp_path):
    ctx = tmp_path / "app"
    ctx.mkdir()
    (ctx / "Dockerfile").write_text("FROM base\n")
    assert BuildVariations(("kernel",), 1).context(str(ctx), str(ctx / "Dockerfile"), 1, str(tmp_path / "w")) == \
        (str(ctx), str(ctx / "Dockerfile"))
    copy, _ = BuildVariations(("context_mtimes",), 1).context(str(ctx), str(ctx / "Dockerfile"), 1, str(tmp_path / "w1"))
    assert os.path.basename(copy) == "app" and copy != str(ctx)
    copy, df = BuildVariations(("build_path",), 2).context(str(ctx), str(ctx / "Dockerfile"), 1, str(tmp_path / "w2"))
    assert os.path.basename(copy) == "app-varied-2" and df == os.path.join(copy, "Dockerfile")


def test_the_stagger_grows_with_the_build_and_only_when_chosen():
    assert BuildVariations(DEFAULT, 1).delay() == 2.0 and BuildVariations(DEFAULT, 2).delay() == 4.0
    assert BuildVariations(("time",), 1).delay() == 0.0


def test_records_say_where_a_runtime_variation_took_effect_and_why_not_elsewhere():
    host = Host.probe()
    bv = BuildVariations(("stagger", "time", "umask"), 1)
    log = [{"applied": ["umask"], "skipped": {"time": "the rootfs has no glibc (static binaries)"}},
           {"applied": ["time", "umask"], "skipped": {}}]
    rec = {r.name: r for r in bv.records(host, None, log)}
    assert rec["stagger"].applied and rec["umask"].applied and not rec["umask"].not_applied
    assert rec["time"].applied and rec["time"].not_applied == \
        "not in 1 of 2 RUN steps: the rootfs has no glibc (static binaries)"
    unreachable = {r.name: r for r in bv.records(host, "buildx builder x runs a BuildKit repro did not start", log)}
    assert not unreachable["time"].applied and "did not start" in unreachable["umask"].not_applied
    assert unreachable["stagger"].applied  # not a RUN-step variation: applies on any builder
    none = {r.name: r for r in bv.records(host, None, [])}
    assert not none["umask"].applied and none["umask"].not_applied == "no RUN step ran"


def test_one_cpu_and_half_the_memory():
    info = "processor\t: 0\nmodel name\t: X\n\nprocessor\t: 1\nmodel name\t: Y\n"
    assert one_cpu(info, 1) == "processor\t: 0\nmodel name\t: Y\n\n"
    assert scaled("MemTotal:       24683584 kB\nHugePages_Total:       0\n", 2) == \
        "MemTotal:       12341792 kB\nHugePages_Total:       0\n"


def test_this_machine_offers_libfaketime_and_a_static_busybox():
    host = Host.probe()  # scripts/setup-runtime.sh installs libfaketime; the test set-up busybox-static
    assert host.faketime_dir and host.faketime_glibc >= (2, 2) and "libc.so.6" in host.faketime_needs
    assert host.static_busybox and host.elf_machine in (62, 183)


# the runc wrapper ---------------------------------------------------------------------

BUILDKIT_MOUNTS = [{"destination": "/proc", "type": "proc", "source": "proc"},
                   {"destination": "/dev", "type": "tmpfs", "source": "tmpfs"},
                   {"destination": "/sys", "type": "sysfs", "source": "sysfs"}]


def _bundle(tmp_path, rootfs_files: dict[str, bytes], env: list[str] | None = None,
            mounts: list[dict] | None = None) -> str:
    bundle = tmp_path / "bundle"
    root = bundle / "rootfs"
    for path, data in rootfs_files.items():
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        if path.endswith("@link"):
            os.symlink(data.decode(), root / path[:-5])
        else:
            (root / path).write_bytes(data)
    root.mkdir(parents=True, exist_ok=True)
    spec = {"process": {"args": ["/bin/sh", "-c", "date"], "env": env or ["PATH=/bin"], "user": {"uid": 0}},
            "root": {"path": str(root)}, "hostname": "buildkitsandbox",
            "mounts": list(BUILDKIT_MOUNTS if mounts is None else mounts)}
    (bundle / "config.json").write_text(json.dumps(spec))
    return str(bundle)


def _glibc(version: str, machine: int = 62) -> bytes:
    head = b"\x7fELF\x02\x01\x01" + b"\0" * 11 + machine.to_bytes(2, "little")
    return head + b"\0" * 100 + f"GNU C Library (Debian GLIBC {version}-9) stable release version {version}.\n".encode()


def _apply(tmp_path, edits, files, env=None, mounts=None):
    w = load_wrapper()
    bundle = _bundle(tmp_path, files, env, mounts)
    record = w.apply({"edits": edits}, bundle)
    with open(os.path.join(bundle, "config.json")) as f:
        return record, json.load(f)


PRELOAD = {"variation": "time", "op": "preload", "source_dir": "/usr/lib/x86_64-linux-gnu/faketime",
           "destination": "/dev/.repro-faketime", "library": "libfaketime.so.1", "triplet": "x86_64-linux-gnu",
           "machine": 62, "min_glibc": [2, 34], "needs": ["libc.so.6", "libm.so.6"],
           "env": {"FAKETIME": "+90061"}}


def test_libfaketime_goes_into_a_glibc_rootfs_through_its_merged_usr_symlinks(tmp_path):
    record, spec = _apply(tmp_path, [PRELOAD], {"lib@link": b"usr/lib", "usr/lib/x86_64-linux-gnu/libc.so.6":
                                                _glibc("2.36"), "usr/lib/x86_64-linux-gnu/libm.so.6": b"x"})
    assert record["applied"] == ["time"] and record["skipped"] == {}
    assert "LD_PRELOAD=/dev/.repro-faketime/libfaketime.so.1" in spec["process"]["env"]
    assert "FAKETIME=+90061" in spec["process"]["env"]
    assert spec["mounts"][-1]["destination"] == "/dev/.repro-faketime" and "ro" in spec["mounts"][-1]["options"]


@pytest.mark.parametrize("files, why", [
    ({"bin/busybox": b"\x7fELF static"}, "the rootfs has no glibc (static binaries)"),
    ({"lib/ld-musl-x86_64.so.1": b"x"}, "the rootfs has musl, not glibc"),
    ({"lib64/libc.so.6": _glibc("2.17"), "lib64/libm.so.6": b"x"},
     "the rootfs's glibc 2.17 is older than 2.34, which libfaketime needs"),
    ({"lib/x86_64-linux-gnu/libc.so.6": _glibc("2.36", machine=183)},
     "the rootfs's glibc is for another architecture (an emulated platform)"),
    ({"lib/x86_64-linux-gnu/libc.so.6": _glibc("2.36")}, "the rootfs lacks libm.so.6, which libfaketime needs"),
])
def test_libfaketime_stays_out_of_a_rootfs_it_cannot_load_in_and_says_why(tmp_path, files, why):
    record, spec = _apply(tmp_path, [PRELOAD], files)
    assert record["applied"] == [] and record["skipped"] == {"time": why}
    assert not any(e.startswith("LD_PRELOAD=") for e in spec["process"]["env"]) and spec["mounts"] == BUILDKIT_MOUNTS


def test_env_edits_never_override_what_the_build_set(tmp_path):
    edits = [{"variation": "timezone", "op": "env", "name": "TZ", "value": "GMT-14"},
             {"variation": "locales", "op": "env", "name": "LANG", "value": "fr_CH.UTF-8", "unless_set": ["LANG", "LC_ALL"]},
             {"variation": "locales", "op": "env", "name": "LC_ALL", "value": "fr_CH.UTF-8", "unless_set": ["LANG", "LC_ALL"]},
             {"variation": "exec_path", "op": "env_append", "name": "PATH", "value": ":/x"}]
    record, spec = _apply(tmp_path, edits, {}, env=["PATH=/bin", "TZ=UTC"])
    assert record["skipped"] == {"timezone": "the build sets TZ itself"} and record["applied"] == ["locales", "exec_path"]
    assert spec["process"]["env"] == ["PATH=/bin:/x", "TZ=UTC", "LANG=fr_CH.UTF-8", "LC_ALL=fr_CH.UTF-8"]


def test_spec_edits_for_host_umask_cpus_and_kernel(tmp_path):
    online = tmp_path / "online"
    online.write_text("0\n")
    edits = [{"variation": "domain_host", "op": "hostname", "value": "h"},
             {"variation": "domain_host", "op": "domainname", "value": "d.invalid"},
             {"variation": "umask", "op": "umask", "value": 2},
             {"variation": "memory", "op": "mount", "destination": "/proc/meminfo", "source": str(tmp_path / "gone")}]
    record, spec = _apply(tmp_path, edits, {})
    assert spec["hostname"] == "h" and spec["domainname"] == "d.invalid" and spec["process"]["user"]["umask"] == 2
    assert record["skipped"] == {"memory": f"{tmp_path / 'gone'} is missing"}  # runc would fail the step


def test_nothing_is_mounted_where_its_mount_point_would_reach_the_layer(tmp_path):
    # rootless BuildKit mounts no /sys: a bind mount there would create sys/devices/... in the rootfs
    src = tmp_path / "online"
    src.write_text("1\n")
    rootless = [m for m in BUILDKIT_MOUNTS if m["destination"] != "/sys"]
    edits = [{"variation": "num_cpus", "op": "mount", "destination": "/sys/devices/system/cpu/online",
              "source": str(src)},
             {"variation": "memory", "op": "mount", "destination": "/proc/meminfo", "source": str(src)},
             {"variation": "umask", "op": "mount", "destination": "/etc/x", "source": str(src)}]
    record, spec = _apply(tmp_path, edits, {}, mounts=rootless)
    assert record["applied"] == ["memory"]
    assert record["skipped"] == {
        "num_cpus": "/sys is not a mounted file system here (its mount point would reach the layer)",
        "umask": "/etc is not a mounted file system here (its mount point would reach the layer)"}
    assert [m["destination"] for m in spec["mounts"]] == ["/proc", "/dev", "/proc/meminfo"]


def test_the_wrapper_execs_runc_with_its_arguments_and_logs_one_line_per_step(tmp_path):
    bundle = _bundle(tmp_path, {})
    plan = tmp_path / "plan.json"
    log = tmp_path / "log.jsonl"
    plan.write_text(json.dumps({"log": str(log), "edits": [{"variation": "umask", "op": "umask", "value": 2}]}))
    out = tmp_path / "argv"
    fake_runc = tmp_path / "runc"  # stands in for runc only to show what the wrapper execs
    fake_runc.write_text(f"#!/bin/sh\necho \"$@\" > {out}\n")
    fake_runc.chmod(0o755)
    args = ["--log", "/x.json", "--log-format", "json", "run", "--bundle", bundle, "--keep", "c1"]
    subprocess.run([sys.executable, "-I", "-S", WRAPPER, str(plan), str(fake_runc), "--root", "/s", "--", *args],
                   check=True, timeout=30)
    assert out.read_text().split() == ["--root", "/s", *args]
    (line,) = log.read_text().splitlines()
    assert json.loads(line)["applied"] == ["umask"]
    subprocess.run([sys.executable, "-I", "-S", WRAPPER, str(plan), str(fake_runc), "--", "delete", "c1"],
                   check=True, timeout=30)
    assert len(log.read_text().splitlines()) == 1  # only run/create are edited


def test_step_sync_waits_for_the_control_plus_the_gap(tmp_path):
    w = load_wrapper()
    sync_dir = tmp_path / "sync"
    sync_dir.mkdir()
    (sync_dir / "b0.0").write_text(repr(time.time()))
    spec = {"process": {"args": ["/bin/true"], "env": ["PATH=/bin"]}}
    t0 = time.time()
    got = w.sync({"dir": str(sync_dir), "me": "b1", "wait_for": ["b0"], "gap": 0.5}, spec, str(tmp_path))
    assert time.time() - t0 >= 0.45 and got["step"] == 0 and (sync_dir / "b1.0").exists()
    (sync_dir / "b0.done").write_text("")
    t1 = time.time()
    assert w.sync({"dir": str(sync_dir), "me": "b1", "wait_for": ["b0"], "gap": 0}, spec, str(tmp_path))["step"] == 1
    assert time.time() - t1 < 0.3  # the control is done: no wait for its step 1


def test_an_aligned_release_waits_until_every_peers_shim_runs(tmp_path):
    """A --bisect round: a container can take seconds to start on a busy machine, so the
    second all steps read the clock in is counted from when the last shim runs."""
    w = load_wrapper()
    sync_dir = tmp_path / "sync"
    (sync_dir / "ready").mkdir(parents=True)
    now = time.time()
    (sync_dir / "b0.0").write_text(f"{now!r} shim")   # b0's step 0 claimed; its container is still starting
    (sync_dir / "b2.0").write_text(repr(now))         # b2 waits outside its container: its mark's time counts
    plan = {"dir": str(sync_dir), "me": "b1", "wait_for": ["b0", "b2"], "align": True}
    timer = threading.Timer(1.6, lambda: (sync_dir / "ready" / "b0.0").write_text(""))
    timer.start()
    try:
        release = w._release_time(plan, 0, now, 30)
    finally:
        timer.join()
    shim_ran = os.stat(sync_dir / "ready" / "b0.0").st_mtime
    assert release == math.floor(shim_ran) + 1.05 and release > shim_ran
    # a peer that is done is not waited for; without shims, the marks' times count
    (sync_dir / "b0.done").write_text("")
    (sync_dir / "b0.1").write_text(f"{now!r} shim")
    (sync_dir / "b2.1").write_text(repr(now))
    t0 = time.monotonic()
    assert w._release_time(plan, 1, now, 30) == math.floor(now) + 1.05 and time.monotonic() - t0 < 0.5


def test_the_release_shim_restores_the_steps_own_environment(tmp_path):
    w = load_wrapper()
    (tmp_path / "sync").mkdir()
    root = tmp_path / "root"
    (root / "etc").mkdir(parents=True)
    (root / "etc" / "passwd").write_text("root:x:0:0:root:/root:/bin/sh\n")
    spec = {"process": {"args": ["/bin/sh", "-c", "env"], "env": ["PATH=/bin", "A=1"], "user": {"uid": 0}},
            "mounts": []}
    got = w.sync({"dir": str(tmp_path / "sync"), "me": "b1", "wait_for": [], "align": True,
                  "busybox": Host.probe().static_busybox, "timeout": 5}, spec, str(root))
    assert got == {"step": 0, "shim": True}
    args = spec["process"]["args"]
    assert args[0] == "/dev/.repro-sync/busybox" and args[1:3] == ["sh", "-c"] and args[4] == "repro-sync"
    assert args[5:] == ["PATH=/bin", "A=1", "HOME=/root", "/bin/sh", "-c", "env"]
    # run the shim for real on this machine: the command gets exactly its environment
    script = args[3].replace("/dev/.repro-sync/marks", str(tmp_path / "sync")).replace(
        "/dev/.repro-sync/busybox", Host.probe().static_busybox)
    (tmp_path / "sync" / "go.0.b1").write_text("")
    out = subprocess.run([Host.probe().static_busybox, "sh", "-c", script, "repro-sync", *args[5:-3], "/usr/bin/env"],
                         capture_output=True, text=True, timeout=30, env={"SHLVL": "7", "X": "y"})
    assert out.stdout.splitlines() == ["PATH=/bin", "A=1", "HOME=/root"]  # (no ready dir mounted: no matter)
    # with the ready dir there, the shim says it runs before it waits
    (tmp_path / "sync" / "ready").mkdir()
    script = script.replace("/dev/.repro-sync/ready", str(tmp_path / "sync" / "ready"))
    out = subprocess.run([Host.probe().static_busybox, "sh", "-c", script, "repro-sync", *args[5:-3], "/usr/bin/env"],
                         capture_output=True, text=True, timeout=30, env={})
    assert out.stdout.splitlines() == ["PATH=/bin", "A=1", "HOME=/root"]
    assert (tmp_path / "sync" / "ready" / "b1.0").exists()


# bisect's verdicts --------------------------------------------------------------------

def test_attribution_prefers_differs_with_no_variation_over_any_variation():
    provoked, open_keys = attribute(["f", "k", "r", "x"], noise={"r"},
                                    found={"stagger": {"f", "r"}, "kernel": {"k", "r"}, "num_cpus": {"r", "k"}})
    assert provoked == {"f": ("stagger",), "k": ("kernel", "num_cpus"), "r": ()}
    assert open_keys == ["x"]


def test_provoked_by_is_in_the_json_only_when_attributed():
    f = Finding(kind="file", field="content", path="stamp")
    assert "provoked_by" not in f.to_json()
    assert f.with_(provoked_by=()).to_json()["provoked_by"] == []
    assert f.with_(provoked_by=("time", "stagger")).to_json()["provoked_by"] == ["time", "stagger"]


def test_a_finding_and_its_json_have_one_key():
    f = Finding(kind="file", field="content", platform="linux/amd64", layer=1, path="stamp",
                detail={"size_a": 1})
    assert finding_key(f) == finding_key(f.to_json()) == finding_key(f.with_(layer=2, a="x"))
