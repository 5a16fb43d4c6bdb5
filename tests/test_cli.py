"""The click CLI through CliRunner, and the generated files it renders."""

from __future__ import annotations

import json
import subprocess
import sys
import time

from click.testing import CliRunner

from pipeline.core import spec
from pipeline.cli.app import main
from pipeline.docker_lane.build import REPO_ROOT
from pipeline.docker_lane.dockerfile import FILES
from tests.conftest import FIXTURE


def test_plan_shows_the_four_stages_without_an_engine():
    r = CliRunner().invoke(main, ["plan", "--source", str(FIXTURE)])
    assert r.exit_code == 0, r.output
    for tier in ("[base]", "[deps]", "[build-tools]", "[app]"):
        assert tier in r.output
    assert "Go 1.26.2" in r.output and "go=golang:1.26.2-bookworm" in r.output


def test_plan_json_lists_stages_and_caches():
    r = CliRunner().invoke(main, ["plan", "--json", "--go-version", "1.25.5", "--goproxy", "https://goproxy.corp.example"])
    data = json.loads(r.output)
    assert [s["name"] for s in data["stages"]] == [s.name for s in spec.STAGES]
    assert data["go_module_env"] == {"GOPROXY": "https://goproxy.corp.example"}
    assert {c["path"] for c in data["caches"]} == {c.path for c in spec.CACHES}


def test_bad_setting_is_one_line_exit_2_no_traceback():
    r = CliRunner().invoke(main, ["plan", "--goproxy", "direct"])
    assert r.exit_code == 2
    lines = r.stderr.strip().splitlines() if hasattr(r, "stderr") else r.output.strip().splitlines()
    assert len(lines) == 1 and "goproxy" in lines[0] and "--allow-unsafe-go-modules" in lines[0]
    assert "Traceback" not in r.output


def test_not_flamenco_shaped_source_names_the_missing_file(tmp_path):
    r = CliRunner().invoke(main, ["build", "--source", str(tmp_path)])
    assert r.exit_code == 2 and "missing go.mod" in r.output


def test_unwritable_export_is_refused_before_the_engine(tmp_path):
    target = tmp_path / "file"
    target.write_text("x")
    r = CliRunner().invoke(main, ["docker", "build", "--source", str(FIXTURE), "--export", str(target)])
    assert r.exit_code == 2 and "not a writable directory" in r.output


def test_missing_git_hash_is_explained(tmp_path, monkeypatch):
    for var in ("GITHUB_SHA", "CI_COMMIT_SHA", "BUILD_VCS_NUMBER", "GIT_COMMIT"):
        monkeypatch.delenv(var, raising=False)
    r = CliRunner().invoke(main, ["docker", "build", "--source", str(FIXTURE), "--export", str(tmp_path / "d"),
                                  "--target", "go-base"])
    assert r.exit_code == 2 and "git_hash" in r.output and "--git-hash" in r.output


def test_committed_dockerfile_equals_the_render():
    for name, fn in FILES.items():
        assert (REPO_ROOT / name).read_text() == fn(), f"{name} is stale: run `flamenco-pipeline render dockerfile`"
    r = CliRunner().invoke(main, ["render", "dockerfile", "--check"])
    assert r.exit_code == 0


def test_render_check_detects_drift(tmp_path):
    r = CliRunner().invoke(main, ["render", "dockerfile", "--output-dir", str(tmp_path)])
    assert r.exit_code == 0
    (tmp_path / "Dockerfile.dev").write_text((tmp_path / "Dockerfile.dev").read_text() + "# edited\n")
    r = CliRunner().invoke(main, ["render", "dockerfile", "--check", "--output-dir", str(tmp_path)])
    assert r.exit_code == 1 and "Dockerfile.dev" in r.output


def test_dockerfile_has_no_syntax_line_and_every_stage():
    text = (REPO_ROOT / "Dockerfile.dev").read_text()
    assert "# syntax" not in text.lower()
    for st in spec.STAGES:
        assert f" AS {st.name}\n" in text
    for name in spec.EXPORTS:
        assert f"FROM scratch AS {name}" in text


def test_help_starts_fast():
    """`--help` must not import dagger or pydantic (measured in a fresh interpreter)."""
    code = "import sys, pipeline.cli.app; print('dagger' in sys.modules, 'pydantic' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]
    t = time.perf_counter()
    subprocess.run([sys.executable, "-m", "pipeline.cli", "--help"], capture_output=True, check=True)
    assert time.perf_counter() - t < 2.0  # generous for loaded CI; bench/ measures the real number


def test_compose_file_agrees_with_the_spec():
    import re

    import yaml

    doc = yaml.safe_load((REPO_ROOT / "compose.dev.yml").read_text())
    manager, worker = doc["services"]["manager"], doc["services"]["worker"]
    assert manager["healthcheck"]["test"] == ["CMD", "bash", "-c", spec.MANAGER_HEALTHCHECK]
    assert manager["ports"][0].endswith(f":{spec.MANAGER_PORT}")
    # the unauthenticated manager API is published on loopback unless MANAGER_BIND widens it
    assert manager["ports"] == ["${MANAGER_BIND:-127.0.0.1}:${MANAGER_PORT:-8080}:" + str(spec.MANAGER_PORT)]
    assert manager["build"]["target"] == "manager" and worker["build"]["target"] == "${WORKER_TARGET:-worker}"
    assert spec.stage("worker-blender").entrypoint == spec.stage("worker").entrypoint, "WORKER_TARGET=worker-blender"
    shared = [v for v in manager["volumes"] if v.startswith("shared-storage:")]
    assert shared == [f"shared-storage:{spec.SHARED_STORAGE}"] == [v for v in worker["volumes"]]
    assert f"manager-data:{spec.DATA_DIR}" in manager["volumes"]
    assert f"manager-storage:{spec.MANAGER_STORAGE}" in manager["volumes"]
    for param, value in manager["build"]["args"].items():
        m = re.fullmatch(r"\$\{\w+:-(.*)\}", value)
        if param in spec.PARAMS and m and m.group(1):
            assert m.group(1) == spec.PARAMS[param].default, param


def test_docker_build_without_an_engine_is_one_line_exit_3(tmp_path):
    """A real docker client pointed at a socket nobody listens on (the engine is the outer boundary)."""
    import os
    import shutil

    from pipeline.docker_lane.build import docker_binary

    if not shutil.which(docker_binary()):
        import pytest

        pytest.skip("no docker client on this machine")  # without a client the same exit 3 applies, tested below
    env = {**os.environ, "DOCKER_HOST": f"unix://{tmp_path}/no-engine.sock"}
    r = subprocess.run([sys.executable, "-m", "pipeline.cli", "docker", "build", "--source", str(FIXTURE),
                        "--export", str(tmp_path / "dist"), "--git-hash", "abcdef123"],
                       env=env, capture_output=True, text=True, timeout=120)
    assert r.returncode == 3, r.stdout + r.stderr
    assert r.stdout == "" and len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert "no Docker engine reachable" in r.stderr and "DOCKER_HOST" in r.stderr
    assert not (tmp_path / "dist").exists()  # no empty report, no repro for a run that never started


def test_docker_build_without_a_docker_client_is_exit_3(tmp_path, monkeypatch):
    monkeypatch.setattr("pipeline.docker_lane.build.docker_binary", lambda: str(tmp_path / "no-such-docker"))
    r = CliRunner().invoke(main, ["docker", "build", "--source", str(FIXTURE), "--export", str(tmp_path / "d"),
                                  "--git-hash", "abcdef123"])
    assert r.exit_code == 3 and "no docker client found" in r.output
