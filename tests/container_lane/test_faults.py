"""Injected faults in the container lane: a proxy that hangs, two builds at once, an engine restart.

The restart test stops an engine, so it runs against a dockerd this suite starts for itself
(tests/container_lane/isolated_engine.py), never the daemon the other tests or the user use.
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from .engine import step_output
from .engine import lane_log  # noqa: E402

HANG_TIMEOUT = 20


class HangingServer:
    """Accepts TCP connections on loopback and never answers (a stuck proxy)."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.conns: list[socket.socket] = []
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    def _accept(self):
        self.sock.settimeout(0.5)
        while not self.stop.is_set():
            try:
                conn, _ = self.sock.accept()
                self.conns.append(conn)
            except OSError:
                continue

    def close(self):
        self.stop.set()
        for c in self.conns:
            c.close()
        self.sock.close()


@pytest.mark.timeout(300)
def test_stuck_download_is_stopped_with_a_message_naming_the_step(lane, fixture_copy, default_build):
    """GOPROXY points at a loopback server that never answers: the step ends at STEP_TIMEOUT."""
    server = HangingServer()
    try:
        settings = lane.settings(goproxy=f"http://127.0.0.1:{server.port}", step_timeout=HANG_TIMEOUT)
        src = fixture_copy("hang")
        go_mod = src / "go.mod"
        go_mod.write_text(go_mod.read_text() + "\nrequire lane-hang.invalid/mod v1.0.0\n")
        from pipeline.docker_lane.build import DockerBuild

        b = DockerBuild(context=src, target="go-deps", args=lane.args(settings), ca_cert=settings.ca_cert,
                        extra=["--network", "host"])  # so 127.0.0.1 is this machine's loopback
        t0 = time.monotonic()
        proc = b.run(timeout=HANG_TIMEOUT + 200)
        dt = time.monotonic() - t0
        lane_log(f"stuck proxy: go-deps stopped after {dt:.1f}s (STEP_TIMEOUT={HANG_TIMEOUT})")
        out = proc.stdout + proc.stderr
        assert proc.returncode != 0
        assert server.conns, "the go command never reached the stuck proxy"
        # go-build's fetch of the binaries' modules meets the proxy first, or go-deps' if those need no fetch
        assert re.search(rf"flamenco-pipeline: step '(go build binaries|go mod download)' took longer than {HANG_TIMEOUT}s",
                         step_output(out)), out[-3000:]
        assert dt < HANG_TIMEOUT + 60
    finally:
        server.close()


@pytest.mark.timeout(900)
def test_two_builds_sharing_cache_volumes_at_once_are_both_green(lane, fixture_copy, default_build, tmp_path):
    """Different sources and stamps, same cache ids, run concurrently."""
    jobs = []
    for i in range(2):
        src = fixture_copy(f"concurrent{i}")
        main_go = src / "cmd/flamenco-worker/main.go"
        main_go.write_text(main_go.read_text() + f"\n// concurrent {i} {uuid.uuid4().hex}\n")
        version = f"3.9-conc{i}"
        settings = lane.settings(version=version)
        from pipeline.core.source_facts import BuildStamp

        from .conftest import GO_VERSION, STAMP
        from pipeline.docker_lane.build import DockerBuild, build_args

        args = build_args(settings, BuildStamp(version, STAMP.git_hash, STAMP.release_cycle), GO_VERSION)
        out = tmp_path / f"bin{i}"
        jobs.append((version, out, DockerBuild(context=src, target="binaries", args=args, output=out,
                                               ca_cert=settings.ca_cert)))
    with ThreadPoolExecutor(2) as pool:
        results = list(pool.map(lambda j: j[2].run(timeout=800), jobs))
    for (version, out, _), proc in zip(jobs, results):
        assert proc.returncode == 0, (proc.stdout + proc.stderr)[-3000:]
        printed = subprocess.run([str(out / "flamenco-manager"), "-version"], capture_output=True, text=True)
        assert version in printed.stdout + printed.stderr


@pytest.fixture
def private_engine():
    """A dockerd of the suite's own (see isolated_engine.py): own socket, pid file, data root.

    It has a bridge of its own: started with its bridge disabled (--bridge=none) it deleted the
    host's docker0 (Moby's configureNetworking calls removeDefaultBridgeInterface()), and the
    main engine's builds then failed with "could not find bridge docker0", twice in CI here.
    The tests below check that every host bridge is still there afterwards.
    """
    with new_private_engine() as engine:
        yield engine


def new_private_engine():
    """An unstarted IsolatedDockerd; fails under CI=true, skips elsewhere, when none can be had."""
    from .isolated_engine import EngineUnavailable, IsolatedDockerd

    try:
        return IsolatedDockerd()
    except EngineUnavailable as e:
        if os.environ.get("CI", "").strip().lower() in ("true", "1"):
            pytest.fail(f"fault tests need a private dockerd: {e}", pytrace=False)
        pytest.skip(f"fault tests need a private dockerd: {e}")


def _wait_for_line(proc, needle, seen: list[str], deadline: float) -> bool:
    """Read the build's output until a line containing all of `needle` (observed state, no sleeps)."""
    for line in proc.stdout:
        seen.append(line)
        if all(n in line for n in needle):
            return True
        if time.monotonic() > deadline:
            break
    return False


@pytest.mark.timeout(900)
def test_engine_restart_mid_build_then_next_build_succeeds_with_caches(lane, fixture_copy, private_engine, monkeypatch):
    """SIGTERM the suite's private dockerd while a step runs, start it again, build again: green, caches reused.

    It fails if a host bridge went missing.

    The engine is one this test started (own socket, pid file, data and exec root); the build is
    stopped once its log shows go-build's compile running, so it cannot finish first: a fresh
    engine has no cache for that step (the standard library alone takes a minute here).
    """
    import subprocess as sp

    from pipeline.docker_lane.build import DockerBuild, docker_env

    bridges = host_bridges()

    from .engine import parse_plain_progress

    settings = lane.settings()
    private_engine.load_images(settings.go_image)
    monkeypatch.setenv("DOCKER_HOST", private_engine.host)  # every docker client of this test: the private engine
    src = fixture_copy("restart")
    b = DockerBuild(context=src, target="go-build", args=lane.args(settings), ca_cert=settings.ca_cert,
                    extra=["--network", "host"])  # the private engine has no bridge
    proc = sp.Popen(b.command(), env=docker_env(), stdout=sp.PIPE, stderr=sp.STDOUT, text=True)
    seen: list[str] = []
    try:
        running = _wait_for_line(proc, ("[go-build", " RUN "), seen, time.monotonic() + 600)
        assert running, "go-build's compile never started:\n" + "".join(seen[-40:])
        private_engine.terminate()  # mid-step: the API goes away under the running build
        rc = proc.wait(timeout=120)
        rest = proc.stdout.read()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert rc != 0, "the interrupted build should fail:\n" + (rest or "".join(seen))[-2000:]
    private_engine.start()

    again = b.run(timeout=800)
    out = again.stdout + again.stderr
    assert again.returncode == 0, out[-3000:]
    steps = parse_plain_progress(out)
    cached = {title.split()[0].lstrip("[") for title, info in steps.items() if info["cached"] and title.startswith("[")}
    assert "go-base" in cached, sorted(cached)
    assert host_bridges() >= bridges, f"the private engine removed a host bridge: {sorted(bridges - host_bridges())}"
    lane_log(f"engine restart (private dockerd, {private_engine.starts} starts): rebuild green, cached stages: {sorted(cached)}")


@pytest.mark.timeout(300)
def test_the_private_engine_is_never_the_users(private_engine):
    """The fault tests' engine is its own daemon: other socket, pid, data root; stopping it leaves the main one up."""
    from .engine import engine_available

    bridges = host_bridges()
    main_root = sp_run(["/usr/bin/docker", "info", "--format", "{{.DockerRootDir}}"])
    mine = private_engine.docker("info", "--format", "{{.DockerRootDir}}").stdout.strip()
    assert mine == str(private_engine.root / "data") != main_root
    assert private_engine.socket != Path("/var/run/docker.sock")
    assert int(private_engine.pidfile.read_text()) == private_engine.proc.pid
    private_engine.restart()
    assert private_engine.answers() and engine_available()
    private_engine.terminate()
    assert not private_engine.answers() and engine_available()  # the suite's (or user's) engine never noticed
    # An engine that answers can still have lost its bridge (docker0 vanished here once while
    # private engines were tried, and every build then failed with "could not find bridge").
    assert host_bridges() >= bridges, f"the private engine removed a host bridge: {sorted(bridges - host_bridges())}"
    assert private_engine.bridge in bridges, "it runs on a bridge of its own"


@pytest.mark.timeout(300)
def test_a_closed_private_engine_leaves_the_host_bridges_as_they_were():
    """Start and close a second private engine: its own bridge is gone, every other bridge is still there."""
    before = host_bridges()
    with new_private_engine() as engine:
        assert engine.answers() and engine.bridge in host_bridges()
    assert host_bridges() == before, f"missing: {sorted(before - host_bridges())}, left: {sorted(host_bridges() - before)}"


def host_bridges() -> set[str]:
    """The host's bridge interfaces (docker0 among them), from sysfs."""
    return {p.parent.name for p in Path("/sys/class/net").glob("*/bridge")}


def sp_run(cmd: list[str]) -> str:
    env = {k: v for k, v in os.environ.items() if k != "DOCKER_HOST"}
    return subprocess.run(cmd, capture_output=True, text=True, env=env, check=True).stdout.strip()
