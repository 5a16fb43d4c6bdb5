"""`flamenco-pipeline docker build` end to end: exit codes, exports, report files, repro.json."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from .conftest import CA_BUNDLE, STAMP


def _cli(lane, src, export, *extra):
    s = lane.standins
    cmd = [sys.executable, "-m", "pipeline.cli", "docker", "build", "--source", str(src), "--export", str(export),
           "--git-hash", STAMP.git_hash, "--go-image", s["go"], "--node-image", s["node"],
           "--python-image", s["python"], "--runtime-image", s["runtime"], "--ca-cert", str(CA_BUNDLE), *extra]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FLAMENCO_PIPELINE_", "GO"))}
    return subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=900)


@pytest.mark.timeout(900)
def test_docker_build_cli_exports_everything(lane, fixture_copy, default_build, tmp_path):
    r = _cli(lane, default_build.context, tmp_path / "dist", "--target", "manager", "--target", "reports")
    assert r.returncode == 0, r.stdout + r.stderr
    dist = tmp_path / "dist"
    for name in ("build-report.json", "build-report.md", "build-timeline.svg", "repro.json", "reports/junit.xml"):
        assert (dist / name).is_file(), name
    report = json.loads((dist / "build-report.json").read_text())
    assert report["lane"] == "docker"
    assert json.loads((dist / "repro.json").read_text())["outcome"]["exit_code"] == 0


@pytest.mark.timeout(900)
def test_docker_build_cli_exits_1_when_a_test_fails_but_exports_reports(lane, fixture_copy, tmp_path):
    src = fixture_copy("cli-fail")
    (src / "internal/appinfo/testdata/fail").write_text("make TestFixtureCanFail fail\n")
    r = _cli(lane, src, tmp_path / "dist", "--target", "reports")
    assert r.returncode == 1, r.stdout + r.stderr
    assert "go test failed" in r.stderr
    junit = (tmp_path / "dist/reports/junit.xml").read_text()
    assert "TestFixtureCanFail" in junit and "<failure" in junit
