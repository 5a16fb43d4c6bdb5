"""compose.dev.yml for real: a manager and scaled workers, talking over compose's network.

The images come from the session's Dockerfile.dev build (`default_build`) and are
handed to compose through MANAGER_IMAGE / WORKER_IMAGE with `up --no-build`, so
this checks compose's own part: services, health check, depends_on, scaling and
the shared storage volume.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import time
import urllib.request
import uuid
from pathlib import Path

import pytest

from pipeline.core import farm_config, spec
from pipeline.container_scripts import integration

from .conftest import STAMP
from .engine import lane_log  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = shutil.which("docker-compose") or "/usr/bin/docker-compose"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Farm:
    def __init__(self, default_build, workers: int):
        self.project = f"lane{uuid.uuid4().hex[:8]}"
        self.port = _free_port()
        self.workers = workers
        self.env = {
            **os.environ,
            "PWD": str(ROOT),
            "FLAMENCO_SOURCE": str(default_build.context),
            "FLAMENCO_GIT_HASH": STAMP.git_hash,
            "FLAMENCO_VERSION": STAMP.version,
            "MANAGER_IMAGE": default_build.manager,
            "WORKER_IMAGE": default_build.worker,
            "MANAGER_PORT": str(self.port),
            "PATH": "/usr/bin:" + os.environ.get("PATH", ""),  # the Debian docker client
        }

    def compose(self, *args: str, check: bool = True, timeout: float = 180) -> subprocess.CompletedProcess:
        cmd = [COMPOSE, "-f", str(ROOT / "compose.dev.yml"), "-p", self.project, *args]
        return subprocess.run(cmd, env=self.env, cwd=ROOT, text=True, capture_output=True, timeout=timeout, check=check)

    def get(self, path: str):
        with urllib.request.urlopen(f"http://127.0.0.1:{self.port}{path}", timeout=3) as r:
            return json.loads(r.read())

    def host_ips(self) -> set[str]:
        cid = self.compose("ps", "-q", "manager").stdout.strip()
        out = subprocess.run(["/usr/bin/docker", "inspect", "-f", "{{json .NetworkSettings.Ports}}", cid],
                             capture_output=True, text=True, check=True)
        return {b["HostIp"] for bindings in json.loads(out.stdout).values() if bindings for b in bindings}

    def manager_health(self) -> str:
        cid = self.compose("ps", "-q", "manager").stdout.strip()
        out = subprocess.run(["/usr/bin/docker", "inspect", "-f", "{{.State.Health.Status}}", cid],
                             capture_output=True, text=True)
        return out.stdout.strip()


@pytest.mark.timeout(300)
@pytest.mark.parametrize("workers", [1, 3])
def test_compose_farm_manager_and_workers_talk(default_build, workers):
    farm = Farm(default_build, workers)
    try:
        t0 = time.monotonic()
        up = farm.compose("up", "-d", "--no-build", "--scale", f"worker={workers}", check=False)
        assert up.returncode == 0, up.stderr[-3000:]
        # depends_on: service_healthy means `up -d` returns after the manager is healthy
        assert farm.manager_health() == "healthy"
        # published on loopback only (the manager API has no authentication)
        assert farm.host_ips() == {"127.0.0.1"}
        version = farm.get("/api/v3/version")
        assert (version["shortversion"], version["git"]) == (STAMP.version, STAMP.git_hash)
        assert version["version"] == f"{STAMP.version} ({STAMP.git_hash})"  # a beta build: extended

        deadline = time.monotonic() + 60
        signed_on = 0
        while time.monotonic() < deadline:
            logs = farm.compose("logs", "--no-color", "worker").stdout
            signed_on = logs.count("signed on as")
            if signed_on >= workers:
                break
            time.sleep(0.5)
        elapsed = time.monotonic() - t0
        assert signed_on == workers, logs[-3000:]
        listed = farm.get("/api/v3/worker-mgt/workers")["workers"]
        assert len(listed) == workers
        lane_log(f"compose farm with {workers} worker(s): up and all signed on in {elapsed:.1f}s")

        # configured by the pipeline: the generated files are in place, no first run / setup assistant
        for kind, service in (("manager", "manager"), ("worker", "worker")):
            written = farm.compose("exec", "-T", service, "cat", farm_config.CONFIG_FILE[kind]).stdout
            assert written.strip() == farm_config.config_text(kind).strip()
        assert farm.get("/api/v3/configuration")["isFirstRun"] is False
        manager_log = farm.compose("logs", "--no-color", "manager").stdout
        assert "first run" not in manager_log, manager_log[-2000:]

        # a job that the workers finish, spread over them (test_integration.py runs one per worker, with JUnit)
        if workers == 1:
            return
        job_t0 = time.monotonic()
        checker = integration.Checker(integration.Config(
            f"http://127.0.0.1:{farm.port}/", workers, ROOT / "tests/fixtures/flamenco-mini" / spec.OPENAPI_SPEC,
            Path("/nonexistent"), STAMP.version, STAMP.git_hash, STAMP.release_cycle, jobs=1, job_timeout=90))
        message, _ = checker.check_jobs_completed()
        (job,) = checker.farm.jobs
        ran_on = {(t.get("worker") or {}).get("id") for t in job.tasks}
        assert len(ran_on) > 1, f"one worker ran the whole job: {job.tasks}"
        assert checker.check_task_logs()[0].startswith("every echo task's log holds its message")
        lane_log(f"compose farm with {workers} worker(s): one echo-sleep job ({len(job.tasks)} tasks on "
                 f"{len(ran_on)} worker(s)) completed in {job.seconds:.1f}s (checked in {time.monotonic() - job_t0:.1f}s)")

        # the shared storage is one volume at the same path in manager and every worker
        probe = f"probe-{uuid.uuid4().hex[:6]}"
        farm.compose("exec", "-T", "manager", "bash", "-c", f"echo {probe} > {spec.SHARED_STORAGE}/{probe}")
        seen = farm.compose("exec", "-T", "--index=1", "worker", "cat", f"{spec.SHARED_STORAGE}/{probe}").stdout
        assert seen.strip() == probe
    finally:
        farm.compose("down", "-v", "--remove-orphans", check=False)


@pytest.mark.timeout(60)
@pytest.mark.parametrize("unset", ["FLAMENCO_VERSION", "FLAMENCO_GIT_HASH"])
def test_compose_needs_the_label_values_before_it_builds(tmp_path, unset):
    """The images' version and revision labels come from these two: compose stops without either."""
    env = {**os.environ, "PWD": str(ROOT), "FLAMENCO_SOURCE": str(tmp_path), "FLAMENCO_GIT_HASH": STAMP.git_hash,
           "FLAMENCO_VERSION": STAMP.version, "PATH": "/usr/bin:" + os.environ.get("PATH", "")}
    ok = subprocess.run([COMPOSE, "-f", str(ROOT / "compose.dev.yml"), "config"], env=env, cwd=ROOT,
                        capture_output=True, text=True, timeout=30)
    assert ok.returncode == 0, ok.stderr
    assert f"FLAMENCO_VERSION: {STAMP.version}" in ok.stdout
    del env[unset]
    proc = subprocess.run([COMPOSE, "-f", str(ROOT / "compose.dev.yml"), "config"], env=env, cwd=ROOT,
                          capture_output=True, text=True, timeout=30)
    assert proc.returncode != 0
    assert f"set {unset}" in proc.stderr, proc.stderr
