"""Issue 12 §4/§5: each reported input, through the real CLI, is one line and the right exit code.

Each case is a member of a class fixed in one place (pipeline/core/validate.py, the settings model,
TextPath, one_line_usage_errors); tests/test_untrusted_settings.py drives the classes with
arbitrary text. Nothing here needs an engine; an engine start would fail the test.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from pipeline.reports.schema import SCHEMA_ID
from pipeline.cli.app import main
from tests.conftest import FIXTURE


@pytest.fixture(autouse=True)
def _no_engine(monkeypatch, tmp_path):
    monkeypatch.setattr("pipeline.cli.app.with_pipeline", lambda *a: pytest.fail("an engine was started"))
    monkeypatch.chdir(tmp_path)


def cli(*args: str, env: dict | None = None):
    return CliRunner().invoke(main, list(args), env=env)


def one_line(r, code: int = 2, *needles: str) -> str:
    assert r.exit_code == code, (r.exit_code, r.output, r.exception)
    assert r.exception is None or isinstance(r.exception, SystemExit), repr(r.exception)
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("flamenco-pipeline: error: "), r.stderr
    for n in needles:
        assert n in lines[0], lines[0]
    return lines[0]


def fixture_with_go_line(tmp_path: Path, go_line: str) -> Path:
    src = tmp_path / "src"
    shutil.copytree(FIXTURE, src, ignore=shutil.ignore_patterns("node_modules"))
    gomod = src / "go.mod"
    text = "\n".join(go_line if ln.startswith("go ") else ln for ln in gomod.read_text().splitlines()
                     if not ln.startswith("toolchain "))
    gomod.write_text(text + "\n")
    return src


# --- §4: formerly tracebacks ------------------------------------------------------------------
@pytest.mark.parametrize("value", ["linux/arm64", "linux/amd64,linux/arm64", '["linux/arm64"]'])
@pytest.mark.parametrize("where", ["env", "dotenv"])
def test_platforms_from_env_or_dotenv_take_the_flags_comma_list(tmp_path, monkeypatch, value, where):
    from pipeline.core.settings import load_settings

    if where == "env":
        monkeypatch.setenv("FLAMENCO_PIPELINE_PLATFORMS", value)
    else:
        (tmp_path / ".env").write_text(f"FLAMENCO_PIPELINE_PLATFORMS={value}\n")
    r = cli("plan", "--json")
    assert r.exit_code == 0, r.output
    expected = json.loads(value) if value.startswith("[") else value.split(",")
    assert load_settings().platforms == expected


@pytest.mark.parametrize("go_line", ["go 1.26.x", "go 2.0"])
def test_an_unusable_go_mod_go_line_is_one_line(tmp_path, go_line):
    one_line(cli("plan", "--source", str(fixture_with_go_line(tmp_path, go_line))), 2, "go.mod", "--go-version")


def test_a_dotenv_that_is_not_utf8_is_one_line(tmp_path):
    (tmp_path / ".env").write_bytes(b"FLAMENCO_PIPELINE_TAG=caf\xe9\n")
    one_line(cli("plan"), 2, "env_file", "UTF-8")


@pytest.mark.parametrize("args, needle", [
    (["dev", "--port", "\u00b2"], "--port"),
    (["repro", "r.json", "--record", "'unbalanced"], "quotation"),
    (["render", "dockerfile", "--output-dir", "missing/dir"], "--output-dir"),
    (["plan", "--step-timeout", "3_0"], "step_timeout"),
    (["plan", "--ca-cert", "a\x00b"], "--ca-cert"),
    (["plan", "--no-such-flag"], "--no-such-flag"),
    (["publish", "--username", "ci\nx", "--registry", "registry.example/t"], "--username"),
    (["publish", "--username", "ci", "--password-env", "A;B", "--registry", "registry.example/t"], "--password-env"),
    (["docker", "build", "--source", str(FIXTURE), "--target", "manager\n--x"], "--target"),
])
def test_former_tracebacks_are_one_line(args, needle):
    one_line(cli(*args), 2, needle)


def test_report_with_stages_as_a_string_is_one_line(tmp_path):
    p = tmp_path / "r.json"
    p.write_text(json.dumps({"schema": SCHEMA_ID, "stages": "x"}))
    one_line(cli("report", str(p)), 2, "build-report schema")


# --- §5: formerly accepted ----------------------------------------------------------------------
@pytest.mark.parametrize("args, needle", [
    (["plan", "--version", "3." + "1" * 100_000], "at most"),
    (["plan", "--version", "3.9\n"], "control character"),
    (["plan", "--tag", "t\u00e2g"], "tag"),
    (["plan", "--git-hash", "abcdef123\n"], "git_hash"),
    (["plan", "--go-version", "1.26.2\n"], "go_version"),
    (["dev", "--workers", "3_0"], "--workers"),
    (["plan", "--source", str(FIXTURE), "--git-url", "https://git.example/x.git"], "conflicts with source"),
    (["plan", "--ca-cert", "/dev/null"], "not a regular file"),
    (["plan", "--ca-cert", "/tmp"], "is a directory"),
    (["plan", "--git-url", "https://u:secret@host.example/x.git"], "credentials"),
    (["plan", "--goproxy", "https://user:hunter2@proxy.example"], "credentials"),
])
def test_former_acceptances_are_refused_in_one_line(args, needle):
    line = one_line(cli(*args), 2, needle)
    assert "secret@" not in line and "hunter2" not in line


@pytest.mark.parametrize("var", ["FLAMENCO_PIPELINE_GOTESTSUM_VERSION", "FLAMENCO_PIPELINE_STATICCHECK_VERSION"])
def test_tool_versions_are_validated(var):
    one_line(cli("plan", env={var: "latest; curl x | sh"}), 2, "not a Go module version")
    assert cli("plan", env={var: "v1.2.3"}).exit_code == 0


@pytest.mark.parametrize("where", ["env", "dotenv"])
def test_a_misspelt_key_is_warned_with_the_closest_setting(tmp_path, where):
    env = {"FLAMENCO_PIPELINE_GO_VERISON": "1.26.2"} if where == "env" else None
    if where == "dotenv":
        (tmp_path / ".env").write_text("FLAMENCO_PIPELINE_GO_VERISON=1.26.2\n")
    r = cli("plan", env=env)
    assert r.exit_code == 0
    assert ("flamenco-pipeline: warning: FLAMENCO_PIPELINE_GO_VERISON in "
            f"{'the environment' if where == 'env' else '.env'} is not a setting and is ignored; "
            "did you mean FLAMENCO_PIPELINE_GO_VERSION?") in r.stderr.splitlines()


def test_an_export_dir_that_cannot_be_written_is_refused_even_for_root():
    # /proc/1 exists and is a directory; nobody, root included, can create a file in it.
    one_line(cli("docker", "build", "--source", str(FIXTURE), "--export", "/proc/1/x"), 2, "not a writable directory")


def test_report_with_only_the_schema_key_is_refused(tmp_path):
    p = tmp_path / "r.json"
    p.write_text(json.dumps({"schema": SCHEMA_ID}))
    one_line(cli("report", str(p)), 2, "missing required key")


def test_os_environment_is_untouched():
    assert "FLAMENCO_PIPELINE_GO_VERISON" not in os.environ


def test_our_own_workflow_variables_are_not_warned_about():
    import yaml

    from tests.conftest import ROOT

    workflow = yaml.safe_load((ROOT / "docs/ci/flamenco-repo-workflow.yml").read_text())
    ours = {k: v for k, v in workflow["env"].items() if k.startswith("FLAMENCO_PIPELINE_")}
    assert ours
    r = cli("plan", env=ours)
    assert r.exit_code == 0 and "warning" not in r.stderr, r.stderr
