"""Every Dagger-backed CLI command through the real `with_pipeline` and the real
`FlamencoPipeline.create`, with only the engine replaced (tests/fake_engine.py).

This is the seam that once broke every command (`create() got an unexpected keyword
argument 'manager_image_name'`) while the CLI tests stubbed `with_pipeline`.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from pipeline.cli.app import main
from pipeline.core.settings import HOST_OBJECTS, SETTINGS, Settings
from tests.conftest import FIXTURE
from tests.fake_engine import FakeEngine

# Every fact given, so create reads no file; its only engine questions (its platform, the
# git ref's commit) are answered by the fake engine as any engine would.
FACTS = ["--go-version", "1.26.2", "--version", "3.9-beta1", "--git-hash", "cf286e71", "--release-cycle", "beta"]
# Non-default values for settings that only a few functions read: they must still arrive.
CUSTOM = ["--registry", "registry.example/studio", "--manager-image-name", "studio-manager",
          "--worker-image-name", "studio-worker", "--tag", "t1", "--step-timeout", "77"]


def command_line(command: str, tmp_path: Path) -> list[str]:
    export = ["--export", str(tmp_path / "out")]
    return {
        "build": ["build", *export],
        "test": ["test", *export],
        "check": ["check"],
        "ci": ["ci", *export],
        "publish": ["publish", "--username", "ci-bot"],
        "dev": ["dev", "--workers", "2"],
        "integration-test": ["integration-test", "--workers", "2", *export],
    }[command]


DAGGER_COMMANDS = ("build", "test", "check", "ci", "publish", "dev", "integration-test")


@pytest.fixture
def spy_create(monkeypatch):
    """Records the object the REAL create returned (a pass-through, not a stub)."""
    from pipeline.dagger_lane.main import FlamencoPipeline

    made = []
    real = FlamencoPipeline.create.__func__

    async def create(cls, **kwargs):
        made.append(pipe := await real(cls, **kwargs))
        return pipe

    monkeypatch.setattr(FlamencoPipeline, "create", classmethod(create))
    return made


@pytest.mark.parametrize("source", ["upstream", "local"])
@pytest.mark.parametrize("command", DAGGER_COMMANDS)
def test_every_command_reaches_the_engine_through_the_real_create(command, source, tmp_path, monkeypatch, spy_create):
    engine = FakeEngine().install(monkeypatch)
    monkeypatch.setenv("REGISTRY_PASSWORD", "not-a-real-password")
    monkeypatch.chdir(tmp_path)  # repro.json lands here, not in the repository
    where = ["--source", str(FIXTURE)] if source == "local" else []
    r = CliRunner().invoke(main, [*command_line(command, tmp_path), *where, *FACTS, *CUSTOM])

    assert "Traceback" not in r.output and "TypeError" not in r.output, r.output
    assert engine.sessions == 1 and len(spy_create) == 1, r.output
    assert engine.queries, f"{command} never reached an engine call: {r.output}"
    # The engine vanished at the first query: one line, exit 3 (README's "no engine").
    errors = [ln for ln in r.output.splitlines() if ln.startswith("flamenco-pipeline: error:")]
    assert r.exit_code == 3 and len(errors) == 1 and "Dagger engine" in errors[0], r.output
    settings = json.loads(spy_create[0].settings_json)
    assert (settings["manager_image_name"], settings["worker_image_name"]) == ("studio-manager", "studio-worker")
    assert (settings["registry"], settings["tag"], settings["step_timeout"]) == ("registry.example/studio", "t1", 77)


def test_publish_pushes_to_the_names_the_user_gave(tmp_path, monkeypatch, spy_create):
    pushed = []

    def answer(field, chain):
        if field == "publish":
            pushed.append(chain[-1].args["address"])
            return f"{chain[-1].args['address']}@sha256:{'0' * 64}"
        raise AssertionError(f"publish sent an unexpected query: {field}")

    FakeEngine(answer).install(monkeypatch)
    monkeypatch.setenv("REGISTRY_PASSWORD", "not-a-real-password")
    monkeypatch.chdir(tmp_path)
    r = CliRunner().invoke(main, [*command_line("publish", tmp_path), *FACTS, *CUSTOM])
    assert r.exit_code == 0, r.output
    assert pushed == ["registry.example/studio/studio-manager:t1", "registry.example/studio/studio-worker:t1"]
    assert "not-a-real-password" not in r.output


def test_every_setting_is_a_constructor_argument_and_a_flag():
    import inspect

    from pipeline.dagger_lane.main import FlamencoPipeline

    params = inspect.signature(FlamencoPipeline.create).parameters
    assert set(params) == set(Settings.model_fields)
    flags = {opt for p in main.commands["build"].params for opt in p.opts}  # help groups some rows: see test_cli_help
    for s in SETTINGS:
        assert s.flag in flags, s.flag
        if s.name not in HOST_OBJECTS and s.kind != "list":
            assert params[s.name].default in (s.default, None), s.name


@pytest.mark.parametrize(
    ("answer_exit_code", "expected"), [("0", 0), ("1", 1)], ids=["tests-pass", "tests-fail"]
)
def test_build_exits_1_when_tests_failed_with_reports_exported(answer_exit_code, expected, tmp_path, monkeypatch):
    """The Dagger lane agrees with `docker build`: failed tests are exit 1, reports still exported."""

    failure = '<failure message="boom">meta_test.go:12: boom</failure>' if expected else ""
    junit = ('<?xml version="1.0" encoding="UTF-8"?>\n<testsuites><testsuite name="internal/appinfo" tests="2">'
             f'<testcase classname="internal/appinfo" name="TestA" time="0.1"></testcase>'
             f'<testcase classname="internal/appinfo" name="TestB" time="0.1">{failure}</testcase>'
             '</testsuite></testsuites>\n')
    exported = {}

    def answer(field, chain):
        if field == "contents" and chain[-2].args.get("path") in ("exit-code", "junit.xml"):
            return answer_exit_code if chain[-2].args["path"] == "exit-code" else junit
        if field == "export":
            out = Path(chain[-1].args["path"])
            (out / "reports").mkdir(parents=True, exist_ok=True)
            (out / "reports" / "exit-code").write_text(answer_exit_code + "\n")
            exported.update({c.args["path"]: c.args["contents"] for c in chain if c.name == "withNewFile"})
            return str(out)
        return {"sync": "fake-id", "stdout": "", "size": 0}[field]

    FakeEngine(answer).install(monkeypatch)
    monkeypatch.chdir(tmp_path)
    r = CliRunner().invoke(main, [*command_line("build", tmp_path), "--source", str(FIXTURE), *FACTS])
    assert r.exit_code == expected, r.output
    assert (tmp_path / "out" / "reports" / "exit-code").is_file()
    tests = json.loads(exported["build-report.json"])["tests"]  # the Dagger lane's report counts tests too
    assert (tests["passed"], tests["failed"], tests["skipped"]) == (2 - expected, expected, 0)
    if expected:
        assert r.output.strip().splitlines()[-1] == (
            f"flamenco-pipeline: error: go test failed (exit 1); reports in {tmp_path / 'out' / 'reports'}")


@pytest.mark.parametrize(
    ("raised", "code", "line"),
    [
        ("build", 1, "build failed in stage(s) app@linux/amd64: exit code: 1"),
        ("settings", 2, "invalid argument platform='linux/s390x'"),
        ("timeout", 1, "timed out: step 'go build' took longer than 10s"),
    ],
)
def test_errors_inside_the_session_are_one_line_with_the_readme_exit_code(raised, code, line, tmp_path, monkeypatch):
    """Whatever the SDK wraps in SessionError comes out as its own cause, one line."""
    from pipeline.core.errors import BuildFailed, UsageError

    def answer(field, chain):
        raise {
            "build": BuildFailed(["app@linux/amd64"], "exit code: 1\nmore detail"),
            "settings": UsageError("invalid argument platform='linux/s390x': not configured"),
            "timeout": TimeoutError("step 'go build' took longer than 10s"),
        }[raised]

    FakeEngine(answer).install(monkeypatch)
    monkeypatch.chdir(tmp_path)
    r = CliRunner().invoke(main, [*command_line("check", tmp_path), *FACTS])
    assert r.exit_code == code, r.output
    errors = [ln for ln in r.output.splitlines() if ln.startswith("flamenco-pipeline: error:")]
    assert len(errors) == 1 and line in errors[0], r.output
    assert "Traceback" not in r.output and "SessionError" not in r.output
