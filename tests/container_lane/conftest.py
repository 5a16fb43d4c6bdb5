"""Fixtures of the container lane: the engine, the stand-in base images, copies
of the fixture project, and the default build that most tests inspect.

Every build goes through :mod:`pipeline.docker_lane.build` (``build_args`` and
``DockerBuild``), so the command lines tested here are the ones users get.
Run with ``-s`` to see the ``[lane] ...`` wall times of each part.
"""

from __future__ import annotations

import os
import shutil
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest

from pipeline.core import spec
from pipeline.docker_lane.build import DockerBuild, build_args
from pipeline.core.settings import Settings, load_settings
from pipeline.core.source_facts import BuildStamp

from .engine import engine_available, timed
from .standins import ensure_standins_timed
from .engine import lane_log  # noqa: E402

HERE = Path(__file__).resolve().parent
FIXTURE = HERE.parent / "fixtures" / "flamenco-mini"
GO_VERSION = "1.26.2"
CA_BUNDLE = Path("/etc/ssl/certs/ca-certificates.crt")
STAMP = BuildStamp(version="3.9-fixture1", git_hash="abcdef123", release_cycle="beta")
# Tags unique to this checkout: several checkouts sharing one engine must not run each other's images.
_CHECKOUT = __import__("hashlib").sha256(str(HERE).encode()).hexdigest()[:8]
MANAGER_TAG = f"flamenco-manager:lane-test-{_CHECKOUT}"
WORKER_TAG = f"flamenco-worker:lane-test-{_CHECKOUT}"

#: Seconds any default-target build may take (cold, 2 cores).
BUILD_TIMEOUT = 1200


# --------------------------------------------------------------------------- #
# marker


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config, items):
    """Everything in this directory needs a Docker engine: mark it ``docker``."""
    for item in items:
        if HERE in Path(str(item.fspath)).resolve().parents:
            item.add_marker(pytest.mark.docker)


# --------------------------------------------------------------------------- #
# engine, stand-ins, fixture copies


@pytest.fixture(scope="session", autouse=True)
def engine() -> None:
    """A Docker engine answers; else skip (fail on CI, where it must be there)."""
    if not engine_available():
        msg = "no Docker engine answers `/usr/bin/docker info` (start one: .ci/docker-engine.sh start)"
        if os.environ.get("CI", "").strip().lower() in ("true", "1"):
            pytest.fail(msg, pytrace=False)
        pytest.skip(msg)


@pytest.fixture(scope="session")
def standins(engine) -> dict[str, str]:
    """Tags of the stand-in base images: ``{"go", "node", "python", "runtime"}``."""
    with timed("stand-in images"):
        tags, timings = ensure_standins_timed(GO_VERSION, log=lambda m: lane_log(f"{m}"))
    print("[lane] stand-in timings: " + ", ".join(f"{k}={v:.1f}s" for k, v in timings.items()))
    return tags


@pytest.fixture(scope="session")
def fixture_copy(tmp_path_factory):
    """``fixture_copy(name)``: a fresh ``shutil.copytree`` of flamenco-mini to modify freely.

    Each call gives a new directory, so tests that change files do not see
    each other's changes (the default build uses its own, unchanged copy).
    """

    def make(name: str = "src") -> Path:
        dest = tmp_path_factory.mktemp(name) / "flamenco-mini"
        shutil.copytree(FIXTURE, dest)
        return dest

    return make


# --------------------------------------------------------------------------- #
# settings and builds


@dataclass
class BuildResult:
    target: str
    proc: object  # subprocess.CompletedProcess
    seconds: float
    log_path: Path

    @property
    def ok(self) -> bool:
        return self.proc.returncode == 0

    @property
    def output(self) -> str:
        return self.proc.stdout + self.proc.stderr

    def tail(self, n: int = 60) -> str:
        return "\n".join(self.output.rstrip().splitlines()[-n:])

    def check(self) -> BuildResult:
        if not self.ok:
            pytest.fail(
                f"docker build --target {self.target} exited {self.proc.returncode} after "
                f"{self.seconds:.1f}s (log: {self.log_path}):\n{self.tail()}",
                pytrace=False,
            )
        return self


class Lane:
    """Settings, build args and ``docker build`` runs, all through pipeline.docker_lane.build."""

    def __init__(self, standins: dict[str, str], log_dir: Path):
        self.standins = standins
        self.log_dir = log_dir
        self._n = 0

    def settings(self, **overrides) -> Settings:
        """``load_settings`` with the stand-in images and the host CA bundle.

        The user's environment (GOPROXY, FLAMENCO_PIPELINE_*, a ``.env`` in the
        current directory) is kept out, so the lane tests what it says.
        """
        base = {
            "go_image": self.standins["go"],
            "node_image": self.standins["node"],
            "python_image": self.standins["python"],
            "runtime_image": self.standins["runtime"],
            "ca_cert": CA_BUNDLE if CA_BUNDLE.is_file() else None,
        }
        with pytest.MonkeyPatch.context() as mp:
            for var in list(os.environ):
                if var.startswith("FLAMENCO_PIPELINE_") or var in spec.GO_MODULE_VARS:
                    mp.delenv(var)
            mp.chdir(HERE)
            return load_settings(**(base | overrides))

    def args(self, settings: Settings | None = None, **extra: str) -> dict[str, str]:
        settings = settings or self.settings()
        return build_args(settings, STAMP, GO_VERSION) | extra

    def build(
        self,
        target: str,
        context: Path,
        *,
        args: dict[str, str] | None = None,
        settings: Settings | None = None,
        tag: str | None = None,
        output: Path | None = None,
        timeout: float = BUILD_TIMEOUT,
        label: str | None = None,
    ) -> BuildResult:
        """Run one ``docker build`` (plain progress); never raises on exit codes."""
        settings = settings or self.settings()
        self._n += 1
        label = label or target
        log_path = self.log_dir / f"{self._n:02d}-{label.replace(' ', '-')}.log"
        build = DockerBuild(
            context=context,
            target=target,
            args=args if args is not None else self.args(settings),
            tag=tag,
            output=output,
            ca_cert=settings.ca_cert,
            go_netrc=settings.go_netrc,
        )
        t0 = time.monotonic()
        proc = build.run(log_path=log_path, timeout=timeout)
        dt = time.monotonic() - t0
        lane_log(f"build {label}: {dt:.1f}s (exit {proc.returncode}, log {log_path})")
        return BuildResult(target, proc, dt, log_path)


@pytest.fixture(scope="session")
def lane(standins, tmp_path_factory) -> Lane:
    return Lane(standins, tmp_path_factory.mktemp("lane-logs"))


@dataclass
class DefaultBuild:
    context: Path
    manager: str
    worker: str
    reports: Path
    binaries: Path
    results: dict[str, BuildResult]


@pytest.fixture(scope="session")
def default_build(lane, fixture_copy, tmp_path_factory) -> DefaultBuild:
    """manager and worker images plus the ``reports`` and ``binaries`` exports.

    One ``docker build`` per target, all four at once: BuildKit merges the
    steps they share, and the worker's apt download overlaps the Go compile.
    """
    context = fixture_copy("default")
    out = tmp_path_factory.mktemp("exports")
    reports, binaries = out / "reports", out / "binaries"
    jobs = {
        "manager": dict(tag=MANAGER_TAG),
        "worker": dict(tag=WORKER_TAG),
        "reports": dict(output=reports),
        "binaries": dict(output=binaries),
    }
    settings = lane.settings()
    with timed("default build (manager, worker, reports, binaries)"):
        with ThreadPoolExecutor(len(jobs)) as pool:
            futures = {
                target: pool.submit(lane.build, target, context, settings=settings, **kw)
                for target, kw in jobs.items()
            }
            results = {target: f.result() for target, f in futures.items()}
    for result in results.values():
        result.check()
    return DefaultBuild(context, MANAGER_TAG, WORKER_TAG, reports, binaries, results)


def pytest_terminal_summary(terminalreporter):
    """Repeat the lane's timing lines at the end: the time of each part, visible in CI."""
    from .engine import LANE_LOG

    if LANE_LOG:
        terminalreporter.section("container lane timings")
        for line in LANE_LOG:
            terminalreporter.write_line(line)
