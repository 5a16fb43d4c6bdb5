"""pipeline/container_scripts/integration.py against the real fixture binaries, run as host processes.

The Manager and Workers are the fixture's own programs, built here with the host's
Go toolchain (CI installs one; elsewhere these tests skip without it). The
container lane runs the same script against the images (test_integration.py).
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
from junitparser import Failure, JUnitXml, Skipped

from pipeline.core import farm_config, spec
from pipeline.container_scripts import integration
from tests.conftest import FIXTURE, STAMP, require_go

SCRIPT = Path(integration.__file__)
APPINFO = "example.com/flamenco-mini/internal/appinfo"
SOURCE_SPEC = FIXTURE / "pkg" / "api" / "flamenco-openapi.yaml"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def build_binaries(tmp_path_factory, release_cycle: str) -> Path:
    """flamenco-manager and flamenco-worker, stamped like the pipeline stamps them."""
    go = require_go()
    src = tmp_path_factory.mktemp("src") / "flamenco-mini"
    shutil.copytree(FIXTURE, src)
    # The web app build (node) stands in as its output: an index.html to embed.
    (src / "web" / "static" / "index.html").write_text(
        "<!doctype html>\n<html><head><title>Flamenco Mini</title></head><body></body></html>\n"
    )
    out = tmp_path_factory.mktemp(f"bin-{release_cycle}")
    ldflags = " ".join(f"-X {APPINFO}.{k}={v}" for k, v in (
        ("ApplicationVersion", STAMP["version"]), ("ApplicationGitHash", STAMP["git_hash"]),
        ("ReleaseCycle", release_cycle)))
    env = {**os.environ, "CGO_ENABLED": "0", "GOFLAGS": "-mod=readonly"}
    subprocess.run([go, "build", f"-ldflags={ldflags}", "-o", f"{out}/", "./cmd/flamenco-manager",
                    "./cmd/flamenco-worker"], cwd=src, env=env, check=True, capture_output=True, timeout=600)
    return out


@pytest.fixture(scope="module")
def binaries(tmp_path_factory) -> Path:
    """Stamped with STAMP: release cycle beta, like the fixture's Makefile."""
    return build_binaries(tmp_path_factory, STAMP["release_cycle"])


@pytest.fixture(scope="module")
def release_binaries(tmp_path_factory) -> Path:
    """The same source stamped as a release build."""
    return build_binaries(tmp_path_factory, "release")


@dataclass
class HostFarm:
    url: str
    cwd: Path
    procs: list[subprocess.Popen]
    shared: Path

    @property
    def db(self) -> Path:
        return self.cwd / "flamenco-manager.sqlite"


@pytest.fixture
def farm(binaries, tmp_path):
    """``farm(workers)``: a manager (cwd: a fresh data dir) and N workers on loopback."""
    started: list[subprocess.Popen] = []

    def start(workers: int, bins: Path = binaries, configured: bool = True, worker_cmd=None) -> HostFarm:
        """configured: the farm's generated config files (pipeline/core/farm_config.py), as in both lanes.

        worker_cmd(i, url, cwd) -> argv replaces the fixture's worker (a misbehaving one)."""
        cwd = tmp_path / "data"
        cwd.mkdir()
        port = _free_port()
        url = f"http://127.0.0.1:{port}/"
        worker_dir = tmp_path / "worker"
        worker_dir.mkdir()
        if configured:
            (cwd / farm_config.MANAGER_CONFIG).write_text(farm_config.manager_yaml(shared_storage=str(tmp_path / "shared")))
            (worker_dir / farm_config.WORKER_CONFIG).write_text(farm_config.worker_yaml(manager_url=url))
        log = open(tmp_path / "farm.log", "w")  # noqa: SIM115 - closed with the processes
        started.append(subprocess.Popen([bins / "flamenco-manager", "-listen", f"127.0.0.1:{port}"],
                                        cwd=cwd, stdout=log, stderr=subprocess.STDOUT))
        for i in range(1, workers + 1):
            # manager_url comes from flamenco-worker.yaml, as in the lanes (no -manager)
            argv = (worker_cmd(i, url, worker_dir) if worker_cmd else
                    [bins / "flamenco-worker", "-name", f"worker-{i}", "-wait", "30s"]
                    + ([] if configured else ["-manager", url]))
            started.append(subprocess.Popen(argv, cwd=worker_dir, stdout=log, stderr=subprocess.STDOUT))
        return HostFarm(url, cwd, started, tmp_path / "shared")

    yield start
    for p in started:
        p.terminate()
    for p in started:
        try:
            p.wait(timeout=10)
        except subprocess.TimeoutExpired:
            p.kill()


def run_script(*args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    """The script as the checker container runs it: a plain file, a bare interpreter."""
    return subprocess.run([sys.executable, str(SCRIPT), *args], capture_output=True, text=True, timeout=timeout)


def args_for(f: HostFarm, workers: int, junit: Path, **over: str) -> list[str]:
    opts = {"--manager": f.url, "--workers": str(workers), "--spec": str(SOURCE_SPEC), "--db": str(f.db),
            "--stamp-version": STAMP["version"], "--stamp-hash": STAMP["git_hash"],
            "--stamp-release-cycle": STAMP["release_cycle"], "--junit": str(junit),
            "--timeout": "30", "--shared-storage": str(f.shared), "--job-timeout": "60",
            "--job-sleep-repeats": "1"} | over  # one sleep task per job keeps the tests short
    flags = ["--expect-shaman"] if "--no-expect-shaman" not in over else []
    return [x for kv in opts.items() if kv[0] != "--no-expect-shaman" for x in kv] + flags


def cases(junit: Path) -> dict[str, tuple[str, str]]:
    """testcase name -> (passed|failed|skipped, message)."""
    out = {}
    for suite in JUnitXml.fromfile(str(junit)):
        for case in suite:
            kinds = {type(r): r for r in case.result}
            if Failure in kinds:
                out[case.name] = ("failed", kinds[Failure].message)
            elif Skipped in kinds:
                out[case.name] = ("skipped", kinds[Skipped].message)
            else:
                out[case.name] = ("passed", "")
    return out


def test_every_check_passes_on_a_healthy_farm(farm, tmp_path):
    f = farm(2)
    junit, timing = tmp_path / "integration.xml", tmp_path / "timing.txt"
    proc = run_script(*args_for(f, 2, junit, **{"--timing": str(timing), "--job-sleep-repeats": "3"}))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    result = cases(junit)
    assert [k for k in result if not k.startswith("echo_sleep_job_")] == list(integration.CHECKS)
    assert [k for k in result if k.startswith("echo_sleep_job_")] == ["echo_sleep_job_1", "echo_sleep_job_2"]
    assert all(status == "passed" for status, _ in result.values()), result
    line = [x for x in proc.stdout.splitlines() if x.startswith("integration: ")]
    assert len(line) == 1 and line[0].startswith("integration: 2 workers up and signed on in ")
    assert " 2 echo-sleep jobs completed in " in line[0]
    assert timing.read_text().strip() == line[0]
    assert "migration(s) applied, latest version 2" in proc.stdout


V, H = STAMP["version"], STAMP["git_hash"]


@pytest.mark.parametrize("option,value,message", [
    ("--stamp-version", "3.9-other",
     f"the manager reports version '{V} ({H})', expected '3.9-other ({H})'; shortversion {V!r}, "
     "expected '3.9-other' (release cycle beta)"),
    ("--stamp-hash", "0000000",
     f"the manager reports version '{V} ({H})', expected '{V} (0000000)'; git {H!r}, expected '0000000' "
     "(release cycle beta)"),
    ("--stamp-release-cycle", "release",
     f"the manager reports version '{V} ({H})', expected {V!r} (release cycle release)"),
])
def test_wrong_stamp_fails_the_version_check_only(farm, tmp_path, option, value, message):
    f = farm(1)
    junit = tmp_path / "integration.xml"
    proc = run_script(*args_for(f, 1, junit, **{option: value}))
    assert proc.returncode == 1
    failed = {k: v for k, v in cases(junit).items() if v[0] != "passed"}
    assert failed == {"version": ("failed", message)}


def test_version_answer_is_flamencos_for_a_beta_build(farm, tmp_path):
    """Flamenco's GetVersion: the extended version with the hash, the plain shortversion, its key order."""
    f = farm(1)
    proc = run_script(*args_for(f, 1, tmp_path / "integration.xml"))  # also waits until the manager answers
    assert proc.returncode == 0, proc.stdout
    assert f"ok   version: Flamenco {V} ({H}) (shortversion {V}, git {H})" in proc.stdout
    _status, _ctype, body = integration.http_get(f.url, integration.VERSION_PATH)
    answer = json.loads(body)
    assert list(answer) == ["git", "name", "shortversion", "version"]
    assert answer == {"git": H, "name": "Flamenco", "shortversion": V, "version": f"{V} ({H})"}


@pytest.mark.parametrize("cycle,passes", [("release", True), ("rc", True), ("beta", False)])
def test_release_build_reports_the_plain_version(farm, release_binaries, tmp_path, cycle, passes):
    """A release build answers version == shortversion; the check expects that only for release and rc."""
    f = farm(1, release_binaries)
    junit = tmp_path / "integration.xml"
    proc = run_script(*args_for(f, 1, junit, **{"--stamp-release-cycle": cycle}))
    _status, _ctype, body = integration.http_get(f.url, integration.VERSION_PATH)
    assert json.loads(body) == {"git": H, "name": "Flamenco", "shortversion": V, "version": V}
    failed = {k: v for k, v in cases(junit).items() if v[0] != "passed"}
    if passes:
        assert proc.returncode == 0 and failed == {}, proc.stdout
    else:
        assert failed == {"version": ("failed", f"the manager reports version {V!r}, expected '{V} ({H})' "
                                                "(release cycle beta)")}


@pytest.mark.parametrize("answer,problem", [
    ({"version": f"{V} ({H})", "shortversion": V, "git": H}, "no string field name (got git, shortversion, version)"),
    ([V], "the answer is a list, not an object"),
])
def test_malformed_version_answers_are_named(answer, problem):
    assert integration.version_problems(answer, V, H, "beta") == [problem]


def test_spec_mismatch_fails_the_spec_comparison_with_the_operation(farm, tmp_path):
    f = farm(1)
    source = tmp_path / "flamenco-openapi.yaml"
    source.write_text(SOURCE_SPEC.read_text().replace(
        "\ncomponents:\n",
        "\n  /api/v3/only-in-source:\n    get:\n      responses:\n        \"204\":\n          description: x\n"
        "\ncomponents:\n", 1))
    junit = tmp_path / "integration.xml"
    proc = run_script(*args_for(f, 1, junit, **{"--spec": str(source)}))
    assert proc.returncode == 1
    status, message = cases(junit)["openapi_matches_source"]
    assert status == "failed"
    assert "in flamenco-openapi.yaml but not served: GET /api/v3/only-in-source" in message
    assert cases(junit)["openapi_valid"][0] == "passed"


def test_missing_workers_fail_with_what_the_manager_lists(farm, tmp_path):
    f = farm(1)
    junit = tmp_path / "integration.xml"
    proc = run_script(*args_for(f, 3, junit, **{"--timeout": "5"}))
    assert proc.returncode == 1
    status, message = cases(junit)["workers_signed_on"]
    assert status == "failed"
    assert message.startswith("expected 3 worker(s) registered and signed on within 5s, the manager lists 1 signed on")
    assert "worker-1 awake" in message
    assert "integration: 1 of 3 workers signed on" in proc.stdout


def test_no_manager_fails_health_and_skips_what_depends_on_it(tmp_path):
    junit = tmp_path / "integration.xml"
    url = f"http://127.0.0.1:{_free_port()}/"
    proc = run_script("--manager", url, "--workers", "1", "--spec", str(SOURCE_SPEC), "--db",
                      str(tmp_path / "absent.sqlite"), "--stamp-version", "1.0", "--stamp-hash", "abc1234",
                      "--stamp-release-cycle", "beta", "--junit", str(junit), "--timeout", "1")
    assert proc.returncode == 1
    result = cases(junit)
    assert result["manager_healthy"][0] == "failed"
    assert f"the manager at {url} did not answer GET /api/v3/version with 200 within 1s" in result["manager_healthy"][1]
    assert result["database_migrated"] == ("failed", f"the manager's database {tmp_path / 'absent.sqlite'} does not exist")
    assert {k for k, v in result.items() if v[0] == "skipped"} == {
        "version", "openapi_valid", "openapi_matches_source", "manager_configured", "workers_signed_on",
        "jobs_completed", "tasks_spread", "task_logs", "web_ui"}


@pytest.mark.parametrize("bad,option", [
    (["--workers", "0"], "--workers=0"),
    (["--workers", "-3"], "--workers=-3"),
    (["--manager", "manager:8080"], "--manager="),
    (["--spec", "/nonexistent/flamenco-openapi.yaml"], "--spec="),
    (["--workers", "three"], "--workers"),
    (["--stamp-release-cycle", " "], "--stamp-release-cycle="),
])
def test_bad_arguments_are_one_line_naming_the_option_exit_2(bad, option, tmp_path):
    base = {"--manager": "http://manager:8080/", "--workers": "1", "--spec": str(SOURCE_SPEC),
            "--db": str(tmp_path / "db"), "--stamp-version": "1.0", "--stamp-hash": "abc1234",
            "--stamp-release-cycle": "beta"}
    base[bad[0]] = bad[1]
    proc = run_script(*[x for kv in base.items() for x in kv])
    assert proc.returncode == 2
    assert len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    assert proc.stderr.startswith("integration: error: ") and option in proc.stderr


def test_openapi_structure_problems_are_named():
    ok = json.loads((FIXTURE / "pkg/api/flamenco-openapi.json").read_text())
    assert integration.openapi_problems(ok) == []
    bad = json.loads(json.dumps(ok))
    bad["openapi"] = "2.0"
    del bad["info"]["title"]
    del bad["paths"]["/api/v3/version"]["get"]["responses"]
    bad["paths"]["/api/v3/worker-mgt/workers"]["get"]["responses"]["200"]["content"]["application/json"][
        "schema"]["$ref"] = "#/components/schemas/Nope"
    problems = integration.openapi_problems(bad)
    assert "'openapi' is '2.0', want 3.x.y" in problems
    assert "info.title is missing or empty" in problems
    assert "GET /api/v3/version has no 'responses'" in problems
    assert "$ref '#/components/schemas/Nope' does not resolve" in problems


def test_yaml_spec_without_pyyaml_uses_the_json_twin_or_says_what_to_do(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "yaml", None)  # `import yaml` raises ImportError
    twin = integration.load_spec(SOURCE_SPEC)
    assert twin == json.loads((FIXTURE / "pkg/api/flamenco-openapi.json").read_text())
    lone = tmp_path / "flamenco-openapi.yaml"
    shutil.copy(SOURCE_SPEC, lone)
    with pytest.raises(integration.CheckFailed, match="PyYAML is not installed and there is no JSON twin"):
        integration.load_spec(lone)


def test_yaml_and_json_twin_of_the_fixture_agree():
    import yaml

    a, b = yaml.safe_load(SOURCE_SPEC.read_text()), integration.load_spec(SOURCE_SPEC.with_suffix(".json"))
    assert integration.spec_differences(a, b, "twin") == []


def test_database_without_goose_table_is_named(tmp_path):
    import sqlite3

    db = tmp_path / spec.MANAGER_DB
    con = sqlite3.connect(db)
    con.execute("CREATE TABLE workers (id INTEGER)")
    con.commit()
    con.close()
    checker = integration.Checker(integration.Config("http://x/", 1, SOURCE_SPEC, db, "1", "a", "beta"))
    with pytest.raises(integration.CheckFailed, match="has no goose_db_version table: no migrations ran"):
        checker.check_database_migrated()


def test_timing_counts_from_started_at(farm, tmp_path):
    f = farm(1)
    junit = tmp_path / "integration.xml"
    proc = run_script(*args_for(f, 1, junit, **{"--started-at": str(time.time() - 100)}))
    assert proc.returncode == 0, proc.stdout
    seconds = float(proc.stdout.split("signed on in ")[1].split("s")[0])
    assert 100 <= seconds < 160


# --------------------------------------------------------------------------- #
# jobs: the checks fail on farms that do not really run them

FAKE_WORKER = r'''
import base64, json, sys, time, urllib.request, urllib.error
url, name, delay = sys.argv[1].rstrip("/"), sys.argv[2], float(sys.argv[3])
auth = {}
def call(method, path, body=None):
    req = urllib.request.Request(url + path, method=method, data=None if body is None else json.dumps(body).encode(),
                                 headers={"Content-Type": "application/json", **auth})
    try:
        with urllib.request.urlopen(req, timeout=5) as r:
            raw = r.read()
            return r.status, json.loads(raw) if raw else None
    except urllib.error.HTTPError as e:
        return e.code, None
for _ in range(100):
    try:
        call("GET", "/api/v3/version"); break
    except OSError:
        time.sleep(0.2)
_, reg = call("POST", "/api/v3/worker/register-worker",
              {"name": name, "secret": "s", "platform": "linux", "supported_task_types": ["misc"]})
auth["Authorization"] = "Basic " + base64.b64encode(f"{reg['uuid']}:s".encode()).decode()
call("POST", "/api/v3/worker/sign-on", {"name": name, "supported_task_types": ["misc"], "software_version": "x"})
call("POST", "/api/v3/worker/state-changed", {"status": "awake"})
while True:
    status, task = call("POST", "/api/v3/worker/task")
    if status == 200:  # claims the task is done without running its commands
        time.sleep(delay)
        call("POST", f"/api/v3/worker/task/{task['uuid']}", {"taskStatus": "completed", "activity": "Task completed"})
    else:
        time.sleep(0.2)
'''


def fake_workers(tmp_path: Path, delay: float):
    script = tmp_path / "fake_worker.py"
    script.write_text(FAKE_WORKER)
    return lambda i, url, cwd: [sys.executable, str(script), url, f"worker-{i}", str(delay)]


def test_a_worker_that_fakes_completion_fails_the_job_checks(farm, tmp_path):
    """Reports every task completed at once, running nothing: the jobs finish sooner than their sleep."""
    f = farm(2, worker_cmd=fake_workers(tmp_path, 0))
    junit = tmp_path / "integration.xml"
    proc = run_script(*args_for(f, 2, junit))
    assert proc.returncode == 1, proc.stdout
    result = cases(junit)
    status, message = result["jobs_completed"]
    assert status == "failed"
    assert "sooner than its 1s sleep task can run: a worker reported tasks completed without running them" in message
    assert result["task_logs"][0] == "skipped"
    assert result["workers_signed_on"][0] == "passed"


def test_a_patient_faker_is_caught_by_the_task_logs(farm, tmp_path):
    """Waits as long as a sleep before claiming completion, but never echoes: the echo line is missing."""
    f = farm(2, worker_cmd=fake_workers(tmp_path, 1.2))
    junit = tmp_path / "integration.xml"
    proc = run_script(*args_for(f, 2, junit))
    assert proc.returncode == 1, proc.stdout
    result = cases(junit)
    assert result["jobs_completed"][0] == "passed", "timing alone cannot tell"
    status, message = result["task_logs"]
    assert status == "failed"
    assert "the echo task's log lacks 'echo: \"flamenco-pipeline says hello from job 1" in message
    assert "Task assigned to worker" in message, "the manager's own line is there; the worker's is not"


def test_one_worker_doing_everything_fails_the_spread_check(farm, tmp_path, binaries):
    """worker-2 supports no `misc` tasks (its flamenco-worker.yaml), so worker-1 runs them all."""
    def worker(i, url, cwd):
        own = tmp_path / f"worker-{i}"
        own.mkdir()
        text = farm_config.worker_yaml(manager_url=url)
        if i == 2:
            text = text.replace('  - "misc"\n', "")
        (own / farm_config.WORKER_CONFIG).write_text(text)
        return ["sh", "-c", f'cd "{own}" && exec "{binaries}/flamenco-worker" -name worker-{i}']

    f = farm(2, worker_cmd=worker)
    junit = tmp_path / "integration.xml"
    proc = run_script(*args_for(f, 2, junit))
    assert proc.returncode == 1, proc.stdout
    status, message = cases(junit)["tasks_spread"]
    assert (status, message) == ("failed", "with 2 workers, only one ran tasks (worker-1: 4)"), "2 jobs x 2 tasks"


def test_a_first_run_manager_fails_the_configuration_check(farm, tmp_path):
    f = farm(1, configured=False)
    junit = tmp_path / "integration.xml"
    proc = run_script(*args_for(f, 1, junit))
    assert proc.returncode == 1
    failed = {k: v for k, v in cases(junit).items() if v[0] != "passed"}
    assert list(failed) == ["manager_configured"]
    message = failed["manager_configured"][1]
    assert message.startswith("the manager is in first-run mode (isFirstRun true): the web UI shows the setup assistant")
    assert "Shaman is not enabled" in message


@pytest.mark.parametrize("bad,option", [
    (["--jobs", "0"], "--jobs=0"), (["--job-timeout", "0"], "--job-timeout=0"),
    (["--job-sleep", "-1"], "--job-sleep=-1"), (["--shared-storage", "shared"], "--shared-storage="),
])
def test_bad_job_options_are_one_line_exit_2(bad, option, tmp_path):
    proc = run_script("--manager", "http://manager:8080/", "--workers", "1", "--spec", str(SOURCE_SPEC), "--db",
                      str(tmp_path / "db"), "--stamp-version", "1.0", "--stamp-hash", "abc1234",
                      "--stamp-release-cycle", "beta", *bad)
    assert proc.returncode == 2
    assert proc.stderr.startswith("integration: error: ") and option in proc.stderr
