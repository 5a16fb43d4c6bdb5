"""pipeline/integration.py against the real fixture binaries, run as host processes.

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

from pipeline import integration, spec
from tests.conftest import FIXTURE, STAMP

SCRIPT = Path(integration.__file__)
APPINFO = "example.com/flamenco-mini/internal/appinfo"
SOURCE_SPEC = FIXTURE / "pkg" / "api" / "flamenco-openapi.yaml"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def build_binaries(tmp_path_factory, release_cycle: str) -> Path:
    """flamenco-manager and flamenco-worker, stamped like the pipeline stamps them."""
    go = shutil.which("go")
    if go is None:
        if os.environ.get("CI", "").strip().lower() in ("true", "1"):
            pytest.fail("no Go toolchain on PATH (CI installs one: .ci/run)", pytrace=False)
        pytest.skip("no Go toolchain on PATH")
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

    @property
    def db(self) -> Path:
        return self.cwd / "flamenco-manager.sqlite"


@pytest.fixture
def farm(binaries, tmp_path):
    """``farm(workers)``: a manager (cwd: a fresh data dir) and N workers on loopback."""
    started: list[subprocess.Popen] = []

    def start(workers: int, bins: Path = binaries) -> HostFarm:
        cwd = tmp_path / "data"
        cwd.mkdir()
        port = _free_port()
        url = f"http://127.0.0.1:{port}/"
        log = open(tmp_path / "farm.log", "w")  # noqa: SIM115 - closed with the processes
        started.append(subprocess.Popen([bins / "flamenco-manager", "-listen", f"127.0.0.1:{port}"],
                                        cwd=cwd, stdout=log, stderr=subprocess.STDOUT))
        for i in range(1, workers + 1):
            started.append(subprocess.Popen(
                [bins / "flamenco-worker", "-manager", url, "-name", f"worker-{i}", "-wait", "30s"],
                cwd=tmp_path, stdout=log, stderr=subprocess.STDOUT))
        return HostFarm(url, cwd, started)

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
            "--stamp-release-cycle": STAMP["release_cycle"], "--junit": str(junit), "--timeout": "30"} | over
    return [x for kv in opts.items() for x in kv]


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
    proc = run_script(*args_for(f, 2, junit, **{"--timing": str(timing)}))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    result = cases(junit)
    assert list(result) == list(integration.CHECKS)
    assert all(status == "passed" for status, _ in result.values()), result
    line = [x for x in proc.stdout.splitlines() if x.startswith("integration: ")]
    assert len(line) == 1 and line[0].startswith("integration: 2 workers up and signed on in ")
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
        "version", "openapi_valid", "openapi_matches_source", "workers_signed_on", "web_ui"}


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
