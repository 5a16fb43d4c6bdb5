"""`flamenco-pipeline docker build` end to end: exit codes, exports, report files, repro.json."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import CA_BUNDLE, STAMP


def _cmd(lane, src, export, *extra, ca: bool = True):
    s = lane.standins
    return [sys.executable, "-m", "pipeline.cli", "docker", "build", "--source", str(src), "--export", str(export),
            "--git-hash", STAMP.git_hash, "--go-image", s["go"], "--node-image", s["node"],
            "--python-image", s["python"], "--runtime-image", s["runtime"],
            *(["--ca-cert", str(CA_BUNDLE)] if ca else []), *extra]


def _env():
    return {k: v for k, v in os.environ.items() if not k.startswith(("FLAMENCO_PIPELINE_", "GO"))}


def _cli(lane, src, export, *extra, ca: bool = True):
    return subprocess.run(_cmd(lane, src, export, *extra, ca=ca), env=_env(), capture_output=True, text=True,
                          timeout=900)


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


@pytest.mark.timeout(900)
def test_go_compile_error_streams_progress_then_prints_its_own_cause(lane, fixture_copy, default_build, tmp_path):
    """Progress lines arrive while the build runs; the failure shows the compiler's line, not the script."""
    import time
    import uuid

    src = fixture_copy("cli-compile-error")
    app_js = src / "web/app/src/app.js"  # a new web file: yarn build runs (seconds) before go build fails
    app_js.write_text(app_js.read_text() + f"\n// {uuid.uuid4().hex}\n")
    main_go = src / "cmd/flamenco-manager/main.go"
    main_go.write_text(main_go.read_text() + "\nfunc broken() { undefinedThing() }\n")
    proc = subprocess.Popen(_cmd(lane, src, tmp_path / "dist", "--target", "manager", "--target", "binaries",
                                 "--progress", "plain"),
                            env=_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    arrivals = []
    alive_at_first_step = None  # was the CLI still running when it printed its first step line?
    for line in proc.stderr:
        arrivals.append((time.monotonic(), line.rstrip("\n")))
        if alive_at_first_step is None and ("] go-base" in line or "] go-mod" in line):
            alive_at_first_step = proc.poll() is None
    proc.wait(timeout=900)
    out = proc.stdout.read()
    err = "\n".join(t for _, t in arrivals)
    assert proc.returncode == 1, out + err
    assert alive_at_first_step, "progress came all at once at the end"
    i = next(i for i, (_, line) in enumerate(arrivals) if line.startswith("error: step "))
    cause = [line for _, line in arrivals[i:] if line.startswith(("error: ", "  "))]
    assert len(cause) <= 10, cause
    # go-build compiles the manager's main package too (it links both binaries), so the error is its
    assert cause[0].startswith("error: step go-build ") and "go build binaries failed" in cause[0], cause
    assert any("undefined: undefinedThing" in line for line in cause), cause
    log = Path(next(line.strip()[len("log: "):] for line in cause if line.strip().startswith("log: ")))
    assert log.parent == tmp_path / "dist/logs" and log.stem in cause[0].split("stopped ")[1], cause
    assert "timeout -k" not in "\n".join(cause)
    assert "binaries" in "\n".join(cause)  # the target that only shared the step is told too
    # the logs were written as the builds went (and hold the whole story)
    assert "undefined: undefinedThing" in log.read_text()


@pytest.mark.timeout(900)
def test_yarn_tls_failure_without_ca_cert_names_the_fix(lane, fixture_copy, default_build, tmp_path):
    """No --ca-cert behind this machine's TLS-intercepting proxy: yarn install fails; the CLI says --ca-cert."""
    import uuid

    src = fixture_copy("cli-tls")
    pkg = src / "web/app/package.json"
    data = json.loads(pkg.read_text())
    data["description"] += f" ({uuid.uuid4().hex})"  # a new package.json: yarn install runs, not cached
    pkg.write_text(json.dumps(data, indent=2) + "\n")
    r = _cli(lane, src, tmp_path / "dist", "--target", "manager", "--target", "reports", "--progress", "plain",
             ca=False)
    assert r.returncode == 1, r.stdout + r.stderr
    start = r.stderr.index("error: step ")
    cause = [ln for ln in r.stderr[start:].splitlines() if ln.startswith(("error: ", "  "))]
    text = "\n".join(cause)
    assert len(cause) <= 10, text
    assert "web-deps 3/3 yarn install failed" in cause[0], text
    assert "certificate" in text and "--ca-cert" in text, text
    assert f"log: {tmp_path / 'dist/logs'}" in text
    assert "sh -c" not in text
