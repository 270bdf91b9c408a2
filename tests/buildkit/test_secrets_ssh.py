"""--secret and --ssh reach every build (buildctl and buildx alike), and a secret's value
appears in no report, attestation, log, --debug output or image.

Real parts: ephemeral buildkitd daemons, a buildx builder (remote driver) on one, a real
ssh-agent holding a fresh key, and RUN --mount=type=secret / type=ssh steps that prove
the secret and the agent were there (the image holds the secret's sha256 and the agent's
key fingerprints, never the secret).
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import secrets
import shutil
import subprocess
import sys
import tarfile
import zlib

import pytest

from tests.buildkit_fixtures import EPOCH, ROOT, context
from tests.remote_fixtures import Agent

pytestmark = pytest.mark.buildkit


def repro(*args: str, env: dict[str, str] | None = None, cwd: str | None = None,
          timeout: float = 600) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "repro", *args], capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, **(env or {})}, cwd=cwd or ROOT, stdin=subprocess.DEVNULL)


def image_files(oci_tar: str) -> dict[str, bytes]:
    """Every file of every layer of every manifest in an OCI tarball: layer/path -> bytes."""
    out: dict[str, bytes] = {}
    with tarfile.open(oci_tar) as tf:
        blobs = {m.name: tf.extractfile(m).read() for m in tf.getmembers() if m.isfile()}  # type: ignore[union-attr]
    for name, data in blobs.items():
        if data[:2] == b"\x1f\x8b":
            try:
                layer = gzip.decompress(data)
            except (OSError, EOFError, zlib.error):
                continue
            import io

            with tarfile.open(fileobj=io.BytesIO(layer)) as lt:
                for m in lt.getmembers():
                    if m.isfile():
                        out[f"{name}:{m.name}"] = lt.extractfile(m).read()  # type: ignore[union-attr]
    return out


def all_bytes(oci_tar: str) -> bytes:
    """The tarball's raw bytes and every decompressed layer."""
    with open(oci_tar, "rb") as f:
        raw = f.read()
    parts = [raw]
    with tarfile.open(oci_tar) as tf:
        for m in tf.getmembers():
            data = tf.extractfile(m).read() if m.isfile() else b""  # type: ignore[union-attr]
            if data[:2] == b"\x1f\x8b":
                parts.append(gzip.decompress(data))
    return b"\n".join(parts)


@pytest.fixture
def secret(tmp_path) -> tuple[str, str, str]:
    """(file secret value, its file, env secret value): random, so that finding them means leaking them."""
    value = "repro-secret-" + secrets.token_hex(16)
    path = tmp_path / "token.txt"
    path.write_text(value)
    return value, str(path), "repro-env-secret-" + secrets.token_hex(16)


def _check_args(base_image, keep: str, out: str, *extra: str) -> list[str]:
    return ["--debug", "check", context("secret-mount"), "--source-date-epoch", str(EPOCH), "--build-context",
            base_image.build_context, "--progress", "plain", "--keep", keep, "--format", "json", "-o",
            os.path.join(out, "report.json"), "--attest", os.path.join(out, "attestation.json"), *extra]


def test_secret_reaches_every_build_and_appears_nowhere(base_image, buildkit_tools, secret, tmp_path) -> None:
    value, path, env_value = secret
    keep, out = str(tmp_path / "keep"), str(tmp_path / "out")
    os.makedirs(out)
    summary = tmp_path / "summary.md"
    run = repro(*_check_args(base_image, keep, out, "--secret", f"id=tok,src={path}",
                             "--secret", "id=envtok,env=REPRO_TEST_TOKEN"),
                env={"REPRO_TEST_TOKEN": env_value, "GITHUB_STEP_SUMMARY": str(summary)})
    assert run.returncode == 0, run.stderr[-3000:]
    tars = sorted(os.path.join(keep, n) for n in os.listdir(keep))
    assert len(tars) == 2
    for tar in tars:  # the secrets were mounted: the image holds what the RUN steps derived from them
        files = image_files(tar)
        digest = next(v for k, v in files.items() if k.endswith(":tok.sha256"))
        assert digest.decode().strip() == hashlib.sha256(value.encode()).hexdigest()
        length = next(v for k, v in files.items() if k.endswith(":envtok.length"))
        assert int(length.decode()) == len(env_value)
    seen = {"stdout": run.stdout.encode(), "stderr": run.stderr.encode(), "summary": summary.read_bytes()}
    for name in os.listdir(out):
        seen[name] = (tmp_path / "out" / name).read_bytes()
    doc = json.loads(seen["report.json"])
    assert doc["verdict"] == "reproducible" and doc["build"]["source_date_epoch"] == EPOCH
    from repro.report import RENDERERS, render

    for fmt in RENDERERS:  # the same report in every other format
        seen[f"report as {fmt}"] = render(doc, fmt).encode()
    for tar in tars:
        seen[tar] = all_bytes(tar)
    for where, data in seen.items():
        for leaked in (value, env_value):
            assert leaked.encode() not in data, f"the secret is in {where}"


def _fingerprint(pub_or_key: str) -> str:
    out = subprocess.run(["ssh-keygen", "-lf", pub_or_key], capture_output=True, text=True, timeout=60, check=True)
    return out.stdout.split()[1]  # "256 SHA256:... comment (ED25519)"


@pytest.fixture(scope="module")
def ssh_context(tmp_path_factory) -> str:
    """testdata/contexts/ssh-agent with agent-list built into it (static Go, stdlib only)."""
    ctx = str(tmp_path_factory.mktemp("ssh") / "ctx")
    shutil.copytree(context("ssh-agent"), ctx)
    go = shutil.which("go")
    assert go, "go is needed to build agent-list (scripts/setup.sh installs it)"
    subprocess.run([go, "build", "-trimpath", "-ldflags=-s", "-o", "agent-list", "agent-list.go"], cwd=ctx, check=True,
                   timeout=600, env={**os.environ, "CGO_ENABLED": "0", "GO111MODULE": "off"})
    return ctx


def test_ssh_agent_and_key_file_reach_every_build(base_image, buildkit_tools, ssh_agent: Agent, ssh_context,
                                                   tmp_path) -> None:
    deploy = str(tmp_path / "deploy_key")
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "deploy", "-f", deploy], check=True,
                   timeout=60)
    keep = str(tmp_path / "keep")
    run = repro("check", ssh_context, "--source-date-epoch", str(EPOCH), "--build-context", base_image.build_context,
                "--progress", "plain", "--keep", keep, "--ssh", "default", "--ssh", f"deploy={deploy}",
                env={"SSH_AUTH_SOCK": ssh_agent.sock})
    assert run.returncode == 0, run.stderr[-3000:]
    want_agent = _fingerprint(ssh_agent.key_path + ".pub")
    for tar in sorted(os.path.join(keep, n) for n in os.listdir(keep)):
        files = image_files(tar)
        agent_keys = next(v for k, v in files.items() if k.endswith(":agent-keys")).decode().split()
        deploy_keys = next(v for k, v in files.items() if k.endswith(":deploy-keys")).decode().split()
        assert agent_keys[0] == want_agent and agent_keys[1] == "repro-test"  # the real agent's key
        assert deploy_keys[0] == _fingerprint(deploy + ".pub")  # the key file, served by buildctl's own agent
    with open(deploy) as f:
        private = f.read().split("\n")[1]
    assert private.encode() not in all_bytes(tar) and private not in run.stderr


def test_ssh_without_an_agent_is_a_clear_error(base_image, buildkit_tools, ssh_context, tmp_path) -> None:
    env = {"SSH_AUTH_SOCK": str(tmp_path / "no-agent.sock")}
    run = repro("check", ssh_context, "--source-date-epoch", str(EPOCH), "--build-context", base_image.build_context,
                "--progress", "quiet", "--ssh", "default", env=env)
    assert run.returncode == 2
    assert run.stderr.count("\n") == 1 and "repro: error:" in run.stderr and "Traceback" not in run.stderr


def test_a_step_that_prints_its_secret_is_redacted_in_progress_errors_and_debug(base_image, buildkit_tools,
                                                                                 secret, tmp_path) -> None:
    value, path, env_value = secret
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    (ctx / "Dockerfile").write_text(
        "FROM base\n"
        "RUN --mount=type=secret,id=tok --mount=type=secret,id=envtok,env=T "
        "sh -c 'echo \"token is $(cat /run/secrets/tok) and $T\"; echo \"$T\" >&2; exit 3'\n")
    for progress in ("plain", "auto"):
        run = repro("--debug", "check", str(ctx), "--source-date-epoch", str(EPOCH), "--build-context",
                    base_image.build_context, "--progress", progress, "--secret", f"id=tok,src={path}",
                    "--secret", "id=envtok,env=REPRO_TEST_TOKEN", env={"REPRO_TEST_TOKEN": env_value})
        assert run.returncode == 2
        assert "token is [secret tok] and [secret envtok]" in run.stderr  # the step ran and printed both
        assert "Traceback" in run.stderr  # --debug showed the traceback of the build error
        for leaked in (value, env_value):
            assert leaked not in run.stderr and leaked not in run.stdout


def test_secret_and_ssh_reach_builds_on_a_buildx_builder(base_image, buildx_remote, ssh_agent: Agent, ssh_context,
                                                         secret, tmp_path) -> None:
    value, path, _ = secret
    ctx = tmp_path / "ctx"
    shutil.copytree(ssh_context, ctx)
    with open(ctx / "Dockerfile", "a") as f:
        f.write("RUN --mount=type=secret,id=tok,required sha256sum /run/secrets/tok | cut -c1-64 > /tok.sha256\n")
    keep = str(tmp_path / "keep")
    run = repro("check", str(ctx), "--source-date-epoch", str(EPOCH), "--build-context", base_image.build_context,
                "--progress", "plain", "--keep", keep, "--builder", buildx_remote.ref, "--builder", "buildctl",
                "--secret", f"id=tok,src={path}", "--ssh", "default", "--ssh", f"deploy={ssh_agent.key_path}",
                env={"SSH_AUTH_SOCK": ssh_agent.sock, "DOCKER_CONFIG": buildx_remote.docker_config})
    assert run.returncode == 0, run.stderr[-3000:]
    assert f"buildx:{buildx_remote.name}" in run.stderr or buildx_remote.name in run.stdout
    want = _fingerprint(ssh_agent.key_path + ".pub")
    for tar in sorted(os.path.join(keep, n) for n in os.listdir(keep) if n.endswith(".tar")):
        files = image_files(tar)
        assert next(v for k, v in files.items() if k.endswith(":agent-keys")).decode().split()[0] == want
        digest = next(v for k, v in files.items() if k.endswith(":tok.sha256")).decode().strip()
        assert digest == hashlib.sha256(value.encode()).hexdigest()
        assert value.encode() not in all_bytes(tar)
    assert value not in run.stderr and value not in run.stdout
