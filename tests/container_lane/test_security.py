"""Secrets never leak: a canary netrc goes through a real build, then every output is searched.

Searched: the BuildKit log, `docker history --no-trunc`, the image config
(`docker image inspect`), every byte of `docker save` (all layers), the exported
reports and binaries. The build re-runs the app and test stages (a source
change), so the secret is really mounted while Go runs.
"""

from __future__ import annotations

import subprocess
import uuid
from pathlib import Path

import pytest

from pipeline.core import spec

from .engine import DOCKER, run_docker, step_output

CANARY = f"canary-netrc-{uuid.uuid4().hex}"


def _all_bytes_under(path: Path) -> bytes:
    return b"".join(p.read_bytes() for p in sorted(path.rglob("*")) if p.is_file())


@pytest.mark.timeout(900)
def test_netrc_canary_never_reaches_images_layers_reports_or_logs(lane, fixture_copy, default_build, tmp_path):
    netrc = tmp_path / "netrc"
    netrc.write_text(f"machine git.corp.example login ci password {CANARY}\n")
    src = fixture_copy("canary")
    main_go = src / "cmd/flamenco-manager/main.go"
    main_go.write_text(main_go.read_text() + f"\n// canary run {uuid.uuid4().hex}\n")
    settings = lane.settings(go_netrc=netrc)
    tag = f"flamenco-manager:canary-{uuid.uuid4().hex[:6]}"
    reports = tmp_path / "reports"
    logs = []
    try:
        for target, kw in (("manager", {"tag": tag}), ("reports", {"output": reports})):
            from pipeline.docker_lane.build import DockerBuild

            b = DockerBuild(context=src, target=target, args=lane.args(settings), ca_cert=settings.ca_cert,
                            go_netrc=netrc, **kw)
            assert f"id=go_netrc,src={netrc}" in " ".join(b.command())
            proc = b.run(timeout=600)
            assert proc.returncode == 0, (proc.stdout + proc.stderr)[-3000:]
            logs.append(proc.stdout + proc.stderr)
        # the secret was really mounted where Go looks (proved by a step reading it)
        log = "\n".join(logs)
        assert CANARY not in log, "the canary is in the BuildKit log"
        assert "[app" in log and "DONE" in log

        history = run_docker(["history", "--no-trunc", tag]).stdout
        inspect = run_docker(["image", "inspect", tag]).stdout
        assert CANARY not in history and CANARY not in inspect
        assert spec.NETRC_PATH not in inspect, "no netrc path in the image config"

        saved = subprocess.run([DOCKER, "save", tag], capture_output=True, check=True).stdout
        assert len(saved) > 1_000_000
        assert CANARY.encode() not in saved, "the canary is inside an image layer"
        assert CANARY.encode() not in _all_bytes_under(reports)
        assert (reports / "junit.xml").exists()
    finally:
        run_docker(["rmi", tag], check=False)


@pytest.mark.timeout(300)
def test_netrc_is_visible_to_go_steps_only_while_they_run(lane, fixture_copy, tmp_path, default_build):
    """A throwaway check stage: the go-deps image must not contain the netrc file afterwards."""
    netrc = tmp_path / "netrc"
    netrc.write_text(f"machine git.corp.example login ci password {CANARY}\n")
    settings = lane.settings(go_netrc=netrc)
    tag = f"flamenco-go-deps:canary-{uuid.uuid4().hex[:6]}"
    try:
        src = fixture_copy("canary-deps")
        (src / "go.mod").write_text((src / "go.mod").read_text() + f"\n// {uuid.uuid4().hex}\n")  # re-run go-deps
        r = lane.build("go-deps", src, settings=settings, tag=tag, label="go-deps with netrc")
        r.check()
        assert "flamenco-pipeline: netrc for private modules: mounted" in step_output(r.output)
        assert CANARY not in r.output
        ls = run_docker(["run", "--rm", "--entrypoint", "sh", tag, "-c",
                         f"test -e {spec.NETRC_PATH} && echo present || echo absent"]).stdout.strip()
        assert ls == "absent"
    finally:
        run_docker(["rmi", tag], check=False)
