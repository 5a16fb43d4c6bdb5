"""The integration checks (pipeline/container_scripts/integration.py) against a real farm: compose.dev.yml.

The farm is what test_compose.py starts: the session's Dockerfile.dev images
(`default_build`), `up --no-build --scale worker=N`. The script then runs from the
host, as the Dagger checker container runs it, with the manager's database
copied out of the manager container (`docker cp`). Two deliberately broken
manager images show that the right check fails with a readable message.
"""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from junitparser import Failure, JUnitXml, Skipped

from pipeline.core import farm_config, spec
from pipeline.container_scripts import integration

from .conftest import _CHECKOUT, STAMP
from .engine import run_docker, timed
from .test_compose import Farm
from .engine import lane_log  # noqa: E402

SCRIPT = Path(integration.__file__)
BROKEN_VERSION = "3.9-broken1"
EXTRA_PATH = "/api/v3/not-in-the-source"


def check_farm(farm: Farm, context: Path, workers: int, started_at: float, out: Path,
               stamp_version: str = STAMP.version, extra: tuple[str, ...] = ()) -> tuple[subprocess.CompletedProcess, dict]:
    """Run integration.py against the farm; returns the process and testcase -> (status, message)."""
    data = out / "manager-data"
    data.mkdir(parents=True)
    cid = farm.compose("ps", "-q", "manager").stdout.strip()
    run_docker(["cp", f"{cid}:{spec.DATA_DIR}/.", str(data)])  # the database (and any -wal/-shm)
    junit = out / spec.INTEGRATION_REPORTS[0]
    proc = subprocess.run(
        [sys.executable, str(SCRIPT), "--manager", f"http://127.0.0.1:{farm.port}/", "--workers", str(workers),
         "--spec", str(context / spec.OPENAPI_SPEC), "--db", str(data / spec.MANAGER_DB),
         "--stamp-version", stamp_version, "--stamp-hash", STAMP.git_hash,
         "--stamp-release-cycle", STAMP.release_cycle,
         "--junit", str(junit), "--timing", str(out / spec.INTEGRATION_REPORTS[1]),
         "--started-at", str(started_at), "--timeout", "90", "--job-timeout", "120", *farm_config.checker_args(), *extra],
        capture_output=True, text=True, timeout=180,
    )
    print(proc.stdout, end="")
    cases = {}
    for suite in JUnitXml.fromfile(str(junit)):
        for case in suite:
            kinds = {type(r): r for r in case.result}
            if Failure in kinds:
                cases[case.name] = ("failed", kinds[Failure].message)
            elif Skipped in kinds:
                cases[case.name] = ("skipped", kinds[Skipped].message)
            else:
                cases[case.name] = ("passed", "")
    return proc, cases


def up(farm: Farm, workers: int) -> float:
    started = time.time()
    proc = farm.compose("up", "-d", "--no-build", "--scale", f"worker={workers}", check=False)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return started


@pytest.mark.timeout(400)
@pytest.mark.parametrize("workers", [1, 3])
def test_integration_checks_pass_on_the_compose_farm(default_build, workers, tmp_path):
    farm = Farm(default_build, workers)
    try:
        started = up(farm, workers)
        proc, cases = check_farm(farm, default_build.context, workers, started, tmp_path)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        assert [k for k in cases if not k.startswith("echo_sleep_job_")] == list(integration.CHECKS)
        assert [k for k in cases if k.startswith("echo_sleep_job_")] == [f"echo_sleep_job_{n}" for n in
                                                                       range(1, workers + 1)], "one job per worker"
        assert {k: v for k, v in cases.items() if v[0] != "passed"} == {}
        (line,) = [x for x in proc.stdout.splitlines() if x.startswith("integration: ")]
        assert line.startswith(f"integration: {workers} workers up and signed on in ")
        assert f"; {workers} echo-sleep jobs completed in " in line
        # per-job timings in the JUnit XML: each job took at least its 1 s sleep, within the job timeout
        times = {c.name: c.time for suite in JUnitXml.fromfile(str(tmp_path / spec.INTEGRATION_REPORTS[0]))
                 for c in suite if c.name.startswith("echo_sleep_job_")}
        assert len(times) == workers and all(1.0 <= t < 120 for t in times.values()), times
        if workers > 1:
            assert cases["tasks_spread"][0] == "passed"
        lane_log(f"compose farm, {workers} worker(s): {line}")
        assert (tmp_path / spec.INTEGRATION_REPORTS[1]).read_text().strip() == line
    finally:
        farm.compose("down", "-v", "--remove-orphans", check=False)


# --------------------------------------------------------------------------- #
# deliberately broken managers


@pytest.fixture(scope="module")
def broken_managers(lane, fixture_copy, default_build):
    """{"version": (tag, context), "spec": (tag, context)}: manager images that must fail one check each.

    version: the default source, stamped with another FLAMENCO_VERSION than the check expects.
    spec:    a copy whose served document (the JSON twin the manager embeds) has a path that
             pkg/api/flamenco-openapi.yaml does not.
    """
    extra = fixture_copy("extra-path")
    served = extra / "pkg" / "api" / "flamenco-openapi.json"
    doc = json.loads(served.read_text())
    doc["paths"][EXTRA_PATH] = {"get": {"operationId": "notInTheSource",
                                        "responses": {"204": {"description": "Nothing."}}}}
    served.write_text(json.dumps(doc, indent=2) + "\n")
    jobs = {
        "version": (f"flamenco-manager:lane-broken-version-{_CHECKOUT}", default_build.context,
                    lane.args(FLAMENCO_VERSION=BROKEN_VERSION)),
        "spec": (f"flamenco-manager:lane-broken-spec-{_CHECKOUT}", extra, lane.args()),
    }
    with timed("broken manager images (version, spec)"):
        with ThreadPoolExecutor(len(jobs)) as pool:
            futures = {k: pool.submit(lane.build, "manager", ctx, args=args, tag=tag, label=f"manager-broken-{k}")
                       for k, (tag, ctx, args) in jobs.items()}
            for f in futures.values():
                f.result().check()
    yield {k: (tag, ctx) for k, (tag, ctx, _) in jobs.items()}
    for tag, _ctx, _args in jobs.values():
        run_docker(["rmi", tag], check=False)


@pytest.mark.timeout(900)
@pytest.mark.parametrize("broken,check,message", [
    ("version", "version",
     f"the manager reports version '{BROKEN_VERSION} ({STAMP.git_hash})', expected "
     f"'{STAMP.version} ({STAMP.git_hash})'; shortversion {BROKEN_VERSION!r}, expected {STAMP.version!r} "
     f"(release cycle {STAMP.release_cycle})"),
    ("spec", "openapi_matches_source",
     f"GET /api/v3/openapi3.json differs from the source spec: "
     f"served but not in flamenco-openapi.yaml: GET {EXTRA_PATH}"),
])
def test_a_broken_manager_fails_the_right_check_readably(default_build, broken_managers, broken, check, message,
                                                         tmp_path):
    tag, context = broken_managers[broken]
    farm = Farm(dataclasses.replace(default_build, manager=tag), 1)
    try:
        started = up(farm, 1)
        proc, cases = check_farm(farm, context, 1, started, tmp_path, extra=("--job-sleep-repeats", "1"))
        assert proc.returncode == 1, proc.stdout + proc.stderr
        assert {k: v for k, v in cases.items() if v[0] != "passed"} == {check: ("failed", message)}
        assert f"FAIL {check}: {message}" in proc.stdout
    finally:
        farm.compose("down", "-v", "--remove-orphans", check=False)
