"""repro.json: written by every CLI pipeline run and by CI's --record, read back by `repro`.

Real git checkouts in tmp directories, the real CLI through CliRunner. The engine
is the one thing replaced: `with_pipeline` (the Dagger session) is stubbed, and
re-runs execute a stand-in Dagger CLI (`_EXPERIMENTAL_DAGGER_CLI_BIN`, which is how
the Dagger SDKs themselves are pointed at a CLI) that records the argv it was given.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from click.testing import CliRunner

from pipeline import __version__
from pipeline.ci import commands as cc
from pipeline.ci import repro_call, repro_record, repro_rerun
from pipeline.cli.app import main
from pipeline.core.settings import UPSTREAM_GIT_URL
from tests.conftest import FIXTURE, ROOT

GIT_ENV = {"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.invalid",
           "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.invalid"}
MODULE_REF = "github.com/your-org/flamenco-pipeline@v0.1.0"


def git(path: Path, *args: str) -> str:
    out = subprocess.run(["git", "-C", str(path), *args], check=True, capture_output=True, text=True,
                         env={**os.environ, **GIT_ENV})
    return out.stdout.strip()


def commit_all(path: Path, message: str = "commit") -> str:
    git(path, "add", "-A")
    git(path, "commit", "-q", "-m", message)
    return git(path, "rev-parse", "HEAD")


@pytest.fixture
def work(tmp_path, monkeypatch):
    """A flamenco-pipeline checkout (dagger.json, git) with upstream Flamenco cloned into flamenco/."""
    for var in ("GITHUB_SHA", "CI_COMMIT_SHA", "BUILD_VCS_NUMBER", "GIT_COMMIT", "GITHUB_ACTIONS", "GITLAB_CI",
                "REGISTRY_PASSWORD", "_EXPERIMENTAL_DAGGER_CLI_BIN"):
        monkeypatch.delenv(var, raising=False)
    mod = tmp_path / "flamenco-pipeline"
    mod.mkdir()
    shutil.copy(ROOT / "dagger.json", mod / "dagger.json")
    (mod / ".gitignore").write_text("/flamenco/\n/dist/\nrepro.json\n")
    git(mod, "init", "-q")
    commit_all(mod, "module")
    src = mod / "flamenco"
    shutil.copytree(FIXTURE, src, ignore=shutil.ignore_patterns("node_modules"))
    git(src, "init", "-q")
    git(src, "remote", "add", "origin", UPSTREAM_GIT_URL)  # never contacted
    commit_all(src, "flamenco")
    monkeypatch.chdir(mod)
    return mod


@pytest.fixture
def fake_dagger(tmp_path, monkeypatch):
    """A stand-in Dagger CLI: writes its argv (one per line) and exits 7."""
    log = tmp_path / "dagger-argv.txt"
    script = tmp_path / "dagger"
    script.write_text(f'#!/bin/sh\nprintf "%s\\n" "$@" > {log}\nexit 7\n')
    script.chmod(0o755)
    monkeypatch.setenv("_EXPERIMENTAL_DAGGER_CLI_BIN", str(script))
    return log


def invoke(*args: str, env: dict | None = None):
    return CliRunner().invoke(main, list(args), env=env)


def printed_commands(output: str) -> list[str]:
    return [ln for ln in output.splitlines() if ln and not ln.startswith("#")]


# --- CI: --record, then --print ------------------------------------------------------------
def test_ci_record_round_trips_through_print_to_the_identical_dagger_call_line(work):
    r = invoke("repro", "repro.json", "--record", cc.PIPELINE_JOB.calls[0])
    assert r.exit_code == 0, r.output
    r = invoke("repro", "repro.json", "--print")
    assert r.exit_code == 0, r.output
    dagger_line, cli_line = printed_commands(r.output)
    assert dagger_line == cc.PIPELINE_JOB.lines[0] == "dagger call --source=flamenco ci dist export --path dist"
    assert cli_line == "flamenco-pipeline ci --export dist --source flamenco"
    r = invoke("repro", "repro.json", "--print", "--interactive")
    assert printed_commands(r.output)[0] == cc.dagger_call(cc.PIPELINE_JOB.calls[0], interactive=True)

    rec = json.loads((work / "repro.json").read_text())
    assert rec["schema"] == repro_record.SCHEMA and rec["entry"] == "dagger-call" and rec["function"] == "ci"
    assert rec["source"] == {"kind": "local", "path": "flamenco", "revision": git(work / "flamenco", "rev-parse", "HEAD"),
                             "dirty": False, "url": UPSTREAM_GIT_URL}
    assert rec["module"]["ref"] == "." and rec["module"]["revision"] == git(work, "rev-parse", "HEAD")
    assert rec["versions"]["pipeline"] == __version__
    assert rec["versions"]["dagger_io"] == rec["versions"]["dagger_cli"] == cc.DAGGER_VERSION
    assert rec["settings"]["source"] == "flamenco" and rec["settings"]["git_ref"]


def test_flamenco_repo_record_names_the_remote_module(work):
    src = work / "flamenco"
    os.chdir(src)
    r = invoke("repro", "repro.json", "--record", cc.FLAMENCO_REPO_JOB.calls[0], "--module", MODULE_REF)
    assert r.exit_code == 0, r.output
    r = invoke("repro", "repro.json", "--print")
    assert printed_commands(r.output)[0] == cc.dagger_call(cc.FLAMENCO_REPO_JOB.calls[0], module=MODULE_REF)
    rec = json.loads((src / "repro.json").read_text())
    assert rec["module"] == {"ref": MODULE_REF, "revision": "v0.1.0"}
    assert rec["source"]["path"] == "." and rec["source"]["revision"] == git(src, "rev-parse", "HEAD")


@pytest.mark.parametrize("args", [
    "--source=flamenco ci dist export --path dist",
    "--source=flamenco ci verdict",
    "--source=flamenco --platforms=linux/amd64,linux/arm64 --allow-unsafe-go-modules build export --path=out",
    "--source=flamenco --registry=registry.example/team publish --username=ci --password=env://REGISTRY_PASSWORD",
    "test reports export --path reports",
    "check",
])
def test_dagger_call_argv_round_trips(args):
    call = repro_call.DaggerCall.parse(args)
    assert call.line() == "dagger call " + args
    assert repro_call.DaggerCall.parse(call.argv()[1:]).argv() == call.argv()


def test_record_refuses_ambiguous_flags_and_unknown_arguments(work):
    r = invoke("repro", "repro.json", "--record", "--source flamenco ci dist export --path dist")
    assert r.exit_code == 2 and "--source=VALUE" in r.output
    r = invoke("repro", "repro.json", "--record", "--source=flamenco --no-such=1 ci")
    assert r.exit_code == 2 and "--no-such" in r.output
    r = invoke("repro", "repro.json", "--record", "--source=flamenco --go-version=banana ci")
    assert r.exit_code == 2 and "go_version" in r.output
    assert not (work / "repro.json").exists()


# --- CLI runs write repro.json --------------------------------------------------------------------
def test_cli_ci_writes_repro_json_equivalent_to_the_ci_line(work, monkeypatch):
    monkeypatch.setattr("pipeline.cli.app.with_pipeline", lambda settings, action: (1, "test: failed (go test exit 1)"))
    r = invoke("ci", "--source", "flamenco", "--export", "dist")
    assert r.exit_code == 1, r.output
    path = work / "dist" / "repro.json"
    assert f"repro: {path}" in r.output
    rec = json.loads(path.read_text())
    assert rec["entry"] == "cli" and rec["outcome"]["exit_code"] == 1
    # the CLI run and the CI job are the same call
    assert rec["dagger"]["line"] == cc.PIPELINE_JOB.lines[0]
    assert rec["cli"]["line"] == "flamenco-pipeline ci --source flamenco --export dist"
    r = invoke("repro", str(path), "--print")
    assert printed_commands(r.output)[0] == cc.PIPELINE_JOB.lines[0]


def test_repro_json_is_written_before_the_run_and_keeps_the_failure(work, monkeypatch):
    from pipeline.cli import app as cli

    seen = {}

    def engine_down(settings, action):
        seen["before"] = json.loads((work / "out" / "repro.json").read_text())["outcome"]
        cli.fail("could not start or reach a Dagger engine (no docker); it needs a container runtime", cli.EXIT_ENGINE)

    monkeypatch.setattr("pipeline.cli.app.with_pipeline", engine_down)
    r = invoke("build", "--source", "flamenco", "--export", "out", "--go-version", "1.26.2")
    assert r.exit_code == 3
    assert seen["before"] == {"exit_code": None}
    rec = json.loads((work / "out" / "repro.json").read_text())
    assert rec["outcome"]["exit_code"] == 3
    assert rec["dagger"]["line"] == "dagger call --source=flamenco --go-version=1.26.2 build export --path out"
    assert rec["settings"]["go_version"] == "1.26.2"


def test_boolean_and_image_name_settings(work, monkeypatch):
    """Every setting, the image names included, is a constructor argument: nothing is left out."""
    monkeypatch.setenv("FLAMENCO_PIPELINE_MANAGER_IMAGE_NAME", "farm-manager")
    monkeypatch.setattr("pipeline.cli.app.with_pipeline", lambda settings, action: (0, "all passed"))
    r = invoke("ci", "--source", "flamenco", "--allow-unsafe-go-modules", "--platforms", "linux/amd64,linux/arm64")
    assert r.exit_code == 0, r.output
    rec = json.loads((work / "dist" / "repro.json").read_text())
    assert rec["dagger"]["line"] == ("dagger call --source=flamenco --allow-unsafe-go-modules "
                                     "--platforms=linux/amd64,linux/arm64 --manager-image-name=farm-manager "
                                     "ci dist export --path dist")
    assert rec["dagger"]["not_expressible"] == []
    assert rec["cli"]["line"] == ("flamenco-pipeline ci --source flamenco --allow-unsafe-go-modules "
                                  "--platforms linux/amd64,linux/arm64 --manager-image-name farm-manager --export dist")
    r = invoke("repro", "dist/repro.json", "--print")
    assert "cannot carry" not in r.output
    # the recorded dagger argv parses back (booleans as bare flags) and --record accepts it
    r = invoke("repro", "ci.json", "--record", " ".join(rec["dagger"]["argv"][1:]))
    assert r.exit_code == 0, r.output
    assert json.loads((work / "ci.json").read_text())["dagger"]["line"] == rec["dagger"]["line"]
    r = invoke("repro", "bad.json", "--record", "--source=flamenco --no-such-setting=x ci")
    assert r.exit_code == 2 and "unknown constructor argument --no-such-setting" in r.output


def test_cli_without_git_records_the_ci_hash_it_used(work, monkeypatch):
    shutil.rmtree(work / "flamenco" / ".git")
    monkeypatch.setenv("GITHUB_SHA", "0123456789abcdef0123456789abcdef01234567")
    monkeypatch.setattr("pipeline.cli.app.with_pipeline", lambda settings, action: "ok")
    r = invoke("check", "--source", "flamenco")
    assert r.exit_code == 0, r.output
    rec = json.loads((work / "repro.json").read_text())
    # a CI variable's hash is abbreviated to source_facts.FALLBACK_HASH_LENGTH (8) digits
    assert rec["dagger"]["argv"] == ["call", "--source=flamenco", "--git-hash=01234567", "check"]
    assert rec["source"]["revision"] == git(work, "rev-parse", "HEAD")  # the enclosing checkout's


def test_docker_lane_record(work, monkeypatch):
    monkeypatch.setattr("pipeline.docker_lane.build.DockerBuild.run",
                        lambda self, log_path=None, **_: subprocess.CompletedProcess([], 0, "", ""))
    monkeypatch.setattr("pipeline.docker_lane.build.engine_problem", lambda: None)  # the engine: the outer boundary
    r = invoke("docker", "build", "--source", "flamenco", "--target", "go-base", "--export", "out")
    assert r.exit_code == 0, r.output
    rec = repro_record.load(work / "out" / "repro.json")
    assert rec["lane"] == "docker" and rec["dagger"] is None and rec["outcome"]["exit_code"] == 0
    assert rec["cli"]["argv"] == ["docker", "build", "--source", "flamenco", "--target", "go-base", "--export", "out"]
    r = invoke("repro", "out/repro.json", "--print")
    assert "no `dagger call` equivalent" in r.output
    assert printed_commands(r.output) == ["flamenco-pipeline docker build --source flamenco --target go-base --export out"]
    argv, _ = repro_rerun.rerun_argv(rec, interactive=False)
    assert argv == [*repro_rerun.CLI_PREFIX, *rec["cli"]["argv"]]
    r = invoke("repro", "out/repro.json", "-i")
    assert r.exit_code == 2 and "--interactive" in r.output and "Docker lane" in r.output


# --- secrets: a canary never leaks ---------------------------------------------------------------
def test_canary_secret_never_reaches_repro_json_summaries_or_output(work, monkeypatch, tmp_path):
    canary = f"canary-{uuid.uuid4().hex}"
    netrc = tmp_path / "netrc"
    netrc.write_text(f"machine git.corp.example login ci password {canary}\n")
    monkeypatch.setenv("REGISTRY_PASSWORD", canary)
    monkeypatch.setattr("pipeline.cli.app.with_pipeline", lambda settings, action: "registry.example/team/flamenco-manager:3.9")
    outputs = []
    r = invoke("publish", "--source", "flamenco", "--registry", "registry.example/team", "--username", "ci",
               "--go-netrc", str(netrc))
    assert r.exit_code == 0, r.output
    outputs.append(r.output)
    text = (work / "repro.json").read_text()
    rec = json.loads(text)
    assert rec["secrets"] == {"password": "env://REGISTRY_PASSWORD", "go_netrc": f"file://{netrc.resolve()}"}
    assert rec["arguments"]["password"] == "env://REGISTRY_PASSWORD"
    assert rec["settings"]["go_netrc"] == f"file://{netrc.resolve()}"
    assert rec["dagger"]["line"] == (f"dagger call --source=flamenco --go-netrc=file://{netrc.resolve()} "
                                     "--registry=registry.example/team publish --username=ci "
                                     "--password=env://REGISTRY_PASSWORD")
    for args in (["repro", "repro.json", "--print"], ["repro", "repro.json", "--print", "-i"],
                 ["summary", str(ROOT / "tests" / "data" / "junit-flamenco-mini-fail.xml"), "--repro", "repro.json"]):
        r = invoke(*args)
        assert r.exit_code == 0, r.output
        outputs.append(r.output)
    # a CI job handing --record the value instead of a reference is refused without echoing it
    r = invoke("repro", "ci.json", "--record", f"--source=flamenco publish --username=ci --password={canary}")
    assert r.exit_code == 2 and "reference" in r.output
    outputs.append(r.output)
    assert not (work / "ci.json").exists()
    for written in [text, *outputs]:
        assert canary not in written


def test_rerun_needs_the_referenced_secret(work, monkeypatch, fake_dagger):
    r = invoke("repro", "repro.json", "--record",
               "--source=flamenco --registry=registry.example/team publish --username=ci --password=env://REGISTRY_PASSWORD")
    assert r.exit_code == 0, r.output
    r = invoke("repro", "repro.json")
    assert r.exit_code == 2 and "REGISTRY_PASSWORD is empty" in r.output
    assert not fake_dagger.exists()
    monkeypatch.setenv("REGISTRY_PASSWORD", "s3cret")
    r = invoke("repro", "repro.json")
    assert r.exit_code == 7
    assert "s3cret" not in fake_dagger.read_text() and "--password=env://REGISTRY_PASSWORD" in fake_dagger.read_text()


# --- re-running -------------------------------------------------------------------------------------
def test_rerun_executes_the_recorded_argv(work, fake_dagger):
    assert invoke("repro", "repro.json", "--record", cc.PIPELINE_JOB.calls[0]).exit_code == 0
    r = invoke("repro", "repro.json")
    assert r.exit_code == 7  # the Dagger CLI's own exit code
    assert fake_dagger.read_text().splitlines() == ["call", *cc.PIPELINE_JOB.calls[0].split()]
    r = invoke("repro", "repro.json", "--interactive")
    assert r.exit_code == 7
    assert fake_dagger.read_text().splitlines() == ["call", "--interactive", *cc.PIPELINE_JOB.calls[0].split()]


def test_rerun_refuses_another_source_revision(work, fake_dagger):
    assert invoke("repro", "repro.json", "--record", cc.PIPELINE_JOB.calls[0]).exit_code == 0
    recorded = git(work / "flamenco", "rev-parse", "HEAD")
    (work / "flamenco" / "Makefile").write_text((work / "flamenco" / "Makefile").read_text() + "\n# later\n")
    commit_all(work / "flamenco", "later")
    r = invoke("repro", "repro.json")
    assert r.exit_code == 2 and not fake_dagger.exists()
    (line,) = r.output.strip().splitlines()
    assert f"checkout --detach {recorded}" in line and "--any-revision" in line
    r = invoke("repro", "repro.json", "--any-revision")
    assert r.exit_code == 7
    git(work / "flamenco", "checkout", "-q", "--detach", recorded)
    assert invoke("repro", "repro.json").exit_code == 7


def test_rerun_says_how_to_get_a_missing_source(work, fake_dagger):
    assert invoke("repro", "repro.json", "--record", cc.PIPELINE_JOB.calls[0]).exit_code == 0
    rev = git(work / "flamenco", "rev-parse", "HEAD")
    shutil.rmtree(work / "flamenco")
    r = invoke("repro", "repro.json")
    assert r.exit_code == 2
    assert f"git clone {UPSTREAM_GIT_URL} {work / 'flamenco'} && git -C {work / 'flamenco'} checkout --detach {rev}" in r.output


def test_rerun_refuses_another_module_revision(work, fake_dagger):
    assert invoke("repro", "repro.json", "--record", cc.PIPELINE_JOB.calls[0]).exit_code == 0
    (work / "README.md").write_text("changed module\n")
    commit_all(work, "module change")
    r = invoke("repro", "repro.json")
    assert r.exit_code == 2 and "module checkout" in r.output and not fake_dagger.exists()


def test_rerun_outside_a_pipeline_checkout(work, fake_dagger, tmp_path):
    assert invoke("repro", "repro.json", "--record", cc.PIPELINE_JOB.calls[0]).exit_code == 0
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    shutil.copy(work / "repro.json", elsewhere / "repro.json")
    os.chdir(elsewhere)
    r = invoke("repro", "repro.json")
    assert r.exit_code == 2 and "is missing" in r.output


@pytest.mark.parametrize("content, problem", [
    (None, "no such file"),
    ("{not json", "not JSON"),
    ('{"schema": "other/1"}', "expected 'flamenco-pipeline/repro@1'"),
    (json.dumps({"schema": repro_record.SCHEMA}), "missing key"),
])
def test_bad_repro_file_is_one_line_exit_2(tmp_path, content, problem):
    p = tmp_path / "repro.json"
    if content is not None:
        p.write_text(content)
    r = invoke("repro", str(p), "--print")
    assert r.exit_code == 2, r.output
    lines = r.output.strip().splitlines()
    assert len(lines) == 1 and problem in lines[0] and "Traceback" not in r.output


def test_a_remote_module_named_by_the_file_runs_only_with_the_users_module_option(work, fake_dagger):
    src = work / "flamenco"
    os.chdir(src)
    assert invoke("repro", "repro.json", "--record", cc.FLAMENCO_REPO_JOB.calls[0], "--module", MODULE_REF).exit_code == 0
    r = invoke("repro", "repro.json", "--any-revision")
    assert r.exit_code == 2 and f"--module {MODULE_REF}" in r.output and not fake_dagger.exists()
    r = invoke("repro", "repro.json", "--any-revision", "--module", "github.com/someone/else@v1")
    assert r.exit_code == 2 and not fake_dagger.exists()
    r = invoke("repro", "repro.json", "--any-revision", "--module", MODULE_REF)
    assert r.exit_code == 7, r.output
    assert fake_dagger.read_text().splitlines()[:3] == ["-m", MODULE_REF, "call"]
    r = invoke("repro", "repro.json", "--print", "--module", MODULE_REF)
    assert r.exit_code == 2 and "--print runs nothing" in r.output
